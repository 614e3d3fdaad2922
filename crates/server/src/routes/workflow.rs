//! The team workflow over JSON: a conversation's status and snooze, its
//! assignee, internal notes with @mentions, its history; the team's agents
//! and each agent's mentions. The web app's forms call the same functions.

use super::api::{ApiResult, bad_json, internal, not_found};
use crate::accounts::ClientAddress;
use crate::app::AppState;
use crate::outbound::auth::Agent;
use crate::problem::Problem;
use crate::workflow::{self, WorkflowError};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use resonanz_core::analysis::Sentiment;
use resonanz_core::{ConversationStatus, Timestamp};
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/conversations/{id}/status", post(set_status))
        .route("/api/conversations/{id}/assignee", post(assign))
        .route("/api/conversations/{id}/notes", post(add_note))
        .route("/api/conversations/{id}/activity", get(activity))
        .route("/api/agents", get(agents))
        .route("/api/agents/me/availability", post(set_availability))
        .route("/api/notifications", get(notifications))
        .route("/api/messages/{id}/sentiment", post(correct_sentiment))
        .route("/api/corrections/sentiment", get(export_sentiment))
        .route("/api/canned-replies", get(list_canned).post(add_canned))
        .route(
            "/api/canned-replies/{id}",
            axum::routing::delete(delete_canned),
        )
}

fn refused(err: WorkflowError) -> Problem {
    let (status, slug) = match &err {
        WorkflowError::NoConversation(_) => (StatusCode::NOT_FOUND, "not-found"),
        WorkflowError::NoAgent(_) => (StatusCode::UNPROCESSABLE_ENTITY, "no-such-agent"),
        WorkflowError::SnoozeNeedsFuture => (StatusCode::UNPROCESSABLE_ENTITY, "snooze-in-past"),
        WorkflowError::BadNote => (StatusCode::UNPROCESSABLE_ENTITY, "bad-note"),
        WorkflowError::ReadOnly => (StatusCode::FORBIDDEN, "forbidden"),
        WorkflowError::NoMessage(_) => (StatusCode::NOT_FOUND, "not-found"),
        WorkflowError::NotFromCustomer => (StatusCode::UNPROCESSABLE_ENTITY, "not-from-customer"),
        WorkflowError::BadCanned => (StatusCode::UNPROCESSABLE_ENTITY, "bad-canned-reply"),
        WorkflowError::NotYours => (StatusCode::FORBIDDEN, "forbidden"),
        WorkflowError::NoCanned(_) => (StatusCode::NOT_FOUND, "not-found"),
        WorkflowError::BadAvailability => (StatusCode::UNPROCESSABLE_ENTITY, "bad-availability"),
        WorkflowError::Store(_) => return internal(&err),
    };
    let (en, de) = (err.message_en(), err.message_de());
    Problem::new(status, slug, &en, &de, err.to_string())
}

#[derive(Deserialize)]
struct StatusBody {
    /// `open`, `pending`, `snoozed`, `resolved`.
    status: String,
    /// RFC 3339; required for `snoozed`.
    snoozed_until: Option<String>,
}

async fn set_status(
    State(app): State<AppState>,
    agent: Agent,
    ClientAddress(address): ClientAddress,
    Path(id): Path<String>,
    body: Result<Json<StatusBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_json)?;
    let status: ConversationStatus = body.status.parse().map_err(|_| {
        super::api::unprocessable(
            "bad-status",
            "status must be open, pending, snoozed or resolved",
            "Status muss open, pending, snoozed oder resolved sein",
            format!("status {:?}", body.status),
        )
    })?;
    let until = match body.snoozed_until.as_deref() {
        Some(text) => Some(Timestamp::parse(text).ok_or_else(|| {
            super::api::unprocessable(
                "bad-time",
                "snoozed_until is not an RFC 3339 time",
                "snoozed_until ist keine RFC-3339-Zeit",
                text.to_owned(),
            )
        })?),
        None => None,
    };
    workflow::set_status(&app, &agent.0, &id, status, until, &address)
        .await
        .map_err(refused)?;
    let state = app
        .store
        .work_state(&id, app.clock.now())
        .await
        .map_err(internal)?;
    Ok(Json(json!({
        "status": state.status,
        "snoozed_until": state.snoozed_until.map(|t| t.to_rfc3339()),
        "assignee_id": state.assignee_id,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct AssignBody {
    /// An agent's id, `"me"`, or null for nobody.
    agent_id: Option<String>,
}

async fn assign(
    State(app): State<AppState>,
    agent: Agent,
    ClientAddress(address): ClientAddress,
    Path(id): Path<String>,
    body: Result<Json<AssignBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_json)?;
    let target = match body.agent_id.as_deref() {
        Some("me") => Some(agent.0.id.clone()),
        other => other.map(str::to_owned),
    };
    workflow::assign(&app, &agent.0, &id, target.as_deref(), &address)
        .await
        .map_err(refused)?;
    Ok(Json(json!({"assignee_id": target})).into_response())
}

#[derive(Deserialize)]
struct NoteBody {
    body: String,
}

async fn add_note(
    State(app): State<AppState>,
    agent: Agent,
    ClientAddress(address): ClientAddress,
    Path(id): Path<String>,
    body: Result<Json<NoteBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_json)?;
    let note = workflow::add_note(&app, &agent.0, &id, &body.body, &address)
        .await
        .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(json!({"id": note}))).into_response())
}

