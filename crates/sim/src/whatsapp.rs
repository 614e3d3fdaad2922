//! `POST /{ver}/{phone_number_id}/messages`: Meta's validation, window, rate and verdicts.

use crate::config::FailureMode;
use crate::graph::{GraphError, REENGAGEMENT_DETAILS, UNDELIVERABLE_DETAILS};
use crate::state::{Channel, SentRecord, Sim, Verdict, new_wamid};
use crate::webhooks::{Addressee, StatusPlan, spawn_failed_status, spawn_status_sequence};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WINDOW_SECS: i64 = 24 * 3600;

/// What a validated send is, for window and pricing decisions.
struct Checked {
    kind: String,
    /// Category of the template (upper case), `None` for free-form messages.
    template_category: Option<String>,
}

pub(crate) fn send(sim: &Arc<Sim>, pnid: &str, body: &Value) -> Result<Value, GraphError> {
    let result = send_inner(sim, pnid, body);
    let (http_status, verdict, error_code, error_details, message_id, recipient, kind) =
        match &result {
            Ok(o) => (
                200,
                Verdict::Accepted,
                o.async_error,
                None,
                o.message_id.clone(),
                o.recipient.clone(),
                o.kind.clone(),
            ),
            Err((e, kind)) => (
                e.http.as_u16(),
                Verdict::Rejected,
                Some(e.code),
                e.details(),
                None,
                None,
                kind.clone(),
            ),
        };
    let mut st = sim.lock();
    let seq = Sim::next_seq(&mut st);
    let at = sim_now(&st);
    st.sent.push(SentRecord {
        seq,
        at,
        channel: Channel::Whatsapp,
        object_id: pnid.to_owned(),
        request: body.clone(),
        http_status,
        verdict,
        error_code,
        error_details,
        message_id,
        recipient,
        kind,
    });
    result.map(|o| o.response).map_err(|(e, _)| e)
}

fn sim_now(st: &crate::state::State) -> i64 {
    crate::state::real_unix_ms() / 1000 + st.clock_offset_secs
}

struct Outcome {
    response: Value,
    message_id: Option<String>,
    recipient: Option<String>,
    kind: String,
    /// Set when the send was accepted but a `failed` status will follow.
    async_error: Option<i64>,
}

