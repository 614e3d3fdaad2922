//! Delivering signed webhooks to Resonanz and recording its answers.

use crate::config::SignatureMode;
use crate::state::{Channel, Sim, WebhookKind, WebhookRecord};
use crate::wire::{meta_json, signature_header};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

impl Sim {
    pub(crate) fn target(&self, channel: Channel) -> Option<String> {
        let t = &self.config.webhook_targets;
        match channel {
            Channel::Whatsapp => t.whatsapp_url.clone(),
            Channel::Messenger => t.messenger_url.clone().or_else(|| t.whatsapp_url.clone()),
            Channel::Instagram => t
                .instagram_url
                .clone()
                .or_else(|| t.messenger_url.clone())
                .or_else(|| t.whatsapp_url.clone()),
        }
    }

    /// Serialises `payload` the way Meta does and POSTs it; returns the record.
    pub(crate) async fn deliver(
        &self,
        channel: Channel,
        kind: WebhookKind,
        payload: &Value,
    ) -> WebhookRecord {
        let bytes = meta_json(payload);
        self.deliver_bytes(channel, kind, bytes, false).await
    }

    /// POSTs exactly `bytes`, retrying a bounded number of times on failure.
    pub(crate) async fn deliver_bytes(
        &self,
        channel: Channel,
        kind: WebhookKind,
        bytes: Vec<u8>,
        duplicate: bool,
    ) -> WebhookRecord {
        let tun = self.tunables();
        let url = self.target(channel);
        let signature = match tun.signature {
            SignatureMode::Valid => Some(signature_header(&self.config.app_secret, &bytes)),
            SignatureMode::Wrong => Some(signature_header("not-the-app-secret", &bytes)),
            SignatureMode::Missing => None,
        };
        let mut record = WebhookRecord {
            seq: 0,
            at: self.now(),
            kind,
            channel,
            url: url.clone(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
            signature: signature.clone(),
            http_status: None,
            attempts: 0,
            error: None,
            duplicate,
        };
        match url {
            None => record.error = Some(format!("no webhook target configured for {channel:?}")),
            Some(url) => {
                let attempts = 1 + tun.webhook_retries;
                for attempt in 1..=attempts {
                    record.attempts = attempt;
                    let mut req = self
                        .http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("user-agent", "facebookexternalua")
                        .body(bytes.clone());
                    if let Some(sig) = &signature {
                        req = req.header("x-hub-signature-256", sig);
                    }
                    match req.send().await {
                        Ok(resp) => {
                            let status = resp.status().as_u16();
                            record.http_status = Some(status);
                            record.error = None;
                            if status == 200 {
                                break;
                            }
                        }
                        Err(e) => record.error = Some(e.to_string()),
                    }
                    if attempt < attempts && !self.is_shutting_down() {
                        let backoff = tun.webhook_retry_delay_ms * u64::from(attempt);
                        tokio::time::sleep(Duration::from_millis(backoff)).await;
                    }
                }
            }
        }
        let mut st = self.lock();
        record.seq = Sim::next_seq(&mut st);
        st.webhooks.push(record.clone());
        record
    }

    /// A value-level error (`value.errors[]`, no message attached), e.g. 130429.
    pub(crate) async fn deliver_value_error(&self, code: i64) -> WebhookRecord {
        let (title, details) = match code {
            130429 => (
                "Rate limit hit",
                "Cloud API message throughput has been reached.",
            ),
            131056 => (
                "(Business Account, Consumer Account) pair rate limit hit",
                "Too many messages sent from this phone number to the same phone number in a short period of time.",
            ),
            131000 => (
                "Something went wrong",
                "Message failed to send due to an unknown error.",
            ),
            _ => (
                "Unknown error",
                "The simulator was asked to report this code.",
            ),
        };
        let payload = self.wa_envelope(vec![(
            json!({
                "messaging_product": "whatsapp",
                "metadata": self.wa_metadata(),
                "errors": [{
                    "code": code,
                    "title": title,
                    "message": title,
                    "error_data": {"details": details},
                    "href": "/documentation/business-messaging/whatsapp/support/error-codes",
                }],
            }),
            "messages",
        )]);
        self.deliver(Channel::Whatsapp, WebhookKind::Error, &payload)
            .await
    }

    /// The WhatsApp envelope around one `value` of field `field`.
    pub(crate) fn wa_envelope(&self, changes: Vec<(Value, &str)>) -> Value {
        let changes: Vec<Value> = changes
            .into_iter()
            .map(|(value, field)| json!({"value": value, "field": field}))
            .collect();
        json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": self.config.waba_id, "changes": changes}],
        })
    }

    pub(crate) fn wa_metadata(&self) -> Value {
        json!({
            "display_phone_number": self.config.display_phone_number,
            "phone_number_id": self.config.phone_number_id,
        })
    }
}

