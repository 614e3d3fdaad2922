//! The agents' JSON API for outbound work: send, mark read, window, consent,
//! outbox state, templates and click-to-chat. Every request is authenticated
//! (bearer API token or session token) except the login itself; template
//! management needs the admin role. Errors are `application/problem+json`.

use crate::accounts::{self, ClientAddress, LoginRefused};
use crate::app::AppState;
use crate::outbound::auth::{self, Agent};
use crate::outbound::{self, graph_client};
use crate::problem::Problem;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use resonanz_channels::click_to_chat;
use resonanz_channels::outbound::SendError;
use resonanz_channels::templates::{
    NewTemplate, ParameterFormat, TemplateIssue, validate_template,
};
use resonanz_core::analysis::Sentiment;
use resonanz_core::rules::{
    self, HUMAN_AGENT_WINDOW_MS, TemplateCategory, WindowState, service_window,
};
use resonanz_core::{Channel, ConversationStatus, Direction, MessageId, Timestamp};
use resonanz_store::{
    Assignee, ConsentKind, ConsentRecord, ConversationFilter, ConversationRow, OutboxRow, Role,
};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/sessions", post(login))
        .route("/api/conversations", get(list_conversations))
        .route("/api/contacts/{id}", get(contact_timeline))
        .route(
            "/api/conversations/{id}/messages",
            post(super::send::send_message).get(conversation_messages),
        )
        .route("/api/conversations/{id}/window", get(window))
        .route("/api/messages/{id}/read", post(mark_read))
        .route(
            "/api/contacts/{id}/consents",
            post(add_consent).get(list_consents),
        )
        .route("/api/outbox/{id}", get(outbox))
        .route("/api/templates", get(list_templates).post(create_template))
        .route("/api/templates/sync", post(sync_templates))
        .route(
            "/api/templates/{name}",
            axum::routing::delete(delete_template),
        )
        .route("/api/click-to-chat", get(click_to_chat_code))
        .merge(super::uploads::routes())
}

pub(crate) type ApiResult = Result<Response, Problem>;

pub(crate) fn internal(err: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %err, "API request failed");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        "Interner Fehler",
        "the request could not be completed; see the server log",
    )
}

/// 404 unless the conversation exists.
pub(crate) async fn require_conversation(
    app: &AppState,
    id: &str,
) -> Result<resonanz_store::ConversationInfo, Problem> {
    app.store
        .conversation_info(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("conversation", id))
}

pub(crate) fn not_found(what: &str, id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        "Nicht gefunden",
        format!("no {what} {id}"),
    )
}

pub(crate) fn bad_json(rejection: JsonRejection) -> Problem {
    Problem::new(
        rejection.status(),
        "invalid-body",
        "The request body is not valid",
        "Der Inhalt der Anfrage ist ungültig",
        rejection.body_text(),
    )
}

pub(crate) fn unprocessable(slug: &str, en: &str, de: &str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, slug, en, de, detail)
}

/// A problem document with extension members (RFC 9457 §3.2).
pub(crate) fn problem_with(problem: Problem, extra: Value) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = serde_json::to_value(&problem).unwrap_or_else(|_| json!({}));
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn meta_problem(err: &SendError) -> Response {
    problem_with(
        Problem::new(
            StatusCode::BAD_GATEWAY,
            "meta-error",
            "Meta refused the request",
            "Meta hat die Anfrage abgelehnt",
            err.to_string(),
        ),
        json!({"code": err.code, "de": err.explain_de(), "en": err.explain_en()}),
    )
}

pub(crate) fn rfc3339(ts: Option<Timestamp>) -> Value {
    ts.map(|t| json!(t.to_rfc3339())).unwrap_or(Value::Null)
}

pub(crate) fn outbox_view(row: &OutboxRow) -> Value {
    json!({
        "id": row.id,
        "state": row.state,
        "conversation_id": row.conversation_id,
        "contact_id": row.contact_id,
        "channel": row.channel,
        "type": row.payload.get("type"),
        "attempts": row.attempts,
        "next_attempt_at": rfc3339(Some(row.next_attempt_at)),
        "external_id": row.external_id,
        "message_id": row.external_id.as_ref().map(|e| MessageId::derive(&[row.channel.as_str(), e])),
        "error": row.error,
        "created_by": row.created_by,
        "created_at": rfc3339(Some(row.created_at)),
        "updated_at": rfc3339(Some(row.updated_at)),
    })
}

