//! Polarity lexicon compiled from the German Polarity Lexicon (Klenner et al.), AFINN-de and
//! the Emoji Sentiment Ranking. The compiled file is a derived artefact committed under
//! `models/lexicon.tsv`; `compile_from_sources` rebuilds it from `../shared/data`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::hash::FastMap;
use crate::text::Normalizer;

pub const SHIPPED_LEXICON: &str = include_str!("../models/lexicon.tsv");

#[derive(Debug, Default)]
pub struct Lexicon {
    words: FastMap<Box<str>, f32>,
    stems: FastMap<Box<str>, f32>,
    emoji: FastMap<Box<str>, f32>,
}

impl Lexicon {
    pub fn shipped(norm: &Normalizer) -> Lexicon {
        Self::parse(SHIPPED_LEXICON, norm).expect("shipped lexicon parses")
    }

    /// Parse the compiled format: `w<TAB>word<TAB>score` or `e<TAB>emoji<TAB>score`.
    pub fn parse(text: &str, norm: &Normalizer) -> Result<Lexicon> {
        let mut lex = Lexicon::default();
        let mut stem_acc: FastMap<Box<str>, (f32, u32)> = FastMap::default();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut f = line.split('\t');
            let (Some(kind), Some(key), Some(score)) = (f.next(), f.next(), f.next()) else {
                bail!("lexicon line {}: expected 3 fields", n + 1);
            };
            let score: f32 = score
                .parse()
                .with_context(|| format!("lexicon line {}: bad score", n + 1))?;
            match kind {
                "w" => {
                    lex.words.insert(key.into(), score);
                    let e = stem_acc.entry(norm.stem(key).into()).or_default();
                    e.0 += score;
                    e.1 += 1;
                }
                "e" => {
                    lex.emoji.insert(key.into(), score);
                }
                other => bail!("lexicon line {}: unknown kind {other:?}", n + 1),
            }
        }
        lex.stems = stem_acc
            .into_iter()
            .map(|(k, (s, c))| (k, s / c as f32))
            .collect();
        Ok(lex)
    }

    /// Polarity of a lowercase word, falling back to its stem.
    #[inline]
    pub fn word(&self, lower: &str, stem: &str) -> Option<f32> {
        self.words
            .get(lower)
            .or_else(|| self.stems.get(stem))
            .copied()
    }

    #[inline]
    pub fn emoji(&self, e: &str) -> Option<f32> {
        self.emoji.get(e).copied().or_else(|| {
            // Strip skin tones / variation selectors: the ranking lists base emoji.
            let base = e.chars().next()?;
            let mut buf = [0u8; 4];
            self.emoji.get(&*base.encode_utf8(&mut buf)).copied()
        })
    }

    pub fn len(&self) -> usize {
        self.words.len() + self.emoji.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Customer-service domain adjustments applied on top of the sources. Subject-matter words
/// (a claim, an accident, a cancellation) say what a message is about, not how the customer
/// feels, so they are neutralised (0); waiting and service words the sources lack are added;
/// plain source errors are corrected ("unerreichbar" is not praise).
pub const DOMAIN_ADJUSTMENTS: &[(&str, f32)] = &[
    // subject matter, neutral in customer service
    ("schaden", 0.0),
    ("schäden", 0.0),
    ("unfall", 0.0),
    ("unfälle", 0.0),
    ("kündigen", 0.0),
    ("kündigung", 0.0),
    ("diebstahl", 0.0),
    ("einbruch", 0.0),
    ("verletzt", 0.0),
    ("verstorben", 0.0),
    ("tod", 0.0),
    ("krank", 0.0),
    ("krankheit", 0.0),
    ("gestohlen", 0.0),
    ("beschädigt", 0.0),
    ("verlust", 0.0),
    ("notfall", 0.0),
    ("hagel", 0.0),
    ("sturm", 0.0),
    ("brand", 0.0),
    ("frage", 0.0),
    ("fragen", 0.0),
    ("kosten", 0.0),
    // salutations and requests ("Liebe Frau …", "bitte …")
    ("lieber", 0.0),
    ("liebe", 0.0),
    ("bitte", 0.0),
    // service complaints the sources lack or get wrong
    ("unerreichbar", -0.8),
    ("warteschleife", -0.8),
    ("verschlampt", -1.0),
    ("ewig", -0.5),
    ("abgewimmelt", -0.8),
    ("vertröstet", -0.7),
    ("ignoriert", -0.7),
    ("nervt", -0.7),
    ("kaputt", -0.6),
    ("unbearbeitet", -0.6),
    ("wartezeit", -0.4),
    ("wartezeiten", -0.5),
    // service praise
    ("reibungslos", 0.8),
    ("problemlos", 0.7),
    ("weiterempfehlen", 0.9),
];

/// Build the compiled lexicon text from the shared data folder.
pub fn compile_from_sources(data_dir: &Path) -> Result<String> {
    let mut words: BTreeMap<String, (f32, u32)> = BTreeMap::new();
    let mut add = |w: &str, s: f32| {
        let e = words.entry(w.to_lowercase()).or_default();
        e.0 += s;
        e.1 += 1;
    };
    let gpl_path = data_dir.join("german_polarity_lexicon/german.lex");
    let gpl = std::fs::read_to_string(&gpl_path)
        .with_context(|| format!("reading {}", gpl_path.display()))?;
    let mut n_gpl = 0;
    for line in gpl.lines() {
        if line.starts_with("%%") || line.trim().is_empty() {
            continue;
        }
        let mut f = line.split_whitespace();
        let (Some(word), Some(tag)) = (f.next(), f.next()) else {
            continue;
        };
        if word.contains('_') {
            continue;
        }
        let Some((pol, strength)) = tag.split_once('=') else {
            continue;
        };
        let strength: f32 = strength.parse().unwrap_or(0.0);
        let s = match pol {
            "POS" => strength,
            "NEG" => -strength,
            _ => continue,
        };
        add(word, s);
        n_gpl += 1;
    }
    let afinn_path = data_dir.join("afinn_de/AFINN-de-165.txt");
    let afinn = std::fs::read_to_string(&afinn_path)
        .with_context(|| format!("reading {}", afinn_path.display()))?;
    let mut n_afinn = 0;
    for line in afinn.lines() {
        let Some((word, score)) = line.split_once('\t') else {
            continue;
        };
        let Ok(score) = score.trim().parse::<f32>() else {
            continue;
        };
        if word.contains(' ') || score == 0.0 {
            continue;
        }
        add(word.trim(), (score / 3.0).clamp(-1.0, 1.0));
        n_afinn += 1;
    }
    for (w, score) in DOMAIN_ADJUSTMENTS {
        words.insert(w.to_string(), (*score, 1));
    }
    let emoji_path = data_dir.join("emoji_sentiment_ranking/Emoji_Sentiment_Data_v1.0.csv");
    let emoji = std::fs::read_to_string(&emoji_path)
        .with_context(|| format!("reading {}", emoji_path.display()))?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Resonanz polarity lexicon (derived artefact, see crates/analysis/NOTICE.md)."
    );
    let _ = writeln!(
        out,
        "# Rebuild: resonanz train lexicon --data ../shared/data --out crates/analysis/models/lexicon.tsv"
    );
    let _ = writeln!(
        out,
        "# Sources: German Polarity Lexicon ({n_gpl} entries, Apache-2.0), AFINN-de ({n_afinn}, Apache-2.0), \
         Emoji Sentiment Ranking 1.0 (CC BY-SA 4.0: this emoji table is shared under the same licence)."
    );
    let _ = writeln!(
        out,
        "# Plus {} customer-service domain adjustments (DOMAIN_ADJUSTMENTS in src/lexicon.rs).",
        DOMAIN_ADJUSTMENTS.len()
    );
    for (w, (s, c)) in &words {
        let _ = writeln!(out, "w\t{w}\t{:.3}", s / *c as f32);
    }
    for line in emoji.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 7 {
            continue;
        }
        let (Ok(occ), Ok(neg), Ok(pos)) = (
            f[2].parse::<f32>(),
            f[4].parse::<f32>(),
            f[6].parse::<f32>(),
        ) else {
            continue;
        };
        if occ < 5.0 {
            continue;
        }
        let _ = writeln!(out, "e\t{}\t{:.3}", f[0], (pos - neg) / occ);
    }
    Ok(out)
}
