//! What every store suite needs: a store on SQLite (temp file) or on
//! PostgreSQL (a fresh schema on RESONANZ_TEST_PG_URL, default
//! postgres://postgres@127.0.0.1:5432/test), and the macro that runs each
//! test against both.

use resonanz_store::{Store, StoreOptions};

pub struct TestStore {
    pub store: Store,
    /// Where a second node would connect to the same database.
    #[allow(dead_code)] // not every suite opens a second node
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite_store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("resonanz.db").display());
    let store = Store::open(&url, StoreOptions::default()).await.unwrap();
    TestStore {
        store,
        url,
        _dir: Some(dir),
    }
}

pub fn pg_url() -> String {
    std::env::var("RESONANZ_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The URL of a fresh, empty schema on the test server.
pub async fn fresh_pg_url() -> String {
    use sqlx::Connection;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    // .ci/run drops schemas named t_* left by earlier runs.
    let schema = format!(
        "t_{}_{}",
        std::process::id(),
        nanos * 1000 + NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = sqlx::PgConnection::connect(&pg_url())
        .await
        .expect("PostgreSQL must run at RESONANZ_TEST_PG_URL (.ci/run starts it)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let separator = if pg_url().contains('?') { '&' } else { '?' };
    format!("{}{separator}options=-c%20search_path%3D{schema}", pg_url())
}

pub async fn postgres_store() -> TestStore {
    let url = fresh_pg_url().await;
    let store = Store::open(&url, StoreOptions::default()).await.unwrap();
    TestStore {
        store,
        url,
        _dir: None,
    }
}

/// Runs each named `async fn(TestStore)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::sqlite_store().await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::postgres_store().await).await;
                }
            )+
        }
    };
}