#[derive(Deserialize)]
struct Login {
    name: String,
    password: String,
}

/// `POST /api/sessions`: name and password for a session token.
async fn login(
    State(app): State<AppState>,
    ClientAddress(address): ClientAddress,
    body: Result<Json<Login>, JsonRejection>,
) -> ApiResult {
    let Json(login) = body.map_err(bad_json)?;
    let session = match accounts::login(&app, &login.name, &login.password, &address).await {
        Ok(session) => session,
        Err(LoginRefused::Wrong) => {
            return Err(Problem::new(
                StatusCode::UNAUTHORIZED,
                "login-failed",
                "Name or password is wrong",
                "Name oder Passwort ist falsch",
                "login refused",
            ));
        }
        Err(LoginRefused::Throttled { retry_after_secs }) => {
            let mut response = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "login-throttled",
                "Too many failed logins; try again later",
                "Zu viele fehlgeschlagene Anmeldungen; bitte später erneut versuchen",
                format!("retry after {retry_after_secs} s"),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
            return Ok(response);
        }
        Err(err) => return Err(internal(err)),
    };
    let agent = &session.agent;
    Ok((
        StatusCode::CREATED,
        [(
            header::SET_COOKIE,
            auth::session_cookie_header(&session.token, session.max_age_secs),
        )],
        Json(json!({
            "token": session.token,
            "expires_at": session.expires_at.to_rfc3339(),
            "agent": {"id": agent.id, "name": agent.name, "role": agent.role},
        })),
    )
        .into_response())
}

/// `GET /api/conversations/{id}/messages`: the thread with delivery states.
async fn conversation_messages(
    State(app): State<AppState>,
    _agent: Agent,
    Path(id): Path<String>,
) -> ApiResult {
    super::api::require_conversation(&app, &id).await?;
    let messages = app
        .store
        .conversation_messages(&id)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "messages": messages })).into_response())
}

/// (open, closes at, closed at) of the 24-hour service window.
pub(crate) fn window_times(
    last_inbound_at: Option<Timestamp>,
    now: Timestamp,
) -> (bool, Option<Timestamp>, Option<Timestamp>) {
    match service_window(last_inbound_at, now) {
        WindowState::Open { closes_at } => (true, Some(closes_at), None),
        WindowState::Closed { closed_at } => (false, None, closed_at),
    }
}

/// `?limit=&before=` of a keyset-paged list.
#[derive(Deserialize)]
struct PageQuery {
    limit: Option<i64>,
    /// The previous page's `next`.
    before: Option<String>,
}

/// Not `PageQuery` flattened: serde_urlencoded reads numbers inside a
/// flattened struct as strings and refuses them.
#[derive(Deserialize)]
struct InboxQuery {
    limit: Option<i64>,
    before: Option<String>,
    /// `whatsapp`, `messenger` or `instagram`.
    channel: Option<String>,
    /// Only conversations whose newest message is the customer's.
    awaiting_reply: Option<bool>,
    /// `open`, `pending`, `snoozed`, `resolved` (as the team sees it now); all when absent.
    status: Option<String>,
    /// `me`, `none` or an agent's id; anyone's when absent.
    assignee: Option<String>,
    /// `negative`, `neutral`, `positive`: the newest message's sentiment.
    sentiment: Option<String>,
    /// Only those whose 24-hour window closes within two hours.
    window_closing: Option<bool>,
}

const PAGE_SIZE: i64 = 50;
const PAGE_SIZE_MAX: i64 = 200;

pub(crate) fn invalid_query(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-query",
        "The query is not valid",
        "Die Abfrage ist ungültig",
        detail,
    )
}

/// A page cursor: the last row's message time (ms) and id. Keyset paging
/// stays stable while new messages move conversations to the top.
pub(crate) fn page_cursor(last_message_at: i64, id: &str) -> String {
    format!("{last_message_at}.{id}")
}

