//! Resonanz simulator: an independent implementation of Meta's side of the WhatsApp Cloud
//! API, Messenger and Instagram messaging — Graph endpoints, errors, service windows, signed
//! webhooks — so Resonanz can be tested and demoed without Meta.
//!
//! It deliberately shares no code with `resonanz-channels`: each catches the other's
//! misreadings of the protocol.
//!
//! Graph API (any `vNN.N`, or the pinned `api_version`; Bearer token or `access_token`):
//! - `POST /{ver}/{phone_number_id}/messages` — WhatsApp sends and mark-as-read
//! - `POST /{ver}/{page_id|me|ig_id}/messages` — Messenger / Instagram sends
//! - `POST /{ver}/{phone_number_id}/media` — multipart upload (`messaging_product`, `type`,
//!   `file`) → `{"id"}`; sends may then use `{"id": …}` from the same number for 30 days
//! - `GET|DELETE /{ver}/{media_id}`, `GET /whatsapp_business/attachments/?mid=…` (download)
//! - `GET|POST /{ver}/{waba_id}/message_templates`
//!
//! Control API (JSON, for tests and the demo):
//! - `POST /sim/inbound` — an [`InboundRequest`]; `POST /sim/inbound/batch` —
//!   `{"items":[…],"layout":"messages|changes|entries"}`
//! - `POST /sim/scenarios/{name}` — see [`SCENARIOS`]; body `{"from"?, "channel"?}`
//! - `GET /sim/sent`, `GET /sim/uploads`, `GET /sim/webhooks[?kind=inbound|status|template_status|error]`
//! - `GET|POST /sim/clock` — `{"advance_secs": n}`
//! - `GET|POST /sim/config` — partial [`Tunables`]; unknown keys are rejected
//! - `POST /sim/verify-webhook` — `{"channel"?, "verify_token"?}` → [`VerifyReport`]
//! - `POST /sim/value-error` — `{"code": 130429}`; `POST /sim/reset` — clears the logs

mod config;
mod graph;
mod inbound;
mod media;
mod messenger;
mod routes;
mod scenarios;
mod state;
mod templates;
mod traffic;
mod webhooks;
mod whatsapp;
pub mod wire;

pub use config::{Customer, FailureMode, SignatureMode, SimConfig, Tunables, WebhookTargets};
pub use inbound::{BatchLayout, InboundContent, InboundError, InboundReceipt, InboundRequest};
pub use media::UploadRecord;
pub use routes::VerifyReport;
pub use scenarios::{SCENARIOS, ScenarioError, ScenarioParams, ScenarioReport, ScenarioStep};
pub use state::{Channel, SentRecord, Verdict, WebhookKind, WebhookRecord};
pub use templates::Template;
pub use traffic::{TrafficConfig, TrafficStats, run_traffic};

use state::Sim;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running simulator. Dropping it leaves the server running until the runtime ends;
/// call [`SimHandle::shutdown`] to stop it. Share it across tasks as `Arc<SimHandle>`.
pub struct SimHandle {
    pub(crate) sim: Arc<Sim>,
    addr: SocketAddr,
    shutdown_tx: watch::Sender<bool>,
    server: std::sync::Mutex<Option<JoinHandle<()>>>,
}

/// Starts the simulator on `listener` (use `127.0.0.1:0` in tests).
pub async fn start(
    config: SimConfig,
    listener: tokio::net::TcpListener,
) -> std::io::Result<SimHandle> {
    // reqwest is built without a default crypto provider; ignore "already installed".
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut addr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let sim = Arc::new(Sim::new(
        config,
        format!("http://{addr}"),
        shutdown_rx.clone(),
    ));
    let app = routes::router(Arc::clone(&sim));
    let mut rx = shutdown_rx;
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "simulator server stopped");
        }
    });
    Ok(SimHandle {
        sim,
        addr,
        shutdown_tx,
        server: std::sync::Mutex::new(Some(server)),
    })
}

impl SimHandle {
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.sim.base_url.clone()
    }

    /// Base for Graph calls, e.g. `http://127.0.0.1:<port>/v23.0`.
    pub fn graph_url(&self) -> String {
        let ver = self
            .sim
            .config
            .api_version
            .clone()
            .unwrap_or_else(|| "v23.0".into());
        format!("{}/{ver}", self.sim.base_url)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &SimConfig {
        &self.sim.config
    }

    /// Stops the server and every pending background delivery; later calls do nothing.
    pub async fn shutdown(&self) {
        let _ = self.shutdown_tx.send(true);
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(server) = server {
            let _ = server.await;
        }
    }

    /// Everything the business sent, in order, with the sim's verdict.
    pub fn sent(&self) -> Vec<SentRecord> {
        self.sim.lock().sent.clone()
    }

    /// Every call to the media upload endpoint, in order, with the sim's verdict.
    pub fn uploads(&self) -> Vec<UploadRecord> {
        self.sim.lock().uploads.clone()
    }

    /// The bytes behind a media id (uploaded or a customer's), if the sim holds it.
    pub fn media_bytes(&self, media_id: &str) -> Option<Vec<u8>> {
        self.sim
            .lock()
            .media
            .get(media_id)
            .map(|m| m.bytes.as_ref().clone())
    }

    /// Every webhook delivery made, in order, with Resonanz's answer.
    pub fn webhooks(&self) -> Vec<WebhookRecord> {
        self.sim.lock().webhooks.clone()
    }

    pub fn templates(&self) -> Vec<Template> {
        self.sim.lock().templates.clone()
    }

    /// A customer writes in; opens/resets the service window.
    pub async fn deliver_inbound(
        &self,
        req: InboundRequest,
    ) -> Result<InboundReceipt, InboundError> {
        self.sim
            .deliver_inbound(vec![req], BatchLayout::Messages)
            .await
    }

    /// Several inbound messages in one POST (same channel).
    pub async fn deliver_batch(
        &self,
        items: Vec<InboundRequest>,
        layout: BatchLayout,
    ) -> Result<InboundReceipt, InboundError> {
        self.sim.deliver_inbound(items, layout).await
    }

    pub async fn run_scenario(
        &self,
        name: &str,
        params: ScenarioParams,
    ) -> Result<ScenarioReport, ScenarioError> {
        self.sim.run_scenario(name, params).await
    }

    /// Moves the sim clock; returns the new sim time (unix seconds).
    pub fn advance_clock(&self, secs: i64) -> i64 {
        self.sim.lock().clock_offset_secs += secs;
        self.sim.now()
    }

    /// Sim time, unix seconds.
    pub fn now(&self) -> i64 {
        self.sim.now()
    }

    pub fn tunables(&self) -> Tunables {
        self.sim.tunables()
    }

    pub fn set_tunables(&self, t: Tunables) {
        self.sim.lock().tunables = t;
    }

    /// Waits until all background webhooks (statuses, template reviews) are delivered.
    pub async fn settle(&self, timeout: Duration) -> bool {
        self.sim.settle(timeout).await
    }

    /// A value-level error webhook (`value.errors[]`, no status), e.g. 130429.
    pub async fn deliver_value_error(&self, code: i64) -> WebhookRecord {
        self.sim.deliver_value_error(code).await
    }

    /// Performs Meta's GET handshake against the channel's webhook target.
    pub async fn verify_webhook(
        &self,
        channel: Channel,
        verify_token: Option<&str>,
    ) -> VerifyReport {
        self.sim.verify_webhook(channel, verify_token).await
    }
}
