//! Click-to-chat: `wa.me` links with prefilled text and QR codes (SVG, PNG)
//! for the homepage, e-mail signatures and product sheets. Opening the link
//! only drafts the text; it neither sends nor counts as opt-in.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use qrcode::{Color, EcLevel, QrCode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClickToChatError {
    #[error("{0:?} is not a phone number")]
    NotANumber(String),
    #[error("text too long for a QR code")]
    TooLong,
}

/// What `encodeURIComponent` leaves alone; everything else is %-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Full international number, digits only: `+49…`, `0049…` and national
/// `0…` (with `default_country`, e.g. "49") all become `49…`.
pub fn normalize_number(input: &str, default_country: &str) -> Result<String, ClickToChatError> {
    let trimmed = input.trim();
    let bad = || ClickToChatError::NotANumber(input.to_owned());
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || " +-()/.".contains(c))
    {
        return Err(bad());
    }
    // A '+' is only meaningful in front.
    if trimmed.chars().skip(1).any(|c| c == '+') {
        return Err(bad());
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let international = if trimmed.starts_with('+') {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix('0') {
        format!("{default_country}{rest}")
    } else {
        digits
    };
    // E.164: at most 15 digits, and no country code starts with 0.
    if !(8..=15).contains(&international.len()) || international.starts_with('0') {
        return Err(bad());
    }
    Ok(international)
}

/// `https://wa.me/<digits>[?text=<encoded>]`.
pub fn wa_me_link(
    number: &str,
    default_country: &str,
    text: Option<&str>,
) -> Result<String, ClickToChatError> {
    let digits = normalize_number(number, default_country)?;
    Ok(match text.filter(|t| !t.is_empty()) {
        Some(t) => format!(
            "https://wa.me/{digits}?text={}",
            utf8_percent_encode(t, COMPONENT)
        ),
        None => format!("https://wa.me/{digits}"),
    })
}

fn qr(data: &str) -> Result<QrCode, ClickToChatError> {
    // Level M survives a crumpled product sheet and keeps the code small.
    QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)
        .map_err(|_| ClickToChatError::TooLong)
}

/// The QR code as a standalone SVG document.
pub fn qr_svg(data: &str, min_size_px: u32) -> Result<String, ClickToChatError> {
    let code = qr(data)?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(min_size_px, min_size_px)
        .quiet_zone(true)
        .build())
}

/// The QR code as a grayscale PNG, `scale` pixels per module, with the
/// 4-module quiet zone scanners need.
pub fn qr_png(data: &str, scale: u32) -> Result<Vec<u8>, ClickToChatError> {
    let code = qr(data)?;
    let modules = code.width() as u32;
    let colors = code.to_colors();
    let quiet = 4;
    let scale = scale.clamp(1, 64);
    let side = (modules + 2 * quiet) * scale;
    let mut pixels = vec![255u8; (side * side) as usize];
    for y in 0..modules {
        for x in 0..modules {
            if colors[(y * modules + x) as usize] == Color::Dark {
                for dy in 0..scale {
                    let row = ((y + quiet) * scale + dy) * side;
                    let start = (row + (x + quiet) * scale) as usize;
                    pixels[start..start + scale as usize].fill(0);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .expect("writing to a Vec cannot fail");
    writer
        .write_image_data(&pixels)
        .expect("buffer size matches header");
    writer.finish().expect("writing to a Vec cannot fail");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_normalise_to_international_digits() {
        for input in [
            "+49 170 1234567",
            "0049 170 1234567",
            "0170/1234567",
            "(0170) 123-4567",
            "491701234567",
        ] {
            assert_eq!(
                normalize_number(input, "49").unwrap(),
                "491701234567",
                "{input}"
            );
        }
        assert_eq!(
            normalize_number("+43 660 1234567", "49").unwrap(),
            "436601234567"
        );
        for bad in ["Anna", "12", "+49 170 +1", "0049", "+0 123 456 789"] {
            assert!(normalize_number(bad, "49").is_err(), "{bad}");
        }
    }

    #[test]
    fn prefilled_text_is_percent_encoded_like_encode_uri_component() {
        let link = wa_me_link(
            "+49 170 1234567",
            "49",
            Some("Schadenmeldung Police 123\nGrüße & Dank?"),
        )
        .unwrap();
        assert_eq!(
            link,
            "https://wa.me/491701234567?text=Schadenmeldung%20Police%20123%0AGr%C3%BC%C3%9Fe%20%26%20Dank%3F"
        );
        assert_eq!(
            wa_me_link("0301234567", "49", None).unwrap(),
            "https://wa.me/49301234567"
        );
    }

    #[test]
    fn qr_svg_and_png_encode_the_link() {
        let link = wa_me_link("+49 170 1234567", "49", Some("Hallo")).unwrap();
        let svg = qr_svg(&link, 200).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
        let png_bytes = qr_png(&link, 4).unwrap();
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
        // Decode and check the finder pattern corner: dark at the first module after the quiet zone.
        let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let modules = qr(&link).unwrap().width() as u32;
        assert_eq!(info.width, (modules + 8) * 4);
        let px = |x: u32, y: u32| buf[(y * info.width + x) as usize];
        assert_eq!(px(0, 0), 255, "quiet zone is white");
        assert_eq!(px(16, 16), 0, "finder pattern is dark");
        assert_eq!(px(16 + 4, 16 + 4), 255, "finder pattern ring is white");
        assert!(qr_svg(&"x".repeat(5000), 100).is_err());
    }
}