pub(crate) fn parse_page_cursor(cursor: &str) -> Result<(i64, &str), Problem> {
    cursor
        .split_once('.')
        .and_then(|(at, id)| Some((at.parse().ok()?, id)))
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| invalid_query(format!("`before` is not a cursor from `next`: {cursor:?}")))
}

fn page_limit(limit: Option<i64>) -> Result<i64, Problem> {
    let limit = limit.unwrap_or(PAGE_SIZE);
    if !(1..=PAGE_SIZE_MAX).contains(&limit) {
        return Err(invalid_query(format!(
            "`limit` must be 1 to {PAGE_SIZE_MAX}, not {limit}"
        )));
    }
    Ok(limit)
}

/// One inbox line: contact, newest message, who owes an answer, the window.
fn conversation_view(row: &ConversationRow, now: Timestamp) -> Value {
    let last_inbound_at = row.last_inbound_at.map(Timestamp);
    let (open, closes_at, _) = window_times(last_inbound_at, now);
    json!({
        "id": row.id,
        "channel": row.channel,
        "account": row.account,
        "contact": {"id": row.contact_id, "name": row.contact_name},
        "last_message_at": rfc3339(Some(Timestamp(row.last_message_at))),
        "last_inbound_at": rfc3339(last_inbound_at),
        "last_message": row.last_message.as_ref().map(|last| json!({
            "id": last.id,
            "direction": last.direction,
            "kind": last.kind,
            "body": last.body,
            "sent_at": rfc3339(Some(Timestamp(last.sent_at))),
            "sentiment": last.sentiment,
        })),
        // The customer wrote last: someone on the team owes an answer.
        "awaiting_reply": row.last_message.as_ref().is_some_and(|last| last.direction == Direction::Inbound.as_str()),
        "waiting_since": rfc3339(row.waiting_since.map(Timestamp)),
        "window": {"open": open, "closes_at": rfc3339(closes_at)},
        "templates_only": !open && row.channel == Channel::WhatsApp.as_str(),
        "status": row.status,
        "assignee": row.assignee_id.as_ref().map(|id| json!({"id": id, "name": row.assignee_name})),
    })
}

/// `GET /api/contacts/{id}`: the CRM view of one person: their identities on
/// every channel, their conversations with each window, and the timeline of
/// messages over all channels, newest first; `next` fetches older ones.
async fn contact_timeline(
    State(app): State<AppState>,
    _agent: Agent,
    Path(id): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query.map_err(|rejection| invalid_query(rejection.body_text()))?;
    let limit = page_limit(query.limit)?;
    let before = query.before.as_deref().map(parse_page_cursor).transpose()?;
    let contact = app
        .store
        .contact(&id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("contact", &id))?;
    let conversations = app
        .store
        .conversations(
            PAGE_SIZE_MAX,
            &ConversationFilter {
                contact_id: Some(&id),
                now: app.clock.now().0,
                ..ConversationFilter::default()
            },
        )
        .await
        .map_err(internal)?;
    let timeline = app
        .store
        .contact_messages(&id, limit, before)
        .await
        .map_err(internal)?;
    let now = app.clock.now();
    let next = timeline
        .last()
        .filter(|_| timeline.len() as i64 == limit)
        .map(|message| page_cursor(message.sent_at, &message.id));
    Ok(Json(json!({
        "id": contact.id,
        "name": contact.display_name,
        "identities": contact.identities,
        "conversations": conversations.iter().map(|row| conversation_view(row, now)).collect::<Vec<_>>(),
        "timeline": timeline,
        "next": next,
    }))
    .into_response())
}

