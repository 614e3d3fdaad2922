//! WhatsApp message templates: sync from `/{waba-id}/message_templates`,
//! create/submit with local checks of Meta's variable rules, and the
//! `message_template_status_update` webhook.

use crate::outbound::{GraphClient, SendError};
use resonanz_core::Unrecognized;
pub use resonanz_core::rules::{TemplateCategory, TemplateStatus};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParameterFormat {
    Positional,
    Named,
}

impl ParameterFormat {
    fn parse(text: Option<&str>) -> Self {
        match text.map(str::to_ascii_lowercase).as_deref() {
            Some("named") => ParameterFormat::Named,
            _ => ParameterFormat::Positional,
        }
    }
}

/// A template as Meta lists it, cached locally.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub language: String,
    pub status: TemplateStatus,
    /// `None` for a category Meta added after this code was written (see `raw`).
    pub category: Option<TemplateCategory>,
    pub parameter_format: ParameterFormat,
    pub components: Vec<Value>,
    pub raw: Value,
}

impl Template {
    pub fn from_json(v: &Value) -> Option<Self> {
        let id = match v.get("id")? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        Some(Template {
            id,
            name: v.get("name")?.as_str()?.to_owned(),
            language: v
                .get("language")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            status: TemplateStatus::parse(v.get("status").and_then(Value::as_str).unwrap_or("")),
            category: v
                .get("category")
                .and_then(Value::as_str)
                .and_then(|c| c.parse().ok()),
            parameter_format: ParameterFormat::parse(
                v.get("parameter_format").and_then(Value::as_str),
            ),
            components: v
                .get("components")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            raw: v.clone(),
        })
    }

    /// The BODY component's text.
    pub fn body_text(&self) -> Option<&str> {
        component_text(&self.components, "BODY")
    }
}

fn component_text<'a>(components: &'a [Value], kind: &str) -> Option<&'a str> {
    components
        .iter()
        .find(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case(kind))
        })
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
}

fn component<'a>(components: &'a [Value], kind: &str) -> Option<&'a Value> {
    components.iter().find(|c| {
        c.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case(kind))
    })
}

/// The HEADER component's `format` in upper case (`TEXT`, `IMAGE`, `VIDEO`,
/// `DOCUMENT`, `LOCATION`); `None` for a template without a header. A header
/// without `format` is text, as Meta lists it.
pub fn header_format(components: &[Value]) -> Option<String> {
    let header = component(components, "HEADER")?;
    Some(
        header
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or("TEXT")
            .to_ascii_uppercase(),
    )
}

/// A template to submit for review (`components` in Meta's JSON shape).
#[derive(Debug, Clone, PartialEq)]
pub struct NewTemplate {
    pub name: String,
    pub language: String,
    pub category: TemplateCategory,
    pub parameter_format: ParameterFormat,
    pub components: Vec<Value>,
}

impl NewTemplate {
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "language": self.language,
            "category": self.category.as_str(),
            "parameter_format": match self.parameter_format {
                ParameterFormat::Positional => "positional",
                ParameterFormat::Named => "named",
            },
            "components": self.components,
        })
    }
}

/// Meta's answer to a create: `{"id","status","category"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreatedTemplate {
    pub id: String,
    pub status: TemplateStatus,
    pub category: Option<TemplateCategory>,
}

/// A reason Meta would reject the template, found before submitting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "issue", rename_all = "snake_case")]
pub enum TemplateIssue {
    #[error("name must be 1-512 characters of a-z, 0-9 and _")]
    BadName,
    #[error("a BODY component is required")]
    MissingBody,
    #[error("{component} has {len} characters, at most {max}")]
    TooLong {
        component: &'static str,
        max: usize,
        len: usize,
    },
    #[error("{{{{{variable}}}}} is not a valid variable here")]
    InvalidVariable { variable: String },
    #[error(
        "positional variables must be {{{{1}}}}, {{{{2}}}}… in order without gaps; found {found:?}"
    )]
    NotSequential { found: Vec<u32> },
    #[error("named variable {{{{{name}}}}} is used twice")]
    DuplicateName { name: String },
    #[error("the body must not start or end with a variable")]
    Dangling,
    #[error("variables must not sit directly next to each other")]
    Adjacent,
    #[error("{component}: {expected} example values needed, {given} given")]
    MissingExamples {
        component: &'static str,
        expected: usize,
        given: usize,
    },
    #[error("a text header allows at most one variable")]
    TooManyHeaderVariables,
    #[error("the text reads as promotion ({words:?}) but the category is not MARKETING")]
    ReadsAsPromotion { words: Vec<String> },
}

