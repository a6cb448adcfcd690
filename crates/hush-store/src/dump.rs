//! Copying a whole database: every row of every table, read from one consistent snapshot and
//! written into an empty database in one transaction, ids kept. Backups, restores and the move
//! from SQLite to PostgreSQL are all this copy (a backup is a copy into a new SQLite file).
//! Nothing is decrypted: ciphertext and hashes travel as they are.

use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool};
use sqlx::{Executor, Row};
use tokio::sync::mpsc;

use crate::rows::db_err;
use crate::{Backend, Result, StoreError};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bytes,
}

use Kind::{Bytes, Int, Text};

struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    order: &'static str,
    /// Ids come from an identity column (PostgreSQL) / AUTOINCREMENT (SQLite).
    identity: bool,
}

/// Every table, parents before the rows that refer to them. Not `sign_in_throttle`,
/// `sso_pending` nor `sso_cli_codes`: sign-in counters, single sign-ons under way and the CLI's
/// one-time codes are transient (minutes), and a restored copy starts without them.
const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("name_key", Text),
            ("role", Text),
            ("password_hash", Text),
            ("created_at", Int),
        ],
        order: "id",
        identity: true,
    },
    Table {
        name: "apps",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("created_at", Int),
            ("created_by", Int),
            ("wrapped_key", Bytes),
            ("key_id", Text),
            ("launch", Text),
            ("kind", Text),
        ],
        order: "id",
        identity: false,
    },
    Table {
        name: "environments",
        columns: &[
            ("id", Int),
            ("app_id", Int),
            ("name", Text),
            ("created_at", Int),
            ("shared_rev", Int),
        ],
        order: "id",
        identity: false,
    },
    Table {
        name: "env_includes",
        columns: &[("env_id", Int), ("ord", Int), ("doc_id", Int)],
        order: "env_id, ord",
        identity: false,
    },
    Table {
        name: "invites",
        columns: &[
            ("id", Int),
            ("token_hash", Bytes),
            ("kind", Text),
            ("role", Text),
            ("created_by", Int),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
        ],
        order: "id",
        identity: true,
    },
    Table {
        name: "sessions",
        columns: &[
            ("id", Int),
            ("token_hash", Bytes),
            ("user_id", Int),
            ("created_at", Int),
            ("last_seen_at", Int),
            ("expires_at", Int),
        ],
        order: "id",
        identity: true,
    },
    Table {
        name: "tokens",
        columns: &[
            ("id", Int),
            ("kind", Text),
            ("name", Text),
            ("token_hash", Bytes),
            ("prefix", Text),
            ("user_id", Int),
            ("app_id", Int),
            ("created_at", Int),
            ("expires_at", Int),
            ("last_used_at", Int),
            ("revoked_at", Int),
        ],
        order: "id",
        identity: true,
    },
    Table {
        name: "versions",
        columns: &[
            ("app_id", Int),
            ("version", Int),
            ("author_id", Int),
            ("created_at", Int),
            ("message", Text),
            ("ciphertext", Bytes),
            ("summary", Text),
            ("restored_from", Int),
        ],
        order: "app_id, version",
        identity: false,
    },
    Table {
        name: "instances",
        columns: &[
            ("app_id", Int),
            ("instance_id", Text),
            ("hostname", Text),
            ("pid", Int),
            ("applied_version", Int),
            ("applied", Text),
            ("status", Text),
            ("reported_at", Int),
        ],
        order: "app_id, instance_id",
        identity: false,
    },
    Table {
        name: "audit",
        columns: &[
            ("id", Int),
            ("at", Int),
            ("actor_kind", Text),
            ("actor_id", Int),
            ("actor_name", Text),
            ("action", Text),
            ("app_id", Int),
            ("app_name", Text),
            ("ip", Text),
            ("outcome", Text),
            ("detail", Text),
        ],
        order: "id",
        identity: true,
    },
    Table {
        name: "app_roles",
        columns: &[
            ("user_id", Int),
            ("app_id", Int),
            ("role", Text),
            ("created_at", Int),
        ],
        order: "user_id, app_id",
        identity: false,
    },
    Table {
        name: "workload_trusts",
        columns: &[
            ("id", Int),
            ("app_id", Int),
            ("issuer", Text),
            ("jwks_url", Text),
            ("audience", Text),
            ("conditions", Text),
            ("ttl_seconds", Int),
            ("created_at", Int),
        ],
        order: "id",
        identity: true,
    },
    Table {
        name: "workload_jtis",
        columns: &[("issuer", Text), ("jti", Text), ("expires_at", Int)],
        order: "issuer, jti",
        identity: false,
    },
    Table {
        name: "sso_identities",
        columns: &[
            ("user_id", Int),
            ("issuer", Text),
            ("subject", Text),
            ("email", Text),
            ("linked_at", Int),
        ],
        order: "user_id",
        identity: false,
    },
];

