//! Insurance topic taxonomy (TOML), matched multi-label on stems and compound parts.

use anyhow::{Context, Result, ensure};
use serde::Deserialize;

use crate::hash::FastMap;
use crate::text::{Normalizer, TokenKind, Tokens};

/// Shortest compound tail looked up as a term: shorter tails ("app", "rat") are parts of
/// too many unrelated words.
const MIN_TAIL: usize = 6;

pub const DEFAULT_TAXONOMY: &str = include_str!("../config/taxonomy.toml");

#[derive(Debug, Deserialize)]
struct TaxonomyFile {
    topic: Vec<TopicDef>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TopicDef {
    pub id: String,
    #[serde(default)]
    pub label_de: String,
    /// Matched as words and as parts of compounds ("Wasserschaden" → "schaden").
    pub terms: Vec<String>,
    /// Matched as whole words only: "Wechsel" is a switch of insurer, the
    /// "Tarifwechsel" or "Adresswechsel" is not.
    #[serde(default)]
    pub whole_words: Vec<String>,
}

#[derive(Debug)]
pub struct Taxonomy {
    pub topics: Vec<TopicDef>,
    /// stem -> bit set of topic indices
    index: FastMap<Box<str>, u64>,
    /// The same for stems that count only as a whole word.
    whole_word_index: FastMap<Box<str>, u64>,
}

impl Taxonomy {
    pub fn from_toml(text: &str, norm: &Normalizer) -> Result<Taxonomy> {
        let file: TaxonomyFile = toml::from_str(text).context("parsing taxonomy TOML")?;
        ensure!(file.topic.len() <= 64, "at most 64 topics are supported");
        let mut index: FastMap<Box<str>, u64> = FastMap::default();
        let mut whole_word_index: FastMap<Box<str>, u64> = FastMap::default();
        for (i, t) in file.topic.iter().enumerate() {
            for term in &t.terms {
                let lower = term.to_lowercase();
                *index.entry(norm.stem(&lower).into()).or_default() |= 1 << i;
            }
            for term in &t.whole_words {
                let lower = term.to_lowercase();
                *whole_word_index
                    .entry(norm.stem(&lower).into())
                    .or_default() |= 1 << i;
            }
        }
        Ok(Taxonomy {
            topics: file.topic,
            index,
            whole_word_index,
        })
    }

    pub fn shipped(norm: &Normalizer) -> Taxonomy {
        Self::from_toml(DEFAULT_TAXONOMY, norm).expect("default taxonomy parses")
    }

    /// Bit set of matched topics.
    pub fn match_bits(&self, toks: &Tokens) -> u64 {
        let mut bits = 0u64;
        for t in &toks.tokens {
            if t.kind != TokenKind::Word {
                continue;
            }
            let stem = toks.stem(t);
            if let Some(b) = self.index.get(stem) {
                bits |= b;
            }
            if let Some(b) = self.whole_word_index.get(stem) {
                bits |= b;
            }
            if t.parts.is_empty() {
                continue;
            }
            for p in toks.parts_of(t) {
                if let Some(b) = self.index.get(p) {
                    bits |= b;
                }
            }
            // A compound ends in a longer term the splitter does not know as one part:
            // "Kapitallebensversicherung" is a "lebensversicherung".
            for (offset, _) in stem.char_indices().skip(1) {
                let tail = &stem[offset..];
                if tail.len() < MIN_TAIL {
                    break;
                }
                if let Some(b) = self.index.get(tail) {
                    bits |= b;
                }
            }
        }
        bits
    }

    pub fn ids(&self, bits: u64) -> Vec<String> {
        self.topics
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, t)| t.id.clone())
            .collect()
    }
}
