//! Compliance rules as pure functions: the 24-hour service window, consent
//! (opt-in/opt-out) and the social media guideline. Everything outbound is
//! checked here before any API call.
//!
//! The outbox calls [`check_send`] with what the store knows about the
//! conversation; time is passed in, so tests move it instead of sleeping.

use crate::clock::Timestamp;
use crate::model::{Channel, UnknownValue};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub const HOUR_MS: i64 = 60 * 60 * 1000;
/// WhatsApp customer-service window and Messenger/Instagram standard window.
pub const SERVICE_WINDOW_MS: i64 = 24 * HOUR_MS;
/// Messenger/Instagram `HUMAN_AGENT` tag: a human may answer up to 7 days.
pub const HUMAN_AGENT_WINDOW_MS: i64 = 7 * 24 * HOUR_MS;
/// A customer who writes through a free entry point (a Click-to-WhatsApp ad or a Page's
/// WhatsApp button) opens 72 hours in which every message, templates too, is free.
pub const FREE_ENTRY_WINDOW_MS: i64 = 72 * HOUR_MS;

/// Meta's template review status. `Other` keeps values Meta adds later.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum TemplateStatus {
    Approved,
    Pending,
    Rejected,
    Paused,
    Disabled,
    InAppeal,
    PendingDeletion,
    Deleted,
    LimitExceeded,
    Other(String),
}

impl TemplateStatus {
    pub fn as_str(&self) -> &str {
        match self {
            TemplateStatus::Approved => "APPROVED",
            TemplateStatus::Pending => "PENDING",
            TemplateStatus::Rejected => "REJECTED",
            TemplateStatus::Paused => "PAUSED",
            TemplateStatus::Disabled => "DISABLED",
            TemplateStatus::InAppeal => "IN_APPEAL",
            TemplateStatus::PendingDeletion => "PENDING_DELETION",
            TemplateStatus::Deleted => "DELETED",
            TemplateStatus::LimitExceeded => "LIMIT_EXCEEDED",
            TemplateStatus::Other(s) => s,
        }
    }

    /// Meta spells it upper case; lower case is accepted too.
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_uppercase().as_str() {
            "APPROVED" => TemplateStatus::Approved,
            "PENDING" => TemplateStatus::Pending,
            "REJECTED" => TemplateStatus::Rejected,
            "PAUSED" => TemplateStatus::Paused,
            "DISABLED" => TemplateStatus::Disabled,
            "IN_APPEAL" => TemplateStatus::InAppeal,
            "PENDING_DELETION" => TemplateStatus::PendingDeletion,
            "DELETED" => TemplateStatus::Deleted,
            "LIMIT_EXCEEDED" => TemplateStatus::LimitExceeded,
            other => TemplateStatus::Other(other.to_owned()),
        }
    }

    pub fn is_sendable(&self) -> bool {
        *self == TemplateStatus::Approved
    }
}

impl From<String> for TemplateStatus {
    fn from(s: String) -> Self {
        TemplateStatus::parse(&s)
    }
}

impl From<TemplateStatus> for String {
    fn from(s: TemplateStatus) -> String {
        s.as_str().to_owned()
    }
}

impl fmt::Display for TemplateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Meta's template category; it may re-categorise a template after approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "MARKETING",
            TemplateCategory::Utility => "UTILITY",
            TemplateCategory::Authentication => "AUTHENTICATION",
        }
    }
}

impl FromStr for TemplateCategory {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "MARKETING" => Ok(TemplateCategory::Marketing),
            "UTILITY" => Ok(TemplateCategory::Utility),
            "AUTHENTICATION" => Ok(TemplateCategory::Authentication),
            _ => Err(UnknownValue {
                kind: "TemplateCategory",
                value: s.to_owned(),
            }),
        }
    }
}

/// How consent was given: the evidence Meta asks businesses to keep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptIn {
    /// Who recorded it (agent, form, import job).
    pub recorded_by: String,
    pub at: Timestamp,
    /// How it was given, e.g. "Webformular Schadenportal, Checkbox WhatsApp".
    pub method: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum OptOutSource {
    /// The customer wrote an opt-out keyword.
    Keyword { keyword: String },
    /// An agent recorded the customer's wish (phone call, letter…).
    Agent { recorded_by: String },
    /// The customer blocked the business; nothing may be sent any more.
    Blocked,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    pub at: Timestamp,
    pub source: OptOutSource,
}

/// Consent for one contact on one business number/page. The later of the
/// two records wins, so an opt-out sticks until a newer opt-in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub opt_in: Option<OptIn>,
    pub opt_out: Option<OptOut>,
}

impl Consent {
    /// The opt-out in force, if the newest record is an opt-out.
    pub fn active_opt_out(&self) -> Option<&OptOut> {
        let out = self.opt_out.as_ref()?;
        match &self.opt_in {
            Some(opt_in) if opt_in.at > out.at => None,
            _ => Some(out),
        }
    }

    /// The opt-in in force, if any.
    pub fn active_opt_in(&self) -> Option<&OptIn> {
        let opt_in = self.opt_in.as_ref()?;
        match &self.opt_out {
            Some(out) if out.at >= opt_in.at => None,
            _ => Some(opt_in),
        }
    }

