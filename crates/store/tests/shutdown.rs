//! Closing a SQLite store leaves nothing of it running: the last commit's
//! checkpoint finishes before the pools close, so a clean stop logs no error.

use resonanz_core::*;
use resonanz_store::{Projection, Store, StoreOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn raw_only(key: &str) -> Projection {
    Projection {
        raw: RawEvent {
            id: None,
            source: Source::WhatsApp,
            dedupe_key: key.into(),
            received_at: Timestamp::from_secs(1_750_016_800),
            verification: Verification::SignatureValid,
            payload: format!("{{\"key\":\"{key}\"}}").into_bytes(),
        },
        items: Vec::new(),
        parse_error: None,
    }
}

#[tokio::test]
async fn closing_right_after_a_commit_logs_no_failed_checkpoint() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // A checkpoint is due after every commit; before the fix, one in two or
    // three closes ran it against the closed pool.
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("resonanz.db").display());
        let store = Store::open(&url, StoreOptions::default()).await.unwrap();
        store
            .accept(vec![raw_only(&format!("delivery-{round}"))])
            .await
            .unwrap();
        store.close().await;
    }
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!text.contains("checkpoint failed"), "{text}");
}
