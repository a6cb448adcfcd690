//! Durability, end to end with the real `hush` binary in processes of its own: backup, restore,
//! verify, copy and master-key rotation through `hush admin`, each refusal included (`admin`);
//! a server killed with SIGKILL under concurrent saves, and PostgreSQL connections cut under two
//! servers with watchers (`faults`). The PostgreSQL tests run only with HUSH_TEST_DATABASE_URL,
//! each on a database of its own, dropped afterwards.

mod admin;
mod faults;
mod workspace;
