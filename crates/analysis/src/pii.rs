//! Sensitive-data detector (GDPR Art. 4 personal data and Art. 9 health data) with byte spans.
//!
//! Checksummed identifiers (IBAN mod-97, Luhn, Steuer-ID, KVNR, Rentenversicherungsnummer)
//! are validated, dates count as birth dates only with birth context, and insurer number
//! formats come from a configurable pattern file.

use anyhow::{Context, Result, bail};
use regex::Regex;
use resonanz_core::analysis::{SensitiveKind, SensitiveSpan};
use serde::Deserialize;
use std::sync::OnceLock;

use crate::hash::FastMap;

pub const DEFAULT_PATTERNS: &str = include_str!("../config/pii_patterns.toml");

#[derive(Debug, Deserialize)]
struct PatternFile {
    #[serde(default)]
    pattern: Vec<PatternDef>,
}

#[derive(Debug, Deserialize)]
struct PatternDef {
    kind: String,
    regex: String,
    #[serde(default)]
    group: usize,
    #[serde(default)]
    min_digits: usize,
}

#[derive(Debug, Clone)]
struct CustomPattern {
    kind: SensitiveKind,
    regex: Regex,
    group: usize,
    min_digits: usize,
}

#[derive(Debug, Clone)]
pub struct PiiDetector {
    patterns: Vec<CustomPattern>,
}

pub fn parse_kind(s: &str) -> Option<SensitiveKind> {
    use SensitiveKind::*;
    Some(match s {
        "iban" => Iban,
        "credit_card" => CreditCard,
        "email" => Email,
        "phone" => Phone,
        "birth_date" => BirthDate,
        "address" => Address,
        "policy_number" => PolicyNumber,
        "claim_number" => ClaimNumber,
        "license_plate" => LicensePlate,
        "tax_id" => TaxId,
        "insurance_id" => InsuranceId,
        "health" => Health,
        _ => return None,
    })
}

pub fn kind_str(k: SensitiveKind) -> &'static str {
    use SensitiveKind::*;
    match k {
        Iban => "iban",
        CreditCard => "credit_card",
        Email => "email",
        Phone => "phone",
        BirthDate => "birth_date",
        Address => "address",
        PolicyNumber => "policy_number",
        ClaimNumber => "claim_number",
        LicensePlate => "license_plate",
        TaxId => "tax_id",
        InsuranceId => "insurance_id",
        Health => "health",
    }
}

fn kind_label_de(k: SensitiveKind) -> &'static str {
    use SensitiveKind::*;
    match k {
        Iban => "IBAN",
        CreditCard => "KREDITKARTE",
        Email => "E-MAIL",
        Phone => "TELEFON",
        BirthDate => "GEBURTSDATUM",
        Address => "ADRESSE",
        PolicyNumber => "VERTRAGSNUMMER",
        ClaimNumber => "SCHADENNUMMER",
        LicensePlate => "KENNZEICHEN",
        TaxId => "STEUER-ID",
        InsuranceId => "VERSICHERTENNUMMER",
        Health => "GESUNDHEIT",
    }
}

/// Lower wins when candidates overlap.
fn priority(k: SensitiveKind) -> u8 {
    use SensitiveKind::*;
    match k {
        Iban => 0,
        CreditCard => 1,
        Email => 2,
        TaxId => 3,
        InsuranceId => 4,
        PolicyNumber => 5,
        ClaimNumber => 6,
        BirthDate => 7,
        Phone => 8,
        Address => 9,
        LicensePlate => 10,
        Health => 11,
    }
}

impl PiiDetector {
    pub fn shipped() -> PiiDetector {
        Self::from_toml(DEFAULT_PATTERNS).expect("default PII patterns parse")
    }

    pub fn from_toml(text: &str) -> Result<PiiDetector> {
        let file: PatternFile = toml::from_str(text).context("parsing PII pattern TOML")?;
        let mut patterns = Vec::new();
        for p in file.pattern {
            let Some(kind) = parse_kind(&p.kind) else {
                bail!("unknown sensitive kind {:?}", p.kind);
            };
            let regex = Regex::new(&p.regex).with_context(|| format!("bad regex {:?}", p.regex))?;
            if p.group > regex.captures_len() - 1 {
                bail!("regex {:?} has no group {}", p.regex, p.group);
            }
            patterns.push(CustomPattern {
                kind,
                regex,
                group: p.group,
                min_digits: p.min_digits,
            });
        }
        Ok(PiiDetector { patterns })
    }

    pub fn detect(&self, text: &str) -> Vec<SensitiveSpan> {
        let mut cands = Vec::new();
        let has_digit = text.bytes().any(|b| b.is_ascii_digit());
        if has_digit {
            find_ibans(text, &mut cands);
            find_digit_ids(text, &mut cands);
            find_insurance_ids(text, &mut cands);
            find_dates(text, &mut cands);
            find_phones(text, &mut cands);
            find_addresses(text, &mut cands);
            find_plates(text, &mut cands);
            for p in &self.patterns {
                for c in p.regex.captures_iter(text) {
                    if let Some(m) = c.get(p.group)
                        && m.as_str().bytes().filter(u8::is_ascii_digit).count() >= p.min_digits
                    {
                        let end = m.end() - trailing_punct(m.as_str());
                        cands.push(span(p.kind, m.start(), end));
                    }
                }
            }
        }
        if text.contains('@') {
            find_emails(text, &mut cands);
        }
        let health_from = cands.len();
        find_health(text, &mut cands);
        drop_pet_health(text, &mut cands, health_from);
        resolve(cands)
    }
}

