//! Outbound end to end: the real server (temp SQLite, a `ManualClock`) and
//! the Graph API simulator, driven over HTTP. The simulator's `sent()` log
//! is the ground truth for what reached "Meta".

use resonanz_core::{Clock, ManualClock, SystemClock};
use resonanz_server::config::{MetaSettings, Secret, WhatsAppAccount};
use resonanz_server::outbound::auth::create_agent;
use resonanz_server::{Application, Pipeline, Settings};
use resonanz_sim::{
    InboundRequest, SentRecord, SimConfig, SimHandle, Tunables, Verdict, WebhookTargets,
};
use resonanz_store::{Role, Store, StoreOptions};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const APP_SECRET: &str = "outbound-app-secret";
const VERIFY_TOKEN: &str = "outbound-verify-token";
const ACCESS_TOKEN: &str = "outbound-access-token";
const PHONE_NUMBER_ID: &str = "106540352242922";
const ANNA: &str = "491701234567";
const DAY_SECS: i64 = 24 * 3600;

fn pipeline() -> Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE.get_or_init(Pipeline::shipped).clone()
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

struct Harness {
    base: String,
    port: u16,
    settings: Settings,
    store: Store,
    clock: Arc<ManualClock>,
    sim: SimHandle,
    http: reqwest::Client,
    admin: String,
    agent: String,
    running: Option<Running>,
    _dir: tempfile::TempDir,
}

async fn start_app(settings: Settings, clock: Arc<ManualClock>) -> (Store, u16, Running) {
    let store = Store::open(&settings.database_url, StoreOptions::default())
        .await
        .expect("store opens");
    let app = Application::build_with_store(settings, pipeline(), store.clone(), clock)
        .await
        .expect("application builds");
    let port = app.port();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    (store, port, Running { stop, task })
}

impl Harness {
    async fn new() -> Harness {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let sim_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim_base = format!("http://{}", sim_listener.local_addr().unwrap());
        let mut settings = Settings {
            database_url: format!("sqlite://{}", dir.path().join("resonanz.db").display()),
            listen: "127.0.0.1:0".into(),
            meta: MetaSettings {
                graph_base_url: sim_base,
                app_secret: Secret::new(APP_SECRET),
                verify_token: Secret::new(VERIFY_TOKEN),
                whatsapp: vec![WhatsAppAccount {
                    phone_number_id: PHONE_NUMBER_ID.into(),
                    display_phone_number: "4930123456789".into(),
                    waba_id: "102290129340398".into(),
                    access_token: Secret::new(ACCESS_TOKEN),
                }],
                ..MetaSettings::default()
            },
            ..Settings::default()
        };
        settings.outbound.poll_interval_ms = 20;
        settings.outbound.retry_base_ms = 1000;
        settings.media.dir = dir.path().join("media");
        // Resonanz's clock starts at real time, like the simulator's.
        let clock = Arc::new(ManualClock::at(SystemClock.now()));
        let (store, port, running) = start_app(settings.clone(), clock.clone()).await;
        // Later starts reuse the port: the simulator's webhook target stays valid.
        settings.listen = format!("127.0.0.1:{port}");
        let base = format!("http://127.0.0.1:{port}");

        let mut config = SimConfig::new(APP_SECRET, VERIFY_TOKEN, ACCESS_TOKEN);
        config.webhook_targets = WebhookTargets {
            whatsapp_url: Some(format!("{base}/webhooks/whatsapp")),
            messenger_url: Some(format!("{base}/webhooks/messenger")),
            instagram_url: Some(format!("{base}/webhooks/instagram")),
        };
        config.tunables = Tunables {
            status_delay_ms: 5,
            webhook_retries: 0,
            ..Tunables::default()
        };
        let sim = resonanz_sim::start(config, sim_listener).await.unwrap();
        let now = clock.now();
        let (_, admin) = create_agent(&store, "admin", Role::Admin, Some("Geheim-123"), now)
            .await
            .unwrap();
        let (_, agent) = create_agent(&store, "sachbearbeiterin", Role::Agent, None, now)
            .await
            .unwrap();
        Harness {
            base,
            port,
            settings,
            store,
            clock,
            sim,
            http: reqwest::Client::new(),
            admin,
            agent,
            running: Some(running),
            _dir: dir,
        }
    }

