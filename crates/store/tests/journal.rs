//! The acceptance journal as the server uses it on SQLite: an acknowledged
//! delivery is durable before the database has it, is stored once, and a
//! second process never touches a journal in use.

use resonanz_core::*;
use resonanz_store::{IngestOutcome, Projection, Store, StoreOptions};
use std::sync::{Arc, Mutex};

fn delivery(body: &str) -> Projection {
    Projection {
        raw: RawEvent::webhook(
            Source::WhatsApp,
            body.as_bytes().to_vec(),
            Timestamp::from_secs(1_750_016_800),
        ),
        items: Vec::new(),
        parse_error: None,
    }
}

fn journaled() -> StoreOptions {
    StoreOptions {
        accept_journal: true,
        ..StoreOptions::default()
    }
}

#[tokio::test]
async fn journaled_deliveries_are_stored_once_and_their_outcomes_reported() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("resonanz.db").display());
    let store = Store::open(&url, journaled()).await.unwrap();
    assert!(store.has_accept_journal());
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    store.observe_accepted(Box::new(move |source, outcome| {
        sink.lock().unwrap().push((source, outcome));
    }));

    let first = store.accept(vec![delivery("{\"n\":1}")]).await.unwrap();
    assert_eq!(first, vec![IngestOutcome::Accepted]);
    store.flush().await.unwrap();
    store.accept(vec![delivery("{\"n\":1}")]).await.unwrap();
    store
        .accept(vec![delivery("{\"n\":2}"), delivery("{\"n\":2}")])
        .await
        .unwrap();
    store.flush().await.unwrap();

    assert_eq!(store.counts().await.unwrap().raw_events, 2);
    let outcomes: Vec<&str> = heard
        .lock()
        .unwrap()
        .iter()
        .map(|(source, outcome)| {
            assert_eq!(*source, Source::WhatsApp);
            match outcome {
                IngestOutcome::Stored(_) => "stored",
                IngestOutcome::Duplicate => "duplicate",
                IngestOutcome::Accepted => "accepted",
            }
        })
        .collect();
    assert_eq!(outcomes, ["stored", "duplicate", "stored", "duplicate"]);
    store.close().await;

    // A clean stop applies everything: the next start has nothing to replay.
    let reopened = Store::open(&url, journaled()).await.unwrap();
    assert_eq!(reopened.counts().await.unwrap().raw_events, 2);
    let journal_dir = dir.path().join("resonanz.db.accepted");
    let segments: Vec<_> = std::fs::read_dir(&journal_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".log"))
        .collect();
    assert_eq!(
        segments.len(),
        1,
        "only the new run's empty segment: {segments:?}"
    );
    reopened.close().await;
}

#[tokio::test]
async fn a_second_process_on_the_same_database_commits_instead() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("resonanz.db").display());
    let server = Store::open(&url, journaled()).await.unwrap();
    let other = Store::open(&url, journaled()).await.unwrap();
    assert!(server.has_accept_journal());
    assert!(!other.has_accept_journal(), "the journal is taken");
    let outcome = other.accept(vec![delivery("{\"n\":3}")]).await.unwrap();
    assert!(matches!(outcome[0], IngestOutcome::Stored(_)));
    other.close().await;
    server.close().await;
}

#[tokio::test]
async fn in_memory_and_postgres_stores_have_no_journal() {
    let store = Store::open("sqlite::memory:", journaled()).await.unwrap();
    assert!(!store.has_accept_journal());
    store.close().await;
}

#[tokio::test]
async fn an_in_memory_store_leaves_no_lock_file_behind() {
    let store = Store::open("sqlite::memory:", journaled()).await.unwrap();
    store.close().await;
    // Tests run in the crate's directory: nothing may appear there.
    assert!(!std::path::Path::new(":memory:.setup-lock").exists());
}
