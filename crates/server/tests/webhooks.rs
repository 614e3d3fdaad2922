//! Inbound end to end: the simulator delivers signed Meta webhooks to the real
//! server over HTTP; the tests read back what the store made of them.

mod support;

#[path = "inbound/media.rs"]
mod media;

use resonanz_core::{DeliveryState, IdentityKind};
use resonanz_sim::{BatchLayout, Channel, InboundContent, InboundRequest, SignatureMode, Tunables};
use serde_json::json;
use support::*;

fn wa(content: InboundContent) -> InboundRequest {
    InboundRequest::whatsapp(ANNA, content)
}

fn on(channel: Channel, from: &str, content: InboundContent) -> InboundRequest {
    InboundRequest {
        channel,
        ..InboundRequest::whatsapp(from, content)
    }
}

/// Delivers one item, asserts Resonanz answered 200, returns its message id.
async fn deliver(app: &TestApp, request: InboundRequest) -> (String, Option<String>) {
    let receipt = app.sim.deliver_inbound(request).await.expect("sim accepts");
    for delivery in &receipt.deliveries {
        assert_eq!(delivery.http_status, Some(200), "{delivery:?}");
    }
    app.store.flush().await.expect("projections applied");
    (
        receipt.message_ids[0].clone(),
        receipt.media_ids.first().cloned(),
    )
}

#[tokio::test]
async fn the_handshake_echoes_the_challenge_only_for_the_right_verify_token() {
    let app = spawn_app().await;
    for channel in [Channel::Whatsapp, Channel::Messenger, Channel::Instagram] {
        let ok = app.sim.verify_webhook(channel, None).await;
        assert!(ok.echoed, "{ok:?}");
        assert_eq!(ok.body, ok.challenge);
        let wrong = app.sim.verify_webhook(channel, Some("guessed")).await;
        assert_eq!(wrong.http_status, Some(403), "{wrong:?}");
        assert!(!wrong.echoed);
    }
}

