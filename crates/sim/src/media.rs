//! Media the sim "receives" from customers: generated files, their ids, URLs and hashes.

use crate::graph::GraphError;
use crate::state::{Sim, Verdict, new_numeric_id, random_token};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Meta's lookaside URLs live about five minutes.
pub(crate) const URL_TTL_SECS: i64 = 300;
/// Media ids that arrive in webhooks expire after seven days.
pub(crate) const ID_TTL_SECS: i64 = 7 * 24 * 3600;
/// Uploaded media persists 30 days.
pub(crate) const UPLOAD_TTL_SECS: i64 = 30 * 24 * 3600;
/// Largest upload body: a 100 MB document plus the form around it.
pub(crate) const UPLOAD_BODY_LIMIT: usize = 100 * MB as usize + 64 * 1024;

const MB: u64 = 1024 * 1024;

/// One part of an upload's `multipart/form-data` body.
#[derive(Debug, Clone)]
pub(crate) struct FormField {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

impl FormField {
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }
}

/// Meta's supported media types for `POST /{phone_number_id}/media`, with
/// the size limit of each (a separate copy from Resonanz's, on purpose).
const UPLOAD_TYPES: &[(&str, u64)] = &[
    ("audio/aac", 16 * MB),
    ("audio/amr", 16 * MB),
    ("audio/mpeg", 16 * MB),
    ("audio/mp4", 16 * MB),
    ("audio/ogg", 16 * MB),
    ("text/plain", 100 * MB),
    ("application/pdf", 100 * MB),
    ("application/vnd.ms-powerpoint", 100 * MB),
    ("application/msword", 100 * MB),
    ("application/vnd.ms-excel", 100 * MB),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        100 * MB,
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        100 * MB,
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        100 * MB,
    ),
    ("image/jpeg", 5 * MB),
    ("image/png", 5 * MB),
    ("image/webp", 500 * 1024),
    ("video/mp4", 16 * MB),
    ("video/3gpp", 16 * MB),
];

#[derive(Debug, Clone)]
pub(crate) struct MediaItem {
    pub id: String,
    pub bytes: Arc<Vec<u8>>,
    pub mime_type: String,
    /// Base64 of the SHA-256 of the bytes, as Meta sends it.
    pub sha256: String,
    pub created_at: i64,
    /// The business number that uploaded it; `None` for a customer's file.
    pub uploaded_by: Option<String>,
}

impl MediaItem {
    /// Whether `phone_number_id` may send this id at `now`: unexpired, and an
    /// upload only from the number that uploaded it.
    pub fn usable_by(&self, phone_number_id: &str, now: i64) -> bool {
        let ttl = match &self.uploaded_by {
            Some(_) => UPLOAD_TTL_SECS,
            None => ID_TTL_SECS,
        };
        now - self.created_at <= ttl
            && self
                .uploaded_by
                .as_deref()
                .is_none_or(|owner| owner == phone_number_id)
    }
}

/// One call to the upload endpoint, with what the sim made of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    pub seq: u64,
    /// Sim clock, unix seconds.
    pub at: i64,
    /// Phone number id from the path.
    pub object_id: String,
    pub http_status: u16,
    pub verdict: Verdict,
    pub error_code: Option<i64>,
    pub error_details: Option<String>,
    /// The media id handed out when accepted.
    pub media_id: Option<String>,
    /// The `type` field (or the file part's Content-Type).
    pub mime_type: Option<String>,
    /// The file part's filename.
    pub filename: Option<String>,
    pub size: usize,
    /// Base64 SHA-256 of the file, as `GET /{media_id}` reports it.
    pub sha256: Option<String>,
}

/// What kind of file a customer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaKind {
    Image,
    Pdf,
    VoiceNote,
    Video,
    Sticker,
}

