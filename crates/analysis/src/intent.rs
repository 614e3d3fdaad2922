//! Intent cues (complaint, question, praise, claim report, cancellation threat, document
//! request) from stems, question form, sentiment and first-person reference.

use resonanz_core::analysis::{Intent, Sentiment};

use crate::hash::FastMap;
use crate::text::{Normalizer, TokenKind, Tokens};

const COMPLAINT: u16 = 1;
const PRAISE: u16 = 2;
const CLAIM: u16 = 4;
const CANCEL: u16 = 8;
const DOC: u16 = 16;
const REQUEST: u16 = 32;
const FIRST_PERSON: u16 = 64;
const WH: u16 = 128;
const REPORT: u16 = 256;

const CUES: &[(u16, &[&str])] = &[
    (
        COMPLAINT,
        &[
            "beschwerde",
            "beschweren",
            "unverschämt",
            "unverschämtheit",
            "frechheit",
            "skandal",
            "enttäuscht",
            "enttäuschung",
            "katastrophe",
            "katastrophal",
            "zumutung",
            "ärgerlich",
            "verärgert",
            "sauer",
            "unmöglich",
            "inakzeptabel",
            "miserabel",
            "mies",
            "schlecht",
            "schlechteste",
            "abzocke",
            "betrug",
            "ignoriert",
            "vertröstet",
            "hingehalten",
            "unzuverlässig",
            "warteschleife",
            "lächerlich",
            "peinlich",
            "schlimm",
        ],
    ),
    (
        PRAISE,
        &[
            "danke",
            "dankeschön",
            "vielen",
            "dank",
            "super",
            "toll",
            "klasse",
            "top",
            "lob",
            "hervorragend",
            "kompetent",
            "zufrieden",
            "empfehlen",
            "spitze",
            "perfekt",
            "großartig",
            "prima",
            "vorbildlich",
            "unkompliziert",
            "schnell",
            "freundlich",
            "begeistert",
        ],
    ),
    (
        CLAIM,
        &[
            "unfall",
            "schaden",
            "einbruch",
            "eingebrochen",
            "gestohlen",
            "diebstahl",
            "wasserschaden",
            "hagelschaden",
            "sturmschaden",
            "brand",
            "kaputt",
            "beschädigt",
            "angefahren",
            "gerammt",
            "auffahrunfall",
            "unwetter",
            "überschwemmt",
            "rohrbruch",
            "glasbruch",
            "parkschaden",
            "totalschaden",
            "schadensfall",
            "schadenfall",
        ],
    ),
    (
        CANCEL,
        &[
            "kündige",
            "kündigen",
            "kündigung",
            "gekündigt",
            "wechsle",
            "wechseln",
            "wechsel",
            "konkurrenz",
            "verlasse",
            "verlassen",
            "abspringen",
        ],
    ),
    (
        DOC,
        &[
            "bescheinigung",
            "nachweis",
            "unterlagen",
            "police",
            "versicherungsschein",
            "dokument",
            "dokumente",
            "kopie",
            "bestätigung",
            "beitragsrechnung",
            "vertragsunterlagen",
            "versicherungsbestätigung",
            "beitragsbescheinigung",
            "evb",
            "formular",
            "rechnung",
            "zweitschrift",
            "kündigungsbestätigung",
        ],
    ),
    (
        REQUEST,
        &[
            "brauche",
            "benötige",
            "bräuchte",
            "schicken",
            "senden",
            "zusenden",
            "zuschicken",
            "schickt",
            "sendet",
            "bekommen",
            "erhalten",
            "anfordern",
            "bitte",
            "hätte",
            "gerne",
            "zukommen",
            "wo",
            "finde",
        ],
    ),
    (
        FIRST_PERSON,
        &[
            "ich", "mir", "mich", "mein", "meine", "meinen", "meinem", "meiner", "wir", "uns",
            "unser", "unsere",
        ],
    ),
    (
        WH,
        &[
            "wie", "wann", "warum", "wieso", "weshalb", "wo", "was", "wer", "welche", "welcher",
            "welches", "wohin", "woher", "kann", "können", "könnt", "gibt", "habt", "muss", "darf",
            "bekomme", "wieviel", "wielange",
        ],
    ),
    (
        REPORT,
        &[
            "melden",
            "gemeldet",
            "meldung",
            "passiert",
            "hatte",
            "hatten",
            "gestern",
            "heute",
            "letzte",
            "letzten",
            "wurde",
            "wurden",
            "ist",
            "schadensmeldung",
        ],
    ),
];

#[derive(Debug)]
pub struct IntentRules {
    cues: FastMap<Box<str>, u16>,
}

impl IntentRules {
    pub fn new(norm: &Normalizer) -> IntentRules {
        let mut cues: FastMap<Box<str>, u16> = FastMap::default();
        for (flag, words) in CUES {
            for w in *words {
                *cues.entry(norm.stem(w).into()).or_default() |= flag;
            }
        }
        IntentRules { cues }
    }

    pub fn classify(
        &self,
        toks: &Tokens,
        sentiment: Sentiment,
        probs: [f32; 3],
        out: &mut Vec<Intent>,
    ) {
        let mut flags = 0u16;
        let mut question = false;
        let mut first_word = true;
        let mut negated_praise = false;
        for t in &toks.tokens {
            match t.kind {
                TokenKind::Question => question = true,
                TokenKind::Word | TokenKind::Hashtag => {
                    let f = self.cues.get(toks.stem(t)).copied().unwrap_or(0);
                    let f = f | toks.parts_of(t).fold(0, |a, p| {
                        a | self.cues.get(p).copied().unwrap_or(0) & (CLAIM | DOC)
                    });
                    if first_word && f & WH != 0 {
                        question = true;
                    }
                    if t.negated && f & PRAISE != 0 {
                        negated_praise = true;
                    }
                    flags |= f & !WH;
                    first_word = false;
                }
                _ => {}
            }
        }
        let neg = probs[0];
        let pos = probs[2];
        if flags & COMPLAINT != 0
            || negated_praise
            || (sentiment == Sentiment::Negative && neg > 0.55)
        {
            out.push(Intent::Complaint);
        }
        if question {
            out.push(Intent::Question);
        }
        if sentiment == Sentiment::Positive && (flags & PRAISE != 0 || pos > 0.6) && !negated_praise
        {
            out.push(Intent::Praise);
        }
        if flags & CLAIM != 0 && flags & (FIRST_PERSON | REPORT) != 0 {
            out.push(Intent::ClaimReport);
        }
        if flags & CANCEL != 0 && flags & FIRST_PERSON != 0 {
            out.push(Intent::CancellationThreat);
        }
        if flags & DOC != 0 && (flags & REQUEST != 0 || question) {
            out.push(Intent::DocumentRequest);
        }
        if out.is_empty() {
            out.push(Intent::Other);
        }
    }
}