    pub fn record_opt_in(&mut self, opt_in: OptIn) {
        self.opt_in = Some(opt_in);
    }

    pub fn record_opt_out(&mut self, opt_out: OptOut) {
        self.opt_out = Some(opt_out);
    }
}

/// Opt-out keywords, matched case-insensitively against the whole message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOutKeywords(Vec<String>);

impl Default for OptOutKeywords {
    fn default() -> Self {
        Self::new(["STOP", "Stopp", "Abmelden", "Abbestellen"])
    }
}

impl OptOutKeywords {
    pub fn new<I, S>(words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(
            words
                .into_iter()
                .map(|w| w.into().trim().to_lowercase())
                .filter(|w| !w.is_empty())
                .collect(),
        )
    }

    /// The longest message `matches` can accept: a keyword with room for
    /// surrounding whitespace and punctuation ("  Stopp!!! ").
    pub fn longest_match_chars(&self) -> usize {
        self.0.iter().map(|w| w.chars().count()).max().unwrap_or(0) + 32
    }

    /// The keyword the message consists of. Surrounding whitespace and
    /// closing punctuation ("Stopp!") are ignored; "Stopp bitte nicht" is no opt-out.
    pub fn matches(&self, message: &str) -> Option<&str> {
        let cleaned = message
            .trim()
            .trim_end_matches(['.', '!', '?', ' '])
            .trim()
            .to_lowercase();
        self.0.iter().find(|w| **w == cleaned).map(String::as_str)
    }
}

/// Per-installation policy. The default is the safe side: no marketing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendPolicy {
    /// Brokers must not send promotion: switch MARKETING templates off entirely.
    pub marketing_templates_allowed: bool,
}

/// What the store knows about the conversation a draft goes to.
#[derive(Clone, Debug, PartialEq)]
pub struct SendContext {
    pub channel: Channel,
    /// The customer's last inbound message on this business number/page.
    pub last_inbound_at: Option<Timestamp>,
    pub consent: Consent,
    pub policy: SendPolicy,
    /// WhatsApp knows the customer by username only: Meta delivers no
    /// authentication (one-time code) template to a business-scoped user id.
    pub username_only: bool,
    /// The customer's latest message through a free entry point (it carried a
    /// Click-to-WhatsApp `referral`), if any.
    pub free_entry_opened_at: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    /// An agent wrote and sent it.
    Human,
    /// A bot, automation or scheduled job.
    Automated,
}

/// What is about to be sent.
#[derive(Clone, Debug, PartialEq)]
pub enum DraftKind {
    /// Any non-template message: text, document, image, location, interactive, reaction.
    FreeForm {
        author: Author,
        text: Option<String>,
    },
    /// A WhatsApp template with its locally cached review state.
    Template {
        name: String,
        status: TemplateStatus,
        category: TemplateCategory,
    },
}

/// How Meta must be told to deliver it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// WhatsApp free-form inside the customer-service window.
    WhatsAppSession,
    /// WhatsApp template.
    WhatsAppTemplate,
    /// Messenger/Instagram `messaging_type: RESPONSE`.
    MessagingResponse,
    /// Messenger/Instagram `messaging_type: MESSAGE_TAG`, `tag: HUMAN_AGENT`.
    HumanAgentTag,
}

/// Soft findings the agent sees but may override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "warning", rename_all = "snake_case")]
pub enum RuleWarning {
    /// Emojis look unprofessional for finance and insurance.
    ContainsEmoji,
    /// The window closes within the hour: answer now or use a template later.
    WindowClosingSoon { closes_at: Timestamp },
}

impl RuleWarning {
    pub fn message_de(&self) -> String {
        match self {
            RuleWarning::ContainsEmoji => {
                "Die Nachricht enthält Emojis – im Versicherungsumfeld wirkt das schnell unprofessionell.".into()
            }
            RuleWarning::WindowClosingSoon { closes_at } => format!(
                "Das 24-Stunden-Fenster schließt um {}; danach sind nur freigegebene Vorlagen möglich.",
                closes_at.to_rfc3339()
            ),
        }
    }
    pub fn message_en(&self) -> String {
        match self {
            RuleWarning::ContainsEmoji => {
                "The message contains emojis, which look unprofessional for an insurer.".into()
            }
            RuleWarning::WindowClosingSoon { closes_at } => format!(
                "The 24-hour window closes at {}; after that only approved templates can be sent.",
                closes_at.to_rfc3339()
            ),
        }
    }
}

/// Permission to hand the draft to the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendPermit {
    pub delivery: Delivery,
    /// When the window this send relies on closes (`None` for templates sent
    /// outside any window).
    pub window_closes_at: Option<Timestamp>,
    pub warnings: Vec<RuleWarning>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "violation", rename_all = "snake_case")]
