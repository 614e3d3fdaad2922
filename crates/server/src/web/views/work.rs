//! The team's work on the conversation page: status (with snooze),
//! assignment and internal notes, their forms, and the history entries that
//! the thread shows between the messages.

use super::Flash;
use super::conversation::{PaneQuery, render_page};
use crate::accounts::ClientAddress;
use crate::app::AppState;
use crate::web::format;
use crate::web::i18n::Texts;
use crate::web::session::WebSession;
use crate::workflow::{self, WorkflowError};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use resonanz_core::analysis::Sentiment;
use resonanz_core::{ConversationStatus, Timestamp};
use resonanz_store::{ActivityRow, Role};
use serde::Deserialize;

/// One entry of the team's history in the thread.
#[derive(Clone, Debug)]
pub struct ActivityView {
    /// `note`, `status`, `assignee`.
    pub kind: String,
    pub who: String,
    /// A note's text, or the change in a sentence.
    pub text: String,
    pub time_label: String,
    pub time_iso: String,
    pub at_ms: i64,
}

/// A teammate to pick.
#[derive(Clone, Debug)]
pub struct TeamMember {
    pub id: String,
    pub name: String,
    pub selected: bool,
}

/// The conversation's work state as the page shows it.
#[derive(Clone, Debug)]
pub struct WorkView {
    pub status: String,
    pub status_label: String,
    pub snoozed_until: Option<String>,
    pub assignee_name: Option<String>,
    pub team: Vec<TeamMember>,
}

fn status_label(t: &Texts, status: &str) -> String {
    t.key("status-", status)
}

fn activity_view(t: &Texts, row: &ActivityRow, now: Timestamp) -> ActivityView {
    let detail = &row.detail;
    let text = match row.kind.as_str() {
        "note" => row.body.clone().unwrap_or_default(),
        "status" => {
            let to = detail["to"].as_str().unwrap_or("open");
            match detail["until"].as_i64() {
                Some(until) if to == "snoozed" => t.arg(
                    "history-snoozed",
                    "until",
                    format::datetime(Timestamp(until)),
                ),
                _ => t.arg("history-status", "status", status_label(t, to)),
            }
        }
        "correction" => t.arg(
            "history-corrected",
            "sentiment",
            t.key("sentiment-", detail["to"].as_str().unwrap_or("neutral")),
        ),
        "assignee" => match detail["to_name"].as_str() {
            Some(name) => t.arg("history-assigned", "name", name),
            None => t.get("history-unassigned"),
        },
        other => other.to_owned(),
    };
    ActivityView {
        kind: row.kind.clone(),
        who: row.agent_name.clone(),
        text,
        time_label: format::short(Timestamp(row.at), now),
        time_iso: Timestamp(row.at).to_rfc3339(),
        at_ms: row.at,
    }
}

/// The work state and the history entries of a conversation.
pub async fn load(
    app: &AppState,
    t: &Texts,
    conversation_id: &str,
    now: Timestamp,
) -> Result<(WorkView, Vec<ActivityView>), Response> {
    let store = &app.store;
    let (state, activity, team) = tokio::try_join!(
        store.work_state(conversation_id, now),
        store.conversation_activity(conversation_id),
        store.agents(),
    )
    .map_err(super::inbox::store_failed)?;
    let assignee_name = state
        .assignee_id
        .as_ref()
        .and_then(|id| team.iter().find(|a| &a.id == id))
        .map(|a| a.name.clone());
    let work = WorkView {
        status: state.status.as_str().to_owned(),
        status_label: status_label(t, state.status.as_str()),
        snoozed_until: state.snoozed_until.map(format::datetime),
        assignee_name,
        team: team
            .into_iter()
            .filter(|a| a.role != Role::Analyst.as_str())
            .map(|a| TeamMember {
                selected: state.assignee_id.as_deref() == Some(a.id.as_str()),
                id: a.id,
                name: a.name,
            })
            .collect(),
    };
    let activity = activity
        .iter()
        .map(|row| activity_view(t, row, now))
        .collect();
    Ok((work, activity))
}

/// `2026-12-08T15:30` from a `datetime-local` field, read as German time.
fn parse_local(text: &str) -> Option<Timestamp> {
    let (date, time) = text.trim().split_once('T')?;
    let mut parts = date.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    let time: String = time.chars().take(5).collect();
    Timestamp::parse_german_local(&format!("{day}.{month}.{year} {time}"))
}

async fn after(
    app: &AppState,
    session: &WebSession,
    id: &str,
    done: Result<(), WorkflowError>,
) -> Response {
    match done {
        Ok(()) => Redirect::to(&format!("/inbox/{id}")).into_response(),
        Err(WorkflowError::NoConversation(_)) => (
            StatusCode::NOT_FOUND,
            session.texts.get("conversation-missing"),
        )
            .into_response(),
        Err(err) => {
            let text = session
                .texts
                .pick(&err.message_de(), &err.message_en())
                .to_owned();
            let status = match err {
                WorkflowError::ReadOnly | WorkflowError::NotYours => StatusCode::FORBIDDEN,
                WorkflowError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let page = render_page(app, session, id, PaneQuery::default(), |pane| {
                pane.flash = Some(Flash::error(text));
            })
            .await;
            (status, page).into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    status: String,
    #[serde(default)]
    until: String,
}

pub async fn status(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Response {
    if let Err(refused) = session.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let Ok(status) = form.status.parse::<ConversationStatus>() else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "status").into_response();
    };
    let until = parse_local(&form.until);
    let done = workflow::set_status(&app, &session.agent, &id, status, until, &address).await;
    after(&app, &session, &id, done).await
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    csrf: String,
    /// An agent's id, `me`, or empty for nobody.
    #[serde(default)]
    assignee: String,
}

pub async fn assign(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    Path(id): Path<String>,
    Form(form): Form<AssignForm>,
) -> Response {
    if let Err(refused) = session.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let target = match form.assignee.as_str() {
        "" => None,
        "me" => Some(session.agent.id.as_str()),
        other => Some(other),
    };
    let done = workflow::assign(&app, &session.agent, &id, target, &address).await;
    after(&app, &session, &id, done).await
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    csrf: String,
    body: String,
}

pub async fn note(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Response {
    if let Err(refused) = session.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let done = workflow::add_note(&app, &session.agent, &id, &form.body, &address)
        .await
        .map(|_| ());
    after(&app, &session, &id, done).await
}

#[derive(Deserialize)]
pub struct SentimentForm {
    #[serde(default)]
    csrf: String,
    sentiment: String,
}

/// `POST /inbox/{id}/messages/{message}/sentiment`: one click corrects the model.
pub async fn correct_sentiment(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    Path((id, message)): Path<(String, String)>,
    Form(form): Form<SentimentForm>,
) -> Response {
    if let Err(refused) = session.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let Some(sentiment) = Sentiment::ALL
        .into_iter()
        .find(|s| s.as_str() == form.sentiment)
    else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "sentiment").into_response();
    };
    let done =
        workflow::correct_sentiment(&app, &session.agent, &message, sentiment, &address).await;
    after(&app, &session, &id, done).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_snooze_time_is_read_as_german_time() {
        let winter = super::parse_local("2026-12-08T15:30").unwrap();
        assert_eq!(winter.to_rfc3339(), "2026-12-08T14:30:00Z");
        assert!(super::parse_local("morgen").is_none());
    }
}
