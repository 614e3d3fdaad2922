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

#[test]
fn uploads_follow_the_same_table_strictly() {
    // Received documents may be of any type; uploaded ones only of Meta's list.
    assert_eq!(
        size_limit("document", "application/x-msdownload").unwrap(),
        100 * MB
    );
    assert!(upload_limit("application/x-msdownload").is_none());
    assert_eq!(upload_limit("application/pdf").unwrap().kind, "document");
    assert_eq!(upload_limit("Image/PNG").unwrap().kind, "image");
    assert_eq!(
        upload_limit("audio/ogg; codecs=opus").unwrap().kind,
        "audio"
    );
    assert_eq!(upload_limit("video/mp4").unwrap().kind, "video");
    assert_eq!(
        check_upload("image/jpeg", 5 * MB).unwrap().max_bytes,
        5 * MB
    );
    assert_eq!(
        check_upload("image/jpeg", 5 * MB + 1),
        Err(MediaError::TooLarge {
            size: 5 * MB + 1,
            limit: 5 * MB
        })
    );
    assert_eq!(check_upload("application/pdf", 0), Err(MediaError::Empty));
    // Every type belongs to exactly one kind.
    let mut all: Vec<&str> = WHATSAPP_MEDIA
        .iter()
        .flat_map(|l| l.mime_types.iter().copied())
        .collect();
    let count = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count);
    assert!(content_matches("application/pdf", PDF));
    assert!(!content_matches("image/png", PDF));
    assert!(content_matches("text/plain", b"Hallo"));
}

#[test]
fn untrusted_filenames_lose_paths_controls_and_bidi_tricks() {
    assert_eq!(
        sanitize_filename("../../etc/Versicherungsschein.pdf").as_deref(),
        Some("Versicherungsschein.pdf")
    );
    assert_eq!(
        sanitize_filename("C:\\Users\\anna\\Police Müller.pdf").as_deref(),
        Some("Police Müller.pdf")
    );
    assert_eq!(
        sanitize_filename("Rechnung\u{202e}fdp.exe\r\n").as_deref(),
        Some("Rechnungfdp.exe")
    );
    assert_eq!(
        sanitize_filename("a\"b\u{0}.pdf").as_deref(),
        Some("a'b.pdf")
    );
    assert_eq!(sanitize_filename(".."), None);
    assert_eq!(sanitize_filename("  "), None);
    assert_eq!(sanitize_filename(&"x".repeat(300)).unwrap().len(), 200);
}

#[tokio::test]
async fn upload_posts_metas_multipart_form_and_returns_the_media_id() {
    let mock = MockGraph::start(|_, _| json(200, json!({"id": "1037543291543636"}))).await;
    let id = client(&mock.base_url)
        .upload_media(
            "106540352242922",
            PDF,
            "application/pdf",
            "../Versicherungsschein.pdf",
        )
        .await
        .unwrap();
    assert_eq!(id, "1037543291543636");
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v23.0/106540352242922/media");
    assert_eq!(reqs[0].authorization.as_deref(), Some("Bearer tok"));
    let content_type = reqs[0].content_type.clone().unwrap();
    assert!(content_type.starts_with("multipart/form-data; boundary="));
    // Read back as a server does: axum's multipart extractor (multer).
    let request = axum::http::Request::builder()
        .header("content-type", &content_type)
        .body(axum::body::Body::from(reqs[0].body.clone()))
        .unwrap();
    let mut form =
        <axum::extract::Multipart as axum::extract::FromRequest<()>>::from_request(request, &())
            .await
            .unwrap();
    let mut parts = Vec::new();
    while let Some(field) = form.next_field().await.unwrap() {
        let head = (
            field.name().map(str::to_owned),
            field.file_name().map(str::to_owned),
            field.content_type().map(str::to_owned),
        );
        parts.push((head, field.bytes().await.unwrap()));
    }
    let heads: Vec<_> = parts.iter().map(|(head, _)| head.clone()).collect();
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        heads,
        vec![
            (some("messaging_product"), None, None),
            (some("type"), None, None),
            (
                some("file"),
                some("Versicherungsschein.pdf"),
                some("application/pdf")
            ),
        ]
    );
    assert_eq!(parts[0].1, "whatsapp");
    assert_eq!(parts[1].1, "application/pdf");
    assert_eq!(parts[2].1, PDF);
    // The exact header lines curl -F 'file=@…;type=…' would send.
    let text = String::from_utf8_lossy(&reqs[0].body);
    assert!(text.contains(
        "Content-Disposition: form-data; name=\"file\"; filename=\"Versicherungsschein.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4"
    ));
}

