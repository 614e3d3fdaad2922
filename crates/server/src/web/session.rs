//! The browser's session: the `HttpOnly` cookie from login, never a token in
//! page script. Every form that changes something carries the session's
//! anti-forgery token, which the server checks before anything else.

use super::assets;
use super::i18n::{Lang, Texts};
use crate::app::AppState;
use crate::outbound::auth::{self, csrf_token, same_secret, session_cookie};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use resonanz_store::{AgentRow, Role};

/// A logged-in agent on a web page.
#[derive(Clone, Debug)]
pub struct WebSession {
    pub agent: AgentRow,
    pub token_hash: String,
    pub csrf: String,
    pub texts: Texts,
    /// The server's time when the request came in (pages count down from it).
    pub now: i64,
    /// Notes that mention the agent and that they have not opened.
    pub unread_mentions: i64,
    /// `online`, `away`, `offline`.
    pub availability: String,
}

/// What the base layout needs on every page.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub t: Texts,
    pub agent_id: String,
    pub agent_name: String,
    pub role: &'static str,
    pub is_admin: bool,
    pub can_write: bool,
    pub csrf: String,
    pub css: String,
    pub js: String,
    pub icon: String,
    /// Which navigation entry is current: `inbox`, `settings`, `audit`.
    pub nav: &'static str,
    /// Server time (ms): the page's countdowns run on it, not the browser's clock.
    pub now: i64,
    pub unread_mentions: i64,
    pub availability: String,
}

impl Chrome {
    /// The layout of a page nobody is logged in to (login).
    pub fn anonymous(t: Texts) -> Self {
        Self {
            t,
            agent_id: String::new(),
            agent_name: String::new(),
            role: "",
            is_admin: false,
            can_write: false,
            csrf: String::new(),
            css: assets::url("app.css"),
            js: assets::url("app.js"),
            icon: assets::url("icon.svg"),
            nav: "",
            now: 0,
            unread_mentions: 0,
            availability: String::new(),
        }
    }
}

/// Only a path on this site, so a crafted login link cannot send an agent
/// elsewhere after login.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.starts_with("/login") =>
        {
            path.to_owned()
        }
        _ => "/inbox".to_owned(),
    }
}

fn login_redirect(parts: &Parts) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/inbox");
    let next = safe_next(Some(here));
    Redirect::to(&format!("/login?next={}", urlencode(&next))).into_response()
}

pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl FromRequestParts<AppState> for WebSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let Some(token) = session_cookie(&parts.headers) else {
            return Err(login_redirect(parts));
        };
        let token_hash = auth::token_hash(token);
        match app
            .store
            .agent_by_token_hash(&token_hash, app.clock.now())
            .await
        {
            Ok(Some(agent)) => Ok(WebSession {
                texts: Texts::new(Lang::parse(&agent.locale).unwrap_or(Lang::De)),
                csrf: csrf_token(token),
                now: app.clock.now().0,
                unread_mentions: app.store.unread_notifications(&agent.id).await.unwrap_or(0),
                availability: app
                    .store
                    .availability(&agent.id)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "offline".to_owned()),
                token_hash,
                agent,
            }),
            Ok(None) => Err(login_redirect(parts)),
            Err(err) => {
                tracing::error!(error = %err, "session lookup failed");
                Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Die Datenbank ist nicht erreichbar / the database is unavailable",
                )
                    .into_response())
            }
        }
    }
}

/// A refused form or page: the status and a sentence in the agent's language.
#[derive(Debug)]
pub struct Refusal(pub StatusCode, pub String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.1,
        )
            .into_response()
    }
}

impl WebSession {
    /// 403 unless the form carries this session's anti-forgery token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), Refusal> {
        if same_secret(sent, &self.csrf) {
            Ok(())
        } else {
            Err(self.refuse(
                "Das Formular ist abgelaufen oder stammt nicht von Resonanz. Bitte die Seite neu laden.",
                "The form has expired or did not come from Resonanz. Please reload the page.",
            ))
        }
    }

    /// 403 for an analyst, who reads but changes nothing.
    pub fn check_can_write(&self) -> Result<(), Refusal> {
        if self.agent.role == Role::Analyst {
            Err(self.refuse(
                "Ihre Rolle erlaubt nur das Lesen.",
                "Your role allows reading only.",
            ))
        } else {
            Ok(())
        }
    }

    pub fn check_admin(&self) -> Result<(), Refusal> {
        if self.agent.role == Role::Admin {
            Ok(())
        } else {
            Err(self.refuse(
                "Diese Seite ist Administratoren vorbehalten.",
                "This page is for administrators.",
            ))
        }
    }

    fn refuse(&self, de: &str, en: &str) -> Refusal {
        Refusal(StatusCode::FORBIDDEN, self.texts.pick(de, en).to_owned())
    }

    pub fn chrome(&self, nav: &'static str) -> Chrome {
        Chrome {
            t: self.texts,
            agent_id: self.agent.id.clone(),
            agent_name: self.agent.name.clone(),
            role: self.agent.role.as_str(),
            is_admin: self.agent.role == Role::Admin,
            can_write: self.agent.role != Role::Analyst,
            csrf: self.csrf.clone(),
            nav,
            now: self.now,
            unread_mentions: self.unread_mentions,
            availability: self.availability.clone(),
            ..Chrome::anonymous(self.texts)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn after_login_only_paths_on_this_site_are_followed() {
        assert_eq!(safe_next(Some("/inbox/cv_1?x=1")), "/inbox/cv_1?x=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/inbox");
        assert_eq!(safe_next(Some("https://evil.example/")), "/inbox");
        assert_eq!(safe_next(Some("/\\evil.example")), "/inbox");
        assert_eq!(safe_next(Some("/login")), "/inbox");
        assert_eq!(safe_next(None), "/inbox");
    }
}
