//! Checks of outgoing drafts against the company's social-media guideline (TOML).

use anyhow::{Context, Result};
use resonanz_core::analysis::SensitiveSpan;
use serde::{Deserialize, Serialize};

use crate::pii::{PiiDetector, kind_str};
use crate::text::emoji_spans;

pub const DEFAULT_GUIDELINE: &str = include_str!("../config/guideline.toml");

/// Where the draft goes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OutgoingContext {
    /// Visible to everyone (a public reply under a post), not a private chat.
    pub public: bool,
    /// A pre-approved template (e.g. WhatsApp outside the 24-hour window).
    pub template: bool,
    /// First message of a conversation: greeting and closing are expected.
    pub first_message: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuidelineFinding {
    pub rule_id: String,
    pub severity: Severity,
    /// Byte span in the draft (empty span at the start/end for missing greeting/closing).
    pub start: usize,
    pub end: usize,
    pub message_de: String,
    pub message_en: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct GuidelineConfig {
    #[serde(default = "sie")]
    pub house_style: String,
    pub emoji: Toggle,
    pub informal_address: PhraseRule,
    pub promotion: PhraseRule,
    pub greeting: PositionRule,
    pub closing: ClosingRule,
    pub sensitive_data: Toggle,
    pub forbidden: PhraseRule,
}

fn sie() -> String {
    "sie".into()
}

#[derive(Clone, Debug, Deserialize)]
pub struct Toggle {
    pub enabled: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PhraseRule {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(alias = "words")]
    pub phrases: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize)]
pub struct PositionRule {
    pub enabled: bool,
    pub phrases: Vec<String>,
    pub within_chars: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ClosingRule {
    pub enabled: bool,
    pub phrases: Vec<String>,
    pub within_last_chars: usize,
}

#[derive(Clone, Debug)]
pub struct Guideline {
    pub config: GuidelineConfig,
}

impl Guideline {
    pub fn from_toml(text: &str) -> Result<Guideline> {
        let mut config: GuidelineConfig = toml::from_str(text).context("parsing guideline TOML")?;
        for list in [
            &mut config.informal_address.phrases,
            &mut config.promotion.phrases,
            &mut config.greeting.phrases,
            &mut config.closing.phrases,
            &mut config.forbidden.phrases,
        ] {
            for p in list.iter_mut() {
                *p = p.to_lowercase();
            }
        }
        Ok(Guideline { config })
    }

    pub fn shipped() -> Guideline {
        Self::from_toml(DEFAULT_GUIDELINE).expect("default guideline parses")
    }

