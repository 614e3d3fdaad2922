//! Message templates: the seeded catalogue, listing with cursors, creation and review.

use crate::graph::GraphError;
use crate::state::{Channel, Sim, WebhookKind, new_numeric_id};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub language: String,
    pub status: String,
    pub category: String,
    pub parameter_format: String,
    pub components: Vec<Value>,
}

impl Template {
    pub fn body_text(&self) -> Option<&str> {
        self.components
            .iter()
            .find(|c| {
                c["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case("BODY"))
            })
            .and_then(|c| c["text"].as_str())
    }

    fn header(&self) -> Option<&Value> {
        self.components.iter().find(|c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("HEADER"))
        })
    }

    /// The HEADER's `format` upper case (`TEXT` when absent); `None` without a header.
    pub fn header_format(&self) -> Option<String> {
        self.header()
            .map(|h| h["format"].as_str().unwrap_or("TEXT").to_ascii_uppercase())
    }

    /// Distinct variables in a text header.
    pub fn header_variable_count(&self) -> usize {
        let mut names = variables(
            self.header()
                .and_then(|h| h["text"].as_str())
                .unwrap_or_default(),
        );
        names.sort();
        names.dedup();
        names.len()
    }

    /// Distinct variables in the body, e.g. `{{1}}` and `{{2}}` → 2.
    pub fn body_variable_count(&self) -> usize {
        let mut names = variables(self.body_text().unwrap_or_default());
        names.sort();
        names.dedup();
        names.len()
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "parameter_format": self.parameter_format.to_uppercase(),
            "components": self.components,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "id": self.id,
        })
    }
}

fn seed_one(
    name: &str,
    lang: &str,
    status: &str,
    category: &str,
    body: &str,
    examples: &[&str],
) -> Template {
    Template {
        id: new_numeric_id(15),
        name: name.into(),
        language: lang.into(),
        status: status.into(),
        category: category.into(),
        parameter_format: "positional".into(),
        components: vec![json!({
            "type": "BODY",
            "text": body,
            "example": {"body_text": [examples]},
        })],
    }
}

pub(crate) fn seed() -> Vec<Template> {
    vec![
        seed_one(
            "schadenmeldung_bestaetigung",
            "de",
            "APPROVED",
            "UTILITY",
            "Hallo {{1}}, wir haben Ihre Schadenmeldung {{2}} erhalten. Wir melden uns innerhalb von zwei Werktagen bei Ihnen.",
            &["Anna", "S-2024-0815"],
        ),
        seed_one(
            "beitragsanpassung_info",
            "de",
            "APPROVED",
            "UTILITY",
            "Guten Tag {{1}}, der Beitrag für Ihren Vertrag {{2}} ändert sich zum {{3}}. Alle Details finden Sie im Kundenportal.",
            &["Herr Müller", "HR-123456", "01.01.2027"],
        ),
        seed_one(
            "fristerinnerung",
            "de",
            "APPROVED",
            "UTILITY",
            "Hallo {{1}}, bitte denken Sie an die Frist am {{2}}. Bei Fragen antworten Sie einfach auf diese Nachricht.",
            &["Anna", "30.06.2026"],
        ),
        seed_one(
            "anmeldecode",
            "de",
            "APPROVED",
            "AUTHENTICATION",
            "Ihr Bestätigungscode lautet {{1}}. Geben Sie ihn bitte nicht weiter.",
            &["482913"],
        ),
        seed_one(
            "sommer_rabatt",
            "de",
            "APPROVED",
            "MARKETING",
            "Sommerzeit ist Reisezeit, {{1}}! Jetzt 10 % Rabatt auf die Reiseversicherung sichern.",
            &["Anna"],
        ),
        seed_one(
            "neues_angebot",
            "de",
            "PENDING",
            "MARKETING",
            "Hallo {{1}}, wir haben ein neues Angebot für Ihre Hausratversicherung.",
            &["Anna"],
        ),
        seed_one(
            "altes_angebot",
            "de",
            "PAUSED",
            "MARKETING",
            "Hallo {{1}}, unser Angebot gilt nur noch heute.",
            &["Anna"],
        ),
    ]
}

/// Variable names in `{{…}}`, in order of appearance.
fn variables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_owned());
        rest = &after[end + 2..];
    }
    out
}