async fn activity(State(app): State<AppState>, _agent: Agent, Path(id): Path<String>) -> ApiResult {
    super::api::require_conversation(&app, &id).await?;
    let entries = app
        .store
        .conversation_activity(&id)
        .await
        .map_err(internal)?;
    let state = app
        .store
        .work_state(&id, app.clock.now())
        .await
        .map_err(internal)?;
    Ok(Json(json!({
        "status": state.status,
        "snoozed_until": state.snoozed_until.map(|t| t.to_rfc3339()),
        "assignee_id": state.assignee_id,
        "activity": entries,
    }))
    .into_response())
}

async fn agents(State(app): State<AppState>, _agent: Agent) -> ApiResult {
    let team = app.store.agents().await.map_err(internal)?;
    Ok(Json(json!({"agents": team})).into_response())
}

async fn notifications(State(app): State<AppState>, agent: Agent) -> ApiResult {
    let found = app
        .store
        .notifications(&agent.0.id, 100)
        .await
        .map_err(internal)?;
    let unread = found.iter().filter(|n| !n.read).count();
    Ok(Json(json!({"unread": unread, "notifications": found})).into_response())
}

#[derive(Deserialize)]
struct SentimentBody {
    /// `negative`, `neutral` or `positive`.
    sentiment: String,
}

fn parse_sentiment(text: &str) -> Option<Sentiment> {
    Sentiment::ALL.into_iter().find(|s| s.as_str() == text)
}

async fn correct_sentiment(
    State(app): State<AppState>,
    agent: Agent,
    ClientAddress(address): ClientAddress,
    Path(id): Path<String>,
    body: Result<Json<SentimentBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_json)?;
    let sentiment = parse_sentiment(&body.sentiment).ok_or_else(|| {
        super::api::unprocessable(
            "bad-sentiment",
            "sentiment must be negative, neutral or positive",
            "Stimmung muss negative, neutral oder positive sein",
            format!("sentiment {:?}", body.sentiment),
        )
    })?;
    workflow::correct_sentiment(&app, &agent.0, &id, sentiment, &address)
        .await
        .map_err(refused)?;
    Ok(Json(json!({"message_id": id, "sentiment": sentiment.as_str()})).into_response())
}

/// `GET /api/corrections/sentiment`: the team's corrections as training
/// data, `label<TAB>text` per line (the format of `resonanz train`).
async fn export_sentiment(
    State(app): State<AppState>,
    agent: Agent,
    ClientAddress(address): ClientAddress,
) -> ApiResult {
    let rows = app
        .store
        .labelled_corrections("sentiment")
        .await
        .map_err(internal)?;
    crate::accounts::audit(
        &app,
        Some(&agent.0),
        None,
        "export",
        None,
        &format!("{} sentiment corrections", rows.len()),
        &address,
    )
    .await;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/tab-separated-values; charset=utf-8",
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"sentiment-corrections.tsv\"",
            ),
        ],
        labelled_tsv(&rows),
    )
        .into_response())
}

/// One `label<TAB>text` line per row; line breaks and tabs in a text become spaces.
pub fn labelled_tsv(rows: &[(String, String)]) -> String {
    rows.iter()
        .map(|(label, text)| {
            let text: String = text
                .chars()
                .map(|c| {
                    if c == '\t' || c == '\n' || c == '\r' {
                        ' '
                    } else {
                        c
                    }
                })
                .collect();
            format!("{label}\t{}\n", text.trim())
        })
        .collect()
}

#[derive(Deserialize)]
struct CannedQuery {
    /// Fill the variables in for this conversation's contact.
    conversation: Option<String>,
}

async fn list_canned(
    State(app): State<AppState>,
    agent: Agent,
    axum::extract::Query(query): axum::extract::Query<CannedQuery>,
) -> ApiResult {
    let replies = app.store.canned_replies().await.map_err(internal)?;
    let contact_name = match query.conversation.as_deref() {
        Some(id) => {
            let info = app
                .store
                .conversation_info(id)
                .await
                .map_err(internal)?
                .ok_or_else(|| not_found("conversation", id))?;
            let contact = app
                .store
                .contact(&info.contact_id)
                .await
                .map_err(internal)?;
            Some(contact.and_then(|c| c.display_name).unwrap_or_default())
        }
        None => None,
    };
    let replies: Vec<_> = replies
        .iter()
        .map(|reply| {
            json!({
                "id": reply.id,
                "title": reply.title,
                "body": reply.body,
                "created_by": reply.created_by,
                "text": contact_name
                    .as_deref()
                    .map(|name| workflow::render_canned(&reply.body, name, &agent.0.name)),
            })
        })
        .collect();
    Ok(Json(json!({"canned_replies": replies})).into_response())
}

#[derive(Deserialize)]
struct CannedBody {
    title: String,
    body: String,
}

async fn add_canned(
    State(app): State<AppState>,
    agent: Agent,
    ClientAddress(address): ClientAddress,
    body: Result<Json<CannedBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_json)?;
    let id = workflow::add_canned(&app, &agent.0, &body.title, &body.body, &address)
        .await
        .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))).into_response())
}

async fn delete_canned(
    State(app): State<AppState>,
    agent: Agent,
    ClientAddress(address): ClientAddress,
    Path(id): Path<i64>,
) -> ApiResult {
    workflow::delete_canned(&app, &agent.0, id, &address)
        .await
        .map_err(refused)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct AvailabilityBody {
    /// `online`, `away` or `offline`.
    availability: String,
}

async fn set_availability(
    State(app): State<AppState>,
    agent: Agent,
    ClientAddress(address): ClientAddress,
    body: Result<Json<AvailabilityBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_json)?;
    workflow::set_availability(&app, &agent.0, &body.availability, &address)
        .await
        .map_err(refused)?;
    Ok(Json(json!({"availability": body.availability})).into_response())
}