#[tokio::test]
async fn every_whatsapp_message_type_is_stored_and_projected() {
    let app = spawn_app().await;

    let (text, _) = deliver(
        &app,
        wa(InboundContent::Text {
            text: "Ich möchte einen Wasserschaden melden.".into(),
        }),
    )
    .await;
    let m = app.message("whatsapp", &text).await;
    assert_eq!(
        (m.kind.as_str(), m.body.as_deref()),
        ("text", Some("Ich möchte einen Wasserschaden melden."))
    );
    assert_eq!(m.direction, "in");
    assert_eq!(m.delivery, DeliveryState::Received);

    // Media: the attachment names the media id, type and Meta's checksum.
    let media_cases = [
        (
            InboundContent::Image {
                caption: Some("Foto vom Schaden".into()),
            },
            "image",
            "image/png",
            Some("Foto vom Schaden"),
        ),
        (
            InboundContent::Audio { voice: true },
            "audio",
            "audio/ogg; codecs=opus",
            None,
        ),
        (
            InboundContent::Video {
                caption: Some("Video".into()),
            },
            "video",
            "video/mp4",
            Some("Video"),
        ),
        (
            InboundContent::Document {
                filename: "polizeibericht.pdf".into(),
                caption: Some("Polizeibericht".into()),
            },
            "document",
            "application/pdf",
            Some("Polizeibericht"),
        ),
        (
            InboundContent::Sticker { animated: false },
            "sticker",
            "image/webp",
            None,
        ),
    ];
    for (content, kind, mime, caption) in media_cases {
        let (id, media_id) = deliver(&app, wa(content)).await;
        let m = app.message("whatsapp", &id).await;
        assert_eq!(m.kind, kind);
        assert_eq!(m.body.as_deref(), caption);
        assert_eq!(m.attachments.len(), 1, "{m:?}");
        let attachment = &m.attachments[0];
        assert_eq!(attachment.kind, kind);
        assert_eq!(Some(&attachment.media_ref), media_id.as_ref());
        assert_eq!(attachment.mime_type.as_deref(), Some(mime));
        assert_eq!(attachment.caption.as_deref(), caption);
        assert!(attachment.sha256.is_some());
        if kind == "document" {
            assert_eq!(attachment.filename.as_deref(), Some("polizeibericht.pdf"));
        }
    }

    let (id, _) = deliver(
        &app,
        wa(InboundContent::Location {
            latitude: 52.520008,
            longitude: 13.404954,
            name: Some("Unfallort".into()),
            address: Some("Alexanderplatz 1, 10178 Berlin".into()),
        }),
    )
    .await;
    let m = app.message("whatsapp", &id).await;
    assert_eq!(m.kind, "location");
    // What the agent forwards to the towing service.
    assert_eq!(
        m.map_url.as_deref(),
        Some(
            "https://www.openstreetmap.org/?mlat=52.520008&mlon=13.404954#map=17/52.520008/13.404954"
        )
    );
    let location = m.location.expect("location projected");
    assert_eq!(
        (location.latitude, location.longitude),
        (52.520008, 13.404954)
    );
    assert_eq!(location.name.as_deref(), Some("Unfallort"));
    assert_eq!(
        location.address.as_deref(),
        Some("Alexanderplatz 1, 10178 Berlin")
    );

    let (id, _) = deliver(
        &app,
        wa(InboundContent::Contacts {
            contact_name: "Jonas Weber".into(),
            phone: "+49 160 9876543".into(),
        }),
    )
    .await;
    let m = app.message("whatsapp", &id).await;
    assert_eq!(m.kind, "contacts");
    assert_eq!(m.body.as_deref(), Some("Jonas Weber: +49 160 9876543"));

    let (id, _) = deliver(
        &app,
        wa(InboundContent::ButtonReply {
            id: "claim-yes".into(),
            title: "Ja, melden".into(),
        }),
    )
    .await;
    let m = app.message("whatsapp", &id).await;
    assert_eq!(
        (m.kind.as_str(), m.body.as_deref()),
        ("interactive", Some("Ja, melden"))
    );

    let (id, _) = deliver(
        &app,
        wa(InboundContent::ListReply {
            id: "kfz".into(),
            title: "Kfz-Schaden".into(),
            description: Some("Unfall, Glas, Diebstahl".into()),
        }),
    )
    .await;
    let m = app.message("whatsapp", &id).await;
    assert_eq!(
        (m.kind.as_str(), m.body.as_deref()),
        ("interactive", Some("Kfz-Schaden"))
    );

    let (id, _) = deliver(
        &app,
        wa(InboundContent::Button {
            payload: "STOP".into(),
            text: "Keine Erinnerungen mehr".into(),
        }),
    )
    .await;
    let m = app.message("whatsapp", &id).await;
    assert_eq!(
        (m.kind.as_str(), m.body.as_deref()),
        ("button", Some("Keine Erinnerungen mehr"))
    );

    // A reaction changes the message reacted to; removing it clears it.
    deliver(
        &app,
        wa(InboundContent::Reaction {
            message_id: text.clone(),
            emoji: Some("👍".into()),
        }),
    )
    .await;
    let reactions = app.message("whatsapp", &text).await.reactions;
    assert_eq!(reactions.len(), 1);
    assert_eq!(reactions[0].emoji, "👍");
    assert!(reactions[0].from_customer);
    deliver(
        &app,
        wa(InboundContent::Reaction {
            message_id: text.clone(),
            emoji: None,
        }),
    )
    .await;
    assert!(app.message("whatsapp", &text).await.reactions.is_empty());

    let (id, _) = deliver(
        &app,
        wa(InboundContent::Order {
            catalog_id: "cat-1".into(),
            product_retailer_id: "hausrat-basis".into(),
            quantity: 1,
            item_price: 4.99,
            currency: "EUR".into(),
        }),
    )
    .await;
    let m = app.message("whatsapp", &id).await;
    assert_eq!(m.kind, "order");
    let raw = app
        .store
        .message_raw("whatsapp", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        raw["order"]["product_items"][0]["product_retailer_id"],
        "hausrat-basis"
    );

    let (id, _) = deliver(
        &app,
        wa(InboundContent::System {
            new_wa_id: "491709999999".into(),
        }),
    )
    .await;
    let m = app.message("whatsapp", &id).await;
    assert_eq!(m.kind, "system");
    assert!(m.body.as_deref().unwrap().contains("491709999999"), "{m:?}");

    let (id, _) = deliver(
        &app,
        wa(InboundContent::Unsupported {
            unsupported_type: "poll_creation".into(),
        }),
    )
    .await;
    let m = app.message("whatsapp", &id).await;
    assert_eq!(m.kind, "unsupported");
    let raw = app
        .store
        .message_raw("whatsapp", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw["errors"][0]["code"], 131051);
    assert_eq!(raw["unsupported"]["type"], "poll_creation");

    // Types the sim only knows as raw objects: newer interactive replies and
    // the first-contact `request_welcome`.
    let (id, _) = deliver(
        &app,
        wa(InboundContent::Future {
            type_name: "interactive".into(),
            payload: json!({"type": "nfm_reply", "nfm_reply": {
                "name": "flow", "body": "Sent", "response_json": "{\"schaden\":\"glas\"}"}}),
        }),
    )
    .await;
    let m = app.message("whatsapp", &id).await;
    assert_eq!(
        (m.kind.as_str(), m.body.as_deref()),
        ("interactive", Some("Sent"))
    );
    let (id, _) = deliver(
        &app,
        wa(InboundContent::Future {
            type_name: "request_welcome".into(),
            payload: json!({}),
        }),
    )
    .await;
    assert_eq!(app.message("whatsapp", &id).await.kind, "system");
}

