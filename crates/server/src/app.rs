//! Building and running the HTTP application (zero2prod's shape: build binds
//! the listener, so tests ask for port 0 and read the real port back).

use crate::config::Settings;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::routes;
use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use resonanz_core::{Clock, SystemClock};
use resonanz_store::{IngestOutcome, Store, StoreOptions};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub pipeline: Pipeline,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    /// Turns true when the server starts to shut down, so that long-lived
    /// responses (the event stream) end and the shutdown can finish.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Opens the store (running migrations) and binds the listener.
    pub async fn build(settings: Settings, pipeline: Pipeline) -> anyhow::Result<Application> {
        let store = open_store_with(&settings, server_store_options(&settings)).await?;
        Self::build_with_store(settings, pipeline, store, Arc::new(SystemClock)).await
    }

    pub async fn build_with_store(
        settings: Settings,
        pipeline: Pipeline,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.listen)
            .await
            .with_context(|| format!("binding the HTTP listener to {}", settings.listen))?;
        let recovered = pipeline
            .project_unprojected(&store, 1000)
            .await
            .context("projecting raw events accepted before the last stop")?;
        if recovered > 0 {
            tracing::info!(
                raw_events = recovered,
                "projected raw events accepted before the last stop"
            );
        }
        let metrics = Arc::new(Metrics::new());
        let observed = metrics.clone();
        store.observe_accepted(Box::new(move |source, outcome| {
            observed.webhook(source.as_str(), webhook_outcome(outcome));
        }));
        Ok(Application {
            listener,
            state: AppState {
                settings: Arc::new(settings),
                store,
                pipeline,
                metrics,
                clock,
                stopping: Arc::new(tokio::sync::watch::Sender::new(false)),
            },
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn store(&self) -> Store {
        self.state.store.clone()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests
    /// and drains the writer, so that nothing acknowledged is lost.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let media = crate::media::MediaWorker::new(&self.state).spawn();
        let sender = crate::outbound::SenderWorker::new(&self.state).spawn();
        let cleaner = crate::outbound::cleanup::UploadCleaner::new(&self.state).spawn();
        let assigner = crate::assignment::AutoAssigner::new(&self.state).spawn();
        let stopping = self.state.stopping.clone();
        let shutdown = async move {
            shutdown.await;
            stopping.send_replace(true);
        };
        let router = router(self.state);
        tracing::info!(address = %self.listener.local_addr()?, "Resonanz is listening");
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP");
        media.stop().await;
        sender.stop().await;
        cleaner.stop().await;
        assigner.stop().await;
        served?;
        store.close().await;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.max_body_bytes;
    Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .route(
            "/webhooks/whatsapp",
            get(routes::webhooks::verify).post(routes::webhooks::whatsapp),
        )
        .route(
            "/webhooks/messenger",
            get(routes::webhooks::verify).post(routes::webhooks::messenger),
        )
        .route(
            "/webhooks/instagram",
            get(routes::webhooks::verify).post(routes::webhooks::instagram),
        )
        .merge(routes::api::routes())
        .merge(routes::events::routes())
        .merge(routes::compose::routes())
        .merge(routes::workflow::routes())
        .merge(crate::web::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The webhook metric's outcome label.
pub fn webhook_outcome(outcome: IngestOutcome) -> &'static str {
    match outcome {
        IngestOutcome::Stored(_) => "stored",
        IngestOutcome::Duplicate => "duplicate",
        IngestOutcome::Accepted => "accepted",
    }
}

/// How the server opens its store: it alone takes webhooks, so it alone
/// holds the acceptance journal.
pub fn server_store_options(settings: &Settings) -> StoreOptions {
    StoreOptions {
        sqlite_sync_full: settings.sqlite_sync_full,
        accept_journal: settings.sqlite_accept_journal,
        ..StoreOptions::default()
    }
}

/// Opens (and migrates) the database the settings name, as the commands
/// beside the server do (no acceptance journal).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let options = StoreOptions {
        sqlite_sync_full: settings.sqlite_sync_full,
        ..StoreOptions::default()
    };
    open_store_with(settings, options).await
}

async fn open_store_with(settings: &Settings, options: StoreOptions) -> anyhow::Result<Store> {
    Store::open(&settings.database_url, options)
        .await
        .with_context(|| {
            format!(
                "opening the database at {}",
                redact_url(&settings.database_url)
            )
        })
}

/// Hides a password in a database URL before it is shown.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested, draining");
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_in_database_urls_are_hidden() {
        assert_eq!(
            super::redact_url("postgres://app:hunter2@db/resonanz"),
            "postgres://app:***@db/resonanz"
        );
        assert_eq!(
            super::redact_url("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
    }
}