fn send_inner(sim: &Arc<Sim>, pnid: &str, body: &Value) -> Result<Outcome, (GraphError, String)> {
    if body.get("messaging_product").and_then(Value::as_str) != Some("whatsapp") {
        return Err((
            GraphError::wa_param(
                "The parameter messaging_product is required and must be whatsapp.",
            ),
            kind_of(body),
        ));
    }
    if body.get("status").is_some() {
        return mark_read(sim, body).map_err(|e| (e, "read".into()));
    }
    let kind = kind_of(body);
    let fail = |e: GraphError| (e, kind.clone());

    check_rate(sim, pnid).map_err(fail)?;
    let checked = validate(sim, pnid, body).map_err(fail)?;

    let addressee = match (body["to"].as_str(), body["recipient"].as_str()) {
        (Some(to), _) if is_user_id(to) => return Ok(dropped_user_id_in_to(to, kind)),
        (Some(to), _) => Addressee::WaId(normalise_to(sim, to).map_err(fail)?),
        (None, Some(user_id)) if is_user_id(user_id) => Addressee::UserId(user_id.to_owned()),
        (None, Some(user_id)) => {
            return Err(fail(GraphError::wa_param(format!(
                "Invalid parameter recipient: {user_id}"
            ))));
        }
        (None, None) => return Err(fail(GraphError::wa_param("The parameter to is required."))),
    };
    // Windows and known users are keyed by wa_id, or by user id for username-only users.
    let wa_id = addressee.key().to_owned();
    check_pair_rate(sim, pnid, &wa_id).map_err(fail)?;
    let tun = sim.tunables();
    let now = sim.now();
    let (known, window_open) = {
        let st = sim.lock();
        let known = st.known_wa.contains(&wa_id);
        let last = st
            .wa_windows
            .get(&(pnid.to_owned(), wa_id.clone()))
            .copied();
        (known, last.is_some_and(|t| now - t < WINDOW_SECS))
    };
    let biz_opaque = body["biz_opaque_callback_data"].as_str().map(str::to_owned);

    let failure = if !known {
        Some((
            GraphError::undeliverable(),
            "Message undeliverable",
            UNDELIVERABLE_DETAILS,
        ))
    } else if checked.template_category.is_none() && !window_open {
        Some((
            GraphError::reengagement(),
            "Re-engagement message",
            REENGAGEMENT_DETAILS,
        ))
    } else {
        None
    };
    let wamid = new_wamid(&wa_id);
    let contact = match &addressee {
        Addressee::WaId(_) => json!({"input": body["to"], "wa_id": wa_id}),
        Addressee::UserId(_) => json!({"input": wa_id, "user_id": wa_id}),
    };
    let mut response = json!({
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [{"id": wamid}],
    });
    if checked.template_category.is_some() {
        response["messages"][0]["message_status"] = json!("accepted");
    }
    if let Some((err, title, details)) = failure {
        if tun.failure_mode == FailureMode::Sync {
            return Err(fail(err));
        }
        let code = err.code;
        spawn_failed_status(
            sim,
            wamid.clone(),
            addressee,
            biz_opaque,
            code,
            title,
            details.into(),
        );
        return Ok(Outcome {
            response,
            message_id: Some(wamid),
            recipient: Some(wa_id),
            kind,
            async_error: Some(code),
        });
    }

    spawn_status_sequence(
        sim,
        StatusPlan {
            wamid: wamid.clone(),
            recipient: addressee,
            biz_opaque,
            pricing: pricing(checked.template_category.as_deref(), window_open),
        },
    );
    Ok(Outcome {
        response,
        message_id: Some(wamid),
        recipient: Some(wa_id),
        kind: checked.kind,
        async_error: None,
    })
}

/// A business-scoped user id: `CC.` (ISO country), optionally `ENT.`, then
/// up to 128 letters and digits.
fn is_user_id(text: &str) -> bool {
    let mut parts = text.splitn(2, '.');
    let country = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default();
    let local = rest.strip_prefix("ENT.").unwrap_or(rest);
    country.len() == 2
        && country.chars().all(|c| c.is_ascii_uppercase())
        && !local.is_empty()
        && local.len() <= 128
        && local.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Meta reads a user id in `to` as a phone number (the country prefix
/// dropped), answers 200 with a message id, and never delivers it.
fn dropped_user_id_in_to(to: &str, kind: String) -> Outcome {
    let digits: String = to.chars().filter(char::is_ascii_digit).collect();
    let wamid = new_wamid(&digits);
    Outcome {
        response: json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": digits}],
            "messages": [{"id": wamid}],
        }),
        message_id: Some(wamid),
        recipient: Some(digits),
        kind,
        async_error: None,
    }
}

fn kind_of(body: &Value) -> String {
    if body.get("status").is_some() {
        return "read".into();
    }
    body["type"].as_str().unwrap_or("text").to_owned()
}

/// Per-message pricing (PMP): only templates outside the free cases are billable.
fn pricing(template_category: Option<&str>, window_open: bool) -> Value {
    let (category, ty) = match template_category {
        None => ("service".to_owned(), "free_customer_service"),
        Some("UTILITY") if window_open => ("utility".to_owned(), "free_customer_service"),
        Some(c) => (c.to_lowercase(), "regular"),
    };
    json!({"billable": ty == "regular", "pricing_model": "PMP", "type": ty, "category": category})
}