    pub fn check(
        &self,
        text: &str,
        ctx: &OutgoingContext,
        pii: &PiiDetector,
    ) -> Vec<GuidelineFinding> {
        let c = &self.config;
        let mut out = Vec::new();
        // Lowercasing can change byte lengths; keep a map back to the draft's offsets.
        let (lower, map) = lower_with_map(text);
        if c.emoji.enabled {
            for s in emoji_spans(text) {
                out.push(finding(
                    "emoji",
                    Severity::Warning,
                    s.start,
                    s.end,
                    "Emojis wirken bei Finanz- und Versicherungsthemen unprofessionell.",
                    "Emojis look unprofessional in finance and insurance messages.",
                ));
            }
        }
        if c.informal_address.enabled && c.house_style.eq_ignore_ascii_case("sie") {
            for (s, e) in find_phrases(&lower, &c.informal_address.phrases) {
                out.push(finding(
                    "informal_address",
                    Severity::Warning,
                    map[s],
                    map[e],
                    "Informelles „du“ – der Hausstil ist „Sie“.",
                    "Informal \"du\" – the house style is the formal \"Sie\".",
                ));
            }
        }
        if c.promotion.enabled {
            let sev = if ctx.template {
                Severity::Error
            } else {
                Severity::Warning
            };
            for (s, e) in find_phrases(&lower, &c.promotion.phrases) {
                out.push(finding(
                    "promotion",
                    sev,
                    map[s],
                    map[e],
                    "Werbliche Formulierung: in Vorlagen und ungefragten Nachrichten ist Werbung nicht erlaubt.",
                    "Promotional wording: templates and unsolicited messages must not advertise.",
                ));
            }
        }
        if c.forbidden.enabled {
            for (s, e) in find_phrases(&lower, &c.forbidden.phrases) {
                out.push(finding(
                    "forbidden_claim",
                    Severity::Error,
                    map[s],
                    map[e],
                    "Unzulässige Zusage – keine Garantien oder Leistungsversprechen öffentlich geben.",
                    "Forbidden claim – do not promise guarantees or benefits in writing.",
                ));
            }
        }
        if (ctx.template || ctx.first_message) && !text.trim().is_empty() {
            if c.greeting.enabled {
                let head = prefix_chars(&lower, c.greeting.within_chars);
                if find_phrases(head, &c.greeting.phrases).is_empty() {
                    out.push(finding(
                        "missing_greeting",
                        Severity::Warning,
                        0,
                        0,
                        "Die Nachricht beginnt ohne Begrüßung.",
                        "The message does not start with a greeting.",
                    ));
                }
            }
            if c.closing.enabled {
                let tail_start = suffix_start(&lower, c.closing.within_last_chars);
                let tail = &lower[tail_start..];
                if find_phrases(tail, &c.closing.phrases).is_empty() {
                    out.push(finding(
                        "missing_closing",
                        Severity::Warning,
                        text.len(),
                        text.len(),
                        "Die Nachricht endet ohne Grußformel.",
                        "The message ends without a closing.",
                    ));
                }
            }
        }
        if c.sensitive_data.enabled && ctx.public {
            for SensitiveSpan { kind, start, end } in pii.detect(text) {
                out.push(GuidelineFinding {
                    rule_id: "sensitive_data_public".into(),
                    severity: Severity::Error,
                    start,
                    end,
                    message_de: format!(
                        "Personenbezogene Daten ({}) gehören nicht in eine öffentliche Antwort – bitte in einen privaten Kanal wechseln.",
                        kind_str(kind)
                    ),
                    message_en: format!(
                        "Personal data ({}) must not appear in a public reply – move to a private channel.",
                        kind_str(kind)
                    ),
                });
            }
        }
        out.sort_by_key(|f| (f.start, f.end));
        out
    }
}

fn finding(
    rule: &str,
    severity: Severity,
    start: usize,
    end: usize,
    de: &str,
    en: &str,
) -> GuidelineFinding {
    GuidelineFinding {
        rule_id: rule.into(),
        severity,
        start,
        end,
        message_de: de.into(),
        message_en: en.into(),
    }
}

/// Lowercase text plus, for each byte offset of it (and its end), the offset in `text`.
fn lower_with_map(text: &str) -> (String, Vec<usize>) {
    let mut lower = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len() + 1);
    for (i, ch) in text.char_indices() {
        for l in ch.to_lowercase() {
            for _ in 0..l.len_utf8() {
                map.push(i);
            }
            lower.push(l);
        }
    }
    map.push(text.len());
    (lower, map)
}

/// Whole-word occurrences of any phrase.
fn find_phrases(hay: &str, phrases: &[String]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    let b = hay.as_bytes();
    let word = |c: char| c.is_alphanumeric();
    for p in phrases {
        if p.is_empty() {
            continue;
        }
        for (s, _) in hay.match_indices(p.as_str()) {
            let e = s + p.len();
            let before_ok = hay[..s].chars().next_back().is_none_or(|c| !word(c))
                || !p.chars().next().is_some_and(word);
            let after_ok = hay[e..].chars().next().is_none_or(|c| !word(c))
                || !p.chars().next_back().is_some_and(word);
            if before_ok && after_ok && !out.iter().any(|(a, z)| s < *z && e > *a) {
                out.push((s, e));
            }
        }
    }
    let _ = b;
    out.sort();
    out
}

