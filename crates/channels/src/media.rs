//! Media: look up a WhatsApp media id, download it with the bearer token
//! within Meta's size limits, verify Meta's SHA-256 and keep it in a
//! content-addressed blob store. Failures are typed so a message can show
//! "download failed, retrying" instead of silently losing the file.

use crate::errors::RetryAdvice;
use crate::outbound::{GraphClient, SendError, ValidationError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::multipart::{Form, Part};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MB: u64 = 1024 * 1024;

/// One WhatsApp media kind: the MIME types Meta accepts for it and the
/// largest file. Meta's "Supported media types" table (reference/media).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MediaLimit {
    pub kind: &'static str,
    pub mime_types: &'static [&'static str],
    pub max_bytes: u64,
}

/// The one table of WhatsApp's media limits, for downloads and uploads.
pub static WHATSAPP_MEDIA: &[MediaLimit] = &[
    MediaLimit {
        kind: "image",
        mime_types: &["image/jpeg", "image/png"],
        max_bytes: 5 * MB,
    },
    MediaLimit {
        kind: "video",
        // H.264 video with AAC audio only; Meta checks the codecs itself.
        mime_types: &["video/mp4", "video/3gpp"],
        max_bytes: 16 * MB,
    },
    MediaLimit {
        kind: "audio",
        // audio/ogg only with the opus codec.
        mime_types: &[
            "audio/aac",
            "audio/amr",
            "audio/mpeg",
            "audio/mp4",
            "audio/ogg",
        ],
        max_bytes: 16 * MB,
    },
    MediaLimit {
        kind: "sticker",
        // Animated stickers may reach 500 KB; static ones 100 KB.
        mime_types: &["image/webp"],
        max_bytes: 500 * 1024,
    },
    MediaLimit {
        kind: "document",
        mime_types: &[
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ],
        max_bytes: 100 * MB,
    },
];

/// `Type/Sub; params` → `type/sub`.
pub fn essence(mime_type: &str) -> String {
    mime_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn limit_of(kind: &str) -> Option<&'static MediaLimit> {
    WHATSAPP_MEDIA.iter().find(|l| l.kind == kind)
}

/// Limit for a file *received* as `kind` (`image`, `document`, …). Customers
/// may send documents of any type; the other kinds are checked.
pub fn size_limit(kind: &str, mime_type: &str) -> Result<u64, MediaError> {
    let mime = essence(mime_type);
    let kind_row = limit_of(if kind == "file" { "document" } else { kind });
    match kind_row {
        Some(row) if row.kind == "document" || row.mime_types.contains(&mime.as_str()) => {
            Ok(row.max_bytes)
        }
        _ => Err(MediaError::UnsupportedType {
            kind: kind.to_owned(),
            mime_type: mime_type.to_owned(),
        }),
    }
}

/// The kind a file of this type is *sent* as, with its limit; `None` when
/// WhatsApp accepts no upload of this type. Each type belongs to one kind.
pub fn upload_limit(mime_type: &str) -> Option<&'static MediaLimit> {
    let mime = essence(mime_type);
    WHATSAPP_MEDIA
        .iter()
        .find(|l| l.mime_types.contains(&mime.as_str()))
}

/// Checks a file before it is uploaded for sending: a type WhatsApp takes,
/// not empty, not over its kind's limit. Returns the limit row.
pub fn check_upload(mime_type: &str, size: u64) -> Result<&'static MediaLimit, MediaError> {
    let limit = upload_limit(mime_type).ok_or_else(|| MediaError::UnsupportedType {
        kind: "upload".into(),
        mime_type: mime_type.to_owned(),
    })?;
    if size == 0 {
        return Err(MediaError::Empty);
    }
    if size > limit.max_bytes {
        return Err(MediaError::TooLarge {
            size,
            limit: limit.max_bytes,
        });
    }
    Ok(limit)
}