fn mark_read(sim: &Sim, body: &Value) -> Result<Outcome, GraphError> {
    if body["status"].as_str() != Some("read") {
        return Err(GraphError::wa_param("Parameter status must be read."));
    }
    let Some(id) = body["message_id"].as_str() else {
        return Err(GraphError::wa_param(
            "The parameter message_id is required.",
        ));
    };
    if !sim.lock().inbound_ids.contains(id) {
        return Err(GraphError::wa_param(format!("Invalid message_id: {id}")));
    }
    if let Some(t) = body.get("typing_indicator")
        && t["type"].as_str() != Some("text")
    {
        return Err(GraphError::wa_param("typing_indicator.type must be text."));
    }
    Ok(Outcome {
        response: json!({"success": true}),
        message_id: None,
        recipient: None,
        kind: "read".into(),
        async_error: None,
    })
}

/// Sliding one-second window per business number.
fn check_rate(sim: &Sim, pnid: &str) -> Result<(), GraphError> {
    let limit = sim.tunables().rate_limit_per_sec as usize;
    let now = Instant::now();
    let mut st = sim.lock();
    let q = st.rate.entry(pnid.to_owned()).or_default();
    while q
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        q.pop_front();
    }
    if q.len() >= limit {
        return Err(GraphError::rate_limited());
    }
    q.push_back(now);
    Ok(())
}

/// Sliding one-minute window per (business number, recipient); 0 disables it.
fn check_pair_rate(sim: &Sim, pnid: &str, wa_id: &str) -> Result<(), GraphError> {
    let limit = sim.tunables().pair_rate_limit_per_min as usize;
    if limit == 0 {
        return Ok(());
    }
    let now = Instant::now();
    let mut st = sim.lock();
    let q = st
        .pair_rate
        .entry((pnid.to_owned(), wa_id.to_owned()))
        .or_default();
    while q
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
    {
        q.pop_front();
    }
    if q.len() >= limit {
        return Err(GraphError::pair_rate_limited());
    }
    q.push_back(now);
    Ok(())
}

/// Digits of `to`. Without `+`, Meta prepends the business number's country code.
fn normalise_to(sim: &Sim, input: &str) -> Result<String, GraphError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(GraphError::wa_param("The parameter to is required."));
    }
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || "+-() ".contains(c))
    {
        return Err(GraphError::wa_param(format!(
            "Invalid parameter to: {input}"
        )));
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 || digits.len() > 15 {
        return Err(GraphError::wa_param(format!(
            "Invalid parameter to: {input}"
        )));
    }
    if trimmed.starts_with('+') || !sim.tunables().strict_plus {
        Ok(digits)
    } else {
        Ok(format!("{}{digits}", sim.config.business_country_code()))
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn require_str<'a>(v: &'a Value, what: &str) -> Result<&'a str, GraphError> {
    v.as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| GraphError::wa_param(format!("The parameter {what} is required.")))
}

fn max_len(v: &Value, max: usize, what: &str) -> Result<(), GraphError> {
    if chars(v) > max {
        return Err(GraphError::wa_param(format!(
            "Param {what} must be at most {max} characters long."
        )));
    }
    Ok(())
}

