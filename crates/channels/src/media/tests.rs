use super::*;
use crate::outbound::{GraphConfig, Secret};
use crate::test_server::{MockGraph, json};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const PDF: &[u8] = b"%PDF-1.4 Polizeibericht Unfall A100";

fn client(base: &str) -> GraphClient {
    GraphClient::new(GraphConfig::new(base, "v23.0", Secret::new("tok"))).unwrap()
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    }
}

fn b64_sha(bytes: &[u8]) -> String {
    BASE64.encode(Sha256::digest(bytes).as_slice())
}

#[tokio::test]
async fn fetches_by_id_with_bearer_verifies_sha_and_stores_by_content() {
    let mock = MockGraph::start(|req, base| match req.path.as_str() {
        "/v23.0/622684793477189" => json(200, json!({"messaging_product":"whatsapp","url":format!("{base}/dl/622684793477189"),
            "mime_type":"application/pdf","sha256":b64_sha(PDF),"file_size":PDF.len(),"id":"622684793477189"})),
        "/dl/622684793477189" if req.authorization.as_deref() == Some("Bearer tok") => (200, "application/pdf", PDF.to_vec()),
        _ => (401, "text/plain", b"no".to_vec()),
    }).await;
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    let c = client(&mock.base_url);
    let stored = c
        .fetch_whatsapp_media(
            "622684793477189",
            "document",
            Some(&b64_sha(PDF)),
            &store,
            fast(),
        )
        .await
        .unwrap();
    assert_eq!(stored.blob.sha256, hex::encode(Sha256::digest(PDF)));
    assert_eq!(stored.blob.size, PDF.len() as u64);
    assert_eq!(stored.mime_type, "application/pdf");
    assert_eq!(
        store.get(&stored.blob.sha256).await.unwrap().as_deref(),
        Some(PDF)
    );
    let path = store.path_for(&stored.blob.sha256).unwrap();
    assert!(path.starts_with(dir.path().join(&stored.blob.sha256[..2])));
    // Same content again: same blob, no second file.
    let again = store.put(PDF).await.unwrap();
    assert_eq!(again, stored.blob);
}

#[tokio::test]
async fn transient_download_failures_are_retried_with_backoff() {
    let downloads = Arc::new(AtomicUsize::new(0));
    let counter = downloads.clone();
    let mock = MockGraph::start(move |req, base| match req.path.as_str() {
        "/v23.0/m1" => json(
            200,
            json!({"url":format!("{base}/dl/m1"),"mime_type":"image/jpeg","id":"m1"}),
        ),
        _ => {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                (503, "text/plain", b"busy".to_vec())
            } else {
                (200, "image/jpeg", b"\xff\xd8jpeg".to_vec())
            }
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let stored = client(&mock.base_url)
        .fetch_whatsapp_media("m1", "image", None, &BlobStore::new(dir.path()), fast())
        .await
        .unwrap();
    assert_eq!(stored.attempts, 2);
    assert_eq!(downloads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn checksum_mismatch_retries_then_fails_typed() {
    let mock = MockGraph::start(|req, base| match req.path.as_str() {
        "/v23.0/m2" => json(
            200,
            json!({"url":format!("{base}/dl/m2"),"mime_type":"application/pdf","id":"m2"}),
        ),
        _ => (200, "application/pdf", b"truncated".to_vec()),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let err = client(&mock.base_url)
        .fetch_whatsapp_media(
            "m2",
            "document",
            Some(&b64_sha(PDF)),
            &BlobStore::new(dir.path()),
            fast(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::ChecksumMismatch { .. }), "{err}");
    assert_eq!(
        err.message_de(),
        "Download fehlgeschlagen, wird erneut versucht."
    );
    // 3 attempts = 3 lookups + 3 downloads.
    assert_eq!(mock.requests().len(), 6);
}

#[tokio::test]
async fn oversized_and_wrong_type_media_fail_permanently_without_retry() {
    let mock = MockGraph::start(|req, base| match req.path.as_str() {
        "/v23.0/big" => json(
            200,
            json!({"url":format!("{base}/dl/big"),"mime_type":"image/png","id":"big"}),
        ),
        "/v23.0/gif" => json(
            200,
            json!({"url":format!("{base}/dl/gif"),"mime_type":"image/gif","id":"gif"}),
        ),
        "/v23.0/gone" => json(
            400,
            json!({"error":{"message":"(#100) Invalid parameter","code":100}}),
        ),
        _ => (200, "image/png", vec![0u8; (5 * MB + 1) as usize]),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    let c = client(&mock.base_url);
    let big = c
        .fetch_whatsapp_media("big", "image", None, &store, fast())
        .await
        .unwrap_err();
    assert!(
        matches!(big, MediaError::TooLarge { limit, .. } if limit == 5 * MB),
        "{big}"
    );
    let gif = c
        .fetch_whatsapp_media("gif", "image", None, &store, fast())
        .await
        .unwrap_err();
    assert!(matches!(gif, MediaError::UnsupportedType { .. }));
    let gone = c
        .fetch_whatsapp_media("gone", "image", None, &store, fast())
        .await
        .unwrap_err();
    assert!(!gone.is_retryable());
    assert_eq!(
        gone.message_en(),
        "Download failed; the file is no longer available from Meta."
    );
    // One lookup each (+ one download for the big one): no retries.
    assert_eq!(mock.requests().len(), 4);
}

#[tokio::test]
async fn attachment_urls_are_fetched_without_the_token() {
    let mock = MockGraph::start(|_, _| (200, "image/jpeg", b"img".to_vec())).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/cdn/damage.jpg", mock.base_url);
    let stored = client(&mock.base_url)
        .fetch_attachment_url(&url, "image", &BlobStore::new(dir.path()), fast())
        .await
        .unwrap();
    assert_eq!(stored.blob.size, 3);
    assert_eq!(mock.requests()[0].authorization, None);
}

#[test]
fn limits_follow_metas_table_and_keys_cannot_escape_the_store() {
    assert_eq!(
        size_limit("audio", "audio/ogg; codecs=opus").unwrap(),
        16 * MB
    );
    assert_eq!(size_limit("video", "video/mp4").unwrap(), 16 * MB);
    assert_eq!(size_limit("document", "application/pdf").unwrap(), 100 * MB);
    assert_eq!(size_limit("sticker", "image/webp").unwrap(), 500 * 1024);
    assert!(size_limit("image", "image/gif").is_err());
    let store = BlobStore::new("/tmp/blobs");
    assert!(store.path_for("../../etc/passwd").is_none());
    assert!(store.path_for(&"A".repeat(64)).is_none());
    assert!(store.path_for(&"a".repeat(64)).is_some());
    let p = RetryPolicy {
        attempts: 5,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(300),
    };
    assert_eq!(
        (p.delay(0), p.delay(1), p.delay(5)),
        (
            Duration::from_millis(100),
            Duration::from_millis(200),
            Duration::from_millis(300)
        )
    );
}
