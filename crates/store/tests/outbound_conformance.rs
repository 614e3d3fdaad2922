//! Outbox, consents, template cache and agents: one suite, run against
//! SQLite (temp file) and PostgreSQL (a fresh schema on the server named by
//! RESONANZ_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test).

use resonanz_core::rules::{OptOutSource, TemplateCategory, TemplateStatus};
use resonanz_core::*;
use resonanz_store::*;

mod common;
use common::TestStore;

const T0: Timestamp = Timestamp::from_secs(1_750_000_000);
const ANNA: &str = "491701234567";

/// Anna writes; returns her conversation.
async fn anna_writes(store: &Store, text: &str, key: &str) -> ConversationInfo {
    anna_writes_raw(store, text, key, T0, serde_json::json!({"id": key})).await
}

/// Anna writes at `at` with this raw message (e.g. one carrying an ad's `referral`).
async fn anna_writes_raw(
    store: &Store,
    text: &str,
    key: &str,
    at: Timestamp,
    raw: serde_json::Value,
) -> ConversationInfo {
    let inbound = Inbound::Message(InboundMessage {
        channel: Channel::WhatsApp,
        account: "106540352242922".into(),
        direction: Direction::Inbound,
        customer: vec![Identity::new(IdentityKind::WhatsApp, ANNA)],
        profile_name: Some("Anna Keller".into()),
        external_id: format!("wamid.{key}"),
        kind: MessageKind::Text,
        text: Some(text.into()),
        attachments: vec![],
        location: None,
        reply_to: None,
        sent_at: at,
        raw,
    });
    let projection = Projection {
        raw: RawEvent {
            id: None,
            source: Source::WhatsApp,
            dedupe_key: key.into(),
            received_at: at,
            verification: Verification::SignatureValid,
            payload: format!("{{\"biz_opaque_callback_data\":\"{key}-marker\"}}").into_bytes(),
        },
        items: vec![ProjectedItem {
            inbound,
            analysis: None,
        }],
        parse_error: None,
    };
    store.ingest(vec![projection]).await.unwrap();
    let conversations = store.recent_conversations(1).await.unwrap();
    store
        .conversation_info(&conversations[0].id)
        .await
        .unwrap()
        .unwrap()
}

fn draft(conversation: &ConversationInfo, id: &str, key: &str, at: Timestamp) -> NewOutbox {
    NewOutbox {
        id: id.into(),
        idempotency_key: key.into(),
        channel: conversation.channel,
        account: conversation.account.clone(),
        recipient: conversation.recipient().unwrap().clone(),
        contact_id: conversation.contact_id.clone(),
        conversation_id: conversation.id.clone(),
        payload: serde_json::json!({"type": "text", "text": "Guten Tag"}),
        upload: None,
        created_by: "ag_1".into(),
        now: at,
        blocked: None,
    }
}

fn throttled() -> OutboxError {
    OutboxError {
        code: "130429".into(),
        de: "Durchsatzgrenze".into(),
        en: "Throughput limit".into(),
    }
}

async fn the_idempotency_key_stores_a_draft_once(t: TestStore) {
    let store = t.store;
    let conversation = anna_writes(&store, "Hallo", "a").await;
    assert_eq!(conversation.recipient().unwrap().value, ANNA);
    let first = store
        .enqueue_outbox(draft(&conversation, "ob_1", "k1", T0))
        .await
        .unwrap();
    let again = store
        .enqueue_outbox(draft(&conversation, "ob_2", "k1", T0))
        .await
        .unwrap();
    let (Enqueued::Created(first), Enqueued::Existing(again)) = (first, again) else {
        panic!("the second enqueue must find the first");
    };
    assert_eq!(first.id, "ob_1");
    assert_eq!(again.id, "ob_1");
    assert_eq!(first.state, OutboxState::Queued);
    assert!(store.outbox("ob_2").await.unwrap().is_none());

    let mut blocked = draft(&conversation, "ob_3", "k3", T0);
    blocked.blocked = Some(OutboxError {
        code: "window_closed".into(),
        de: "Fenster zu".into(),
        en: "Window closed".into(),
    });
    store.enqueue_outbox(blocked).await.unwrap();
    let row = store.outbox("ob_3").await.unwrap().unwrap();
    assert_eq!(row.state, OutboxState::Blocked);
    assert_eq!(row.error.unwrap().code, "window_closed");
    // A blocked row is never claimed.
    let claimed = store.claim_outbox(T0.plus_millis(1), 10).await.unwrap();
    assert_eq!(
        claimed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["ob_1"]
    );
    store.close().await;
}

