//! Page Send API for Messenger and Instagram: windows, tags, text limits, receipts.

use crate::graph::GraphError;
use crate::state::{Channel, SentRecord, Sim, Verdict, WebhookKind, random_token};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const WINDOW_SECS: i64 = 24 * 3600;
const HUMAN_AGENT_SECS: i64 = 7 * 24 * 3600;

pub(crate) fn send(
    sim: &Arc<Sim>,
    channel: Channel,
    object_id: &str,
    body: &Value,
) -> Result<Value, GraphError> {
    let recipient = body["recipient"]["id"].as_str().map(str::to_owned);
    let kind = if body.get("sender_action").is_some() {
        "sender_action"
    } else if body["message"].get("attachment").is_some() {
        "attachment"
    } else {
        "text"
    };
    let result = send_inner(sim, channel, object_id, body);
    let (http_status, verdict, error_code, error_details, message_id) = match &result {
        Ok(v) => (
            200,
            Verdict::Accepted,
            None,
            None,
            v["message_id"].as_str().map(str::to_owned),
        ),
        Err(e) => (
            e.http.as_u16(),
            Verdict::Rejected,
            Some(e.code),
            Some(e.message.clone()),
            None,
        ),
    };
    let now = sim.now();
    let mut st = sim.lock();
    let seq = Sim::next_seq(&mut st);
    st.sent.push(SentRecord {
        seq,
        at: now,
        channel,
        object_id: object_id.to_owned(),
        request: body.clone(),
        http_status,
        verdict,
        error_code,
        error_details,
        message_id,
        recipient,
        kind: kind.into(),
    });
    result
}

fn send_inner(
    sim: &Arc<Sim>,
    channel: Channel,
    object_id: &str,
    body: &Value,
) -> Result<Value, GraphError> {
    let psid = body["recipient"]["id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| GraphError::fb_param("param recipient must be non-empty."))?
        .to_owned();
    let now = sim.now();
    let (known, last) = {
        let st = sim.lock();
        (
            st.known_scoped.contains(&psid),
            st.fb_windows
                .get(&(object_id.to_owned(), psid.clone()))
                .copied(),
        )
    };
    if !known {
        return Err(GraphError::fb_unavailable());
    }

    if let Some(action) = body.get("sender_action") {
        let a = action.as_str().unwrap_or_default();
        if !["mark_seen", "typing_on", "typing_off"].contains(&a.to_lowercase().as_str()) {
            return Err(GraphError::fb_param(
                "param sender_action must be MARK_SEEN, TYPING_ON or TYPING_OFF.",
            ));
        }
        if last.is_none_or(|t| now - t >= WINDOW_SECS) {
            return Err(GraphError::fb_outside_window());
        }
        return Ok(json!({"recipient_id": psid}));
    }

    let message = body
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| GraphError::fb_param("param message must be non-empty."))?;
    match (message.get("text"), message.get("attachment")) {
        (Some(t), None) => {
            let text = t.as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
                GraphError::fb_param("param message[text] must be a non-empty UTF-8 encoded string")
            })?;
            match channel {
                Channel::Instagram if text.len() > 1000 => {
                    return Err(GraphError::fb_param(
                        "Length of param message[text] must be less than or equal to 1000 bytes",
                    ));
                }
                Channel::Messenger if text.chars().count() > 2000 => {
                    return Err(GraphError::fb_param(
                        "Length of param message[text] must be less than or equal to 2000",
                    ));
                }
                _ => {}
            }
        }
        (None, Some(a)) => {
            let ty = a["type"].as_str().unwrap_or_default();
            if !["image", "audio", "video", "file", "template"].contains(&ty) {
                return Err(GraphError::fb_param(
                    "param message[attachment][type] must be one of image, audio, video, file, template",
                ));
            }
            if ty != "template"
                && a["payload"]["url"].as_str().is_none()
                && a["payload"]["attachment_id"].as_str().is_none()
            {
                return Err(GraphError::fb_param(
                    "param message[attachment][payload] needs url or attachment_id",
                ));
            }
        }
        _ => {
            return Err(GraphError::fb_param(
                "message must have exactly one of text or attachment.",
            ));
        }
    }

    let messaging_type = body["messaging_type"]
        .as_str()
        .ok_or_else(|| GraphError::fb_param("param messaging_type is required."))?;
    let age = last.map(|t| now - t);
    match messaging_type {
        "RESPONSE" | "UPDATE" => {
            if age.is_none_or(|a| a >= WINDOW_SECS) {
                return Err(GraphError::fb_outside_window());
            }
        }
        "MESSAGE_TAG" => {
            let tag = body["tag"].as_str().ok_or_else(|| {
                GraphError::fb_param("param tag is required with messaging_type MESSAGE_TAG.")
            })?;
            match (channel, tag) {
                (_, "HUMAN_AGENT") => {
                    if age.is_none_or(|a| a >= HUMAN_AGENT_SECS) {
                        return Err(GraphError::fb_outside_window());
                    }
                }
                (
                    Channel::Messenger,
                    "ACCOUNT_UPDATE" | "CONFIRMED_EVENT_UPDATE" | "POST_PURCHASE_UPDATE",
                ) => {}
                _ => {
                    return Err(GraphError::fb_param(format!(
                        "param tag {tag} is not supported here."
                    )));
                }
            }
        }
        other => {
            return Err(GraphError::fb_param(format!(
                "param messaging_type {other} is not supported."
            )));
        }
    }

    let mid = new_mid(channel);
    spawn_receipts(
        sim,
        channel,
        object_id.to_owned(),
        psid.clone(),
        mid.clone(),
        message.clone(),
    );
    Ok(json!({"recipient_id": psid, "message_id": mid}))
}

