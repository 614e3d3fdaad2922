use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn verify_webhook_reports_whether_the_challenge_was_echoed() {
    let t = spawn().await;
    let (status, ok) = t
        .control("verify-webhook", json!({"channel": "whatsapp"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(ok["http_status"], 200);
    assert_eq!(ok["echoed"], true);
    assert_eq!(ok["body"], ok["challenge"]);
    let (_, bad) = t
        .control(
            "verify-webhook",
            json!({"channel": "whatsapp", "verify_token": "falsch"}),
        )
        .await;
    assert_eq!(bad["http_status"], 403);
    assert_eq!(bad["echoed"], false);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn sent_and_webhook_logs_are_readable_over_http() {
    let t = spawn().await;
    t.control(
        "inbound",
        json!({"from": ANNA, "type": "text", "text": "Hallo"}),
    )
    .await;
    t.send_wa(text_to("+491701234567", "Antwort")).await;
    t.send_wa(text_to("+4915199999999", "Niemand")).await;
    t.settle().await;
    let sent: serde_json::Value = t
        .http
        .get(format!("{}/sim/sent", t.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent = sent.as_array().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["verdict"], "accepted");
    assert_eq!(sent[0]["kind"], "text");
    assert_eq!(sent[1]["verdict"], "rejected");
    assert_eq!(sent[1]["error_code"], 131026);
    assert_eq!(sent[1]["request"]["text"]["body"], "Niemand");

    let hooks: serde_json::Value = t
        .http
        .get(format!("{}/sim/webhooks?kind=status", t.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hooks = hooks.as_array().unwrap();
    assert_eq!(hooks.len(), 3);
    assert!(
        hooks
            .iter()
            .all(|h| h["http_status"] == 200 && h["kind"] == "status")
    );

    let (status, cfg) = t
        .control(
            "config",
            json!({"status_delay_ms": 1, "read_receipts": false}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(cfg["read_receipts"], false);
    let (status, _) = t.control("config", json!({"no_such_knob": 1})).await;
    assert_eq!(status, 400, "unknown settings are rejected");
    t.send_wa(text_to("+491701234567", "Ohne Lesebestätigung"))
        .await;
    t.settle().await;
    assert_eq!(
        t.rx.statuses().len(),
        5,
        "sent+delivered only without read receipts"
    );

    let (status, _) = t.control("reset", json!({})).await;
    assert_eq!(status, 200);
    assert!(t.sim.sent().is_empty() && t.sim.webhooks().is_empty());
    t.sim.shutdown().await;
}

#[tokio::test]
async fn value_level_errors_arrive_without_a_status() {
    let t = spawn().await;
    let (status, rec) = t.control("value-error", json!({"code": 130429})).await;
    assert_eq!(status, 200);
    assert_eq!(rec["http_status"], 200);
    assert_eq!(rec["kind"], "error");
    let got = t.rx.wait_for(1).await;
    assert!(got[0].signature_ok);
    let value = &got[0].json["entry"][0]["changes"][0]["value"];
    assert_eq!(value["errors"][0]["code"], 130429);
    assert_eq!(value["errors"][0]["title"], "Rate limit hit");
    assert!(value.get("statuses").is_none() && value.get("messages").is_none());
    t.sim.shutdown().await;
}
