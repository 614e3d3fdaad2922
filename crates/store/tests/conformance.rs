//! One conformance suite, run against SQLite (temp file) and PostgreSQL
//! (a fresh schema on the server named by RESONANZ_TEST_PG_URL, default
//! postgres://postgres@127.0.0.1:5432/test).

use resonanz_core::*;
use resonanz_store::{
    ConversationFilter, IngestOutcome, ProjectedItem, Projection, Store, StoreOptions,
};

mod common;
use common::TestStore;

// The raw payload of these tests is the JSON of the inbound items, so that
// "parsing" it again (for replay) is a plain deserialisation.
fn projection(source: Source, key: &str, items: Vec<Inbound>) -> Projection {
    let payload = serde_json::to_vec(&items).unwrap();
    Projection {
        raw: RawEvent {
            id: None,
            source,
            dedupe_key: key.to_owned(),
            received_at: Timestamp::from_secs(1_750_000_000),
            verification: Verification::SignatureValid,
            payload,
        },
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

fn reparse(raw: RawEvent) -> Projection {
    let items: Vec<Inbound> = serde_json::from_slice(&raw.payload).unwrap();
    Projection {
        raw,
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

fn whatsapp_text(wamid: &str, from: &str, text: &str, at_secs: i64) -> Inbound {
    Inbound::Message(InboundMessage {
        channel: Channel::WhatsApp,
        account: "106540352242922".into(),
        direction: Direction::Inbound,
        customer: vec![Identity::new(IdentityKind::WhatsApp, from)],
        profile_name: Some("Anna Keller".into()),
        external_id: wamid.into(),
        kind: MessageKind::Text,
        text: Some(text.into()),
        attachments: vec![],
        location: None,
        reply_to: None,
        sent_at: Timestamp::from_secs(at_secs),
        raw: serde_json::json!({"id": wamid, "type": "text"}),
    })
}

fn echo(wamid: &str, to: &str, at_secs: i64) -> Inbound {
    match whatsapp_text(wamid, to, "Wir kümmern uns darum.", at_secs) {
        Inbound::Message(mut m) => {
            m.direction = Direction::Outbound;
            Inbound::Message(m)
        }
        _ => unreachable!(),
    }
}

fn status(wamid: &str, state: DeliveryState, at_secs: i64) -> Inbound {
    Inbound::Status(StatusUpdate {
        channel: Channel::WhatsApp,
        account: "106540352242922".into(),
        external_id: wamid.into(),
        state,
        at: Timestamp::from_secs(at_secs),
        raw: serde_json::json!({}),
    })
}

fn mention(id: u32, text: &str) -> Inbound {
    Inbound::Mention(Mention {
        id: MentionId::derive(&["x", &id.to_string()]),
        platform: Platform::X,
        external_id: id.to_string(),
        url: None,
        author: Author {
            handle: format!("user{id}"),
            name: None,
            followers: u64::from(id) * 10,
            verified: false,
        },
        text: text.into(),
        lang: Some("de".into()),
        reshares: 1,
        replies: 2,
        likes: 3,
        parent: None,
        published_at: Timestamp::from_secs(1_700_000_000 + i64::from(id)),
        analysis: None,
    })
}

async fn a_message_is_stored_with_its_raw_event_and_projected(t: TestStore) {
    let store = &t.store;
    let mut events = store.subscribe();
    let outcome = store
        .ingest(vec![projection(
            Source::WhatsApp,
            "body-1",
            vec![whatsapp_text(
                "wamid.1",
                "491701234567",
                "Ich möchte einen Wasserschaden melden.",
                1_750_000_000,
            )],
        )])
        .await
        .unwrap();
    assert!(matches!(outcome[0], IngestOutcome::Stored(_)));
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (
            counts.raw_events,
            counts.contacts,
            counts.conversations,
            counts.messages
        ),
        (1, 1, 1, 1)
    );
    let raw = store.raw_events_after(0, 10).await.unwrap();
    assert_eq!(raw[0].dedupe_key, "body-1");
    let conversations = store.recent_conversations(10).await.unwrap();
    assert_eq!(
        conversations[0].contact_name.as_deref(),
        Some("Anna Keller")
    );
    assert_eq!(conversations[0].last_inbound_at, Some(1_750_000_000_000));
    let messages = store
        .conversation_messages(&conversations[0].id)
        .await
        .unwrap();
    assert_eq!(
        messages[0].body.as_deref(),
        Some("Ich möchte einen Wasserschaden melden.")
    );
    // The bus saw the commit, in order.
    let first = events.recv().await.unwrap();
    let second = events.recv().await.unwrap();
    assert_eq!(first.event.kind(), "contact_created");
    assert_eq!(second.event.kind(), "message_received");
    assert!(second.seq > first.seq);
    store.close().await;
}

/// The identity lookup of a batch: a known customer's next messages join
/// their contact and thread; a name arriving later fills a missing one and
/// never replaces a name already there.
async fn a_known_customer_keeps_one_contact_and_gets_a_name_once(t: TestStore) {
    let store = &t.store;
    let nameless = |wamid: &str, from: &str, at: i64| match whatsapp_text(wamid, from, "Hallo", at)
    {
        Inbound::Message(mut m) => {
            m.profile_name = None;
            Inbound::Message(m)
        }
        _ => unreachable!(),
    };
    let named = |wamid: &str, from: &str, name: &str, at: i64| match whatsapp_text(
        wamid, from, "Hallo", at,
    ) {
        Inbound::Message(mut m) => {
            m.profile_name = Some(name.into());
            Inbound::Message(m)
        }
        _ => unreachable!(),
    };
    store
        .ingest(vec![
            projection(
                Source::WhatsApp,
                "b1",
                vec![nameless("wamid.n1", "491700000001", 1)],
            ),
            projection(
                Source::WhatsApp,
                "b2",
                vec![named("wamid.n2", "491700000002", "Jürgen", 2)],
            ),
        ])
        .await
        .unwrap();
    // One batch: both known customers, plus a new one, in one lookup per kind.
    store
        .ingest(vec![
            projection(
                Source::WhatsApp,
                "b3",
                vec![named("wamid.n3", "491700000001", "Anna", 3)],
            ),
            projection(
                Source::WhatsApp,
                "b4",
                vec![named("wamid.n4", "491700000002", "J. M.", 4)],
            ),
            projection(
                Source::WhatsApp,
                "b5",
                vec![nameless("wamid.n5", "491700000003", 5)],
            ),
        ])
        .await
        .unwrap();
    let contact = |value: &'static str| async move {
        store
            .contact_by_identity(IdentityKind::WhatsApp, value)
            .await
            .unwrap()
            .expect("a contact")
    };
    let anna = contact("491700000001").await;
    let juergen = contact("491700000002").await;
    assert_eq!(
        anna.display_name.as_deref(),
        Some("Anna"),
        "a missing name is filled"
    );
    assert_eq!(
        juergen.display_name.as_deref(),
        Some("Jürgen"),
        "a name stays"
    );
    assert_eq!(contact("491700000003").await.display_name, None);
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.contacts, counts.conversations, counts.messages),
        (3, 3, 5)
    );
}