/// Why Meta would reject this body with INVALID_FORMAT, if it would.
pub(crate) fn format_problem(body: &str, positional: bool) -> Option<String> {
    let trimmed = body.trim();
    if trimmed.starts_with("{{") || trimmed.ends_with("}}") {
        return Some("Variables can't be at the start or end of the template.".into());
    }
    // `{{1}}{{2}}`, and `{{1}} {{2}}` with only whitespace between, are adjacent.
    let mut rest = body;
    while let Some(end) = rest.find("}}") {
        let after = &rest[end + 2..];
        if after.trim_start().starts_with("{{") {
            return Some("Variables can't be next to each other.".into());
        }
        rest = after;
    }
    let vars = variables(body);
    if vars.iter().any(|v| v.contains(['#', '$', '%'])) {
        return Some("Variable parameters contain special characters such as #, $, or %.".into());
    }
    if positional {
        let mut nums: Vec<u32> = Vec::new();
        for v in &vars {
            match v.parse::<u32>() {
                Ok(n) => nums.push(n),
                Err(_) => return Some(format!("Variable {{{{{v}}}}} is not a positional number.")),
            }
        }
        nums.sort_unstable();
        nums.dedup();
        if nums.iter().enumerate().any(|(i, n)| *n as usize != i + 1) {
            return Some("Variables must be sequential, starting at {{1}}.".into());
        }
    } else if vars.iter().any(|v| {
        v.is_empty()
            || !v
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }) {
        return Some("Named variables must be lowercase letters, digits and underscores.".into());
    }
    None
}

impl Sim {
    pub(crate) fn find_template(&self, name: &str, lang: &str) -> Option<Template> {
        self.lock()
            .templates
            .iter()
            .find(|t| t.name == name && t.language == lang)
            .cloned()
    }

    /// `GET /{ver}/{waba}/message_templates`, with Meta-style cursor paging.
    pub(crate) fn list_templates(
        &self,
        ver: &str,
        query: &HashMap<String, String>,
    ) -> Result<Value, GraphError> {
        let limit = match query.get("limit") {
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    GraphError::fb_param("Param limit must be a number between 1 and 1000")
                })?,
            None => 25,
        };
        let matches = |t: &Template| {
            query
                .get("name")
                .is_none_or(|n| t.name.contains(n.as_str()))
                && query
                    .get("status")
                    .is_none_or(|s| t.status.eq_ignore_ascii_case(s))
                && query
                    .get("category")
                    .is_none_or(|c| t.category.eq_ignore_ascii_case(c))
                && query.get("language").is_none_or(|l| &t.language == l)
        };
        let all: Vec<Template> = self
            .lock()
            .templates
            .iter()
            .filter(|t| matches(t))
            .cloned()
            .collect();
        let start = match (query.get("after"), query.get("before")) {
            (Some(a), _) => decode_cursor(a)? + 1,
            (None, Some(b)) => decode_cursor(b)?.saturating_sub(limit),
            (None, None) => 0,
        };
        let end = (start + limit).min(all.len());
        let page = if start < all.len() {
            &all[start..end]
        } else {
            &[][..]
        };
        let mut body = json!({ "data": page.iter().map(Template::to_json).collect::<Vec<_>>() });
        if !page.is_empty() {
            body["paging"] = json!({"cursors": {"before": encode_cursor(start), "after": encode_cursor(end - 1)}});
            let mut filters = String::new();
            for key in ["name", "status", "category", "language"] {
                if let Some(v) = query.get(key) {
                    filters.push_str(&format!("&{key}={v}"));
                }
            }
            let base = format!(
                "{}/{ver}/{}/message_templates?limit={limit}{filters}",
                self.base_url, self.config.waba_id
            );
            if end < all.len() {
                body["paging"]["next"] = json!(format!("{base}&after={}", encode_cursor(end - 1)));
            }
            if start > 0 {
                body["paging"]["previous"] =
                    json!(format!("{base}&before={}", encode_cursor(start)));
            }
        }
        Ok(body)
    }

    /// `DELETE /{ver}/{waba}/message_templates?name=…[&hsm_id=…]`: by name
    /// every language goes; with `hsm_id` only that one.
    pub(crate) fn delete_template(
        self: &Arc<Self>,
        name: Option<&str>,
        hsm_id: Option<&str>,
    ) -> Result<Value, GraphError> {
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(GraphError::wa_param("The parameter name is required."));
        };
        let mut st = self.lock();
        let before = st.templates.len();
        st.templates
            .retain(|t| !(t.name == name && hsm_id.is_none_or(|id| t.id == id)));
        if st.templates.len() == before {
            return Err(GraphError::wa_param(format!(
                "Message template \"{name}\" not found."
            )));
        }
        Ok(json!({"success": true}))
    }

    /// `POST /{ver}/{waba}/message_templates`: validate, store as PENDING, review later.
    pub(crate) fn create_template(self: &Arc<Self>, body: &Value) -> Result<Value, GraphError> {
        let name = body["name"].as_str().unwrap_or_default();
        if name.is_empty()
            || name.len() > 512
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(GraphError::fb_param(
                "Invalid parameter: name must be 1-512 characters of a-z, 0-9 and _",
            ));
        }
        let language = body["language"].as_str().unwrap_or_default();
        if language.is_empty() {
            return Err(GraphError::fb_param("The parameter language is required"));
        }
        let category = body["category"].as_str().unwrap_or_default().to_uppercase();
        if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&category.as_str()) {
            return Err(GraphError::fb_param(
                "Invalid parameter: category must be MARKETING, UTILITY or AUTHENTICATION",
            ));
        }
        let format = body["parameter_format"]
            .as_str()
            .unwrap_or("positional")
            .to_lowercase();
        if format != "positional" && format != "named" {
            return Err(GraphError::fb_param(
                "Invalid parameter: parameter_format must be named or positional",
            ));
        }
        let Some(components) = body["components"].as_array() else {
            return Err(GraphError::fb_param("The parameter components is required"));
        };
        let body_text = components
            .iter()
            .find(|c| {
                c["type"]
                    .as_str()
                    .is_some_and(|t| t.eq_ignore_ascii_case("BODY"))
            })
            .and_then(|c| c["text"].as_str());
        let Some(body_text) = body_text else {
            return Err(GraphError::fb_param(
                "Invalid parameter: a BODY component is required",
            ));
        };
        if body_text.chars().count() > 1024 {
            return Err(GraphError::fb_param(
                "Invalid parameter: BODY text is longer than 1024 characters",
            ));
        }
        if self.find_template(name, language).is_some() {
            let mut e = GraphError::fb_param("Invalid parameter");
            e.subcode = Some(2388024);
            e.message = format!("(#100) Message template \"{name}\" already exists in {language}");
            return Err(e);
        }
        let template = Template {
            id: new_numeric_id(15),
            name: name.into(),
            language: language.into(),
            status: "PENDING".into(),
            category: category.clone(),
            parameter_format: format.clone(),
            components: components.clone(),
        };
        let problem = format_problem(body_text, format == "positional");
        self.lock().templates.push(template.clone());
        spawn_review(self, template.clone(), problem);
        Ok(json!({"id": template.id, "status": "PENDING", "category": category}))
    }
}