pub enum RuleViolation {
    /// WhatsApp: free-form outside the 24 h window (Meta would answer 131047).
    #[error("the 24-hour customer service window is closed")]
    WindowClosed { closed_at: Option<Timestamp> },
    /// Messenger/Instagram: past 24 h and this is not a human reply within 7 days.
    #[error("the messaging window is closed")]
    MessagingWindowClosed {
        closed_at: Option<Timestamp>,
        human_agent_until: Option<Timestamp>,
    },
    /// Messenger/Instagram 24 h–7 d: only a human may answer (HUMAN_AGENT tag).
    #[error("only a human agent may reply after 24 hours")]
    AutomatedOutsideWindow { human_agent_until: Timestamp },
    #[error("template {name} is {status}, not APPROVED")]
    TemplateNotApproved {
        name: String,
        status: TemplateStatus,
    },
    #[error("marketing templates are switched off for this installation")]
    MarketingDisabled { name: String },
    #[error("no recorded opt-in for a business-initiated template")]
    NoOptIn,
    #[error("the customer opted out")]
    OptedOut { at: Timestamp, reason: OptOutSource },
    #[error("templates exist only on WhatsApp")]
    TemplatesOnlyOnWhatsApp,
    #[error("authentication template {name} needs the customer's phone number")]
    AuthenticationNeedsPhone { name: String },
}

impl RuleViolation {
    /// Stable identifier for API problem types and UI lookups.
    pub fn code(&self) -> &'static str {
        match self {
            RuleViolation::WindowClosed { .. } => "window_closed",
            RuleViolation::MessagingWindowClosed { .. } => "messaging_window_closed",
            RuleViolation::AutomatedOutsideWindow { .. } => "automated_outside_window",
            RuleViolation::TemplateNotApproved { .. } => "template_not_approved",
            RuleViolation::MarketingDisabled { .. } => "marketing_disabled",
            RuleViolation::NoOptIn => "no_opt_in",
            RuleViolation::OptedOut { .. } => "opted_out",
            RuleViolation::TemplatesOnlyOnWhatsApp => "templates_only_on_whatsapp",
            RuleViolation::AuthenticationNeedsPhone { .. } => "authentication_needs_phone",
        }
    }

    pub fn message_de(&self) -> String {
        match self {
            RuleViolation::WindowClosed { closed_at } => format!(
                "Das 24-Stunden-Servicefenster ist geschlossen{}. Senden Sie eine freigegebene Vorlage (Template).",
                since_de(*closed_at)
            ),
            RuleViolation::MessagingWindowClosed { closed_at, .. } => format!(
                "Das Antwortfenster ist geschlossen{}; auch die 7-Tage-Frist für persönliche Antworten ist abgelaufen.",
                since_de(*closed_at)
            ),
            RuleViolation::AutomatedOutsideWindow { human_agent_until } => format!(
                "Nach 24 Stunden darf nur noch ein Mensch antworten (bis {}); automatische Nachrichten sind verboten.",
                human_agent_until.to_rfc3339()
            ),
            RuleViolation::TemplateNotApproved { name, status } => format!(
                "Die Vorlage „{name}“ ist nicht freigegeben (Status {status}) und kann nicht gesendet werden."
            ),
            RuleViolation::MarketingDisabled { name } => format!(
                "Die Vorlage „{name}“ ist eine Marketing-Vorlage; Werbung ist für diese Installation abgeschaltet."
            ),
            RuleViolation::NoOptIn => "Für diesen Kontakt ist keine Einwilligung (Opt-in) erfasst. Ohne Einwilligung darf das Unternehmen kein Gespräch beginnen.".into(),
            RuleViolation::OptedOut { at, reason } => format!(
                "Der Kunde hat am {} widersprochen ({}). Erst eine neue Einwilligung erlaubt wieder Nachrichten.",
                at.to_rfc3339(),
                match reason {
                    OptOutSource::Keyword { keyword } => format!("Stichwort „{keyword}“"),
                    OptOutSource::Agent { recorded_by } => format!("erfasst von {recorded_by}"),
                    OptOutSource::Blocked => "blockiert".into(),
                }
            ),
            RuleViolation::TemplatesOnlyOnWhatsApp => "Vorlagen gibt es nur bei WhatsApp.".into(),
            RuleViolation::AuthenticationNeedsPhone { name } => format!(
                "Die Vorlage „{name}“ sendet einen Einmalcode; WhatsApp stellt solche Vorlagen nur an Telefonnummern zu, und dieser Kunde ist nur über seinen Benutzernamen bekannt."
            ),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            RuleViolation::WindowClosed { closed_at } => format!(
                "The 24-hour customer service window is closed{}. Send an approved template instead.",
                since_en(*closed_at)
            ),
            RuleViolation::MessagingWindowClosed { closed_at, .. } => format!(
                "The messaging window is closed{}, and the 7-day period for human replies has passed too.",
                since_en(*closed_at)
            ),
            RuleViolation::AutomatedOutsideWindow { human_agent_until } => format!(
                "After 24 hours only a human may reply (until {}); automated messages are not allowed.",
                human_agent_until.to_rfc3339()
            ),
            RuleViolation::TemplateNotApproved { name, status } => format!(
                "Template \"{name}\" is not approved (status {status}) and cannot be sent."
            ),
            RuleViolation::MarketingDisabled { name } => format!(
                "Template \"{name}\" is a marketing template; promotion is switched off for this installation."
            ),
            RuleViolation::NoOptIn => "No opt-in is recorded for this contact; the business may not start a conversation without consent.".into(),
            RuleViolation::OptedOut { at, reason } => format!(
                "The customer opted out on {} ({}). Only a new opt-in allows messages again.",
                at.to_rfc3339(),
                match reason {
                    OptOutSource::Keyword { keyword } => format!("keyword \"{keyword}\""),
                    OptOutSource::Agent { recorded_by } => format!("recorded by {recorded_by}"),
                    OptOutSource::Blocked => "blocked".into(),
                }
            ),
            RuleViolation::TemplatesOnlyOnWhatsApp => "Templates exist only on WhatsApp.".into(),
            RuleViolation::AuthenticationNeedsPhone { name } => format!(
                "Template \"{name}\" sends a one-time code; WhatsApp delivers those only to phone numbers, and this customer is known by username only."
            ),
        }
    }
}

