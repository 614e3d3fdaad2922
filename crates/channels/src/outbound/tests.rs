use super::*;
use crate::test_server::{MockGraph, json};
use serde_json::json;

const PNID: &str = "106540352242922";

fn client(base: &str) -> GraphClient {
    GraphClient::new(GraphConfig::new(
        base,
        "v23.0",
        Secret::new("EAAG-test-token"),
    ))
    .unwrap()
}

fn accepted() -> (u16, &'static str, Vec<u8>) {
    json(
        200,
        json!({"messaging_product":"whatsapp",
        "contacts":[{"input":"+491701234567","wa_id":"491701234567"}],
        "messages":[{"id":"wamid.SENT1","message_status":"accepted"}]}),
    )
}

fn to_anna(content: WaContent) -> WaMessage {
    WaMessage {
        to: WaRecipient::Phone("+49 170 1234567".into()),
        reply_to: None,
        callback_data: None,
        content,
    }
}

#[tokio::test]
async fn text_send_posts_exact_json_with_bearer_and_parses_the_wamid() {
    let mock = MockGraph::start(|_, _| accepted()).await;
    let mut msg = to_anna(WaContent::Text {
        body: "Ihre Police ist unterwegs.".into(),
        preview_url: false,
    });
    msg.reply_to = Some("wamid.IN1".into());
    msg.callback_data = Some("outbox-42".into());
    let sent = client(&mock.base_url)
        .send_whatsapp(PNID, &msg)
        .await
        .unwrap();
    assert_eq!(sent.id, "wamid.SENT1");
    assert_eq!(sent.recipient.as_deref(), Some("491701234567"));
    assert_eq!(sent.message_status.as_deref(), Some("accepted"));

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, format!("/v23.0/{PNID}/messages"));
    assert_eq!(
        reqs[0].authorization.as_deref(),
        Some("Bearer EAAG-test-token")
    );
    assert_eq!(
        reqs[0].json(),
        json!({
        "messaging_product":"whatsapp","recipient_type":"individual","to":"+491701234567",
        "type":"text","text":{"body":"Ihre Police ist unterwegs.","preview_url":false},
        "context":{"message_id":"wamid.IN1"},"biz_opaque_callback_data":"outbox-42"})
    );
}

#[test]
fn audio_and_video_by_media_id_match_meta_shapes() {
    let audio = to_anna(WaContent::Audio {
        media: MediaRef::Id("1037543291543636".into()),
    });
    let video = to_anna(WaContent::Video {
        media: MediaRef::Id("1037543291543637".into()),
        caption: Some("So melden Sie einen Glasschaden".into()),
    });
    assert_eq!(audio.to_json()["type"], "audio");
    assert_eq!(audio.to_json()["audio"], json!({"id":"1037543291543636"}));
    assert_eq!(
        video.to_json()["video"],
        json!({"id":"1037543291543637","caption":"So melden Sie einen Glasschaden"})
    );
    let empty = to_anna(WaContent::Audio {
        media: MediaRef::Id(" ".into()),
    });
    assert!(empty.validate().is_err());
}

#[test]
fn a_sticker_is_sent_by_id_or_link_without_a_caption() {
    let sticker = to_anna(WaContent::Sticker {
        media: MediaRef::Id("1037543291543638".into()),
    });
    assert!(sticker.validate().is_ok());
    assert_eq!(
        sticker.to_json(),
        json!({"messaging_product":"whatsapp","recipient_type":"individual","to":"+491701234567",
               "type":"sticker","sticker":{"id":"1037543291543638"}})
    );
    let linked = to_anna(WaContent::Sticker {
        media: MediaRef::Link("https://cdn.example/daumen.webp".into()),
    });
    assert_eq!(
        linked.to_json()["sticker"],
        json!({"link":"https://cdn.example/daumen.webp"})
    );
    let empty = to_anna(WaContent::Sticker {
        media: MediaRef::Id(String::new()),
    });
    assert_eq!(empty.validate(), Err(ValidationError::Empty("media")));
}