/// `GET /api/conversations`: the inbox, newest message first, with each
/// conversation's contact and 24-hour window; `next` fetches the next page.
async fn list_conversations(
    State(app): State<AppState>,
    agent: Agent,
    query: Result<Query<InboxQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query.map_err(|rejection| invalid_query(rejection.body_text()))?;
    let limit = page_limit(query.limit)?;
    let channel = query
        .channel
        .as_deref()
        .map(|name| {
            name.parse::<Channel>()
                .map_err(|_| invalid_query(format!("unknown channel {name:?}")))
        })
        .transpose()?;
    let status = query
        .status
        .as_deref()
        .map(|name| {
            name.parse::<ConversationStatus>()
                .map_err(|_| invalid_query(format!("unknown status {name:?}")))
        })
        .transpose()?;
    let assignee = match query.assignee.as_deref() {
        None => Assignee::Anyone,
        Some("none") => Assignee::Nobody,
        Some("me") => Assignee::Agent(&agent.0.id),
        Some(id) => Assignee::Agent(id),
    };
    let sentiment = query
        .sentiment
        .as_deref()
        .map(|name| {
            Sentiment::ALL
                .into_iter()
                .find(|s| s.as_str() == name)
                .ok_or_else(|| invalid_query(format!("unknown sentiment {name:?}")))
        })
        .transpose()?;
    let now = app.clock.now().0;
    let filter = ConversationFilter {
        channel,
        sentiment,
        last_inbound_between: query.window_closing.unwrap_or(false).then_some((
            now - rules::SERVICE_WINDOW_MS,
            now - rules::SERVICE_WINDOW_MS + 2 * 3_600_000,
        )),
        awaiting_reply: query.awaiting_reply.unwrap_or(false),
        before: query.before.as_deref().map(parse_page_cursor).transpose()?,
        status,
        assignee,
        now: app.clock.now().0,
        ..ConversationFilter::default()
    };
    let rows = app
        .store
        .conversations(limit, &filter)
        .await
        .map_err(internal)?;
    let now = app.clock.now();
    let conversations: Vec<Value> = rows.iter().map(|row| conversation_view(row, now)).collect();
    let next = rows
        .last()
        .filter(|_| rows.len() as i64 == limit)
        .map(|row| page_cursor(row.last_message_at, &row.id));
    Ok(Json(json!({ "conversations": conversations, "next": next })).into_response())
}

/// `GET /api/conversations/{id}/window`: is free-form possible, and until when.
async fn window(State(app): State<AppState>, _agent: Agent, Path(id): Path<String>) -> ApiResult {
    let conversation = app
        .store
        .conversation_info(&id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("conversation", &id))?;
    let now = app.clock.now();
    let (open, closes_at, closed_at) = window_times(conversation.last_inbound_at, now);
    let free_entry_until = match conversation.channel {
        Channel::WhatsApp => rules::free_entry_until(conversation.free_entry_opened_at, now),
        _ => None,
    };
    let human_agent_until = match conversation.channel {
        Channel::WhatsApp => None,
        _ => conversation
            .last_inbound_at
            .map(|t| t.plus_millis(HUMAN_AGENT_WINDOW_MS))
            .filter(|until| *until > now),
    };
    Ok(Json(json!({
        "conversation_id": conversation.id,
        "channel": conversation.channel,
        "open": open,
        "closes_at": rfc3339(closes_at),
        "closed_at": rfc3339(closed_at),
        "last_inbound_at": rfc3339(conversation.last_inbound_at),
        "human_agent_until": rfc3339(human_agent_until),
        // Until then every message, templates too, is free (72 h after an ad or button).
        "free_entry_until": rfc3339(free_entry_until),
        "templates_only": !open && conversation.channel == Channel::WhatsApp,
        "now": now.to_rfc3339(),
    }))
    .into_response())
}

/// `POST /api/messages/{id}/read`: blue ticks for a customer's message.
async fn mark_read(State(app): State<AppState>, agent: Agent, Path(id): Path<String>) -> ApiResult {
    agent.require(Role::Agent)?;
    let message = app
        .store
        .message_ref(&id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("message", &id))?;
    if message.direction != "in" {
        return Err(unprocessable(
            "not-inbound",
            "Only customer messages can be marked as read",
            "Nur Kundennachrichten können als gelesen markiert werden",
            "the message is outbound",
        ));
    }
    let client = graph_client(&app.settings, &message.account).map_err(internal)?;
    let result = match message.channel {
        Channel::WhatsApp => {
            client
                .mark_read(&message.account, &message.external_id)
                .await
        }
        _ => {
            let conversation = app
                .store
                .conversation_info(&message.conversation_id)
                .await
                .map_err(internal)?
                .ok_or_else(|| not_found("conversation", &message.conversation_id))?;
            let Some(recipient) = conversation.recipient() else {
                return Err(not_found("recipient for", &message.conversation_id));
            };
            client.mark_seen(&message.account, &recipient.value).await
        }
    };
    match result {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(err) => Ok(meta_problem(&err)),
    }
}

