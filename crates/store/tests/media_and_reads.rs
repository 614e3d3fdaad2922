//! Media download state and the inbox reads, on SQLite (temp file) and
//! PostgreSQL (a fresh schema on RESONANZ_TEST_PG_URL, default
//! postgres://postgres@127.0.0.1:5432/test).

use resonanz_core::*;
use resonanz_store::{MediaState, ProjectedItem, Projection, Store};

mod common;

fn message(external_id: &str, customer: Vec<Identity>, kind: MessageKind) -> Inbound {
    let attachments = match kind {
        MessageKind::Document => vec![Attachment {
            kind: "document".into(),
            media_ref: "622684793477189".into(),
            mime_type: Some("application/pdf".into()),
            filename: Some("polizeibericht.pdf".into()),
            caption: None,
            sha256: Some("V5OPpLD/gEG6Xjg0MbmQDLFgcKsL+j5LfY4ny/pZ4MY=".into()),
        }],
        _ => Vec::new(),
    };
    Inbound::Message(InboundMessage {
        channel: Channel::WhatsApp,
        account: "106540352242922".into(),
        direction: Direction::Inbound,
        customer,
        profile_name: Some("Anna Keller".into()),
        external_id: external_id.into(),
        kind,
        text: None,
        attachments,
        location: None,
        reply_to: None,
        sent_at: Timestamp::from_secs(1_750_016_800),
        raw: serde_json::json!({"id": external_id, "type": kind.as_str()}),
    })
}

fn projection(key: &str, items: Vec<Inbound>) -> Projection {
    Projection {
        raw: RawEvent::webhook(
            Source::WhatsApp,
            key.as_bytes().to_vec(),
            Timestamp::from_secs(1_750_016_801),
        ),
        items: items
            .into_iter()
            .map(|inbound| ProjectedItem {
                inbound,
                analysis: None,
            })
            .collect(),
        parse_error: None,
    }
}

async fn story(store: Store) {
    let anna = vec![
        Identity::new(IdentityKind::WhatsApp, "491701234567"),
        Identity::new(IdentityKind::WhatsAppBsuid, "DE.1"),
    ];
    let status = Inbound::Status(StatusUpdate {
        channel: Channel::WhatsApp,
        account: "106540352242922".into(),
        external_id: "wamid.OUT".into(),
        state: DeliveryState::Read,
        at: Timestamp::from_secs(1_750_016_900),
        raw: serde_json::json!({}),
    });
    let odd = Inbound::Unrecognized(Unrecognized {
        kind: "whatsapp:account_update".into(),
        raw: serde_json::json!({"event": "VERIFIED_ACCOUNT"}),
    });
    store
        .ingest(vec![projection(
            "one",
            vec![
                message("wamid.DOC", anna.clone(), MessageKind::Document),
                message("wamid.TXT", anna, MessageKind::Text),
                status,
                odd,
            ],
        )])
        .await
        .unwrap();

    // Reads.
    let contact = store
        .contact_by_identity(IdentityKind::WhatsAppBsuid, "DE.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.display_name.as_deref(), Some("Anna Keller"));
    assert_eq!(contact.identities.len(), 2);
    assert!(
        store
            .contact_by_identity(IdentityKind::WhatsApp, "0")
            .await
            .unwrap()
            .is_none()
    );
    let raw = store.message_raw("whatsapp", "wamid.DOC").await.unwrap();
    assert_eq!(raw.unwrap()["type"], "document");
    let statuses = store
        .message_statuses("whatsapp", "wamid.OUT")
        .await
        .unwrap();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].state, "read");
    let unrecognized = store.unrecognized(0, 10).await.unwrap();
    assert_eq!(unrecognized.len(), 1);
    assert_eq!(unrecognized[0].position, 3);
    assert_eq!(unrecognized[0].raw["event"], "VERIFIED_ACCOUNT");

    // Media: only the document's attachment becomes a download, once.
    let t0 = Timestamp::from_secs(1_750_020_000);
    assert_eq!(store.media_discover(t0, 10).await.unwrap(), 1);
    assert_eq!(store.media_discover(t0, 10).await.unwrap(), 0);
    let due = store.media_due(t0, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let job = &due[0];
    assert_eq!(
        (job.account.as_str(), job.kind.as_str()),
        ("106540352242922", "document")
    );
    assert_eq!(job.media_ref, "622684793477189");
    assert_eq!(job.attempts, 0);

    let later = Timestamp::from_secs(1_750_020_060);
    store
        .media_failed(job, "download failed: HTTP 503", Some(later), t0)
        .await
        .unwrap();
    assert!(
        store.media_due(t0, 10).await.unwrap().is_empty(),
        "not yet due"
    );
    let row = &store.media_of_message(&job.message_id).await.unwrap()[0];
    assert_eq!(row.state, MediaState::Retrying);
    assert_eq!(row.attempts, 1);
    assert_eq!(row.last_error.as_deref(), Some("download failed: HTTP 503"));

    let retry = store.media_due(later, 10).await.unwrap().remove(0);
    assert_eq!(retry.attempts, 1);
    store
        .media_stored(&retry, &"ab".repeat(32), 1234, "application/pdf", later)
        .await
        .unwrap();
    let row = &store.media_of_message(&job.message_id).await.unwrap()[0];
    assert_eq!(row.state, MediaState::Stored);
    assert_eq!((row.attempts, row.size), (2, Some(1234)));
    assert_eq!(row.last_error, None);
    assert!(store.media_due(later, 10).await.unwrap().is_empty());

    // A permanent failure is kept with its reason and never retried.
    store
        .ingest(vec![projection(
            "two",
            vec![message(
                "wamid.DOC2",
                vec![Identity::new(IdentityKind::WhatsApp, "491712345678")],
                MessageKind::Document,
            )],
        )])
        .await
        .unwrap();
    assert_eq!(store.media_discover(later, 10).await.unwrap(), 1);
    let job = store.media_due(later, 10).await.unwrap().remove(0);
    store
        .media_failed(&job, "file too large", None, later)
        .await
        .unwrap();
    let far = Timestamp::from_secs(1_760_000_000);
    assert!(store.media_due(far, 10).await.unwrap().is_empty());
    assert_eq!(
        store.media_of_message(&job.message_id).await.unwrap()[0].state,
        MediaState::Failed
    );

    // Replay keeps download state: message ids are derived, rows still match.
    store.reset_projections().await.unwrap();
    assert_eq!(
        store.media_of_message(&job.message_id).await.unwrap().len(),
        1
    );
    store.close().await;
}

