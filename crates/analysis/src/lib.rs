//! resonanz-analysis: German text analysis for inbound items and outgoing drafts.
//!
//! [`Analyzer::shipped`] bundles the embedded sentiment and offensive-language models (trained
//! by this crate on the shared data, see `models/README.md`), the polarity lexicon, the insurance
//! topic taxonomy, intent rules, the sensitive-data detector and the social-media guideline.
//! `analyze` does no I/O and reuses per-thread buffers.

pub mod compound;
pub mod data;
pub mod features;
pub mod guideline;
mod hash;
pub mod intent;
pub mod lexicon;
pub mod metrics;
pub mod model;
pub mod pii;
pub mod text;
pub mod tools;
pub mod topics;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Result, ensure};
use resonanz_core::analysis::{Analysis, Intent, SensitiveSpan, Sentiment};

pub use guideline::{Guideline, GuidelineFinding, OutgoingContext, Severity};
pub use model::{LinearModel, PriorAdapter};
pub use pii::{PiiDetector, redact};

use crate::intent::IntentRules;
use crate::lexicon::Lexicon;
use crate::text::{Normalizer, Tokens};
use crate::topics::Taxonomy;

pub const SHIPPED_SENTIMENT: &[u8] = include_bytes!("../models/sentiment.bin");
pub const SHIPPED_OFFENSIVE: &[u8] = include_bytes!("../models/offensive.bin");

/// Sentiment labels in model order (matches `Sentiment::ALL`).
pub const SENTIMENT_LABELS: [&str; 3] = ["negative", "neutral", "positive"];
pub const OFFENSIVE_LABELS: [&str; 2] = ["OTHER", "OFFENSE"];

/// Normaliser and lexicon: what turns text into model features.
#[derive(Debug)]
pub struct FeatureContext {
    pub norm: Normalizer,
    pub lex: Lexicon,
}

impl FeatureContext {
    pub fn shipped() -> FeatureContext {
        let norm = Normalizer::new();
        let lex = Lexicon::shipped(&norm);
        FeatureContext { norm, lex }
    }

    /// Featurise one text with the thread's scratch buffers.
    pub fn featurize(&self, text: &str, bits: u8) -> Vec<(u32, f32)> {
        with_scratch(|s| {
            self.norm.tokenize(text, &mut s.tokens);
            features::extract(&s.tokens, &self.lex, bits, &mut s.feats);
            s.feats.clone()
        })
    }

    pub fn lexicon_polarity(&self, text: &str) -> f32 {
        with_scratch(|s| {
            self.norm.tokenize(text, &mut s.tokens);
            features::lex_stats(&s.tokens, &self.lex).polarity()
        })
    }
}

#[derive(Default)]
struct Scratch {
    tokens: Tokens,
    feats: Vec<(u32, f32)>,
    feats2: Vec<(u32, f32)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}

struct Inner {
    fx: FeatureContext,
    sentiment: LinearModel,
    offensive: LinearModel,
    offense_idx: usize,
    taxonomy: Taxonomy,
    intents: IntentRules,
    pii: PiiDetector,
    guideline: Guideline,
    lang: whatlang::Detector,
    /// Live log-prior shift for sentiment (f32 bits), set from a `PriorAdapter`.
    live_shift: [AtomicU32; 3],
}

/// The analysis engine. Cheap to clone (shared internals); `Send + Sync`.
#[derive(Clone)]
pub struct Analyzer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("topics", &self.inner.taxonomy.topics.len())
            .finish_non_exhaustive()
    }
}

/// Detailed result for tools that need probabilities (evaluation, live prior adaptation).
#[derive(Clone, Debug)]
pub struct Detailed {
    pub analysis: Analysis,
    /// Calibrated sentiment posteriors under the training prior (negative, neutral, positive).
    pub sentiment_raw: [f32; 3],
    /// Posteriors after the current prior shift.
    pub sentiment_probs: [f32; 3],
    /// False when the text was judged non-German and not scored.
    pub scored: bool,
}