#[derive(Clone, PartialEq)]
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// One row of one table, on its way from [`crate::Store::export`] to [`crate::Store::import`].
/// Its values are never printed: they include password and token hashes and ciphertext.
#[derive(Clone, PartialEq)]
pub struct DumpRow {
    table: usize,
    values: Vec<Value>,
}

impl DumpRow {
    /// The table the row belongs to (for progress reports).
    pub fn table(&self) -> &'static str {
        TABLES[self.table].name
    }
}

impl std::fmt::Debug for DumpRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DumpRow")
            .field("table", &self.table())
            .finish_non_exhaustive()
    }
}

fn select(table: &Table) -> String {
    let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        columns.join(", "),
        table.name,
        table.order
    )
}

fn insert(table: &Table, kind: Backend) -> String {
    let columns: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
    let params: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    // PostgreSQL's identity columns take a given id only when told so.
    let keep_ids = if table.identity && kind == Backend::Postgres {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    format!(
        "INSERT INTO {} ({}){keep_ids} VALUES ({})",
        table.name,
        columns.join(", "),
        params.join(", ")
    )
}

fn read_row(index: usize, row: &AnyRow) -> Result<DumpRow> {
    let values = TABLES[index]
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            Ok(match kind {
                Int => Value::Int(row.try_get(i)?),
                Text => Value::Text(row.try_get(i)?),
                Bytes => Value::Bytes(row.try_get(i)?),
            })
        })
        .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
        .map_err(db_err)?;
    Ok(DumpRow {
        table: index,
        values,
    })
}

/// Reads every table inside one read-only transaction (one snapshot), sending rows as they
/// come; memory stays bounded by the channel whatever the database's size.
pub(crate) async fn export(
    kind: Backend,
    pool: AnyPool,
) -> Result<BoxStream<'static, Result<DumpRow>>> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    let begin = match kind {
        Backend::Sqlite => "BEGIN",
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    (&mut *conn).execute(begin).await.map_err(db_err)?;
    let (tx, rx) = mpsc::channel::<Result<DumpRow>>(256);
    tokio::spawn(async move {
        'tables: for (index, table) in TABLES.iter().enumerate() {
            let statement = select(table);
            let mut rows = sqlx::query(&statement).fetch(&mut *conn);
            while let Some(row) = rows.next().await {
                let item = row.map_err(db_err).and_then(|r| read_row(index, &r));
                let failed = item.is_err();
                if tx.send(item).await.is_err() || failed {
                    break 'tables;
                }
            }
        }
        // However the copy ended (done, failed, or the reader stopped listening), the snapshot
        // ends here: a pooled connection left inside a transaction would keep its snapshot.
        if (&mut *conn).execute("ROLLBACK").await.is_err() {
            conn.close_on_drop();
        }
    });
    Ok(Box::pin(receiver_stream(rx)))
}

fn receiver_stream<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Writes `rows` into an empty database (runs inside the writer's transaction).
pub(crate) async fn import(
    conn: &mut AnyConnection,
    kind: Backend,
    mut rows: BoxStream<'static, Result<DumpRow>>,
) -> Result<u64> {
    for table in TABLES {
        let present: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", table.name))
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err)?;
        if present > 0 {
            return Err(StoreError::Conflict(format!(
                "the target database is not empty (its {} table has rows); restore and copy \
                 only into a database that holds no hush data",
                table.name
            )));
        }
    }
    let statements: Vec<String> = TABLES.iter().map(|t| insert(t, kind)).collect();
    let mut written = 0u64;
    while let Some(row) = rows.next().await {
        let row = row?;
        let mut query = sqlx::query(&statements[row.table]);
        for value in row.values {
            query = match value {
                Value::Int(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
                Value::Bytes(v) => query.bind(v),
            };
        }
        query.execute(&mut *conn).await.map_err(db_err)?;
        written += 1;
    }
    if kind == Backend::Postgres {
        // New rows must get ids after the copied ones.
        for table in TABLES.iter().filter(|t| t.identity) {
            let statement = format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), \
                 COALESCE((SELECT MAX(id) FROM {0}), 0) + 1, false)",
                table.name
            );
            conn.execute(statement.as_str()).await.map_err(db_err)?;
        }
    }
    Ok(written)
}