/// WhatsApp stickers: WebP, exactly 512×512 pixels, at most 100 KB when
/// static and 500 KB when animated (the table row holds the larger limit).
pub const STICKER_SIDE: u32 = 512;
pub const STICKER_STATIC_MAX: u64 = 100 * 1024;
pub const STICKER_ANIMATED_MAX: u64 = 500 * 1024;

/// What a WebP file's header says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WebpInfo {
    pub width: u32,
    pub height: u32,
    pub animated: bool,
}

/// Reads the canvas size and the animation flag from a WebP header (simple
/// lossy `VP8 `, lossless `VP8L` or extended `VP8X`); `None` when the bytes
/// are not WebP. Nothing is decoded.
pub fn webp_info(bytes: &[u8]) -> Option<WebpInfo> {
    if bytes.len() < 20 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WEBP" {
        return None;
    }
    let fourcc = &bytes[12..16];
    let data = &bytes[20..];
    let le24 = |b: &[u8]| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
    match fourcc {
        b"VP8X" if data.len() >= 10 => Some(WebpInfo {
            width: le24(&data[4..7]) + 1,
            height: le24(&data[7..10]) + 1,
            animated: data[0] & 0x02 != 0,
        }),
        b"VP8L" if data.len() >= 5 && data[0] == 0x2f => {
            let bits = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
            Some(WebpInfo {
                width: (bits & 0x3fff) + 1,
                height: ((bits >> 14) & 0x3fff) + 1,
                animated: false,
            })
        }
        b"VP8 " if data.len() >= 10 && data[3..6] == [0x9d, 0x01, 0x2a] => Some(WebpInfo {
            width: u32::from(u16::from_le_bytes([data[6], data[7]]) & 0x3fff),
            height: u32::from(u16::from_le_bytes([data[8], data[9]]) & 0x3fff),
            animated: false,
        }),
        _ => None,
    }
}

/// Why a file cannot be sent as a WhatsApp sticker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum StickerError {
    #[error("not a readable WebP image")]
    NotWebp,
    #[error("a sticker must be {STICKER_SIDE}×{STICKER_SIDE} pixels, this one is {width}×{height}")]
    Dimensions { width: u32, height: u32 },
    #[error("a {} sticker may have at most {max} bytes, this one has {size}", if *.animated { "animated" } else { "static" })]
    TooLarge { size: u64, max: u64, animated: bool },
}

impl StickerError {
    pub fn message_de(&self) -> String {
        match self {
            StickerError::NotWebp => "Die Datei ist kein lesbares WebP-Bild.".into(),
            StickerError::Dimensions { width, height } => format!(
                "Ein Sticker muss {STICKER_SIDE}×{STICKER_SIDE} Pixel groß sein, diese Datei hat {width}×{height}."
            ),
            StickerError::TooLarge {
                size,
                max,
                animated,
            } => format!(
                "Ein {} Sticker darf höchstens {} KB groß sein, diese Datei hat {} KB.",
                if *animated {
                    "animierter"
                } else {
                    "statischer"
                },
                max / 1024,
                size.div_ceil(1024)
            ),
        }
    }
}

/// Checks a WebP file against WhatsApp's sticker rules.
pub fn check_sticker(bytes: &[u8]) -> Result<WebpInfo, StickerError> {
    let info = webp_info(bytes).ok_or(StickerError::NotWebp)?;
    if info.width != STICKER_SIDE || info.height != STICKER_SIDE {
        return Err(StickerError::Dimensions {
            width: info.width,
            height: info.height,
        });
    }
    let max = if info.animated {
        STICKER_ANIMATED_MAX
    } else {
        STICKER_STATIC_MAX
    };
    let size = bytes.len() as u64;
    if size > max {
        return Err(StickerError::TooLarge {
            size,
            max,
            animated: info.animated,
        });
    }
    Ok(info)
}