/// Function words that settle a post as German without whatlang (which costs about twice
/// the rest of the analysis).
const GERMAN_MARKERS: &[&str] = &[
    "und", "ist", "nicht", "ich", "wir", "mit", "für", "auf", "eine", "ein", "von", "bei", "mein",
    "meine", "sich", "auch", "noch", "schon", "wie", "aber", "oder", "kein", "keine", "seit",
    "nach", "sehr", "danke", "bitte", "der", "das", "den", "dem", "zu", "es", "sie", "ihr", "ihre",
    "habe", "hat", "haben", "wird", "werden", "wurde", "kann", "bin", "sind", "war", "nur",
    "jetzt", "immer", "heute", "euch", "uns", "mir", "mich", "dich", "dir", "wieder", "gibt",
    "doch", "mal", "dass", "meiner", "meinem", "meinen", "einen", "einem", "einer", "zum", "zur",
    "vom", "beim", "weil", "wenn", "denn", "dieser", "diese", "dieses", "leider", "vielen",
    "unser", "unsere", "würde", "könnte", "möchte", "hätte", "ihnen", "nichts", "etwas", "warum",
    "wieso", "weshalb", "wann", "erst", "dann", "gestern", "diesmal", "endlich", "bereits",
    "keinen", "keiner",
];

fn german_markers() -> &'static hash::FastMap<&'static str, ()> {
    static M: OnceLock<hash::FastMap<&'static str, ()>> = OnceLock::new();
    M.get_or_init(|| GERMAN_MARKERS.iter().map(|w| (*w, ())).collect())
}

impl Analyzer {
    /// Embedded models, taxonomy, PII patterns and guideline.
    pub fn shipped() -> Analyzer {
        static SHIPPED: OnceLock<Analyzer> = OnceLock::new();
        SHIPPED
            .get_or_init(|| {
                let sentiment =
                    LinearModel::from_bytes(SHIPPED_SENTIMENT).expect("shipped sentiment model");
                let offensive =
                    LinearModel::from_bytes(SHIPPED_OFFENSIVE).expect("shipped offensive model");
                Analyzer::build(
                    FeatureContext::shipped(),
                    sentiment,
                    offensive,
                    None,
                    PiiDetector::shipped(),
                    Guideline::shipped(),
                )
                .expect("shipped analyzer")
            })
            .clone()
    }

    /// Assemble an analyzer from parts (own models, taxonomy TOML, patterns, guideline).
    pub fn build(
        fx: FeatureContext,
        sentiment: LinearModel,
        offensive: LinearModel,
        taxonomy_toml: Option<&str>,
        pii: PiiDetector,
        guideline: Guideline,
    ) -> Result<Analyzer> {
        ensure!(
            sentiment.labels == SENTIMENT_LABELS,
            "sentiment model labels must be {SENTIMENT_LABELS:?}"
        );
        let offense_idx = offensive
            .label_index("OFFENSE")
            .ok_or_else(|| anyhow::anyhow!("offensive model lacks an OFFENSE label"))?;
        let taxonomy = match taxonomy_toml {
            Some(t) => Taxonomy::from_toml(t, &fx.norm)?,
            None => Taxonomy::shipped(&fx.norm),
        };
        let intents = IntentRules::new(&fx.norm);
        use whatlang::Lang::*;
        let lang = whatlang::Detector::with_allowlist(vec![
            Deu, Eng, Fra, Spa, Ita, Nld, Tur, Pol, Por, Rus, Ara, Swe, Dan,
        ]);
        let live_shift = [0, 1, 2].map(|c| AtomicU32::new(sentiment.log_shift[c].to_bits()));
        Ok(Analyzer {
            inner: Arc::new(Inner {
                fx,
                sentiment,
                offensive,
                offense_idx,
                taxonomy,
                intents,
                pii,
                guideline,
                lang,
                live_shift,
            }),
        })
    }

    pub fn analyze(&self, text: &str) -> Analysis {
        self.analyze_detailed(text).analysis
    }

    pub fn analyze_detailed(&self, text: &str) -> Detailed {
        let inner = &*self.inner;
        with_scratch(|s| {
            inner.fx.norm.tokenize(text, &mut s.tokens);
            let toks = &s.tokens;
            let language = self.detect_language(toks);
            let scored = language.as_deref().is_none_or(|l| l == "de");
            let sentiment_m = &inner.sentiment;
            let (mut raw, mut probs) = ([0.0, 1.0, 0.0], [0.0, 1.0, 0.0]);
            let mut offensive = 0.0;
            if scored {
                features::extract(toks, &inner.fx.lex, sentiment_m.bits, &mut s.feats);
                let shift =
                    [0, 1, 2].map(|c| f32::from_bits(inner.live_shift[c].load(Ordering::Relaxed)));
                let (r, p) = sentiment_m.probs_pair(&s.feats, &shift);
                raw = [r[0], r[1], r[2]];
                probs = [p[0], p[1], p[2]];
                let off_feats = if inner.offensive.bits == sentiment_m.bits {
                    &s.feats
                } else {
                    features::extract(toks, &inner.fx.lex, inner.offensive.bits, &mut s.feats2);
                    &s.feats2
                };
                offensive = inner.offensive.probs(off_feats)[inner.offense_idx];
            }
            let sentiment = Sentiment::ALL[model::argmax(&probs)];
            let topics = inner.taxonomy.ids(inner.taxonomy.match_bits(toks));
            let mut intents = Vec::with_capacity(2);
            if scored {
                inner.intents.classify(toks, sentiment, probs, &mut intents);
            } else {
                intents.push(Intent::Other);
            }
            let sensitive: Vec<SensitiveSpan> = inner.pii.detect(text);
            Detailed {
                analysis: Analysis {
                    language,
                    sentiment,
                    sentiment_score: probs[2] - probs[0],
                    offensive,
                    topics,
                    intents,
                    sensitive,
                },
                sentiment_raw: raw,
                sentiment_probs: probs,
                scored,
            }
        })
    }

