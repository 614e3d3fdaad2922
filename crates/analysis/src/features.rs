//! Hashed sparse features for the linear models: word and stem unigrams (negation-marked),
//! stem bigrams, character n-grams, compound parts, social tokens, and dense lexicon cues.

use crate::hash::{combine, hash_bytes};
use crate::lexicon::Lexicon;
use crate::text::{TokenKind, Tokens, emoticon_polarity};

const S_WORD: u64 = 1;
const S_STEM: u64 = 2;
const S_BIGRAM: u64 = 3;
const S_CHAR: u64 = 4;
const S_PART: u64 = 5;
const S_TAG: u64 = 6;
const S_DENSE: u64 = 7;
const NEG_MARK: u64 = 0x5151;

const W_WORD: f32 = 1.0;
const W_STEM: f32 = 1.0;
const W_BIGRAM: f32 = 0.7;
const W_CHAR: f32 = 0.3;
const W_PART: f32 = 0.7;
const W_TAG: f32 = 1.0;
const W_DENSE: f32 = 2.0;

/// Lexicon evidence for one text, after negation, intensifiers and contrast.
#[derive(Clone, Copy, Debug, Default)]
pub struct LexStats {
    pub pos: f32,
    pub neg: f32,
    pub n_pos: u32,
    pub n_neg: u32,
    pub emoji: f32,
    pub emoticon: f32,
    pub n_exclaim: u32,
    pub n_question: u32,
    pub n_caps: u32,
    pub n_words: u32,
    pub negations: u32,
}

impl LexStats {
    /// Signed polarity in -1..1 (the lexicon-only baseline uses this).
    pub fn polarity(&self) -> f32 {
        let raw = self.pos - self.neg + 0.8 * self.emoji + self.emoticon;
        (raw / (1.0 + 0.3 * (self.n_pos + self.n_neg) as f32).sqrt()).tanh()
    }
}

/// Words of a waiting time: negated ("keine fünf Minuten", "nicht lange gewartet") they
/// praise speed; on their own they are neutral or left to the lexicon.
const DURATION: &[&str] = &[
    "lange",
    "lang",
    "minuten",
    "stunden",
    "tage",
    "wochen",
    "ewig",
    "gewartet",
    "warten",
    "wartezeit",
    "gedauert",
];
const W_FAST: f32 = 0.7;

#[inline]
fn word_at(toks: &Tokens, i: usize) -> &str {
    match toks.tokens.get(i) {
        Some(t) if t.kind == TokenKind::Word => toks.norm(t),
        _ => "",
    }
}

/// Length in tokens of a politeness formula starting at token `i` ("Guten Tag", "Sehr
/// geehrte", "Mit freundlichen Grüßen", "Danke im Voraus"), 0 if none. Formulas are
/// etiquette, not praise: they are left out of the features and the lexicon evidence.
pub fn formula_len(toks: &Tokens, i: usize) -> usize {
    let w = word_at(toks, i);
    if w.is_empty() {
        return 0;
    }
    let next = word_at(toks, i + 1);
    match w {
        "guten" | "schönen" if matches!(next, "tag" | "morgen" | "abend" | "nachmittag") => 2,
        "schönen" if next == "guten" && !word_at(toks, i + 2).is_empty() => 3,
        "sehr" if next.starts_with("geehrte") => 2,
        "mit"
            if matches!(
                next,
                "freundlichen" | "besten" | "herzlichen" | "lieben" | "vielen" | "freundlichem"
            ) && matches!(word_at(toks, i + 2), "grüßen" | "gruß") =>
        {
            3
        }
        "freundliche" | "beste" | "liebe" | "viele" | "herzliche" | "schöne"
            if matches!(next, "grüße" | "grüsse") =>
        {
            2
        }
        "danke" | "dank" if next == "im" && word_at(toks, i + 2) == "voraus" => 3,
        "vielen" | "besten" | "herzlichen"
            if next == "dank"
                && word_at(toks, i + 2) == "im"
                && word_at(toks, i + 3) == "voraus" =>
        {
            4
        }
        _ => 0,
    }
}

/// Units of a waiting time after "seit" ("seit drei Wochen", "seit einem Monat"),
/// and points in time it runs from ("seit gestern", "seit Montag").
const TIME_UNITS: &[&str] = &[
    "minuten",
    "stunden",
    "tagen",
    "wochen",
    "monaten",
    "jahren",
    "ewigkeiten",
    "langem",
    "minute",
    "stunde",
    "tag",
    "woche",
    "monat",
    "jahr",
    "gestern",
    "vorgestern",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonntag",
];
/// Verbs of waiting; with a "seit …" time they make a clause a complaint.
const WAITING: &[&str] = &["warte", "warten", "wartet", "gewartet", "wartest"];
/// What a customer waits for: "seit Wochen keine Antwort".
const RESPONSES: &[&str] = &[
    "antwort",
    "rückmeldung",
    "reaktion",
    "nachricht",
    "bescheid",
    "rückruf",
    "lebenszeichen",
];
const W_WAITING: f32 = 1.2;

