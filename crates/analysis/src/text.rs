//! Normalisation and tokenisation for German social-media text.
//!
//! One pass over the NFC text produces tokens (words, numbers, hashtags, @handles, URLs,
//! emoji, emoticons, `!`/`?` runs, clause boundaries) plus lowercase forms, Snowball stems,
//! compound parts and the negation / intensifier / contrast marks the models use.

use std::borrow::Cow;
use std::cell::RefCell;
use std::ops::Range;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

use crate::compound;
use crate::hash::FastMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Word,
    Number,
    Hashtag,
    Mention,
    Url,
    Emoji,
    Emoticon,
    /// A run of `!` (possibly with `?`).
    Exclaim,
    /// A run containing `?`.
    Question,
    /// `.`, `;`, `:`, `,` and line breaks: they end a negation scope.
    Boundary,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte range in the NFC text.
    pub span: Range<usize>,
    /// Lowercase form, range in `Tokens::lower`.
    pub norm: Range<usize>,
    /// Snowball stem, range in `Tokens::stems` (words only, else empty).
    pub stem: Range<usize>,
    /// Compound parts (stems), range in `Tokens::parts`.
    pub parts: Range<usize>,
    /// Inside the scope of a negator ("nicht gut").
    pub negated: bool,
    /// Multiplier from a preceding intensifier (1.5) or downtoner (0.6).
    pub intensity: f32,
    /// Position relative to a contrast word ("aber", "trotzdem"): -1 before, +1 after, 0 none.
    pub contrast: i8,
    /// Written in capitals (at least three letters), e.g. "UNVERSCHÄMT".
    pub caps: bool,
}

/// Reusable token buffers: one per thread keeps `analyze` free of per-call allocations.
#[derive(Default, Debug)]
pub struct Tokens {
    pub nfc: String,
    pub lower: String,
    pub stems: String,
    pub parts_buf: String,
    pub parts: Vec<Range<usize>>,
    pub tokens: Vec<Token>,
    word_tmp: String,
}

impl Tokens {
    pub fn norm(&self, t: &Token) -> &str {
        &self.lower[t.norm.clone()]
    }
    pub fn stem(&self, t: &Token) -> &str {
        &self.stems[t.stem.clone()]
    }
    pub fn parts_of(&self, t: &Token) -> impl Iterator<Item = &str> {
        self.parts[t.parts.clone()]
            .iter()
            .map(|r| &self.parts_buf[r.clone()])
    }
    pub fn text(&self) -> &str {
        &self.nfc
    }
    pub fn has_negation(&self) -> bool {
        self.tokens.iter().any(|t| t.negated)
    }
}

pub const NEGATORS: &[&str] = &[
    "nicht",
    "kein",
    "keine",
    "keinen",
    "keinem",
    "keiner",
    "keines",
    "keins",
    "nie",
    "niemals",
    "nichts",
    "ohne",
    "weder",
    "niemand",
    "nirgends",
    "nirgendwo",
    "kaum",
    "nimmer",
    "net",
];
const INTENSIFIERS: &[&str] = &[
    "sehr",
    "total",
    "extrem",
    "echt",
    "voll",
    "mega",
    "absolut",
    "wirklich",
    "richtig",
    "ziemlich",
    "besonders",
    "unglaublich",
    "äußerst",
    "höchst",
    "komplett",
    "völlig",
    "ganz",
    "dermaßen",
    "unheimlich",
    "so",
    "zu",
    "super",
    "hammer",
    "derbe",
    "enorm",
    "überaus",
];
const DOWNTONERS: &[&str] = &["etwas", "bisschen", "wenig", "eher", "relativ", "halbwegs"];
pub const CONTRAST: &[&str] = &[
    "aber",
    "trotzdem",
    "jedoch",
    "allerdings",
    "dennoch",
    "sondern",
];