async fn a_duplicate_delivery_changes_nothing(t: TestStore) {
    let store = &t.store;
    let delivery = projection(
        Source::WhatsApp,
        "same-body",
        vec![whatsapp_text(
            "wamid.dup",
            "491700000001",
            "Hallo",
            1_750_000_000,
        )],
    );
    store.ingest(vec![delivery.clone()]).await.unwrap();
    let before = store.snapshot().await.unwrap();
    let again = store
        .ingest(vec![delivery.clone(), delivery])
        .await
        .unwrap();
    assert_eq!(
        again,
        vec![IngestOutcome::Duplicate, IngestOutcome::Duplicate]
    );
    assert_eq!(store.snapshot().await.unwrap(), before);
    // The same message inside a different body (Meta's retry to another app) is also stored once.
    store
        .ingest(vec![projection(
            Source::WhatsApp,
            "other-body",
            vec![whatsapp_text(
                "wamid.dup",
                "491700000001",
                "Hallo",
                1_750_000_000,
            )],
        )])
        .await
        .unwrap();
    assert_eq!(store.counts().await.unwrap().messages, 1);
    store.close().await;
}

async fn delivery_state_only_moves_forward(t: TestStore) {
    let store = &t.store;
    store
        .ingest(vec![projection(
            Source::WhatsApp,
            "a",
            vec![echo("wamid.out", "491700000002", 1_750_000_100)],
        )])
        .await
        .unwrap();
    store
        .ingest(vec![projection(
            Source::WhatsApp,
            "b",
            vec![status("wamid.out", DeliveryState::Read, 1_750_000_300)],
        )])
        .await
        .unwrap();
    store
        .ingest(vec![projection(
            Source::WhatsApp,
            "c",
            vec![status("wamid.out", DeliveryState::Delivered, 1_750_000_200)],
        )])
        .await
        .unwrap();
    let message = store
        .message_by_external_id("whatsapp", "wamid.out")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.delivery, DeliveryState::Read);
    // A receipt that arrives before its message is applied when the message appears.
    store
        .ingest(vec![projection(
            Source::WhatsApp,
            "d",
            vec![status(
                "wamid.late",
                DeliveryState::Delivered,
                1_750_000_400,
            )],
        )])
        .await
        .unwrap();
    store
        .ingest(vec![projection(
            Source::WhatsApp,
            "e",
            vec![echo("wamid.late", "491700000002", 1_750_000_350)],
        )])
        .await
        .unwrap();
    let late = store
        .message_by_external_id("whatsapp", "wamid.late")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(late.delivery, DeliveryState::Delivered);
    store.close().await;
}

