//! Media the sim "receives" from customers: generated files, their ids, URLs and hashes.

use crate::state::{Sim, new_numeric_id, random_token};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Meta's lookaside URLs live about five minutes.
pub(crate) const URL_TTL_SECS: i64 = 300;
/// Media ids that arrive in webhooks expire after seven days.
pub(crate) const ID_TTL_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone)]
pub(crate) struct MediaItem {
    pub id: String,
    pub bytes: Arc<Vec<u8>>,
    pub mime_type: String,
    /// Base64 of the SHA-256 of the bytes, as Meta sends it.
    pub sha256: String,
    pub created_at: i64,
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
        };
        self.lock().media.insert(item.id.clone(), item.clone());
        item
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