#[derive(Deserialize)]
struct ConsentBody {
    /// `opt_in`, `opt_out` or `block`.
    kind: String,
    #[serde(default)]
    channel: Option<Channel>,
    /// How it was given: "Webformular", "Telefonat", "Beratungsprotokoll" …
    #[serde(default)]
    method: Option<String>,
    /// Free text or a document reference backing the record.
    #[serde(default)]
    evidence: Option<String>,
    /// When it was given (RFC 3339); defaults to now.
    #[serde(default)]
    at: Option<String>,
}

fn consent_view(records: &[ConsentRecord]) -> Value {
    let mut channels = serde_json::Map::new();
    for channel in Channel::ALL {
        let consent = resonanz_store::fold_consents(records, *channel);
        channels.insert(
            channel.as_str().to_owned(),
            json!({
                "opted_in": consent.active_opt_in().is_some(),
                "opted_out": consent.active_opt_out().is_some(),
                "opt_in": consent.opt_in,
                "opt_out": consent.opt_out,
            }),
        );
    }
    json!({ "history": records, "current": channels })
}

/// `POST /api/contacts/{id}/consents`: records an opt-in (with how and
/// when), an opt-out or a block. History is kept; the newest record wins.
async fn add_consent(
    State(app): State<AppState>,
    agent: Agent,
    Path(contact_id): Path<String>,
    body: Result<Json<ConsentBody>, JsonRejection>,
) -> ApiResult {
    agent.require(Role::Agent)?;
    let Json(body) = body.map_err(bad_json)?;
    if !app
        .store
        .contact_exists(&contact_id)
        .await
        .map_err(internal)?
    {
        return Err(not_found("contact", &contact_id));
    }
    let kind = match body.kind.as_str() {
        "opt_in" => ConsentKind::OptIn,
        "opt_out" => ConsentKind::OptOut,
        "block" => ConsentKind::Block,
        other => {
            return Err(unprocessable(
                "invalid-consent",
                "kind must be opt_in, opt_out or block",
                "kind muss opt_in, opt_out oder block sein",
                format!("unknown kind {other:?}"),
            ));
        }
    };
    let method = body
        .method
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty());
    if kind == ConsentKind::OptIn && method.is_none() {
        return Err(unprocessable(
            "opt-in-without-method",
            "An opt-in needs the way it was given (method)",
            "Für eine Einwilligung muss angegeben werden, wie sie erteilt wurde (method)",
            "method is required for opt_in",
        ));
    }
    let at = match body.at.as_deref() {
        Some(text) => Timestamp::parse(text).ok_or_else(|| {
            unprocessable(
                "invalid-time",
                "at must be an RFC 3339 time",
                "at muss eine Zeit im Format RFC 3339 sein",
                text.to_owned(),
            )
        })?,
        None => app.clock.now(),
    };
    let record = ConsentRecord {
        contact_id: contact_id.clone(),
        channel: body.channel.unwrap_or(Channel::WhatsApp),
        kind,
        source: method.unwrap_or_else(|| "agent".into()),
        recorded_by: agent.0.name.clone(),
        at,
        evidence: body.evidence,
        origin: None,
    };
    app.store.record_consent(&record).await.map_err(internal)?;
    tracing::info!(contact_id, kind = kind.as_str(), "consent recorded");
    let history = app
        .store
        .consent_history(&contact_id)
        .await
        .map_err(internal)?;
    Ok((StatusCode::CREATED, Json(consent_view(&history))).into_response())
}