/// "fast", "beinahe": a near miss when the clause is counterfactual ("hätte", "wäre").
const NEAR_MISS: &[&str] = &["fast", "beinahe"];
const COUNTERFACTUAL: &[&str] = &[
    "hätte", "hätten", "hättest", "hättet", "wäre", "wären", "wärst", "wäret",
];
const NEAR_MISS_REACH: usize = 2;

const F_NEG: u8 = 1;
const F_INT: u8 = 2;
const F_DOWN: u8 = 4;
const F_CONTRAST: u8 = 8;
const F_NEAR_MISS: u8 = 16;

/// Whether the clause around token `idx` (up to the nearest sentence marks) is
/// counterfactual: "Ich hätte fast …", "… wäre beinahe …".
fn counterfactual_clause(out: &Tokens, idx: usize) -> bool {
    let ends_clause = |t: &Token| {
        matches!(
            t.kind,
            TokenKind::Boundary | TokenKind::Exclaim | TokenKind::Question
        )
    };
    let before = out.tokens[..idx]
        .iter()
        .rev()
        .take_while(|t| !ends_clause(t));
    let after = out.tokens[idx + 1..].iter().take_while(|t| !ends_clause(t));
    before
        .chain(after)
        .any(|t| t.kind == TokenKind::Word && COUNTERFACTUAL.contains(&&out.lower[t.norm.clone()]))
}

/// Function-word classes in one map: a hash lookup instead of linear scans per token.
fn word_class(w: &str) -> u8 {
    static MAP: OnceLock<FastMap<&'static str, u8>> = OnceLock::new();
    let map = MAP.get_or_init(|| {
        let mut m: FastMap<&'static str, u8> = FastMap::default();
        for (list, f) in [
            (NEGATORS, F_NEG),
            (INTENSIFIERS, F_INT),
            (DOWNTONERS, F_DOWN),
            (CONTRAST, F_CONTRAST),
            (NEAR_MISS, F_NEAR_MISS),
        ] {
            for w in list {
                *m.entry(w).or_default() |= f;
            }
        }
        m
    });
    if w.len() > 12 {
        return 0;
    }
    map.get(w).copied().unwrap_or(0)
}

thread_local! {
    /// Per-thread stem cache: Snowball is the costliest step per word and vocabularies repeat.
    static STEMS: RefCell<FastMap<Box<str>, Box<str>>> = RefCell::new(FastMap::default());
}
const STEM_CACHE_MAX: usize = 100_000;

/// How many word tokens a negator reaches.
const NEGATION_REACH: usize = 4;

pub struct Normalizer {
    stemmer: Stemmer,
}

impl std::fmt::Debug for Normalizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Normalizer(de)")
    }
}

impl Default for Normalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Normalizer {
    pub fn new() -> Self {
        Normalizer {
            stemmer: Stemmer::create(Algorithm::German),
        }
    }