async fn reactions_are_added_and_removed(t: TestStore) {
    let store = &t.store;
    let reaction = |emoji: Option<&str>, key: &str| {
        projection(
            Source::WhatsApp,
            key,
            vec![Inbound::Reaction(ReactionUpdate {
                channel: Channel::WhatsApp,
                account: "106540352242922".into(),
                customer: vec![Identity::new(IdentityKind::WhatsApp, "491700000003")],
                target_external_id: "wamid.r".into(),
                emoji: emoji.map(str::to_owned),
                at: Timestamp::from_secs(1_750_000_500),
                raw: serde_json::json!({}),
            })],
        )
    };
    store
        .ingest(vec![projection(
            Source::WhatsApp,
            "m",
            vec![echo("wamid.r", "491700000003", 1_750_000_000)],
        )])
        .await
        .unwrap();
    store
        .ingest(vec![reaction(Some("👍"), "r1")])
        .await
        .unwrap();
    let m = store
        .message_by_external_id("whatsapp", "wamid.r")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.reactions.len(), 1);
    assert_eq!(m.reactions[0].emoji, "👍");
    store.ingest(vec![reaction(None, "r2")]).await.unwrap();
    let m = store
        .message_by_external_id("whatsapp", "wamid.r")
        .await
        .unwrap()
        .unwrap();
    assert!(m.reactions.is_empty());
    store.close().await;
}

async fn unrecognized_input_is_kept(t: TestStore) {
    let store = &t.store;
    store
        .ingest(vec![projection(
            Source::WhatsApp,
            "u",
            vec![Inbound::Unrecognized(Unrecognized {
                kind: "whatsapp:message_template_status_update".into(),
                raw: serde_json::json!({"event": "APPROVED"}),
            })],
        )])
        .await
        .unwrap();
    let counts = store.counts().await.unwrap();
    assert_eq!(counts.unrecognized, 1);
    assert_eq!(counts.events, 1);
    store.close().await;
}

async fn replay_rebuilds_identical_projections(t: TestStore) {
    let store = &t.store;
    let mut batch = vec![
        projection(
            Source::WhatsApp,
            "1",
            vec![whatsapp_text(
                "wamid.a",
                "491700000010",
                "Wo bleibt meine Auszahlung?",
                1_750_000_000,
            )],
        ),
        projection(
            Source::WhatsApp,
            "2",
            vec![
                echo("wamid.b", "491700000010", 1_750_000_060),
                status("wamid.b", DeliveryState::Delivered, 1_750_000_070),
            ],
        ),
        projection(
            Source::WhatsApp,
            "3",
            vec![status("wamid.b", DeliveryState::Read, 1_750_000_080)],
        ),
    ];
    batch.extend((0..50).map(|i| {
        projection(
            Source::ImportMention,
            &format!("x:{i}"),
            vec![mention(i, "Die Hotline ist nie erreichbar")],
        )
    }));
    // Live: several group commits of different sizes.
    store.ingest(batch[..2].to_vec()).await.unwrap();
    store.ingest(batch[2..20].to_vec()).await.unwrap();
    store.ingest(batch[20..].to_vec()).await.unwrap();
    let live = store.snapshot().await.unwrap();
    assert!(live.iter().any(|l| l.starts_with("event")));

    store.reset_projections().await.unwrap();
    assert_eq!(store.counts().await.unwrap().messages, 0);
    let mut after = 0;
    loop {
        let raws = store.raw_events_after(after, 7).await.unwrap();
        let Some(last) = raws.last() else { break };
        after = last.id.unwrap().0;
        store
            .reproject(raws.into_iter().map(reparse).collect())
            .await
            .unwrap();
    }
    assert_eq!(store.snapshot().await.unwrap(), live);
    store.close().await;
}

