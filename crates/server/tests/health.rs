//! Health, readiness, metrics and graceful shutdown over real HTTP.

use resonanz_core::SystemClock;
use resonanz_server::{Application, Pipeline, Settings};
use resonanz_store::{Store, StoreOptions};
use std::sync::Arc;

struct TestApp {
    base: String,
    store: Store,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn spawn_app() -> TestApp {
    // reqwest is built without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: format!("sqlite://{}", dir.path().join("r.db").display()),
        ..Settings::default()
    };
    let store = Store::open(&settings.database_url, StoreOptions::default())
        .await
        .unwrap();
    let app = Application::build_with_store(
        settings,
        Pipeline::shipped(),
        store.clone(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        store,
        stop,
        server,
        _dir: dir,
    }
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready = client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("resonanz_webhook_ack_seconds"), "{text}");
    app.stop.send(()).unwrap();
    app.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_stops_the_server_and_closes_the_store() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop.send(()).unwrap();
    app.server.await.unwrap().unwrap();
    // The writer has drained and stopped: further writes are refused, not lost silently.
    assert!(app.store.ingest(vec![]).await.is_err());
    assert!(
        client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .is_err()
    );
}