fn since_de(at: Option<Timestamp>) -> String {
    at.map(|t| format!(" (seit {})", t.to_rfc3339()))
        .unwrap_or_else(|| " (der Kunde hat noch nie geschrieben)".into())
}

fn since_en(at: Option<Timestamp>) -> String {
    at.map(|t| format!(" (since {})", t.to_rfc3339()))
        .unwrap_or_else(|| " (the customer has never written)".into())
}

/// The state of the standard window (24 h after the last inbound message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "window", rename_all = "snake_case")]
pub enum WindowState {
    Open { closes_at: Timestamp },
    Closed { closed_at: Option<Timestamp> },
}

/// The 24 h window per (contact, business number): each inbound message
/// resets it, so only the latest one counts. Closes exactly at +24 h.
pub fn service_window(last_inbound_at: Option<Timestamp>, now: Timestamp) -> WindowState {
    match last_inbound_at {
        Some(last) => {
            let closes_at = last.plus_millis(SERVICE_WINDOW_MS);
            if now < closes_at {
                WindowState::Open { closes_at }
            } else {
                WindowState::Closed {
                    closed_at: Some(closes_at),
                }
            }
        }
        None => WindowState::Closed { closed_at: None },
    }
}

/// True if the text contains an emoji (pictographs, dingbats, flags, symbols).
pub fn contains_emoji(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(c as u32,
            0x1F000..=0x1FAFF   // pictographs, emoticons, transport, flags, supplemental
            | 0x2600..=0x27BF   // misc symbols and dingbats (☀ ✅ ❤)
            | 0x2B00..=0x2BFF   // arrows and stars (⭐)
            | 0xFE0F            // emoji presentation selector
        )
    })
}

