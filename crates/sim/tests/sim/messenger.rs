use crate::support::*;
use resonanz_sim::{Channel, InboundContent, InboundRequest};
use serde_json::json;

fn fb_text(psid: &str, messaging_type: &str, tag: Option<&str>, text: &str) -> serde_json::Value {
    let mut b = json!({"recipient": {"id": psid}, "messaging_type": messaging_type, "message": {"text": text}});
    if let Some(t) = tag {
        b["tag"] = json!(t);
    }
    b
}

#[tokio::test]
async fn messenger_window_and_human_agent_tag_are_enforced() {
    let t = spawn().await;
    let page = t.sim.config().page_id.clone();
    let req = InboundRequest {
        channel: Channel::Messenger,
        ..InboundRequest::text(ANNA_PSID, "Hallo von Messenger")
    };
    t.sim.deliver_inbound(req).await.unwrap();
    let got = t.rx.wait_for(1).await;
    assert_eq!(got[0].path, "/webhooks/messenger");
    assert!(got[0].signature_ok);
    assert_eq!(got[0].json["object"], "page");
    let ev = &got[0].json["entry"][0]["messaging"][0];
    assert!(
        ev["timestamp"].is_i64(),
        "Messenger timestamps are numbers (ms)"
    );
    assert!(ev["timestamp"].as_i64().unwrap() > 1_000_000_000_000);
    assert_eq!(ev["sender"]["id"], ANNA_PSID);
    assert_eq!(ev["recipient"]["id"], page.as_str());
    assert!(ev["message"]["mid"].as_str().unwrap().starts_with("m_"));

    let (status, body) = t
        .graph_post(
            &format!("{page}/messages"),
            &fb_text(ANNA_PSID, "RESPONSE", None, "Gern!"),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recipient_id"], ANNA_PSID);
    assert!(body["message_id"].is_string());

    t.sim.advance_clock(25 * 3600);
    let (status, body) = t
        .graph_post(
            &format!("{page}/messages"),
            &fb_text(ANNA_PSID, "RESPONSE", None, "Noch da?"),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 10);
    assert_eq!(body["error"]["error_subcode"], 2018278);
    let (status, _) = t
        .graph_post(
            &format!("{page}/messages"),
            &fb_text(
                ANNA_PSID,
                "MESSAGE_TAG",
                Some("HUMAN_AGENT"),
                "Ihr Sachbearbeiter hier.",
            ),
        )
        .await;
    assert_eq!(status, 200);
    t.sim.advance_clock(7 * 24 * 3600);
    let (status, body) = t
        .graph_post(
            &format!("{page}/messages"),
            &fb_text(ANNA_PSID, "MESSAGE_TAG", Some("HUMAN_AGENT"), "Zu spät."),
        )
        .await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!(10)));

    let (status, body) = t
        .graph_post(
            &format!("{page}/messages"),
            &fb_text("999", "RESPONSE", None, "x"),
        )
        .await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!(551)));
    t.settle().await;
    let receipts: Vec<_> =
        t.rx.got()
            .iter()
            .skip(1)
            .map(|r| r.json["entry"][0]["messaging"][0].clone())
            .collect();
    let echo = receipts
        .iter()
        .find(|e| e["message"]["is_echo"] == true)
        .expect("an echo of our send");
    assert_eq!(echo["sender"]["id"], page.as_str());
    assert_eq!(echo["recipient"]["id"], ANNA_PSID);
    assert_eq!(echo["message"]["text"], "Gern!");
    assert!(echo["message"]["app_id"].is_u64());
    assert!(receipts.iter().any(|e| e.get("delivery").is_some()));
    assert!(receipts.iter().any(|e| e.get("read").is_some()));
    t.sim.shutdown().await;
}

#[tokio::test]
async fn instagram_uses_its_own_object_and_byte_limit() {
    let t = spawn().await;
    let ig = t.sim.config().ig_id.clone();
    let req = InboundRequest {
        channel: Channel::Instagram,
        ..InboundRequest::whatsapp(ANNA_IGSID, InboundContent::Image { caption: None })
    };
    t.sim.deliver_inbound(req).await.unwrap();
    let got = t.rx.wait_for(1).await;
    assert_eq!(got[0].json["object"], "instagram");
    assert_eq!(got[0].path, "/webhooks/instagram");
    assert_eq!(
        got[0].json["entry"][0]["messaging"][0]["message"]["attachments"][0]["type"],
        "image"
    );

    // 600 × "ü" is 600 characters but 1200 bytes.
    let (status, body) = t
        .graph_post(
            &format!("{ig}/messages"),
            &fb_text(ANNA_IGSID, "RESPONSE", None, &"ü".repeat(600)),
        )
        .await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!(100)));
    let (status, _) = t
        .graph_post(
            &format!("{ig}/messages"),
            &fb_text(ANNA_IGSID, "MESSAGE_TAG", Some("ACCOUNT_UPDATE"), "x"),
        )
        .await;
    assert_eq!(status, 400, "only HUMAN_AGENT exists on Instagram");
    let (status, _) = t
        .graph_post(
            &format!("{ig}/messages"),
            &fb_text(ANNA_IGSID, "RESPONSE", None, "Danke für das Foto!"),
        )
        .await;
    assert_eq!(status, 200);

    let req = InboundRequest {
        channel: Channel::Instagram,
        ..InboundRequest::whatsapp(
            ANNA_IGSID,
            InboundContent::Document {
                filename: "a.pdf".into(),
                caption: None,
            },
        )
    };
    assert!(
        t.sim.deliver_inbound(req).await.is_err(),
        "Instagram has no documents"
    );
    t.sim.shutdown().await;
}