async fn concurrent_writers_share_commits_and_lose_nothing(t: TestStore) {
    let store = t.store.clone();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .ingest(vec![projection(
                        Source::WhatsApp,
                        &format!("c{i}"),
                        vec![whatsapp_text(
                            &format!("wamid.c{i}"),
                            &format!("4917000{i:05}"),
                            "Hallo",
                            1_750_000_000 + i,
                        )],
                    )])
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert!(matches!(
            task.await.unwrap().unwrap()[0],
            IngestOutcome::Stored(_)
        ));
    }
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.raw_events, counts.messages, counts.contacts),
        (200, 200, 200)
    );
    store.close().await;
}

async fn a_large_import_batch_is_stored_whole(t: TestStore) {
    let store = &t.store;
    let batch: Vec<Projection> = (0..4000)
        .map(|i| {
            projection(
                Source::ImportMention,
                &format!("x:{i}"),
                vec![mention(i, "Beitragserhöhung schon wieder")],
            )
        })
        .collect();
    let outcomes = store.ingest(batch.clone()).await.unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, IngestOutcome::Stored(_)))
    );
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.raw_events, counts.mentions, counts.events),
        (4000, 4000, 4000)
    );
    // Importing the same items again adds nothing.
    let again = store.ingest(batch).await.unwrap();
    assert!(again.iter().all(|o| *o == IngestOutcome::Duplicate));
    assert_eq!(store.counts().await.unwrap().mentions, 4000);
    let recent = store.recent_mentions(1).await.unwrap();
    assert_eq!(recent[0].author_handle, "user3999");
    store.close().await;
}

/// A batch mixing items the store holds with new ones (a file imported again
/// after more lines were added, a post polled and imported): only the new raw
/// events are stored, each outcome names its own raw event, and a post
/// already held under another raw event records no second event.
async fn a_batch_mixing_stored_and_new_items_stores_only_the_new(t: TestStore) {
    let store = &t.store;
    let first = projection(
        Source::ImportMention,
        "x:1",
        vec![mention(1, "Hotline erreichbar?")],
    );
    let second = projection(
        Source::ImportMention,
        "x:2",
        vec![mention(2, "Schaden gemeldet")],
    );
    store
        .ingest(vec![first.clone(), second.clone()])
        .await
        .unwrap();
    let third = projection(
        Source::ImportMention,
        "x:3",
        vec![mention(3, "Beitrag zu hoch")],
    );
    let first_polled = projection(Source::X, "poll-1", vec![mention(1, "Hotline erreichbar?")]);
    let outcomes = store
        .ingest(vec![
            second,
            third.clone(),
            first_polled.clone(),
            third,
            first,
        ])
        .await
        .unwrap();
    let [
        IngestOutcome::Duplicate,
        IngestOutcome::Stored(third_id),
        IngestOutcome::Stored(polled_id),
        IngestOutcome::Duplicate,
        IngestOutcome::Duplicate,
    ] = outcomes[..]
    else {
        panic!("unexpected outcomes {outcomes:?}");
    };
    let stored = store.raw_events_after(0, 10).await.unwrap();
    let key_of = |id: RawEventId| {
        stored
            .iter()
            .find(|raw| raw.id == Some(id))
            .map(|raw| raw.dedupe_key.clone())
    };
    assert_eq!(key_of(third_id).as_deref(), Some("x:3"));
    assert_eq!(key_of(polled_id).as_deref(), Some("poll-1"));
    let counts = store.counts().await.unwrap();
    assert_eq!((counts.raw_events, counts.mentions), (4, 3));
    let captured: Vec<String> = store
        .events_after(0, 10)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            DomainEvent::MentionCaptured { mention_id, .. } => Some(mention_id.as_str().to_owned()),
            _ => None,
        })
        .collect();
    let expected: Vec<String> = [1, 2, 3]
        .iter()
        .map(|id| {
            MentionId::derive(&["x", &id.to_string()])
                .as_str()
                .to_owned()
        })
        .collect();
    assert_eq!(
        captured, expected,
        "one event per post, none for the polled copy"
    );
    store.close().await;
}