fn spawn_review(sim: &Arc<Sim>, template: Template, problem: Option<String>) {
    let delay = sim.tunables().template_review_delay_ms;
    let sim2 = Arc::clone(sim);
    sim.spawn_tracked(async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let event = if problem.is_some() { "REJECTED" } else { "APPROVED" };
        {
            let mut st = sim2.lock();
            if let Some(t) = st.templates.iter_mut().find(|t| t.id == template.id) {
                t.status = event.into();
            }
        }
        let mut value = json!({
            "event": event,
            "message_template_id": template.id.parse::<u64>().unwrap_or_default(),
            "message_template_name": template.name,
            "message_template_language": template.language,
            "message_template_category": template.category,
            "reason": if problem.is_some() { "INVALID_FORMAT" } else { "NONE" },
        });
        if let Some(p) = problem {
            value["rejection_info"] = json!({"reason": p, "recommendation": "Check the variables in your template body and submit it again."});
        }
        let payload = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": sim2.config.waba_id, "time": sim2.now(), "changes": [{"value": value, "field": "message_template_status_update"}]}],
        });
        sim2.deliver(Channel::Whatsapp, WebhookKind::TemplateStatus, &payload).await;
    });
}

fn encode_cursor(i: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{i}"))
}

fn decode_cursor(c: &str) -> Result<usize, GraphError> {
    base64::engine::general_purpose::STANDARD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| GraphError::fb_param("Invalid cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_and_dangling_variables_are_invalid_format() {
        assert!(format_problem("{{1}} hat Geburtstag", true).is_some());
        assert!(format_problem("Hallo {{1}}", true).is_some());
        assert!(format_problem("Hallo {{1}}{{2}}, schön.", true).is_some());
        assert!(format_problem("Hallo {{1}} {{2}}, schön.", true).is_some());
        assert!(format_problem("Hallo {{1}}, Frist {{3}} beachten.", true).is_some());
        assert!(format_problem("Hallo {{1}}, Ihre Frist endet am {{2}}. Danke.", true).is_none());
        assert!(format_problem("Hallo {{vorname}}, bis {{datum}}.", false).is_none());
        assert!(format_problem("Hallo {{Vorname}}, bis bald.", false).is_some());
    }

    #[test]
    fn seeded_bodies_are_valid_and_counted() {
        for t in seed() {
            assert!(
                format_problem(t.body_text().unwrap(), true).is_none(),
                "{}",
                t.name
            );
        }
        let t = seed()
            .into_iter()
            .find(|t| t.name == "beitragsanpassung_info")
            .unwrap();
        assert_eq!(t.body_variable_count(), 3);
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(17)).unwrap(), 17);
        assert!(decode_cursor("!!").is_err());
    }
}