    /// Snowball stem of a lowercase word (ß and umlauts folded by the stemmer).
    pub fn stem<'a>(&self, lower: &'a str) -> Cow<'a, str> {
        self.stemmer.stem(lower)
    }

    /// Append the stem of `lower` to `buf`, through the per-thread cache.
    fn stem_cached(&self, lower: &str, buf: &mut String) {
        STEMS.with(|c| {
            let mut c = c.borrow_mut();
            if let Some(s) = c.get(lower) {
                buf.push_str(s);
                return;
            }
            let s = self.stemmer.stem(lower);
            buf.push_str(&s);
            if c.len() >= STEM_CACHE_MAX {
                c.clear();
            }
            c.insert(lower.into(), s.into());
        });
    }

    /// Tokenise `text` into `out` (buffers are cleared and reused).
    pub fn tokenize(&self, text: &str, out: &mut Tokens) {
        out.nfc.clear();
        out.lower.clear();
        out.stems.clear();
        out.parts_buf.clear();
        out.parts.clear();
        out.tokens.clear();
        if is_nfc_quick(text.chars()) == IsNormalized::Yes {
            out.nfc.push_str(text);
        } else {
            out.nfc.extend(text.nfc());
        }
        let s = std::mem::take(&mut out.nfc);
        self.scan(&s, out);
        out.nfc = s;
        self.mark(out);
    }

    fn scan(&self, s: &str, out: &mut Tokens) {
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut prev_space = true;
        while i < s.len() {
            let c = s[i..].chars().next().unwrap_or(' ');
            let clen = c.len_utf8();
            if c.is_whitespace() {
                if c == '\n' {
                    self.push_simple(out, TokenKind::Boundary, i..i + 1, s);
                }
                i += clen;
                prev_space = true;
                continue;
            }
            let rest = &s[i..];
            if starts_with_ci(rest, "http://")
                || starts_with_ci(rest, "https://")
                || starts_with_ci(rest, "www.")
            {
                let end = rest.find(char::is_whitespace).map_or(s.len(), |e| i + e);
                self.push_fixed(out, TokenKind::Url, i..end, "<url>");
                i = end;
                prev_space = false;
                continue;
            }
            if (c == '@' || c == '#') && prev_space {
                let j = scan_word(s, i + 1);
                if j > i + 1 {
                    if c == '@' {
                        self.push_fixed(out, TokenKind::Mention, i..j, "@user");
                    } else {
                        self.push_simple(out, TokenKind::Hashtag, i..j, s);
                        // The tag's word counts as a word too: #Kündigung is about cancellation.
                        self.push_word(out, i + 1..j, s);
                    }
                    i = j;
                    prev_space = false;
                    continue;
                }
            }
            if prev_space && let Some(len) = emoticon_at(rest) {
                let after = rest[len..].chars().next();
                if after.is_none_or(|a| a.is_whitespace() || !a.is_alphanumeric()) {
                    self.push_simple(out, TokenKind::Emoticon, i..i + len, s);
                    i += len;
                    prev_space = false;
                    continue;
                }
            }
            if is_emoji(c) {
                let mut j = i + clen;
                // Swallow modifiers, variation selectors and ZWJ sequences into one token.
                while j < s.len() {
                    let d = s[j..].chars().next().unwrap_or(' ');
                    if is_emoji_modifier(d) {
                        j += d.len_utf8();
                        continue;
                    }
                    if d == '\u{200d}' {
                        j += 3;
                        if let Some(e) = s[j..].chars().next()
                            && is_emoji(e)
                        {
                            j += e.len_utf8();
                        }
                        continue;
                    }
                    break;
                }
                self.push_simple(out, TokenKind::Emoji, i..j, s);
                i = j;
                prev_space = false;
                continue;
            }
            if c.is_alphanumeric() {
                let j = scan_word(s, i);
                self.push_word(out, i..j, s);
                i = j;
                prev_space = false;
                continue;
            }
            match c {
                '!' | '?' => {
                    let mut j = i;
                    let mut q = false;
                    while j < s.len() && (bytes[j] == b'!' || bytes[j] == b'?') {
                        q |= bytes[j] == b'?';
                        j += 1;
                    }
                    let kind = if q {
                        TokenKind::Question
                    } else {
                        TokenKind::Exclaim
                    };
                    self.push_simple(out, kind, i..j, s);
                    i = j;
                }
                '.' | ';' | ':' | ',' | '…' => {
                    self.push_simple(out, TokenKind::Boundary, i..i + clen, s);
                    i += clen;
                }
                _ => i += clen,
            }
            prev_space = false;
        }
    }

    fn push_simple(&self, out: &mut Tokens, kind: TokenKind, span: Range<usize>, s: &str) {
        let start = out.lower.len();
        out.lower.push_str(&s[span.clone()]);
        let norm = start..out.lower.len();
        out.tokens.push(new_token(kind, span, norm));
    }

    fn push_fixed(&self, out: &mut Tokens, kind: TokenKind, span: Range<usize>, form: &str) {
        let start = out.lower.len();
        out.lower.push_str(form);
        let norm = start..out.lower.len();
        out.tokens.push(new_token(kind, span, norm));
    }

    fn push_word(&self, out: &mut Tokens, span: Range<usize>, s: &str) {
        let word = &s[span.clone()];
        let start = out.lower.len();
        let mut letters = 0;
        let mut upper = 0;
        let mut digits = 0;
        for ch in word.chars() {
            if ch.is_alphabetic() {
                letters += 1;
                if ch.is_uppercase() {
                    upper += 1;
                }
            } else if ch.is_ascii_digit() {
                digits += 1;
            }
            if ch.is_ascii() {
                out.lower.push(ch.to_ascii_lowercase());
            } else if ch == 'ẞ' {
                out.lower.push('ß');
            } else {
                out.lower.extend(ch.to_lowercase());
            }
        }
        let norm = start..out.lower.len();
        let kind = if letters == 0 && digits > 0 {
            TokenKind::Number
        } else {
            TokenKind::Word
        };
        let mut tok = new_token(kind, span, norm.clone());
        tok.caps = letters >= 3 && upper == letters;
        if kind == TokenKind::Word {
            let lower = &out.lower[norm];
            let st = out.stems.len();
            self.stem_cached(lower, &mut out.stems);
            tok.stem = st..out.stems.len();
            if lower.len() >= 8 || lower.contains('-') {
                let mut tmp = std::mem::take(&mut out.word_tmp);
                tmp.clear();
                tmp.push_str(lower);
                let pstart = out.parts.len();
                compound::split(&tmp, &mut |part: &str| {
                    let b = out.parts_buf.len();
                    self.stem_cached(part, &mut out.parts_buf);
                    out.parts.push(b..out.parts_buf.len());
                });
                tok.parts = pstart..out.parts.len();
                out.word_tmp = tmp;
            }
        }
        out.tokens.push(tok);
    }

    /// Negation scope, intensity and contrast marks.
    fn mark(&self, out: &mut Tokens) {
        let mut neg_left = 0usize;
        let mut boost = 1.0f32;
        let mut contrast_at: Option<usize> = None;
        for idx in 0..out.tokens.len() {
            let kind = out.tokens[idx].kind;
            match kind {
                TokenKind::Boundary | TokenKind::Exclaim | TokenKind::Question => {
                    neg_left = 0;
                    boost = 1.0;
                    continue;
                }
                TokenKind::Word => {}
                _ => continue,
            }
            let class = word_class(&out.lower[out.tokens[idx].norm.clone()]);
            if class & F_CONTRAST != 0 {
                neg_left = 0;
                contrast_at = Some(idx);
                continue;
            }
            if class & F_NEG != 0 {
                neg_left = NEGATION_REACH;
                continue;
            }
            if class & F_NEAR_MISS != 0 && counterfactual_clause(out, idx) {
                // "hätte ich fast vergessen": what almost happened did not.
                neg_left = NEAR_MISS_REACH;
                continue;
            }
            if class & F_INT != 0 {
                boost = 1.5;
                continue;
            }
            if class & F_DOWN != 0 {
                boost = 0.6;
                continue;
            }
            let t = &mut out.tokens[idx];
            if neg_left > 0 {
                t.negated = true;
                neg_left -= 1;
            }
            t.intensity = boost;
            boost = 1.0;
        }
        if let Some(c) = contrast_at {
            for (i, t) in out.tokens.iter_mut().enumerate() {
                t.contrast = if i < c { -1 } else { 1 };
            }
        }
    }
}