    /// Stops the server (finishing the row in hand) and waits for it.
    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            running.task.await.unwrap().unwrap();
        }
    }

    /// A new server process on the same database and port.
    async fn restart(&mut self) {
        self.stop().await;
        let (store, port, running) = start_app(self.settings.clone(), self.clock.clone()).await;
        assert_eq!(port, self.port);
        self.store = store;
        self.running = Some(running);
    }

    /// Moves both Resonanz's and the simulator's clock.
    fn advance(&self, secs: i64) {
        self.clock.advance_millis(secs * 1000);
        self.sim.advance_clock(secs);
    }

    /// The customer writes; returns the conversation id.
    async fn customer_writes(&self, text: &str) -> String {
        self.sim
            .deliver_inbound(InboundRequest::text(ANNA, text))
            .await
            .expect("the simulator delivered the webhook");
        self.store.flush().await.unwrap();
        let conversations = self.store.recent_conversations(10).await.unwrap();
        conversations
            .iter()
            .find(|c| c.channel == "whatsapp")
            .expect("the webhook created a conversation")
            .id
            .clone()
    }

    /// A customer who uses a WhatsApp username: no phone number, only a user id.
    async fn username_customer_writes(&self, user_id: &str, text: &str) -> String {
        let request = InboundRequest {
            user_id: Some(user_id.into()),
            name: Some("anna.k".into()),
            ..InboundRequest::text("", text)
        };
        self.sim
            .deliver_inbound(request)
            .await
            .expect("the simulator delivered the webhook");
        self.store.flush().await.unwrap();
        self.store.recent_conversations(10).await.unwrap()[0]
            .id
            .clone()
    }

    /// Waits until the conversation shows `message_id` as read by the customer.
    async fn until_read(&self, conversation: &str, message_id: &str) {
        eventually("the reply shows read", || async {
            let (_, thread) = self
                .get(&format!("/api/conversations/{conversation}/messages"))
                .await;
            let ours = thread["messages"]
                .as_array()?
                .iter()
                .find(|m| m["id"] == message_id)?
                .clone();
            (ours["delivery_state"] == "read").then_some(())
        })
        .await;
    }

    async fn contact_of(&self, conversation: &str) -> String {
        self.store
            .conversation_info(conversation)
            .await
            .unwrap()
            .unwrap()
            .contact_id
    }

    async fn post(
        &self,
        token: Option<&str>,
        path: &str,
        body: Value,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.agent)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn delete(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn send(&self, conversation: &str, body: Value) -> (u16, Value) {
        self.post(
            Some(&self.agent),
            &format!("/api/conversations/{conversation}/messages"),
            body,
            None,
        )
        .await
    }

    async fn opt_in(&self, contact: &str) {
        let (status, body) = self
            .post(
                Some(&self.agent),
                &format!("/api/contacts/{contact}/consents"),
                json!({"kind": "opt_in", "method": "Beratungsprotokoll, Unterschrift vom 02.05.", "evidence": "Scan BP-4711"}),
                None,
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["current"]["whatsapp"]["opted_in"], true, "{body}");
    }

    async fn outbox(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/api/outbox/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn outbox_until(&self, id: &str, state: &str) -> Value {
        eventually(&format!("outbox {id} reaches {state}"), || async {
            let row = self.outbox(id).await;
            (row["state"] == state).then_some(row)
        })
        .await
    }

    /// `POST /api/media` with the file as the raw body.
    async fn upload(
        &self,
        token: Option<&str>,
        filename: &str,
        mime_type: &str,
        bytes: Vec<u8>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/api/media", self.base))
            .query(&[("filename", filename)])
            .header("content-type", mime_type)
            .body(bytes);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST /api/media` as a browser form (`file` part with name and type).
    async fn upload_form(&self, filename: &str, mime_type: &str, bytes: &[u8]) -> (u16, Value) {
        let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {mime_type}\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .http
            .post(format!("{}/api/media", self.base))
            .bearer_auth(&self.agent)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Accepted document sends, in order.
    fn documents(&self) -> Vec<Value> {
        self.accepted()
            .into_iter()
            .filter(|s| s.kind == "document")
            .map(|s| s.request["document"].clone())
            .collect()
    }

    fn accepted(&self) -> Vec<SentRecord> {
        self.sim
            .sent()
            .into_iter()
            .filter(|s| s.verdict == Verdict::Accepted && s.kind != "read")
            .collect()
    }
}

async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..500 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

fn reply(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

fn template(name: &str) -> Value {
    json!({"type": "template", "name": name, "language": "de", "body": ["Anna", "S-2024-0815"]})
}

#[tokio::test]
async fn an_agent_reply_is_sent_once_and_its_delivery_state_reaches_read() {
    let h = Harness::new().await;
    let conversation = h
        .customer_writes("Guten Tag, ich möchte einen Wasserschaden melden.")
        .await;

    let (status, window) = h
        .get(&format!("/api/conversations/{conversation}/window"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(window["open"], true, "{window}");
    assert!(window["closes_at"].is_string());

    let (status, queued) = h
        .send(
            &conversation,
            reply("Das tut uns leid. Bitte senden Sie uns Fotos des Schadens."),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_str().unwrap().to_owned();
    let sent = h.outbox_until(&id, "sent").await;

    let accepted = h.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0].recipient.as_deref(), Some(ANNA));
    assert_eq!(accepted[0].request["biz_opaque_callback_data"], id.as_str());
    assert_eq!(
        accepted[0].message_id.as_deref(),
        sent["external_id"].as_str()
    );

    // sent → delivered → read arrive as signed webhooks and move the message forward.
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    h.until_read(&conversation, &message_id).await;
    let (_, thread) = h
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    let ours = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == message_id.as_str())
        .unwrap();
    assert_eq!(ours["direction"], "out");
    assert_eq!(
        ours["body"],
        "Das tut uns leid. Bitte senden Sie uns Fotos des Schadens."
    );
}

#[tokio::test]
async fn a_customer_known_only_by_username_is_answered_through_the_recipient_field() {
    let h = Harness::new().await;
    let user_id = "DE.13491208655302741918";
    let conversation = h
        .username_customer_writes(user_id, "Ist mein Fahrrad in der Hausrat mitversichert?")
        .await;
    let (status, queued) = h
        .send(
            &conversation,
            reply("Ja, bis 1.000 € ist es mitversichert."),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let sent = h.outbox_until(queued["id"].as_str().unwrap(), "sent").await;
    let accepted = h.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0].request["recipient"], user_id);
    assert!(accepted[0].request.get("to").is_none());
    assert_eq!(accepted[0].recipient.as_deref(), Some(user_id));

    // Meta names the user id in the statuses; the reply still reaches "read".
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    h.until_read(&conversation, &message_id).await;

    // A one-time code template needs a phone number: blocked before the API.
    let contact = h.contact_of(&conversation).await;
    h.opt_in(&contact).await;
    let (status, problem) = h
        .send(
            &conversation,
            json!({"type": "template", "name": "anmeldecode", "language": "de", "body": ["482913"]}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "authentication_needs_phone");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.accepted().len(), 1, "nothing more reached the API");
}

#[tokio::test]
async fn the_same_idempotency_key_twice_sends_once() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Wo bleibt meine Police?").await;
    let path = format!("/api/conversations/{conversation}/messages");
    let body = json!({"type": "document", "link": "https://example.org/police.pdf", "filename": "Police_HR-123456.pdf"});
    let (first, a) = h
        .post(Some(&h.agent), &path, body.clone(), Some("klick-4711"))
        .await;
    let (second, b) = h
        .post(Some(&h.agent), &path, body, Some("klick-4711"))
        .await;
    assert_eq!((first, second), (202, 200), "{a} {b}");
    assert_eq!(a["id"], b["id"]);
    h.outbox_until(a["id"].as_str().unwrap(), "sent").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let accepted = h.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(
        accepted[0].request["document"]["filename"],
        "Police_HR-123456.pdf"
    );
}

#[tokio::test]
async fn after_25_hours_free_text_is_blocked_before_the_api_but_an_approved_utility_template_with_opt_in_goes_out()
 {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Bitte rufen Sie mich an.").await;
    let contact = h.contact_of(&conversation).await;
    h.advance(25 * 3600);

    let (_, window) = h
        .get(&format!("/api/conversations/{conversation}/window"))
        .await;
    assert_eq!(window["open"], false, "{window}");
    assert_eq!(window["templates_only"], true);

    let (status, problem) = h
        .send(&conversation, reply("Wir haben Sie leider nicht erreicht."))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "window_closed");
    assert!(
        problem["de"].as_str().unwrap().contains("24-Stunden"),
        "{problem}"
    );
    let blocked = h.outbox(problem["outbox"]["id"].as_str().unwrap()).await;
    assert_eq!(blocked["state"], "blocked");
    assert_eq!(blocked["error"]["code"], "window_closed");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        h.sim.sent().is_empty(),
        "nothing may reach the API: {:?}",
        h.sim.sent()
    );

    h.opt_in(&contact).await;
    let (status, queued) = h
        .send(&conversation, template("schadenmeldung_bestaetigung"))
        .await;
    assert_eq!(status, 202, "{queued}");
    h.outbox_until(queued["id"].as_str().unwrap(), "sent").await;
    let accepted = h.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].kind, "template");
    assert_eq!(
        accepted[0].request["template"]["name"],
        "schadenmeldung_bestaetigung"
    );
}

#[tokio::test]
async fn a_customer_from_an_ad_can_be_written_to_free_for_72_hours_and_the_agent_sees_the_charge() {
    let h = Harness::new().await;
    h.sim
        .deliver_inbound(InboundRequest {
            referral: true,
            ..InboundRequest::text(
                ANNA,
                "Ich interessiere mich für die Zahnzusatzversicherung.",
            )
        })
        .await
        .expect("the simulator delivered the webhook");
    h.store.flush().await.unwrap();
    let conversation = h.store.recent_conversations(10).await.unwrap()[0]
        .id
        .clone();
    let contact = h.contact_of(&conversation).await;

    let (_, window) = h
        .get(&format!("/api/conversations/{conversation}/window"))
        .await;
    let free_until = window["free_entry_until"]
        .as_str()
        .expect("an open free entry window");
    let closes_at = window["closes_at"].as_str().unwrap();
    assert!(
        free_until > closes_at,
        "72 h outlast the 24 h window: {window}"
    );

    // Inside the 24 h window a free-form reply is free, as always.
    let (status, queued) = h
        .send(&conversation, reply("Gern, was möchten Sie wissen?"))
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["charge"]["charge"], "free", "{queued}");

    // Two days on, only a template may go out, and it is still free.
    h.advance(2 * DAY_SECS);
    h.opt_in(&contact).await;
    let (status, queued) = h
        .send(&conversation, template("schadenmeldung_bestaetigung"))
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["charge"]["reason"], "free_entry_point", "{queued}");
    assert_eq!(queued["charge"]["until"], free_until);
    assert!(
        queued["charge"]["de"]
            .as_str()
            .unwrap()
            .starts_with("Kostenlos bis")
    );

    // After 72 hours the same template is billed.
    h.advance(DAY_SECS + 60);
    let (_, window) = h
        .get(&format!("/api/conversations/{conversation}/window"))
        .await;
    assert!(window["free_entry_until"].is_null(), "{window}");
    let (status, queued) = h
        .send(&conversation, template("schadenmeldung_bestaetigung"))
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["charge"]["charge"], "billed", "{queued}");
    assert!(
        queued["charge"]["de"]
            .as_str()
            .unwrap()
            .starts_with("Kostenpflichtig")
    );
}

#[tokio::test]
async fn a_template_without_opt_in_is_blocked_outside_the_window() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Danke für die Info.").await;
    h.advance(2 * DAY_SECS);
    let (status, problem) = h.send(&conversation, template("fristerinnerung")).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "no_opt_in");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.sim.sent().is_empty());
}

#[tokio::test]
async fn after_stopp_templates_are_blocked_until_a_new_opt_in() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Hallo").await;
    let contact = h.contact_of(&conversation).await;
    h.opt_in(&contact).await;
    h.advance(60);
    h.customer_writes("STOPP").await;

    let (status, problem) = h.send(&conversation, template("fristerinnerung")).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "opted_out");
    let (_, consents) = h.get(&format!("/api/contacts/{contact}/consents")).await;
    assert_eq!(
        consents["current"]["whatsapp"]["opted_out"], true,
        "{consents}"
    );
    assert_eq!(
        consents["current"]["whatsapp"]["opt_out"]["source"]["source"],
        "keyword"
    );

    // The opt-out sticks: a day later, still blocked.
    h.advance(DAY_SECS / 2);
    let (status, _) = h.send(&conversation, template("fristerinnerung")).await;
    assert_eq!(status, 422);
    assert!(h.sim.sent().is_empty());

    // A new opt-in (recorded after the STOPP) lifts it.
    h.clock.advance_millis(120_000);
    h.opt_in(&contact).await;
    let (status, queued) = h.send(&conversation, template("fristerinnerung")).await;
    assert_eq!(status, 202, "{queued}");
    h.outbox_until(queued["id"].as_str().unwrap(), "sent").await;
    assert_eq!(h.accepted().len(), 1);
}

#[tokio::test]
async fn a_marketing_template_is_blocked_by_default() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Haben Sie Angebote?").await;
    let contact = h.contact_of(&conversation).await;
    h.opt_in(&contact).await;
    let (status, problem) = h
        .send(
            &conversation,
            json!({"type": "template", "name": "sommer_rabatt", "body": ["Anna"]}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "marketing_disabled");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.sim.sent().is_empty());
}

/// Sends are refused with 130429 until the limit is lifted.
fn throttle(sim: &SimHandle, per_sec: u32) {
    sim.set_tunables(Tunables {
        rate_limit_per_sec: per_sec,
        ..sim.tunables()
    });
}

async fn wait_for_backoff(h: &Harness, id: &str) -> Value {
    eventually("the first attempt was throttled", || async {
        let row = h.outbox(id).await;
        (row["state"] == "queued" && row["attempts"] == 1).then_some(row)
    })
    .await
}

#[tokio::test]
async fn a_throttled_send_is_retried_with_backoff_and_delivered_once() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Ist meine Kündigung angekommen?").await;
    throttle(&h.sim, 0);
    let (status, queued) = h
        .send(&conversation, reply("Ja, wir bestätigen Ihre Kündigung."))
        .await;
    assert_eq!(status, 202);
    let id = queued["id"].as_str().unwrap().to_owned();
    let waiting = wait_for_backoff(&h, &id).await;
    assert_eq!(waiting["error"]["code"], "130429", "{waiting}");
    assert!(
        waiting["error"]["de"]
            .as_str()
            .unwrap()
            .contains("erneut versucht")
    );
    let rejected = h.sim.sent();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].error_code, Some(130429));

    // Not due yet: nothing more is sent until the backoff has passed.
    throttle(&h.sim, 80);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(h.sim.sent().len(), 1);
    h.clock.advance_millis(1_500);
    let sent = h.outbox_until(&id, "sent").await;
    assert_eq!(sent["attempts"], 2);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(h.accepted().len(), 1);
}

#[tokio::test]
async fn a_restart_in_the_middle_of_a_retry_sends_no_duplicate() {
    let mut h = Harness::new().await;
    let conversation = h
        .customer_writes("Brauche die Bescheinigung für den Arbeitgeber.")
        .await;
    throttle(&h.sim, 0);
    let (_, queued) = h
        .send(&conversation, reply("Die Bescheinigung kommt heute."))
        .await;
    let id = queued["id"].as_str().unwrap().to_owned();
    wait_for_backoff(&h, &id).await;

    h.stop().await;
    throttle(&h.sim, 80);
    h.restart().await;
    h.clock.advance_millis(1_500);
    h.outbox_until(&id, "sent").await;
    // Give both the old and the new process's worker every chance to misbehave.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let accepted = h.accepted();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0].request["biz_opaque_callback_data"], id.as_str());
}

#[tokio::test]
async fn a_send_whose_answer_was_lost_is_adopted_from_the_status_webhook_not_resent() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Bitte die Rechnung schicken.").await;
    let info = h
        .store
        .conversation_info(&conversation)
        .await
        .unwrap()
        .unwrap();
    // A worker claimed the row and called Meta, then died before recording the answer.
    // Dated an hour ahead so the live worker cannot claim it first.
    let now = h.clock.now().plus_millis(3_600_000);
    let row = match h
        .store
        .enqueue_outbox(resonanz_store::NewOutbox {
            id: "ob_lost_answer".into(),
            idempotency_key: "test:lost".into(),
            channel: info.channel,
            account: info.account.clone(),
            recipient: info.recipient().unwrap().clone(),
            contact_id: info.contact_id.clone(),
            conversation_id: info.id.clone(),
            payload: reply("Ihre Rechnung folgt."),
            upload: None,
            created_by: "test".into(),
            now,
            blocked: None,
        })
        .await
        .unwrap()
    {
        resonanz_store::Enqueued::Created(row) => row,
        other => panic!("{other:?}"),
    };
    // Both the claim and the call happen "in the dead worker", not in the server.
    let claimed = h.store.claim_outbox(now, 100).await.unwrap();
    assert_eq!(claimed.len(), 1);
    h.clock.advance_millis(3_600_000);
    let client = resonanz_server::outbound::graph_client(&h.settings, PHONE_NUMBER_ID).unwrap();
    let envelope: resonanz_server::outbound::draft::DraftEnvelope =
        serde_json::from_value(row.payload.clone()).unwrap();
    client
        .send_whatsapp(
            PHONE_NUMBER_ID,
            &envelope
                .to_whatsapp(
                    &resonanz_channels::outbound::WaRecipient::Phone(ANNA.into()),
                    &row.id,
                    None,
                )
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(h.sim.settle(Duration::from_secs(5)).await);

    // Past the in-flight limit the worker reconciles: the status webhook proves the send.
    h.clock.advance_millis(61_000);
    let sent = h.outbox_until("ob_lost_answer", "sent").await;
    let accepted = h.accepted();
    assert_eq!(accepted.len(), 1, "never sent again: {accepted:?}");
    assert_eq!(
        sent["external_id"].as_str(),
        accepted[0].message_id.as_deref()
    );
    let (_, thread) = h
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    assert!(
        thread["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["direction"] == "out"),
        "{thread}"
    );
}

#[tokio::test]
async fn a_send_with_an_unknown_outcome_and_no_proof_fails_instead_of_resending() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Hallo?").await;
    let info = h
        .store
        .conversation_info(&conversation)
        .await
        .unwrap()
        .unwrap();
    let now = h.clock.now().plus_millis(3_600_000);
    h.store
        .enqueue_outbox(resonanz_store::NewOutbox {
            id: "ob_unknown".into(),
            idempotency_key: "test:unknown".into(),
            channel: info.channel,
            account: info.account.clone(),
            recipient: info.recipient().unwrap().clone(),
            contact_id: info.contact_id.clone(),
            conversation_id: info.id.clone(),
            payload: reply("Wir melden uns."),
            upload: None,
            created_by: "test".into(),
            now,
            blocked: None,
        })
        .await
        .unwrap();
    assert_eq!(h.store.claim_outbox(now, 100).await.unwrap().len(), 1);
    h.clock.advance_millis(3_600_000 + 61_000);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        h.outbox("ob_unknown").await["state"],
        "sending",
        "waits for proof within the grace period"
    );
    h.clock.advance_millis(600_000);
    let failed = h.outbox_until("ob_unknown", "failed").await;
    assert_eq!(failed["error"]["code"], "outcome_unknown");
    assert!(h.sim.sent().is_empty());
}

#[tokio::test]
async fn requests_without_a_token_are_401_and_the_wrong_role_is_403() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Hallo").await;
    let path = format!("/api/conversations/{conversation}/messages");
    let (status, problem) = h.post(None, &path, reply("Hallo"), None).await;
    assert_eq!(status, 401);
    assert_eq!(problem["type"], "/problems/unauthorized");
    let (status, _) = h.post(Some("rz_forged"), &path, reply("Hallo"), None).await;
    assert_eq!(status, 401);

    let (status, problem) = h
        .post(Some(&h.agent), "/api/templates/sync", json!({}), None)
        .await;
    assert_eq!(status, 403, "{problem}");
    let (status, synced) = h
        .post(Some(&h.admin), "/api/templates/sync", json!({}), None)
        .await;
    assert_eq!(status, 200, "{synced}");
    assert!(synced["synced"].as_u64().unwrap() >= 6);

    // A session from name and password works like a token.
    let (status, session) = h
        .post(
            None,
            "/api/sessions",
            json!({"name": "admin", "password": "Geheim-123"}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{session}");
    let (status, _) = h
        .post(
            None,
            "/api/sessions",
            json!({"name": "admin", "password": "falsch"}),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = h
        .post(
            Some(session["token"].as_str().unwrap()),
            "/api/templates/sync",
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(h.sim.sent().is_empty());
}

#[tokio::test]
async fn templates_are_checked_before_submission_and_their_review_updates_the_cache() {
    let h = Harness::new().await;
    let body = |name: &str, category: &str, text: &str, examples: Value| {
        json!({"name": name, "language": "de", "category": category,
               "components": [{"type": "BODY", "text": text, "example": {"body_text": [examples]}}]})
    };
    let (status, problem) = h
        .post(
            Some(&h.admin),
            "/api/templates",
            body(
                "rabatt_info",
                "UTILITY",
                "Hallo {{1}}, jetzt 10 % Rabatt auf Ihre Hausratversicherung.",
                json!(["Anna"]),
            ),
            None,
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["issue"]["issue"] == "reads_as_promotion"),
        "{problem}"
    );

    let (status, problem) = h
        .post(
            Some(&h.admin),
            "/api/templates",
            body(
                "lueckenhaft",
                "UTILITY",
                "Hallo {{2}}, Ihre Police {{3}} ist da.",
                json!(["Anna", "HR-1"]),
            ),
            None,
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["issue"]["issue"] == "not_sequential"),
        "{problem}"
    );

    let (status, problem) = h
        .post(
            Some(&h.admin),
            "/api/templates",
            body(
                "sommer",
                "MARKETING",
                "Hallo {{1}}, schönen Sommer.",
                json!(["Anna"]),
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (422, Some("/problems/marketing-disabled"))
    );

    let (status, problem) = h
        .post(
            Some(&h.agent),
            "/api/templates",
            body(
                "police_da",
                "UTILITY",
                "Hallo {{1}}, Ihre Police {{2}} liegt im Kundenportal.",
                json!(["Anna", "HR-1"]),
            ),
            None,
        )
        .await;
    assert_eq!(status, 403, "{problem}");

    let (status, created) = h
        .post(
            Some(&h.admin),
            "/api/templates",
            body(
                "police_da",
                "UTILITY",
                "Hallo {{1}}, Ihre Police {{2}} liegt im Kundenportal.",
                json!(["Anna", "HR-1"]),
            ),
            None,
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "PENDING");
    // Meta's review arrives as a template status webhook and updates the cache.
    eventually("the review approved the template", || async {
        let (_, list) = h.get("/api/templates").await;
        let ours = list["templates"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == "police_da")?
            .clone();
        (ours["status"] == "APPROVED").then_some(())
    })
    .await;
    let sent_before = h.sim.sent().len();
    assert_eq!(sent_before, 0);
}

#[tokio::test]
async fn click_to_chat_codes_and_read_receipts() {
    let h = Harness::new().await;
    let (status, link) = h.get("/api/click-to-chat?text=Schaden%20melden").await;
    assert_eq!(status, 200);
    assert_eq!(
        link["link"],
        "https://wa.me/4930123456789?text=Schaden%20melden"
    );
    for (format, content_type, magic) in [
        ("svg", "image/svg+xml", &b"<?xml"[..]),
        ("png", "image/png", &b"\x89PNG"[..]),
    ] {
        let response = h
            .http
            .get(format!(
                "{}/api/click-to-chat?text=Hallo&format={format}",
                h.base
            ))
            .bearer_auth(&h.agent)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], content_type);
        let bytes = response.bytes().await.unwrap();
        assert!(
            bytes.starts_with(magic),
            "{format}: {:?}",
            &bytes[..8.min(bytes.len())]
        );
    }

    let conversation = h.customer_writes("Ist mein Antrag angekommen?").await;
    let (_, thread) = h
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    let inbound = thread["messages"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = h
        .post(
            Some(&h.agent),
            &format!("/api/messages/{inbound}/read"),
            json!({}),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let reads: Vec<_> = h
        .sim
        .sent()
        .into_iter()
        .filter(|s| s.kind == "read")
        .collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].verdict, Verdict::Accepted);
}

#[tokio::test]
async fn a_replay_of_the_raw_log_rebuilds_sent_messages_with_their_delivery_state() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Brauche eine Kopie der Police.").await;
    let (_, queued) = h
        .send(&conversation, json!({"type": "document", "link": "https://example.org/p.pdf", "filename": "Police.pdf", "caption": "Ihre Police"}))
        .await;
    let sent = h.outbox_until(queued["id"].as_str().unwrap(), "sent").await;
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    let state_of = |thread: &Value| {
        thread["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == message_id.as_str())
            .map(|m| m["delivery_state"].clone())
    };
    eventually("the document was read", || async {
        let (_, thread) = h
            .get(&format!("/api/conversations/{conversation}/messages"))
            .await;
        (state_of(&thread)? == "read").then_some(())
    })
    .await;
    pipeline().replay(&h.store, 100).await.unwrap();
    let (_, thread) = h
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    assert_eq!(state_of(&thread), Some(json!("read")), "{thread}");
    let ours = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == message_id.as_str())
        .unwrap();
    assert_eq!(ours["attachments"][0]["filename"], "Police.pdf");
}

#[tokio::test]
async fn an_admin_deletes_a_template_at_meta_and_from_the_cache() {
    let h = Harness::new().await;
    let (status, synced) = h
        .post(Some(&h.admin), "/api/templates/sync", json!({}), None)
        .await;
    assert_eq!(status, 200, "{synced}");
    let cached = |list: &Value, name: &str| {
        list["templates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == name)
    };
    let name = synced["templates"][0]["name"].as_str().unwrap().to_owned();

    let (status, _) = h.delete(&h.agent, &format!("/api/templates/{name}")).await;
    assert_eq!(status, 403, "agents may not delete templates");
    let (status, deleted) = h.delete(&h.admin, &format!("/api/templates/{name}")).await;
    assert_eq!(status, 200, "{deleted}");
    assert!(deleted["removed_from_cache"].as_u64().unwrap() >= 1);
    let (_, list) = h.get("/api/templates").await;
    assert!(!cached(&list, &name), "{list}");
    // Gone at Meta too: a fresh sync does not bring it back.
    let (_, resynced) = h
        .post(Some(&h.admin), "/api/templates/sync", json!({}), None)
        .await;
    assert!(!cached(&resynced, &name), "{resynced}");

    // Meta's own error for a name it does not know, in German and English.
    let (status, problem) = h.delete(&h.admin, "/api/templates/gibt_es_nicht").await;
    assert_eq!(status, 502, "{problem}");
    assert_eq!(problem["code"], 100, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("gibt_es_nicht"),
        "{problem}"
    );
}

/// A small real PDF, as an agent's "Versicherungsschein.pdf".
fn policy_pdf() -> Vec<u8> {
    let mut pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n".to_vec();
    pdf.extend_from_slice(b"% Versicherungsschein HR-123456, Hausrat, Anna Keller\n");
    pdf.extend((0..4096u32).map(|i| (i % 251) as u8));
    pdf.extend_from_slice(b"\ntrailer << /Root 1 0 R >>\n%%EOF\n");
    pdf
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn an_uploaded_pdf_is_sent_as_a_document_and_a_second_send_reuses_metas_media_id() {
    let h = Harness::new().await;
    let conversation = h
        .customer_writes("Können Sie mir meinen Versicherungsschein schicken?")
        .await;
    let pdf = policy_pdf();
    let (status, upload) = h
        .upload(
            Some(&h.agent),
            "C:\\Users\\sb\\Versicherungsschein.pdf",
            "application/pdf",
            pdf.clone(),
        )
        .await;
    assert_eq!(status, 201, "{upload}");
    let handle = upload["upload"].as_str().unwrap().to_owned();
    assert_eq!(handle, sha256_hex(&pdf));
    assert_eq!(upload["kind"], "document");
    assert_eq!(upload["mime_type"], "application/pdf");
    assert_eq!(upload["size"], pdf.len());
    assert_eq!(upload["filename"], "Versicherungsschein.pdf", "no path");
    let (status, described) = h.get(&format!("/api/media/{handle}")).await;
    assert_eq!((status, &described["upload"]), (200, &json!(handle)));

    let (status, queued) = h
        .send(
            &conversation,
            json!({"type": "document", "upload": handle, "caption": "Ihr Versicherungsschein"}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["type"], "document");
    let first = h.outbox_until(queued["id"].as_str().unwrap(), "sent").await;
    assert_eq!(
        first["attempts"], 1,
        "the upload is not an attempt: {first}"
    );

    // Exactly one upload, with the same bytes, and one send naming its media id.
    let uploads = h.sim.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(uploads[0].verdict, Verdict::Accepted);
    assert_eq!(uploads[0].object_id, PHONE_NUMBER_ID);
    assert_eq!(uploads[0].mime_type.as_deref(), Some("application/pdf"));
    assert_eq!(
        uploads[0].filename.as_deref(),
        Some("Versicherungsschein.pdf")
    );
    let media_id = uploads[0].media_id.clone().unwrap();
    assert_eq!(h.sim.media_bytes(&media_id).unwrap(), pdf);
    assert_eq!(
        h.documents(),
        vec![
            json!({"id": media_id, "filename": "Versicherungsschein.pdf",
                    "caption": "Ihr Versicherungsschein"})
        ]
    );

    // The timeline shows the document with the handle of our copy.
    let message_id = first["message_id"].as_str().unwrap().to_owned();
    let (_, thread) = h
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    let ours = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == message_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(ours["kind"], "document", "{ours}");
    assert_eq!(ours["attachments"][0]["sha256"], handle.as_str(), "{ours}");
    assert_eq!(
        ours["attachments"][0]["filename"],
        "Versicherungsschein.pdf"
    );

    // The same file again (now as a browser form), under another name: no second upload.
    let (status, again) = h
        .upload_form("Police 2025.pdf", "application/pdf", &pdf)
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["upload"], handle.as_str());
    let (status, queued) = h
        .send(
            &conversation,
            json!({"type": "document", "upload": handle, "filename": "Police_HR-123456.pdf"}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    h.outbox_until(queued["id"].as_str().unwrap(), "sent").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.sim.uploads().len(), 1, "the media id was reused");
    let documents = h.documents();
    assert_eq!(documents.len(), 2);
    assert_eq!(
        documents[1],
        json!({"id": media_id, "filename": "Police_HR-123456.pdf"})
    );
}

#[tokio::test]
async fn files_over_the_limit_or_of_a_refused_type_get_a_clear_4xx_and_nothing_is_queued() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Hier mein Foto vom Schaden.").await;

    let mut photo = vec![0xff, 0xd8, 0xff, 0xe0];
    photo.resize(5 * 1024 * 1024 + 1, 0x42);
    let (status, problem) = h
        .upload(Some(&h.agent), "schaden.jpg", "image/jpeg", photo)
        .await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["type"], "/problems/file-too-large");
    assert!(
        problem["title_de"].as_str().unwrap().contains("5.0 MB"),
        "{problem}"
    );

    let (status, problem) = h
        .upload(
            Some(&h.agent),
            "Tarifrechner.exe",
            "application/x-msdownload",
            b"MZ\x90\x00\x03".to_vec(),
        )
        .await;
    assert_eq!(status, 415, "{problem}");
    assert_eq!(problem["type"], "/problems/unsupported-file-type");
    assert!(
        problem["accepted"]
            .as_array()
            .unwrap()
            .contains(&json!("application/pdf"))
    );
    // A renamed file is caught by its content, before Meta sees it.
    let (status, problem) = h
        .upload(
            Some(&h.agent),
            "Police.pdf",
            "application/pdf",
            b"MZ\x90\x00\x03".to_vec(),
        )
        .await;
    assert_eq!(status, 415, "{problem}");
    let (status, problem) = h
        .upload(Some(&h.agent), "leer.pdf", "application/pdf", Vec::new())
        .await;
    assert_eq!(status, 422, "{problem}");
    // Over the 3 MB webhook body limit is fine on this route.
    let mut scan = policy_pdf();
    scan.resize(4 * 1024 * 1024, b' ');
    let (status, big) = h
        .upload(Some(&h.agent), "Scan.pdf", "application/pdf", scan)
        .await;
    assert_eq!(
        (status, &big["size"]),
        (201, &json!(4 * 1024 * 1024)),
        "{big}"
    );

    // Drafts naming an unknown upload, or a file of another kind, are refused too.
    let path = format!("/api/conversations/{conversation}/messages");
    let (status, problem) = h
        .send(
            &conversation,
            json!({"type": "document", "upload": "ab".repeat(32)}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/unknown-upload");
    let (status, upload) = h
        .upload(
            Some(&h.agent),
            "Police.pdf",
            "application/pdf",
            policy_pdf(),
        )
        .await;
    assert_eq!(status, 201, "{upload}");
    let (status, problem) = h
        .send(
            &conversation,
            json!({"type": "image", "upload": upload["upload"]}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/upload-kind");
    assert!(problem["de"].as_str().unwrap().contains("document"));
    let (status, problem) = h
        .post(
            Some(&h.agent),
            &path,
            json!({"type": "document", "upload": upload["upload"], "link": "https://example.org/x.pdf"}),
            None,
        )
        .await;
    assert_eq!(status, 422, "{problem}");

    tokio::time::sleep(Duration::from_millis(100)).await;
    let far = h.clock.now().plus_millis(365 * 24 * 3_600_000);
    assert!(h.store.claim_outbox(far, 100).await.unwrap().is_empty());
    assert!(h.sim.uploads().is_empty());
    assert!(h.accepted().is_empty());
}

#[tokio::test]
async fn uploads_need_an_authenticated_agent() {
    let h = Harness::new().await;
    let (status, problem) = h
        .upload(None, "Police.pdf", "application/pdf", policy_pdf())
        .await;
    assert_eq!(status, 401, "{problem}");
    assert_eq!(problem["type"], "/problems/unauthorized");
    let (status, _) = h
        .upload(
            Some("rz_not-a-token"),
            "Police.pdf",
            "application/pdf",
            policy_pdf(),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = h
        .upload(
            Some(&h.admin),
            "Police.pdf",
            "application/pdf",
            policy_pdf(),
        )
        .await;
    assert_eq!(status, 201, "admins may upload too");
}

#[tokio::test]
async fn a_failed_upload_is_retried_across_a_restart_and_the_file_goes_out_once() {
    let mut h = Harness::new().await;
    let conversation = h.customer_writes("Bitte die Rechnung als PDF.").await;
    let pdf = policy_pdf();
    let (_, upload) = h
        .upload(
            Some(&h.agent),
            "Rechnung.pdf",
            "application/pdf",
            pdf.clone(),
        )
        .await;
    h.sim.set_tunables(Tunables {
        upload_failures: 1,
        ..h.sim.tunables()
    });
    let (status, queued) = h
        .send(
            &conversation,
            json!({"type": "document", "upload": upload["upload"]}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let id = queued["id"].as_str().unwrap().to_owned();
    let waiting = wait_for_backoff(&h, &id).await;
    assert_eq!(waiting["error"]["code"], "2", "{waiting}");
    assert!(
        waiting["error"]["de"]
            .as_str()
            .unwrap()
            .starts_with("Hochladen der Datei fehlgeschlagen"),
        "{waiting}"
    );
    assert!(h.accepted().is_empty());

    // A new process finds the queued send and the file on disk.
    h.restart().await;
    h.clock.advance_millis(1_500);
    let sent = h.outbox_until(&id, "sent").await;
    assert_eq!(sent["attempts"], 2, "{sent}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let uploads = h.sim.uploads();
    assert_eq!(uploads.len(), 2, "one refused, one accepted: {uploads:?}");
    let media_id = uploads[1].media_id.clone().unwrap();
    assert_eq!(h.sim.media_bytes(&media_id).unwrap(), pdf);
    assert_eq!(
        h.documents(),
        vec![json!({"id": media_id, "filename": "Rechnung.pdf"})]
    );
}

#[tokio::test]
async fn a_media_id_meta_no_longer_knows_is_dropped_and_the_file_uploaded_again() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Schicken Sie mir das Formular?").await;
    let (_, upload) = h
        .upload(
            Some(&h.agent),
            "Formular.pdf",
            "application/pdf",
            policy_pdf(),
        )
        .await;
    let draft = json!({"type": "document", "upload": upload["upload"]});
    let (_, first) = h.send(&conversation, draft.clone()).await;
    h.outbox_until(first["id"].as_str().unwrap(), "sent").await;
    let old_id = h.sim.uploads()[0].media_id.clone().unwrap();
    // Deleted at Meta (by hand, or expired early).
    let deleted = h
        .http
        .delete(format!("{}/{old_id}", h.sim.graph_url()))
        .bearer_auth(ACCESS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);

    let (_, second) = h.send(&conversation, draft).await;
    let id = second["id"].as_str().unwrap().to_owned();
    let waiting = wait_for_backoff(&h, &id).await;
    assert_eq!(waiting["error"]["code"], "100", "{waiting}");
    h.clock.advance_millis(1_500);
    h.outbox_until(&id, "sent").await;
    let uploads = h.sim.uploads();
    assert_eq!(uploads.len(), 2, "{uploads:?}");
    let new_id = uploads[1].media_id.clone().unwrap();
    assert_ne!(new_id, old_id);
    let documents = h.documents();
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[1]["id"], new_id.as_str());
}

/// A WebP header as an encoder writes it (`VP8L` static, or `VP8X` with the
/// animation flag), padded to `size` bytes with a `JUNK` chunk.
fn webp(side: u32, animated: bool, size: usize) -> Vec<u8> {
    let mut chunks = Vec::new();
    if animated {
        chunks.extend_from_slice(b"VP8X\x0a\x00\x00\x00\x02\x00\x00\x00");
        chunks.extend_from_slice(&(side - 1).to_le_bytes()[..3]);
        chunks.extend_from_slice(&(side - 1).to_le_bytes()[..3]);
    } else {
        let bits = (side - 1) | ((side - 1) << 14);
        chunks.extend_from_slice(b"VP8L\x05\x00\x00\x00\x2f");
        chunks.extend_from_slice(&bits.to_le_bytes());
        chunks.push(0);
    }
    let filler = size - (12 + chunks.len() + 8);
    chunks.extend_from_slice(b"JUNK");
    chunks.extend_from_slice(&(filler as u32).to_le_bytes());
    chunks.resize(chunks.len() + filler, 0x55);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((chunks.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&chunks);
    out
}

impl Harness {
    /// Nothing waits to be sent and nothing reached the simulator.
    async fn assert_nothing_queued_or_sent(&self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let far = self.clock.now().plus_millis(365 * 24 * 3_600_000);
        assert!(self.store.claim_outbox(far, 100).await.unwrap().is_empty());
        assert!(self.sim.uploads().is_empty(), "{:?}", self.sim.uploads());
        assert!(self.accepted().is_empty(), "{:?}", self.accepted());
    }

    /// An admin submits a template; waits until Meta's review approved it.
    async fn approved_template(&self, template: Value) {
        let name = template["name"].as_str().unwrap().to_owned();
        let (status, created) = self
            .post(Some(&self.admin), "/api/templates", template, None)
            .await;
        assert_eq!(status, 201, "{created}");
        eventually("the review approved the template", || async {
            let (_, list) = self.get("/api/templates").await;
            list["templates"]
                .as_array()?
                .iter()
                .any(|t| t["name"] == name.as_str() && t["status"] == "APPROVED")
                .then_some(())
        })
        .await;
    }

    fn blob_exists(&self, sha256: &str) -> bool {
        resonanz_channels::media::BlobStore::new(self.settings.media.dir.clone())
            .path_for(sha256)
            .unwrap()
            .exists()
    }
}

#[tokio::test]
async fn an_uploaded_webp_goes_out_as_a_sticker_by_metas_media_id() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Danke, hat alles geklappt!").await;
    let sticker = webp(512, false, 20 * 1024);
    let (status, upload) = h
        .upload(Some(&h.agent), "daumen.webp", "image/webp", sticker.clone())
        .await;
    assert_eq!(status, 201, "{upload}");
    assert_eq!(upload["kind"], "sticker");
    assert_eq!(upload["mime_type"], "image/webp");
    let handle = upload["upload"].as_str().unwrap().to_owned();

    let (status, queued) = h
        .send(&conversation, json!({"type": "sticker", "upload": handle}))
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["type"], "sticker");
    let sent = h.outbox_until(queued["id"].as_str().unwrap(), "sent").await;

    let uploads = h.sim.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(uploads[0].mime_type.as_deref(), Some("image/webp"));
    let media_id = uploads[0].media_id.clone().unwrap();
    assert_eq!(h.sim.media_bytes(&media_id).unwrap(), sticker);
    let accepted = h.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].kind, "sticker");
    assert_eq!(accepted[0].request["sticker"], json!({"id": media_id}));

    // The timeline shows a sticker with our copy's handle.
    let (_, thread) = h
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    let ours = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == sent["message_id"])
        .unwrap()
        .clone();
    assert_eq!(ours["kind"], "sticker", "{ours}");
    assert_eq!(ours["attachments"][0]["sha256"], handle.as_str(), "{ours}");
}

#[tokio::test]
async fn stickers_of_the_wrong_size_type_or_with_a_caption_are_refused_and_nothing_is_queued() {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Hallo").await;

    let (status, problem) = h
        .upload(
            Some(&h.agent),
            "klein.webp",
            "image/webp",
            webp(256, false, 4096),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/sticker-invalid");
    assert!(
        problem["de"].as_str().unwrap().contains("512×512"),
        "{problem}"
    );
    let (status, problem) = h
        .upload(
            Some(&h.agent),
            "gross.webp",
            "image/webp",
            webp(512, false, 150 * 1024),
        )
        .await;
    assert_eq!(status, 413, "{problem}");
    assert!(
        problem["de"].as_str().unwrap().contains("statischer"),
        "{problem}"
    );
    // Animated stickers may be up to 500 KB.
    let (status, animated) = h
        .upload(
            Some(&h.agent),
            "winken.webp",
            "image/webp",
            webp(512, true, 300 * 1024),
        )
        .await;
    assert_eq!(status, 201, "{animated}");
    assert_eq!(animated["kind"], "sticker");

    let (_, pdf) = h
        .upload(
            Some(&h.agent),
            "Police.pdf",
            "application/pdf",
            policy_pdf(),
        )
        .await;
    let (status, problem) = h
        .send(
            &conversation,
            json!({"type": "sticker", "upload": pdf["upload"]}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/upload-kind");
    let (status, problem) = h
        .send(
            &conversation,
            json!({"type": "sticker", "upload": animated["upload"], "caption": "Tschüss!"}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/invalid-draft");
    assert!(
        problem["de"].as_str().unwrap().contains("Begleittext"),
        "{problem}"
    );
    // Nor can a sticker be a document.
    let (status, problem) = h
        .send(
            &conversation,
            json!({"type": "document", "upload": animated["upload"]}),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    h.assert_nothing_queued_or_sent().await;
}

fn document_header_template() -> Value {
    json!({"name": "versicherungsschein_versand", "language": "de", "category": "UTILITY",
           "components": [
               {"type": "HEADER", "format": "DOCUMENT", "example": {"header_handle": ["4::YXBwbGljYXRpb24vcGRm:ARb"]}},
               {"type": "BODY", "text": "Guten Tag {{1}}, anbei Ihr Versicherungsschein zum Vertrag {{2}}.",
                "example": {"body_text": [["Anna", "HR-123456"]]}}]})
}

#[tokio::test]
async fn a_template_with_a_document_header_sends_the_uploaded_file_by_media_id() {
    let h = Harness::new().await;
    h.approved_template(document_header_template()).await;
    let conversation = h.customer_writes("Wo ist mein Versicherungsschein?").await;
    h.opt_in(&h.contact_of(&conversation).await).await;
    let pdf = policy_pdf();
    let (_, upload) = h
        .upload(
            Some(&h.agent),
            "Versicherungsschein.pdf",
            "application/pdf",
            pdf.clone(),
        )
        .await;
    let handle = upload["upload"].as_str().unwrap().to_owned();

    let (status, queued) = h
        .send(
            &conversation,
            json!({"type": "template", "name": "versicherungsschein_versand",
                   "body": ["Anna", "HR-123456"], "header": {"type": "document", "upload": handle}}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let sent = h.outbox_until(queued["id"].as_str().unwrap(), "sent").await;
    assert_eq!(sent["attempts"], 1, "the upload is not an attempt: {sent}");

    let uploads = h.sim.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    let media_id = uploads[0].media_id.clone().unwrap();
    assert_eq!(h.sim.media_bytes(&media_id).unwrap(), pdf);
    let accepted = h.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(
        accepted[0].request["template"]["components"][0],
        json!({"type": "header", "parameters": [{"type": "document",
               "document": {"id": media_id, "filename": "Versicherungsschein.pdf"}}]})
    );
    // The timeline shows the rendered text and the attached document.
    let (_, thread) = h
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    let ours = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == sent["message_id"])
        .unwrap()
        .clone();
    assert_eq!(ours["attachments"][0]["sha256"], handle.as_str(), "{ours}");

    // The same file as a plain document reuses the number's media id.
    let (status, queued) = h
        .send(&conversation, json!({"type": "document", "upload": handle}))
        .await;
    assert_eq!(status, 202, "{queued}");
    h.outbox_until(queued["id"].as_str().unwrap(), "sent").await;
    assert_eq!(h.sim.uploads().len(), 1, "the media id was reused");
    assert_eq!(
        h.documents(),
        vec![json!({"id": media_id, "filename": "Versicherungsschein.pdf"})]
    );
}

#[tokio::test]
async fn a_template_header_that_does_not_match_the_template_is_refused_before_queueing() {
    let h = Harness::new().await;
    h.approved_template(document_header_template()).await;
    let conversation = h.customer_writes("Bitte den Versicherungsschein.").await;
    h.opt_in(&h.contact_of(&conversation).await).await;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[0; 64]);
    let (status, image) = h
        .upload(Some(&h.agent), "schaden.png", "image/png", png)
        .await;
    assert_eq!(status, 201, "{image}");
    let draft = |header: Value| {
        json!({"type": "template", "name": "versicherungsschein_versand",
               "body": ["Anna", "HR-123456"], "header": header})
    };

    // An image in a DOCUMENT header: Meta would answer 132012 after the upload.
    let (status, problem) = h
        .send(
            &conversation,
            draft(json!({"type": "image", "upload": image["upload"]})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/template-header");
    assert_eq!(problem["expected"], "DOCUMENT");
    assert_eq!(problem["given"], "image");
    assert!(
        problem["de"].as_str().unwrap().contains("ein Dokument"),
        "{problem}"
    );
    // A picture named as the document is refused by its kind.
    let (status, problem) = h
        .send(
            &conversation,
            draft(json!({"type": "document", "upload": image["upload"]})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/upload-kind");
    // No header at all, and a file for a template without a media header.
    let (status, problem) = h
        .send(
            &conversation,
            json!({"type": "template", "name": "versicherungsschein_versand", "body": ["Anna", "HR-1"]}),
        )
        .await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (422, Some("/problems/template-header")),
        "{problem}"
    );
    let (status, problem) = h
        .send(
            &conversation,
            json!({"type": "template", "name": "schadenmeldung_bestaetigung", "body": ["Anna", "S-1"],
                   "header": {"type": "image", "upload": image["upload"]}}),
        )
        .await;
    assert_eq!(
        (status, problem["type"].as_str()),
        (422, Some("/problems/template-header")),
        "{problem}"
    );
    h.assert_nothing_queued_or_sent().await;
}

#[tokio::test]
async fn unused_uploads_are_cleaned_out_after_the_retention_but_used_and_fresh_ones_stay() {
    let mut h = Harness::new().await;
    let conversation = h.customer_writes("Hier das Foto vom Schaden.").await;
    // A customer's photo: an agent uploading the same bytes shares the blob.
    let receipt = h
        .sim
        .deliver_inbound(InboundRequest::whatsapp(
            ANNA,
            resonanz_sim::InboundContent::Image { caption: None },
        ))
        .await
        .unwrap();
    let photo = h.sim.media_bytes(&receipt.media_ids[0]).unwrap();
    let photo_sha = sha256_hex(&photo);
    eventually("the customer's photo is stored", || async {
        h.blob_exists(&photo_sha).then_some(())
    })
    .await;

    let upload = |name: &'static str, bytes: Vec<u8>| {
        let h = &h;
        async move {
            let mime = if name.ends_with(".png") {
                "image/png"
            } else {
                "application/pdf"
            };
            let (status, upload) = h.upload(Some(&h.agent), name, mime, bytes).await;
            assert_eq!(status, 201, "{upload}");
            upload["upload"].as_str().unwrap().to_owned()
        }
    };
    let mut unused_pdf = policy_pdf();
    unused_pdf.extend_from_slice(b"% Entwurf, nie gesendet\n");
    let unused = upload("Entwurf.pdf", unused_pdf).await;
    let sent = upload("Versicherungsschein.pdf", policy_pdf()).await;
    let forwarded = upload("foto.png", photo).await;
    assert_eq!(forwarded, photo_sha);
    let (_, queued) = h
        .send(&conversation, json!({"type": "document", "upload": sent}))
        .await;
    h.outbox_until(queued["id"].as_str().unwrap(), "sent").await;

    h.advance(8 * DAY_SECS);
    let mut fresh_pdf = policy_pdf();
    fresh_pdf.extend_from_slice(b"% heute hochgeladen\n");
    let fresh = upload("Neu.pdf", fresh_pdf).await;
    // `serve` cleans out at start, then hourly.
    h.restart().await;

    // The row goes first, then its bytes: wait for both.
    eventually(
        "the unused upload and its bytes are cleaned out",
        || async {
            let (status, _) = h.get(&format!("/api/media/{unused}")).await;
            (status == 404 && !h.blob_exists(&unused)).then_some(())
        },
    )
    .await;
    for kept in [&sent, &forwarded, &fresh] {
        let (status, file) = h.get(&format!("/api/media/{kept}")).await;
        assert_eq!(status, 200, "{kept} must stay: {file}");
        assert!(h.blob_exists(kept), "{kept} must keep its bytes");
    }
    // A draft naming the removed file is refused; the others still send.
    let (status, problem) = h
        .send(&conversation, json!({"type": "document", "upload": unused}))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["type"], "/problems/unknown-upload");
}

#[tokio::test]
async fn the_inbox_lists_conversations_newest_first_with_their_window_and_pages_by_cursor() {
    let h = Harness::new().await;
    let customers = [
        ("491701111111", "Erika"),
        ("491702222222", "Jürgen"),
        ("491703333333", "Aylin"),
    ];
    for (number, name) in customers {
        let request = InboundRequest {
            name: Some(name.into()),
            ..InboundRequest::text(number, "Ich habe eine Frage zu meinem Vertrag.")
        };
        h.sim.deliver_inbound(request).await.unwrap();
        h.advance(60);
    }
    h.store.flush().await.unwrap();
    let names = |page: &Value| -> Vec<String> {
        page["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["contact"]["name"].as_str().unwrap_or("?").to_owned())
            .collect()
    };

    let (status, first) = h.get("/api/conversations?limit=2").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(names(&first), ["Aylin", "Jürgen"]);
    let newest = &first["conversations"][0];
    assert_eq!(newest["channel"], "whatsapp");
    assert_eq!(newest["window"]["open"], true);
    assert!(newest["window"]["closes_at"].is_string(), "{newest}");
    assert_eq!(newest["templates_only"], false);
    let cursor = first["next"]
        .as_str()
        .expect("a full page has a next cursor")
        .to_owned();

    let (status, second) = h
        .get(&format!("/api/conversations?limit=2&before={cursor}"))
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(names(&second), ["Erika"]);
    assert!(second["next"].is_null(), "{second}");
    let erika_first_sent_at = second["conversations"][0]["last_message"]["sent_at"].clone();
    assert_eq!(
        second["conversations"][0]["waiting_since"],
        erika_first_sent_at
    );

    // Erika writes again: she moves to the top, and the old cursor's page no
    // longer shows her, so paging never lists a conversation twice.
    h.advance(60);
    h.sim
        .deliver_inbound(InboundRequest {
            name: Some("Erika".into()),
            ..InboundRequest::text("491701111111", "Hallo? Noch jemand da?")
        })
        .await
        .unwrap();
    h.store.flush().await.unwrap();
    let (_, all) = h.get("/api/conversations").await;
    assert_eq!(names(&all), ["Erika", "Aylin", "Jürgen"]);
    // Each line shows the newest message with its mood, and who waits for an answer.
    let erika = &all["conversations"][0];
    assert_eq!(erika["last_message"]["body"], "Hallo? Noch jemand da?");
    assert_eq!(erika["last_message"]["direction"], "in");
    assert!(erika["last_message"]["sentiment"].is_string(), "{erika}");
    assert_eq!(erika["awaiting_reply"], true);
    // She has been waiting since her first unanswered message, not her last.
    assert_eq!(erika["waiting_since"], erika_first_sent_at);
    assert_ne!(erika["last_message"]["sent_at"], erika_first_sent_at);
    let erika_id = erika["id"].as_str().unwrap().to_owned();
    // A minute later (the simulator's and the server's clocks start apart,
    // and Meta's timestamps are whole seconds) an agent answers.
    h.advance(60);
    let (status, queued) = h
        .send(&erika_id, reply("Guten Tag, wir kümmern uns sofort."))
        .await;
    assert_eq!(status, 202, "{queued}");
    let answered = eventually("the reply shows in the inbox", || async {
        let (_, all) = h.get("/api/conversations").await;
        let erika = all["conversations"]
            .as_array()?
            .iter()
            .find(|c| c["id"] == erika_id.as_str())?
            .clone();
        (erika["awaiting_reply"] == false).then_some(erika)
    })
    .await;
    assert_eq!(answered["last_message"]["direction"], "out");
    assert!(answered["waiting_since"].is_null(), "{answered}");
    assert_eq!(
        answered["last_message"]["body"],
        "Guten Tag, wir kümmern uns sofort."
    );
    // "Who is waiting for us?": only the customers who wrote last.
    let (_, waiting) = h.get("/api/conversations?awaiting_reply=true").await;
    assert_eq!(names(&waiting), ["Aylin", "Jürgen"]);
    let (_, on_whatsapp) = h.get("/api/conversations?channel=whatsapp&limit=1").await;
    assert_eq!(names(&on_whatsapp), ["Erika"]);
    let (_, on_messenger) = h.get("/api/conversations?channel=messenger").await;
    assert_eq!(names(&on_messenger), Vec::<String>::new());
    let (_, stale) = h
        .get(&format!("/api/conversations?limit=2&before={cursor}"))
        .await;
    assert_eq!(names(&stale), Vec::<String>::new());

    // A day later only templates may go out, and the list says so.
    h.advance(DAY_SECS);
    let (_, later) = h.get("/api/conversations").await;
    for conversation in later["conversations"].as_array().unwrap() {
        assert_eq!(conversation["window"]["open"], false, "{conversation}");
        assert_eq!(conversation["templates_only"], true, "{conversation}");
    }

    for bad in [
        "limit=0",
        "limit=201",
        "limit=viele",
        "before=gestern",
        "channel=fax",
        "awaiting_reply=vielleicht",
    ] {
        let (status, problem) = h.get(&format!("/api/conversations?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {problem}");
        assert_eq!(
            problem["type"], "/problems/invalid-query",
            "{bad}: {problem}"
        );
    }
    let anonymous = h
        .http
        .get(format!("{}/api/conversations", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}

/// One server-sent event: id, event name, JSON data.
type Sse = (i64, String, Value);

impl Harness {
    async fn open_events(&self, last_event_id: Option<i64>) -> reqwest::Response {
        let mut request = self
            .http
            .get(format!("{}/api/events", self.base))
            .bearer_auth(&self.agent)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        response
    }
}

/// Reads events until one named `until` arrives; panics after 10 s.
async fn events_until(stream: &mut reqwest::Response, until: &str) -> Vec<Sse> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut buffer = String::new();
    let mut events: Vec<Sse> = Vec::new();
    while !events.iter().any(|(_, name, _)| name == until) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {until} event in time; got {events:?}"))
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(|value| value.trim().to_owned())
            };
            // Keep-alive comments have no id.
            if let (Some(id), Some(name), Some(data)) =
                (field("id:"), field("event:"), field("data:"))
            {
                events.push((
                    id.parse().unwrap(),
                    name,
                    serde_json::from_str(&data).unwrap(),
                ));
            }
        }
    }
    events
}

#[tokio::test]
async fn the_event_stream_shows_new_messages_live_and_resumes_after_a_disconnect_without_loss() {
    let mut h = Harness::new().await;
    let mut live = h.open_events(None).await;
    h.customer_writes("Hallo, ich habe einen Wasserschaden.")
        .await;
    let seen = events_until(&mut live, "message_received").await;
    let names: Vec<&str> = seen.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(names, ["contact_created", "message_received"]);
    let (last_id, _, received) = seen.last().unwrap().clone();
    assert_eq!(received["event"]["channel"], "whatsapp");
    assert_eq!(received["seq"], last_id);
    let conversation = received["event"]["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(live);

    // While no one listens, Anna writes again and a new customer writes.
    h.customer_writes("Sind Sie noch da?").await;
    h.sim
        .deliver_inbound(InboundRequest::text("491709999999", "Guten Tag"))
        .await
        .unwrap();
    h.store.flush().await.unwrap();

    // Reconnecting with the last id delivers exactly what was missed, in order.
    let mut resumed = h.open_events(Some(last_id)).await;
    let mut missed = events_until(&mut resumed, "message_received").await;
    missed.extend(events_until(&mut resumed, "message_received").await);
    let ids: Vec<i64> = missed.iter().map(|(id, _, _)| *id).collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    assert!(ids[0] > last_id);
    let names: Vec<&str> = missed.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["message_received", "contact_created", "message_received"]
    );
    assert_eq!(
        missed[0].2["event"]["conversation_id"],
        conversation.as_str()
    );
    assert_ne!(
        missed[2].2["event"]["conversation_id"],
        conversation.as_str()
    );

    // A client without an id starts at the present: nothing old comes again.
    let mut fresh = h.open_events(None).await;
    h.customer_writes("Danke, hat sich erledigt.").await;
    let only_new = events_until(&mut fresh, "message_received").await;
    assert_eq!(only_new.len(), 1, "{only_new:?}");
    assert!(only_new[0].0 > ids[2]);

    let anonymous = h
        .http
        .get(format!("{}/api/events", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let garbled = h
        .http
        .get(format!("{}/api/events", h.base))
        .bearer_auth(&h.agent)
        .header("last-event-id", "gestern")
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status().as_u16(), 400);

    // An open stream does not hold up the shutdown.
    tokio::time::timeout(Duration::from_secs(10), h.stop())
        .await
        .expect("the server stops with an event stream open");
    drop((resumed, fresh));
}

#[tokio::test]
async fn a_contacts_timeline_shows_every_message_both_ways_newest_first_and_pages() {
    let h = Harness::new().await;
    let conversation = h
        .customer_writes("Ich hatte einen Unfall auf der A7.")
        .await;
    let contact = h.contact_of(&conversation).await;
    h.advance(60);
    let (status, queued) = h
        .send(&conversation, reply("Das tut uns leid. Sind Sie verletzt?"))
        .await;
    assert_eq!(status, 202, "{queued}");
    h.outbox_until(queued["id"].as_str().unwrap(), "sent").await;
    h.advance(60);
    h.customer_writes("Nein, nur Blechschaden.").await;
    h.store.flush().await.unwrap();

    let (status, view) = h.get(&format!("/api/contacts/{contact}")).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["id"], contact.as_str());
    assert_eq!(view["identities"][0]["value"], ANNA, "{view}");
    assert_eq!(view["conversations"][0]["id"], conversation.as_str());
    assert_eq!(view["conversations"][0]["awaiting_reply"], true);
    let timeline: Vec<(&str, &str)> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["body"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        timeline,
        [
            ("in", "Nein, nur Blechschaden."),
            ("out", "Das tut uns leid. Sind Sie verletzt?"),
            ("in", "Ich hatte einen Unfall auf der A7."),
        ]
    );
    assert!(view["timeline"][0]["analysis"]["sentiment"].is_string());
    assert!(view["next"].is_null());

    // Two at a time: the second page holds the oldest, nothing twice.
    let (_, first) = h.get(&format!("/api/contacts/{contact}?limit=2")).await;
    assert_eq!(first["timeline"].as_array().unwrap().len(), 2);
    let next = first["next"]
        .as_str()
        .expect("a full page has a next cursor");
    let (_, second) = h
        .get(&format!("/api/contacts/{contact}?limit=2&before={next}"))
        .await;
    let older: Vec<&str> = second["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(older, ["Ich hatte einen Unfall auf der A7."]);

    let (status, problem) = h.get("/api/contacts/ct_unbekannt").await;
    assert_eq!(status, 404, "{problem}");
    let (status, _) = h
        .get(&format!("/api/contacts/{contact}?before=gestern"))
        .await;
    assert_eq!(status, 400);
    let anonymous = h
        .http
        .get(format!("{}/api/contacts/{contact}", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}

#[tokio::test]
async fn a_browser_session_cookie_opens_reads_and_the_event_stream_and_changes_only_with_its_csrf_token()
 {
    let h = Harness::new().await;
    let conversation = h.customer_writes("Hallo").await;
    let login = h
        .http
        .post(format!("{}/api/sessions", h.base))
        .json(&json!({"name": "admin", "password": "Geheim-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 201);
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/;"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let read = |path: &str, cookie: &str| {
        h.http
            .get(format!("{}{path}", h.base))
            .header("cookie", format!("theme=dunkel; {cookie}"))
            .send()
    };
    assert_eq!(
        read("/api/conversations", &cookie).await.unwrap().status(),
        200
    );
    let stream = read("/api/events", &cookie).await.unwrap();
    assert_eq!(stream.status(), 200);
    drop(stream);
    let stranger = read("/api/conversations", "resonanz_session=rz_falsch")
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401);

    // What a forged form on another site would send: the cookie, no token.
    let forged = h
        .http
        .post(format!(
            "{}/api/conversations/{conversation}/messages",
            h.base
        ))
        .header("cookie", &cookie)
        .json(&reply("Hallo"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let problem: Value = forged.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("X-CSRF-Token"),
        "{problem}"
    );
    let session_token = cookie.trim_start_matches("resonanz_session=");
    let forged_token = h
        .http
        .post(format!(
            "{}/api/conversations/{conversation}/messages",
            h.base
        ))
        .header("cookie", &cookie)
        .header(
            "x-csrf-token",
            resonanz_server::outbound::auth::csrf_token("rz_other"),
        )
        .json(&reply("Hallo"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged_token.status(),
        401,
        "another session's token opens nothing"
    );
    assert!(h.sim.sent().is_empty());

    // The web app's own script sends the session's token in the header.
    let from_the_app = h
        .http
        .post(format!(
            "{}/api/conversations/{conversation}/messages",
            h.base
        ))
        .header("cookie", &cookie)
        .header(
            "x-csrf-token",
            resonanz_server::outbound::auth::csrf_token(session_token),
        )
        .json(&reply("Hallo, wie können wir helfen?"))
        .send()
        .await
        .unwrap();
    assert_eq!(from_the_app.status(), 202);
}
