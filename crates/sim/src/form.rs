//! A `multipart/form-data` reader (RFC 7578) for the media upload, written
//! independently of Resonanz's own encoder so that each checks the other.

/// One form field as the upload endpoint sees it.
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

/// `boundary=` of a multipart/form-data Content-Type (quotes removed).
fn boundary_of(content_type: &str) -> Option<String> {
    let mut pieces = content_type.split(';');
    let essence = pieces.next()?.trim().to_ascii_lowercase();
    if essence != "multipart/form-data" {
        return None;
    }
    pieces
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty())
}

fn position(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| haystack[i..].starts_with(needle))
}

/// `name="…"` style parameters of a Content-Disposition value; a quoted
/// value may contain `;`.
fn disposition_params(value: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let bytes: Vec<char> = value.chars().collect();
    let mut i = 0;
    // Past `form-data`.
    while i < bytes.len() && bytes[i] != ';' {
        i += 1;
    }
    while i < bytes.len() {
        i += 1; // the `;`
        let key_start = i;
        while i < bytes.len() && bytes[i] != '=' && bytes[i] != ';' {
            i += 1;
        }
        let key: String = bytes[key_start..i].iter().collect();
        if i >= bytes.len() || bytes[i] == ';' {
            continue;
        }
        i += 1; // the `=`
        let mut val = String::new();
        if i < bytes.len() && bytes[i] == '"' {
            i += 1;
            while i < bytes.len() && bytes[i] != '"' {
                if bytes[i] == '\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                val.push(bytes[i]);
                i += 1;
            }
            while i < bytes.len() && bytes[i] != ';' {
                i += 1;
            }
        } else {
            while i < bytes.len() && bytes[i] != ';' {
                val.push(bytes[i]);
                i += 1;
            }
        }
        params.push((key.trim().to_ascii_lowercase(), val.trim().to_owned()));
    }
    params
}

/// The fields of a multipart/form-data body, or `None` when it is not one.
pub(crate) fn parse(content_type: &str, body: &[u8]) -> Option<Vec<FormField>> {
    let boundary = boundary_of(content_type)?;
    let dash = format!("--{boundary}").into_bytes();
    let mut fields = Vec::new();
    let mut at = position(body, &dash, 0)?;
    loop {
        let after = at + dash.len();
        if body[after..].starts_with(b"--") {
            return Some(fields);
        }
        let line_end = position(body, b"\r\n", after)?;
        let head_start = line_end + 2;
        let (head, data_start) = if body[head_start..].starts_with(b"\r\n") {
            (String::new(), head_start + 2)
        } else {
            let head_end = position(body, b"\r\n\r\n", head_start)?;
            (
                String::from_utf8_lossy(&body[head_start..head_end]).into_owned(),
                head_end + 4,
            )
        };
        let mut closing = b"\r\n".to_vec();
        closing.extend_from_slice(&dash);
        let data_end = position(body, &closing, data_start)?;
        let mut field = FormField {
            name: String::new(),
            filename: None,
            content_type: None,
            data: body[data_start..data_end].to_vec(),
        };
        for line in head.split("\r\n") {
            let Some((header, value)) = line.split_once(':') else {
                continue;
            };
            match header.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    for (k, v) in disposition_params(value) {
                        match k.as_str() {
                            "name" => field.name = v,
                            "filename" => field.filename = Some(v),
                            _ => {}
                        }
                    }
                }
                "content-type" => field.content_type = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        fields.push(field);
        at = data_end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_curl_style_upload() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"Police; 2025.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\r\n\
--XyZ--\r\n";
        let fields = parse("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[0].name, "messaging_product");
        assert_eq!(fields[0].text(), Some("whatsapp"));
        assert_eq!(fields[1].filename.as_deref(), Some("Police; 2025.pdf"));
        assert_eq!(fields[1].content_type.as_deref(), Some("application/pdf"));
        assert_eq!(fields[1].data, b"%PDF-1.4");
    }

    #[test]
    fn json_and_truncated_bodies_are_not_forms() {
        assert!(parse("application/json", b"{}").is_none());
        assert!(
            parse(
                "multipart/form-data; boundary=b",
                b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nabc"
            )
            .is_none()
        );
    }
}