/// File extensions of the types in [`WHATSAPP_MEDIA`], the usual one first.
const EXTENSIONS: &[(&str, &str)] = &[
    ("pdf", "application/pdf"),
    ("txt", "text/plain"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("ppt", "application/vnd.ms-powerpoint"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("webp", "image/webp"),
    ("mp4", "video/mp4"),
    ("3gp", "video/3gpp"),
    ("mp3", "audio/mpeg"),
    ("m4a", "audio/mp4"),
    ("aac", "audio/aac"),
    ("amr", "audio/amr"),
    ("ogg", "audio/ogg"),
    ("opus", "audio/ogg"),
];

/// The type a file name's extension stands for (when a client sends none,
/// or only `application/octet-stream`).
pub fn mime_from_filename(filename: &str) -> Option<&'static str> {
    let (_, ext) = filename.rsplit_once('.')?;
    let ext = ext.to_ascii_lowercase();
    EXTENSIONS.iter().find(|(e, _)| *e == ext).map(|(_, m)| *m)
}

/// The usual extension of a type, e.g. `pdf`.
pub fn extension_for(mime_type: &str) -> Option<&'static str> {
    let mime = essence(mime_type);
    EXTENSIONS.iter().find(|(_, m)| *m == mime).map(|(e, _)| *e)
}

/// Whether the first bytes fit the declared type, for the types with a
/// well-known signature (others are not checked). Catches a renamed file
/// before Meta rejects it after the upload.
pub fn content_matches(mime_type: &str, bytes: &[u8]) -> bool {
    match essence(mime_type).as_str() {
        // The PDF header may follow up to 1 KB of junk.
        "application/pdf" => bytes[..bytes.len().min(1024)]
            .windows(5)
            .any(|w| w == b"%PDF-"),
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => bytes.starts_with(&[0xff, 0xd8, 0xff]),
        "image/webp" => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        "video/mp4" | "video/3gpp" | "audio/mp4" => bytes.len() >= 8 && &bytes[4..8] == b"ftyp",
        "audio/ogg" => bytes.starts_with(b"OggS"),
        _ => true,
    }
}

/// A file name from outside (an agent's upload, a draft) made safe for JSON,
/// headers and logs: the last path component, without control or bidi
/// override characters, quotes or leading dots, at most 200 characters.
/// `None` when nothing usable is left.
pub fn sanitize_filename(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
        })
        .map(|c| if c == '"' { '\'' } else { c })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim();
    let short: String = trimmed.chars().take(200).collect();
    let short = short.trim_end().to_owned();
    (!short.is_empty()).then_some(short)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum MediaError {
    /// The Graph lookup failed (expired media id, token…); `retry` says whether to try again.
    #[error("media lookup failed: {0}")]
    Api(SendError),
    #[error("download failed: HTTP {status}")]
    DownloadStatus { status: u16 },
    #[error("download failed: {0}")]
    Network(String),
    #[error("file is {size} bytes, the limit for this type is {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("file is empty")]
    Empty,
    #[error("{kind} of type {mime_type:?} is not accepted")]
    UnsupportedType { kind: String, mime_type: String },
    #[error("checksum mismatch: Meta said {expected}, file has {actual}")]
    ChecksumMismatch { expected: String, actual: String },
    #[error("blob store: {0}")]
    Io(String),
}

impl MediaError {
    pub fn is_retryable(&self) -> bool {
        match self {
            MediaError::Api(e) => e.retry != RetryAdvice::Permanent,
            MediaError::DownloadStatus { status } => {
                *status == 429 || *status >= 500 || *status == 408
            }
            // A truncated transfer also shows as a checksum mismatch.
            MediaError::Network(_) | MediaError::ChecksumMismatch { .. } | MediaError::Io(_) => {
                true
            }
            MediaError::TooLarge { .. }
            | MediaError::UnsupportedType { .. }
            | MediaError::Empty => false,
        }
    }

