//! The team's accounts: language, sessions, login throttling counts and the
//! append-only audit log, on SQLite and PostgreSQL alike.

use resonanz_core::Timestamp;
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

conformance!(
    an_agents_language_and_sessions_are_theirs,
    login_failures_count_per_account_and_address_and_are_forgotten,
    the_audit_log_pages_newest_first_and_cannot_be_rewritten,
);
