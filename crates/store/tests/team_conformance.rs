//! The team's accounts: language, sessions, login throttling counts and the
//! append-only audit log, on SQLite and PostgreSQL alike.

use resonanz_core::*;
use resonanz_store::*;

mod common;
use common::TestStore;

const T0: Timestamp = Timestamp::from_secs(1_750_000_000);

async fn agent(store: &Store, name: &str) -> String {
    let id = format!("ag_{name}");
    store
        .create_agent(&NewAgent {
            id: id.clone(),
            name: name.into(),
            role: Role::Analyst,
            password_hash: None,
            token_hash: format!("token-{name}"),
            now: T0,
        })
        .await
        .unwrap();
    id
}

async fn an_agents_language_and_sessions_are_theirs(t: TestStore) {
    let store = t.store;
    let anna = agent(&store, "anna").await;
    let bernd = agent(&store, "bernd").await;
    let found = store.agent_by_name("anna").await.unwrap().unwrap();
    assert_eq!((found.locale.as_str(), found.role), ("de", Role::Analyst));
    assert!(store.set_agent_locale(&anna, "en").await.unwrap());
    assert!(!store.set_agent_locale("ag_nobody", "en").await.unwrap());
    assert_eq!(
        store.agent_by_name("anna").await.unwrap().unwrap().locale,
        "en"
    );

    let later = T0.plus_millis(3_600_000);
    for (hash, who) in [("s1", &anna), ("s2", &anna), ("s3", &bernd)] {
        store.create_session(hash, who, T0, later).await.unwrap();
    }
    assert_eq!(store.delete_session("s1").await.unwrap(), 1);
    assert!(store.agent_by_token_hash("s1", T0).await.unwrap().is_none());
    assert!(store.agent_by_token_hash("s2", T0).await.unwrap().is_some());
    assert_eq!(store.delete_sessions_of(&anna).await.unwrap(), 1);
    assert!(store.agent_by_token_hash("s2", T0).await.unwrap().is_none());
    assert!(
        store.agent_by_token_hash("s3", T0).await.unwrap().is_some(),
        "Bernd stays in"
    );
}

async fn login_failures_count_per_account_and_address_and_are_forgotten(t: TestStore) {
    let store = t.store;
    for (i, (name, address)) in [
        ("anna", "10.0.0.1"),
        ("anna", "10.0.0.2"),
        ("bernd", "10.0.0.1"),
    ]
    .iter()
    .enumerate()
    {
        store
            .record_login_failure(name, address, T0.plus_millis(i as i64))
            .await
            .unwrap();
    }
    let counts = store
        .login_failures_since("anna", "10.0.0.1", T0)
        .await
        .unwrap();
    assert_eq!(
        counts,
        LoginFailures {
            by_name: 2,
            by_address: 2
        }
    );
    let later = store
        .login_failures_since("anna", "10.0.0.1", T0.plus_millis(1))
        .await
        .unwrap();
    assert_eq!(
        later,
        LoginFailures {
            by_name: 1,
            by_address: 1
        }
    );
    store.clear_login_failures("anna").await.unwrap();
    let cleared = store
        .login_failures_since("anna", "10.0.0.1", T0)
        .await
        .unwrap();
    assert_eq!(
        cleared,
        LoginFailures {
            by_name: 0,
            by_address: 1
        }
    );
    // A day later the old failures are gone when the next one is recorded.
    let next_day = T0.plus_millis(25 * 3_600_000);
    store
        .record_login_failure("carla", "10.0.0.9", next_day)
        .await
        .unwrap();
    let old = store
        .login_failures_since("bernd", "10.0.0.1", T0)
        .await
        .unwrap();
    assert_eq!(
        old,
        LoginFailures {
            by_name: 0,
            by_address: 0
        }
    );
}

