//! Logging in and out, for the JSON API and the web app alike: throttled per
//! account and per address (counts in the store, so every node refuses
//! alike), every attempt audited, passwords checked off the async workers.

use crate::app::AppState;
use crate::outbound::auth;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use resonanz_core::Timestamp;
use resonanz_store::{AgentRow, NewAudit, StoreError};
use std::convert::Infallible;
use std::net::SocketAddr;

/// Failures counted over this span…
pub const THROTTLE_WINDOW_MS: i64 = 15 * 60_000;
/// …refuse further tries for one account name after this many,
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// …and from one address (an office shares one) after this many.
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;

/// The peer address of the request, for throttling and the audit log.
#[derive(Clone, Debug)]
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string())
                .unwrap_or_else(|| "unknown".to_owned()),
        ))
    }
}

pub struct LoggedIn {
    pub agent: AgentRow,
    pub token: String,
    pub expires_at: Timestamp,
    pub max_age_secs: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginRefused {
    #[error("name or password is wrong")]
    Wrong,
    #[error("too many failed logins; try again later")]
    Throttled { retry_after_secs: i64 },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("password check: {0}")]
    Check(String),
}

/// Checks name and password and opens a session.
pub async fn login(
    app: &AppState,
    name: &str,
    password: &str,
    address: &str,
) -> Result<LoggedIn, LoginRefused> {
    let now = app.clock.now();
    // A name is the agent's; cap what an attacker can make us store.
    let name: String = name.trim().chars().take(100).collect();
    let failures = app
        .store
        .login_failures_since(&name, address, now.plus_millis(-THROTTLE_WINDOW_MS))
        .await?;
    if failures.by_name >= MAX_FAILURES_PER_ACCOUNT
        || failures.by_address >= MAX_FAILURES_PER_ADDRESS
    {
        audit(
            app,
            None,
            Some(&name),
            "login_throttled",
            None,
            &format!(
                "{} failures for the account, {} from the address in 15 minutes",
                failures.by_name, failures.by_address
            ),
            address,
        )
        .await;
        return Err(LoginRefused::Throttled {
            retry_after_secs: THROTTLE_WINDOW_MS / 1000,
        });
    }
    let agent = app.store.agent_by_name(&name).await?;
    let phc = agent.as_ref().and_then(|a| a.password_hash.clone());
    let password = password.to_owned();
    // argon2 is deliberately slow: keep it off the async workers. An unknown
    // name is checked against nothing, which also takes no time; the
    // throttle above bounds what that tells an attacker.
    let ok = match phc {
        Some(phc) => tokio::task::spawn_blocking(move || auth::verify_password(&password, &phc))
            .await
            .map_err(|err| LoginRefused::Check(err.to_string()))?,
        None => false,
    };
    let Some(agent) = agent.filter(|_| ok) else {
        app.store.record_login_failure(&name, address, now).await?;
        audit(
            app,
            None,
            Some(&name),
            "login_failed",
            None,
            "wrong name or password",
            address,
        )
        .await;
        return Err(LoginRefused::Wrong);
    };
    app.store.clear_login_failures(&name).await?;
    let token = auth::new_token();
    let ttl_hours = app.settings.outbound.session_ttl_hours.max(1);
    let expires_at = now.plus_millis(ttl_hours * 3_600_000);
    app.store
        .create_session(&auth::token_hash(&token), &agent.id, now, expires_at)
        .await?;
    audit(
        app,
        Some(&agent),
        None,
        "login",
        None,
        "session opened",
        address,
    )
    .await;
    Ok(LoggedIn {
        agent,
        token,
        expires_at,
        max_age_secs: ttl_hours * 3600,
    })
}

/// Appends to the audit log. A failure to write it is logged, not hidden,
/// but does not undo what was done.
pub async fn audit(
    app: &AppState,
    agent: Option<&AgentRow>,
    name: Option<&str>,
    action: &str,
    target: Option<&str>,
    detail: &str,
    address: &str,
) {
    let entry = NewAudit {
        agent_id: agent.map(|a| a.id.as_str()),
        agent_name: agent.map(|a| a.name.as_str()).or(name),
        action,
        target,
        detail,
        address: Some(address),
    };
    if let Err(err) = app.store.append_audit(&entry, app.clock.now()).await {
        tracing::error!(error = %err, action, "could not write the audit log");
    }
}