/// A clause of a waiting complaint: "Seit drei Wochen warte ich auf …" or "… warte ich
/// immer noch"/"noch immer keine Antwort". Neutral in words, a complaint in customer service.
#[derive(Default)]
struct WaitingClause {
    since_at: Option<usize>,
    since_time: bool,
    waiting: bool,
    still: bool,
    negation: bool,
    response: bool,
}

impl WaitingClause {
    fn word(&mut self, toks: &Tokens, i: usize, t: &crate::text::Token) {
        let w = toks.norm(t);
        if w == "seit" {
            self.since_at = Some(i);
        } else if self.since_at.is_some_and(|at| i - at <= 3) && TIME_UNITS.contains(&w) {
            self.since_time = true;
        } else if WAITING.contains(&w) && !t.negated {
            self.waiting = true;
        } else if (w == "immer" && word_at(toks, i + 1) == "noch")
            || (w == "noch" && word_at(toks, i + 1) == "immer")
        {
            self.still = true;
        } else if matches!(w, "kein" | "keine" | "keinen" | "nicht" | "nichts") {
            self.negation = true;
        } else if RESPONSES.contains(&w) {
            self.response = true;
        }
    }

    /// Ends the clause; true when it complained about waiting.
    fn close(&mut self) -> bool {
        // "Seit Jahren Kunde und nicht einmal Ärger" is no complaint: without a
        // waiting verb, "seit" needs a missing response.
        let complaint = (self.since_time && (self.waiting || (self.negation && self.response)))
            || (self.still && (self.waiting || self.negation));
        *self = Self::default();
        complaint
    }
}

/// Conjunctions that make what follows a condition: "Wenn …, kündige ich",
/// "… sonst wechsle ich".
const CONDITIONS: &[&str] = &["wenn", "falls", "sonst", "ansonsten", "andernfalls"];
/// Leaving, or going public: what a threat threatens.
const THREATS: &[&str] = &[
    "kündige",
    "kündigen",
    "wechsle",
    "wechseln",
    "öffentlich",
    "anwalt",
    "verbraucherzentrale",
    "presse",
    "bafin",
    "ombudsmann",
];
const W_THREAT: f32 = 1.2;

/// A sentence that threatens on a condition: "Wenn sich bis Montag niemand
/// meldet, kündige ich" is a complaint, while "Ich möchte zum 31.12.
/// kündigen" is a plain request (neutral in customer service).
#[derive(Default)]
struct ThreatSentence {
    condition: bool,
    threat: bool,
}

impl ThreatSentence {
    fn word(&mut self, word: &str) {
        if CONDITIONS.contains(&word) {
            self.condition = true;
        } else if THREATS.contains(&word) {
            self.threat = true;
        }
    }

    /// Ends the sentence; true when it threatened.
    fn close(&mut self) -> bool {
        let threatened = self.condition && self.threat;
        *self = Self::default();
        threatened
    }
}

/// Lexicon statistics without building the sparse vector.
pub fn lex_stats(toks: &Tokens, lex: &Lexicon) -> LexStats {
    let mut st = LexStats::default();
    let mut skip_to = 0usize;
    let mut waiting = WaitingClause::default();
    let mut threat = ThreatSentence::default();
    let complain = |st: &mut LexStats, waiting: &mut WaitingClause| {
        if waiting.close() {
            st.neg += W_WAITING;
            st.n_neg += 1;
        }
    };
    let threaten = |st: &mut LexStats, threat: &mut ThreatSentence| {
        if threat.close() {
            st.neg += W_THREAT;
            st.n_neg += 1;
        }
    };
    for (i, t) in toks.tokens.iter().enumerate() {
        if matches!(
            t.kind,
            TokenKind::Boundary | TokenKind::Exclaim | TokenKind::Question
        ) {
            complain(&mut st, &mut waiting);
            // A condition reaches across its comma into the main clause.
            if toks.norm(t) != "," {
                threaten(&mut st, &mut threat);
            }
        }
        if i < skip_to {
            continue;
        }
        if t.kind == TokenKind::Word {
            waiting.word(toks, i, t);
            threat.word(toks.norm(t));
        }
        match t.kind {
            TokenKind::Word => {
                let f = formula_len(toks, i);
                if f > 0 {
                    skip_to = i + f;
                    continue;
                }
                st.n_words += 1;
                if t.caps {
                    st.n_caps += 1;
                }
                if t.negated {
                    st.negations += 1;
                    if DURATION.contains(&toks.norm(t)) {
                        st.pos += W_FAST;
                        st.n_pos += 1;
                        continue;
                    }
                }
                if let Some(p) = lex.word(toks.norm(t), toks.stem(t)) {
                    let mut v = p * t.intensity;
                    if t.negated {
                        // "nicht gut" is negative; "nicht schlecht" only mildly positive.
                        v = if v > 0.0 { -0.8 * v } else { -0.4 * v };
                    }
                    v *= match t.contrast {
                        -1 => 0.6,
                        1 => 1.3,
                        _ => 1.0,
                    };
                    if v > 0.0 {
                        st.pos += v;
                        st.n_pos += 1;
                    } else if v < 0.0 {
                        st.neg -= v;
                        st.n_neg += 1;
                    }
                }
            }
            TokenKind::Emoji => {
                if let Some(p) = lex.emoji(toks.norm(t)) {
                    st.emoji += p;
                }
            }
            TokenKind::Emoticon => st.emoticon += emoticon_polarity(toks.norm(t)),
            TokenKind::Exclaim => st.n_exclaim += 1,
            TokenKind::Question => st.n_question += 1,
            _ => {}
        }
    }
    complain(&mut st, &mut waiting);
    threaten(&mut st, &mut threat);
    st
}