fn validate(sim: &Sim, pnid: &str, body: &Value) -> Result<Checked, GraphError> {
    if let Some(rt) = body.get("recipient_type")
        && rt.as_str() != Some("individual")
    {
        return Err(GraphError::wa_param(
            "recipient_type must be individual (groups are not simulated).",
        ));
    }
    let kind = require_str(&body["type"], "type")?.to_owned();
    let obj = body
        .get(kind.as_str())
        .filter(|o| o.is_object() || o.is_array())
        .ok_or_else(|| GraphError::wa_param(format!("The parameter {kind} is required.")))?;
    let mut template_category = None;
    match kind.as_str() {
        "text" => {
            require_str(&obj["body"], "text.body")?;
            max_len(&obj["body"], 4096, "text.body")?;
            if let Some(p) = obj.get("preview_url")
                && !p.is_boolean()
            {
                return Err(GraphError::wa_param("text.preview_url must be a boolean."));
            }
        }
        "image" | "video" | "audio" | "sticker" | "document" => {
            validate_media_object(sim, pnid, &kind, obj)?;
            if obj.get("caption").is_some() {
                if kind == "audio" || kind == "sticker" {
                    return Err(GraphError::wa_param(format!(
                        "{kind} does not take a caption."
                    )));
                }
                max_len(&obj["caption"], 1024, &format!("{kind}.caption"))?;
            }
            if obj.get("filename").is_some() && kind != "document" {
                return Err(GraphError::wa_param(format!(
                    "{kind} does not take a filename."
                )));
            }
        }
        "location" => {
            let lat = obj["latitude"].as_f64();
            let lon = obj["longitude"].as_f64();
            if !lat.is_some_and(|v| (-90.0..=90.0).contains(&v))
                || !lon.is_some_and(|v| (-180.0..=180.0).contains(&v))
            {
                return Err(GraphError::wa_param(
                    "location needs latitude in [-90, 90] and longitude in [-180, 180].",
                ));
            }
        }
        "contacts" => {
            let list = obj
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| GraphError::wa_param("contacts must be a non-empty array."))?;
            for c in list {
                require_str(&c["name"]["formatted_name"], "contacts.name.formatted_name")?;
            }
        }
        "reaction" => {
            require_str(&obj["message_id"], "reaction.message_id")?;
            if !obj["emoji"].is_string() {
                return Err(GraphError::wa_param(
                    "The parameter reaction.emoji is required (empty string removes).",
                ));
            }
        }
        "interactive" => validate_interactive(obj)?,
        "template" => {
            template_category = Some(validate_template(sim, pnid, obj)?);
        }
        other => {
            return Err(GraphError::wa_param(format!(
                "Unsupported message type: {other}"
            )));
        }
    }
    Ok(Checked {
        kind,
        template_category,
    })
}

/// `{"id"}` or `{"link"}`: exactly one; an id must be media this number
/// uploaded (or a customer sent), unexpired.
fn validate_media_object(sim: &Sim, pnid: &str, kind: &str, obj: &Value) -> Result<(), GraphError> {
    let has_id = obj["id"].as_str().is_some_and(|s| !s.is_empty());
    let link = obj["link"].as_str();
    if has_id == link.is_some() {
        return Err(GraphError::wa_param(format!(
            "{kind} needs exactly one of id or link."
        )));
    }
    if let Some(id) = obj["id"].as_str().filter(|_| has_id) {
        let now = sim.now();
        let usable = sim
            .lock()
            .media
            .get(id)
            .is_some_and(|m| m.usable_by(pnid, now));
        if !usable {
            return Err(GraphError::media_id(kind));
        }
    }
    if let Some(l) = link
        && !(l.starts_with("https://") || l.starts_with("http://"))
    {
        return Err(GraphError::wa_param(format!(
            "{kind}.link must be an http(s) URL."
        )));
    }
    Ok(())
}