fn new_mid(channel: Channel) -> String {
    let raw = random_token(40);
    match channel {
        Channel::Instagram => {
            base64::engine::general_purpose::STANDARD.encode(format!("ig_message_item:1:{raw}"))
        }
        _ => format!("m_{raw}"),
    }
}

/// Messenger `message_deliveries` then `message_reads`; Instagram `messaging_seen`.
/// Our own message echoed back (`is_echo`), then Messenger `delivery` and `read`, or
/// Instagram's `read` (messaging_seen).
fn spawn_receipts(
    sim: &Arc<Sim>,
    channel: Channel,
    object_id: String,
    psid: String,
    mid: String,
    message: Value,
) {
    let tun = sim.tunables();
    let sim2 = Arc::clone(sim);
    sim.spawn_tracked(async move {
        let object = if channel == Channel::Instagram {
            "instagram"
        } else {
            "page"
        };
        let mut events = Vec::new();
        if tun.echoes {
            events.push("echo");
        }
        if channel == Channel::Messenger {
            events.push("delivery");
        }
        if tun.read_receipts {
            events.push("read");
        }
        for ev in events {
            tokio::time::sleep(Duration::from_millis(tun.status_delay_ms)).await;
            let ts = sim2.now_ms();
            let (sender, recipient, key, inner) = match (channel, ev) {
                (_, "echo") => {
                    let mut m = message.clone();
                    m["mid"] = json!(mid);
                    m["is_echo"] = json!(true);
                    m["app_id"] = json!(sim2.config.app_id.parse::<u64>().unwrap_or_default());
                    (&object_id, &psid, "message", m)
                }
                (_, "delivery") => (
                    &psid,
                    &object_id,
                    "delivery",
                    json!({"mids": [mid], "watermark": ts}),
                ),
                (Channel::Instagram, _) => (&psid, &object_id, "read", json!({"mid": mid})),
                _ => (&psid, &object_id, "read", json!({"watermark": ts})),
            };
            let payload = json!({
                "object": object,
                "entry": [{"id": object_id, "time": ts, "messaging": [{
                    "sender": {"id": sender},
                    "recipient": {"id": recipient},
                    "timestamp": ts,
                    key: inner,
                }]}],
            });
            sim2.deliver(channel, WebhookKind::Status, &payload).await;
        }
    });
}