/// Append the hashed, L2-normalised feature vector of `toks` to `out` (cleared first).
pub fn extract(toks: &Tokens, lex: &Lexicon, bits: u8, out: &mut Vec<(u32, f32)>) -> LexStats {
    out.clear();
    let mask = (1u64 << bits) - 1;
    let mut push = |h: u64, v: f32| out.push(((h & mask) as u32, v));
    let mut prev: u64 = hash_bytes(S_BIGRAM, b"<s>");
    let mut skip_to = 0usize;
    for (i, t) in toks.tokens.iter().enumerate() {
        if i < skip_to {
            continue;
        }
        let norm = toks.norm(t);
        let key;
        match t.kind {
            TokenKind::Word => {
                let f = formula_len(toks, i);
                if f > 0 {
                    skip_to = i + f;
                    continue;
                }
                let neg = if t.negated { NEG_MARK } else { 0 };
                let stem = toks.stem(t);
                push(hash_bytes(S_WORD ^ neg, norm.as_bytes()), W_WORD);
                let hs = hash_bytes(S_STEM ^ neg, stem.as_bytes());
                push(hs, W_STEM);
                key = hs;
                for part in toks.parts_of(t) {
                    push(hash_bytes(S_PART, part.as_bytes()), W_PART);
                }
                char_ngrams(norm.as_bytes(), &mut push);
            }
            TokenKind::Number => {
                key = hash_bytes(S_TAG, b"<num>");
                push(key, W_TAG * 0.5);
            }
            TokenKind::Boundary => {
                prev = hash_bytes(S_BIGRAM, b"<s>");
                continue;
            }
            _ => {
                key = hash_bytes(S_TAG, norm.as_bytes());
                push(key, W_TAG);
            }
        }
        push(combine(prev, key), W_BIGRAM);
        prev = key;
    }
    let st = lex_stats(toks, lex);
    let dense = [
        ("lex_pos", st.pos.tanh()),
        ("lex_neg", st.neg.tanh()),
        ("lex_net", st.polarity()),
        ("emoji_pos", st.emoji.max(0.0).tanh()),
        ("emoji_neg", (-st.emoji).max(0.0).tanh()),
        ("emoticon_pos", st.emoticon.max(0.0).tanh()),
        ("emoticon_neg", (-st.emoticon).max(0.0).tanh()),
        ("exclaim", (st.n_exclaim as f32).min(3.0) / 3.0),
        ("question", (st.n_question as f32).min(2.0) / 2.0),
        ("caps", (st.n_caps as f32).min(3.0) / 3.0),
        ("negation", (st.negations > 0) as u8 as f32),
        ("bias_short", (st.n_words < 6) as u8 as f32),
    ];
    for (name, v) in dense {
        if v != 0.0 {
            push(hash_bytes(S_DENSE, name.as_bytes()), W_DENSE * v);
        }
    }
    let norm2: f32 = out.iter().map(|(_, v)| v * v).sum();
    if norm2 > 0.0 {
        let inv = norm2.sqrt().recip();
        for (_, v) in out.iter_mut() {
            *v *= inv;
        }
    }
    st
}

