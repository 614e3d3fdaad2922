//! Inbound media: downloaded from the Graph API (the simulator) into the
//! blob store, with its state kept per attachment.

use crate::support::*;
use base64::Engine as _;
use resonanz_channels::media::BlobStore;
use resonanz_core::MessageId;
use resonanz_sim::{Channel, InboundContent, InboundRequest, Tunables};
use resonanz_store::{MediaRow, MediaState};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Polls the media state of a message until `done` holds (bounded).
async fn wait_for_media(app: &TestApp, wamid: &str, done: impl Fn(&MediaRow) -> bool) -> MediaRow {
    wait_for_media_on(app, "whatsapp", wamid, done).await
}

async fn wait_for_media_on(
    app: &TestApp,
    channel: &str,
    wamid: &str,
    done: impl Fn(&MediaRow) -> bool,
) -> MediaRow {
    let message_id = MessageId::derive(&[channel, wamid]);
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

#[tokio::test]
async fn messenger_and_instagram_files_are_fetched_from_their_cdn_links_without_a_token() {
    let app = spawn_app().await;
    app.sim.set_tunables(Tunables {
        media_failures: 1,
        ..fast_tunables()
    });
    for (channel, from) in [
        (Channel::Messenger, ANNA_PSID),
        (Channel::Instagram, ANNA_IGSID),
    ] {
        let receipt = app
            .sim
            .deliver_inbound(InboundRequest {
                channel,
                ..InboundRequest::whatsapp(from, InboundContent::Image { caption: None })
            })
            .await
            .unwrap();
        let mid = &receipt.message_ids[0];
        let name = match channel {
            Channel::Messenger => "messenger",
            _ => "instagram",
        };
        let url = app.message(name, mid).await.attachments[0]
            .media_ref
            .clone();
        assert!(url.contains("/cdn/attachments/"), "{url}");
        let stored = wait_for_media_on(&app, name, mid, |r| r.state == MediaState::Stored).await;
        assert_eq!(stored.mime_type.as_deref(), Some("image/png"));
        let key = stored.blob_sha256.unwrap();
        let bytes = BlobStore::new(&app.settings.media.dir)
            .get(&key)
            .await
            .unwrap()
            .expect("file in the blob store");
        assert!(bytes.starts_with(b"\x89PNG"));
        assert_eq!(hex::encode(Sha256::digest(&bytes)), key);
    }
    // The first download answered 503 and was retried.
    assert_eq!(app.sim.tunables().media_failures, 0);
}

#[tokio::test]
async fn an_expired_messenger_link_fails_with_its_reason_instead_of_retrying_forever() {
    let app = spawn_app_with(|settings| settings.media.retry_base_ms = 400).await;
    app.sim.set_tunables(Tunables {
        media_failures: 1,
        ..fast_tunables()
    });
    let receipt = app
        .sim
        .deliver_inbound(InboundRequest {
            channel: Channel::Messenger,
            ..InboundRequest::whatsapp(
                ANNA_PSID,
                InboundContent::Document {
                    filename: "polizeibericht.pdf".into(),
                    caption: None,
                },
            )
        })
        .await
        .unwrap();
    let mid = &receipt.message_ids[0];
    wait_for_media_on(&app, "messenger", mid, |r| r.state == MediaState::Retrying).await;
    // Meta's CDN links expire, and Messenger offers no way to get a new one.
    app.sim.advance_clock(3600);
    let failed = wait_for_media_on(&app, "messenger", mid, |r| r.state == MediaState::Failed).await;
    assert!(
        failed.last_error.as_deref().unwrap().contains("403"),
        "{failed:?}"
    );
    assert!(failed.blob_sha256.is_none());
}
