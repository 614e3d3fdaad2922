//! Inbound media: downloaded from the Graph API (the simulator) into the
//! blob store, with its state kept per attachment.

use crate::support::*;
use base64::Engine as _;
use resonanz_channels::media::BlobStore;
use resonanz_core::MessageId;
use resonanz_sim::{InboundContent, InboundRequest, Tunables};
use resonanz_store::{MediaRow, MediaState};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Polls the media state of a message until `done` holds (bounded).
async fn wait_for_media(app: &TestApp, wamid: &str, done: impl Fn(&MediaRow) -> bool) -> MediaRow {
    let message_id = MessageId::derive(&["whatsapp", wamid]);
    let mut last = None;
    for _ in 0..200 {
        let rows = app
            .store
            .media_of_message(message_id.as_str())
            .await
            .unwrap();
        if let Some(row) = rows.into_iter().next() {
            if done(&row) {
                return row;
            }
            last = Some(row);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("media of {wamid} never reached the expected state: {last:?}");
}

fn hex_of_base64(sha: &str) -> String {
    hex::encode(
        base64::engine::general_purpose::STANDARD
            .decode(sha)
            .expect("Meta sends base64"),
    )
}

#[tokio::test]
async fn a_document_is_downloaded_into_the_blob_store_under_the_webhooks_sha256() {
    let app = spawn_app().await;
    let receipt = app
        .sim
        .deliver_inbound(InboundRequest::whatsapp(
            ANNA,
            InboundContent::Document {
                filename: "polizeibericht.pdf".into(),
                caption: Some("Polizeibericht".into()),
            },
        ))
        .await
        .unwrap();
    let wamid = &receipt.message_ids[0];
    let webhook_sha = app.message("whatsapp", wamid).await.attachments[0]
        .sha256
        .clone()
        .expect("webhook names the sha256");

    let row = wait_for_media(&app, wamid, |r| r.state == MediaState::Stored).await;
    let key = hex_of_base64(&webhook_sha);
    assert_eq!(row.blob_sha256.as_deref(), Some(key.as_str()));
    assert_eq!(row.mime_type.as_deref(), Some("application/pdf"));
    assert_eq!(row.media_ref, receipt.media_ids[0]);
    assert_eq!(row.attempts, 1);
    let bytes = BlobStore::new(&app.settings.media.dir)
        .get(&key)
        .await
        .unwrap()
        .expect("file in the blob store");
    assert!(bytes.starts_with(b"%PDF-"));
    assert_eq!(hex::encode(Sha256::digest(&bytes)), key);
    assert_eq!(row.size, Some(bytes.len() as i64));
}

#[tokio::test]
async fn a_failing_media_endpoint_shows_retrying_with_a_reason_and_later_succeeds() {
    let app = spawn_app_with(|settings| {
        // Slow enough to observe the retrying state between attempts.
        settings.media.retry_base_ms = 300;
    })
    .await;
    app.sim.set_tunables(Tunables {
        media_failures: 2,
        ..fast_tunables()
    });
    let receipt = app
        .sim
        .deliver_inbound(InboundRequest::whatsapp(
            ANNA,
            InboundContent::Image {
                caption: Some("Schaden am Dach".into()),
            },
        ))
        .await
        .unwrap();
    let wamid = &receipt.message_ids[0];

    let retrying = wait_for_media(&app, wamid, |r| r.state == MediaState::Retrying).await;
    assert!(
        retrying.last_error.as_deref().unwrap().contains("503"),
        "{retrying:?}"
    );
    assert!(retrying.blob_sha256.is_none());

    let stored = wait_for_media(&app, wamid, |r| r.state == MediaState::Stored).await;
    assert_eq!(stored.attempts, 3, "two failures, then success");
    assert_eq!(stored.last_error, None);
    assert_eq!(app.sim.tunables().media_failures, 0);
    let key = stored.blob_sha256.unwrap();
    assert!(
        BlobStore::new(&app.settings.media.dir)
            .get(&key)
            .await
            .unwrap()
            .unwrap()
            .starts_with(b"\x89PNG")
    );
}

#[tokio::test]
async fn media_of_an_unconfigured_number_is_kept_retrying_not_dropped() {
    let app = spawn_app_with(|settings| settings.meta.whatsapp.clear()).await;
    let receipt = app
        .sim
        .deliver_inbound(InboundRequest::whatsapp(
            ANNA,
            InboundContent::Audio { voice: true },
        ))
        .await
        .unwrap();
    let row = wait_for_media(&app, &receipt.message_ids[0], |r| {
        r.state == MediaState::Retrying
    })
    .await;
    assert!(
        row.last_error
            .as_deref()
            .unwrap()
            .contains("no access token configured"),
        "{row:?}"
    );
}
