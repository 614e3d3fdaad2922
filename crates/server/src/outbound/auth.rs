//! Agents and their credentials. API tokens are 256-bit random values, so a
//! SHA-256 of the token is enough to look them up and compare; passwords are
//! low-entropy and get argon2. Neither is ever stored or logged in clear.

use crate::app::AppState;
use crate::problem::Problem;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use rand::RngCore;
use resonanz_core::Timestamp;
use resonanz_store::{AgentRow, NewAgent, Role, Store};
use sha2::{Digest, Sha256};

/// A fresh random token, prefixed so it is recognisable in a secret scanner.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("rz_{}", hex::encode(bytes))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Creates an agent and returns its API token (shown once, stored hashed).
pub async fn create_agent(
    store: &Store,
    name: &str,
    role: Role,
    password: Option<&str>,
    now: Timestamp,
) -> anyhow::Result<(AgentRow, String)> {
    let token = new_token();
    let id = format!("ag_{}", &token_hash(&token)[..16]);
    let password_hash = password.map(hash_password).transpose()?;
    store
        .create_agent(&NewAgent {
            id: id.clone(),
            name: name.to_owned(),
            role,
            password_hash: password_hash.clone(),
            token_hash: token_hash(&token),
            now,
        })
        .await?;
    Ok((
        AgentRow {
            id,
            name: name.to_owned(),
            role,
            password_hash,
            locale: "de".to_owned(),
        },
        token,
    ))
}

/// The authenticated caller of an API request (`Authorization: Bearer …`
/// with an API token or a session token from `POST /api/sessions`).
#[derive(Clone, Debug)]
pub struct Agent(pub AgentRow);

impl Agent {
    /// 403 unless the agent has `role` (admins may do everything).
    pub fn require(&self, role: Role) -> Result<(), Problem> {
        if self.0.role == Role::Admin || self.0.role == role {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Your role does not allow this",
                "Ihre Rolle erlaubt diese Aktion nicht",
                format!("requires role {}", role.as_str()),
            ))
        }
    }
}

/// The cookie `POST /api/sessions` sets for browsers.
pub const SESSION_COOKIE: &str = "resonanz_session";

/// `Set-Cookie` for a new session: script cannot read it, other sites
/// cannot send it, and only over HTTPS (browsers count localhost as such;
/// Meta delivers webhooks only over HTTPS, so a real installation has it).
/// It covers the web app and the API (`EventSource` on `/api/events`).
pub fn session_cookie_header(token: &str, max_age_secs: i64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Strict"
    )
}

/// `Set-Cookie` that removes the session cookie (logout).
pub fn expired_session_cookie_header() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// The anti-forgery token of a session: derived from the session token,
/// which only the cookie holds (script cannot read it), so a foreign page
/// cannot know it, and every node derives the same one without state.
pub fn csrf_token(session_token: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"resonanz-csrf\0");
    digest.update(session_token.as_bytes());
    hex::encode(digest.finalize())
}

/// Compares without stopping at the first difference, so the time taken
/// says nothing about how much of a guess was right.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The header a browser script sends the anti-forgery token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "Authentication required",
        "Anmeldung erforderlich",
        detail,
    )
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        // A browser sends the cookie with any request a foreign page makes it
        // send, so the cookie alone only opens reads (an `EventSource` cannot
        // set headers); a change needs the bearer token, or the cookie with
        // the session's anti-forgery token in `X-CSRF-Token`.
        let token = match bearer {
            Some(token) => token,
            None if parts.method.is_safe() => session_cookie(&parts.headers)
                .ok_or_else(|| unauthorized("send Authorization: Bearer <token>"))?,
            None => {
                let sent = parts
                    .headers
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                match session_cookie(&parts.headers) {
                    Some(token) if same_secret(sent, &csrf_token(token)) => token,
                    _ => {
                        return Err(unauthorized(
                            "send Authorization: Bearer <token>; the session cookie opens changes only with its X-CSRF-Token",
                        ));
                    }
                }
            }
        };
        match app
            .store
            .agent_by_token_hash(&token_hash(token), app.clock.now())
            .await
        {
            Ok(Some(agent)) => Ok(Agent(agent)),
            Ok(None) => Err(unauthorized("unknown or expired token")),
            Err(err) => {
                tracing::error!(error = %err, "agent lookup failed");
                Err(Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "The database is unavailable",
                    "Die Datenbank ist nicht erreichbar",
                    "try again later",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_with_the_right_secret() {
        let phc = hash_password("Sicher-123").unwrap();
        assert!(phc.starts_with("$argon2"));
        assert!(verify_password("Sicher-123", &phc));
        assert!(!verify_password("sicher-123", &phc));
        assert!(!verify_password("Sicher-123", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashed_stably() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