#[test]
fn a_template_header_takes_a_video_by_id() {
    let template = to_anna(WaContent::Template(TemplateMessage {
        name: "schadenvideo".into(),
        language: "de".into(),
        header: Some(HeaderParam::Video(MediaRef::Id("77".into()))),
        body: vec![],
        buttons: vec![],
    }));
    assert_eq!(
        template.to_json()["template"]["components"],
        json!([{"type":"header","parameters":[{"type":"video","video":{"id":"77"}}]}])
    );
}

#[tokio::test]
async fn template_document_location_reaction_and_interactive_bodies_match_meta_shapes() {
    let mock = MockGraph::start(|_, _| accepted()).await;
    let c = client(&mock.base_url);
    let template = to_anna(WaContent::Template(TemplateMessage {
        name: "frist_erinnerung".into(),
        language: "de".into(),
        header: Some(HeaderParam::Document {
            media: MediaRef::Link("https://docs.example/police.pdf".into()),
            filename: Some("Police.pdf".into()),
        }),
        body: vec![
            BodyParam {
                name: None,
                value: BodyValue::Text("Anna".into()),
            },
            BodyParam {
                name: None,
                value: BodyValue::Currency {
                    fallback: "12,90 €".into(),
                    code: "EUR".into(),
                    amount_1000: 12900,
                },
            },
        ],
        buttons: vec![ButtonParam {
            index: 0,
            kind: ButtonParamKind::QuickReply {
                payload: "RUECKRUF".into(),
            },
        }],
    }));
    let document = to_anna(WaContent::Document {
        media: MediaRef::Id("4490709327384033".into()),
        caption: Some("Ihre Beitragsrechnung".into()),
        filename: Some("Rechnung_2025-06.pdf".into()),
    });
    let location = to_anna(WaContent::Location {
        latitude: 52.52,
        longitude: 13.405,
        name: Some("Werkstatt".into()),
        address: None,
    });
    let reaction = to_anna(WaContent::Reaction {
        message_id: "wamid.IN1".into(),
        emoji: "\u{1F44D}".into(),
    });
    let buttons = to_anna(WaContent::Buttons(ReplyButtons {
        header: None,
        body: "Möchten Sie einen Schaden melden?".into(),
        footer: Some("Ihre Versicherung".into()),
        buttons: vec![("yes".into(), "Ja".into()), ("no".into(), "Nein".into())],
    }));
    let list = to_anna(WaContent::List(ListMessage {
        header: Some("Schadenart".into()),
        body: "Bitte wählen Sie".into(),
        footer: None,
        button: "Auswahl".into(),
        sections: vec![ListSection {
            title: None,
            rows: vec![ListRow {
                id: "kfz".into(),
                title: "Kfz".into(),
                description: Some("Unfall, Glas".into()),
            }],
        }],
    }));
    for m in [&template, &document, &location, &reaction, &buttons, &list] {
        c.send_whatsapp(PNID, m).await.unwrap();
    }
    let bodies: Vec<Value> = mock.requests().iter().map(|r| r.json()).collect();
    assert_eq!(
        bodies[0]["template"],
        json!({
        "name":"frist_erinnerung","language":{"code":"de"},"components":[
          {"type":"header","parameters":[{"type":"document","document":{"link":"https://docs.example/police.pdf","filename":"Police.pdf"}}]},
          {"type":"body","parameters":[{"type":"text","text":"Anna"},
             {"type":"currency","currency":{"fallback_value":"12,90 €","code":"EUR","amount_1000":12900}}]},
          {"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"RUECKRUF"}]}]})
    );
    assert_eq!(
        bodies[1]["document"],
        json!({"id":"4490709327384033","caption":"Ihre Beitragsrechnung","filename":"Rechnung_2025-06.pdf"})
    );
    assert_eq!(
        bodies[2]["location"],
        json!({"latitude":52.52,"longitude":13.405,"name":"Werkstatt"})
    );
    assert_eq!(
        bodies[3]["reaction"],
        json!({"message_id":"wamid.IN1","emoji":"👍"})
    );
    assert_eq!(bodies[4]["type"], "interactive");
    assert_eq!(
        bodies[4]["interactive"],
        json!({"type":"button","body":{"text":"Möchten Sie einen Schaden melden?"},
        "footer":{"text":"Ihre Versicherung"},
        "action":{"buttons":[{"type":"reply","reply":{"id":"yes","title":"Ja"}},{"type":"reply","reply":{"id":"no","title":"Nein"}}]}})
    );
    assert_eq!(
        bodies[5]["interactive"]["action"]["sections"][0]["rows"][0]["description"],
        "Unfall, Glas"
    );
    assert_eq!(
        bodies[5]["interactive"]["header"],
        json!({"type":"text","text":"Schadenart"})
    );
}

#[tokio::test]
async fn a_400_with_131047_is_permanent_and_explained() {
    let mock = MockGraph::start(|_, _| json(400, json!({"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,
        "error_data":{"messaging_product":"whatsapp","details":"Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
        "fbtrace_id":"AbC123"}}))).await;
    let err = client(&mock.base_url)
        .send_whatsapp(
            PNID,
            &to_anna(WaContent::Text {
                body: "Hallo".into(),
                preview_url: false,
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, SendErrorKind::Api);
    assert_eq!(err.http_status, Some(400));
    assert_eq!(err.code, Some(131047));
    assert!(err.details.as_deref().unwrap().contains("24 hours"));
    assert_eq!(err.fbtrace_id.as_deref(), Some("AbC123"));
    assert_eq!(err.retry, RetryAdvice::Permanent);
    assert!(err.explain_de().contains("24-Stunden-Fenster"));
}

#[tokio::test]
async fn a_429_with_130429_is_retryable_and_131056_waits_per_recipient() {
    let mock = MockGraph::start(|req, _| {
        let code = if req.json()["text"]["body"] == "a" {
            130429
        } else {
            131056
        };
        json(
            429,
            json!({"error":{"message":"rate","code":code,"error_data":{"details":"slow down"}}}),
        )
    })
    .await;
    let c = client(&mock.base_url);
    let a = c
        .send_whatsapp(
            PNID,
            &to_anna(WaContent::Text {
                body: "a".into(),
                preview_url: false,
            }),
        )
        .await
        .unwrap_err();
    assert_eq!((a.code, a.retry), (Some(130429), RetryAdvice::Retry));
    let b = c
        .send_whatsapp(
            PNID,
            &to_anna(WaContent::Text {
                body: "b".into(),
                preview_url: false,
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (b.code, b.retry),
        (Some(131056), RetryAdvice::RetryRecipientLater)
    );
}

#[tokio::test]
async fn server_errors_and_unreadable_bodies_are_classified() {
    let mock = MockGraph::start(|req, _| match req.path.as_str() {
        p if p.ends_with("/P5/messages") => {
            (502, "text/html", b"<html>Bad Gateway</html>".to_vec())
        }
        _ => json(200, json!({"weird": true})),
    })
    .await;
    let c = client(&mock.base_url);
    let msg = to_anna(WaContent::Text {
        body: "x".into(),
        preview_url: false,
    });
    let e = c.send_whatsapp("P5", &msg).await.unwrap_err();
    assert_eq!(
        (e.http_status, e.code, e.retry),
        (Some(502), None, RetryAdvice::Retry)
    );
    assert!(e.message.contains("Bad Gateway"));
    // 200 without an id: we cannot tell whether it went out, so never resend blindly.
    let e = c.send_whatsapp("P6", &msg).await.unwrap_err();
    assert_eq!(e.retry, RetryAdvice::Permanent);
}

#[tokio::test]
async fn network_failure_is_retryable_and_names_no_token() {
    // A port nobody listens on: bind, learn the port, drop.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = client(&format!("http://127.0.0.1:{port}"));
    let e = c
        .send_whatsapp(
            PNID,
            &to_anna(WaContent::Text {
                body: "x".into(),
                preview_url: false,
            }),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.retry),
        (SendErrorKind::Network, RetryAdvice::Retry)
    );
    assert!(!e.to_string().contains("EAAG"));
    assert!(
        !format!("{c:?}").contains("EAAG"),
        "token leaked into Debug"
    );
}

#[tokio::test]
async fn invalid_drafts_are_refused_before_any_request() {
    let mock = MockGraph::start(|_, _| accepted()).await;
    let c = client(&mock.base_url);
    let four_buttons = to_anna(WaContent::Buttons(ReplyButtons {
        header: None,
        body: "?".into(),
        footer: None,
        buttons: (0..4).map(|i| (format!("b{i}"), format!("B{i}"))).collect(),
    }));
    let long_title = to_anna(WaContent::Buttons(ReplyButtons {
        header: None,
        body: "?".into(),
        footer: None,
        buttons: vec![("x".into(), "Dieser Titel ist viel zu lang".into())],
    }));
    let eleven_rows = to_anna(WaContent::List(ListMessage {
        header: None,
        body: "b".into(),
        footer: None,
        button: "Wählen".into(),
        sections: vec![
            ListSection {
                title: Some("A".into()),
                rows: (0..6)
                    .map(|i| ListRow {
                        id: format!("a{i}"),
                        title: "t".into(),
                        description: None,
                    })
                    .collect(),
            },
            ListSection {
                title: Some("B".into()),
                rows: (0..5)
                    .map(|i| ListRow {
                        id: format!("b{i}"),
                        title: "t".into(),
                        description: None,
                    })
                    .collect(),
            },
        ],
    }));
    let long_text = to_anna(WaContent::Text {
        body: "x".repeat(4097),
        preview_url: false,
    });
    let bad_number = WaMessage {
        to: WaRecipient::Phone("Anna".into()),
        ..to_anna(WaContent::Text {
            body: "x".into(),
            preview_url: false,
        })
    };
    for m in [four_buttons, long_title, eleven_rows, long_text, bad_number] {
        let e = c.send_whatsapp(PNID, &m).await.unwrap_err();
        assert_eq!(e.kind, SendErrorKind::Invalid, "{e}");
        assert_eq!(e.retry, RetryAdvice::Permanent);
    }
    assert!(mock.requests().is_empty());
}

#[test]
fn recipients_get_plus_and_digits_only() {
    assert_eq!(
        whatsapp::recipient("+49 170 1234567").unwrap(),
        "+491701234567"
    );
    assert_eq!(
        whatsapp::recipient("0049-170-1234567").unwrap(),
        "+491701234567"
    );
    assert!(whatsapp::recipient("123").is_err());
}

#[test]
fn user_ids_are_country_dot_alphanumerics_with_an_optional_parent_marker() {
    for good in [
        "US.13491208655302741918",
        "DE.ENT.11815799212886844830",
        "DE.a1B2",
    ] {
        assert_eq!(whatsapp::user_id(good), Ok(good));
    }
    for bad in [
        "13491208655302741918",
        "de.1349",
        "DEU.1349",
        "DE.",
        "DE.13-49",
        "DE.ENT.",
        &format!("DE.{}", "1".repeat(129)),
    ] {
        assert!(whatsapp::user_id(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn a_username_only_customer_is_addressed_by_recipient_never_by_to() {
    let mock = MockGraph::start(|_, _| {
        json(
            200,
            json!({"messaging_product":"whatsapp",
                "contacts":[{"input":"DE.13491208655302741918","user_id":"DE.13491208655302741918"}],
                "messages":[{"id":"wamid.SENT2"}]}),
        )
    })
    .await;
    let m = WaMessage {
        to: WaRecipient::UserId("DE.13491208655302741918".into()),
        ..to_anna(WaContent::Text {
            body: "Guten Tag".into(),
            preview_url: false,
        })
    };
    let sent = client(&mock.base_url)
        .send_whatsapp(PNID, &m)
        .await
        .unwrap();
    assert_eq!(sent.recipient.as_deref(), Some("DE.13491208655302741918"));
    let body = mock.requests()[0].json();
    assert_eq!(body["recipient"], "DE.13491208655302741918");
    assert_eq!(body["recipient_type"], "individual");
    assert!(body.get("to").is_none(), "{body}");
}

#[tokio::test]
async fn mark_read_sends_status_read() {
    let mock = MockGraph::start(|_, _| json(200, json!({"success": true}))).await;
    client(&mock.base_url)
        .mark_read(PNID, "wamid.IN1")
        .await
        .unwrap();
    assert_eq!(
        mock.requests()[0].json(),
        json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN1"})
    );
}

#[tokio::test]
async fn messenger_response_and_instagram_human_agent_sends() {
    let mock = MockGraph::start(|req, _| {
        let rid = req.json()["recipient"]["id"].clone();
        json(200, json!({"recipient_id": rid, "message_id": "m_SENT"}))
    })
    .await;
    let c = client(&mock.base_url);
    let fb = MetaMessage {
        recipient_id: "PSID1".into(),
        messaging_type: MessagingType::Response,
        content: MetaContent::Text("Gern geschehen.".into()),
    };
    let sent = c.send_meta(Channel::Messenger, "PAGE1", &fb).await.unwrap();
    assert_eq!(sent.id, "m_SENT");
    assert_eq!(sent.recipient.as_deref(), Some("PSID1"));
    let ig = MetaMessage {
        recipient_id: "IGSID1".into(),
        messaging_type: MessagingType::from_delivery(resonanz_core::rules::Delivery::HumanAgentTag)
            .unwrap(),
        content: MetaContent::Text("Wir haben Ihren Fall geprüft.".into()),
    };
    c.send_meta(Channel::Instagram, "IG1", &ig).await.unwrap();
    let reqs = mock.requests();
    assert_eq!(reqs[0].path, "/v23.0/PAGE1/messages");
    assert_eq!(
        reqs[0].json(),
        json!({"recipient":{"id":"PSID1"},"messaging_type":"RESPONSE","message":{"text":"Gern geschehen."}})
    );
    assert_eq!(
        reqs[1].json(),
        json!({"recipient":{"id":"IGSID1"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT","message":{"text":"Wir haben Ihren Fall geprüft."}})
    );

    // Instagram counts bytes: 600 umlauts are 1200 bytes.
    let too_long = MetaMessage {
        content: MetaContent::Text("ä".repeat(600)),
        ..ig
    };
    assert_eq!(
        c.send_meta(Channel::Instagram, "IG1", &too_long)
            .await
            .unwrap_err()
            .kind,
        SendErrorKind::Invalid
    );
    assert!(
        c.send_meta(Channel::Messenger, "PAGE1", &too_long)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn messenger_551_is_permanent() {
    let mock = MockGraph::start(|_, _| json(400, json!({"error":{"message":"(#551) This person isn't available right now.","type":"OAuthException","code":551,"error_subcode":1545041}}))).await;
    let m = MetaMessage {
        recipient_id: "PSID1".into(),
        messaging_type: MessagingType::Response,
        content: MetaContent::Text("x".into()),
    };
    let e = client(&mock.base_url)
        .send_meta(Channel::Messenger, "PAGE1", &m)
        .await
        .unwrap_err();
    assert_eq!((e.code, e.retry), (Some(551), RetryAdvice::Permanent));
    assert!(e.explain_en().contains("isn't available"));
}