    /// What the message shows in the inbox.
    pub fn message_de(&self) -> String {
        match self {
            MediaError::TooLarge { .. } => "Datei zu groß – nicht übernommen.".into(),
            MediaError::UnsupportedType { .. } => {
                "Dateityp nicht unterstützt – nicht übernommen.".into()
            }
            MediaError::Empty => "Die Datei ist leer.".into(),
            _ if self.is_retryable() => "Download fehlgeschlagen, wird erneut versucht.".into(),
            _ => "Download fehlgeschlagen; die Datei ist bei Meta nicht mehr abrufbar.".into(),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            MediaError::TooLarge { .. } => "File too large – not stored.".into(),
            MediaError::UnsupportedType { .. } => "File type not supported – not stored.".into(),
            MediaError::Empty => "The file is empty.".into(),
            _ if self.is_retryable() => "Download failed, retrying.".into(),
            _ => "Download failed; the file is no longer available from Meta.".into(),
        }
    }
}

impl From<std::io::Error> for MediaError {
    fn from(e: std::io::Error) -> Self {
        MediaError::Io(e.to_string())
    }
}

/// `GET /{media_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaInfo {
    pub id: String,
    pub url: String,
    pub mime_type: String,
    /// Base64 SHA-256 as Meta sends it.
    pub sha256: Option<String>,
    pub file_size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobRef {
    /// Lowercase hex SHA-256 of the content: the blob's key.
    pub sha256: String,
    pub size: u64,
}

/// Files stored under `root/ab/cd/<sha256>`; identical content is stored once.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

