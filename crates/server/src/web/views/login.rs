//! `/login`, `/logout`, `/logout/everywhere`: the session cookie is set and
//! removed here; the JSON API's `POST /api/sessions` shares the same login.

use crate::accounts::{self, ClientAddress, LoginRefused};
use crate::app::AppState;
use crate::outbound::auth;
use crate::web::i18n::{Lang, Texts};
use crate::web::render;
use crate::web::session::{Chrome, WebSession, safe_next, urlencode};
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
    next_encoded: String,
    name: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
    notice: Option<String>,
}

fn page_lang(lang: Option<&str>, headers: &HeaderMap) -> Lang {
    lang.and_then(Lang::parse).unwrap_or_else(|| {
        Lang::from_accept_language(
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        )
    })
}

fn login_page(
    t: Texts,
    next: &str,
    name: &str,
    error: Option<String>,
    notice: Option<String>,
) -> LoginPage {
    LoginPage {
        chrome: Chrome::anonymous(t),
        next: next.to_owned(),
        next_encoded: urlencode(next),
        name: name.to_owned(),
        error,
        notice,
    }
}

pub async fn page(headers: HeaderMap, Query(query): Query<LoginQuery>) -> Response {
    let t = Texts::new(page_lang(query.lang.as_deref(), &headers));
    let notice = match query.notice.as_deref() {
        Some("logged-out") => Some(t.get("logged-out")),
        Some("logged-out-everywhere") => Some(t.get("logged-out-everywhere")),
        _ => None,
    };
    let next = safe_next(query.next.as_deref());
    render(&login_page(t, &next, "", None, notice))
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
    lang: Option<String>,
}

pub async fn submit(
    State(app): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let t = Texts::new(page_lang(form.lang.as_deref(), &headers));
    let next = safe_next(form.next.as_deref());
    match accounts::login(&app, &form.name, &form.password, &address).await {
        Ok(session) => (
            [(
                header::SET_COOKIE,
                auth::session_cookie_header(&session.token, session.max_age_secs),
            )],
            Redirect::to(&next),
        )
            .into_response(),
        Err(LoginRefused::Wrong) => (
            StatusCode::UNAUTHORIZED,
            render(&login_page(
                t,
                &next,
                &form.name,
                Some(t.get("login-failed")),
                None,
            )),
        )
            .into_response(),
        Err(LoginRefused::Throttled { retry_after_secs }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            render(&login_page(
                t,
                &next,
                &form.name,
                Some(t.get("login-throttled")),
                None,
            )),
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "login failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Interner Fehler / internal error",
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfForm {
    pub fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn logout(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = session.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    if let Err(err) = app.store.delete_session(&session.token_hash).await {
        tracing::error!(error = %err, "logout failed");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Interner Fehler / internal error",
        )
            .into_response();
    }
    accounts::audit(
        &app,
        Some(&session.agent),
        None,
        "logout",
        None,
        "session ended",
        &address,
    )
    .await;
    logged_out("logged-out")
}

pub async fn logout_everywhere(
    State(app): State<AppState>,
    session: WebSession,
    ClientAddress(address): ClientAddress,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = session.check_csrf(&form.csrf) {
        return refused.into_response();
    }
    match app.store.delete_sessions_of(&session.agent.id).await {
        Ok(ended) => {
            accounts::audit(
                &app,
                Some(&session.agent),
                None,
                "logout_everywhere",
                None,
                &format!("{ended} sessions ended"),
                &address,
            )
            .await;
            logged_out("logged-out-everywhere")
        }
        Err(err) => {
            tracing::error!(error = %err, "logout everywhere failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Interner Fehler / internal error",
            )
                .into_response()
        }
    }
}

fn logged_out(notice: &str) -> Response {
    (
        [(header::SET_COOKIE, auth::expired_session_cookie_header())],
        Redirect::to(&format!("/login?notice={notice}")),
    )
        .into_response()
}