fn bsuid(value: &str) -> Vec<Identity> {
    vec![Identity::new(IdentityKind::WhatsAppBsuid, value)]
}

fn user_id_update(previous: &str, current: &str) -> Inbound {
    Inbound::IdentityChanged(IdentityChange {
        channel: Channel::WhatsApp,
        account: "106540352242922".into(),
        kept: Vec::new(),
        previous: bsuid(previous),
        current: bsuid(current),
        at: Timestamp::from_secs(1_750_016_850),
    })
}

async fn identity_change_story(store: Store) {
    store
        .ingest(vec![projection(
            "first",
            vec![message("wamid.A", bsuid("DE.OLD1"), MessageKind::Text)],
        )])
        .await
        .unwrap();
    let before = store
        .contact_by_identity(IdentityKind::WhatsAppBsuid, "DE.OLD1")
        .await
        .unwrap()
        .unwrap();
    store
        .ingest(vec![projection(
            "update",
            vec![
                user_id_update("DE.OLD1", "DE.NEW2"),
                user_id_update("DE.NOBODY", "DE.NEW3"),
            ],
        )])
        .await
        .unwrap();
    store
        .ingest(vec![projection(
            "second",
            vec![message("wamid.B", bsuid("DE.NEW2"), MessageKind::Text)],
        )])
        .await
        .unwrap();

    check_identity_change(&store, &before.id).await;
    store.close().await;
}

async fn check_identity_change(store: &Store, contact_id: &str) {
    let after = store
        .contact_by_identity(IdentityKind::WhatsAppBsuid, "DE.NEW2")
        .await
        .unwrap()
        .expect("the new user id reaches the same contact");
    assert_eq!(after.id, contact_id);
    assert_eq!(
        after.identities,
        bsuid("DE.NEW2"),
        "the old user id is gone"
    );
    let first = store
        .message_by_external_id("whatsapp", "wamid.A")
        .await
        .unwrap()
        .unwrap();
    let second = store
        .message_by_external_id("whatsapp", "wamid.B")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first.conversation_id, second.conversation_id,
        "one thread, not two"
    );
    let unrecognized = store.unrecognized(0, 10).await.unwrap();
    assert_eq!(unrecognized.len(), 1, "{unrecognized:?}");
    assert_eq!(
        unrecognized[0].kind,
        "whatsapp:identity_change_for_unknown_contact"
    );
    let events = store.events_after(0, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.event.kind() == "identity_changed")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_changed_user_id_keeps_contact_and_thread_on_sqlite() {
    let test = common::sqlite_store().await;
    identity_change_story(test.store.clone()).await;
}

#[tokio::test]
async fn a_changed_user_id_keeps_contact_and_thread_on_postgres() {
    identity_change_story(common::postgres_store().await.store).await;
}

#[tokio::test]
async fn media_state_and_reads_on_sqlite() {
    let test = common::sqlite_store().await;
    story(test.store.clone()).await;
}

#[tokio::test]
async fn media_state_and_reads_on_postgres() {
    story(common::postgres_store().await.store).await;
}
