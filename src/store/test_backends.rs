//! Both backends for store-level tests: `both_backends!` turns each test into a `sqlite` and
//! a `postgres` variant, and [`open`] gives each run a store of its own.
//!
//! PostgreSQL tests use the server at `HUE_INTAKE_TEST_DATABASE_URL` (default: the local
//! server, `postgres://postgres@127.0.0.1:5432/test`). Each run gets a fresh schema
//! `t_<uuid>` (chosen with `search_path` in the connection's options), dropped when the run
//! ends, so tests run in parallel and again. An unreachable server fails the test, with the
//! URL it tried: a test is never skipped.

use super::{Options, Store};

/// Which backend a test variant runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Keeps a test's database alive: its temporary directory, or its schema (dropped on drop).
pub(crate) struct Place {
    _dir: Option<tempfile::TempDir>,
    _schema: Option<Schema>,
}

/// Generates, for each `async fn name(backend) { ... }`, a module `name` with the tests
/// `sqlite` and `postgres` running the same body with `backend` set.
macro_rules! both_backends {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                #[tokio::test]
                async fn sqlite() {
                    let $backend = $crate::store::test_backends::Backend::Sqlite;
                    $body
                }

                #[tokio::test]
                async fn postgres() {
                    let $backend = $crate::store::test_backends::Backend::Postgres;
                    $body
                }
            }
        )*
    };
}
pub(crate) use both_backends;

/// A fresh store on `backend`; keep the [`Place`] until the test ends.
pub(crate) async fn open(backend: Backend, options: Options) -> (Place, Store) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open_sqlite(dir.path(), options).await.unwrap();
            (Place { _dir: Some(dir), _schema: None }, store)
        }
        Backend::Postgres => {
            let schema = Schema::create().await;
            let store = Store::open_postgres(&schema.url, options).await.unwrap();
            (Place { _dir: None, _schema: Some(schema) }, store)
        }
    }
}

#[path = "../../tests/support/pg_schema.rs"]
mod pg_schema;
pub(crate) use pg_schema::PgSchema as Schema;
