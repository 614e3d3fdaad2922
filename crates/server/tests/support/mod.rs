//! `spawn_app()`: the real server on a random port with a temporary SQLite
//! store, and the Graph API simulator on another port delivering signed
//! webhooks to it. Tests talk HTTP to both.

#![allow(dead_code)] // each test binary uses a different subset

use resonanz_core::SystemClock;
use resonanz_server::config::{MetaSettings, Secret, WhatsAppAccount};
use resonanz_server::{Application, Pipeline, Settings};
use resonanz_sim::{SimConfig, SimHandle, Tunables, WebhookTargets};
use resonanz_store::{Counts, MessageRow, Store};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

pub const APP_SECRET: &str = "integration-app-secret";
pub const VERIFY_TOKEN: &str = "integration-verify-token";
pub const ACCESS_TOKEN: &str = "integration-access-token";
pub const ANNA: &str = "491701234567";
pub const JUERGEN: &str = "491712345678";
pub const ANNA_PSID: &str = "7105448321";
pub const ANNA_IGSID: &str = "17841400000000001";

pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub sim: Arc<SimHandle>,
    pub http: reqwest::Client,
    pub settings: Settings,
    pub dir: tempfile::TempDir,
}

/// The analysis models load once per test binary.
fn pipeline() -> Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(Pipeline::shipped).clone()
}

/// Tunables that keep tests fast: short status delays, no webhook retries.
pub fn fast_tunables() -> Tunables {
    Tunables {
        status_delay_ms: 5,
        webhook_retries: 0,
        webhook_retry_delay_ms: 10,
        template_review_delay_ms: 10,
        ..Tunables::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// `tweak` may change the settings before the server is built.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on_clock(tweak, Arc::new(SystemClock)).await
}

/// As `spawn_app_with`, with the server on `clock` (a `ManualClock` moves
/// time without sleeping).
pub async fn spawn_app_on_clock(
    tweak: impl FnOnce(&mut Settings),
    clock: Arc<dyn resonanz_core::Clock>,
) -> TestApp {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("temp dir");
    let sim_listener = TcpListener::bind("127.0.0.1:0").await.expect("sim port");
    let sim_base = format!("http://{}", sim_listener.local_addr().unwrap());

    let mut settings = Settings {
        database_url: format!("sqlite://{}", dir.path().join("resonanz.db").display()),
        listen: "127.0.0.1:0".into(),
        meta: MetaSettings {
            graph_base_url: sim_base,
            app_secret: Secret::new(APP_SECRET),
            verify_token: Secret::new(VERIFY_TOKEN),
            whatsapp: vec![WhatsAppAccount {
                phone_number_id: "106540352242922".into(),
                display_phone_number: "4930123456789".into(),
                waba_id: "102290129340398".into(),
                access_token: Secret::new(ACCESS_TOKEN),
            }],
            ..MetaSettings::default()
        },
        ..Settings::default()
    };
    settings.media.dir = dir.path().join("media");
    settings.media.retry_base_ms = 20;
    settings.media.poll_interval_ms = 50;
    tweak(&mut settings);

    let store = Store::open(
        &settings.database_url,
        resonanz_server::app::server_store_options(&settings),
    )
    .await
    .expect("store opens");
    let app = Application::build_with_store(settings.clone(), pipeline(), store.clone(), clock)
        .await
        .expect("application builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));

    let mut config = SimConfig::new(APP_SECRET, VERIFY_TOKEN, ACCESS_TOKEN);
    config.webhook_targets = WebhookTargets {
        whatsapp_url: Some(format!("{base}/webhooks/whatsapp")),
        messenger_url: Some(format!("{base}/webhooks/messenger")),
        instagram_url: Some(format!("{base}/webhooks/instagram")),
    };
    config.tunables = fast_tunables();
    let sim = resonanz_sim::start(config, sim_listener)
        .await
        .expect("simulator starts");

    TestApp {
        base,
        store,
        sim: Arc::new(sim),
        http: reqwest::Client::new(),
        settings,
        dir,
    }
}

impl TestApp {
    /// POSTs `body` to `/webhooks/{channel}` with the given signature header.
    pub async fn post_webhook(
        &self,
        channel: &str,
        body: Vec<u8>,
        signature: Option<String>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}/webhooks/{channel}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let response = request.send().await.expect("webhook POST answered");
        // The 200 means stored; wait for the projection too, as a user would see it.
        self.store.flush().await.expect("projections applied");
        response
    }

    /// POSTs `body` signed with the app secret.
    pub async fn post_signed(&self, channel: &str, body: Vec<u8>) -> reqwest::Response {
        let signature = resonanz_sim::wire::signature_header(APP_SECRET, &body);
        self.post_webhook(channel, body, Some(signature)).await
    }

    pub async fn counts(&self) -> Counts {
        self.store.flush().await.expect("projections applied");
        self.store.counts().await.expect("counts")
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics answered")
            .text()
            .await
            .expect("metrics body")
    }

    pub async fn message(&self, channel: &str, external_id: &str) -> MessageRow {
        self.store.flush().await.expect("projections applied");
        self.store
            .message_by_external_id(channel, external_id)
            .await
            .expect("message query")
            .unwrap_or_else(|| panic!("message {external_id} was not stored"))
    }

    /// Waits for the simulator's background webhooks (statuses, echoes).
    pub async fn settle(&self) {
        assert!(
            self.sim.settle(Duration::from_secs(10)).await,
            "simulator did not settle"
        );
        self.store.flush().await.expect("projections applied");
    }

    pub fn graph_client(&self) -> resonanz_channels::outbound::GraphClient {
        resonanz_channels::outbound::GraphClient::new(
            resonanz_channels::outbound::GraphConfig::new(
                self.sim.base_url(),
                "v23.0",
                resonanz_channels::outbound::Secret::new(ACCESS_TOKEN),
            ),
        )
        .expect("graph client")
    }
}
