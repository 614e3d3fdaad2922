//! `/inbox/{id}`: one conversation beside the list: the whole thread with
//! every kind of message as a person expects it, delivery ticks, and the
//! composer, which offers free text only while the 24-hour window is open
//! and approved templates once it has closed. Sending goes through the same
//! check and outbox as `POST /api/conversations/{id}/messages`.

use super::inbox::{InboxFilter, InboxPage, contact_label, load_list, store_failed, window_badge};
use super::{Flash, channel_names};
use crate::accounts::ClientAddress;
use crate::app::AppState;
use crate::outbound::auth::{Agent, new_token};
use crate::outbound::draft::DraftEnvelope;
use crate::routes::send::queue_send;
use crate::web::format;
use crate::web::i18n::Texts;
use crate::web::render;
use crate::web::session::{Chrome, WebSession};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use resonanz_channels::templates::variable_names;
use resonanz_core::analysis::Sentiment;
use resonanz_core::rules::{TemplateCategory, TemplateStatus};
use resonanz_core::{Channel, Direction, Timestamp};
use resonanz_store::{ConsentKind, CorrectionRow, MediaRow, MessageRow, OutboxRow, OutboxState};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct AttachmentView {
    pub kind: String,
    /// Where the browser loads it; `None` while the file is still fetched.
    pub url: Option<String>,
    pub label: String,
    pub caption: Option<String>,
}

#[derive(Clone, Debug)]
pub struct LocationView {
    pub label: String,
    pub map_url: String,
    pub coords: String,
}

#[derive(Clone, Debug)]
pub struct MessageView {
    pub id: String,
    pub outbound: bool,
    pub kind: String,
    /// The catalogue's `kind-…` key (unknown kinds fall back to `unknown`).
    pub kind_key: String,
    pub body: Option<String>,
    pub quoted: Option<String>,
    pub attachments: Vec<AttachmentView>,
    pub location: Option<LocationView>,
    pub reactions: Vec<String>,
    pub delivery: String,
    pub delivery_label: String,
    pub ticks: &'static str,
    pub sentiment: Option<&'static str>,
    /// Who set the sentiment, when an agent corrected the model's.
    pub corrected_by: Option<String>,
    pub topics: Vec<String>,
    pub time_label: String,
    pub time_iso: String,
    pub at_ms: i64,
}

/// A send not (yet) accepted by Meta: queued, in flight, failed, blocked.
#[derive(Clone, Debug)]
pub struct PendingView {
    pub id: String,
    pub text: String,
    pub state: &'static str,
    pub state_label: String,
    pub reason: Option<String>,
    pub time_label: String,
    pub time_iso: String,
}

