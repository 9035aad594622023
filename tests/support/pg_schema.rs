//! A schema of one's own on the PostgreSQL server tests use, dropped with everything in it
//! when the test ends: PostgreSQL tests run in parallel and again. Shared by the store's
//! contract tests (src/store/test_backends.rs) and the integration tests (tests/it). An
//! unreachable server fails the test with the URL it tried; it is never skipped.

/// The PostgreSQL server tests use: `HUE_INTAKE_TEST_DATABASE_URL`, or the machine's own.
pub fn server_url() -> String {
    std::env::var("HUE_INTAKE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub struct PgSchema {
    pub name: String,
    /// The server URL with `search_path` set to this schema.
    pub url: String,
}

impl PgSchema {
    pub async fn create() -> PgSchema {
        use sqlx::Connection;
        let server = server_url();
        let name = format!("t_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL tests need a server at {server} (set HUE_INTAKE_TEST_DATABASE_URL to another); \
                 connecting failed: {e}"
            )
        });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}"))).execute(&mut conn).await.unwrap();
        let _ = conn.close().await;
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-c%20search_path%3D{name}");
        PgSchema { name, url }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot block on itself: a thread of its
        // own with a small runtime drops the schema.
        let (server, name) = (server_url(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&server).await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        });
        let _ = dropped.join();
    }
}
