//! Static files compiled into the binary, served under names that carry a
//! hash of their content, so browsers may cache them for ever and a new
//! release is fetched at once. No build step outside cargo.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

struct Asset {
    name: &'static str,
    body: &'static [u8],
    content_type: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        body: include_bytes!("../../static/app.css"),
        content_type: "text/css; charset=utf-8",
    },
    Asset {
        name: "app.js",
        body: include_bytes!("../../static/app.js"),
        content_type: "text/javascript; charset=utf-8",
    },
    Asset {
        name: "icon.svg",
        body: include_bytes!("../../static/icon.svg"),
        content_type: "image/svg+xml",
    },
];

/// `app.css` → `app.1a2b3c4d5e6f.css`.
fn hashed_name(asset: &Asset) -> String {
    let hash = hex::encode(&Sha256::digest(asset.body)[..6]);
    match asset.name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{}.{hash}", asset.name),
    }
}

static HASHED: LazyLock<Vec<(String, &'static Asset)>> =
    LazyLock::new(|| ASSETS.iter().map(|a| (hashed_name(a), a)).collect());

/// The URL of an asset by its plain name.
pub fn url(name: &str) -> String {
    HASHED
        .iter()
        .find(|(_, asset)| asset.name == name)
        .map(|(hashed, _)| format!("/static/{hashed}"))
        .unwrap_or_else(|| panic!("no static asset {name}"))
}

/// Bytes the first load of a page brings (HTML aside): every asset.
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|a| a.body.len()).sum()
}

pub async fn serve(Path(name): Path<String>) -> Response {
    match HASHED.iter().find(|(hashed, _)| *hashed == name) {
        Some((_, asset)) => (
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn asset_urls_carry_their_content_hash() {
        let css = super::url("app.css");
        assert!(
            css.starts_with("/static/app.") && css.ends_with(".css"),
            "{css}"
        );
        assert_eq!(css.len(), "/static/app..css".len() + 12);
    }
}