#[tokio::test]
async fn an_unknown_future_type_is_kept_with_its_raw_payload() {
    let app = spawn_app().await;
    let payload = json!({"question": "Welche Deckung?", "options": ["Haftpflicht", "Kasko"]});
    let (id, _) = deliver(
        &app,
        wa(InboundContent::Future {
            type_name: "poll_vote_2027".into(),
            payload: payload.clone(),
        }),
    )
    .await;
    let m = app.message("whatsapp", &id).await;
    assert_eq!(m.kind, "unknown");
    let raw = app
        .store
        .message_raw("whatsapp", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raw["type"], "poll_vote_2027");
    assert_eq!(raw["poll_vote_2027"], payload);

    // A value-level error has no message: kept as unrecognized, not dropped.
    let record = app.sim.deliver_value_error(130429).await;
    assert_eq!(record.http_status, Some(200));
    app.store.flush().await.unwrap();
    let unrecognized = app.store.unrecognized(0, 100).await.unwrap();
    assert_eq!(unrecognized.len(), 1, "{unrecognized:?}");
    assert_eq!(unrecognized[0].kind, "whatsapp:errors");
    assert_eq!(unrecognized[0].raw["errors"][0]["code"], 130429);
}

#[tokio::test]
async fn messenger_and_instagram_events_are_stored_and_projected() {
    let app = spawn_app().await;
    let (text, _) = deliver(
        &app,
        on(
            Channel::Messenger,
            ANNA_PSID,
            InboundContent::Text {
                text: "Hallo, ich habe eine Frage zur Hausratversicherung.".into(),
            },
        ),
    )
    .await;
    let m = app.message("messenger", &text).await;
    assert_eq!((m.kind.as_str(), m.channel.as_str()), ("text", "messenger"));

    let (image, _) = deliver(
        &app,
        on(
            Channel::Messenger,
            ANNA_PSID,
            InboundContent::Image {
                caption: Some("Kratzer".into()),
            },
        ),
    )
    .await;
    let m = app.message("messenger", &image).await;
    assert_eq!(m.kind, "image");
    assert_eq!(m.attachments.len(), 1);
    assert!(m.attachments[0].media_ref.starts_with("http://"));

    let (quick, _) = deliver(
        &app,
        on(
            Channel::Messenger,
            ANNA_PSID,
            InboundContent::ButtonReply {
                id: "RUECKRUF".into(),
                title: "Rückruf".into(),
            },
        ),
    )
    .await;
    let m = app.message("messenger", &quick).await;
    assert_eq!(
        (m.kind.as_str(), m.body.as_deref()),
        ("button", Some("Rückruf"))
    );

    let (location, _) = deliver(
        &app,
        on(
            Channel::Messenger,
            ANNA_PSID,
            InboundContent::Location {
                latitude: 48.137154,
                longitude: 11.576124,
                name: None,
                address: None,
            },
        ),
    )
    .await;
    let m = app.message("messenger", &location).await;
    assert_eq!(m.kind, "location");
    assert_eq!(m.location.unwrap().latitude, 48.137154);

    deliver(
        &app,
        on(
            Channel::Messenger,
            ANNA_PSID,
            InboundContent::Reaction {
                message_id: text.clone(),
                emoji: Some("❤".into()),
            },
        ),
    )
    .await;
    assert_eq!(app.message("messenger", &text).await.reactions.len(), 1);

    // Instagram arrives on its own endpoint with its own identity kind.
    let (ig, _) = deliver(
        &app,
        on(
            Channel::Instagram,
            ANNA_IGSID,
            InboundContent::Text {
                text: "Wie kündige ich meinen Vertrag?".into(),
            },
        ),
    )
    .await;
    let m = app.message("instagram", &ig).await;
    assert_eq!((m.kind.as_str(), m.channel.as_str()), ("text", "instagram"));
    let contact = app
        .store
        .contact_by_identity(IdentityKind::InstagramId, ANNA_IGSID)
        .await
        .unwrap()
        .expect("instagram contact");
    assert_eq!(contact.identities.len(), 1);

    // Our Messenger send: the echo becomes an outbound message, then the
    // delivery and the read watermark move it to read.
    let sent = app
        .graph_client()
        .send_meta(
            resonanz_core::Channel::Messenger,
            &app.sim.config().page_id,
            &resonanz_channels::outbound::MetaMessage {
                recipient_id: ANNA_PSID.into(),
                messaging_type: resonanz_channels::outbound::MessagingType::Response,
                content: resonanz_channels::outbound::MetaContent::Text(
                    "Gern, ich rufe Sie an.".into(),
                ),
            },
        )
        .await
        .expect("messenger send accepted");
    app.settle().await;
    let echo = app.message("messenger", &sent.id).await;
    assert_eq!(echo.direction, "out");
    assert_eq!(echo.delivery, DeliveryState::Read);
    for record in app.sim.webhooks() {
        assert_eq!(record.http_status, Some(200), "{record:?}");
    }
}