fn validate_interactive(obj: &Value) -> Result<(), GraphError> {
    let ty = require_str(&obj["type"], "interactive.type")?;
    let body_text = &obj["body"]["text"];
    if obj.get("footer").is_some() {
        max_len(&obj["footer"]["text"], 60, "interactive.footer.text")?;
    }
    match ty {
        "button" => {
            require_str(body_text, "interactive.body.text")?;
            max_len(body_text, 1024, "interactive.body.text")?;
            if let Some(h) = obj.get("header") {
                let ht = h["type"].as_str().unwrap_or_default();
                if !["text", "image", "video", "document"].contains(&ht) {
                    return Err(GraphError::wa_param(
                        "interactive.header.type must be text, image, video or document.",
                    ));
                }
            }
            let buttons = obj["action"]["buttons"].as_array().ok_or_else(|| {
                GraphError::wa_param("The parameter interactive.action.buttons is required.")
            })?;
            if buttons.is_empty() || buttons.len() > 3 {
                return Err(GraphError::wa_param(
                    "interactive.action.buttons must have 1 to 3 buttons.",
                ));
            }
            let mut ids = Vec::new();
            let mut titles = Vec::new();
            for b in buttons {
                if b["type"].as_str() != Some("reply") {
                    return Err(GraphError::wa_param("Button type must be reply."));
                }
                let id = require_str(&b["reply"]["id"], "button.reply.id")?;
                let title = require_str(&b["reply"]["title"], "button.reply.title")?;
                max_len(&b["reply"]["id"], 256, "button.reply.id")?;
                max_len(&b["reply"]["title"], 20, "button.reply.title")?;
                ids.push(id);
                titles.push(title);
            }
            ids.sort_unstable();
            titles.sort_unstable();
            if ids.windows(2).any(|w| w[0] == w[1]) || titles.windows(2).any(|w| w[0] == w[1]) {
                return Err(GraphError::wa_param(
                    "Buttons must have unique ids and titles.",
                ));
            }
        }
        "list" => {
            require_str(body_text, "interactive.body.text")?;
            max_len(body_text, 4096, "interactive.body.text")?;
            if let Some(h) = obj.get("header")
                && h["type"].as_str() != Some("text")
            {
                return Err(GraphError::wa_param("A list message header must be text."));
            }
            require_str(&obj["action"]["button"], "interactive.action.button")?;
            max_len(&obj["action"]["button"], 20, "interactive.action.button")?;
            let sections = obj["action"]["sections"].as_array().ok_or_else(|| {
                GraphError::wa_param("The parameter interactive.action.sections is required.")
            })?;
            if sections.is_empty() || sections.len() > 10 {
                return Err(GraphError::wa_param(
                    "interactive.action.sections must have 1 to 10 sections.",
                ));
            }
            let mut rows_total = 0;
            let mut ids = Vec::new();
            for s in sections {
                if sections.len() > 1 {
                    require_str(
                        &s["title"],
                        "section.title (required with several sections)",
                    )?;
                }
                max_len(&s["title"], 24, "section.title")?;
                let rows = s["rows"]
                    .as_array()
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| GraphError::wa_param("Each section needs rows."))?;
                rows_total += rows.len();
                for r in rows {
                    ids.push(require_str(&r["id"], "row.id")?);
                    require_str(&r["title"], "row.title")?;
                    max_len(&r["id"], 200, "row.id")?;
                    max_len(&r["title"], 24, "row.title")?;
                    max_len(&r["description"], 72, "row.description")?;
                }
            }
            if rows_total > 10 {
                return Err(GraphError::wa_param(
                    "A list message can have at most 10 rows in total.",
                ));
            }
            ids.sort_unstable();
            if ids.windows(2).any(|w| w[0] == w[1]) {
                return Err(GraphError::wa_param("Row ids must be unique."));
            }
        }
        "cta_url" => {
            require_str(body_text, "interactive.body.text")?;
            require_str(
                &obj["action"]["parameters"]["url"],
                "interactive.action.parameters.url",
            )?;
            require_str(
                &obj["action"]["parameters"]["display_text"],
                "interactive.action.parameters.display_text",
            )?;
            max_len(
                &obj["action"]["parameters"]["display_text"],
                20,
                "display_text",
            )?;
        }
        "location_request_message" => {
            require_str(body_text, "interactive.body.text")?;
            if obj["action"]["name"].as_str() != Some("send_location") {
                return Err(GraphError::wa_param("action.name must be send_location."));
            }
        }
        "flow" => {
            require_str(body_text, "interactive.body.text")?;
        }
        other => {
            return Err(GraphError::wa_param(format!(
                "Unsupported interactive type: {other}"
            )));
        }
    }
    Ok(())
}

/// Parameters of the request's components of one type (`header`, `body`).
fn component_params<'a>(obj: &'a Value, ty: &str) -> Vec<&'a Value> {
    obj["components"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter(|c| {
                    c["type"]
                        .as_str()
                        .is_some_and(|t| t.eq_ignore_ascii_case(ty))
                })
                .flat_map(|c| c["parameters"].as_array().into_iter().flatten())
                .collect()
        })
        .unwrap_or_default()
}