/// Whom a send went to, as its status webhooks name them.
#[derive(Debug, Clone)]
pub(crate) enum Addressee {
    /// A phone number's wa_id: statuses carry `recipient_id`.
    WaId(String),
    /// A username-only user's business-scoped id: statuses carry `recipient_user_id`.
    UserId(String),
}

impl Addressee {
    pub(crate) fn key(&self) -> &str {
        match self {
            Addressee::WaId(id) | Addressee::UserId(id) => id,
        }
    }

    fn put_into(&self, status: &mut Value) {
        match self {
            Addressee::WaId(id) => status["recipient_id"] = json!(id),
            Addressee::UserId(id) => status["recipient_user_id"] = json!(id),
        }
    }
}

/// What an accepted send needs for its status webhooks.
#[derive(Debug, Clone)]
pub(crate) struct StatusPlan {
    pub wamid: String,
    pub recipient: Addressee,
    pub biz_opaque: Option<String>,
    pub pricing: Value,
}

/// Delivers sent → delivered → read (or the configured disorder) in separate POSTs.
pub(crate) fn spawn_status_sequence(sim: &Arc<Sim>, plan: StatusPlan) {
    let tun = sim.tunables();
    let mut order = vec!["sent", "delivered"];
    if tun.read_receipts {
        order.push("read");
    }
    if tun.out_of_order_statuses && order.len() == 3 {
        order.swap(1, 2);
    }
    let sim2 = Arc::clone(sim);
    sim.spawn_tracked(async move {
        let mut batch = Vec::new();
        let last = order.len() - 1;
        for (i, status) in order.into_iter().enumerate() {
            tokio::time::sleep(Duration::from_millis(tun.status_delay_ms)).await;
            let mut st = json!({
                "id": plan.wamid,
                "status": status,
                "timestamp": sim2.now().to_string(),
            });
            plan.recipient.put_into(&mut st);
            if let Some(b) = &plan.biz_opaque {
                st["biz_opaque_callback_data"] = json!(b);
            }
            if status == "delivered" {
                st["pricing"] = plan.pricing.clone();
            }
            batch.push(st);
            if tun.batch_statuses && i < last {
                continue;
            }
            let payload = sim2.wa_envelope(vec![(
                json!({
                    "messaging_product": "whatsapp",
                    "metadata": sim2.wa_metadata(),
                    "statuses": std::mem::take(&mut batch),
                }),
                "messages",
            )]);
            let bytes = meta_json(&payload);
            sim2.deliver_bytes(Channel::Whatsapp, WebhookKind::Status, bytes.clone(), false)
                .await;
            if tun.duplicate_statuses {
                sim2.deliver_bytes(Channel::Whatsapp, WebhookKind::Status, bytes, true)
                    .await;
            }
        }
    });
}

/// Delivers one `failed` status for a send Meta accepted but could not deliver.
pub(crate) fn spawn_failed_status(
    sim: &Arc<Sim>,
    wamid: String,
    recipient: Addressee,
    biz_opaque: Option<String>,
    code: i64,
    title: &'static str,
    details: String,
) {
    let delay = sim.tunables().status_delay_ms;
    let sim2 = Arc::clone(sim);
    sim.spawn_tracked(async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut st = json!({
            "id": wamid,
            "status": "failed",
            "timestamp": sim2.now().to_string(),
            "errors": [{
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": details},
                "href": "/documentation/business-messaging/whatsapp/support/error-codes",
            }],
        });
        recipient.put_into(&mut st);
        if let Some(b) = biz_opaque {
            st["biz_opaque_callback_data"] = json!(b);
        }
        let payload = sim2.wa_envelope(vec![(
            json!({"messaging_product": "whatsapp", "metadata": sim2.wa_metadata(), "statuses": [st]}),
            "messages",
        )]);
        sim2.deliver(Channel::Whatsapp, WebhookKind::Status, &payload)
            .await;
    });
}
