//! Loading labelled and unlabelled text files in the formats the tools accept.

use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result, bail};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `LABEL<TAB>TEXT` per line (an optional header line `label<TAB>text` is skipped).
    Tsv,
    /// PotTS as in ../shared/data/potts/potts_tweets.tsv (header, split column, mixed dropped).
    Potts,
    /// GermEval 2018: `TEXT<TAB>COARSE<TAB>FINE`, `|LBR|` marks line breaks.
    Germeval2018,
    /// XED German projections: `TEXT<TAB>EMOTION IDS`, mapped to polarity.
    Xed,
    /// One unlabelled text per line.
    Lines,
}

impl FromStr for Format {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Format> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "tsv" => Format::Tsv,
            "potts" => Format::Potts,
            "germeval2018" | "germeval" => Format::Germeval2018,
            "xed" => Format::Xed,
            "lines" | "txt" => Format::Lines,
            other => bail!("unknown format {other:?} (tsv, potts, germeval2018, xed, lines)"),
        })
    }
}

#[derive(Clone, Debug)]
pub struct Item {
    pub text: String,
    pub label: Option<String>,
    /// PotTS split (train/dev/test) where the format has one.
    pub split: Option<String>,
}

/// Load `path`; `split` keeps only that PotTS split (ignored by other formats).
pub fn load(path: &Path, format: Format, split: Option<&str>) -> Result<Vec<Item>> {
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut items = parse(&raw, format)?;
    if format == Format::Potts
        && let Some(sp) = split
        && sp != "all"
    {
        items.retain(|i| i.split.as_deref() == Some(sp));
    }
    Ok(items)
}

pub fn parse(raw: &str, format: Format) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    match format {
        Format::Tsv => {
            for (n, line) in raw.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let Some((label, text)) = line.split_once('\t') else {
                    bail!("line {}: expected LABEL<TAB>TEXT", n + 1);
                };
                if n == 0 && label.eq_ignore_ascii_case("label") {
                    continue;
                }
                items.push(Item {
                    text: text.to_string(),
                    label: Some(label.trim().to_string()),
                    split: None,
                });
            }
        }
        Format::Potts => {
            let mut seen = std::collections::HashSet::new();
            for (n, line) in raw.lines().enumerate().skip(1) {
                let f: Vec<&str> = line.splitn(6, '\t').collect();
                if f.len() != 6 {
                    bail!("PotTS line {}: expected 6 columns", n + 1);
                }
                // One id occurs in train and test; keep its first occurrence only.
                if !seen.insert(f[0]) || f[4] == "mixed" {
                    continue;
                }
                items.push(Item {
                    text: f[5].to_string(),
                    label: Some(f[4].to_string()),
                    split: Some(f[1].to_string()),
                });
            }
        }
        Format::Germeval2018 => {
            for (n, line) in raw.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let f: Vec<&str> = line.split('\t').collect();
                if f.len() < 2 {
                    bail!("GermEval line {}: expected TEXT<TAB>COARSE<TAB>FINE", n + 1);
                }
                items.push(Item {
                    text: f[0].replace("|LBR|", "\n"),
                    label: Some(f[1].trim().to_string()),
                    split: None,
                });
            }
        }
        Format::Xed => {
            for line in raw.lines() {
                let f: Vec<&str> = line.split('\t').collect();
                if f.len() != 2 {
                    continue;
                }
                let ids: Option<Vec<u8>> = f[1].split(',').map(|x| x.trim().parse().ok()).collect();
                let Some(ids) = ids else { continue };
                if let Some(label) = xed_polarity(&ids) {
                    items.push(Item {
                        text: f[0].to_string(),
                        label: Some(label.to_string()),
                        split: None,
                    });
                }
            }
        }
        Format::Lines => {
            for line in raw.lines().filter(|l| !l.trim().is_empty()) {
                items.push(Item {
                    text: line.to_string(),
                    label: None,
                    split: None,
                });
            }
        }
    }
    Ok(items)
}

/// XED emotions to polarity: joy/trust positive; anger/disgust/fear/sadness negative;
/// anticipation/surprise alone neutral; both polarities (mixed) dropped.
pub fn xed_polarity(ids: &[u8]) -> Option<&'static str> {
    let pos = ids.iter().any(|i| matches!(i, 5 | 8));
    let neg = ids.iter().any(|i| matches!(i, 1 | 3 | 4 | 6));
    match (pos, neg) {
        (true, true) => None,
        (true, false) => Some("positive"),
        (false, true) => Some("negative"),
        (false, false) => Some("neutral"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_format() {
        let tsv = parse(
            "label\ttext\npositive\tSuper!\nnegative\tMist\n",
            Format::Tsv,
        )
        .unwrap();
        assert_eq!(tsv.len(), 2);
        assert_eq!(tsv[0].label.as_deref(), Some("positive"));
        let ge = parse("Du Idiot|LBR|echt\tOFFENSE\tINSULT\n", Format::Germeval2018).unwrap();
        assert_eq!(ge[0].text, "Du Idiot\necht");
        assert_eq!(ge[0].label.as_deref(), Some("OFFENSE"));
        let xed = parse(
            "Toll!\t5\nHilfe\t4, 7\nNa\t2\nBeides\t1, 5\nkaputt\tx\n",
            Format::Xed,
        )
        .unwrap();
        let labels: Vec<_> = xed.iter().map(|i| i.label.clone().unwrap()).collect();
        assert_eq!(labels, ["positive", "negative", "neutral"]);
        let potts = "id\tsplit\tsubcorpus\tselection\tlabel\ttext\n1\ttrain\ta\tb\tpositive\tJa\n2\ttest\ta\tb\tmixed\tNa\n1\ttest\ta\tb\tpositive\tJa\n";
        let p = parse(potts, Format::Potts).unwrap();
        assert_eq!(p.len(), 1, "mixed and duplicate ids are dropped");
        assert!(parse("nolabel", Format::Tsv).is_err());
    }
}