async fn list_consents(
    State(app): State<AppState>,
    _agent: Agent,
    Path(contact_id): Path<String>,
) -> ApiResult {
    if !app
        .store
        .contact_exists(&contact_id)
        .await
        .map_err(internal)?
    {
        return Err(not_found("contact", &contact_id));
    }
    outbound::catch_up(&app).await.map_err(internal)?;
    let history = app
        .store
        .consent_history(&contact_id)
        .await
        .map_err(internal)?;
    Ok(Json(consent_view(&history)).into_response())
}

/// `GET /api/outbox/{id}`: state, attempts and the error with explanations.
async fn outbox(State(app): State<AppState>, _agent: Agent, Path(id): Path<String>) -> ApiResult {
    let row = app
        .store
        .outbox(&id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("outbox entry", &id))?;
    Ok(Json(outbox_view(&row)).into_response())
}

#[derive(Deserialize)]
struct AccountQuery {
    /// WhatsApp phone number id; the first configured one by default.
    phone_number_id: Option<String>,
}

fn whatsapp_account<'a>(
    app: &'a AppState,
    phone_number_id: Option<&str>,
) -> Result<&'a crate::config::WhatsAppAccount, Problem> {
    let accounts = &app.settings.meta.whatsapp;
    match phone_number_id {
        Some(id) => accounts.iter().find(|a| a.phone_number_id == id),
        None => accounts.first(),
    }
    .ok_or_else(|| {
        not_found(
            "WhatsApp account",
            phone_number_id.unwrap_or("(none configured)"),
        )
    })
}

async fn list_templates(
    State(app): State<AppState>,
    _agent: Agent,
    Query(query): Query<AccountQuery>,
) -> ApiResult {
    let account = whatsapp_account(&app, query.phone_number_id.as_deref())?;
    let templates = app
        .store
        .templates(&account.waba_id)
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "templates": templates })).into_response())
}

/// `POST /api/templates/sync`: pulls every template (all pages) into the cache.
async fn sync_templates(
    State(app): State<AppState>,
    agent: Agent,
    Query(query): Query<AccountQuery>,
) -> ApiResult {
    agent.require(Role::Admin)?;
    let account = whatsapp_account(&app, query.phone_number_id.as_deref())?;
    match outbound::sync_templates(&app, &account.waba_id, &account.phone_number_id).await {
        Ok(count) => {
            let templates = app
                .store
                .templates(&account.waba_id)
                .await
                .map_err(internal)?;
            Ok(Json(json!({ "synced": count, "templates": templates })).into_response())
        }
        Err(err) => match err.downcast_ref::<SendError>() {
            Some(send) => Ok(meta_problem(send)),
            None => Err(internal(err)),
        },
    }
}

#[derive(Deserialize)]
struct DeleteTemplateQuery {
    phone_number_id: Option<String>,
    /// Meta's template id: only that language; without it every language goes.
    id: Option<String>,
}

/// `DELETE /api/templates/{name}`: deletes at Meta first, then from the cache.
async fn delete_template(
    State(app): State<AppState>,
    agent: Agent,
    Path(name): Path<String>,
    Query(query): Query<DeleteTemplateQuery>,
) -> ApiResult {
    agent.require(Role::Admin)?;
    let account = whatsapp_account(&app, query.phone_number_id.as_deref())?.clone();
    let client = graph_client(&app.settings, &account.phone_number_id).map_err(internal)?;
    if let Err(err) = client
        .delete_template(&account.waba_id, &name, query.id.as_deref())
        .await
    {
        return Ok(meta_problem(&err));
    }
    let removed = app
        .store
        .delete_templates(&account.waba_id, &name, query.id.as_deref())
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "deleted": name, "removed_from_cache": removed })).into_response())
}

#[derive(Deserialize)]
struct TemplateBody {
    phone_number_id: Option<String>,
    name: String,
    #[serde(default = "german")]
    language: String,
    category: String,
    #[serde(default)]
    parameter_format: Option<String>,
    components: Vec<Value>,
}

fn german() -> String {
    "de".into()
}

fn issue_view(issue: &TemplateIssue) -> Value {
    json!({"issue": issue, "de": issue.message_de(), "en": issue.to_string()})
}

