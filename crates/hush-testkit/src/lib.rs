//! What hush's integration tests share across crates (a dev-dependency only): a PostgreSQL
//! database of a test's own ([`PgDatabase`]), a real OpenID provider on loopback ([`oidc`]),
//! and a workload-token issuer ([`issuer`]).

pub mod issuer;
pub mod oidc;
mod postgres;

pub use postgres::PgDatabase;