#[tokio::test]
async fn a_batched_webhook_stores_every_message_not_just_the_first() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    for layout in [
        BatchLayout::Messages,
        BatchLayout::Changes,
        BatchLayout::Entries,
    ] {
        let items = vec![
            InboundRequest::text(ANNA, "Erste Nachricht"),
            InboundRequest::text(JUERGEN, "Zweite Nachricht"),
            wa(InboundContent::Location {
                latitude: 50.0,
                longitude: 8.0,
                name: None,
                address: None,
            }),
        ];
        let receipt = app.sim.deliver_batch(items, layout).await.unwrap();
        assert_eq!(receipt.deliveries.len(), 1, "one POST per batch");
        assert_eq!(receipt.deliveries[0].http_status, Some(200));
        expected.extend(receipt.message_ids);
    }
    let counts = app.counts().await;
    assert_eq!(counts.raw_events, 3);
    assert_eq!(counts.messages, 9);
    for id in &expected {
        app.message("whatsapp", id).await;
    }
    // Two senders in one POST are two contacts, each with their own name.
    let juergen = app
        .store
        .contact_by_identity(IdentityKind::WhatsApp, JUERGEN)
        .await
        .unwrap()
        .expect("second sender");
    assert_eq!(juergen.display_name.as_deref(), Some("Jürgen Müller"));
}

#[tokio::test]
async fn a_duplicate_delivery_is_stored_once_and_acknowledged_both_times() {
    let app = spawn_app().await;
    let request = InboundRequest {
        duplicate: true,
        ..InboundRequest::text(ANNA, "Bitte rufen Sie mich zurück.")
    };
    let receipt = app.sim.deliver_inbound(request).await.unwrap();
    assert_eq!(receipt.deliveries.len(), 2);
    assert!(receipt.deliveries[1].duplicate);
    assert_eq!(receipt.deliveries[0].body, receipt.deliveries[1].body);
    for delivery in &receipt.deliveries {
        assert_eq!(delivery.http_status, Some(200));
    }
    let counts = app.counts().await;
    assert_eq!((counts.raw_events, counts.messages), (1, 1));
    let metrics = app.metrics().await;
    assert!(metrics.contains(
        r#"resonanz_webhook_deliveries_total{channel="whatsapp",outcome="duplicate"} 1"#
    ));
    assert!(
        metrics.contains(
            r#"resonanz_webhook_deliveries_total{channel="whatsapp",outcome="stored"} 1"#
        )
    );
    assert!(metrics.contains("resonanz_webhook_backlog 0"), "{metrics}");
}