fn prefix_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn suffix_start(s: &str, n: usize) -> usize {
    let count = s.chars().count();
    if count <= n {
        return 0;
    }
    s.char_indices().nth(count - n).map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str, ctx: OutgoingContext) -> Vec<String> {
        Guideline::shipped()
            .check(text, &ctx, &PiiDetector::shipped())
            .into_iter()
            .map(|f| f.rule_id)
            .collect()
    }

    const GOOD: &str = "Guten Tag Frau Müller, vielen Dank für Ihre Nachricht. Wir kümmern uns. Viele Grüße, Ihr Service-Team";

    #[test]
    fn a_clean_formal_reply_passes() {
        let ctx = OutgoingContext {
            public: true,
            template: true,
            first_message: true,
        };
        assert!(rules(GOOD, ctx).is_empty());
    }

    #[test]
    fn emoji_is_flagged_with_its_span() {
        let text = "Vielen Dank! 😊";
        let f =
            Guideline::shipped().check(text, &OutgoingContext::default(), &PiiDetector::shipped());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule_id, "emoji");
        assert_eq!(&text[f[0].start..f[0].end], "😊");
        assert!(!f[0].message_de.is_empty() && !f[0].message_en.is_empty());
    }

    #[test]
    fn informal_du_only_when_house_style_is_sie() {
        let text = "Kannst du uns deine Nummer schicken?";
        let f =
            Guideline::shipped().check(text, &OutgoingContext::default(), &PiiDetector::shipped());
        let spans: Vec<&str> = f.iter().map(|x| &text[x.start..x.end]).collect();
        assert_eq!(spans, ["du", "deine"]);
        let du = Guideline::from_toml(
            &DEFAULT_GUIDELINE.replace("house_style = \"sie\"", "house_style = \"du\""),
        )
        .unwrap();
        assert!(
            du.check(text, &OutgoingContext::default(), &PiiDetector::shipped())
                .is_empty()
        );
        // "Dudenstraße" and "Ihr" do not trip the rule.
        assert!(
            rules(
                "Bitte schauen Sie im Duden nach.",
                OutgoingContext::default()
            )
            .is_empty()
        );
    }

    #[test]
    fn promotion_is_an_error_in_templates() {
        let text = "Hallo, unser Angebot: 20 % Rabatt, jetzt abschließen! Viele Grüße";
        let ctx = OutgoingContext {
            template: true,
            ..Default::default()
        };
        let f = Guideline::shipped().check(text, &ctx, &PiiDetector::shipped());
        let promo: Vec<_> = f.iter().filter(|x| x.rule_id == "promotion").collect();
        assert_eq!(promo.len(), 3);
        assert!(promo.iter().all(|x| x.severity == Severity::Error));
        let f2 =
            Guideline::shipped().check(text, &OutgoingContext::default(), &PiiDetector::shipped());
        assert!(
            f2.iter()
                .filter(|x| x.rule_id == "promotion")
                .all(|x| x.severity == Severity::Warning)
        );
    }

    #[test]
    fn missing_greeting_and_closing_in_first_messages() {
        let ctx = OutgoingContext {
            first_message: true,
            ..Default::default()
        };
        let r = rules("Ihr Vertrag wurde geändert.", ctx.clone());
        assert_eq!(r, ["missing_greeting", "missing_closing"]);
        // Later messages in a running chat need neither.
        assert!(rules("Ihr Vertrag wurde geändert.", OutgoingContext::default()).is_empty());
    }

    #[test]
    fn sensitive_data_only_matters_in_public() {
        let text = "Ihre IBAN DE89 3704 0044 0532 0130 00 ist hinterlegt.";
        let public = OutgoingContext {
            public: true,
            ..Default::default()
        };
        assert_eq!(rules(text, public), ["sensitive_data_public"]);
        assert!(rules(text, OutgoingContext::default()).is_empty());
    }

    #[test]
    fn forbidden_claims() {
        assert_eq!(
            rules("Das zahlen wir garantiert.", OutgoingContext::default()),
            ["forbidden_claim"]
        );
    }
}
