//! Compound splitting good enough for insurance vocabulary.
//!
//! German writes "Schadensregulierung", "Beitragserhöhung", "Kfz-Haftpflicht" as one word.
//! We split at hyphens and, for long words, peel off known heads from the right
//! (with linking elements -s-, -es-, -n-, -en-), so the parts reach topics and features.

use crate::hash::FastSet;
use std::sync::OnceLock;

/// Lowercase morphemes: heads and modifiers common in insurance and service talk.
const MORPHEMES: &[&str] = &[
    "versicherung",
    "versicherer",
    "versicherte",
    "versicherten",
    "haftpflicht",
    "pflicht",
    "schaden",
    "schäden",
    "regulierung",
    "meldung",
    "beitrag",
    "beiträge",
    "erhöhung",
    "anpassung",
    "senkung",
    "kündigung",
    "frist",
    "police",
    "vertrag",
    "verträge",
    "leistung",
    "auszahlung",
    "erstattung",
    "rechnung",
    "kasse",
    "kranken",
    "krankheit",
    "kosten",
    "hausrat",
    "wohngebäude",
    "gebäude",
    "wohnung",
    "haus",
    "kfz",
    "auto",
    "fahrzeug",
    "wagen",
    "unfall",
    "zahn",
    "zahnarzt",
    "arzt",
    "rechtsschutz",
    "recht",
    "schutz",
    "leben",
    "lebens",
    "rente",
    "renten",
    "hotline",
    "warteschleife",
    "schleife",
    "warte",
    "zeit",
    "termin",
    "gutachter",
    "gutachten",
    "makler",
    "berater",
    "beratung",
    "vermittler",
    "service",
    "kunde",
    "kunden",
    "dienst",
    "app",
    "online",
    "portal",
    "konto",
    "login",
    "passwort",
    "brief",
    "post",
    "unterlagen",
    "dokument",
    "dokumente",
    "bescheinigung",
    "nachweis",
    "nummer",
    "antrag",
    "anträge",
    "bearbeitung",
    "wasser",
    "feuer",
    "sturm",
    "hagel",
    "einbruch",
    "diebstahl",
    "glas",
    "kasko",
    "teilkasko",
    "vollkasko",
    "reise",
    "ruecktritt",
    "rücktritt",
    "pflege",
    "tier",
    "hund",
    "pferd",
    "berufsunfähigkeit",
    "unfähigkeit",
    "beruf",
    "invalidität",
    "tarif",
    "prämie",
    "preis",
    "zahlung",
    "geld",
    "betrag",
    "selbstbeteiligung",
    "beteiligung",
    "rückstufung",
    "stufe",
    "klasse",
    "rabatt",
    "bonus",
    "fall",
    "abteilung",
    "team",
    "mitarbeiter",
    "chat",
    "mail",
    "telefon",
    "anruf",
    "rückruf",
    "brille",
    "behandlung",
    "therapie",
    "operation",
    "klinik",
    "krankenhaus",
    "medikament",
    "abschlepp",
    "abschleppdienst",
    "pannen",
    "panne",
    "hilfe",
    "wert",
    "ersatz",
    "neuwert",
    "zeitwert",
    "bank",
    "lastschrift",
    "mahnung",
    "erhöhungen",
    "abzocke",
    "betrug",
    "ablehnung",
    "zusage",
    "absage",
    "antwort",
    "bestätigung",
    "änderung",
    "wechsel",
    "daten",
    "adresse",
    "erreichbarkeit",
    "wartezeit",
    "bearbeitungszeit",
];

/// Every suffix of every long word is looked up here: a fast hasher, not SipHash.
fn set() -> &'static FastSet<&'static str> {
    static SET: OnceLock<FastSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| MORPHEMES.iter().copied().collect())
}

const LINKS: &[&str] = &["s", "es", "n", "en", "e"];

/// Emit the parts of a lowercase word (nothing when it does not split).
pub fn split(word: &str, emit: &mut dyn FnMut(&str)) {
    if word.contains('-') {
        let mut n = 0;
        for piece in word.split('-').filter(|p| !p.is_empty()) {
            n += 1;
            if !split_closed(piece, emit) {
                emit(piece);
            }
        }
        debug_assert!(n > 0);
        return;
    }
    split_closed(word, emit);
}

/// Split a word without hyphens; returns false when no known head was found.
fn split_closed(word: &str, emit: &mut dyn FnMut(&str)) -> bool {
    let set = set();
    if word.len() < 7 || set.contains(word) {
        return false;
    }
    // Longest known head first (smallest split offset), the modifier keeps >= 3 bytes.
    for (off, _) in word.char_indices().skip(3) {
        let head = &word[off..];
        if head.len() < 3 || !set.contains(head) {
            continue;
        }
        let modifier = &word[..off];
        let base = strip_link(modifier);
        if !split_closed(base, emit) {
            emit(base);
        }
        emit(head);
        return true;
    }
    false
}

fn strip_link(modifier: &str) -> &str {
    let set = set();
    if set.contains(modifier) {
        return modifier;
    }
    for l in LINKS {
        if let Some(b) = modifier.strip_suffix(l)
            && b.len() >= 3
            && (set.contains(b) || ends_with_known(b))
        {
            return b;
        }
    }
    modifier
}

fn ends_with_known(word: &str) -> bool {
    let set = set();
    word.char_indices()
        .skip(3)
        .any(|(off, _)| word.len() - off >= 3 && set.contains(&word[off..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(w: &str) -> Vec<String> {
        let mut v = Vec::new();
        split(w, &mut |p| v.push(p.to_string()));
        v
    }

    #[test]
    fn splits_insurance_compounds() {
        assert_eq!(parts("schadensregulierung"), ["schaden", "regulierung"]);
        assert_eq!(parts("beitragserhöhung"), ["beitrag", "erhöhung"]);
        assert_eq!(parts("kfz-haftpflicht"), ["kfz", "haftpflicht"]);
        assert_eq!(parts("hausratversicherung"), ["hausrat", "versicherung"]);
        assert_eq!(
            parts("krankenversicherungsbeitrag"),
            ["kranken", "versicherung", "beitrag"]
        );
        assert_eq!(parts("wasserschaden"), ["wasser", "schaden"]);
    }

    #[test]
    fn leaves_plain_words_alone() {
        assert!(parts("versicherung").is_empty());
        assert!(parts("freundlich").is_empty());
        assert!(parts("unverschämt").is_empty());
    }
}