/// Accepted deliveries are durable when `accept` returns and projected, in
/// log order, right after; `flush` waits for that. Both paths give the same
/// projections as ingesting them in one go.
async fn accepted_deliveries_are_projected_after_the_ack_in_log_order(t: TestStore) {
    let store = &t.store;
    let deliveries: Vec<Projection> = (0..40)
        .map(|i| {
            projection(
                Source::WhatsApp,
                &format!("body-{i}"),
                vec![whatsapp_text(
                    &format!("wamid.acc.{i}"),
                    &format!("4917000000{:02}", i % 7),
                    "Schaden melden",
                    1_750_000_000 + i,
                )],
            )
        })
        .collect();
    let waiting: Vec<_> = deliveries
        .iter()
        .cloned()
        .map(|delivery| {
            let store = store.clone();
            tokio::spawn(async move { store.accept(vec![delivery]).await })
        })
        .collect();
    for task in waiting {
        let outcome = task.await.unwrap().unwrap();
        let IngestOutcome::Stored(id) = outcome[0] else {
            panic!("stored once: {outcome:?}")
        };
        // Durable at the ack: the raw event is readable right away.
        let raw = store.raw_events_after(id.0 - 1, 1).await.unwrap();
        assert_eq!(raw[0].id, Some(id));
    }
    assert_eq!(
        store.accept(vec![deliveries[3].clone()]).await.unwrap(),
        vec![IngestOutcome::Duplicate]
    );
    store.flush().await.unwrap();
    assert!(store.unprojected_raw_events(10).await.unwrap().is_empty());
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (counts.raw_events, counts.messages, counts.contacts),
        (40, 40, 7)
    );
    // Events follow the raw log's order: a replay reproduces them, numbers included.
    let live = store.snapshot().await.unwrap();
    store.reset_projections().await.unwrap();
    assert_eq!(store.unprojected_raw_events(100).await.unwrap().len(), 40);
    let raws = store.raw_events_after(0, 100).await.unwrap();
    store
        .reproject(raws.into_iter().map(reparse).collect())
        .await
        .unwrap();
    assert_eq!(store.snapshot().await.unwrap(), live);
    assert!(store.unprojected_raw_events(10).await.unwrap().is_empty());
}

/// After a crash, two nodes (PostgreSQL) or a restart racing a replay find
/// the same unprojected raw events: each is projected by one of them only.
async fn two_claimants_project_each_raw_event_once(t: TestStore) {
    let store = &t.store;
    let deliveries: Vec<Projection> = (0..30)
        .map(|i| {
            projection(
                Source::WhatsApp,
                &format!("claim-{i}"),
                vec![
                    whatsapp_text(
                        &format!("wamid.claim.{i}"),
                        &format!("4917100000{:02}", i % 5),
                        "Wann kommt der Gutachter?",
                        1_750_000_000 + i,
                    ),
                    status(
                        &format!("wamid.out.{i}"),
                        DeliveryState::Delivered,
                        1_750_000_000 + i,
                    ),
                    Inbound::Unrecognized(Unrecognized {
                        kind: "whatsapp:new_kind".into(),
                        raw: serde_json::json!({"n": i}),
                    }),
                ],
            )
        })
        .collect();
    store.accept(deliveries).await.unwrap();
    store.flush().await.unwrap();
    let live = store.snapshot().await.unwrap();
    let events = store.counts().await.unwrap().events;
    // The state a crash between acknowledgement and projection leaves.
    store.reset_projections().await.unwrap();
    let other = Store::open(&t.url, StoreOptions::default()).await.unwrap();
    let raws = store.unprojected_raw_events(100).await.unwrap();
    assert_eq!(raws.len(), 30);
    let mine: Vec<Projection> = raws.iter().cloned().map(reparse).collect();
    let theirs: Vec<Projection> = raws.into_iter().map(reparse).collect();
    let (a, b) = tokio::join!(store.reproject(mine), other.reproject(theirs));
    a.unwrap();
    b.unwrap();
    other.close().await;
    assert_eq!(store.counts().await.unwrap().events, events);
    assert_eq!(store.snapshot().await.unwrap(), live);
    assert!(store.unprojected_raw_events(10).await.unwrap().is_empty());
}

