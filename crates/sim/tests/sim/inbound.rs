use crate::support::*;
use resonanz_sim::{BatchLayout, InboundContent, InboundRequest};
use serde_json::{Value, json};

#[tokio::test]
async fn every_whatsapp_message_type_arrives_signed_with_its_object() {
    let t = spawn().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"type": "text", "text": "Hallo"}), "text"),
        (json!({"type": "image", "caption": "Foto"}), "image"),
        (json!({"type": "audio"}), "audio"),
        (json!({"type": "video", "caption": null}), "video"),
        (
            json!({"type": "document", "filename": "polizeibericht.pdf", "caption": null}),
            "document",
        ),
        (json!({"type": "sticker"}), "sticker"),
        (
            json!({"type": "location", "latitude": 52.52, "longitude": 13.40, "name": "Unfallort", "address": null}),
            "location",
        ),
        (
            json!({"type": "contacts", "contact_name": "Max Mustermann", "phone": "+49 151 1234567"}),
            "contacts",
        ),
        (
            json!({"type": "button_reply", "id": "ja", "title": "Ja"}),
            "interactive",
        ),
        (
            json!({"type": "list_reply", "id": "kfz", "title": "Kfz", "description": "Autoversicherung"}),
            "interactive",
        ),
        (
            json!({"type": "button", "payload": "STOP_PROMO", "text": "Abbestellen"}),
            "button",
        ),
        (
            json!({"type": "reaction", "message_id": "wamid.abc", "emoji": "👍"}),
            "reaction",
        ),
        (
            json!({"type": "reaction", "message_id": "wamid.abc", "emoji": null}),
            "reaction",
        ),
        (
            json!({"type": "order", "catalog_id": "c1", "product_retailer_id": "reise", "quantity": 1, "item_price": 19.9, "currency": "EUR"}),
            "order",
        ),
        (
            json!({"type": "system", "new_wa_id": "491709876543"}),
            "system",
        ),
        (
            json!({"type": "unsupported", "unsupported_type": "poll_creation"}),
            "unsupported",
        ),
        (
            json!({"type": "future", "type_name": "hologram", "payload": {"depth": 3}}),
            "hologram",
        ),
    ];
    for (i, (content, expected)) in cases.iter().enumerate() {
        let mut req = content.clone();
        req["from"] = json!(ANNA);
        req["referral"] = json!(i == 0);
        req["reply_to"] = if i == 8 {
            json!("wamid.business1")
        } else {
            Value::Null
        };
        let (status, receipt) = t.control("inbound", req).await;
        assert_eq!(status, 200, "{content}: {receipt}");
        assert_eq!(receipt["deliveries"][0]["http_status"], 200);
        let got = t.rx.wait_for(i + 1).await;
        let last = got.last().unwrap();
        assert!(last.signature_ok);
        let msg = &last.json["entry"][0]["changes"][0]["value"]["messages"][0];
        assert_eq!(msg["type"], *expected, "{content}");
        assert!(
            msg[*expected].is_object() || msg[*expected].is_array(),
            "{msg}"
        );
        assert_eq!(msg["id"], receipt["message_ids"][0]);
        assert!(msg["timestamp"].is_string());
    }
    let msgs = t.rx.messages();
    assert_eq!(msgs[0]["referral"]["source_type"], "ad");
    assert!(msgs[0]["referral"]["ctwa_clid"].is_string());
    assert!(msgs[1].get("referral").is_none());
    assert_eq!(msgs[8]["interactive"]["type"], "button_reply");
    assert_eq!(msgs[8]["context"]["id"], "wamid.business1");
    assert_eq!(
        msgs[9]["interactive"]["list_reply"]["description"],
        "Autoversicherung"
    );
    assert_eq!(msgs[11]["reaction"]["emoji"], "👍");
    assert!(
        msgs[12]["reaction"].get("emoji").is_none(),
        "removal omits emoji"
    );
    assert_eq!(msgs[2]["audio"]["voice"], true);
    assert_eq!(msgs[2]["audio"]["mime_type"], "audio/ogg; codecs=opus");
    assert_eq!(msgs[15]["errors"][0]["code"], 131051);
    assert_eq!(msgs[15]["unsupported"]["type"], "poll_creation");
    assert_eq!(msgs[16]["hologram"]["depth"], 3);
    let system_value = &t.rx.got()[14].json["entry"][0]["changes"][0]["value"];
    assert_eq!(
        system_value["messages"][0]["system"]["type"],
        "user_changed_number"
    );
    assert!(
        system_value.get("contacts").is_none(),
        "system messages carry no contacts"
    );
    let value = &t.rx.got()[0].json["entry"][0]["changes"][0]["value"];
    assert_eq!(value["contacts"][0]["wa_id"], ANNA);
    assert_eq!(value["contacts"][0]["profile"]["name"], "Anna Keller");
    assert_eq!(value["metadata"]["phone_number_id"], t.pnid());
    t.sim.shutdown().await;
}