#[derive(Clone, Debug)]
pub struct CannedChoice {
    pub id: i64,
    pub title: String,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct TemplateChoice {
    /// `name|language`, what the form sends back.
    pub key: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub body: String,
    pub variables: Vec<String>,
    pub charge_note: String,
    pub selected: bool,
}

#[derive(Clone, Debug)]
pub enum ThreadItem {
    Message(Box<MessageView>),
    Activity(super::work::ActivityView),
}

impl ThreadItem {
    fn at(&self) -> i64 {
        match self {
            ThreadItem::Message(m) => m.at_ms,
            ThreadItem::Activity(a) => a.at_ms,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConversationPane {
    pub id: String,
    pub contact_name: String,
    pub channel: String,
    pub channel_label: &'static str,
    pub channel_short: &'static str,
    pub identities: Vec<String>,
    pub consent_label: String,
    pub window_label: String,
    pub window_class: &'static str,
    pub window_closes_at: Option<i64>,
    pub templates_only: bool,
    /// Messages and the team's activity (notes, status, assignment) in time order.
    pub timeline: Vec<ThreadItem>,
    pub pending: Vec<PendingView>,
    pub work: super::work::WorkView,
    pub contact: super::contact_panel::ContactPanel,
    pub templates: Vec<TemplateChoice>,
    pub flash: Option<Flash>,
    pub draft_text: String,
    /// The team's canned replies, filled in for this contact.
    pub canned: Vec<CannedChoice>,
    /// A fresh key per rendered form: a double submit sends once.
    pub idempotency_key: String,
}

const KNOWN_KINDS: &[&str] = &[
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "postback",
    "story_reply",
    "story_mention",
    "template",
    "unsupported",
];

fn ticks(state: &str) -> &'static str {
    match state {
        "sent" => "✓",
        "delivered" => "✓✓",
        "read" | "played" => "✓✓",
        "failed" => "⚠",
        _ => "○",
    }
}

/// `245 KB`, `1,2 MB`.
fn file_size(t: &Texts, bytes: i64) -> String {
    if bytes < 1024 * 1024 {
        format!("{} KB", (bytes + 1023) / 1024)
    } else {
        let mb = format!("{:.1}", bytes as f64 / (1024.0 * 1024.0));
        format!("{} MB", t.pick(&mb.replace('.', ","), &mb))
    }
}

fn message_view(
    t: &Texts,
    m: &MessageRow,
    thread: &[MessageRow],
    media: &[MediaRow],
    correction: Option<&CorrectionRow>,
    now: Timestamp,
) -> MessageView {
    let outbound = m.direction == Direction::Outbound.as_str();
    let quoted = m.reply_to.as_deref().map(|external| {
        thread
            .iter()
            .find(|other| other.external_id == external)
            .and_then(|other| other.body.clone())
            .map(|body| super::inbox::preview(&body))
            .unwrap_or_else(|| "…".to_owned())
    });
    let attachments = m
        .attachments
        .iter()
        .enumerate()
        .map(|(position, a)| {
            // Inbound files are fetched from Meta into the blob store; an
            // agent's upload is named by its hex SHA-256 already.
            let stored = media
                .iter()
                .find(|row| row.position == position as i64 && row.blob_sha256.is_some());
            let blob = stored.and_then(|row| row.blob_sha256.clone()).or_else(|| {
                a.sha256
                    .clone()
                    .filter(|sha| sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
            });
            let name = a
                .filename
                .clone()
                .unwrap_or_else(|| t.get(&format!("kind-{}", known_kind(&a.kind))));
            let label = match stored.and_then(|row| row.size) {
                Some(size) => format!("{name} · {}", file_size(t, size)),
                None => name,
            };
            AttachmentView {
                kind: a.kind.clone(),
                url: blob.map(|sha| format!("/files/{sha}")),
                label,
                caption: a.caption.clone().filter(|c| Some(c) != m.body.as_ref()),
            }
        })
        .collect();
    let location = m.location.as_ref().map(|place| LocationView {
        label: place
            .name
            .iter()
            .chain(place.address.iter())
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        map_url: place.map_url(),
        coords: format!("{:.5}, {:.5}", place.latitude, place.longitude),
    });
    let mut delivery_label = t.get(&format!("delivery-{}", m.delivery_state));
    if let resonanz_core::DeliveryState::Failed { code, title } = &m.delivery {
        delivery_label = format!("{delivery_label}: {title} ({code})");
    }
    MessageView {
        id: m.id.clone(),
        outbound,
        kind: m.kind.clone(),
        kind_key: known_kind(&m.kind).to_owned(),
        body: m.body.clone().filter(|b| !b.trim().is_empty()),
        quoted,
        attachments,
        location,
        reactions: m.reactions.iter().map(|r| r.emoji.clone()).collect(),
        delivery: m.delivery_state.clone(),
        delivery_label,
        ticks: ticks(&m.delivery_state),
        sentiment: correction
            .and_then(|c| Sentiment::ALL.into_iter().find(|s| s.as_str() == c.value))
            .or_else(|| m.analysis.as_ref().map(|a| a.sentiment))
            .filter(|_| !outbound)
            .map(Sentiment::as_str),
        corrected_by: correction.map(|c| c.agent_name.clone()),
        topics: m
            .analysis
            .as_ref()
            .filter(|_| !outbound)
            .map(|a| a.topics.iter().map(|id| t.topic(id)).collect())
            .unwrap_or_default(),
        time_label: format::short(Timestamp(m.sent_at), now),
        time_iso: Timestamp(m.sent_at).to_rfc3339(),
        at_ms: m.sent_at,
    }
}

fn known_kind(kind: &str) -> &str {
    if KNOWN_KINDS.contains(&kind) {
        kind
    } else {
        "unknown"
    }
}

fn pending_view(t: &Texts, row: &OutboxRow, now: Timestamp) -> PendingView {
    let payload = &row.payload;
    let text = payload
        .get("text")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            payload
                .get("name")
                .and_then(Value::as_str)
                .map(|name| format!("{}: {name}", t.get("kind-template")))
        })
        .unwrap_or_else(|| {
            let kind = payload
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            t.get(&format!("kind-{}", known_kind(kind)))
        });
    let state = row.state.as_str();
    PendingView {
        id: row.id.clone(),
        text,
        state,
        state_label: t.get(&format!("delivery-{state}")),
        reason: row
            .error
            .as_ref()
            .filter(|_| {
                matches!(
                    row.state,
                    OutboxState::Failed | OutboxState::Blocked | OutboxState::Queued
                )
            })
            .map(|e| t.pick(&e.de, &e.en).to_owned()),
        time_label: format::short(row.created_at, now),
        time_iso: row.created_at.to_rfc3339(),
    }
}

fn template_body(components: &[Value]) -> String {
    components
        .iter()
        .find(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|k| k.eq_ignore_ascii_case("body"))
        })
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct PaneQuery {
    #[serde(flatten)]
    pub filter: InboxFilter,
    /// The template chosen in the picker (`name|language`).
    pub template: Option<String>,
    /// Set after a send, to say so.
    pub sent: Option<String>,
    /// A canned reply to put in the composer (without script).
    pub canned: Option<i64>,
}

/// Reads everything the pane shows; `None` if there is no such conversation.
pub async fn load_pane(
    app: &AppState,
    t: &Texts,
    agent_name: &str,
    id: &str,
    chosen_template: Option<&str>,
) -> Result<Option<ConversationPane>, Response> {
    let store = &app.store;
    let Some(info) = store.conversation_info(id).await.map_err(store_failed)? else {
        return Ok(None);
    };
    let (contact, messages, unsent, consent_history, corrections) = tokio::try_join!(
        store.contact(&info.contact_id),
        store.conversation_messages(id),
        store.unsent_outbox(id),
        store.consent_history(&info.contact_id),
        store.corrections_in(id, "sentiment"),
    )
    .map_err(store_failed)?;
    let consent = resonanz_store::fold_consents(&consent_history, info.channel);
    let mut media = std::collections::HashMap::new();
    for message in messages.iter().filter(|m| !m.attachments.is_empty()) {
        let rows = store
            .media_of_message(&message.id)
            .await
            .map_err(store_failed)?;
        media.insert(message.id.clone(), rows);
    }
    let now = app.clock.now();
    let channel = info.channel.as_str().to_owned();
    let (channel_label, channel_short) = channel_names(&channel);
    let (window_label, window_class, window_closes_at) =
        window_badge(t, &channel, info.last_inbound_at.map(|at| at.0), now);
    let templates_only = window_closes_at.is_none() && info.channel == Channel::WhatsApp;
    let consent_label = match (consent.active_opt_out(), &consent.opt_in) {
        (Some(out), _) => t.arg("consent-opted-out", "when", format::datetime(out.at)),
        (None, Some(opt_in)) => {
            // The record itself says how it was given and what backs it.
            let record = consent_history.iter().rfind(|r| {
                r.channel == info.channel && r.kind == ConsentKind::OptIn && r.at == opt_in.at
            });
            let mut args = fluent_bundle::FluentArgs::new();
            args.set("who", opt_in.recorded_by.clone());
            args.set("when", format::datetime(opt_in.at));
            args.set(
                "how",
                record.map_or(opt_in.method.clone(), |r| r.source.clone()),
            );
            match record.and_then(|r| r.evidence.clone()) {
                Some(evidence) => {
                    args.set("evidence", evidence);
                    t.with_args("consent-opted-in-evidence", &args)
                }
                None => t.with_args("consent-opted-in", &args),
            }
        }
        (None, None) => t.get("consent-none"),
    };
    let mut templates = Vec::new();
    if templates_only
        && let Some(account) = app
            .settings
            .meta
            .whatsapp
            .iter()
            .find(|a| a.phone_number_id == info.account)
    {
        let marketing_allowed = app.settings.outbound.marketing_templates_allowed;
        for cached in store
            .templates(&account.waba_id)
            .await
            .map_err(store_failed)?
        {
            if cached.status != TemplateStatus::Approved
                || (cached.category == Some(TemplateCategory::Marketing) && !marketing_allowed)
            {
                continue;
            }
            let body = template_body(&cached.components);
            let category = cached
                .category
                .map(|c| c.as_str())
                .unwrap_or("?")
                .to_owned();
            templates.push(TemplateChoice {
                key: format!("{}|{}", cached.name, cached.language),
                variables: variable_names(&body),
                charge_note: t.arg("charge-billed", "category", category.as_str()),
                name: cached.name,
                language: cached.language,
                category,
                body,
                selected: false,
            });
        }
        let chosen = templates
            .iter()
            .position(|tpl| Some(tpl.key.as_str()) == chosen_template)
            .unwrap_or(0);
        if let Some(tpl) = templates.get_mut(chosen) {
            tpl.selected = true;
        }
    }
    let mut timeline: Vec<ThreadItem> = messages
        .iter()
        .map(|m| {
            let files = media.get(&m.id).map(Vec::as_slice).unwrap_or(&[]);
            let correction = corrections.iter().find(|c| c.message_id == m.id);
            ThreadItem::Message(Box::new(message_view(
                t, m, &messages, files, correction, now,
            )))
        })
        .collect();
    let (work, activity) = super::work::load(app, t, id, now).await?;
    timeline.extend(activity.into_iter().map(ThreadItem::Activity));
    // Stable: at equal times messages stay before the team's activity.
    timeline.sort_by_key(ThreadItem::at);
    let panel = super::contact_panel::load(
        app,
        t,
        contact.as_ref(),
        &info.contact_id,
        &info.id,
        consent_label.clone(),
    )
    .await?;
    let contact_name = contact_label(
        contact.as_ref().and_then(|c| c.display_name.as_deref()),
        &info.contact_id,
    );
    let canned = store
        .canned_replies()
        .await
        .map_err(store_failed)?
        .into_iter()
        .map(|reply| CannedChoice {
            id: reply.id,
            text: crate::workflow::render_canned(&reply.body, &contact_name, agent_name),
            title: reply.title,
        })
        .collect();
    let identities = contact
        .as_ref()
        .map(|c| c.identities.iter().map(|i| i.value.clone()).collect())
        .unwrap_or_default();
    Ok(Some(ConversationPane {
        id: info.id.clone(),
        contact_name: contact_label(
            contact.as_ref().and_then(|c| c.display_name.as_deref()),
            &info.contact_id,
        ),
        channel,
        channel_label,
        channel_short,
        identities,
        consent_label,
        window_label,
        window_class,
        window_closes_at,
        templates_only,
        timeline,
        work,
        contact: panel,
        pending: unsent.iter().map(|row| pending_view(t, row, now)).collect(),
        templates,
        flash: None,
        draft_text: String::new(),
        canned,
        idempotency_key: new_token(),
    }))
}

fn no_such_conversation(t: &Texts) -> Response {
    (
        StatusCode::NOT_FOUND,
        t.pick(
            "Diese Unterhaltung gibt es nicht.",
            "There is no such conversation.",
        )
        .to_owned(),
    )
        .into_response()
}

pub async fn render_page(
    app: &AppState,
    session: &WebSession,
    id: &str,
    query: PaneQuery,
    adjust: impl FnOnce(&mut ConversationPane),
) -> Response {
    let t = session.texts;
    let pane = match load_pane(app, &t, &session.agent.name, id, query.template.as_deref()).await {
        Ok(Some(pane)) => pane,
        Ok(None) => return no_such_conversation(&t),
        Err(failed) => return failed,
    };
    let mut pane = pane;
    if query.sent.is_some() {
        pane.flash = Some(Flash::ok(t.get("composer-queued")));
    }
    if let Some(chosen) = query.canned
        && let Some(reply) = pane.canned.iter().find(|c| c.id == chosen)
    {
        pane.draft_text = reply.text.clone();
    }
    adjust(&mut pane);
    let list = match load_list(app, session, query.filter, Some(id)).await {
        Ok(list) => list,
        Err(failed) => return failed,
    };
    render(&InboxPage {
        chrome: session.chrome("inbox"),
        filter: list.filter,
        rows: list.rows,
        next: list.next,
        counts: list.counts,
        pane: Some(pane),
    })
}

pub async fn page(
    State(app): State<AppState>,
    mut session: WebSession,
    Path(id): Path<String>,
    Query(query): Query<PaneQuery>,
) -> Response {
    // Opening the conversation is reading the notes that mention the agent.
    match app
        .store
        .read_notifications(&session.agent.id, &id, app.clock.now())
        .await
    {
        Ok(read) => session.unread_mentions = (session.unread_mentions - read as i64).max(0),
        Err(err) => tracing::warn!(error = %err, "could not mark mentions read"),
    }
    render_page(&app, &session, &id, query, |_| {}).await
}

#[derive(Template)]
#[template(path = "partials/thread.html")]
struct ThreadPartial {
    chrome: Chrome,
    pane: ConversationPane,
}

pub async fn thread(
    State(app): State<AppState>,
    session: WebSession,
    Path(id): Path<String>,
) -> Response {
    match load_pane(&app, &session.texts, &session.agent.name, &id, None).await {
        Ok(Some(pane)) => render(&ThreadPartial {
            chrome: session.chrome("inbox"),
            pane,
        }),
        Ok(None) => no_such_conversation(&session.texts),
        Err(failed) => failed,
    }
}

#[derive(Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    csrf: String,
    key: String,
    text: String,
}

