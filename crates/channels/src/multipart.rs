//! `multipart/form-data` (RFC 7578), as much as Resonanz needs: building
//! Meta's media upload and reading an agent's file upload. Files are at
//! most 100 MB, so bodies are handled in memory.

use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};

/// One form field; `filename` and `content_type` are set for files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

impl Part {
    pub fn text(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            filename: None,
            content_type: None,
            data: value.as_bytes().to_vec(),
        }
    }

    pub fn file(name: &str, filename: &str, content_type: &str, data: Vec<u8>) -> Self {
        Self {
            name: name.to_owned(),
            filename: Some(filename.to_owned()),
            content_type: Some(content_type.to_owned()),
            data,
        }
    }

    /// The value of a text field (lossy for non-UTF-8).
    pub fn value(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("Content-Type is not multipart/form-data with a boundary")]
    NotMultipart,
    #[error("malformed multipart body: {0}")]
    Malformed(&'static str),
}

/// Quotes a name or filename the way browsers do (WHATWG): `"`, CR and LF
/// percent-encoded, so a hostile filename cannot end the header.
fn quote(value: &str) -> String {
    value
        .replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while from + needle.len() <= haystack.len() {
        let at = from + haystack[from..].iter().position(|&b| b == first)?;
        if haystack.len() - at < needle.len() {
            return None;
        }
        if &haystack[at + 1..at + needle.len()] == rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Encodes `parts`; returns the `Content-Type` header value and the body.
/// The boundary derives from the content and never occurs inside it.
pub fn encode(parts: &[Part]) -> (String, Vec<u8>) {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(&part.data);
    }
    let seed = hasher.finalize();
    let mut boundary = String::new();
    for salt in 0u32.. {
        let digest = Sha256::new()
            .chain_update(seed)
            .chain_update(salt.to_be_bytes())
            .finalize();
        boundary = format!("resonanz-{}", &hex::encode(digest)[..32]);
        if parts
            .iter()
            .all(|p| find(&p.data, boundary.as_bytes()).is_none())
        {
            break;
        }
    }
    let mut body = Vec::with_capacity(parts.iter().map(|p| p.data.len() + 200).sum());
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!(
            "Content-Disposition: form-data; name=\"{}\"",
            quote(&part.name)
        );
        if let Some(filename) = &part.filename {
            disposition.push_str(&format!("; filename=\"{}\"", quote(filename)));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = &part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `key=value` parameters after the first `;` of a header value; quoted
/// values may contain `;` and backslash escapes.
fn parameters(header: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = header.chars().peekable();
    // Skip the main value (`form-data`, `multipart/form-data`).
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    loop {
        let mut key = String::new();
        let mut has_value = false;
        for c in chars.by_ref() {
            if c == '=' || c == ';' {
                has_value = c == '=';
                break;
            }
            key.push(c);
        }
        let key = key.trim().to_ascii_lowercase();
        if !has_value {
            if chars.peek().is_none() {
                return out;
            }
            continue;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
            }
        } else {
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
                value.push(c);
            }
            value = value.trim().to_owned();
        }
        if !key.is_empty() {
            out.push((key, value));
        }
        if chars.peek().is_none() {
            return out;
        }
    }
}

/// The boundary of a `multipart/form-data` Content-Type.
pub fn boundary(content_type: &str) -> Option<String> {
    let essence = content_type.split(';').next()?.trim();
    if !essence.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parameters(content_type)
        .into_iter()
        .find(|(k, _)| k == "boundary")
        .map(|(_, v)| v)
        .filter(|b| !b.is_empty() && b.len() <= 70)
}

/// Parses a `multipart/form-data` body.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
    let boundary = boundary(content_type).ok_or(MultipartError::NotMultipart)?;
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\r\n--{boundary}");
    let start = if body.starts_with(delimiter.as_bytes()) {
        0
    } else {
        find(body, next_delimiter.as_bytes()).ok_or(MultipartError::Malformed("no boundary"))? + 2
    };
    let mut at = start + delimiter.len();
    let mut parts = Vec::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then the line break that starts the part.
        let padding = rest
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        if !rest[padding..].starts_with(b"\r\n") {
            return Err(MultipartError::Malformed(
                "boundary not followed by a line break",
            ));
        }
        at += padding + 2;
        let (headers, data_start) = if body[at..].starts_with(b"\r\n") {
            ("", at + 2)
        } else {
            let end = find(&body[at..], b"\r\n\r\n")
                .ok_or(MultipartError::Malformed("part headers do not end"))?;
            (
                std::str::from_utf8(&body[at..at + end])
                    .map_err(|_| MultipartError::Malformed("part headers are not UTF-8"))?,
                at + end + 4,
            )
        };
        let data_end = data_start
            + find(&body[data_start..], next_delimiter.as_bytes())
                .ok_or(MultipartError::Malformed("part does not end"))?;
        let mut part = Part {
            name: String::new(),
            filename: None,
            content_type: None,
            data: body[data_start..data_end].to_vec(),
        };
        let mut disposed = false;
        for line in headers.split("\r\n") {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("content-disposition") {
                disposed = true;
                let mut extended = None;
                for (key, value) in parameters(value) {
                    match key.as_str() {
                        "name" => part.name = value,
                        "filename" => part.filename = Some(value),
                        // RFC 5987: charset'language'percent-encoded.
                        "filename*" => {
                            extended = value.splitn(3, '\'').nth(2).map(|encoded| {
                                percent_decode_str(encoded).decode_utf8_lossy().into_owned()
                            });
                        }
                        _ => {}
                    }
                }
                if extended.is_some() {
                    part.filename = extended;
                }
            } else if name.trim().eq_ignore_ascii_case("content-type") {
                part.content_type = Some(value.trim().to_owned());
            }
        }
        if !disposed {
            return Err(MultipartError::Malformed(
                "part without Content-Disposition",
            ));
        }
        parts.push(part);
        at = data_end + next_delimiter.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_form_parses_back_to_the_same_parts() {
        let pdf = b"%PDF-1.4\r\n--not-a-boundary\r\n\r\nbinary \x00\xff".to_vec();
        let parts = vec![
            Part::text("messaging_product", "whatsapp"),
            Part::text("type", "application/pdf"),
            Part::file(
                "file",
                "Versicherungsschein_Müller.pdf",
                "application/pdf",
                pdf,
            ),
        ];
        let (content_type, body) = encode(&parts);
        assert!(content_type.starts_with("multipart/form-data; boundary=resonanz-"));
        assert_eq!(parse(&content_type, &body).unwrap(), parts);
    }

    #[test]
    fn a_hostile_filename_cannot_break_out_of_its_header() {
        let parts = vec![Part::file(
            "file",
            "a\"\r\nContent-Type: text/html\r\n\r\n.pdf",
            "application/pdf",
            b"%PDF-".to_vec(),
        )];
        let (content_type, body) = encode(&parts);
        let parsed = parse(&content_type, &body).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].content_type.as_deref(), Some("application/pdf"));
        assert_eq!(
            parsed[0].filename.as_deref(),
            Some("a%22%0D%0AContent-Type: text/html%0D%0A%0D%0A.pdf")
        );
    }

    #[test]
    fn browser_and_curl_forms_parse() {
        let body = b"preamble\r\n------WebKitFormBoundaryX\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"Police; 2025.pdf\"\r\n\
Content-Type: application/pdf\r\n\r\n%PDF-1.7 x\r\n\
------WebKitFormBoundaryX\r\n\
Content-Disposition: form-data; name=\"note\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt\r\n\r\n\
hallo\r\n------WebKitFormBoundaryX--\r\n";
        let parts = parse(
            "multipart/form-data; boundary=\"----WebKitFormBoundaryX\"",
            body,
        )
        .unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].filename.as_deref(), Some("Police; 2025.pdf"));
        assert_eq!(parts[0].data, b"%PDF-1.7 x");
        assert_eq!(parts[1].filename.as_deref(), Some("Grüße.txt"));
        assert_eq!(parts[1].value(), "hallo");
    }

    #[test]
    fn truncated_or_foreign_bodies_are_refused() {
        assert_eq!(
            parse("application/pdf", b"%PDF-").unwrap_err(),
            MultipartError::NotMultipart
        );
        let truncated = b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc";
        assert!(matches!(
            parse("multipart/form-data; boundary=b", truncated),
            Err(MultipartError::Malformed(_))
        ));
    }
}
