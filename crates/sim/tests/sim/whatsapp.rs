use crate::support::*;
use resonanz_sim::{InboundRequest, Verdict};
use serde_json::json;

#[tokio::test]
async fn text_inside_window_is_accepted_and_signed_statuses_follow_in_order() {
    let t = spawn().await;
    let receipt = t
        .sim
        .deliver_inbound(InboundRequest::text(ANNA, "Hallo, ich habe eine Frage."))
        .await
        .unwrap();
    assert_eq!(receipt.deliveries[0].http_status, Some(200));

    let mut body = text_to("+491701234567", "Guten Tag, wie können wir helfen?");
    body["biz_opaque_callback_data"] = json!("outbox-42");
    let (status, resp) = t.send_wa(body).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["messaging_product"], "whatsapp");
    assert_eq!(resp["contacts"][0]["input"], "+491701234567");
    assert_eq!(resp["contacts"][0]["wa_id"], ANNA);
    let wamid = resp["messages"][0]["id"].as_str().unwrap().to_owned();
    assert!(wamid.starts_with("wamid."));
    assert!(
        resp["messages"][0].get("message_status").is_none(),
        "only templates carry message_status"
    );

    t.settle().await;
    let got = t.rx.wait_for(4).await;
    assert!(
        got.iter().all(|r| r.signature_ok),
        "every webhook must carry a valid signature"
    );
    assert!(got.iter().all(|r| r.path == "/webhooks/whatsapp"));
    let statuses = t.rx.statuses();
    let order: Vec<&str> = statuses
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["sent", "delivered", "read"]);
    assert_eq!(got.len(), 4, "each status in its own POST");
    for s in &statuses {
        assert_eq!(s["id"], wamid.as_str());
        assert_eq!(s["recipient_id"], ANNA);
        assert_eq!(s["biz_opaque_callback_data"], "outbox-42");
        assert!(
            s["timestamp"].is_string(),
            "WhatsApp timestamps are strings"
        );
    }
    assert_eq!(statuses[1]["pricing"]["pricing_model"], "PMP");
    assert_eq!(statuses[1]["pricing"]["category"], "service");
    assert!(statuses[0].get("pricing").is_none());

    let sent = t.sim.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].verdict, Verdict::Accepted);
    assert_eq!(sent[0].message_id.as_deref(), Some(wamid.as_str()));
    t.sim.shutdown().await;
}