impl TemplateIssue {
    pub fn message_de(&self) -> String {
        match self {
            TemplateIssue::BadName => "Name: 1–512 Zeichen, nur a–z, 0–9 und _.".into(),
            TemplateIssue::MissingBody => "Ein Nachrichtentext (BODY) ist Pflicht.".into(),
            TemplateIssue::TooLong {
                component,
                max,
                len,
            } => format!("{component} hat {len} Zeichen, erlaubt sind {max}."),
            TemplateIssue::InvalidVariable { variable } => {
                format!("{{{{{variable}}}}} ist keine gültige Variable.")
            }
            TemplateIssue::NotSequential { .. } => {
                "Variablen müssen {{1}}, {{2}} … lückenlos der Reihe nach verwendet werden.".into()
            }
            TemplateIssue::DuplicateName { name } => {
                format!("Die Variable {{{{{name}}}}} kommt doppelt vor.")
            }
            TemplateIssue::Dangling => {
                "Der Text darf nicht mit einer Variable beginnen oder enden.".into()
            }
            TemplateIssue::Adjacent => "Variablen dürfen nicht direkt aufeinander folgen.".into(),
            TemplateIssue::MissingExamples {
                component,
                expected,
                given,
            } => {
                format!("{component}: {expected} Beispielwerte nötig, {given} angegeben.")
            }
            TemplateIssue::TooManyHeaderVariables => {
                "Eine Text-Kopfzeile erlaubt höchstens eine Variable.".into()
            }
            TemplateIssue::ReadsAsPromotion { words } => format!(
                "Der Text wirkt werblich ({}) – als Service-Vorlage wird Meta ihn ablehnen oder umkategorisieren.",
                words.join(", ")
            ),
        }
    }
}

/// The variables a template text asks for, each once, in order of first
/// appearance: `1`, `2`… or names (`customer_name`). A composer shows one
/// field for each.
pub fn variable_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (var, _, _) in variables(text) {
        let name = match var {
            Var::Positional(n) => n.to_string(),
            Var::Named(name) => name,
            Var::Invalid(_) => continue,
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// A variable as written between `{{` and `}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    Positional(u32),
    Named(String),
    Invalid(String),
}

/// Variables in order, with their byte spans.
fn variables(text: &str) -> Vec<(Var, usize, usize)> {
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find("{{") {
        let start = rest + open;
        let Some(close) = text[start + 2..].find("}}") else {
            break;
        };
        let inner = &text[start + 2..start + 2 + close];
        let end = start + 2 + close + 2;
        let var = if !inner.is_empty()
            && inner.bytes().all(|b| b.is_ascii_digit())
            && !inner.starts_with('0')
        {
            inner
                .parse()
                .map(Var::Positional)
                .unwrap_or_else(|_| Var::Invalid(inner.to_owned()))
        } else if inner.starts_with(|c: char| c.is_ascii_lowercase())
            && inner
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            Var::Named(inner.to_owned())
        } else {
            Var::Invalid(inner.to_owned())
        };
        out.push((var, start, end));
        rest = end;
    }
    out
}

fn check_text_vars(text: &str, format: ParameterFormat, issues: &mut Vec<TemplateIssue>) -> usize {
    let vars = variables(text);
    let mut positions = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (var, _, _) in &vars {
        match (var, format) {
            (Var::Positional(n), ParameterFormat::Positional) => positions.push(*n),
            (Var::Named(name), ParameterFormat::Named) => {
                if names.contains(&name.as_str()) {
                    issues.push(TemplateIssue::DuplicateName { name: name.clone() });
                } else {
                    names.push(name);
                }
            }
            (Var::Positional(n), _) => issues.push(TemplateIssue::InvalidVariable {
                variable: n.to_string(),
            }),
            (Var::Named(s) | Var::Invalid(s), _) => issues.push(TemplateIssue::InvalidVariable {
                variable: s.clone(),
            }),
        }
    }
    // First appearances must run 1, 2, 3… (repeats of an earlier number are fine).
    let mut distinct = Vec::new();
    for n in &positions {
        if !distinct.contains(n) {
            distinct.push(*n);
        }
    }
    if distinct
        .iter()
        .enumerate()
        .any(|(i, n)| *n as usize != i + 1)
    {
        issues.push(TemplateIssue::NotSequential {
            found: distinct.clone(),
        });
    }
    if vars.windows(2).any(|w| w[0].2 == w[1].1) {
        issues.push(TemplateIssue::Adjacent);
    }
    match format {
        ParameterFormat::Positional => distinct.len(),
        ParameterFormat::Named => names.len(),
    }
}