async fn a_row_is_claimed_once_and_retried_only_when_due(t: TestStore) {
    let store = t.store;
    let conversation = anna_writes(&store, "Hallo", "b").await;
    for i in 0..20 {
        store
            .enqueue_outbox(draft(
                &conversation,
                &format!("ob_{i}"),
                &format!("k{i}"),
                T0,
            ))
            .await
            .unwrap();
    }
    // Concurrent claimers split the rows; none is claimed twice.
    let claims = futures::future::join_all((0..4).map(|_| {
        let store = store.clone();
        async move { store.claim_outbox(T0, 7).await.unwrap() }
    }))
    .await;
    let mut ids: Vec<String> = claims.into_iter().flatten().map(|r| r.id).collect();
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!(total, 20);
    assert_eq!(ids.len(), 20);

    let row = store.outbox("ob_0").await.unwrap().unwrap();
    assert_eq!(row.state, OutboxState::Sending);
    assert_eq!(row.attempts, 1);
    let due = T0.plus_millis(2000);
    assert!(
        store
            .outbox_retry("ob_0", due, &throttled(), T0)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_outbox(T0.plus_millis(1999), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_outbox(due, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].error.as_ref().unwrap().code, "130429");
    assert!(store.outbox_sent("ob_0", "wamid.X", due).await.unwrap());
    // Settling works only from `sending`: a second settle changes nothing.
    assert!(
        !store
            .outbox_failed("ob_0", &throttled(), due)
            .await
            .unwrap()
    );
    let sent = store.outbox("ob_0").await.unwrap().unwrap();
    assert_eq!(sent.state, OutboxState::Sent);
    assert_eq!(sent.external_id.as_deref(), Some("wamid.X"));

    // Rows left `sending` (a crash) are found for reconciliation.
    let stuck = store
        .outbox_sending_before(T0.plus_millis(1))
        .await
        .unwrap();
    assert_eq!(stuck.len(), 19);
    store.close().await;
}

async fn consent_history_decides_and_keyword_opt_outs_are_recorded_once(t: TestStore) {
    let store = t.store;
    let conversation = anna_writes(&store, "STOPP", "c").await;
    let contact = conversation.contact_id.clone();
    let record = |kind, source: &str, at, origin: Option<&str>| ConsentRecord {
        contact_id: contact.clone(),
        channel: Channel::WhatsApp,
        kind,
        source: source.into(),
        recorded_by: "makler.schmidt".into(),
        at,
        evidence: Some("stopp".into()),
        origin: origin.map(str::to_owned),
    };
    assert!(
        store
            .record_consent(&record(ConsentKind::OptIn, "Webformular", T0, None))
            .await
            .unwrap()
    );
    let consent = store.consent(&contact, Channel::WhatsApp).await.unwrap();
    assert!(consent.active_opt_in().is_some());

    let keyword = record(
        ConsentKind::OptOut,
        "keyword",
        T0.plus_millis(1000),
        Some("keyword:msg_1"),
    );
    assert!(store.record_consent(&keyword).await.unwrap());
    assert!(
        !store.record_consent(&keyword).await.unwrap(),
        "idempotent by origin"
    );
    let consent = store.consent(&contact, Channel::WhatsApp).await.unwrap();
    assert!(consent.active_opt_in().is_none());
    assert_eq!(
        consent.active_opt_out().unwrap().source,
        OptOutSource::Keyword {
            keyword: "stopp".into()
        }
    );
    // Other channels are not affected.
    assert!(
        store
            .consent(&contact, Channel::Messenger)
            .await
            .unwrap()
            .active_opt_out()
            .is_none()
    );

    store
        .record_consent(&record(
            ConsentKind::OptIn,
            "Telefonat",
            T0.plus_millis(5000),
            None,
        ))
        .await
        .unwrap();
    assert!(
        store
            .consent(&contact, Channel::WhatsApp)
            .await
            .unwrap()
            .active_opt_in()
            .is_some()
    );
    store
        .record_consent(&record(
            ConsentKind::Block,
            "agent",
            T0.plus_millis(9000),
            None,
        ))
        .await
        .unwrap();
    let consent = store.consent(&contact, Channel::WhatsApp).await.unwrap();
    assert_eq!(
        consent.active_opt_out().unwrap().source,
        OptOutSource::Blocked
    );
    assert_eq!(store.consent_history(&contact).await.unwrap().len(), 4);

    // Agent-authored records and the outbox survive a projection reset (replay).
    store
        .enqueue_outbox(draft(&conversation, "ob_keep", "keep", T0))
        .await
        .unwrap();
    store.reset_projections().await.unwrap();
    assert_eq!(store.consent_history(&contact).await.unwrap().len(), 4);
    assert!(store.outbox("ob_keep").await.unwrap().is_some());
    store.close().await;
}

async fn templates_agents_and_cursors_round_trip(t: TestStore) {
    let store = t.store;
    let template = CachedTemplate {
        waba_id: "102290129340398".into(),
        name: "fristerinnerung".into(),
        language: "de".into(),
        template_id: Some("1234".into()),
        category: Some(TemplateCategory::Utility),
        status: TemplateStatus::Pending,
        components: vec![serde_json::json!({"type": "BODY", "text": "Hallo {{1}}"})],
        updated_at: T0,
    };
    store.upsert_template(&template).await.unwrap();
    store
        .update_template_status("1234", "", "", &TemplateStatus::Approved, None, T0)
        .await
        .unwrap();
    let cached = store
        .template("102290129340398", "fristerinnerung", "de")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cached.status, TemplateStatus::Approved);
    assert_eq!(cached.category, Some(TemplateCategory::Utility));
    assert_eq!(cached.components, template.components);
    assert_eq!(store.templates("102290129340398").await.unwrap().len(), 1);

    store
        .create_agent(&NewAgent {
            id: "ag_1".into(),
            name: "admin".into(),
            role: Role::Admin,
            password_hash: Some("$argon2id$x".into()),
            token_hash: "tokenhash".into(),
            now: T0,
        })
        .await
        .unwrap();
    let agent = store
        .agent_by_token_hash("tokenhash", T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((agent.name.as_str(), agent.role), ("admin", Role::Admin));
    assert!(
        store
            .agent_by_token_hash("other", T0)
            .await
            .unwrap()
            .is_none()
    );
    store
        .create_session("sessionhash", "ag_1", T0, T0.plus_millis(1000))
        .await
        .unwrap();
    assert!(
        store
            .agent_by_token_hash("sessionhash", T0)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .agent_by_token_hash("sessionhash", T0.plus_millis(1000))
            .await
            .unwrap()
            .is_none(),
        "an expired session is refused"
    );

    assert_eq!(store.cursor("outbound.events").await.unwrap(), 0);
    store.set_cursor("outbound.events", 42).await.unwrap();
    store.set_cursor("outbound.events", 43).await.unwrap();
    assert_eq!(store.cursor("outbound.events").await.unwrap(), 43);
    store.close().await;
}

async fn raw_events_are_found_by_an_id_in_their_payload(t: TestStore) {
    let store = t.store;
    anna_writes(&store, "Hallo", "d").await;
    let found = store
        .raw_events_containing(Source::WhatsApp, T0, "d-marker")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].dedupe_key, "d");
    assert!(
        store
            .raw_events_containing(Source::WhatsApp, T0.plus_millis(1), "d-marker")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .raw_events_containing(Source::WhatsApp, T0, "e-marker")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .raw_event_id(Source::WhatsApp, "d")
            .await
            .unwrap()
            .is_some()
    );
    store.close().await;
}