/// Our WhatsApp message as the Business app would echo it (coexistence), so
/// the store knows the outbound message before its statuses arrive.
fn smb_echo(wamid: &str, to: &str, text: &str, timestamp: i64) -> Vec<u8> {
    resonanz_sim::wire::meta_json(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "smb_message_echoes", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "4930123456789", "phone_number_id": "106540352242922"},
            "message_echoes": [{"from": "4930123456789", "to": to, "id": wamid,
                "timestamp": timestamp.to_string(), "type": "text", "text": {"body": text}}],
        }}]}],
    }))
}

#[tokio::test]
async fn out_of_order_and_duplicated_statuses_never_move_a_read_message_back() {
    let app = spawn_app().await;
    deliver(&app, InboundRequest::text(ANNA, "Wie ist der Stand?")).await;
    app.sim.set_tunables(Tunables {
        out_of_order_statuses: true,
        duplicate_statuses: true,
        status_delay_ms: 30,
        ..fast_tunables()
    });
    let sent = app
        .graph_client()
        .send_whatsapp(
            "106540352242922",
            &resonanz_channels::outbound::WaMessage {
                to: resonanz_channels::outbound::WaRecipient::Phone(format!("+{ANNA}")),
                reply_to: None,
                callback_data: None,
                content: resonanz_channels::outbound::WaContent::Text {
                    body: "Ihr Schaden ist in Bearbeitung.".into(),
                    preview_url: false,
                },
            },
        )
        .await
        .expect("send accepted");
    let echo = app
        .post_signed(
            "whatsapp",
            smb_echo(
                &sent.id,
                ANNA,
                "Ihr Schaden ist in Bearbeitung.",
                app.sim.now(),
            ),
        )
        .await;
    assert_eq!(echo.status(), 200);
    app.settle().await;

    let statuses: Vec<_> = app
        .sim
        .webhooks()
        .into_iter()
        .filter(|r| r.kind == resonanz_sim::WebhookKind::Status)
        .collect();
    let order: Vec<&str> = statuses
        .iter()
        .filter(|r| !r.duplicate)
        .map(|r| {
            ["\"sent\"", "\"read\"", "\"delivered\""]
                .into_iter()
                .find(|s| r.body.contains(s))
                .unwrap()
        })
        .collect();
    assert_eq!(order, ["\"sent\"", "\"read\"", "\"delivered\""]);
    assert_eq!(statuses.len(), 6, "each status twice");
    assert!(statuses.iter().all(|r| r.http_status == Some(200)));

    let m = app.message("whatsapp", &sent.id).await;
    assert_eq!(m.direction, "out");
    assert_eq!(m.delivery, DeliveryState::Read);
    let receipts = app
        .store
        .message_statuses("whatsapp", &sent.id)
        .await
        .unwrap();
    assert_eq!(receipts.len(), 3, "duplicates stored once: {receipts:?}");
    // Six status POSTs plus one inbound and the echo, each stored once.
    assert_eq!(app.counts().await.raw_events, 1 + 1 + 3);
}