async fn the_audit_log_pages_newest_first_and_cannot_be_rewritten(t: TestStore) {
    let store = t.store;
    for i in 0..5 {
        let detail = format!("entry {i}");
        store
            .append_audit(
                &NewAudit {
                    agent_id: Some("ag_anna"),
                    agent_name: Some("anna"),
                    action: "send",
                    target: Some("cv_1"),
                    detail: &detail,
                    address: Some("10.0.0.1"),
                },
                T0.plus_millis(i),
            )
            .await
            .unwrap();
    }
    let first = store.audit_entries(None, 3).await.unwrap();
    let details: Vec<_> = first.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(details, ["entry 4", "entry 3", "entry 2"]);
    let rest = store.audit_entries(Some(first[2].seq), 3).await.unwrap();
    let details: Vec<_> = rest.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(details, ["entry 1", "entry 0"]);

    // Append-only in the database itself, not just in the application.
    let update = "UPDATE audit_log SET detail = 'nichts passiert'";
    let delete = "DELETE FROM audit_log";
    for sql in [update, delete] {
        let refused = match store.backend() {
            Backend::Sqlite { write, .. } => sqlx::query(sql).execute(write).await.is_err(),
            Backend::Postgres(pool) => sqlx::query(sql).execute(pool).await.is_err(),
        };
        assert!(refused, "{sql} went through");
    }
    assert_eq!(store.audit_entries(None, 10).await.unwrap().len(), 5);
}