async fn a_released_row_is_not_an_attempt_and_uploads_are_reused(t: TestStore) {
    let store = t.store;
    let conversation = anna_writes(&store, "Hallo", "u").await;
    store
        .enqueue_outbox(draft(&conversation, "ob_u", "ku", T0))
        .await
        .unwrap();
    let claimed = store.claim_outbox(T0, 10).await.unwrap();
    assert_eq!(claimed[0].attempts, 1);
    // Given back before any API call: queued again, claim not counted.
    assert!(store.outbox_release("ob_u", T0).await.unwrap());
    assert!(!store.outbox_release("ob_u", T0).await.unwrap());
    let row = store.outbox("ob_u").await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Queued, 0));
    assert!(
        store
            .outbox_sending_before(T0.plus_millis(1))
            .await
            .unwrap()
            .is_empty()
    );
    // A failed upload counts as an attempt and sets the next one.
    let due = T0.plus_millis(2000);
    assert!(
        store
            .outbox_released_retry("ob_u", due, &throttled(), T0)
            .await
            .unwrap()
    );
    let row = store.outbox("ob_u").await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Queued, 1));
    assert_eq!(row.next_attempt_at, due);
    assert!(
        store
            .claim_outbox(T0.plus_millis(1999), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Claimed by id at once (the file is at Meta now), due or not.
    let reclaimed = store.claim_outbox_row("ob_u", T0).await.unwrap().unwrap();
    assert_eq!(
        (reclaimed.state, reclaimed.attempts),
        (OutboxState::Sending, 2)
    );
    assert!(store.claim_outbox_row("ob_u", T0).await.unwrap().is_none());
    // Only a released (queued) row is settled this way.
    assert!(
        !store
            .outbox_released_failed("ob_u", &throttled(), due)
            .await
            .unwrap()
    );
    assert!(store.outbox_release("ob_u", due).await.unwrap());
    assert!(
        store
            .outbox_released_failed("ob_u", &throttled(), due)
            .await
            .unwrap()
    );
    assert_eq!(
        store.outbox("ob_u").await.unwrap().unwrap().state,
        OutboxState::Failed
    );

    let sha = "a".repeat(64);
    let file = OutboundFile {
        sha256: sha.clone(),
        kind: "document".into(),
        mime_type: "application/pdf".into(),
        size: 1234,
        filename: Some("Versicherungsschein.pdf".into()),
        created_by: "ag_1".into(),
        created_at: T0,
    };
    store.save_outbound_file(&file).await.unwrap();
    let renamed = OutboundFile {
        filename: Some("Police.pdf".into()),
        created_by: "ag_2".into(),
        created_at: due,
        ..file.clone()
    };
    store.save_outbound_file(&renamed).await.unwrap();
    let stored = store.outbound_file(&sha).await.unwrap().unwrap();
    assert_eq!(stored.filename.as_deref(), Some("Police.pdf"));
    assert_eq!(
        (stored.created_by.as_str(), stored.created_at),
        ("ag_1", T0)
    );
    assert!(
        store
            .outbound_file(&"b".repeat(64))
            .await
            .unwrap()
            .is_none()
    );

    let pn = "106540352242922";
    let pdf = "application/pdf";
    assert!(
        store
            .media_upload(&sha, pn, pdf, T0.plus_millis(-1))
            .await
            .unwrap()
            .is_none()
    );
    store
        .record_media_upload(&sha, pn, pdf, "111", T0)
        .await
        .unwrap();
    store
        .record_media_upload(&sha, pn, pdf, "222", due)
        .await
        .unwrap();
    assert_eq!(
        store
            .media_upload(&sha, pn, pdf, T0)
            .await
            .unwrap()
            .as_deref(),
        Some("222")
    );
    // Too old, another number, another type: not reused.
    assert!(
        store
            .media_upload(&sha, pn, pdf, due)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .media_upload(&sha, "999", pdf, T0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .media_upload(&sha, pn, "text/plain", T0)
            .await
            .unwrap()
            .is_none()
    );
    store.forget_media_upload(pn, "111").await.unwrap();
    assert!(
        store
            .media_upload(&sha, pn, pdf, T0)
            .await
            .unwrap()
            .is_some()
    );
    store.forget_media_upload(pn, "222").await.unwrap();
    assert!(
        store
            .media_upload(&sha, pn, pdf, T0)
            .await
            .unwrap()
            .is_none()
    );
    store.close().await;
}

fn upload_at(sha256: &str, at: Timestamp) -> OutboundFile {
    OutboundFile {
        sha256: sha256.into(),
        kind: "document".into(),
        mime_type: "application/pdf".into(),
        size: 2048,
        filename: Some("Police.pdf".into()),
        created_by: "ag_1".into(),
        created_at: at,
    }
}

/// Anna sends a photo whose bytes (blob `sha256`) the media worker stored.
async fn anna_sends_photo(store: &Store, sha256: &str) {
    let inbound = Inbound::Message(InboundMessage {
        channel: Channel::WhatsApp,
        account: "106540352242922".into(),
        direction: Direction::Inbound,
        customer: vec![Identity::new(IdentityKind::WhatsApp, ANNA)],
        profile_name: Some("Anna Keller".into()),
        external_id: "wamid.photo".into(),
        kind: MessageKind::Image,
        text: None,
        attachments: vec![Attachment {
            kind: "image".into(),
            media_ref: "1479523542836123".into(),
            mime_type: Some("image/png".into()),
            filename: None,
            caption: None,
            sha256: None,
        }],
        location: None,
        reply_to: None,
        sent_at: T0,
        raw: serde_json::json!({"id": "photo"}),
    });
    store
        .ingest(vec![Projection {
            raw: RawEvent {
                id: None,
                source: Source::WhatsApp,
                dedupe_key: "photo".into(),
                received_at: T0,
                verification: Verification::SignatureValid,
                payload: b"{}".to_vec(),
            },
            items: vec![ProjectedItem {
                inbound,
                analysis: None,
            }],
            parse_error: None,
        }])
        .await
        .unwrap();
    assert_eq!(store.media_discover(T0, 10).await.unwrap(), 1);
    let job = store.media_due(T0, 10).await.unwrap().remove(0);
    store
        .media_stored(&job, sha256, 2048, "image/png", T0)
        .await
        .unwrap();
}

async fn only_uploads_nobody_uses_are_cleaned_out(t: TestStore) {
    let store = t.store;
    let day = 24 * 3_600_000;
    let (unused, sent, photo, fresh) = (
        "a".repeat(64),
        "b".repeat(64),
        "c".repeat(64),
        "d".repeat(64),
    );
    for sha in [&unused, &sent, &photo] {
        store.save_outbound_file(&upload_at(sha, T0)).await.unwrap();
    }
    store
        .save_outbound_file(&upload_at(&fresh, T0.plus_millis(8 * day)))
        .await
        .unwrap();
    store
        .record_media_upload(&unused, "106540352242922", "application/pdf", "111", T0)
        .await
        .unwrap();
    let conversation = anna_writes(&store, "Hallo", "c").await;
    let mut draft = draft(&conversation, "ob_doc", "kd", T0);
    draft.upload = Some(sent.clone());
    store.enqueue_outbox(draft).await.unwrap();
    anna_sends_photo(&store, &photo).await;

    let cutoff = T0.plus_millis(day);
    let names = |files: Vec<OutboundFile>| files.into_iter().map(|f| f.sha256).collect::<Vec<_>>();
    assert_eq!(
        names(store.unused_outbound_files(cutoff, 10).await.unwrap()),
        [unused.as_str()]
    );
    // Named in a draft on day 2: used, so kept past a day-1 cutoff.
    assert!(
        store
            .touch_outbound_file(&unused, T0.plus_millis(2 * day))
            .await
            .unwrap()
    );
    assert!(
        !store
            .touch_outbound_file(&"e".repeat(64), T0)
            .await
            .unwrap()
    );
    assert!(
        store
            .unused_outbound_files(cutoff, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .delete_unused_outbound_file(&unused, cutoff)
            .await
            .unwrap()
    );

    let later = T0.plus_millis(3 * day);
    for used in [&sent, &photo, &fresh] {
        assert!(
            !store
                .delete_unused_outbound_file(used, later)
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .delete_unused_outbound_file(&unused, later)
            .await
            .unwrap()
    );
    assert!(store.outbound_file(&unused).await.unwrap().is_none());
    assert!(
        store
            .media_upload(
                &unused,
                "106540352242922",
                "application/pdf",
                T0.plus_millis(-1)
            )
            .await
            .unwrap()
            .is_none(),
        "Meta's id goes with the file"
    );
    assert!(!store.blob_in_use(&unused).await.unwrap());
    assert!(store.blob_in_use(&sent).await.unwrap());
    assert!(store.blob_in_use(&photo).await.unwrap());
    // The same bytes uploaded again count as a fresh use.
    let day9 = T0.plus_millis(9 * day);
    assert_eq!(
        names(store.unused_outbound_files(day9, 10).await.unwrap()),
        [fresh.as_str()]
    );
    store
        .save_outbound_file(&upload_at(&fresh, day9))
        .await
        .unwrap();
    assert_eq!(
        store
            .outbound_file(&fresh)
            .await
            .unwrap()
            .unwrap()
            .created_at,
        T0.plus_millis(8 * day),
        "the first upload's time stays"
    );
    assert!(
        store
            .unused_outbound_files(day9, 10)
            .await
            .unwrap()
            .is_empty()
    );
    store.close().await;
}

async fn the_latest_message_through_an_ad_opens_the_free_entry_window(t: TestStore) {
    let store = t.store;
    let plain = anna_writes(&store, "Hallo", "m1").await;
    assert_eq!(plain.free_entry_opened_at, None);
    let from_ad = T0.plus_millis(60_000);
    let referral = serde_json::json!({
        "id": "m2",
        "referral": {"source_type": "ad", "source_id": "120200", "ctwa_clid": "clid1"},
    });
    let info = anna_writes_raw(&store, "Zahnzusatz?", "m2", from_ad, referral).await;
    assert_eq!(info.free_entry_opened_at, Some(from_ad));
    // A later ordinary message does not move it.
    let later = anna_writes_raw(
        &store,
        "Noch eine Frage",
        "m3",
        T0.plus_millis(120_000),
        serde_json::json!({"id": "m3"}),
    )
    .await;
    assert_eq!(later.free_entry_opened_at, Some(from_ad));
    store.close().await;
}

conformance!(
    the_latest_message_through_an_ad_opens_the_free_entry_window,
    only_uploads_nobody_uses_are_cleaned_out,
    a_released_row_is_not_an_attempt_and_uploads_are_reused,
    the_idempotency_key_stores_a_draft_once,
    a_row_is_claimed_once_and_retried_only_when_due,
    consent_history_decides_and_keyword_opt_outs_are_recorded_once,
    templates_agents_and_cursors_round_trip,
    raw_events_are_found_by_an_id_in_their_payload,
);