fn is_hex_digest(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The file for a key; `None` for anything that is not a hex digest, so
    /// a key from a URL can never walk out of the store.
    pub fn path_for(&self, sha256_hex: &str) -> Option<PathBuf> {
        is_hex_digest(sha256_hex).then(|| {
            self.root
                .join(&sha256_hex[..2])
                .join(&sha256_hex[2..4])
                .join(sha256_hex)
        })
    }

    pub async fn put(&self, bytes: &[u8]) -> Result<BlobRef, MediaError> {
        let key = hex::encode(Sha256::digest(bytes));
        let path = self.path_for(&key).expect("hex digest");
        let blob = BlobRef {
            sha256: key.clone(),
            size: bytes.len() as u64,
        };
        if tokio::fs::try_exists(&path).await? {
            return Ok(blob);
        }
        let dir = path.parent().expect("nested path");
        tokio::fs::create_dir_all(dir).await?;
        // Write, fsync, then rename: a crash never leaves a half file under the
        // final name, and a stored key (an agent's upload handle in the
        // outbox) still has its bytes after a power loss.
        // Unique per writer: two tasks storing the same content must not share a temp file.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{key}.{}.{n}.tmp", std::process::id()));
        {
            use tokio::io::AsyncWriteExt as _;
            let mut file = tokio::fs::File::create(&tmp).await?;
            file.write_all(bytes).await?;
            file.sync_all().await?;
        }
        tokio::fs::rename(&tmp, &path).await?;
        #[cfg(unix)]
        tokio::fs::File::open(dir).await?.sync_all().await?;
        Ok(blob)
    }

    pub async fn get(&self, sha256_hex: &str) -> Result<Option<Vec<u8>>, MediaError> {
        let Some(path) = self.path_for(sha256_hex) else {
            return Ok(None);
        };
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Moves a blob out of sight before it is deleted (an atomic rename), so
    /// a writer storing the same content meanwhile writes a fresh file and
    /// the caller can still [`put_back`](Self::put_back) the old one if the
    /// blob turns out to be needed. `None` when there is no such blob.
    pub async fn set_aside(&self, sha256_hex: &str) -> Result<Option<PathBuf>, MediaError> {
        let Some(path) = self.path_for(sha256_hex) else {
            return Ok(None);
        };
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let aside =
            path.with_file_name(format!(".{sha256_hex}.{}.{n}.removing", std::process::id()));
        match tokio::fs::rename(&path, &aside).await {
            Ok(()) => Ok(Some(aside)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Restores a blob set aside (same content, so replacing a fresh copy is harmless).
    pub async fn put_back(&self, sha256_hex: &str, aside: &Path) -> Result<(), MediaError> {
        let path = self
            .path_for(sha256_hex)
            .ok_or_else(|| MediaError::Io(format!("not a blob key: {sha256_hex}")))?;
        tokio::fs::rename(aside, &path).await?;
        Ok(())
    }

    /// Deletes a blob set aside for good.
    pub async fn discard(&self, aside: &Path) -> Result<(), MediaError> {
        match tokio::fs::remove_file(aside).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Exponential: base, 2·base, 4·base … capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.base_delay
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_delay)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredMedia {
    pub blob: BlobRef,
    pub mime_type: String,
    pub attempts: u32,
}

/// Compares Meta's SHA-256 (base64, or hex) with the content's.
fn verify_checksum(expected: &str, bytes: &[u8]) -> Result<(), MediaError> {
    let digest = Sha256::digest(bytes);
    let expected_bytes = if is_hex_digest(&expected.to_ascii_lowercase()) {
        hex::decode(expected).ok()
    } else {
        BASE64.decode(expected.trim()).ok()
    };
    match expected_bytes {
        Some(e) if e.as_slice() == digest.as_slice() => Ok(()),
        _ => Err(MediaError::ChecksumMismatch {
            expected: expected.to_owned(),
            actual: BASE64.encode(digest.as_slice()),
        }),
    }
}

/// A 100 MB upload needs longer than a send; Meta's own timeout is generous.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

impl GraphClient {
    /// `POST {base}/{ver}/{phone_number_id}/media` as `multipart/form-data`
    /// (`messaging_product=whatsapp`, `type`, `file`): uploads a file to send
    /// from that number and returns Meta's media id. Meta keeps it 30 days.
    /// Type and size are checked against [`WHATSAPP_MEDIA`] first.
    pub async fn upload_media(
        &self,
        phone_number_id: &str,
        bytes: &[u8],
        mime_type: &str,
        filename: &str,
    ) -> Result<String, SendError> {
        let mime = essence(mime_type);
        check_upload(&mime, bytes.len() as u64).map_err(|err| {
            let invalid = match err {
                MediaError::TooLarge { size, limit } => {
                    ValidationError::MediaSize { size, max: limit }
                }
                MediaError::Empty => ValidationError::Empty("file"),
                _ => ValidationError::MediaType {
                    mime_type: mime.clone(),
                },
            };
            SendError::invalid(&invalid)
        })?;
        let filename = sanitize_filename(filename).unwrap_or_else(|| "file".into());
        // The file part as `curl -F 'file=@…;type=…'` sends it.
        let file = Part::bytes(bytes.to_vec())
            .file_name(filename)
            .mime_str(&mime)
            .map_err(|_| {
                SendError::invalid(&ValidationError::MediaType {
                    mime_type: mime.clone(),
                })
            })?;
        let form = Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.clone())
            .part("file", file);
        let request = self
            .http()
            .post(self.url(&format!("{phone_number_id}/media")))
            .timeout(UPLOAD_TIMEOUT)
            .multipart(form);
        let reply = self.call(request).await?;
        match reply.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => Ok(id.to_owned()),
            _ => Err(SendError::from_response(200, reply.to_string().as_bytes())),
        }
    }

    /// `GET {base}/{ver}/{media_id}`: the short-lived download URL and metadata.
    pub async fn media_info(&self, media_id: &str) -> Result<MediaInfo, MediaError> {
        let v = self
            .get_json(media_id, &[])
            .await
            .map_err(MediaError::Api)?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        let url = text("url").ok_or_else(|| {
            MediaError::Api(SendError::from_response(200, v.to_string().as_bytes()))
        })?;
        Ok(MediaInfo {
            id: text("id").unwrap_or_else(|| media_id.to_owned()),
            url,
            mime_type: text("mime_type").unwrap_or_default(),
            sha256: text("sha256"),
            file_size: v
                .get("file_size")
                .and_then(|s| s.as_u64().or_else(|| s.as_str()?.parse().ok())),
        })
    }

    /// Downloads `url`, stopping as soon as `limit` bytes are exceeded.
    /// `with_token`: WhatsApp media needs the bearer; Messenger/IG CDN links must not get it.
    pub async fn download(
        &self,
        url: &str,
        limit: u64,
        with_token: bool,
    ) -> Result<Vec<u8>, MediaError> {
        Ok(self.download_typed(url, limit, with_token).await?.0)
    }

    /// As `download`, with the response's media type (`Content-Type` without parameters).
    pub async fn download_typed(
        &self,
        url: &str,
        limit: u64,
        with_token: bool,
    ) -> Result<(Vec<u8>, Option<String>), MediaError> {
        let mut request = self.http().get(url);
        if with_token {
            request = request.bearer_auth(self.token());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| MediaError::Network(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(MediaError::DownloadStatus { status });
        }
        if let Some(len) = response.content_length()
            && len > limit
        {
            return Err(MediaError::TooLarge { size: len, limit });
        }
        let media_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase())
            .filter(|value| !value.is_empty());
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| MediaError::Network(e.without_url().to_string()))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > limit {
                return Err(MediaError::TooLarge {
                    size: bytes.len() as u64,
                    limit,
                });
            }
        }
        Ok((bytes, media_type))
    }

    /// Fetches a WhatsApp media id into the blob store, retrying transient
    /// failures with backoff. `kind` is the attachment kind, `expected_sha256`
    /// the webhook's value (the lookup's own value is used when absent).
    pub async fn fetch_whatsapp_media(
        &self,
        media_id: &str,
        kind: &str,
        expected_sha256: Option<&str>,
        store: &BlobStore,
        policy: RetryPolicy,
    ) -> Result<StoredMedia, MediaError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = async {
                let info = self.media_info(media_id).await?;
                let limit = size_limit(kind, &info.mime_type)?;
                if let Some(size) = info.file_size
                    && size > limit
                {
                    return Err(MediaError::TooLarge { size, limit });
                }
                let bytes = self.download(&info.url, limit, true).await?;
                if let Some(expected) = expected_sha256.or(info.sha256.as_deref()) {
                    verify_checksum(expected, &bytes)?;
                }
                let blob = store.put(&bytes).await?;
                Ok(StoredMedia {
                    blob,
                    mime_type: info.mime_type,
                    attempts: attempt,
                })
            }
            .await;
            match result {
                Err(e) if e.is_retryable() && attempt < policy.attempts => {
                    tracing::warn!(media_id, attempt, error = %e, "media download failed, retrying");
                    tokio::time::sleep(policy.delay(attempt - 1)).await;
                }
                other => return other,
            }
        }
    }

    /// Fetches a Messenger/Instagram attachment URL (public CDN, no token).
    pub async fn fetch_attachment_url(
        &self,
        url: &str,
        kind: &str,
        store: &BlobStore,
        policy: RetryPolicy,
    ) -> Result<StoredMedia, MediaError> {
        // Messenger files go up to 25 MB; the type is not known before download.
        let limit = if kind == "image" { 8 * MB } else { 25 * MB };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result: Result<StoredMedia, MediaError> = async {
                let (bytes, media_type) = self.download_typed(url, limit, false).await?;
                let blob = store.put(&bytes).await?;
                Ok(StoredMedia {
                    blob,
                    mime_type: media_type.unwrap_or_else(|| "application/octet-stream".into()),
                    attempts: attempt,
                })
            }
            .await;
            match result {
                Err(e) if e.is_retryable() && attempt < policy.attempts => {
                    tokio::time::sleep(policy.delay(attempt - 1)).await;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests;