fn new_token(kind: TokenKind, span: Range<usize>, norm: Range<usize>) -> Token {
    Token {
        kind,
        span,
        norm,
        stem: 0..0,
        parts: 0..0,
        negated: false,
        intensity: 1.0,
        contrast: 0,
        caps: false,
    }
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// End of a word starting at `i`: letters/digits, joined by single `-`, `'` or `_`.
fn scan_word(s: &str, i: usize) -> usize {
    let mut j = i;
    let mut chars = s[i..].char_indices().peekable();
    while let Some((off, ch)) = chars.next() {
        if ch.is_alphanumeric() {
            j = i + off + ch.len_utf8();
        } else if ch == '-' || ch == '\'' || ch == '_' || ch == '’' {
            match chars.peek() {
                Some((_, n)) if n.is_alphanumeric() && j == i + off => {}
                _ => break,
            }
        } else {
            break;
        }
    }
    j
}

const EMOTICONS: &[&str] = &[
    ":-))", ":))", ":-)", ":)", ";-)", ";)", ":-D", ":D", "xD", "XD", ":-P", ":P", ":p", ":-p",
    ":-((", ":((", ":-(", ":(", ":'(", ":-/", ":/", ":-|", ":|", "=)", "=(", "<3", "^^", "-.-",
    "-_-", ":o", ":O", ":-O", "8-)", "B-)", ":*", ";D", "o.O", "O.o", "T_T", ">:(",
];

fn emoticon_at(s: &str) -> Option<usize> {
    // Called at every word start: most words rule themselves out by their
    // first two bytes, before the list is scanned.
    let &[first, second, ..] = s.as_bytes() else {
        return None;
    };
    let possible = match first {
        b':' | b';' | b'=' | b'<' | b'^' | b'-' | b'8' | b'>' => true,
        b'x' | b'X' | b'o' | b'O' | b'B' | b'T' => matches!(second, b'D' | b'.' | b'-' | b'_'),
        _ => false,
    };
    if !possible {
        return None;
    }
    EMOTICONS
        .iter()
        .find(|e| s.starts_with(**e))
        .map(|e| e.len())
}

/// Emoticon polarity (the emoji ranking does not cover ASCII faces).
pub fn emoticon_polarity(e: &str) -> f32 {
    match e {
        ":-))" | ":))" | ":-)" | ":)" | ";-)" | ";)" | ":-D" | ":D" | "xD" | "XD" | "=)" | "<3"
        | "^^" | "8-)" | "B-)" | ":*" | ";D" => 0.6,
        ":-P" | ":P" | ":p" | ":-p" => 0.3,
        ":-((" | ":((" | ":-(" | ":(" | ":'(" | "=(" | "T_T" | ">:(" => -0.6,
        ":-/" | ":/" | ":-|" | ":|" | "-.-" | "-_-" => -0.4,
        _ => 0.0,
    }
}

pub fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x2300..=0x23FF
        | 0x2190..=0x21FF | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0x00A9 | 0x00AE | 0x203C | 0x2049
        | 0x2122 | 0x2139 | 0x24C2 | 0x25A0..=0x25FF)
        && !is_emoji_modifier(c)
}