    /// ISO 639-1 code; `None` when the text is too short to tell.
    fn detect_language(&self, toks: &Tokens) -> Option<String> {
        let markers = german_markers();
        let mut words = 0;
        let mut german = 0;
        let mut evidence = 0;
        let mut letters = 0;
        for t in &toks.tokens {
            if t.kind == text::TokenKind::Word {
                let w = toks.norm(t);
                words += 1;
                letters += w.len();
                if markers.contains_key(w) {
                    german += 1;
                    evidence += 1;
                } else if w.contains(['ä', 'ö', 'ü', 'ß'])
                    || self.inner.fx.lex.word(w, toks.stem(t)).is_some()
                    || !t.parts.is_empty()
                {
                    evidence += 1;
                }
            }
        }
        // Fast path: function words, umlauts and German lexicon words settle most posts
        // without the n-gram detector.
        if german >= 1 && evidence >= 2 && evidence * 3 >= words {
            return Some("de".into());
        }
        if words < 3 || letters < 12 {
            return None;
        }
        let info = self.inner.lang.detect(toks.text())?;
        let code = iso639_1(info.lang());
        if code == "de" {
            return Some("de".into());
        }
        if info.confidence() >= 0.5 && german == 0 {
            Some(code.into())
        } else {
            None
        }
    }

    /// Check an outgoing draft against the company guideline.
    pub fn check_outgoing(&self, text: &str, ctx: &OutgoingContext) -> Vec<GuidelineFinding> {
        self.inner.guideline.check(text, ctx, &self.inner.pii)
    }

    /// The same analyzer with another guideline (e.g. loaded from the insurer's TOML).
    pub fn with_guideline(&self, guideline: Guideline) -> Result<Analyzer> {
        let i = &*self.inner;
        Analyzer::build(
            FeatureContext {
                norm: Normalizer::new(),
                lex: lexicon::Lexicon::shipped(&Normalizer::new()),
            },
            i.sentiment.clone(),
            i.offensive.clone(),
            None,
            i.pii.clone(),
            guideline,
        )
    }

    pub fn sentiment_model(&self) -> &LinearModel {
        &self.inner.sentiment
    }

    pub fn offensive_model(&self) -> &LinearModel {
        &self.inner.offensive
    }

    pub fn features(&self) -> &FeatureContext {
        &self.inner.fx
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        &self.inner.taxonomy
    }

    /// A fresh adapter for the live stream, matching the sentiment model's training prior.
    pub fn sentiment_prior_adapter(&self, window: usize) -> PriorAdapter {
        PriorAdapter::new(&self.inner.sentiment.train_prior, window)
    }

    /// Apply a prior estimate from the live stream (lock-free; affects later `analyze` calls).
    pub fn set_sentiment_priors(&self, priors: &[f32]) {
        let shift = model::log_shift(&self.inner.sentiment.train_prior, priors);
        for (a, s) in self.inner.live_shift.iter().zip(shift) {
            a.store(s.to_bits(), Ordering::Relaxed);
        }
    }

    pub fn redact(&self, text: &str) -> String {
        pii::redact(text, &self.inner.pii.detect(text))
    }
}

fn iso639_1(l: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match l {
        Deu => "de",
        Eng => "en",
        Fra => "fr",
        Spa => "es",
        Ita => "it",
        Nld => "nl",
        Tur => "tr",
        Pol => "pl",
        Por => "pt",
        Rus => "ru",
        Ara => "ar",
        Swe => "sv",
        Dan => "da",
        other => other.code(),
    }
}
