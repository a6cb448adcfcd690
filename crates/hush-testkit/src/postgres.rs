//! A PostgreSQL database of one test's own, on the server `HUSH_TEST_DATABASE_URL` names (an
//! admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`). Made and dropped with
//! `psql`, so it works the same from synchronous and asynchronous tests, and its `Drop` can run
//! inside a runtime.

use std::io::Write;
use std::process::Command;

/// The variable that names the PostgreSQL server the tests may use.
const ADMIN_URL: &str = "HUSH_TEST_DATABASE_URL";

/// A database of one test's own, dropped with its connections when this is dropped (even
/// after a panic).
pub struct PgDatabase {
    admin: String,
    pub name: String,
    /// The URL of this database (the admin URL with its database name replaced).
    pub url: String,
}

impl PgDatabase {
    /// A fresh database for `test`; `None`, after saying `SKIPPED (PostgreSQL): …` on the
    /// real stderr (the test harness does not capture it), when `HUSH_TEST_DATABASE_URL` is not
    /// set.
    pub fn create(test: &str) -> Option<PgDatabase> {
        let Some(admin) = std::env::var(ADMIN_URL).ok().filter(|u| !u.is_empty()) else {
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED (PostgreSQL): set {ADMIN_URL} to run {test}"
            );
            return None;
        };
        let name = format!(
            "hush_{}_{}",
            test.chars()
                .filter(char::is_ascii_alphanumeric)
                .take(20)
                .collect::<String>(),
            hex::encode(hush_crypto::random_bytes::<5>())
        )
        .to_lowercase();
        let url = with_database(&admin, &name);
        let db = PgDatabase { admin, name, url };
        db.admin_sql(&format!("CREATE DATABASE {}", db.name));
        Some(db)
    }

    /// Runs `sql` on the admin connection (not in this database); returns its output.
    pub fn admin_sql(&self, sql: &str) -> String {
        psql(&self.admin, sql)
    }

    /// Runs `sql` in this database; returns its output.
    pub fn sql(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }

    /// Ends every connection to this database (hush's pools and listeners), from the admin
    /// connection; returns how many there were.
    pub fn terminate_connections(&self) -> usize {
        self.admin_sql(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        ))
        .trim()
        .parse()
        .unwrap_or(0)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(&self.admin)
            .args([
                "-qAtc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .arg(url)
        .args(["-qAtc", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `postgres://user@host:port/db?opts` with `db` replaced by `name` (or added, when the URL
/// names no database).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = base[authority..]
        .find('/')
        .map_or(base, |i| &base[..authority + i]);
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_or_added() {
        let cases = [
            (
                "postgres://pg@127.0.0.1:5432/postgres",
                "postgres://pg@127.0.0.1:5432/t",
            ),
            (
                "postgres://pg@127.0.0.1:5432",
                "postgres://pg@127.0.0.1:5432/t",
            ),
            (
                "postgres://pg@h/postgres?sslmode=disable",
                "postgres://pg@h/t?sslmode=disable",
            ),
            (
                "postgres://pg@h?sslmode=disable",
                "postgres://pg@h/t?sslmode=disable",
            ),
        ];
        for (admin, expected) in cases {
            assert_eq!(with_database(admin, "t"), expected, "{admin}");
        }
    }
}