#[tokio::test]
async fn a_forged_or_missing_signature_is_refused_with_nothing_stored_but_counted() {
    let app = spawn_app().await;
    deliver(&app, InboundRequest::text(ANNA, "Erste, echte Nachricht")).await;
    let before = app.counts().await;

    app.sim.set_tunables(Tunables {
        signature: SignatureMode::Wrong,
        ..fast_tunables()
    });
    let receipt = app
        .sim
        .deliver_inbound(InboundRequest::text(ANNA, "Gefälscht"))
        .await
        .unwrap();
    assert_eq!(receipt.deliveries[0].http_status, Some(401));

    app.sim.set_tunables(Tunables {
        signature: SignatureMode::Missing,
        ..fast_tunables()
    });
    let receipt = app
        .sim
        .deliver_inbound(InboundRequest::text(ANNA, "Unsigniert"))
        .await
        .unwrap();
    assert_eq!(receipt.deliveries[0].http_status, Some(401));

    // Signed with the verify token instead of the app secret.
    let body = resonanz_sim::wire::meta_json(&json!({"object": "page", "entry": []}));
    let wrong_key = resonanz_sim::wire::signature_header(VERIFY_TOKEN, &body);
    let response = app.post_webhook("messenger", body, Some(wrong_key)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    assert_eq!(app.counts().await, before);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            r#"resonanz_webhook_deliveries_total{channel="whatsapp",outcome="bad_signature"} 2"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(
        r#"resonanz_webhook_deliveries_total{channel="messenger",outcome="bad_signature"} 1"#
    ));
}

#[tokio::test]
async fn malformed_json_with_a_valid_signature_is_a_400_and_nothing_is_stored() {
    let app = spawn_app().await;
    for body in [
        &b"{\"object\":\"whatsapp_business_account\",\"entry\":["[..],
        b"not json at all",
        b"{\"object\":\"page\",\"entry\":[]}",
    ] {
        let response = app.post_signed("whatsapp", body.to_vec()).await;
        assert_eq!(
            response.status(),
            400,
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(app.counts().await.raw_events, 0);
    assert!(app.metrics().await.contains(
        r#"resonanz_webhook_deliveries_total{channel="whatsapp",outcome="malformed"} 3"#
    ));
}

#[tokio::test]
async fn a_body_over_3_mb_is_a_413_and_nothing_is_stored() {
    let app = spawn_app().await;
    let filler = "x".repeat(3 * 1024 * 1024);
    let body = resonanz_sim::wire::meta_json(&json!({
        "object": "whatsapp_business_account", "entry": [], "filler": filler,
    }));
    assert!(body.len() > 3 * 1024 * 1024);
    let response = app.post_signed("whatsapp", body).await;
    assert_eq!(response.status(), 413);
    assert_eq!(app.counts().await.raw_events, 0);

    // Just under the limit is accepted.
    let filler = "x".repeat(3 * 1024 * 1024 - 200);
    let body = resonanz_sim::wire::meta_json(&json!({
        "object": "whatsapp_business_account", "entry": [], "filler": filler,
    }));
    assert!(body.len() <= 3 * 1024 * 1024);
    assert_eq!(app.post_signed("whatsapp", body).await.status(), 200);
    assert_eq!(app.counts().await.raw_events, 1);
}

#[tokio::test]
async fn a_bsuid_only_user_becomes_a_contact_with_a_bsuid_identity() {
    let app = spawn_app().await;
    let request = InboundRequest {
        user_id: Some("DE.1234567890123456".into()),
        name: Some("anna.k".into()),
        ..InboundRequest::text("", "Ich habe jetzt einen Benutzernamen.")
    };
    let (id, _) = deliver(&app, request).await;
    app.message("whatsapp", &id).await;
    let contact = app
        .store
        .contact_by_identity(IdentityKind::WhatsAppBsuid, "DE.1234567890123456")
        .await
        .unwrap()
        .expect("contact keyed by the BSUID");
    assert_eq!(contact.display_name.as_deref(), Some("anna.k"));
    assert_eq!(contact.identities.len(), 1, "no empty wa_id identity");
    assert_eq!(contact.identities[0].kind, IdentityKind::WhatsAppBsuid);
}

#[tokio::test]
async fn a_user_id_update_keeps_the_customer_and_the_thread_even_after_a_replay() {
    let app = spawn_app().await;
    let as_user = |user_id: &str, text: &str| InboundRequest {
        user_id: Some(user_id.into()),
        ..InboundRequest::text("", text)
    };
    let (first, _) = deliver(
        &app,
        as_user("DE.10101010101010101010", "Hallo, Frage zur Kfz-Police."),
    )
    .await;
    // Meta's `user_id_update` webhook, signed like every other delivery.
    let update = resonanz_sim::wire::meta_json(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "user_id_update", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "4930123456789", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "anna.k"}, "wa_id": ""}],
            "user_id_update": [{"wa_id": "", "detail": "User id for anna.k has been updated.",
                "user_id": {"previous": "DE.10101010101010101010", "current": "DE.13491208655302741918"},
                "timestamp": "1750016900"}],
        }}]}],
    }));
    assert_eq!(app.post_signed("whatsapp", update).await.status(), 200);
    let (second, _) = deliver(
        &app,
        as_user("DE.13491208655302741918", "Sind Sie noch da?"),
    )
    .await;

    let contact = app
        .store
        .contact_by_identity(IdentityKind::WhatsAppBsuid, "DE.13491208655302741918")
        .await
        .unwrap()
        .expect("the new user id belongs to the known customer");
    assert_eq!(contact.identities.len(), 1, "{contact:?}");
    let first = app.message("whatsapp", &first).await;
    let second = app.message("whatsapp", &second).await;
    assert_eq!(first.conversation_id, second.conversation_id);

    let before = app.store.snapshot().await.unwrap();
    resonanz_server::Pipeline::shipped()
        .replay(&app.store, 2)
        .await
        .unwrap();
    assert_eq!(before, app.store.snapshot().await.unwrap());
}

