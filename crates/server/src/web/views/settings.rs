//! `/settings`: the agent's language (stored with the agent, so every node
//! and device shows it), password change, and logging out everywhere.

use super::Flash;
use crate::accounts::{self, ClientAddress};
use crate::app::AppState;
use crate::outbound::auth;
use crate::web::i18n::{Lang, Texts};
use crate::web::render;
use crate::web::session::{Chrome, WebSession};
use crate::workflow::{self, WorkflowError};
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The shortest password the form accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    flash: Option<Flash>,
    canned: Vec<CannedLine>,
}

pub struct CannedLine {
    pub id: i64,
    pub title: String,
    pub body: String,
    /// The author or an admin may delete it.
    pub deletable: bool,
}

async fn canned_lines(app: &AppState, session: &WebSession) -> Vec<CannedLine> {
    match app.store.canned_replies().await {
        Ok(replies) => replies
            .into_iter()
            .map(|reply| CannedLine {
                deletable: session.agent.role == resonanz_store::Role::Admin
                    || reply.created_by == session.agent.id,
                id: reply.id,
                title: reply.title,
                body: reply.body,
            })
            .collect(),
        Err(err) => {
            tracing::error!(error = %err, "canned replies could not be read");
            Vec::new()
        }
    }
}

#[derive(Deserialize)]
pub struct SettingsQuery {
    saved: Option<String>,
}

pub async fn page(
    State(app): State<AppState>,
    session: WebSession,
    Query(query): Query<SettingsQuery>,
) -> Response {
    let t = session.texts;
    let flash = match query.saved.as_deref() {
        Some("language") => Some(Flash::ok(t.get("settings-language-saved"))),
        Some("password") => Some(Flash::ok(t.get("settings-password-changed"))),
        Some("canned") => Some(Flash::ok(t.get("canned-saved"))),
        _ => None,
    };
    render(&SettingsPage {
        chrome: session.chrome("settings"),
        flash,
        canned: canned_lines(&app, &session).await,
    })
}

async fn refused_page(
    app: &AppState,
    session: &WebSession,
    status: StatusCode,
    text: String,
) -> Response {
    (
        status,
        render(&SettingsPage {
            chrome: session.chrome("settings"),
            flash: Some(Flash::error(text)),
            canned: canned_lines(app, session).await,
        }),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct AvailabilityForm {
    #[serde(default)]
    csrf: String,
    availability: String,
}

/// `POST /availability` from the header: online agents get new conversations.
pub async fn availability(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    headers: axum::http::HeaderMap,
    Form(form): Form<AvailabilityForm>,
) -> Response {
    if let Err(refused) = session.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    match workflow::set_availability(&app, &session.agent, &form.availability, &address).await {
        // Back to the page the agent was on (a path on this site only).
        Ok(()) => {
            let back = headers
                .get(axum::http::header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|url| url.split_once("://").map(|(_, rest)| rest))
                .and_then(|rest| rest.find('/').map(|at| &rest[at..]));
            Redirect::to(&crate::web::session::safe_next(back)).into_response()
        }
        Err(err) => workflow_refused(&app, &session, &err).await,
    }
}

#[derive(Deserialize)]
pub struct CannedForm {
    #[serde(default)]
    csrf: String,
    title: String,
    body: String,
}

pub async fn add_canned(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    Form(form): Form<CannedForm>,
) -> Response {
    if let Err(refused) = session.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    match workflow::add_canned(&app, &session.agent, &form.title, &form.body, &address).await {
        Ok(_) => Redirect::to("/settings?saved=canned#canned-replies").into_response(),
        Err(err) => workflow_refused(&app, &session, &err).await,
    }
}

pub async fn delete_canned(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Form(form): Form<super::login::CsrfForm>,
) -> Response {
    if let Err(refused) = session.check_csrf(form.csrf()) {
        return refused.into_response();
    }
    match workflow::delete_canned(&app, &session.agent, id, &address).await {
        Ok(()) => Redirect::to("/settings#canned-replies").into_response(),
        Err(err) => workflow_refused(&app, &session, &err).await,
    }
}

/// The settings page again, saying in the agent's language why not.
async fn workflow_refused(app: &AppState, session: &WebSession, err: &WorkflowError) -> Response {
    let text = session
        .texts
        .pick(&err.message_de(), &err.message_en())
        .to_owned();
    refused_page(app, session, workflow_status(err), text).await
}

fn workflow_status(err: &WorkflowError) -> StatusCode {
    match err {
        WorkflowError::ReadOnly | WorkflowError::NotYours => StatusCode::FORBIDDEN,
        WorkflowError::NoCanned(_) => StatusCode::NOT_FOUND,
        WorkflowError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

#[derive(Deserialize)]
pub struct LanguageForm {
    #[serde(default)]
    csrf: String,
    locale: String,
}

pub async fn language(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    Form(form): Form<LanguageForm>,
) -> Response {
    if let Err(refused) = session.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let Some(lang) = Lang::parse(&form.locale) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, "de | en").into_response();
    };
    if let Err(err) = app
        .store
        .set_agent_locale(&session.agent.id, lang.code())
        .await
    {
        return super::inbox::store_failed(err);
    }
    accounts::audit(
        &app,
        Some(&session.agent),
        None,
        "locale",
        None,
        lang.code(),
        &address,
    )
    .await;
    Redirect::to("/settings?saved=language").into_response()
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: String,
    new: String,
}

pub async fn password(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Err(refused) = session.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    let t: Texts = session.texts;
    if form.new.chars().count() < MIN_PASSWORD_CHARS {
        return refused_page(
            &app,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            t.get("settings-password-short"),
        )
        .await;
    }
    let phc = session.agent.password_hash.clone();
    let current = form.current.clone();
    let new = form.new.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let ok = phc
            .as_deref()
            .is_some_and(|phc| auth::verify_password(&current, phc));
        ok.then(|| auth::hash_password(&new))
    })
    .await;
    let new_phc = match checked {
        Ok(Some(Ok(phc))) => phc,
        Ok(None) => {
            return refused_page(
                &app,
                &session,
                StatusCode::UNPROCESSABLE_ENTITY,
                t.get("settings-password-wrong"),
            )
            .await;
        }
        Ok(Some(Err(err))) => return super::inbox::store_failed(err),
        Err(err) => return super::inbox::store_failed(err),
    };
    let store = &app.store;
    if let Err(err) = store
        .set_agent_password_hash(&session.agent.id, &new_phc)
        .await
    {
        return super::inbox::store_failed(err);
    }
    // Whoever knew the old password is logged out; this browser logs in anew.
    if let Err(err) = store.delete_sessions_of(&session.agent.id).await {
        return super::inbox::store_failed(err);
    }
    accounts::audit(
        &app,
        Some(&session.agent),
        None,
        "password_change",
        None,
        "other sessions ended",
        &address,
    )
    .await;
    let token = auth::new_token();
    let now = app.clock.now();
    let ttl_hours = app.settings.outbound.session_ttl_hours.max(1);
    if let Err(err) = store
        .create_session(
            &auth::token_hash(&token),
            &session.agent.id,
            now,
            now.plus_millis(ttl_hours * 3_600_000),
        )
        .await
    {
        return super::inbox::store_failed(err);
    }
    (
        [(
            axum::http::header::SET_COOKIE,
            auth::session_cookie_header(&token, ttl_hours * 3600),
        )],
        Redirect::to("/settings?saved=password"),
    )
        .into_response()
}
