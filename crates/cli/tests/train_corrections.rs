//! `resonanz train sentiment --team-corrections`: what agents corrected in
//! the inbox becomes labelled data the model trains on.

mod support;

use resonanz_core::*;
use resonanz_store::{Actor, Correction, ProjectedItem, Projection, Store, StoreOptions};
use std::process::Command;

const T0: Timestamp = Timestamp::from_secs(1_765_000_000);

async fn customer_message(store: &Store, key: &str, text: &str) -> (String, String) {
    let inbound = Inbound::Message(InboundMessage {
        channel: Channel::WhatsApp,
        account: "106540352242922".into(),
        direction: Direction::Inbound,
        customer: vec![Identity::new(IdentityKind::WhatsApp, "491701234567")],
        profile_name: Some("Anna Schmidt".into()),
        external_id: format!("wamid.{key}"),
        kind: MessageKind::Text,
        text: Some(text.into()),
        attachments: vec![],
        location: None,
        reply_to: None,
        sent_at: T0,
        raw: serde_json::json!({"id": key}),
    });
    store
        .ingest(vec![Projection {
            raw: RawEvent {
                id: None,
                source: Source::WhatsApp,
                dedupe_key: key.into(),
                received_at: T0,
                verification: Verification::SignatureValid,
                payload: key.as_bytes().to_vec(),
            },
            items: vec![ProjectedItem {
                inbound,
                analysis: None,
            }],
            parse_error: None,
        }])
        .await
        .unwrap();
    let message = store
        .message_by_external_id("whatsapp", &format!("wamid.{key}"))
        .await
        .unwrap()
        .unwrap();
    (message.id, message.conversation_id)
}

#[tokio::test]
async fn the_teams_corrections_are_trained_on_beside_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let store = Store::open(&url, StoreOptions::default()).await.unwrap();
    let texts = [
        (
            "a",
            "Danke für die Erinnerung an die Frist, hätte ich fast vergessen.",
            "positive",
        ),
        (
            "b",
            "Na toll, schon wieder keine Rückmeldung zur Regulierung.",
            "negative",
        ),
    ];
    for (key, text, label) in texts {
        let (message, conversation) = customer_message(&store, key, text).await;
        let correction = Correction {
            message_id: &message,
            conversation_id: &conversation,
            field: "sentiment",
            old_value: Some("neutral"),
            new_value: label,
        };
        let actor = Actor {
            agent_id: "ag_1",
            agent_name: "sachbearbeiterin",
            now: T0,
        };
        store.correct_analysis(&correction, actor).await.unwrap();
    }
    store.close().await;

    let model = dir.path().join("sentiment.bin");
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../analysis/training/insurance_messages.tsv"
    );
    let out = support::succeeds(
        Command::new(env!("CARGO_BIN_EXE_resonanz"))
            .args([
                "train",
                "sentiment",
                "--data",
                data,
                "--bits",
                "14",
                "--out",
            ])
            .arg(&model)
            .arg("--team-corrections")
            .env("RESONANZ_DATABASE_URL", &url),
    );
    assert!(
        out.contains("team corrections: 2 labelled messages from the inbox"),
        "{out}"
    );
    assert!(
        out.contains("domain"),
        "the corrections were read as in-domain data: {out}"
    );
    assert!(
        std::fs::metadata(&model).unwrap().len() > 0,
        "a model was written"
    );
}