async fn conversations_page_by_keyset_each_once_in_order(t: TestStore) {
    let store = &t.store;
    // Five customers; two write in the same second, so ties go by id.
    let at = [
        1_750_000_000,
        1_750_000_060,
        1_750_000_060,
        1_750_000_120,
        1_750_000_180,
    ];
    for (n, at) in at.into_iter().enumerate() {
        let from = format!("4917000000{n}");
        store
            .ingest(vec![projection(
                Source::WhatsApp,
                &format!("page-{n}"),
                vec![whatsapp_text(
                    &format!("wamid.page.{n}"),
                    &from,
                    "Hallo",
                    at,
                )],
            )])
            .await
            .unwrap();
    }
    let newest = store.recent_conversations(10).await.unwrap();
    let last = newest[0].last_message.as_ref().expect("the newest message");
    assert_eq!(
        (
            last.id.as_str(),
            last.direction.as_str(),
            last.body.as_deref(),
            last.sent_at
        ),
        (
            MessageId::derive(&["whatsapp", "wamid.page.4"]).as_str(),
            "in",
            Some("Hallo"),
            1_750_000_180_000
        )
    );
    // One contact's view: only their conversation and messages.
    let contact = &newest[0].contact_id;
    let theirs = store
        .conversations(
            10,
            &ConversationFilter {
                contact_id: Some(contact),
                ..ConversationFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].id, newest[0].id);
    let timeline = store.contact_messages(contact, 10, None).await.unwrap();
    assert_eq!(timeline.len(), 1);
    assert_eq!(timeline[0].id, last.id);
    let older = store
        .contact_messages(contact, 10, Some((timeline[0].sent_at, &timeline[0].id)))
        .await
        .unwrap();
    assert!(older.is_empty());
    let all: Vec<String> = newest.into_iter().map(|c| c.id).collect();
    assert_eq!(all.len(), 5);
    // The business answers customer 4 (an echo): only 0 to 3 still wait.
    store
        .ingest(vec![projection(
            Source::WhatsApp,
            "page-echo",
            vec![echo("wamid.page.echo", "49170000004", 1_750_000_240)],
        )])
        .await
        .unwrap();
    let waiting = store
        .conversations(
            10,
            &ConversationFilter {
                awaiting_reply: true,
                channel: Some(Channel::WhatsApp),
                ..ConversationFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(waiting.len(), 4);
    assert!(waiting.iter().all(|c| c.id != all[0]));
    // Each has waited since its customer's message; the answered one not at all.
    assert!(
        waiting.iter().all(|c| c.waiting_since == c.last_inbound_at),
        "{waiting:?}"
    );
    let answered = store.recent_conversations(1).await.unwrap();
    assert_eq!(
        (answered[0].id.as_str(), answered[0].waiting_since),
        (all[0].as_str(), None)
    );
    // Page sizes that cut between the two of the same second and that do not.
    for limit in 1..=3 {
        let mut paged = Vec::new();
        let mut before: Option<(i64, String)> = None;
        loop {
            let page = store
                .conversations(
                    limit,
                    &ConversationFilter {
                        before: before.as_ref().map(|(at, id)| (*at, id.as_str())),
                        ..ConversationFilter::default()
                    },
                )
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            before = Some((last.last_message_at, last.id.clone()));
            paged.extend(page.into_iter().map(|c| c.id));
        }
        assert_eq!(paged, all, "pages of {limit}");
    }
}

conformance!(
    two_claimants_project_each_raw_event_once,
    accepted_deliveries_are_projected_after_the_ack_in_log_order,
    a_message_is_stored_with_its_raw_event_and_projected,
    a_duplicate_delivery_changes_nothing,
    delivery_state_only_moves_forward,
    reactions_are_added_and_removed,
    unrecognized_input_is_kept,
    replay_rebuilds_identical_projections,
    concurrent_writers_share_commits_and_lose_nothing,
    a_large_import_batch_is_stored_whole,
    a_batch_mixing_stored_and_new_items_stores_only_the_new,
    a_known_customer_keeps_one_contact_and_gets_a_name_once,
    conversations_page_by_keyset_each_once_in_order,
);

#[tokio::test]
async fn an_unknown_database_url_is_a_clear_error() {
    let err = Store::open("mysql://localhost/x", StoreOptions::default())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("use sqlite://PATH"), "{err}");
}

/// `resonanz import` beside a starting server: both open a new SQLite file
/// and migrate it at once; neither may fail on the other's half-applied step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_opening_a_new_sqlite_file_at_once_both_migrate_it() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("shared.db").display());
        let (a, b) = tokio::join!(
            Store::open(&url, StoreOptions::default()),
            Store::open(&url, StoreOptions::default())
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.counts().await.unwrap(), b.counts().await.unwrap());
        a.close().await;
        b.close().await;
    }
}