/// What Meta bills for a permitted send (per-message pricing since 2025-07-01): only
/// delivered templates are billed, and not all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "charge", rename_all = "snake_case")]
pub enum Charge {
    Free {
        #[serde(flatten)]
        reason: FreeReason,
    },
    /// Billed at the category's rate for the recipient's country once delivered.
    Billed { category: TemplateCategory },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum FreeReason {
    /// A free-form message: possible only inside the open window, never billed.
    NotATemplate,
    /// A utility template inside the open 24 h window.
    UtilityInWindow,
    /// Anything within 72 h of the customer writing through a free entry point.
    FreeEntryPoint { until: Timestamp },
    /// Messenger and Instagram bill no messages.
    NotWhatsApp,
}

impl Charge {
    pub fn message_de(&self) -> String {
        match self {
            Charge::Free { reason } => match reason {
                FreeReason::NotATemplate => {
                    "Kostenlos: freie Nachricht im 24-Stunden-Fenster.".into()
                }
                FreeReason::UtilityInWindow => {
                    "Kostenlos: Service-Vorlage (Utility) im offenen 24-Stunden-Fenster.".into()
                }
                FreeReason::FreeEntryPoint { until } => format!(
                    "Kostenlos bis {}: Der Kunde kam über eine Anzeige oder einen WhatsApp-Button (72 Stunden).",
                    until.to_rfc3339()
                ),
                FreeReason::NotWhatsApp => {
                    "Kostenlos: Messenger und Instagram berechnen keine Nachrichten.".into()
                }
            },
            Charge::Billed { category } => format!(
                "Kostenpflichtig: Meta berechnet die zugestellte Vorlage als {}.",
                category.as_str()
            ),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            Charge::Free { reason } => match reason {
                FreeReason::NotATemplate => {
                    "Free: a free-form message inside the 24-hour window.".into()
                }
                FreeReason::UtilityInWindow => {
                    "Free: a utility template inside the open 24-hour window.".into()
                }
                FreeReason::FreeEntryPoint { until } => format!(
                    "Free until {}: the customer came through an ad or a WhatsApp button (72 hours).",
                    until.to_rfc3339()
                ),
                FreeReason::NotWhatsApp => "Free: Messenger and Instagram bill no messages.".into(),
            },
            Charge::Billed { category } => format!(
                "Billed: Meta charges the delivered template as {}.",
                category.as_str()
            ),
        }
    }
}

/// When the free-entry-point window is open at `now`, its end.
pub fn free_entry_until(opened_at: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
    opened_at
        .map(|at| at.plus_millis(FREE_ENTRY_WINDOW_MS))
        .filter(|until| now < *until)
}

/// What a send that `check_send` permitted will cost. Marketing is never free inside an
/// ordinary window; authentication and utility outside it are billed.
pub fn charge(ctx: &SendContext, draft: &DraftKind, now: Timestamp) -> Charge {
    if ctx.channel != Channel::WhatsApp {
        return Charge::Free {
            reason: FreeReason::NotWhatsApp,
        };
    }
    let DraftKind::Template { category, .. } = draft else {
        return Charge::Free {
            reason: FreeReason::NotATemplate,
        };
    };
    if let Some(until) = free_entry_until(ctx.free_entry_opened_at, now) {
        return Charge::Free {
            reason: FreeReason::FreeEntryPoint { until },
        };
    }
    let window_open = matches!(
        service_window(ctx.last_inbound_at, now),
        WindowState::Open { .. }
    );
    if window_open && *category == TemplateCategory::Utility {
        return Charge::Free {
            reason: FreeReason::UtilityInWindow,
        };
    }
    Charge::Billed {
        category: *category,
    }
}

/// The rule check the outbox runs before any API call.
pub fn check_send(
    ctx: &SendContext,
    draft: &DraftKind,
    now: Timestamp,
) -> Result<SendPermit, RuleViolation> {
    let window = service_window(ctx.last_inbound_at, now);

    if let Some(out) = ctx.consent.active_opt_out() {
        // A block stops everything. A keyword/agent opt-out stops
        // business-initiated contact; only a new question from the customer
        // (written after the opt-out) may still be answered free-form.
        let customer_wrote_since = ctx.last_inbound_at.is_some_and(|t| t > out.at);
        let answering = matches!(draft, DraftKind::FreeForm { .. }) && customer_wrote_since;
        if out.source == OptOutSource::Blocked || !answering {
            return Err(RuleViolation::OptedOut {
                at: out.at,
                reason: out.source.clone(),
            });
        }
    }

    let mut warnings = Vec::new();
    if let DraftKind::FreeForm {
        text: Some(text), ..
    } = draft
        && contains_emoji(text)
    {
        warnings.push(RuleWarning::ContainsEmoji);
    }

    match ctx.channel {
        Channel::WhatsApp => match draft {
            DraftKind::FreeForm { .. } => match window {
                WindowState::Open { closes_at } => {
                    if closes_at.millis() - now.millis() <= HOUR_MS {
                        warnings.push(RuleWarning::WindowClosingSoon { closes_at });
                    }
                    Ok(SendPermit {
                        delivery: Delivery::WhatsAppSession,
                        window_closes_at: Some(closes_at),
                        warnings,
                    })
                }
                WindowState::Closed { closed_at } => Err(RuleViolation::WindowClosed { closed_at }),
            },
            DraftKind::Template {
                name,
                status,
                category,
            } => {
                if !status.is_sendable() {
                    return Err(RuleViolation::TemplateNotApproved {
                        name: name.clone(),
                        status: status.clone(),
                    });
                }
                if *category == TemplateCategory::Marketing
                    && !ctx.policy.marketing_templates_allowed
                {
                    return Err(RuleViolation::MarketingDisabled { name: name.clone() });
                }
                if *category == TemplateCategory::Authentication && ctx.username_only {
                    return Err(RuleViolation::AuthenticationNeedsPhone { name: name.clone() });
                }
                let window_closes_at = match window {
                    WindowState::Open { closes_at } => Some(closes_at),
                    WindowState::Closed { .. } => None,
                };
                // Business-initiated (outside the window) and any promotion need consent.
                let needs_opt_in =
                    window_closes_at.is_none() || *category == TemplateCategory::Marketing;
                if needs_opt_in && ctx.consent.active_opt_in().is_none() {
                    return Err(RuleViolation::NoOptIn);
                }
                Ok(SendPermit {
                    delivery: Delivery::WhatsAppTemplate,
                    window_closes_at,
                    warnings,
                })
            }
        },
        Channel::Messenger | Channel::Instagram => {
            let DraftKind::FreeForm { author, .. } = draft else {
                return Err(RuleViolation::TemplatesOnlyOnWhatsApp);
            };
            match window {
                WindowState::Open { closes_at } => Ok(SendPermit {
                    delivery: Delivery::MessagingResponse,
                    window_closes_at: Some(closes_at),
                    warnings,
                }),
                WindowState::Closed { closed_at } => {
                    let human_until = ctx
                        .last_inbound_at
                        .map(|t| t.plus_millis(HUMAN_AGENT_WINDOW_MS))
                        .filter(|until| now < *until);
                    match (human_until, author) {
                        (Some(until), Author::Human) => Ok(SendPermit {
                            delivery: Delivery::HumanAgentTag,
                            window_closes_at: Some(until),
                            warnings,
                        }),
                        (Some(until), Author::Automated) => {
                            Err(RuleViolation::AutomatedOutsideWindow {
                                human_agent_until: until,
                            })
                        }
                        (None, _) => Err(RuleViolation::MessagingWindowClosed {
                            closed_at,
                            human_agent_until: ctx
                                .last_inbound_at
                                .map(|t| t.plus_millis(HUMAN_AGENT_WINDOW_MS)),
                        }),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_secs(1_750_000_000);

    fn opt_in(at: Timestamp) -> OptIn {
        OptIn {
            recorded_by: "makler.schmidt".into(),
            at,
            method: "Beratungsprotokoll, Unterschrift".into(),
        }
    }

    fn wa(last_inbound_at: Option<Timestamp>) -> SendContext {
        SendContext {
            channel: Channel::WhatsApp,
            last_inbound_at,
            consent: Consent::default(),
            policy: SendPolicy::default(),
            username_only: false,
            free_entry_opened_at: None,
        }
    }

    fn text(author: Author) -> DraftKind {
        DraftKind::FreeForm {
            author,
            text: Some("Guten Tag, Ihre Unterlagen sind unterwegs.".into()),
        }
    }

    fn template(status: TemplateStatus, category: TemplateCategory) -> DraftKind {
        DraftKind::Template {
            name: "frist_erinnerung".into(),
            status,
            category,
        }
    }

    #[test]
    fn whatsapp_window_is_open_for_exactly_24_hours_after_the_last_inbound() {
        let ctx = wa(Some(T0));
        let permit = check_send(
            &ctx,
            &text(Author::Human),
            T0.plus_millis(SERVICE_WINDOW_MS - 1),
        )
        .unwrap();
        assert_eq!(permit.delivery, Delivery::WhatsAppSession);
        assert_eq!(
            permit.window_closes_at,
            Some(T0.plus_millis(SERVICE_WINDOW_MS))
        );
        assert!(permit.warnings.contains(&RuleWarning::WindowClosingSoon {
            closes_at: T0.plus_millis(SERVICE_WINDOW_MS)
        }));
        assert_eq!(
            check_send(
                &ctx,
                &text(Author::Human),
                T0.plus_millis(SERVICE_WINDOW_MS)
            ),
            Err(RuleViolation::WindowClosed {
                closed_at: Some(T0.plus_millis(SERVICE_WINDOW_MS))
            })
        );
    }

    #[test]
    fn each_inbound_message_resets_the_window() {
        let later = T0.plus_millis(20 * HOUR_MS);
        let now = T0.plus_millis(30 * HOUR_MS);
        assert!(check_send(&wa(Some(T0)), &text(Author::Human), now).is_err());
        let permit = check_send(&wa(Some(later)), &text(Author::Human), now).unwrap();
        assert_eq!(
            permit.window_closes_at,
            Some(later.plus_millis(SERVICE_WINDOW_MS))
        );
        assert!(permit.warnings.is_empty());
    }

    #[test]
    fn a_username_only_customer_gets_no_one_time_code_template_but_everything_else() {
        let now = T0.plus_millis(HOUR_MS);
        let ctx = SendContext {
            username_only: true,
            free_entry_opened_at: None,
            ..wa(Some(T0))
        };
        let code = template(TemplateStatus::Approved, TemplateCategory::Authentication);
        let err = check_send(&ctx, &code, now).unwrap_err();
        assert_eq!(err.code(), "authentication_needs_phone");
        assert!(err.message_de().contains("Benutzernamen"));
        assert!(check_send(&wa(Some(T0)), &code, now).is_ok());
        let utility = template(TemplateStatus::Approved, TemplateCategory::Utility);
        assert!(check_send(&ctx, &utility, now).is_ok());
        assert!(check_send(&ctx, &text(Author::Human), now).is_ok());
    }

    #[test]
    fn a_contact_who_never_wrote_has_no_window() {
        let err = check_send(&wa(None), &text(Author::Human), T0).unwrap_err();
        assert_eq!(err, RuleViolation::WindowClosed { closed_at: None });
        assert!(err.message_de().contains("noch nie geschrieben"));
    }

    #[test]
    fn outside_the_window_only_an_approved_template_with_opt_in_goes_out() {
        let now = T0.plus_millis(48 * HOUR_MS);
        let mut ctx = wa(Some(T0));
        let utility = template(TemplateStatus::Approved, TemplateCategory::Utility);
        assert_eq!(check_send(&ctx, &utility, now), Err(RuleViolation::NoOptIn));
        ctx.consent.record_opt_in(opt_in(T0));
        let permit = check_send(&ctx, &utility, now).unwrap();
        assert_eq!(permit.delivery, Delivery::WhatsAppTemplate);
        assert_eq!(permit.window_closes_at, None);

        for status in [
            TemplateStatus::Pending,
            TemplateStatus::Rejected,
            TemplateStatus::Paused,
            TemplateStatus::Disabled,
        ] {
            let err = check_send(
                &ctx,
                &template(status.clone(), TemplateCategory::Utility),
                now,
            )
            .unwrap_err();
            assert_eq!(err.code(), "template_not_approved", "{status}");
        }
    }

    #[test]
    fn a_utility_template_inside_the_window_needs_no_opt_in_but_marketing_does() {
        let mut ctx = wa(Some(T0));
        ctx.policy.marketing_templates_allowed = true;
        let now = T0.plus_millis(HOUR_MS);
        assert!(
            check_send(
                &ctx,
                &template(TemplateStatus::Approved, TemplateCategory::Utility),
                now
            )
            .is_ok()
        );
        assert_eq!(
            check_send(
                &ctx,
                &template(TemplateStatus::Approved, TemplateCategory::Marketing),
                now
            ),
            Err(RuleViolation::NoOptIn)
        );
    }

    #[test]
    fn marketing_templates_can_be_switched_off_per_installation() {
        let mut ctx = wa(None);
        ctx.consent.record_opt_in(opt_in(T0));
        let marketing = template(TemplateStatus::Approved, TemplateCategory::Marketing);
        let err = check_send(&ctx, &marketing, T0).unwrap_err();
        assert_eq!(err.code(), "marketing_disabled");
        ctx.policy.marketing_templates_allowed = true;
        assert!(check_send(&ctx, &marketing, T0).is_ok());
    }

    #[test]
    fn opt_out_sticks_until_a_newer_opt_in() {
        let mut ctx = wa(Some(T0));
        ctx.consent.record_opt_in(opt_in(T0.plus_millis(-1000)));
        // The STOP message itself is the last inbound.
        ctx.consent.record_opt_out(OptOut {
            at: T0,
            source: OptOutSource::Keyword {
                keyword: "stopp".into(),
            },
        });
        let now = T0.plus_millis(HOUR_MS);
        let utility = template(TemplateStatus::Approved, TemplateCategory::Utility);
        assert_eq!(
            check_send(&ctx, &utility, now).unwrap_err().code(),
            "opted_out"
        );
        assert_eq!(
            check_send(&ctx, &text(Author::Human), now)
                .unwrap_err()
                .code(),
            "opted_out"
        );
        // Days later still blocked.
        assert!(check_send(&ctx, &utility, now.plus_millis(30 * 24 * HOUR_MS)).is_err());
        // A new question from the customer may be answered, but no template.
        ctx.last_inbound_at = Some(T0.plus_millis(2 * HOUR_MS));
        let later = T0.plus_millis(3 * HOUR_MS);
        assert!(check_send(&ctx, &text(Author::Human), later).is_ok());
        assert!(check_send(&ctx, &utility, later).is_err());
        // A new recorded opt-in lifts it.
        ctx.consent.record_opt_in(opt_in(later));
        assert!(check_send(&ctx, &utility, later.plus_millis(1)).is_ok());
    }

    #[test]
    fn a_block_stops_even_replies_to_new_messages() {
        let mut ctx = wa(Some(T0.plus_millis(10)));
        ctx.consent.record_opt_out(OptOut {
            at: T0,
            source: OptOutSource::Blocked,
        });
        let err = check_send(&ctx, &text(Author::Human), T0.plus_millis(20)).unwrap_err();
        assert!(matches!(
            err,
            RuleViolation::OptedOut {
                reason: OptOutSource::Blocked,
                ..
            }
        ));
        assert!(err.message_en().contains("blocked"));
    }

    #[test]
    fn opt_out_keywords_match_the_whole_message_case_insensitively() {
        let kw = OptOutKeywords::default();
        for msg in ["STOP", "stop", " Stopp! ", "abmelden.", "ABBESTELLEN"] {
            assert!(kw.matches(msg).is_some(), "{msg}");
        }
        for msg in [
            "Stopp bitte nicht",
            "Bitte abmelden von Newsletter",
            "",
            "Stoppschild",
        ] {
            assert!(kw.matches(msg).is_none(), "{msg}");
        }
        let custom = OptOutKeywords::new(["Austragen"]);
        assert_eq!(custom.matches("austragen"), Some("austragen"));
        assert!(custom.matches("stop").is_none());
    }

    #[test]
    fn messenger_allows_response_for_24h_then_human_agent_for_7_days() {
        let ctx = SendContext {
            channel: Channel::Messenger,
            last_inbound_at: Some(T0),
            consent: Consent::default(),
            policy: SendPolicy::default(),
            username_only: false,
            free_entry_opened_at: None,
        };
        let in_window =
            check_send(&ctx, &text(Author::Automated), T0.plus_millis(HOUR_MS)).unwrap();
        assert_eq!(in_window.delivery, Delivery::MessagingResponse);

        let day3 = T0.plus_millis(72 * HOUR_MS);
        let human = check_send(&ctx, &text(Author::Human), day3).unwrap();
        assert_eq!(human.delivery, Delivery::HumanAgentTag);
        assert_eq!(
            human.window_closes_at,
            Some(T0.plus_millis(HUMAN_AGENT_WINDOW_MS))
        );
        assert_eq!(
            check_send(&ctx, &text(Author::Automated), day3),
            Err(RuleViolation::AutomatedOutsideWindow {
                human_agent_until: T0.plus_millis(HUMAN_AGENT_WINDOW_MS)
            })
        );
        let day8 = T0.plus_millis(HUMAN_AGENT_WINDOW_MS);
        assert_eq!(
            check_send(&ctx, &text(Author::Human), day8)
                .unwrap_err()
                .code(),
            "messaging_window_closed"
        );
        let ig = SendContext {
            channel: Channel::Instagram,
            ..ctx
        };
        assert_eq!(
            check_send(
                &ig,
                &template(TemplateStatus::Approved, TemplateCategory::Utility),
                T0
            ),
            Err(RuleViolation::TemplatesOnlyOnWhatsApp)
        );
    }

    #[test]
    fn emojis_are_warned_about_not_blocked() {
        let ctx = wa(Some(T0));
        let draft = DraftKind::FreeForm {
            author: Author::Human,
            text: Some("Alles erledigt 👍".into()),
        };
        let permit = check_send(&ctx, &draft, T0).unwrap();
        assert_eq!(permit.warnings, vec![RuleWarning::ContainsEmoji]);
        assert!(contains_emoji("Danke ❤️"));
        assert!(!contains_emoji("Schäden über 1.000 € – §5 VVG"));
    }

    #[test]
    fn every_violation_has_german_and_english_text() {
        let all = [
            RuleViolation::WindowClosed {
                closed_at: Some(T0),
            },
            RuleViolation::MessagingWindowClosed {
                closed_at: None,
                human_agent_until: None,
            },
            RuleViolation::AutomatedOutsideWindow {
                human_agent_until: T0,
            },
            RuleViolation::TemplateNotApproved {
                name: "x".into(),
                status: TemplateStatus::Paused,
            },
            RuleViolation::MarketingDisabled { name: "x".into() },
            RuleViolation::NoOptIn,
            RuleViolation::OptedOut {
                at: T0,
                reason: OptOutSource::Agent {
                    recorded_by: "a".into(),
                },
            },
            RuleViolation::TemplatesOnlyOnWhatsApp,
        ];
        for v in all {
            assert!(!v.message_de().is_empty() && !v.message_en().is_empty());
            assert_ne!(v.message_de(), v.message_en());
        }
    }

    #[test]
    fn template_status_round_trips_and_keeps_unknown_values() {
        assert_eq!(TemplateStatus::parse("approved"), TemplateStatus::Approved);
        assert_eq!(
            TemplateStatus::parse("FLAGGED"),
            TemplateStatus::Other("FLAGGED".into())
        );
        let json = serde_json::to_string(&TemplateStatus::InAppeal).unwrap();
        assert_eq!(json, "\"IN_APPEAL\"");
        assert_eq!(
            "utility".parse::<TemplateCategory>().unwrap(),
            TemplateCategory::Utility
        );
    }

    #[test]
    fn only_templates_on_whatsapp_are_billed_and_utility_is_free_inside_the_window() {
        let approved = TemplateStatus::Approved;
        let in_window = wa(Some(T0));
        let now = T0.plus_millis(HOUR_MS);
        assert_eq!(
            charge(&in_window, &text(Author::Human), now),
            Charge::Free {
                reason: FreeReason::NotATemplate
            }
        );
        let utility = template(approved.clone(), TemplateCategory::Utility);
        let marketing = template(approved.clone(), TemplateCategory::Marketing);
        assert_eq!(
            charge(&in_window, &utility, now),
            Charge::Free {
                reason: FreeReason::UtilityInWindow
            }
        );
        // Marketing is never free inside an ordinary window.
        assert_eq!(
            charge(&in_window, &marketing, now),
            Charge::Billed {
                category: TemplateCategory::Marketing
            }
        );
        let day_later = T0.plus_millis(SERVICE_WINDOW_MS);
        assert_eq!(
            charge(&in_window, &utility, day_later),
            Charge::Billed {
                category: TemplateCategory::Utility
            }
        );
        let messenger = SendContext {
            channel: Channel::Messenger,
            ..wa(Some(T0))
        };
        assert_eq!(
            charge(&messenger, &text(Author::Human), now),
            Charge::Free {
                reason: FreeReason::NotWhatsApp
            }
        );
    }

    #[test]
    fn a_free_entry_point_makes_everything_free_for_exactly_72_hours() {
        let ctx = SendContext {
            free_entry_opened_at: Some(T0),
            ..wa(Some(T0))
        };
        let until = T0.plus_millis(FREE_ENTRY_WINDOW_MS);
        let marketing = template(TemplateStatus::Approved, TemplateCategory::Marketing);
        // Two days on, the 24 h window is closed but the entry point still pays.
        let day2 = T0.plus_millis(48 * HOUR_MS);
        assert_eq!(
            charge(&ctx, &marketing, day2),
            Charge::Free {
                reason: FreeReason::FreeEntryPoint { until }
            }
        );
        assert_eq!(
            free_entry_until(Some(T0), until.plus_millis(-1)),
            Some(until)
        );
        assert_eq!(free_entry_until(Some(T0), until), None);
        assert_eq!(
            charge(&ctx, &marketing, until),
            Charge::Billed {
                category: TemplateCategory::Marketing
            }
        );
        // The agent reads why, in German and English.
        let free = charge(&ctx, &marketing, day2);
        assert!(
            free.message_de().starts_with("Kostenlos bis "),
            "{}",
            free.message_de()
        );
        assert!(free.message_en().contains("72 hours"));
        let json = serde_json::to_value(free).unwrap();
        assert_eq!(json["charge"], "free");
        assert_eq!(json["reason"], "free_entry_point");
    }
}