const PROMOTION_WORDS: &[&str] = &[
    "rabatt",
    "angebot",
    "sonderangebot",
    "gutschein",
    "gratis",
    "kostenlos",
    "sparen",
    "spare",
    "aktion",
    "gewinnspiel",
    "gewinnen",
    "exklusiv",
    "nur heute",
    "jetzt abschließen",
    "jetzt wechseln",
    "bestpreis",
    "prämie sichern",
    "% günstiger",
    "black friday",
];

/// Words that make a text read as promotion (German insurer vocabulary).
pub fn promotion_signals(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    PROMOTION_WORDS
        .iter()
        .filter(|w| {
            lower.match_indices(*w).any(|(i, _)| {
                // Whole words only: "Aktionär" or "Transaktion" are not promotion.
                let before = lower[..i].chars().next_back();
                let after = lower[i + w.len()..].chars().next();
                !before.is_some_and(char::is_alphanumeric)
                    && !after.is_some_and(char::is_alphanumeric)
            })
        })
        .map(|w| (*w).to_owned())
        .collect()
}

fn examples_len(
    component: &Value,
    positional_key: &str,
    named_key: &str,
    format: ParameterFormat,
) -> usize {
    let example = component.get("example");
    match format {
        ParameterFormat::Positional => example
            .and_then(|e| e.get(positional_key))
            .and_then(Value::as_array)
            .map(|rows| match rows.first() {
                // Body examples are an array of arrays; header examples a flat array.
                Some(Value::Array(inner)) => inner.len(),
                Some(_) => rows.len(),
                None => 0,
            })
            .unwrap_or(0),
        ParameterFormat::Named => example
            .and_then(|e| e.get(named_key))
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0),
    }
}

/// Checks a template against Meta's rules before submitting it.
pub fn validate_template(t: &NewTemplate) -> Vec<TemplateIssue> {
    let mut issues = Vec::new();
    if t.name.is_empty()
        || t.name.len() > 512
        || !t
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        issues.push(TemplateIssue::BadName);
    }
    let format = t.parameter_format;

    if let Some(header) = component(&t.components, "HEADER")
        && header
            .get("format")
            .and_then(Value::as_str)
            .is_none_or(|f| f.eq_ignore_ascii_case("TEXT"))
        && let Some(text) = header.get("text").and_then(Value::as_str)
    {
        let len = text.chars().count();
        if len > 60 {
            issues.push(TemplateIssue::TooLong {
                component: "HEADER",
                max: 60,
                len,
            });
        }
        let count = check_text_vars(text, format, &mut issues);
        if count > 1 {
            issues.push(TemplateIssue::TooManyHeaderVariables);
        }
        let given = examples_len(header, "header_text", "header_text_named_params", format);
        if count > 0 && given < count {
            issues.push(TemplateIssue::MissingExamples {
                component: "HEADER",
                expected: count,
                given,
            });
        }
    }

    match component(&t.components, "BODY") {
        None => issues.push(TemplateIssue::MissingBody),
        Some(body) => {
            let text = body.get("text").and_then(Value::as_str).unwrap_or("");
            let len = text.chars().count();
            if text.trim().is_empty() {
                issues.push(TemplateIssue::MissingBody);
            }
            if len > 1024 {
                issues.push(TemplateIssue::TooLong {
                    component: "BODY",
                    max: 1024,
                    len,
                });
            }
            let count = check_text_vars(text, format, &mut issues);
            let trimmed = text.trim();
            if trimmed.starts_with("{{") || trimmed.ends_with("}}") {
                issues.push(TemplateIssue::Dangling);
            }
            let given = examples_len(body, "body_text", "body_text_named_params", format);
            if count > 0 && given != count {
                issues.push(TemplateIssue::MissingExamples {
                    component: "BODY",
                    expected: count,
                    given,
                });
            }
            if t.category != TemplateCategory::Marketing {
                let words = promotion_signals(text);
                if !words.is_empty() {
                    issues.push(TemplateIssue::ReadsAsPromotion { words });
                }
            }
        }
    }

    if let Some(text) = component_text(&t.components, "FOOTER") {
        let len = text.chars().count();
        if len > 60 {
            issues.push(TemplateIssue::TooLong {
                component: "FOOTER",
                max: 60,
                len,
            });
        }
    }
    issues
}