#[tokio::test]
async fn non_ascii_is_escaped_like_meta_and_signatures_hold() {
    let t = spawn().await;
    let (status, _) = t.control("scenarios/beschwerde", json!({})).await;
    assert_eq!(status, 200);
    let got = t.rx.wait_for(1).await;
    let raw = &got[0].body;
    assert!(raw.is_ascii(), "Meta escapes every non-ASCII character");
    let text = String::from_utf8(raw.clone()).unwrap();
    assert!(text.contains("R\\u00fcckmeldung"));
    assert!(text.contains("\\ud83d\\ude21"), "emoji as a surrogate pair");
    assert!(got[0].signature_ok);
    let body = got[0].json["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"]
        .as_str()
        .unwrap();
    assert!(body.contains("Rückmeldung") && body.ends_with('😡'));
    // Re-serialising the parsed JSON gives different bytes: a receiver must sign the raw body.
    assert_ne!(serde_json::to_vec(&got[0].json).unwrap(), *raw);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn batches_put_several_messages_changes_or_entries_in_one_post() {
    let t = spawn().await;
    let items = || {
        vec![
            InboundRequest::text(ANNA, "eins"),
            InboundRequest::text("491712345678", "zwei"),
            InboundRequest::text(ANNA, "drei"),
        ]
    };
    t.sim
        .deliver_batch(items(), BatchLayout::Messages)
        .await
        .unwrap();
    t.sim
        .deliver_batch(items(), BatchLayout::Changes)
        .await
        .unwrap();
    t.sim
        .deliver_batch(items(), BatchLayout::Entries)
        .await
        .unwrap();
    let got = t.rx.got();
    assert_eq!(got.len(), 3);
    let v0 = &got[0].json["entry"][0]["changes"][0]["value"];
    assert_eq!(v0["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        v0["contacts"].as_array().unwrap().len(),
        2,
        "contacts are not repeated"
    );
    assert_eq!(
        got[1].json["entry"][0]["changes"].as_array().unwrap().len(),
        3
    );
    assert_eq!(got[2].json["entry"].as_array().unwrap().len(), 3);
    let texts: Vec<_> =
        t.rx.messages()
            .iter()
            .map(|m| m["text"]["body"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(
        texts,
        [
            "eins", "zwei", "drei", "eins", "zwei", "drei", "eins", "zwei", "drei"
        ]
    );
    t.sim.shutdown().await;
}

#[tokio::test]
async fn duplicates_resend_the_same_bytes() {
    let t = spawn().await;
    let (_, receipt) = t
        .control(
            "inbound",
            json!({"from": ANNA, "type": "text", "text": "Doppelt", "duplicate": true}),
        )
        .await;
    assert_eq!(receipt["deliveries"].as_array().unwrap().len(), 2);
    let got = t.rx.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body);
    assert!(got[1].signature_ok);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn bsuid_only_users_have_an_empty_wa_id_and_a_user_id() {
    let t = spawn().await;
    let (status, r) = t
        .control("inbound", json!({"from": "", "user_id": "DE.13491208655302741918", "name": "kfz_fan", "type": "text", "text": "Hallo"}))
        .await;
    assert_eq!(status, 200, "{r}");
    let v = &t.rx.got()[0].json["entry"][0]["changes"][0]["value"];
    assert_eq!(v["contacts"][0]["wa_id"], "");
    assert_eq!(v["contacts"][0]["user_id"], "DE.13491208655302741918");
    assert_eq!(v["messages"][0]["from_user_id"], "DE.13491208655302741918");
    let (status, _) = t
        .control("inbound", json!({"from": "", "type": "text", "text": "x"}))
        .await;
    assert_eq!(status, 400, "a message needs some identity");
    t.sim.shutdown().await;
}

#[tokio::test]
async fn scenarios_deliver_the_right_message_types() {
    let t = spawn().await;
    let (status, report) = t.control("scenarios/kfz_unfall", json!({})).await;
    assert_eq!(status, 200, "{report}");
    let types: Vec<_> =
        t.rx.messages()
            .iter()
            .map(|m| m["type"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(types, ["text", "location", "image", "text"]);
    let steps: Vec<_> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].clone())
        .collect();
    assert_eq!(
        steps,
        [
            json!("text"),
            json!("location"),
            json!("image"),
            json!("text")
        ]
    );
    assert!(
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["http_status"] == 200)
    );
    let loc = &t.rx.messages()[1]["location"];
    assert!(loc["latitude"].is_f64() && loc["longitude"].is_f64());
    assert!(
        t.rx.messages()[0]["text"]["body"]
            .as_str()
            .unwrap()
            .contains("Unfall")
    );

    let report = t
        .sim
        .run_scenario("opt_out", Default::default())
        .await
        .unwrap();
    assert_eq!(report.steps.len(), 1);
    assert_eq!(t.rx.messages().last().unwrap()["text"]["body"], "STOPP");
    let report = t
        .sim
        .run_scenario("dokument_anfrage", Default::default())
        .await
        .unwrap();
    assert!(
        t.rx.messages()[report.steps.len() + 4 - 1]["text"]["body"]
            .as_str()
            .unwrap()
            .contains("PDF")
    );
    t.sim.run_scenario("lob", Default::default()).await.unwrap();

    let (status, _) = t.control("scenarios/gibt_es_nicht", json!({})).await;
    assert_eq!(status, 404);

    let (status, _) = t
        .control("scenarios/kfz_unfall", json!({"channel": "messenger"}))
        .await;
    assert_eq!(status, 200, "the accident scenario also plays on Messenger");
    t.sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_signature_mode_is_detectable_by_the_receiver() {
    let t = spawn().await;
    t.control("config", json!({"signature": "wrong"})).await;
    t.sim
        .deliver_inbound(InboundRequest::text(ANNA, "x"))
        .await
        .unwrap();
    t.control("config", json!({"signature": "missing"})).await;
    let r = t
        .sim
        .deliver_inbound(InboundRequest::text(ANNA, "y"))
        .await
        .unwrap();
    assert!(r.deliveries[0].signature.is_none());
    let got = t.rx.got();
    assert!(!got[0].signature_ok && !got[1].signature_ok);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn traffic_loop_stops_at_its_bound_and_sends_signed_german_messages() {
    let t = spawn().await;
    let stats = resonanz_sim::run_traffic(
        &t.sim,
        resonanz_sim::TrafficConfig {
            rate_per_sec: 200.0,
            max_messages: Some(12),
            seed: Some(7),
            other_channels: true,
        },
        std::future::pending(),
    )
    .await;
    assert_eq!(stats.messages, 12);
    assert_eq!(stats.failed, 0);
    let got = t.rx.got();
    assert_eq!(got.len(), 12);
    assert!(got.iter().all(|r| r.signature_ok));
    // It stops when told to, too.
    let stats = resonanz_sim::run_traffic(&t.sim, Default::default(), async {}).await;
    assert_eq!(stats.messages, 0);
    let _ = InboundContent::Sticker { animated: false };
    t.sim.shutdown().await;
}