impl MediaKind {
    fn bytes_and_mime(self, label: &str) -> (Vec<u8>, &'static str) {
        match self {
            Self::Image => (png_image(), "image/png"),
            Self::Pdf => (pdf_document(label), "application/pdf"),
            Self::VoiceNote => (ogg_stub(), "audio/ogg; codecs=opus"),
            Self::Video => (mp4_stub(), "video/mp4"),
            Self::Sticker => (webp_stub(), "image/webp"),
        }
    }
}

pub(crate) fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

impl Sim {
    /// Creates a media object as if a customer had uploaded it.
    pub(crate) fn create_media(&self, kind: MediaKind, filename: Option<&str>) -> MediaItem {
        let (bytes, mime) = kind.bytes_and_mime(filename.unwrap_or("Dokument"));
        let item = MediaItem {
            id: new_numeric_id(16),
            sha256: sha256_b64(&bytes),
            bytes: Arc::new(bytes),
            mime_type: mime.into(),
            created_at: self.now(),
            uploaded_by: None,
        };
        self.lock().media.insert(item.id.clone(), item.clone());
        item
    }

    /// `POST /{ver}/{phone_number_id}/media`: Meta's checks, then the file is
    /// kept under a fresh media id. Every call is recorded.
    pub(crate) fn upload_media(
        &self,
        pnid: &str,
        fields: Result<Vec<FormField>, GraphError>,
    ) -> Result<Value, GraphError> {
        let mut record = UploadRecord {
            seq: 0,
            at: self.now(),
            object_id: pnid.to_owned(),
            http_status: 200,
            verdict: Verdict::Accepted,
            error_code: None,
            error_details: None,
            media_id: None,
            mime_type: None,
            filename: None,
            size: 0,
            sha256: None,
        };
        let result = self.upload_inner(pnid, fields, &mut record);
        if let Err(e) = &result {
            record.http_status = e.http.as_u16();
            record.verdict = Verdict::Rejected;
            record.error_code = Some(e.code);
            record.error_details = e.details();
        }
        let mut st = self.lock();
        record.seq = Sim::next_seq(&mut st);
        st.uploads.push(record);
        result
    }

    fn upload_inner(
        &self,
        pnid: &str,
        fields: Result<Vec<FormField>, GraphError>,
        record: &mut UploadRecord,
    ) -> Result<Value, GraphError> {
        {
            let mut st = self.lock();
            if st.tunables.upload_failures > 0 {
                st.tunables.upload_failures -= 1;
                return Err(GraphError::service_unavailable());
            }
        }
        let fields = fields?;
        let field = |name: &str| fields.iter().find(|f| f.name == name);
        if field("messaging_product").and_then(|f| f.text()) != Some("whatsapp") {
            return Err(GraphError::wa_param(
                "The parameter messaging_product is required and must be whatsapp.",
            ));
        }
        let file = field("file")
            .filter(|f| f.filename.is_some())
            .ok_or_else(|| GraphError::wa_param("The parameter file is required."))?;
        record.filename = file.filename.clone();
        record.size = file.data.len();
        record.sha256 = Some(sha256_b64(&file.data));
        let declared = field("type")
            .and_then(|f| f.text())
            .map(str::to_owned)
            .or_else(|| file.content_type.clone())
            .ok_or_else(|| GraphError::wa_param("The parameter type is required."))?;
        record.mime_type = Some(declared.clone());
        let essence = declared
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let Some((_, limit)) = UPLOAD_TYPES.iter().find(|(t, _)| *t == essence) else {
            let types: Vec<&str> = UPLOAD_TYPES.iter().map(|(t, _)| *t).collect();
            return Err(GraphError::wa_param(format!(
                "Param file must be a file with one of the following types: {}. Received file of type '{essence}'.",
                types.join(", ")
            )));
        };
        if file.data.is_empty() {
            return Err(GraphError::wa_param("Param file must not be empty."));
        }
        if file.data.len() as u64 > *limit {
            return Err(GraphError::wa_param(format!(
                "Param file is too large: {} bytes, at most {limit} bytes for {essence}.",
                file.data.len()
            )));
        }
        let item = MediaItem {
            id: new_numeric_id(16),
            sha256: sha256_b64(&file.data),
            bytes: Arc::new(file.data.clone()),
            mime_type: essence,
            created_at: self.now(),
            uploaded_by: Some(pnid.to_owned()),
        };
        record.media_id = Some(item.id.clone());
        let id = item.id.clone();
        self.lock().media.insert(id.clone(), item);
        Ok(json!({ "id": id }))
    }