fn is_emoji_modifier(c: char) -> bool {
    matches!(c as u32, 0xFE0E | 0xFE0F | 0x1F3FB..=0x1F3FF | 0x20E3 | 0xE0020..=0xE007F)
}

/// Byte spans of emoji in `text` (used by the guideline check).
pub fn emoji_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans: Vec<Range<usize>> = Vec::new();
    for (i, c) in text.char_indices() {
        if is_emoji(c) {
            let end = i + c.len_utf8();
            match spans.last_mut() {
                // Adjacent emoji (or joined by ZWJ/modifiers) form one finding.
                Some(last) if text[last.end..i].chars().all(is_joiner) => last.end = end,
                _ => spans.push(i..end),
            }
        } else if is_emoji_modifier(c)
            && let Some(last) = spans.last_mut()
            && last.end == i
        {
            last.end = i + c.len_utf8();
        }
    }
    spans
}

fn is_joiner(c: char) -> bool {
    c == '\u{200d}' || is_emoji_modifier(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negated_words(text: &str) -> Vec<String> {
        let (t, _) = toks(text);
        t.tokens
            .iter()
            .filter(|k| k.negated)
            .map(|k| t.norm(k).to_string())
            .collect()
    }

    #[test]
    fn a_counterfactual_near_miss_negates_what_almost_happened() {
        assert_eq!(negated_words("Hätte ich fast vergessen."), ["vergessen"]);
        assert_eq!(
            negated_words("Ich wäre beinahe zu spät gekommen"),
            ["spät", "gekommen"]
        );
        // Without "hätte"/"wäre" in the clause, "fast" means "nearly all".
        assert!(negated_words("Fast alle waren freundlich. Hätte ich gedacht").is_empty());
    }

    #[test]
    fn every_listed_emoticon_passes_the_quick_filter() {
        for emoticon in EMOTICONS {
            assert_eq!(emoticon_at(emoticon), Some(emoticon.len()), "{emoticon}");
        }
        assert_eq!(emoticon_at("Xaver"), None);
        assert_eq!(emoticon_at("ok"), None);
    }

    fn toks(text: &str) -> (Tokens, Vec<(TokenKind, String)>) {
        let n = Normalizer::new();
        let mut t = Tokens::default();
        n.tokenize(text, &mut t);
        let v = t
            .tokens
            .iter()
            .map(|k| (k.kind, t.norm(k).to_string()))
            .collect();
        (t, v)
    }

    #[test]
    fn keeps_social_media_tokens_whole() {
        let (_, v) = toks("@HUK_Coburg Danke!! #Kündigung https://t.co/x1 :-) 👍🏽 super");
        let kinds: Vec<_> = v.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            vec![
                TokenKind::Mention,
                TokenKind::Word,
                TokenKind::Exclaim,
                TokenKind::Hashtag,
                TokenKind::Word,
                TokenKind::Url,
                TokenKind::Emoticon,
                TokenKind::Emoji,
                TokenKind::Word
            ]
        );
        assert_eq!(v[4].1, "kündigung");
        assert_eq!(v[7].1, "👍🏽");
    }

    #[test]
    fn case_folding_and_nfc_unify_spellings() {
        // "Ä" as A + combining diaeresis must end up as the same form as the precomposed letter.
        let (_, a) = toks("BEITRAGSERHÖHUNG");
        let (_, b) = toks("Beitragserho\u{308}hung");
        assert_eq!(a[0].1, "beitragserhöhung");
        assert_eq!(a[0].1, b[0].1);
        let (_, c) = toks("STRAẞE");
        assert_eq!(c[0].1, "straße");
    }

    #[test]
    fn negation_scope_stops_at_clause_boundary() {
        let (t, _) = toks("Das ist nicht gut, aber der Service ist freundlich");
        let gut = t.tokens.iter().find(|k| t.norm(k) == "gut").unwrap();
        let fr = t.tokens.iter().find(|k| t.norm(k) == "freundlich").unwrap();
        assert!(gut.negated);
        assert!(!fr.negated);
        assert_eq!(gut.contrast, -1);
        assert_eq!(fr.contrast, 1);
    }

    #[test]
    fn intensifier_raises_the_next_word() {
        let (t, _) = toks("sehr schlecht");
        assert_eq!(t.tokens[1].intensity, 1.5);
    }

    #[test]
    fn compounds_are_split_into_insurance_parts() {
        let (t, _) = toks("Kfz-Haftpflicht Schadensregulierung Beitragserhöhung");
        let parts: Vec<Vec<String>> = t
            .tokens
            .iter()
            .map(|k| t.parts_of(k).map(str::to_string).collect())
            .collect();
        let n = Normalizer::new();
        let st = |w: &str| n.stem(w).into_owned();
        assert!(parts[0].contains(&st("haftpflicht")), "{parts:?}");
        assert!(parts[0].contains(&st("kfz")));
        assert!(parts[1].contains(&st("schaden")), "{parts:?}");
        assert!(parts[1].contains(&st("regulierung")));
        assert!(parts[2].contains(&st("beitrag")), "{parts:?}");
        assert!(parts[2].contains(&st("erhöhung")));
    }

    #[test]
    fn emoji_spans_group_sequences() {
        let s = "Hallo 👍🏽 und 😀😀 ok";
        let spans = emoji_spans(s);
        assert_eq!(spans.len(), 2);
        assert_eq!(&s[spans[0].clone()], "👍🏽");
        assert_eq!(&s[spans[1].clone()], "😀😀");
    }
}