/// The header parameter against the template's HEADER: a media header
/// needs exactly one parameter of its format (132012 otherwise, `received
/// UNKNOWN` when it is missing); a text header one text per variable.
fn validate_header(
    sim: &Sim,
    pnid: &str,
    template: &crate::templates::Template,
    obj: &Value,
) -> Result<(), GraphError> {
    let params = component_params(obj, "header");
    let received = |p: Option<&&Value>| {
        p.and_then(|p| p["type"].as_str())
            .map(str::to_ascii_uppercase)
            .unwrap_or_else(|| "UNKNOWN".into())
    };
    match template.header_format().as_deref() {
        Some(format @ ("IMAGE" | "VIDEO" | "DOCUMENT")) => {
            let got = received(params.first());
            if got != format {
                return Err(GraphError::template_format_mismatch(format, &got));
            }
            if params.len() != 1 {
                return Err(GraphError::template_header_params(1, params.len()));
            }
            let kind = format.to_ascii_lowercase();
            let media = params[0]
                .get(kind.as_str())
                .filter(|m| m.is_object())
                .ok_or_else(|| {
                    GraphError::wa_param(format!("The parameter {kind} is required."))
                })?;
            validate_media_object(sim, pnid, &kind, media)?;
            if media.get("filename").is_some() && kind != "document" {
                return Err(GraphError::wa_param(format!(
                    "{kind} does not take a filename."
                )));
            }
            Ok(())
        }
        // Location headers are not simulated in detail.
        Some("LOCATION") => Ok(()),
        None if !params.is_empty() => Err(GraphError::template_header_params(0, params.len())),
        None => Ok(()),
        Some(_) => {
            if let Some(p) = params.iter().find(|p| p["type"].as_str() != Some("text")) {
                return Err(GraphError::template_format_mismatch(
                    "TEXT",
                    &received(Some(p)),
                ));
            }
            let expected = template.header_variable_count();
            if params.len() != expected {
                return Err(GraphError::template_header_params(expected, params.len()));
            }
            Ok(())
        }
    }
}

/// Returns the template's category if it may be sent as given.
fn validate_template(sim: &Sim, pnid: &str, obj: &Value) -> Result<String, GraphError> {
    let name = require_str(&obj["name"], "template.name")?;
    let lang = require_str(&obj["language"]["code"], "template.language.code")?;
    let template = sim
        .find_template(name, lang)
        .ok_or_else(|| GraphError::template_missing(name, lang))?;
    match template.status.as_str() {
        "APPROVED" => {}
        "PAUSED" | "DISABLED" => return Err(GraphError::template_paused(name)),
        // PENDING and REJECTED templates cannot be sent; Meta answers as if absent.
        _ => return Err(GraphError::template_missing(name, lang)),
    }
    validate_header(sim, pnid, &template, obj)?;
    let body_params = component_params(obj, "body");
    let expected = template.body_variable_count();
    if body_params.len() != expected {
        return Err(GraphError::template_params(expected, body_params.len()));
    }
    for p in body_params {
        let ty = p["type"].as_str().unwrap_or_default();
        let ok = match ty {
            "text" => p["text"].as_str().is_some_and(|t| !t.trim().is_empty()),
            "currency" => {
                p["currency"]["code"].is_string() && p["currency"]["amount_1000"].is_number()
            }
            "date_time" => p["date_time"]["fallback_value"].is_string(),
            _ => false,
        };
        if !ok {
            return Err(GraphError::wa_param(format!(
                "Invalid body parameter of type '{ty}'."
            )));
        }
        if template.parameter_format == "named" && !p["parameter_name"].is_string() {
            return Err(GraphError::wa_param(
                "parameter_name is required for named-parameter templates.",
            ));
        }
    }
    Ok(template.category)
}