fn trailing_punct(s: &str) -> usize {
    s.len() - s.trim_end_matches(['.', '/', '-']).len()
}

fn span(kind: SensitiveKind, start: usize, end: usize) -> SensitiveSpan {
    SensitiveSpan { kind, start, end }
}

fn resolve(mut cands: Vec<SensitiveSpan>) -> Vec<SensitiveSpan> {
    cands.sort_by_key(|s| (priority(s.kind), s.start, usize::MAX - s.end));
    let mut out: Vec<SensitiveSpan> = Vec::new();
    for c in cands {
        if out.iter().all(|o| c.end <= o.start || c.start >= o.end) {
            out.push(c);
        }
    }
    out.sort_by_key(|s| s.start);
    out
}

/// Replace every span by a bracketed German label, e.g. `[IBAN]`.
pub fn redact(text: &str, spans: &[SensitiveSpan]) -> String {
    let mut sorted: Vec<&SensitiveSpan> = spans.iter().collect();
    sorted.sort_by_key(|s| s.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in sorted {
        if s.start < at || s.end > text.len() {
            continue;
        }
        out.push_str(&text[at..s.start]);
        out.push('[');
        out.push_str(kind_label_de(s.kind));
        out.push(']');
        at = s.end;
    }
    out.push_str(&text[at..]);
    out
}

// ------------------------------------------------------------------ helpers

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

fn boundary_before(text: &str, i: usize) -> bool {
    i == 0 || !is_word_byte(text.as_bytes()[i - 1])
}

fn boundary_after(text: &str, i: usize) -> bool {
    i >= text.len() || !is_word_byte(text.as_bytes()[i])
}

/// Lowercase window of up to `n` bytes before `i` (on char boundaries).
fn before(text: &str, i: usize, n: usize) -> String {
    let mut s = i.saturating_sub(n);
    while !text.is_char_boundary(s) {
        s += 1;
    }
    text[s..i].to_lowercase()
}

fn after(text: &str, i: usize, n: usize) -> String {
    let mut e = (i + n).min(text.len());
    while !text.is_char_boundary(e) {
        e -= 1;
    }
    text[i..e].to_lowercase()
}

/// Digits (and letters) of a run separated by single spaces; returns (chars, end byte).
fn collect_grouped(text: &str, start: usize, max: usize, seps: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let b = text.as_bytes();
    let mut chars = Vec::new();
    let mut ends = Vec::new();
    let mut i = start;
    while i < b.len() && chars.len() < max {
        if b[i].is_ascii_alphanumeric() {
            chars.push(b[i]);
            ends.push(i + 1);
            i += 1;
        } else if seps.contains(&b[i]) && i + 1 < b.len() && b[i + 1].is_ascii_alphanumeric() {
            i += 1;
        } else {
            break;
        }
    }
    (chars, ends)
}

// ------------------------------------------------------------------ IBAN

fn iban_length(cc: &[u8]) -> Option<usize> {
    Some(match cc {
        b"DE" => 22,
        b"AT" => 20,
        b"CH" | b"LI" => 21,
        b"NL" => 18,
        b"BE" => 16,
        b"LU" => 20,
        b"FR" | b"MC" | b"IT" => 27,
        b"ES" | b"SE" | b"CZ" | b"SK" | b"RO" => 24,
        b"PL" | b"HU" => 28,
        b"GB" | b"IE" => 22,
        b"DK" | b"FI" => 18,
        b"PT" => 25,
        b"GR" => 27,
        b"NO" => 15,
        b"HR" | b"LV" => 21,
        b"SI" => 19,
        b"TR" => 26,
        _ => return None,
    })
}

pub fn iban_valid(chars: &[u8]) -> bool {
    if chars.len() < 15 || chars.len() > 34 {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in chars[4..].iter().chain(&chars[..4]) {
        let c = c.to_ascii_uppercase();
        let v = match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'A'..=b'Z' => (c - b'A') as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn find_ibans(text: &str, out: &mut Vec<SensitiveSpan>) {
    let b = text.as_bytes();
    for i in 0..b.len().saturating_sub(3) {
        if !(b[i].is_ascii_alphabetic()
            && b[i + 1].is_ascii_alphabetic()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && boundary_before(text, i))
        {
            continue;
        }
        let cc = [b[i].to_ascii_uppercase(), b[i + 1].to_ascii_uppercase()];
        let (chars, ends) = collect_grouped(text, i, 34, b" ");
        let lens: Vec<usize> = match iban_length(&cc) {
            Some(l) => vec![l],
            None => (15..=34).rev().collect(),
        };
        for l in lens {
            if chars.len() < l || !iban_valid(&chars[..l]) {
                continue;
            }
            let end = ends[l - 1];
            // A longer unbroken alphanumeric run means this is not an IBAN boundary.
            if boundary_after(text, end) {
                out.push(span(SensitiveKind::Iban, i, end));
                break;
            }
        }
    }
}

// ------------------------------------------------------------------ credit cards, tax id

pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = (d - b'0') as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn card_prefix_ok(d: &[u8]) -> bool {
    let two = (d[0] - b'0') * 10 + (d[1] - b'0');
    let four: u32 = d[..4].iter().fold(0, |a, c| a * 10 + (c - b'0') as u32);
    match d[0] {
        b'4' => true,
        b'5' => (51..=55).contains(&two),
        b'2' => (2221..=2720).contains(&four),
        b'3' => (34..=38).contains(&two),
        b'6' => four == 6011 || two == 65,
        _ => false,
    }
}

/// Steuerliche Identifikationsnummer: 11 digits, ISO 7064 MOD 11,10 check digit.
pub fn tax_id_valid(d: &[u8]) -> bool {
    if d.len() != 11 || d[0] == b'0' {
        return false;
    }
    // In the first ten digits exactly one digit repeats (twice or thrice).
    let mut counts = [0u8; 10];
    for c in &d[..10] {
        counts[(c - b'0') as usize] += 1;
    }
    let repeated = counts.iter().filter(|c| **c >= 2).count();
    if repeated != 1 || counts.iter().any(|c| *c > 3) {
        return false;
    }
    let mut product = 10u32;
    for c in &d[..10] {
        let mut sum = ((c - b'0') as u32 + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let mut check = 11 - product;
    if check == 10 {
        check = 0;
    }
    check == (d[10] - b'0') as u32
}

/// True when `i` follows "DE89 " or a digit group: the digits continue another number.
fn after_iban_prefix(text: &str, i: usize) -> bool {
    let b = text.as_bytes();
    if i < 2 || !matches!(b[i - 1], b' ' | b'-' | b'/') {
        return false;
    }
    let p = &b[..i - 1];
    let n = p.len();
    (n >= 4
        && p[n - 4].is_ascii_alphabetic()
        && p[n - 3].is_ascii_alphabetic()
        && p[n - 2].is_ascii_digit()
        && p[n - 1].is_ascii_digit())
        || (n >= 1 && p[n - 1].is_ascii_digit())
}

fn find_digit_ids(text: &str, out: &mut Vec<SensitiveSpan>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || !boundary_before(text, i) {
            i += 1;
            continue;
        }
        let mut digits = Vec::new();
        let mut ends = Vec::new();
        let mut j = i;
        while j < b.len() && digits.len() < 19 {
            if b[j].is_ascii_digit() {
                digits.push(b[j]);
                ends.push(j + 1);
                j += 1;
            } else if (b[j] == b' ' || b[j] == b'-') && j + 1 < b.len() && b[j + 1].is_ascii_digit()
            {
                j += 1;
            } else {
                break;
            }
        }
        let end = *ends.last().unwrap_or(&i);
        if boundary_after(text, end) {
            if matches!(digits.len(), 13 | 15 | 16 | 19)
                && !after_iban_prefix(text, i)
                && card_prefix_ok(&digits)
                && luhn_valid(&digits)
            {
                out.push(span(SensitiveKind::CreditCard, i, end));
            } else if digits.len() == 11 && tax_id_valid(&digits) {
                out.push(span(SensitiveKind::TaxId, i, end));
            }
        }
        i = end.max(i + 1);
    }
}

// ------------------------------------------------------------------ KVNR and SV-Nummer

fn letter_digits(c: u8) -> (u32, u32) {
    let n = (c.to_ascii_uppercase() - b'A' + 1) as u32;
    (n / 10, n % 10)
}

fn cross_sum(v: u32) -> u32 {
    v / 10 + v % 10
}

/// Krankenversichertennummer: letter + 8 digits + check digit.
pub fn kvnr_valid(s: &[u8]) -> bool {
    if s.len() != 10 || !s[0].is_ascii_uppercase() || !s[1..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let (a, b) = letter_digits(s[0]);
    let mut ds = vec![a, b];
    ds.extend(s[1..9].iter().map(|c| (c - b'0') as u32));
    let sum: u32 = ds
        .iter()
        .enumerate()
        .map(|(i, d)| cross_sum(d * if i % 2 == 0 { 1 } else { 2 }))
        .sum();
    sum % 10 == (s[9] - b'0') as u32
}

/// Rentenversicherungsnummer: 2 digits area, 6 digits birth date, letter, 2 digits, check.
pub fn rvnr_valid(s: &[u8]) -> bool {
    if s.len() != 12
        || !s[..8].iter().all(u8::is_ascii_digit)
        || !s[8].is_ascii_uppercase()
        || !s[9..].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let day = (s[2] - b'0') * 10 + (s[3] - b'0');
    let month = (s[4] - b'0') * 10 + (s[5] - b'0');
    if !(1..=31).contains(&(day % 50)) || !(1..=12).contains(&month) {
        return false;
    }
    let (a, b) = letter_digits(s[8]);
    let mut ds: Vec<u32> = s[..8].iter().map(|c| (c - b'0') as u32).collect();
    ds.extend([a, b, (s[9] - b'0') as u32, (s[10] - b'0') as u32]);
    const W: [u32; 12] = [2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1];
    let sum: u32 = ds.iter().zip(W).map(|(d, w)| cross_sum(d * w)).sum();
    sum % 10 == (s[11] - b'0') as u32
}

fn find_insurance_ids(text: &str, out: &mut Vec<SensitiveSpan>) {
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if !boundary_before(text, i) || !c.is_ascii_alphanumeric() {
            continue;
        }
        let (chars, ends) = collect_grouped(text, i, 12, b" ");
        if chars.len() >= 10 && c.is_ascii_uppercase() && kvnr_valid(&chars[..10]) {
            let end = ends[9];
            if boundary_after(text, end) {
                out.push(span(SensitiveKind::InsuranceId, i, end));
                continue;
            }
        }
        if chars.len() >= 12 && c.is_ascii_digit() && rvnr_valid(&chars[..12]) {
            let end = ends[11];
            if boundary_after(text, end) {
                out.push(span(SensitiveKind::InsuranceId, i, end));
            }
        }
    }
}

// ------------------------------------------------------------------ e-mail

fn find_emails(text: &str, out: &mut Vec<SensitiveSpan>) {
    let b = text.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
    for (at, _) in text.match_indices('@') {
        let mut s = at;
        while s > 0 && local(b[s - 1]) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < b.len() && domain(b[e]) {
            e += 1;
        }
        while e > at + 1 && (b[e - 1] == b'.' || b[e - 1] == b'-') {
            e -= 1;
        }
        let dom = &text[at + 1..e];
        let Some(dot) = dom.rfind('.') else { continue };
        let tld = &dom[dot + 1..];
        if s < at && dot > 0 && tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic()) {
            out.push(span(SensitiveKind::Email, s, e));
        }
    }
}

// ------------------------------------------------------------------ phone numbers

fn find_phones(text: &str, out: &mut Vec<SensitiveSpan>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let intl = b[i] == b'+' && b.get(i + 1) == Some(&b'4') && b.get(i + 2) == Some(&b'9');
        let intl00 = b[i..].starts_with(b"0049");
        let paren = b[i] == b'(' && b.get(i + 1) == Some(&b'0');
        let national = b[i] == b'0' && b.get(i + 1).is_some_and(|c| (b'1'..=b'9').contains(c));
        if !(intl || intl00 || paren || national) || (!intl && !paren && !boundary_before(text, i))
        {
            i += 1;
            continue;
        }
        if (intl && i > 0 && is_word_byte(b[i - 1])) || after_iban_prefix(text, i) {
            i += 1;
            continue;
        }
        let mut j = if intl { i + 1 } else { i };
        let mut digits = 0;
        let mut last = j;
        while j < b.len() {
            let c = b[j];
            if c.is_ascii_digit() {
                digits += 1;
                j += 1;
                last = j;
            } else if matches!(c, b' ' | b'-' | b'/' | b'(' | b')')
                && j + 1 < b.len()
                && (b[j + 1].is_ascii_digit() || matches!(b[j + 1], b'(' | b' ' | b'/' | b'-'))
                && j + 1 - last <= 3
            {
                j += 1;
            } else {
                break;
            }
        }
        let ok_len = if intl || intl00 {
            (10..=15).contains(&digits)
        } else {
            (9..=13).contains(&digits)
        };
        if ok_len && boundary_after(text, last) {
            out.push(span(SensitiveKind::Phone, start, last));
            i = last;
        } else {
            i = last.max(i + 1);
        }
    }
}

// ------------------------------------------------------------------ dates of birth

const MONTHS: &[&str] = &[
    "januar",
    "jänner",
    "februar",
    "märz",
    "april",
    "mai",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "dezember",
    "jan.",
    "feb.",
    "mär.",
    "apr.",
    "jun.",
    "jul.",
    "aug.",
    "sep.",
    "sept.",
    "okt.",
    "nov.",
    "dez.",
];

const BIRTH_BEFORE: &[&str] = &[
    "geboren",
    "geb.",
    "geb ",
    "geburtsdatum",
    "geburtstag",
    "geb.-datum",
    "gebdat",
    "geburt",
    "* ",
    "dob",
];

fn find_dates(text: &str, out: &mut Vec<SensitiveSpan>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || !boundary_before(text, i) {
            i += 1;
            continue;
        }
        let Some(end) = date_at(text, i) else {
            i += 1;
            continue;
        };
        let pre = before(text, i, 40);
        // Only the clause the date is in counts as context.
        let clause = pre
            .rsplit(['.', '!', '?', ';', '\n'])
            .next()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or(&pre);
        let post = after(text, end, 24);
        let birth = BIRTH_BEFORE
            .iter()
            .any(|k| clause.contains(k) || pre.trim_end().ends_with(k.trim()))
            || post.trim_start().starts_with("geboren")
            || post.contains(" geboren")
            || post.trim_start().starts_with("(geb");
        if birth {
            out.push(span(SensitiveKind::BirthDate, i, end));
        }
        i = end;
    }
}

/// End of a date starting at `i`: d.m.yyyy, d/m/yy, yyyy-mm-dd or "12. März 1985".
fn date_at(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let num = |mut j: usize, min: usize, max: usize| -> Option<(u32, usize)> {
        let s = j;
        let mut v = 0u32;
        while j < b.len() && b[j].is_ascii_digit() && j - s < max {
            v = v * 10 + (b[j] - b'0') as u32;
            j += 1;
        }
        if j - s < min || (j < b.len() && b[j].is_ascii_digit()) {
            None
        } else {
            Some((v, j))
        }
    };
    // ISO yyyy-mm-dd
    if let Some((y, j)) = num(i, 4, 4)
        && b.get(j) == Some(&b'-')
        && let Some((m, j2)) = num(j + 1, 2, 2)
        && b.get(j2) == Some(&b'-')
        && let Some((d, j3)) = num(j2 + 1, 2, 2)
    {
        return (valid_dmy(d, m) && (1900..=2100).contains(&y)).then_some(j3);
    }
    let (d, j) = num(i, 1, 2)?;
    let sep = *b.get(j)?;
    if matches!(sep, b'.' | b'/' | b'-')
        && let Some((m, j2)) = num(j + 1, 1, 2)
        && b.get(j2) == Some(&sep)
        && let Some((y, j3)) = num(j2 + 1, 2, 4)
        && (j3 - j2 - 1 == 2 || j3 - j2 - 1 == 4)
    {
        let _ = y;
        return valid_dmy(d, m).then_some(j3);
    }
    if sep == b'.' {
        let rest = &text[j + 1..];
        let trimmed = rest.trim_start();
        let skip = rest.len() - trimmed.len();
        let lower = after(text, j + 1 + skip, 12);
        for m in MONTHS {
            if lower.starts_with(m) {
                let after_month = j + 1 + skip + m.len();
                let tail = &text[after_month..];
                let t2 = tail.trim_start();
                let k = after_month + (tail.len() - t2.len());
                if let Some((_, j3)) = num(k, 2, 4)
                    && (1..=31).contains(&d)
                {
                    return Some(j3);
                }
                return None;
            }
        }
    }
    None
}

fn valid_dmy(d: u32, m: u32) -> bool {
    (1..=31).contains(&d) && (1..=12).contains(&m)
}

// ------------------------------------------------------------------ addresses

const STREET_STRONG: &[&str] = &[
    "straße", "strasse", "str.", "allee", "gasse", "weg", "chaussee", "damm", "ufer", "pfad",
    "steig", "stieg", "zeile",
];
/// Compounds that end like street names but are not ("auf dem Heimweg 3 Rehe gesehen").
const NOT_STREETS: &[&str] = &[
    "heimweg",
    "rückweg",
    "hinweg",
    "umweg",
    "ausweg",
    "arbeitsweg",
    "schulweg",
    "nachhauseweg",
    "parkplatz",
    "arbeitsplatz",
    "spielplatz",
    "sitzplatz",
    "stellplatz",
    "fahrweg",
    "bremsweg",
];
const STREET_WEAK: &[&str] = &["platz", "ring", "markt", "berg", "hof", "feld", "graben"];

fn find_addresses(text: &str, out: &mut Vec<SensitiveSpan>) {
    let b = text.as_bytes();
    // Walk words; a street word followed by a house number starts an address.
    let mut i = 0;
    while i < b.len() {
        if !boundary_before(text, i) {
            i += 1;
            continue;
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        if !c.is_uppercase() {
            i += c.len_utf8();
            continue;
        }
        // The street word: letters, hyphens, a trailing '.' for "Str."
        let mut j = i;
        for (off, ch) in text[i..].char_indices() {
            if ch.is_alphabetic() || ch == '-' {
                j = i + off + ch.len_utf8();
            } else {
                break;
            }
        }
        if j < b.len() && b[j] == b'.' {
            j += 1;
        }
        let word = &b[i..j];
        let ends = |s: &str| {
            word.len() > s.len() && word[word.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
        };
        if NOT_STREETS
            .iter()
            .any(|n| word.eq_ignore_ascii_case(n.as_bytes()))
        {
            i = j;
            continue;
        }
        let strong = STREET_STRONG
            .iter()
            .any(|s| ends(s) && word.len() > s.len() + 1);
        let weak = !strong
            && STREET_WEAK
                .iter()
                .any(|s| ends(s) && word.len() > s.len() + 2);
        if !(strong || weak) {
            i = j.max(i + c.len_utf8());
            continue;
        }
        // House number: 1-4 digits, optional letter / range.
        let mut k = j;
        while k < b.len() && b[k] == b' ' {
            k += 1;
        }
        let ns = k;
        while k < b.len() && b[k].is_ascii_digit() && k - ns < 4 {
            k += 1;
        }
        if k == ns || (k < b.len() && b[k].is_ascii_digit()) {
            i = j;
            continue;
        }
        if k < b.len() && b[k].is_ascii_lowercase() && boundary_after(text, k + 1) {
            k += 1;
        } else if k + 1 < b.len() && b[k] == b'-' && b[k + 1].is_ascii_digit() {
            k += 1;
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
        }
        if !boundary_after(text, k) {
            i = j;
            continue;
        }
        let mut end = k;
        // Optional ", 12345 City"
        let mut p = k;
        while p < b.len() && (b[p] == b',' || b[p] == b' ') {
            p += 1;
        }
        let ps = p;
        while p < b.len() && b[p].is_ascii_digit() {
            p += 1;
        }
        let has_plz = p - ps == 5 && p < b.len() && b[p] == b' ';
        if has_plz {
            let cs = p + 1;
            let mut ce = cs;
            for (off, ch) in text[cs..].char_indices() {
                if ch.is_alphabetic() || ch == '-' || (ch == ' ' && off == 0) {
                    ce = cs + off + ch.len_utf8();
                } else {
                    break;
                }
            }
            if ce > cs && text[cs..].chars().next().is_some_and(char::is_uppercase) {
                end = ce;
            }
        }
        if strong || has_plz {
            out.push(span(SensitiveKind::Address, i, end));
            i = end;
        } else {
            i = j;
        }
    }
}

// ------------------------------------------------------------------ licence plates

fn find_plates(text: &str, out: &mut Vec<SensitiveSpan>) {
    let b = text.as_bytes();
    let upper_run = |mut j: usize, max: usize| -> (usize, usize) {
        let s = j;
        let mut n = 0;
        while j < b.len() && n < max + 1 {
            let ch = text[j..].chars().next().unwrap_or(' ');
            if ch.is_ascii_uppercase() || matches!(ch, 'Ä' | 'Ö' | 'Ü') {
                j += ch.len_utf8();
                n += 1;
            } else {
                break;
            }
        }
        let _ = s;
        (n, j)
    };
    let mut i = 0;
    while i < b.len() {
        if !boundary_before(text, i) {
            i += 1;
            continue;
        }
        let (n1, j) = upper_run(i, 3);
        if !(1..=3).contains(&n1) || j >= b.len() || !(b[j] == b'-' || b[j] == b' ') {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let dash = b[j] == b'-';
        let (n2, k) = upper_run(j + 1, 2);
        if !(1..=2).contains(&n2) {
            i = j;
            continue;
        }
        let mut m = k;
        if m < b.len() && (b[m] == b' ' || b[m] == b'-') {
            m += 1;
        }
        let ds = m;
        while m < b.len() && b[m].is_ascii_digit() && m - ds < 4 {
            m += 1;
        }
        if m == ds || b[ds] == b'0' || (m < b.len() && b[m].is_ascii_digit()) {
            i = j;
            continue;
        }
        if m < b.len() && (b[m] == b'E' || b[m] == b'H') && boundary_after(text, m + 1) {
            m += 1;
        }
        if !boundary_after(text, m) {
            i = j;
            continue;
        }
        // "M AB 123" without the dash is only a plate when the text says so.
        let ctx = before(text, i, 40);
        let context = [
            "kennzeichen",
            "nummernschild",
            "kfz",
            "auto",
            "wagen",
            "fahrzeug",
        ]
        .iter()
        .any(|k| ctx.contains(k));
        if dash || context {
            out.push(span(SensitiveKind::LicensePlate, i, m));
            i = m;
        } else {
            i = j;
        }
    }
}

// ------------------------------------------------------------------ health terms (Art. 9)

const HEALTH_PREFIXES: &[&str] = &[
    "krebs",
    "tumor",
    "diabet",
    "depressi",
    "chemo",
    "psychother",
    "psychiat",
    "schwanger",
    "herzinfarkt",
    "schlaganfall",
    "bandscheib",
    "dialyse",
    "demenz",
    "alzheimer",
    "parkinson",
    "schizophren",
    "epilep",
    "querschnitt",
    "amputat",
    "migräne",
    "arthrose",
    "rheuma",
    "hepatitis",
    "burnout",
    "burn-out",
    "asthma",
    "leukämie",
    "metasta",
    "insulin",
    "multiple sklerose",
    "tinnitus",
    "borreliose",
    "magersucht",
    "bulimie",
    "angststörung",
    "panikattack",
    "suchterkrank",
    "alkoholsucht",
    "drogensucht",
    "fehlgeburt",
    "bypass",
    "herzschrittmacher",
    "adhs",
    "autis",
    "diagnose",
    "befund",
    "arztbrief",
    "attest",
    "krankschreibung",
    "arbeitsunfähigkeitsbescheinigung",
    "zahnersatz",
    "bestrahlung",
    "reha-",
    "rehaklinik",
    "physiotherap",
    "psychose",
    "hörsturz",
];
const HEALTH_EXACT: &[&str] = &["hiv", "aids", "reha", "op", "operiert", "ms-erkrankung"];
const HEALTH_SUFFIXES: &[&str] = &[
    "erkrankung",
    "therapie",
    "diagnose",
    "operation",
    "fraktur",
    "infarkt",
    "entzündung",
    "tumor",
    "karzinom",
    "lähmung",
];

struct HealthIndex {
    exact: FastMap<&'static str, ()>,
    /// First four bytes of a prefix -> prefixes starting so.
    prefixes: FastMap<&'static [u8], Vec<&'static str>>,
}

fn health_index() -> &'static HealthIndex {
    static IDX: OnceLock<HealthIndex> = OnceLock::new();
    IDX.get_or_init(|| {
        let mut prefixes: FastMap<&'static [u8], Vec<&'static str>> = FastMap::default();
        for p in HEALTH_PREFIXES {
            prefixes.entry(&p.as_bytes()[..4]).or_default().push(p);
        }
        HealthIndex {
            exact: HEALTH_EXACT.iter().map(|w| (*w, ())).collect(),
            prefixes,
        }
    })
}

/// Animals' health is no personal data ("Mein Kater hat einen Tumor", pet insurance is an
/// insurance line): a health term in a sentence about a pet, with no person in it, is dropped.
fn drop_pet_health(text: &str, cands: &mut Vec<SensitiveSpan>, from: usize) {
    if cands.len() == from {
        return;
    }
    let mut health = cands.split_off(from);
    health.retain(|span| {
        let start = text[..span.start]
            .rfind(['.', '!', '?', '\n'])
            .map_or(0, |i| i + 1);
        let end = text[span.end..]
            .find(['.', '!', '?', '\n'])
            .map_or(text.len(), |i| span.end + i);
        let mut pet = false;
        for word in text[start..end]
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| !w.is_empty())
        {
            let word = word.to_lowercase();
            if PERSON_WORDS.contains(&word.as_str()) {
                return true;
            }
            pet |= PET_PREFIXES.iter().any(|p| word.starts_with(p));
        }
        !pet
    });
    cands.extend(health);
}

const PET_PREFIXES: &[&str] = &[
    "hund",
    "hündin",
    "katze",
    "kater",
    "pferd",
    "stute",
    "welpe",
    "kaninchen",
    "hamster",
    "meerschwein",
    "tierarzt",
    "tierärzt",
    "tierklinik",
    "tierkranken",
    "tier-",
];

/// People whose health a sentence may be about.
const PERSON_WORDS: &[&str] = &[
    "ich",
    "mich",
    "mir",
    "wir",
    "uns",
    "sohn",
    "tochter",
    "kind",
    "kinder",
    "mann",
    "frau",
    "ehemann",
    "ehefrau",
    "partner",
    "partnerin",
    "mutter",
    "vater",
    "mama",
    "papa",
    "oma",
    "opa",
    "baby",
    "bruder",
    "schwester",
    "er",
    "sie",
    "patient",
    "patientin",
];

fn find_health(text: &str, out: &mut Vec<SensitiveSpan>) {
    let mut lower = String::new();
    let mut start = None;
    let mut flush = |s: usize, e: usize, lower: &mut String| {
        if e - s >= 2 {
            lower.clear();
            let word = &text[s..e];
            if word.is_ascii() {
                lower.push_str(word);
                lower.make_ascii_lowercase();
            } else {
                lower.extend(word.chars().flat_map(char::to_lowercase));
            }
            let l = lower.as_str();
            let idx = health_index();
            let hit = idx.exact.contains_key(l)
                || (l.len() >= 4
                    && idx
                        .prefixes
                        .get(&l.as_bytes()[..4])
                        .is_some_and(|ps| ps.iter().any(|p| l.starts_with(p))))
                || (l.len() >= 9
                    && HEALTH_SUFFIXES
                        .iter()
                        .any(|p| l.len() > p.len() + 2 && l.ends_with(p)));
            // "OP" must be written as the abbreviation, not "op" inside a URL or emoticon.
            let op_ok = l != "op" || &text[s..e] == "OP";
            if hit && op_ok {
                out.push(span(SensitiveKind::Health, s, e));
            }
        }
    };
    for (i, ch) in text.char_indices() {
        let wordy = ch.is_alphabetic() || (ch == '-' && start.is_some());
        match (wordy, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let e = if text[..i].ends_with('-') { i - 1 } else { i };
                flush(s, e, &mut lower);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        flush(s, text.len(), &mut lower);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(SensitiveKind, String)> {
        PiiDetector::shipped()
            .detect(text)
            .into_iter()
            .map(|s| (s.kind, text[s.start..s.end].to_string()))
            .collect()
    }

    #[test]
    fn iban_needs_a_valid_checksum_and_allows_spaces() {
        assert_eq!(
            kinds("Meine IBAN: DE89 3704 0044 0532 0130 00, danke"),
            vec![(SensitiveKind::Iban, "DE89 3704 0044 0532 0130 00".into())]
        );
        assert_eq!(
            kinds("DE89370400440532013000")[0].0,
            SensitiveKind::Iban,
            "unbroken IBAN"
        );
        // One digit changed: fails mod-97.
        assert!(
            kinds("IBAN DE89 3704 0044 0532 0130 01")
                .iter()
                .all(|k| k.0 != SensitiveKind::Iban)
        );
        assert!(iban_valid(b"GB82WEST12345698765432"));
        assert!(!iban_valid(b"GB82WEST12345698765433"));
    }

    #[test]
    fn card_numbers_need_luhn() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert_eq!(
            kinds("Karte 4111 1111 1111 1111 belastet")[0],
            (SensitiveKind::CreditCard, "4111 1111 1111 1111".into())
        );
        assert!(kinds("Bestellnummer 4111 1111 1111 1112").is_empty());
    }

    #[test]
    fn checksummed_german_ids() {
        assert!(kvnr_valid(b"A123456780"));
        assert!(!kvnr_valid(b"A123456781"));
        assert!(rvnr_valid(b"15070649C103"));
        assert!(!rvnr_valid(b"15070649C104"));
        assert!(tax_id_valid(b"86095742719"));
        assert!(!tax_id_valid(b"86095742718"));
    }

    #[test]
    fn dates_are_birth_dates_only_in_context() {
        assert_eq!(
            kinds("Ich bin am 12.03.1985 geboren"),
            vec![(SensitiveKind::BirthDate, "12.03.1985".into())]
        );
        assert_eq!(
            kinds("Geburtsdatum: 3. Mai 1979")[0].0,
            SensitiveKind::BirthDate
        );
        assert!(kinds("Der Unfall war am 12.03.2023 auf der A7").is_empty());
    }

    #[test]
    fn phone_email_address_plate() {
        assert_eq!(
            kinds("Ruft mich an: 0171 2345678")[0],
            (SensitiveKind::Phone, "0171 2345678".into())
        );
        assert_eq!(
            kinds("Tel +49 (0)30 12345678")[0],
            (SensitiveKind::Phone, "+49 (0)30 12345678".into())
        );
        assert_eq!(
            kinds("schreibt an max.mustermann@example.de bitte")[0],
            (SensitiveKind::Email, "max.mustermann@example.de".into())
        );
        assert_eq!(
            kinds("Ich wohne Lindenstraße 12a, 10115 Berlin.")[0],
            (
                SensitiveKind::Address,
                "Lindenstraße 12a, 10115 Berlin".into()
            )
        );
        assert_eq!(
            kinds("Kennzeichen M-AB 1234 angefahren")[0],
            (SensitiveKind::LicensePlate, "M-AB 1234".into())
        );
        assert!(kinds("@HUK_Coburg danke").is_empty());
    }

    #[test]
    fn policy_numbers_come_from_configurable_patterns() {
        assert_eq!(
            kinds("Meine Versicherungsnummer ist KV-2023-778812")[0],
            (SensitiveKind::PolicyNumber, "KV-2023-778812".into())
        );
        assert_eq!(
            kinds("Schadennummer: 45-778899/2024")[0].0,
            SensitiveKind::ClaimNumber
        );
        let custom = PiiDetector::from_toml(
            "[[pattern]]\nkind = \"policy_number\"\nregex = '\\bHX\\d{8}\\b'\n",
        )
        .unwrap();
        let spans = custom.detect("Vertrag HX12345678 bitte prüfen");
        assert_eq!(spans[0].kind, SensitiveKind::PolicyNumber);
        assert!(PiiDetector::from_toml("[[pattern]]\nkind = \"nope\"\nregex = 'x'\n").is_err());
    }

    #[test]
    fn health_terms_and_redaction() {
        let text = "Nach meiner Chemotherapie zahlt ihr nicht, IBAN DE89370400440532013000";
        let spans = PiiDetector::shipped().detect(text);
        assert_eq!(spans.len(), 2);
        assert_eq!(
            redact(text, &spans),
            "Nach meiner [GESUNDHEIT] zahlt ihr nicht, IBAN [IBAN]"
        );
    }

    #[test]
    fn a_pets_health_is_no_personal_data() {
        for text in [
            "Mein Kater hat einen Tumor. Übernimmt die Tierkrankenversicherung die OP?",
            "Unsere Hündin hatte einen Bandscheibenvorfall, die OP war teuer.",
        ] {
            assert!(
                !kinds(text).iter().any(|(k, _)| *k == SensitiveKind::Health),
                "{text}: {:?}",
                kinds(text)
            );
        }
        // A person in the same sentence keeps it personal.
        let text = "Der Hund hat mich umgerissen, ich hatte einen Bandscheibenvorfall.";
        assert!(
            kinds(text).iter().any(|(k, _)| *k == SensitiveKind::Health),
            "{:?}",
            kinds(text)
        );
        let text = "Mein Hund ist gesund, aber ich habe Diabetes.";
        assert!(
            kinds(text)
                .iter()
                .any(|(k, w)| *k == SensitiveKind::Health && w == "Diabetes")
        );
    }
}