#[tokio::test]
async fn free_form_after_25_hours_is_131047_but_a_template_still_goes() {
    let t = spawn().await;
    t.sim
        .deliver_inbound(InboundRequest::text(ANNA, "Hallo"))
        .await
        .unwrap();
    let (status, clock) = t.control("clock", json!({"advance_secs": 25 * 3600})).await;
    assert_eq!(status, 200);
    assert_eq!(clock["offset_secs"], 25 * 3600);

    let (status, body) = t
        .send_wa(text_to("+491701234567", "Sind Sie noch da?"))
        .await;
    assert_graph_error(status, &body, 400, 131047);
    assert_eq!(body["error"]["error_data"]["messaging_product"], "whatsapp");
    assert!(
        body["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .contains("24 hours")
    );

    let (status, body) = t
        .send_wa(json!({
            "messaging_product": "whatsapp", "to": "+491701234567", "type": "template",
            "template": {"name": "fristerinnerung", "language": {"code": "de"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Anna"}, {"type": "text", "text": "30.06.2026"}]}
            ]}
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messages"][0]["message_status"], "accepted");
    t.settle().await;
    let delivered =
        t.rx.statuses()
            .into_iter()
            .find(|s| s["status"] == "delivered")
            .unwrap();
    assert_eq!(delivered["pricing"]["category"], "utility");
    assert_eq!(
        delivered["pricing"]["type"], "regular",
        "utility outside the window is billable"
    );
    assert_eq!(delivered["pricing"]["billable"], true);

    // A new inbound message reopens the window.
    t.sim
        .deliver_inbound(InboundRequest::text(ANNA, "Ja, hier!"))
        .await
        .unwrap();
    let (status, _) = t.send_wa(text_to("+491701234567", "Schön!")).await;
    assert_eq!(status, 200);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn async_failure_mode_accepts_then_delivers_a_failed_status() {
    let t = spawn().await;
    let (status, _) = t.control("config", json!({"failure_mode": "async"})).await;
    assert_eq!(status, 200);
    let (status, body) = t.send_wa(text_to("+491701234567", "Hallo")).await;
    assert_eq!(status, 200, "{body}");
    t.settle().await;
    let statuses = t.rx.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0]["status"], "failed");
    assert_eq!(statuses[0]["id"], body["messages"][0]["id"]);
    assert_eq!(statuses[0]["errors"][0]["code"], 131047);
    assert!(statuses[0]["errors"][0]["error_data"]["details"].is_string());
    t.sim.shutdown().await;
}

#[tokio::test]
async fn unknown_number_is_131026_and_missing_plus_gets_the_business_country_code() {
    let t = spawn().await;
    let (status, body) = t.send_wa(text_to("+4915199999999", "Hallo")).await;
    assert_graph_error(status, &body, 400, 131026);

    t.sim
        .deliver_inbound(InboundRequest::text(ANNA, "Hallo"))
        .await
        .unwrap();
    // Without "+", Meta prepends 49 to 491701234567: a number nobody has.
    let (status, body) = t.send_wa(text_to("491701234567", "Hallo")).await;
    assert_graph_error(status, &body, 400, 131026);
    let (status, _) = t.send_wa(text_to("+49 170 1234567", "Hallo")).await;
    assert_eq!(status, 200, "spaces are allowed in to");
    t.sim.shutdown().await;
}

#[tokio::test]
async fn a_username_only_user_is_reached_by_recipient_and_silently_lost_by_to() {
    let t = spawn().await;
    let user_id = "DE.13491208655302741918";
    t.control(
        "inbound",
        json!({"from": "", "user_id": user_id, "type": "text", "text": "Hallo"}),
    )
    .await;
    let mut by_recipient = text_to("", "Guten Tag!");
    by_recipient.as_object_mut().unwrap().remove("to");
    by_recipient["recipient"] = json!(user_id);
    let (status, resp) = t.send_wa(by_recipient).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["contacts"][0]["user_id"], user_id);
    t.settle().await;
    let statuses = t.rx.statuses();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| s["recipient_user_id"] == user_id && s.get("recipient_id").is_none())
    );

    // Meta answers 200 to a user id in `to`, then never delivers it.
    let (status, resp) = t.send_wa(text_to(user_id, "Guten Tag!")).await;
    assert_eq!(status, 200, "{resp}");
    t.settle().await;
    assert_eq!(t.rx.statuses().len(), 3, "no status for the lost message");

    let mut malformed = text_to("", "x");
    malformed.as_object_mut().unwrap().remove("to");
    malformed["recipient"] = json!("de.1349");
    let (status, body) = t.send_wa(malformed).await;
    assert_graph_error(status, &body, 400, 100);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn wrong_token_is_401_code_190_and_bad_version_is_rejected() {
    let t = spawn().await;
    let (status, body) = t
        .graph_post_token(
            &format!("{}/messages", t.pnid()),
            &text_to("+491701234567", "x"),
            "nope",
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], 190);
    assert_eq!(body["error"]["type"], "OAuthException");

    let resp = t
        .http
        .post(format!("{}/23.0/{}/messages", t.sim.base_url(), t.pnid()))
        .bearer_auth(TOKEN)
        .json(&text_to("+491701234567", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = t
        .http
        .post(format!("{}/v25.0/{}/messages", t.sim.base_url(), t.pnid()))
        .bearer_auth(TOKEN)
        .json(&text_to("+4915199999999", "x"))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["error"]["code"], 131026,
        "any vNN.N reaches the handler"
    );
    t.sim.shutdown().await;
}

#[tokio::test]
async fn over_the_rate_is_http_429_code_130429() {
    let t = spawn().await;
    t.control("config", json!({"rate_limit_per_sec": 3})).await;
    t.sim
        .deliver_inbound(InboundRequest::text(ANNA, "Hallo"))
        .await
        .unwrap();
    let mut codes = Vec::new();
    for i in 0..4 {
        let (status, body) = t
            .send_wa(text_to("+491701234567", &format!("Nachricht {i}")))
            .await;
        codes.push(status);
        if status == 429 {
            assert_graph_error(status, &body, 429, 130429);
        }
    }
    assert_eq!(codes, [200, 200, 200, 429]);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn templates_are_checked_by_name_language_status_and_parameter_count() {
    let t = spawn().await;
    let tpl = |name: &str, lang: &str, params: usize| {
        let parameters: Vec<_> = (0..params)
            .map(|i| json!({"type": "text", "text": format!("v{i}")}))
            .collect();
        json!({"messaging_product": "whatsapp", "to": "+491701234567", "type": "template",
               "template": {"name": name, "language": {"code": lang},
                            "components": [{"type": "body", "parameters": parameters}]}})
    };
    let (s, b) = t.send_wa(tpl("gibt_es_nicht", "de", 0)).await;
    assert_graph_error(s, &b, 404, 132001);
    let (s, b) = t.send_wa(tpl("fristerinnerung", "en_US", 2)).await;
    assert_graph_error(s, &b, 404, 132001);
    let (s, b) = t.send_wa(tpl("neues_angebot", "de", 1)).await;
    assert_graph_error(s, &b, 404, 132001);
    let (s, b) = t.send_wa(tpl("altes_angebot", "de", 1)).await;
    assert_graph_error(s, &b, 400, 132015);
    let (s, b) = t.send_wa(tpl("beitragsanpassung_info", "de", 2)).await;
    assert_graph_error(s, &b, 400, 132000);
    let (s, b) = t.send_wa(tpl("beitragsanpassung_info", "de", 3)).await;
    assert_eq!(s, 200, "{b}");
    t.sim.shutdown().await;
}

#[tokio::test]
async fn invalid_bodies_are_code_100() {
    let t = spawn().await;
    t.sim
        .deliver_inbound(InboundRequest::text(ANNA, "Hallo"))
        .await
        .unwrap();
    let cases = [
        json!({"to": "+491701234567", "type": "text", "text": {"body": "x"}}),
        text_to("+491701234567", &"a".repeat(4097)),
        json!({"messaging_product": "whatsapp", "to": "+491701234567", "type": "text"}),
        json!({"messaging_product": "whatsapp", "to": "+491701234567", "type": "image", "image": {"id": "1", "link": "https://x/y.png"}}),
        json!({"messaging_product": "whatsapp", "to": "+491701234567", "type": "interactive", "interactive": {
            "type": "button", "body": {"text": "Wählen Sie"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "a", "title": "A"}}, {"type": "reply", "reply": {"id": "b", "title": "B"}},
                {"type": "reply", "reply": {"id": "c", "title": "C"}}, {"type": "reply", "reply": {"id": "d", "title": "D"}}]}}}),
        json!({"messaging_product": "whatsapp", "to": "+491701234567", "type": "interactive", "interactive": {
            "type": "button", "body": {"text": "Wählen Sie"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "a", "title": "Dieser Titel ist zu lang"}}]}}}),
        json!({"messaging_product": "whatsapp", "to": "+491701234567", "type": "interactive", "interactive": {
            "type": "list", "body": {"text": "Liste"}, "action": {"button": "Auswahl", "sections": [
                {"title": "S", "rows": (0..11).map(|i| json!({"id": format!("r{i}"), "title": "Zeile"})).collect::<Vec<_>>()}]}}}),
        json!({"messaging_product": "whatsapp", "to": "+491701234567", "type": "location", "location": {"latitude": 95.0, "longitude": 13.4}}),
    ];
    for body in cases {
        let (status, resp) = t.send_wa(body.clone()).await;
        assert_graph_error(status, &resp, 400, 100);
        assert!(resp["error"]["error_data"]["details"].is_string(), "{body}");
    }
    let (status, _) = t.send_wa(text_to("+491701234567", &"ü".repeat(4096))).await;
    assert_eq!(status, 200, "4096 characters (not bytes) are allowed");
    let rejected = t
        .sim
        .sent()
        .iter()
        .filter(|s| s.verdict == Verdict::Rejected)
        .count();
    assert_eq!(rejected, 8);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn mark_as_read_succeeds_for_a_delivered_message_only() {
    let t = spawn().await;
    let r = t
        .sim
        .deliver_inbound(InboundRequest::text(ANNA, "Hallo"))
        .await
        .unwrap();
    let (status, body) = t
        .send_wa(json!({"messaging_product": "whatsapp", "status": "read", "message_id": r.message_ids[0]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"success": true}));
    let (status, body) = t
        .send_wa(json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.unknown"}))
        .await;
    assert_graph_error(status, &body, 400, 100);
    t.settle().await;
    assert!(
        t.rx.statuses().is_empty(),
        "mark-as-read produces no status webhooks"
    );
    t.sim.shutdown().await;
}

#[tokio::test]
async fn statuses_can_arrive_duplicated_and_out_of_order() {
    let t = spawn().await;
    t.control(
        "config",
        json!({"duplicate_statuses": true, "out_of_order_statuses": true}),
    )
    .await;
    t.sim
        .deliver_inbound(InboundRequest::text(ANNA, "Hallo"))
        .await
        .unwrap();
    t.send_wa(text_to("+491701234567", "Antwort")).await;
    t.settle().await;
    let got = t.rx.got();
    assert_eq!(got.len(), 1 + 6);
    let order: Vec<String> =
        t.rx.statuses()
            .iter()
            .map(|s| s["status"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(
        order,
        ["sent", "sent", "read", "read", "delivered", "delivered"]
    );
    assert_eq!(got[1].body, got[2].body, "a duplicate is the same bytes");
    assert!(got.iter().all(|r| r.signature_ok));
    t.sim.shutdown().await;
}

#[tokio::test]
async fn non_200_answers_are_retried_a_bounded_number_of_times() {
    let t = spawn().await;
    t.rx.answer_with(500);
    let r = t
        .sim
        .deliver_inbound(InboundRequest::text(ANNA, "Hallo"))
        .await
        .unwrap();
    assert_eq!(r.deliveries[0].http_status, Some(500));
    assert_eq!(r.deliveries[0].attempts, 3);
    assert_eq!(t.rx.got().len(), 3);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn too_many_messages_to_one_customer_is_429_code_131056_while_others_proceed() {
    let t = spawn().await;
    t.control("config", json!({"pair_rate_limit_per_min": 2}))
        .await;
    t.sim
        .deliver_inbound(InboundRequest::text(ANNA, "Hallo"))
        .await
        .unwrap();
    t.sim
        .deliver_inbound(InboundRequest::text("491712345678", "Hallo"))
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(t.send_wa(text_to("+491701234567", "x")).await.0, 200);
    }
    let (status, body) = t.send_wa(text_to("+491701234567", "x")).await;
    assert_graph_error(status, &body, 429, 131056);
    assert_eq!(
        t.send_wa(text_to("+491712345678", "y")).await.0,
        200,
        "another recipient is not limited"
    );
    t.sim.shutdown().await;
}

#[tokio::test]
async fn statuses_can_be_batched_into_one_post() {
    let t = spawn().await;
    t.control("config", json!({"batch_statuses": true})).await;
    t.sim
        .deliver_inbound(InboundRequest::text(ANNA, "Hallo"))
        .await
        .unwrap();
    t.send_wa(text_to("+491701234567", "Antwort")).await;
    t.settle().await;
    let got = t.rx.got();
    assert_eq!(got.len(), 2);
    let statuses = got[1].json["entry"][0]["changes"][0]["value"]["statuses"]
        .as_array()
        .unwrap()
        .clone();
    let order: Vec<_> = statuses
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["sent", "delivered", "read"]);
    t.sim.shutdown().await;
}