    /// A Messenger/Instagram attachment URL: a public CDN link (no token)
    /// that expires, like `scontent.xx.fbcdn.net/...?oe=<expiry>`.
    pub(crate) fn cdn_url(&self, id: &str) -> String {
        format!(
            "{}/cdn/attachments/{id}?oe={:x}&oh=00_{}",
            self.base_url,
            self.now() + URL_TTL_SECS,
            random_token(22)
        )
    }

    /// A short-lived download URL served by the sim itself.
    pub(crate) fn media_url(&self, id: &str) -> String {
        format!(
            "{}/whatsapp_business/attachments/?mid={id}&ext={}&hash=ATu{}",
            self.base_url,
            self.now(),
            random_token(22)
        )
    }
}

/// A tiny real PNG: 4×4 pixels, RGB, stored (uncompressed) deflate.
pub(crate) fn png_image() -> Vec<u8> {
    let (w, h) = (4u32, 4u32);
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            let v = ((x + y) * 40) as u8;
            raw.extend_from_slice(&[200, v, 255 - v]);
        }
    }
    let mut zlib = vec![0x78, 0x01, 0x01];
    let len = raw.len() as u16;
    zlib.extend_from_slice(&len.to_le_bytes());
    zlib.extend_from_slice(&(!len).to_le_bytes());
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());

    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (name, data) in [(b"IHDR", ihdr.as_slice()), (b"IDAT", &zlib), (b"IEND", &[])] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut chunk = name.to_vec();
        chunk.extend_from_slice(data);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

/// A small real one-page PDF with a correct xref table.
pub(crate) fn pdf_document(title: &str) -> Vec<u8> {
    // Keep the content stream ASCII so the byte offsets are trivial.
    let title: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stream = format!("BT /F1 18 Tf 72 720 Td (Resonanz Simulator: {title}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{obj}\nendobj\n", i + 1).as_bytes());
    }
    let xref_at = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

// Audio, video and sticker are placeholders with the right magic bytes: enough for type
// sniffing and hashing, not for playback.
fn ogg_stub() -> Vec<u8> {
    let mut v = b"OggS\x00\x02".to_vec();
    v.extend_from_slice(&[0; 20]);
    v.extend_from_slice(b"\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00");
    v
}

fn mp4_stub() -> Vec<u8> {
    let mut v = vec![0, 0, 0, 0x18];
    v.extend_from_slice(b"ftypmp42\x00\x00\x00\x00mp42isom");
    v.extend_from_slice(&[0, 0, 0, 8]);
    v.extend_from_slice(b"mdat");
    v
}

fn webp_stub() -> Vec<u8> {
    let payload = b"WEBPVP8L\x05\x00\x00\x00\x2f\x00\x00\x00\x00";
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    v.extend_from_slice(payload);
    v
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }

    #[test]
    fn png_has_signature_and_iend() {
        let png = png_image();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
        // IEND's CRC is a well-known constant.
        assert_eq!(&png[png.len() - 4..], &[0xae, 0x42, 0x60, 0x82]);
    }

    #[test]
    fn pdf_xref_offsets_point_at_objects() {
        let pdf = pdf_document("polizeibericht.pdf");
        let text = String::from_utf8(pdf.clone()).unwrap();
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.ends_with("%%EOF\n"));
        let startxref: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[startxref..].starts_with("xref"));
        let entries: Vec<usize> = text[startxref..]
            .lines()
            .skip(3)
            .take(5)
            .map(|l| l[..10].parse().unwrap())
            .collect();
        for (i, off) in entries.iter().enumerate() {
            assert!(text[*off..].starts_with(&format!("{} 0 obj", i + 1)));
        }
    }
}