/// What the API said about a send, for the page.
enum SendResult {
    Queued,
    Refused(String),
}

async fn send(
    app: &AppState,
    session: &WebSession,
    id: &str,
    key: &str,
    address: &str,
    draft: Value,
) -> Result<SendResult, Response> {
    let envelope: DraftEnvelope = match serde_json::from_value(draft) {
        Ok(envelope) => envelope,
        Err(err) => return Ok(SendResult::Refused(err.to_string())),
    };
    let agent = Agent(session.agent.clone());
    let key = Some(key.trim()).filter(|k| !k.is_empty() && k.len() <= 200);
    let response = match queue_send(app, &agent, id, key, address, envelope).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    };
    let status = response.status();
    if status.is_success() {
        return Ok(SendResult::Queued);
    }
    if status == StatusCode::NOT_FOUND {
        return Err(no_such_conversation(&session.texts));
    }
    // The API's problem document says why, in German and English.
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let problem: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let t = session.texts;
    let text = |key_de: &str, key_en: &str| {
        problem
            .get(t.pick(key_de, key_en))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let reason = text("de", "en")
        .or_else(|| text("title_de", "title"))
        .unwrap_or_else(|| status.to_string());
    Ok(SendResult::Refused(reason))
}

pub async fn reply(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    Path(id): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Response {
    if let Err(refused) = session
        .check_csrf(&form.csrf)
        .and_then(|_| session.check_can_write())
    {
        return refused.into_response();
    }
    let draft = json!({"type": "text", "text": form.text});
    match send(&app, &session, &id, &form.key, &address, draft).await {
        Ok(SendResult::Queued) => {
            Redirect::to(&format!("/inbox/{id}?sent=1#composer")).into_response()
        }
        Ok(SendResult::Refused(reason)) => {
            let page = render_page(&app, &session, &id, PaneQuery::default(), |pane| {
                pane.flash = Some(Flash::error(reason));
                pane.draft_text = form.text.clone();
            })
            .await;
            (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
        }
        Err(response) => response,
    }
}

/// `POST /inbox/{id}/template`: `csrf`, `key`, `template` (`name|language`)
/// and one `var` per variable, in order.
pub async fn send_template(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    if let Err(refused) = session
        .check_csrf(field("csrf"))
        .and_then(|_| session.check_can_write())
    {
        return refused.into_response();
    }
    let chosen = field("template").to_owned();
    let (name, language) = chosen.split_once('|').unwrap_or((chosen.as_str(), "de"));
    let variables: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "var")
        .map(|(_, v)| v.as_str())
        .collect();
    // The names come from the template itself, so a named variable goes back by name.
    let names = match load_pane(
        &app,
        &session.texts,
        &session.agent.name,
        &id,
        Some(&chosen),
    )
    .await
    {
        Ok(Some(pane)) => pane
            .templates
            .into_iter()
            .find(|tpl| tpl.key == chosen)
            .map(|tpl| tpl.variables)
            .unwrap_or_default(),
        Ok(None) => return no_such_conversation(&session.texts),
        Err(failed) => return failed,
    };
    let body: Vec<Value> = variables
        .iter()
        .enumerate()
        .map(|(i, text)| match names.get(i) {
            Some(name) if !name.chars().all(|c| c.is_ascii_digit()) => {
                json!({"name": name, "text": text})
            }
            _ => json!(text),
        })
        .collect();
    let draft = json!({"type": "template", "name": name, "language": language, "body": body});
    match send(&app, &session, &id, field("key"), &address, draft).await {
        Ok(SendResult::Queued) => {
            Redirect::to(&format!("/inbox/{id}?sent=1#composer")).into_response()
        }
        Ok(SendResult::Refused(reason)) => {
            let query = PaneQuery {
                template: Some(chosen.clone()),
                ..PaneQuery::default()
            };
            let page = render_page(&app, &session, &id, query, |pane| {
                pane.flash = Some(Flash::error(reason));
            })
            .await;
            (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
        }
        Err(response) => response,
    }
}