/// Everything in the acceptance journal's segments beside the test database.
fn journal_bytes(app: &TestApp) -> Vec<u8> {
    let dir = app.dir.path().join("resonanz.db.accepted");
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the server keeps an acceptance journal") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "log") {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    bytes
}

#[tokio::test]
async fn the_raw_event_is_durable_before_the_ack() {
    let app = spawn_app().await;
    for n in 0..5 {
        let body = resonanz_sim::wire::meta_json(&json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "4930123456789", "phone_number_id": "106540352242922"},
                "contacts": [{"profile": {"name": "Anna Keller"}, "wa_id": ANNA}],
                "messages": [{"from": ANNA, "id": format!("wamid.durable{n}"),
                    "timestamp": "1750016800", "type": "text", "text": {"body": "Schaden"}}],
            }}]}],
        }));
        let response = app.post_signed("whatsapp", body.clone()).await;
        assert_eq!(response.status(), 200);
        // No waiting: the body must be on disk, verbatim, when the 200 is.
        let journal = journal_bytes(&app);
        assert!(
            journal.windows(body.len()).any(|window| window == body),
            "delivery {n} is in the acceptance journal"
        );
        // Moments later it is a row of the raw log.
        app.store.flush().await.unwrap();
        let raws = app.store.raw_events_after(0, 100).await.unwrap();
        assert_eq!(raws.len(), n + 1);
        assert_eq!(raws[n].payload, body, "stored verbatim");
    }
    // The same through the simulator.
    let receipt = app
        .sim
        .deliver_inbound(InboundRequest::text(ANNA, "Noch eine"))
        .await
        .unwrap();
    let body = receipt.deliveries[0].body.as_bytes();
    assert!(journal_bytes(&app).windows(body.len()).any(|w| w == body));
    app.store.flush().await.unwrap();
    let raws = app.store.raw_events_after(5, 10).await.unwrap();
    assert_eq!(raws.len(), 1);
    assert_eq!(raws[0].payload, body);
}

