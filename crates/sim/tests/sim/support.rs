//! Test helpers: a webhook receiver that checks signatures with its own HMAC, and a
//! simulator wired to it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::any;
use hmac::{KeyInit, Mac};
use resonanz_sim::{SimConfig, SimHandle, WebhookTargets};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const APP_SECRET: &str = "test-app-secret-ä";
pub const VERIFY_TOKEN: &str = "test-verify-token";
pub const TOKEN: &str = "test-access-token";
pub const ANNA: &str = "491701234567";
pub const ANNA_PSID: &str = "7105448321";
pub const ANNA_IGSID: &str = "17841400000000001";

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub body: Vec<u8>,
    pub json: Value,
    pub signature_ok: bool,
}

#[derive(Clone, Default)]
struct RxState {
    got: Arc<Mutex<Vec<Received>>>,
    answer: Arc<AtomicU16>,
}

pub struct Receiver {
    pub base: String,
    state: RxState,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = RxState {
            answer: Arc::new(AtomicU16::new(200)),
            ..RxState::default()
        };
        let app = Router::new()
            .fallback(any(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            base: format!("http://{addr}"),
            state,
        }
    }

    pub fn got(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    pub fn answer_with(&self, status: u16) {
        self.state.answer.store(status, Ordering::SeqCst);
    }

    /// Waits until at least `n` deliveries arrived; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..300 {
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("expected {n} webhooks, got {:#?}", self.got());
    }

    /// Status entries (`value.statuses[]`) in arrival order.
    pub fn statuses(&self) -> Vec<Value> {
        self.got()
            .iter()
            .flat_map(|r| {
                r.json["entry"][0]["changes"][0]["value"]["statuses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    }

    /// WhatsApp inbound messages in arrival order.
    pub fn messages(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for r in self.got() {
            for e in r.json["entry"].as_array().into_iter().flatten() {
                for c in e["changes"].as_array().into_iter().flatten() {
                    out.extend(
                        c["value"]["messages"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default(),
                    );
                }
            }
        }
        out
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn receive(
    State(st): State<RxState>,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if body.is_empty() && q.contains_key("hub.mode") {
        // Meta's GET handshake.
        return if q.get("hub.mode").map(String::as_str) == Some("subscribe")
            && q.get("hub.verify_token").map(String::as_str) == Some(VERIFY_TOKEN)
        {
            (StatusCode::OK, q["hub.challenge"].clone())
        } else {
            (StatusCode::FORBIDDEN, String::new())
        };
    }
    let expected = format!("sha256={}", hmac_hex(APP_SECRET, &body));
    let signature_ok = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    st.got.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        body: body.to_vec(),
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        signature_ok,
    });
    let code = st.answer.load(Ordering::SeqCst);
    (StatusCode::from_u16(code).unwrap(), String::new())
}

pub struct TestSim {
    pub sim: SimHandle,
    pub rx: Receiver,
    pub http: reqwest::Client,
}

pub async fn spawn() -> TestSim {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut SimConfig)) -> TestSim {
    let rx = Receiver::start().await;
    let mut config = SimConfig::new(APP_SECRET, VERIFY_TOKEN, TOKEN);
    config.webhook_targets = WebhookTargets {
        whatsapp_url: Some(format!("{}/webhooks/whatsapp", rx.base)),
        messenger_url: Some(format!("{}/webhooks/messenger", rx.base)),
        instagram_url: Some(format!("{}/webhooks/instagram", rx.base)),
    };
    config.tunables.status_delay_ms = 5;
    config.tunables.template_review_delay_ms = 10;
    config.tunables.webhook_retry_delay_ms = 5;
    tweak(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = resonanz_sim::start(config, listener).await.unwrap();
    TestSim {
        sim,
        rx,
        http: reqwest::Client::new(),
    }
}

impl TestSim {
    pub fn pnid(&self) -> String {
        self.sim.config().phone_number_id.clone()
    }

    /// POST to a Graph path (relative to the version) with the right token.
    pub async fn graph_post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.graph_post_token(path, body, TOKEN).await
    }

    pub async fn graph_post_token(&self, path: &str, body: &Value, token: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/{path}", self.sim.graph_url()))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn graph_get(&self, url: &str) -> (u16, Value) {
        let resp = self.http.get(url).bearer_auth(TOKEN).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn send_wa(&self, body: Value) -> (u16, Value) {
        self.graph_post(&format!("{}/messages", self.pnid()), &body)
            .await
    }

    /// Control API call.
    pub async fn control(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/sim/{path}", self.sim.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn settle(&self) {
        assert!(
            self.sim.settle(Duration::from_secs(5)).await,
            "background deliveries did not finish"
        );
    }
}

pub fn text_to(to: &str, body: &str) -> Value {
    serde_json::json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    })
}

pub fn assert_graph_error(status: u16, body: &Value, http: u16, code: i64) {
    assert_eq!(status, http, "body: {body}");
    let e = &body["error"];
    assert_eq!(e["code"], code, "body: {body}");
    assert_eq!(e["type"], "OAuthException");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("(#{code})")),
        "body: {body}"
    );
    assert!(e["fbtrace_id"].is_string());
}
