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
/// Evidence that could belong to a claim: an invoice, photos, a cost estimate.
const MATERIAL: u16 = 512;
/// Praise words that are more than politeness ("super", "schnell"; not "danke").
const STRONG_PRAISE: u16 = 1024;
/// Something is sent along: "anbei", "im Anhang", "reiche … ein".
const ATTACHED: u16 = 2048;
/// Something happened ("geklaut", "gesprungen"), not only a claim named ("Schaden").
const EVENT: u16 = 4096;

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
            "unterirdisch",
            "mühsam",
            "theater",
            "mangelhaft",
            "unzufrieden",
            "nervt",
            "nervig",
            "verschlampt",
            "schnauze",
            "ärgert",
            "ärger",
        ],
    ),
    (PRAISE, &["danke", "dankeschön", "vielen", "dank"]),
    (
        PRAISE | STRONG_PRAISE,
        &[
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
            "mega",
            "genial",
            "geholfen",
        ],
    ),
    (
        CLAIM,
        &[
            "unfall",
            "schaden",
            "einbruch",
            "diebstahl",
            "wasserschaden",
            "hagelschaden",
            "sturmschaden",
            "brand",
            "auffahrunfall",
            "unwetter",
            "rohrbruch",
            "glasbruch",
            "parkschaden",
            "totalschaden",
            "schadensfall",
            "schadenfall",
            "hagel",
            "blitz",
            "steinschlag",
            "wildunfall",
        ],
    ),
    (
        CLAIM | EVENT,
        &[
            "eingebrochen",
            "gestohlen",
            "kaputt",
            "beschädigt",
            "angefahren",
            "gerammt",
            "überschwemmt",
            "dellen",
            "delle",
            "riss",
            "gesprungen",
            "zerbrochen",
            "runtergefallen",
            "heruntergefallen",
            "geklaut",
            "aufgebrochen",
            "überflutet",
            "eingeschlagen",
            "gestreift",
            "umgeknickt",
            "gebrochen",
            "ausgelaufen",
            "verunglückt",
            "gestürzt",
            "schimmelt",
            "geplatzt",
            "vollgelaufen",
            "zerbissen",
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
            "beenden",
            "beende",
            "auflösen",
            "aufzulösen",
            "sonderkündigungsrecht",
            "widerrufe",
            "widerrufen",
            "stornieren",
            "kündigt",
            "woanders",
            "raus",
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
            "zweitschrift",
            "bedingungen",
            "versicherungsbedingungen",
            "übersicht",
            "deckungszusage",
            "versicherungskarte",
            "karte",
            "kündigungsbestätigung",
        ],
    ),
    (
        ATTACHED,
        &[
            "anbei",
            "angehängt",
            "hänge",
            "anhang",
            "beigefügt",
            "reiche",
            "eingereicht",
        ],
    ),
    (
        MATERIAL,
        &[
            "foto",
            "fotos",
            "bilder",
            "rechnung",
            "rechnungen",
            "kostenvoranschlag",
            "belege",
            "quittung",
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
            "mailen",
            "herunterladen",
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

/// Cues a compound carries from its parts ("Schadenformular" is a form, "Arztrechnung" an
/// invoice).
const COMPOUND_HEADS: u16 = CLAIM | DOC | MATERIAL;
/// Heads (stemmed, as compound parts are) that make a compound a product
/// ("Unfallversicherung", "Glasschutz"), not an event.
const PRODUCT_HEADS: &[&str] = &["versicher", "polic", "tarif", "schutz"];
/// Shortest compound tail looked up as a cue.
const MIN_TAIL: usize = 5;

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

    /// Cues of the longest known tail of a long word the splitter leaves whole.
    fn compound_tail(&self, stem: &str) -> u16 {
        if stem.len() < MIN_TAIL + 3 {
            return 0;
        }
        for (offset, _) in stem.char_indices().skip(3) {
            let tail = &stem[offset..];
            if tail.len() < MIN_TAIL {
                break;
            }
            if let Some(f) = self.cues.get(tail) {
                return f & COMPOUND_HEADS;
            }
        }
        0
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
                    let stem = toks.stem(t);
                    let f = self.cues.get(stem).copied().unwrap_or(0);
                    let product = toks
                        .parts_of(t)
                        .last()
                        .is_some_and(|head| PRODUCT_HEADS.contains(&head));
                    let heads = if product {
                        COMPOUND_HEADS & !CLAIM
                    } else {
                        COMPOUND_HEADS
                    };
                    let f = f | toks
                        .parts_of(t)
                        .fold(0, |a, p| a | self.cues.get(p).copied().unwrap_or(0) & heads);
                    let f = f | self.compound_tail(stem) & heads;
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
        let complaint = out.contains(&Intent::Complaint);
        // Thanks with a follow-up question reads neutral as a whole: a strong praise word
        // and some positive evidence still make it praise.
        let praised = (sentiment == Sentiment::Positive && (flags & PRAISE != 0 || pos > 0.6))
            || (flags & STRONG_PRAISE != 0 && pos > 0.25 && !complaint);
        if praised && !negated_praise {
            out.push(Intent::Praise);
        }
        // An event, or an invoice or photos sent in: a claim, unless it is a general
        // question about cover ("Ist ein Wasserschaden mitversichert?").
        let concrete = flags & (FIRST_PERSON | MATERIAL | ATTACHED) != 0 || !question;
        // Praise or a complaint about how a claim was handled names it without reporting
        // one ("Super, dass das mit dem Glasschaden so unkompliziert geklappt hat").
        let judged = complaint || out.contains(&Intent::Praise);
        let reported = flags & EVENT != 0 || !judged;
        if (flags & CLAIM != 0 && concrete && reported)
            || flags & ATTACHED != 0
            || (flags & MATERIAL != 0 && flags & (FIRST_PERSON | REPORT) != 0 && !question)
        {
            out.push(Intent::ClaimReport);
        }
        if flags & CANCEL != 0 && flags & (FIRST_PERSON | REQUEST) != 0 {
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