/// `POST /api/templates`: validates variables and examples, flags a body
/// that reads as promotion, refuses MARKETING when switched off, then submits.
async fn create_template(
    State(app): State<AppState>,
    agent: Agent,
    body: Result<Json<TemplateBody>, JsonRejection>,
) -> ApiResult {
    agent.require(Role::Admin)?;
    let Json(body) = body.map_err(bad_json)?;
    let account = whatsapp_account(&app, body.phone_number_id.as_deref())?.clone();
    let category: TemplateCategory = body.category.parse().map_err(|_| {
        unprocessable(
            "invalid-category",
            "category must be MARKETING, UTILITY or AUTHENTICATION",
            "category muss MARKETING, UTILITY oder AUTHENTICATION sein",
            body.category.clone(),
        )
    })?;
    if category == TemplateCategory::Marketing && !app.settings.outbound.marketing_templates_allowed
    {
        return Err(unprocessable(
            "marketing-disabled",
            "Marketing templates are switched off for this installation",
            "Marketing-Vorlagen sind für diese Installation abgeschaltet",
            "set [outbound] marketing_templates_allowed = true to allow them",
        ));
    }
    let template = NewTemplate {
        name: body.name,
        language: body.language,
        category,
        parameter_format: match body.parameter_format.as_deref() {
            Some("named") => ParameterFormat::Named,
            _ => ParameterFormat::Positional,
        },
        components: body.components,
    };
    let issues = validate_template(&template);
    if !issues.is_empty() {
        return Ok(problem_with(
            unprocessable(
                "invalid-template",
                "The template would be rejected",
                "Die Vorlage würde abgelehnt",
                issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            json!({ "issues": issues.iter().map(issue_view).collect::<Vec<_>>() }),
        ));
    }
    let client = graph_client(&app.settings, &account.phone_number_id).map_err(internal)?;
    let created = match client.create_template(&account.waba_id, &template).await {
        Ok(created) => created,
        Err(err) => return Ok(meta_problem(&err)),
    };
    let now = app.clock.now();
    app.store
        .upsert_template(&resonanz_store::CachedTemplate {
            waba_id: account.waba_id.clone(),
            name: template.name.clone(),
            language: template.language.clone(),
            template_id: Some(created.id.clone()),
            category: created.category.or(Some(category)),
            status: created.status.clone(),
            components: template.components.clone(),
            updated_at: now,
        })
        .await
        .map_err(internal)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": created.id,
            "name": template.name,
            "language": template.language,
            "status": created.status,
            "category": created.category.or(Some(category)),
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct ClickToChatQuery {
    text: Option<String>,
    /// `svg`, `png` or `link` (default).
    format: Option<String>,
    /// The business number; the first configured WhatsApp number by default.
    number: Option<String>,
}

/// `GET /api/click-to-chat?text=…&format=svg|png|link`: a wa.me link and its QR code.
async fn click_to_chat_code(
    State(app): State<AppState>,
    _agent: Agent,
    Query(query): Query<ClickToChatQuery>,
) -> ApiResult {
    let number = match query.number {
        Some(number) => number,
        None => whatsapp_account(&app, None)?.display_phone_number.clone(),
    };
    let link = click_to_chat::wa_me_link(
        &number,
        &app.settings.outbound.default_country,
        query.text.as_deref(),
    )
    .map_err(|e| {
        unprocessable(
            "invalid-number",
            "Not a phone number",
            "Keine Telefonnummer",
            e.to_string(),
        )
    })?;
    let too_long = |e: click_to_chat::ClickToChatError| {
        unprocessable(
            "qr-too-long",
            "The text is too long for a QR code",
            "Der Text ist zu lang für einen QR-Code",
            e.to_string(),
        )
    };
    match query.format.as_deref().unwrap_or("link") {
        "svg" => {
            let svg = click_to_chat::qr_svg(&link, 256).map_err(too_long)?;
            Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
        }
        "png" => {
            let png = click_to_chat::qr_png(&link, 8).map_err(too_long)?;
            Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
        }
        "link" => Ok(Json(json!({ "link": link })).into_response()),
        other => Err(unprocessable(
            "invalid-format",
            "format must be svg, png or link",
            "format muss svg, png oder link sein",
            other.to_owned(),
        )),
    }
}