/// A customer writes at `at`; returns the conversation's id.
async fn customer_writes(store: &Store, from: &str, key: &str, at: Timestamp) -> String {
    let inbound = Inbound::Message(InboundMessage {
        channel: Channel::WhatsApp,
        account: "106540352242922".into(),
        direction: Direction::Inbound,
        customer: vec![Identity::new(IdentityKind::WhatsApp, from)],
        profile_name: Some(format!("Kunde {from}")),
        external_id: format!("wamid.{key}"),
        kind: MessageKind::Text,
        text: Some("Hallo".into()),
        attachments: vec![],
        location: None,
        reply_to: None,
        sent_at: at,
        raw: serde_json::json!({"id": key}),
    });
    store
        .ingest(vec![Projection {
            raw: RawEvent {
                id: None,
                source: Source::WhatsApp,
                dedupe_key: key.into(),
                received_at: at,
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
    store
        .recent_conversations(50)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.contact_name.as_deref() == Some(&format!("Kunde {from}")))
        .unwrap()
        .id
}

/// The ids of a list, sorted, to compare with one id: `vec![id]`.
fn listed(store_rows: &[ConversationRow]) -> Vec<String> {
    let mut ids: Vec<String> = store_rows.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids
}

async fn a_conversations_status_is_reopened_by_the_customer_and_by_the_end_of_a_snooze(
    t: TestStore,
) {
    let store = t.store;
    let anna = agent(&store, "anna").await;
    let team = store.agents().await.unwrap();
    let me = team.iter().find(|a| a.id == anna).unwrap().clone();
    let actor = |now| Actor {
        agent_id: &anna,
        agent_name: "anna",
        now,
    };
    let first = customer_writes(&store, "491701", "m1", T0).await;
    let second = customer_writes(&store, "491702", "m2", T0).await;
    let t1 = T0.plus_millis(60_000);

    assert_eq!(
        store.work_state(&first, t1).await.unwrap().status,
        ConversationStatus::Open
    );
    store
        .set_conversation_status(&first, ConversationStatus::Resolved, None, actor(t1))
        .await
        .unwrap();
    let until = t1.plus_millis(3_600_000);
    store
        .set_conversation_status(&second, ConversationStatus::Snoozed, Some(until), actor(t1))
        .await
        .unwrap();
    store
        .assign_conversation(&second, Some(&me), actor(t1))
        .await
        .unwrap();

    let list = |status, assignee, now: Timestamp| {
        let store = store.clone();
        async move {
            let filter = ConversationFilter {
                status,
                assignee,
                now: now.0,
                ..ConversationFilter::default()
            };
            store.conversations(50, &filter).await.unwrap()
        }
    };
    let t2 = t1.plus_millis(60_000);
    assert_eq!(
        listed(&list(Some(ConversationStatus::Resolved), Assignee::Anyone, t2).await),
        vec![first.clone()]
    );
    assert_eq!(
        listed(&list(Some(ConversationStatus::Snoozed), Assignee::Anyone, t2).await),
        vec![second.clone()]
    );
    assert!(
        list(Some(ConversationStatus::Open), Assignee::Anyone, t2)
            .await
            .is_empty()
    );
    let mine = list(None, Assignee::Agent(&anna), t2).await;
    assert_eq!(listed(&mine), vec![second.clone()]);
    assert_eq!(mine[0].assignee_name.as_deref(), Some("anna"));
    assert_eq!(
        listed(&list(None, Assignee::Nobody, t2).await),
        vec![first.clone()]
    );
    let counts = store.conversation_counts(&anna, t2).await.unwrap();
    assert_eq!(
        (
            counts.open,
            counts.resolved,
            counts.snoozed,
            counts.mine,
            counts.unassigned
        ),
        (0, 1, 1, 1, 1)
    );

    // The snooze ends at its time; a new customer message reopens the resolved one.
    let after_snooze = until.plus_millis(1);
    assert_eq!(
        store
            .work_state(&second, after_snooze)
            .await
            .unwrap()
            .status,
        ConversationStatus::Open
    );
    assert_eq!(
        listed(
            &list(
                Some(ConversationStatus::Open),
                Assignee::Anyone,
                after_snooze
            )
            .await
        ),
        vec![second.clone()]
    );
    customer_writes(&store, "491701", "m3", t2.plus_millis(1_000)).await;
    let t3 = t2.plus_millis(2_000);
    assert_eq!(
        store.work_state(&first, t3).await.unwrap().status,
        ConversationStatus::Open
    );
    assert_eq!(
        listed(&list(Some(ConversationStatus::Open), Assignee::Anyone, t3).await),
        vec![first.clone()]
    );

    // Every change is in the history, and each committed an event for the live feed.
    let history = store.conversation_activity(&second).await.unwrap();
    let kinds: Vec<&str> = history.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["status", "assignee"]);
    assert_eq!(history[0].detail["to"], "snoozed");
    assert_eq!(history[1].detail["to_name"], "anna");
    let events = store.events_after(0, 100).await.unwrap();
    let changes = events
        .iter()
        .filter(|e| matches!(&e.event, event::DomainEvent::ConversationChanged { .. }))
        .count();
    assert_eq!(changes, 3);
}

async fn a_note_notifies_the_agents_it_mentions_until_they_open_it(t: TestStore) {
    let store = t.store;
    let anna = agent(&store, "anna").await;
    let bernd = agent(&store, "bernd").await;
    let team = store.agents().await.unwrap();
    let conversation = customer_writes(&store, "491701", "m1", T0).await;
    let mentioned: Vec<AgentSummary> = team.into_iter().filter(|a| a.id == bernd).collect();
    let actor = Actor {
        agent_id: &anna,
        agent_name: "anna",
        now: T0.plus_millis(5),
    };
    let note = store
        .add_note(
            &conversation,
            "@bernd bitte Kulanz prüfen",
            &mentioned,
            actor,
        )
        .await
        .unwrap();
    assert_eq!(store.unread_notifications(&bernd).await.unwrap(), 1);
    assert_eq!(store.unread_notifications(&anna).await.unwrap(), 0);
    let found = store.notifications(&bernd, 10).await.unwrap();
    assert_eq!(
        (found[0].activity_id, found[0].by_name.as_str()),
        (note, "anna")
    );
    assert_eq!(found[0].body.as_deref(), Some("@bernd bitte Kulanz prüfen"));
    assert_eq!(
        store
            .read_notifications(&bernd, &conversation, T0.plus_millis(9))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.unread_notifications(&bernd).await.unwrap(), 0);
    assert!(store.notifications(&bernd, 10).await.unwrap()[0].read);
    let events = store.events_after(0, 100).await.unwrap();
    assert!(events.iter().any(|e| matches!(
        &e.event,
        event::DomainEvent::AgentMentioned { agent_id, .. } if *agent_id == bernd
    )));
    // A replay rebuilds the projections from the raw log; the team's work stays.
    store.reset_projections().await.unwrap();
    assert_eq!(
        store
            .conversation_activity(&conversation)
            .await
            .unwrap()
            .len(),
        1
    );
}

conformance!(
    a_conversations_status_is_reopened_by_the_customer_and_by_the_end_of_a_snooze,
    a_note_notifies_the_agents_it_mentions_until_they_open_it,
    an_agents_language_and_sessions_are_theirs,
    login_failures_count_per_account_and_address_and_are_forgotten,
    the_audit_log_pages_newest_first_and_cannot_be_rewritten,
);