/// Byte 3..5-grams of `<word>`; cheap and robust to spelling variants ("suuuper", "Versicherungs-").
#[inline]
fn char_ngrams(word: &[u8], push: &mut impl FnMut(u64, f32)) {
    // The padded word in a stack buffer: no bounds branches in the inner loop.
    let mut buf = [0u8; 64];
    if word.len() + 2 > buf.len() {
        let padded: Vec<u8> = [b"<".as_slice(), word, b">"].concat();
        return padded_ngrams(&padded, push);
    }
    buf[0] = b'<';
    buf[1..=word.len()].copy_from_slice(word);
    buf[word.len() + 1] = b'>';
    padded_ngrams(&buf[..word.len() + 2], push);
}

#[inline]
fn padded_ngrams(padded: &[u8], push: &mut impl FnMut(u64, f32)) {
    for len in 3..=5usize {
        let seed = 0xcbf2_9ce4_8422_2325u64 ^ S_CHAR ^ ((len as u64) << 40);
        for gram in padded.windows(len) {
            let mut h = seed;
            for &b in gram {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            push(crate::hash::mix(h), W_CHAR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Normalizer;

    fn stats(text: &str) -> LexStats {
        let norm = Normalizer::new();
        let lex = Lexicon::shipped(&norm);
        let mut toks = Tokens::default();
        norm.tokenize(text, &mut toks);
        lex_stats(&toks, &lex)
    }

    #[test]
    fn politeness_formulas_are_not_praise() {
        let st = stats("Guten Tag, wie kann ich meine Bankverbindung ändern? Danke im Voraus");
        assert_eq!(st.pos, 0.0, "{st:?}");
        let st = stats("Mit freundlichen Grüßen");
        assert_eq!(st.pos, 0.0, "{st:?}");
    }

    fn grams(word: &str) -> Vec<u64> {
        let mut out = Vec::new();
        char_ngrams(word.as_bytes(), &mut |h, _| out.push(h));
        out
    }

    #[test]
    fn char_ngram_hashes_stay_what_the_shipped_weights_were_trained_on() {
        // "<ab>": two trigrams and one 4-gram; values from an independent FNV-1a + mix.
        assert_eq!(
            grams("ab"),
            [
                0xdeda_b65b_0e71_8052,
                0xeebf_4580_dcd0_3969,
                0x8c4b_43d5_b92a_c157
            ]
        );
        // A word longer than the stack buffer takes the heap path with the same grams.
        let long = "versicherungs".repeat(6);
        let hashes = grams(&long);
        let n = long.len() + 2;
        assert_eq!(hashes.len(), (n - 2) + (n - 3) + (n - 4));
        assert_eq!(hashes[1..13], grams(&long[..14])[1..13]);
    }

    #[test]
    fn waiting_since_or_still_is_a_complaint() {
        for text in [
            "Seit drei Wochen warte ich auf eine Rückmeldung",
            "seit 10 Tagen keine Antwort",
            "Ich warte seit einem Monat.",
            "Seit Montag keine Nachricht von Ihnen",
            "Noch immer keine Rückmeldung",
            "Ich warte immer noch auf mein Geld",
        ] {
            let st = stats(text);
            assert!(st.neg >= W_WAITING && st.n_neg >= 1, "{text}: {st:?}");
        }
        // A long customer relationship is no complaint, nor is waiting without "seit"
        // or "immer noch": the clause's other words decide.
        for (text, rest) in [
            (
                "Seit zehn Jahren bin ich Kunde und nicht einmal umgezogen",
                "Ich bin Kunde und nicht einmal umgezogen",
            ),
            ("Ich warte auf den Gutachter", "Ich auf den Gutachter"),
        ] {
            assert_eq!(stats(text).neg, stats(rest).neg, "{text}");
        }
    }

    #[test]
    fn a_conditional_threat_is_a_complaint_and_a_plain_cancellation_is_not() {
        for (threat, plain) in [
            (
                "Wenn sich bis Montag niemand meldet, kündige ich",
                "Bis Montag meldet sich niemand, ich kündige",
            ),
            (
                "Zahlen Sie endlich, sonst gehe ich zum Anwalt",
                "Zahlen Sie endlich, ich gehe zum Anwalt",
            ),
        ] {
            assert!(stats(threat).neg >= stats(plain).neg + W_THREAT, "{threat}");
        }
        let plain = "Ich möchte meine Rechtsschutzversicherung zum 31.12. kündigen.";
        assert_eq!(
            stats(plain).neg,
            stats("Ich möchte meine Rechtsschutzversicherung zum 31.12.").neg
        );
        // The condition must be in the same sentence.
        assert_eq!(
            stats("Wenn Sie Fragen haben, rufen Sie an. Ich kündige.").neg,
            stats("Sie haben Fragen, rufen Sie an. Ich kündige.").neg
        );
    }

    #[test]
    fn negated_waiting_time_praises_speed() {
        assert!(stats("Die Meldung hat keine fünf Minuten gedauert").polarity() > 0.2);
        assert!(stats("Ich musste nicht lange warten").polarity() > 0.2);
    }
}