#[tokio::test]
async fn replay_after_a_mixed_session_rebuilds_an_identical_snapshot() {
    let app = spawn_app().await;
    let (text, _) = deliver(
        &app,
        InboundRequest::text(ANNA, "Mein Keller steht unter Wasser!"),
    )
    .await;
    deliver(
        &app,
        wa(InboundContent::Document {
            filename: "gutachten.pdf".into(),
            caption: None,
        }),
    )
    .await;
    deliver(
        &app,
        wa(InboundContent::Reaction {
            message_id: text,
            emoji: Some("🙏".into()),
        }),
    )
    .await;
    deliver(
        &app,
        wa(InboundContent::Future {
            type_name: "hologram".into(),
            payload: json!({"x": 1}),
        }),
    )
    .await;
    app.sim
        .deliver_batch(
            vec![
                InboundRequest::text(JUERGEN, "Kündigung zum Monatsende"),
                InboundRequest::text(ANNA, "Danke!"),
            ],
            BatchLayout::Entries,
        )
        .await
        .unwrap();
    deliver(
        &app,
        on(
            Channel::Messenger,
            ANNA_PSID,
            InboundContent::Text {
                text: "Sind Sie erreichbar?".into(),
            },
        ),
    )
    .await;
    app.graph_client()
        .send_meta(
            resonanz_core::Channel::Messenger,
            &app.sim.config().page_id,
            &resonanz_channels::outbound::MetaMessage {
                recipient_id: ANNA_PSID.into(),
                messaging_type: resonanz_channels::outbound::MessagingType::Response,
                content: resonanz_channels::outbound::MetaContent::Text("Ja.".into()),
            },
        )
        .await
        .unwrap();
    app.settle().await;
    app.sim.deliver_value_error(131000).await;
    app.post_signed("whatsapp", b"{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":\"1\",\"changes\":[{\"field\":\"account_update\",\"value\":{\"event\":\"VERIFIED_ACCOUNT\"}}]}]}".to_vec())
        .await;

    let counts = app.counts().await;
    let before = app.store.snapshot().await.unwrap();
    assert_eq!((counts.messages, counts.unrecognized), (7, 2), "{counts:?}");
    let replayed = resonanz_server::Pipeline::shipped()
        .replay(&app.store, 3)
        .await
        .unwrap();
    assert_eq!(replayed as i64, counts.raw_events);
    let after = app.store.snapshot().await.unwrap();
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a);
    }
}

#[tokio::test]
async fn every_stored_text_carries_its_analysis() {
    let app = spawn_app().await;
    let (angry, _) = deliver(
        &app,
        InboundRequest::text(
            ANNA,
            "Das ist eine Frechheit! Seit drei Wochen keine Antwort zu meinem Wasserschaden, ich kündige.",
        ),
    )
    .await;
    let (caption, _) = deliver(
        &app,
        wa(InboundContent::Image {
            caption: Some("Hier das Foto vom Unfall mit meinem Auto".into()),
        }),
    )
    .await;
    let (ig, _) = deliver(
        &app,
        on(
            Channel::Instagram,
            ANNA_IGSID,
            InboundContent::Text {
                text: "Vielen Dank für die schnelle Hilfe, super Service!".into(),
            },
        ),
    )
    .await;
    let angry = app
        .message("whatsapp", &angry)
        .await
        .analysis
        .expect("analysed");
    assert_eq!(angry.language.as_deref(), Some("de"));
    assert_eq!(
        angry.sentiment,
        resonanz_core::analysis::Sentiment::Negative
    );
    assert!(!angry.topics.is_empty(), "{angry:?}");
    let caption = app.message("whatsapp", &caption).await.analysis;
    assert!(caption.is_some(), "captions are analysed");
    let ig = app
        .message("instagram", &ig)
        .await
        .analysis
        .expect("analysed");
    assert_eq!(ig.sentiment, resonanz_core::analysis::Sentiment::Positive);
}

#[tokio::test]
async fn raw_events_acknowledged_but_not_yet_projected_are_projected_on_the_next_start() {
    let app = spawn_app().await;
    deliver(
        &app,
        InboundRequest::text(ANNA, "Mein Auto wurde angefahren."),
    )
    .await;
    deliver(&app, InboundRequest::text(ANNA, "Brauchen Sie Fotos?")).await;
    let counts = app.counts().await;
    assert_eq!(counts.messages, 2, "{counts:?}");
    let before = app.store.snapshot().await.unwrap();

    // What a crash between the two commits leaves: raw events acknowledged,
    // no projections yet.
    app.store.reset_projections().await.unwrap();
    assert_eq!(app.store.counts().await.unwrap().messages, 0);
    assert_eq!(app.store.unprojected_raw_events(10).await.unwrap().len(), 2);

    let mut settings = app.settings.clone();
    settings.listen = "127.0.0.1:0".into();
    let _restarted = resonanz_server::Application::build_with_store(
        settings,
        resonanz_server::Pipeline::shipped(),
        app.store.clone(),
        std::sync::Arc::new(resonanz_core::SystemClock),
    )
    .await
    .expect("the server starts");
    assert!(
        app.store
            .unprojected_raw_events(10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(app.store.snapshot().await.unwrap(), before);
}
