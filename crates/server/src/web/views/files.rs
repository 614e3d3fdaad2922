//! `/files/{sha256}`: a stored file (a customer's photo, an agent's upload)
//! for a logged-in agent. Only types a browser shows inertly are served
//! inline; anything else is a download, and no file may run script here.

use crate::app::AppState;
use crate::web::session::WebSession;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use resonanz_channels::media::BlobStore;

/// Shown inside the page: images (not SVG, which can hold script), audio,
/// video and PDF.
fn inline_type(mime: &str) -> bool {
    let mime = mime.to_ascii_lowercase();
    (mime.starts_with("image/") && !mime.contains("svg"))
        || mime.starts_with("audio/")
        || mime.starts_with("video/")
        || mime == "application/pdf"
}

pub async fn file(
    State(app): State<AppState>,
    _session: WebSession,
    Path(sha256): Path<String>,
) -> Response {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    }
    let sha256 = sha256.to_ascii_lowercase();
    let mime = match app.store.blob_mime_type(&sha256).await {
        Ok(Some(mime)) => mime,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such file").into_response(),
        Err(err) => return super::inbox::store_failed(err),
    };
    let blobs = BlobStore::new(app.settings.media.dir.clone());
    let bytes = match blobs.get(&sha256).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such file").into_response(),
        Err(err) => return super::inbox::store_failed(err),
    };
    let (content_type, disposition) = if inline_type(&mime) {
        (mime, "inline")
    } else {
        ("application/octet-stream".to_owned(), "attachment")
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition.to_owned()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_owned(),
            ),
            (
                header::CACHE_CONTROL,
                "private, max-age=86400, immutable".to_owned(),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_inert_types_are_shown_inline() {
        assert!(super::inline_type("image/jpeg"));
        assert!(super::inline_type("application/pdf"));
        assert!(super::inline_type("audio/ogg; codecs=opus"));
        assert!(!super::inline_type("image/svg+xml"));
        assert!(!super::inline_type("text/html"));
        assert!(!super::inline_type("application/octet-stream"));
    }
}