/// Safety net against a server that keeps handing out cursors.
const MAX_PAGES: usize = 1000;

impl GraphClient {
    /// All templates of a WABA, following `paging.cursors.after` while
    /// `paging.next` says there is more. The cursor is sent to our own base
    /// URL (never to the host in `next`), so the token stays with Meta/the simulator.
    pub async fn list_templates(&self, waba_id: &str) -> Result<Vec<Template>, SendError> {
        let path = format!("{waba_id}/message_templates");
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        let mut seen = Vec::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![("limit", "100")];
            if let Some(cursor) = &after {
                query.push(("after", cursor.as_str()));
            }
            let page = self.get_json(&path, &query).await?;
            for item in page
                .get("data")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(t) = Template::from_json(item) {
                    out.push(t);
                }
            }
            let has_next = page
                .pointer("/paging/next")
                .and_then(Value::as_str)
                .is_some();
            let cursor = page
                .pointer("/paging/cursors/after")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match cursor {
                Some(c) if has_next && !seen.contains(&c) => {
                    seen.push(c.clone());
                    after = Some(c);
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// Deletes a template: every language of `name`, or only the one with
    /// Meta's template id `hsm_id`. Meta keeps the name blocked for 30 days.
    pub async fn delete_template(
        &self,
        waba_id: &str,
        name: &str,
        hsm_id: Option<&str>,
    ) -> Result<(), SendError> {
        let mut query = vec![("name", name)];
        if let Some(id) = hsm_id {
            query.push(("hsm_id", id));
        }
        let reply = self
            .call(
                self.http()
                    .delete(self.url(&format!("{waba_id}/message_templates")))
                    .query(&query),
            )
            .await?;
        if reply.get("success").and_then(Value::as_bool) == Some(true) {
            Ok(())
        } else {
            Err(SendError::from_response(200, reply.to_string().as_bytes()))
        }
    }

    /// Submits a template for review. Run [`validate_template`] first; this
    /// sends what it is given so Meta's own verdict can be seen too.
    pub async fn create_template(
        &self,
        waba_id: &str,
        template: &NewTemplate,
    ) -> Result<CreatedTemplate, SendError> {
        let reply = self
            .post_json(&format!("{waba_id}/message_templates"), &template.to_json())
            .await?;
        let id = match reply.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(SendError::from_response(200, reply.to_string().as_bytes())),
        };
        Ok(CreatedTemplate {
            id,
            status: TemplateStatus::parse(
                reply
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("PENDING"),
            ),
            category: reply
                .get("category")
                .and_then(Value::as_str)
                .and_then(|c| c.parse().ok()),
        })
    }
}

/// A `message_template_status_update` webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateStatusEvent {
    /// APPROVED, REJECTED, PAUSED, DISABLED, FLAGGED, REINSTATED, …
    pub event: String,
    /// The cache status the event implies (`REINSTATED` means approved again).
    pub status: TemplateStatus,
    pub template_id: String,
    pub name: String,
    pub language: String,
    pub reason: Option<String>,
    pub category: Option<String>,
    pub raw: Value,
}

/// Reads the status update from a change object (`{field, value}`) or its `value`.
pub fn parse_status_update(change_or_value: &Value) -> Option<TemplateStatusEvent> {
    if let Some(field) = change_or_value.get("field").and_then(Value::as_str) {
        if field != "message_template_status_update" {
            return None;
        }
        return parse_status_update(change_or_value.get("value")?);
    }
    let v = change_or_value;
    let event = v.get("event")?.as_str()?.to_owned();
    let template_id = match v.get("message_template_id")? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let status = match event.as_str() {
        "REINSTATED" => TemplateStatus::Approved,
        other => TemplateStatus::parse(other),
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(TemplateStatusEvent {
        status,
        template_id,
        name: text("message_template_name").unwrap_or_default(),
        language: text("message_template_language").unwrap_or_default(),
        reason: text("reason").filter(|r| r != "NONE"),
        category: text("message_template_category"),
        event,
        raw: v.clone(),
    })
}

/// The status update carried by a parser's `Unrecognized` item, if it is one.
pub fn status_update_from(item: &Unrecognized) -> Option<TemplateStatusEvent> {
    (item.kind == "whatsapp:message_template_status_update")
        .then(|| parse_status_update(&item.raw))
        .flatten()
}

#[cfg(test)]
mod tests;