#[tokio::test]
async fn uploads_break_no_limit_and_metas_refusal_keeps_its_code() {
    let mock = MockGraph::start(|_, _| {
        json(
            400,
            json!({"error": {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100,
                "error_data": {"messaging_product": "whatsapp", "details": "Param file must be a file"}, "fbtrace_id": "Ax1"}}),
        )
    })
    .await;
    let c = client(&mock.base_url);
    let big = vec![0xffu8; 5 * MB as usize + 1];
    let err = c
        .upload_media("1", &big, "image/jpeg", "foto.jpg")
        .await
        .unwrap_err();
    assert_eq!(err.kind, crate::outbound::SendErrorKind::Invalid);
    assert!(err.message.contains("at most 5242880"), "{err}");
    let err = c
        .upload_media("1", b"MZ", "application/x-msdownload", "setup.exe")
        .await
        .unwrap_err();
    assert_eq!(err.kind, crate::outbound::SendErrorKind::Invalid);
    assert!(
        c.upload_media("1", b"", "application/pdf", "leer.pdf")
            .await
            .is_err()
    );
    assert!(mock.requests().is_empty(), "nothing left the process");

    let err = c
        .upload_media("1", PDF, "application/pdf", "Police.pdf")
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(100));
    assert_eq!(err.http_status, Some(400));
    assert_eq!(err.details.as_deref(), Some("Param file must be a file"));
    assert!(err.explain_de().contains("Ungültiger Parameter"));
}

/// A WebP header as encoders write it: `VP8L` (lossless, static) or `VP8X`
/// with the animation flag, padded to `size` bytes with a trailing chunk.
pub(crate) fn webp(width: u32, height: u32, animated: bool, size: usize) -> Vec<u8> {
    let mut chunks = Vec::new();
    if animated {
        chunks.extend_from_slice(b"VP8X");
        chunks.extend_from_slice(&10u32.to_le_bytes());
        chunks.push(0x02);
        chunks.extend_from_slice(&[0, 0, 0]);
        chunks.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
        chunks.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    } else {
        let bits = (width - 1) | ((height - 1) << 14);
        chunks.extend_from_slice(b"VP8L");
        chunks.extend_from_slice(&5u32.to_le_bytes());
        chunks.push(0x2f);
        chunks.extend_from_slice(&bits.to_le_bytes());
        chunks.push(0); // pad to an even length
    }
    let filler = size.saturating_sub(12 + chunks.len() + 8);
    chunks.extend_from_slice(b"JUNK");
    chunks.extend_from_slice(&(filler as u32).to_le_bytes());
    chunks.resize(chunks.len() + filler, 0);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((chunks.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&chunks);
    out
}

#[test]
fn webp_headers_give_size_and_animation() {
    let still = webp(512, 512, false, 2048);
    assert_eq!(still.len(), 2048);
    assert_eq!(
        webp_info(&still),
        Some(WebpInfo {
            width: 512,
            height: 512,
            animated: false
        })
    );
    assert!(content_matches("image/webp", &still));
    let moving = webp(512, 512, true, 4096);
    assert_eq!(webp_info(&moving).map(|i| i.animated), Some(true));
    // A lossy VP8 key frame: tag, start code, then 14-bit width and height.
    let mut lossy = b"RIFF\x00\x00\x00\x00WEBPVP8 \x0a\x00\x00\x00".to_vec();
    lossy.extend_from_slice(&[0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]);
    lossy.extend_from_slice(&640u16.to_le_bytes());
    lossy.extend_from_slice(&(480u16 | 0x4000).to_le_bytes());
    assert_eq!(
        webp_info(&lossy),
        Some(WebpInfo {
            width: 640,
            height: 480,
            animated: false
        })
    );
    assert_eq!(webp_info(b"RIFF\x00\x00\x00\x00WAVEfmt "), None);
    assert_eq!(webp_info(PDF), None);
}

#[test]
fn stickers_are_512_square_and_small() {
    assert!(check_sticker(&webp(512, 512, false, 100 * 1024)).is_ok());
    assert!(check_sticker(&webp(512, 512, true, 500 * 1024)).is_ok());
    assert_eq!(
        check_sticker(&webp(512, 512, false, 100 * 1024 + 1)),
        Err(StickerError::TooLarge {
            size: 100 * 1024 + 1,
            max: 100 * 1024,
            animated: false
        })
    );
    assert!(matches!(
        check_sticker(&webp(512, 512, true, 500 * 1024 + 1)),
        Err(StickerError::TooLarge { animated: true, .. })
    ));
    let wrong = check_sticker(&webp(256, 512, false, 1024)).unwrap_err();
    assert_eq!(
        wrong,
        StickerError::Dimensions {
            width: 256,
            height: 512
        }
    );
    assert!(wrong.message_de().contains("512×512"));
    assert_eq!(check_sticker(PDF), Err(StickerError::NotWebp));
}

#[tokio::test]
async fn a_blob_set_aside_can_be_put_back_or_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::new(dir.path());
    let blob = store.put(PDF).await.unwrap();
    let aside = store.set_aside(&blob.sha256).await.unwrap().unwrap();
    assert_eq!(store.get(&blob.sha256).await.unwrap(), None);
    store.put_back(&blob.sha256, &aside).await.unwrap();
    assert_eq!(store.get(&blob.sha256).await.unwrap().as_deref(), Some(PDF));
    let aside = store.set_aside(&blob.sha256).await.unwrap().unwrap();
    store.discard(&aside).await.unwrap();
    assert!(!aside.exists());
    assert_eq!(store.get(&blob.sha256).await.unwrap(), None);
    assert_eq!(store.set_aside(&blob.sha256).await.unwrap(), None);
    assert_eq!(store.set_aside("../etc/passwd").await.unwrap(), None);
}
