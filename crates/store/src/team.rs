//! The team's accounts beyond login: an agent's language, password change,
//! ending sessions, login throttling and the audit log. Agent-authored, so
//! `reset_projections` leaves these tables alone. The throttle counts live in
//! the database, not in a node's memory, so every node refuses alike.

use crate::backend::Backend;
use crate::{Result, Store};
use resonanz_core::Timestamp;
use serde::Serialize;
use sqlx::{Pool, Postgres, Sqlite};

/// One line of the audit log: who did what to which object, from where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    /// `login`, `login_failed`, `logout`, `send`, `password_change` …
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
    pub address: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct NewAudit<'a> {
    pub agent_id: Option<&'a str>,
    pub agent_name: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: &'a str,
    pub address: Option<&'a str>,
}

/// Failed logins since a moment, for one account name and one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginFailures {
    pub by_name: i64,
    pub by_address: i64,
}

/// A canned reply of the team.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CannedReply {
    pub id: i64,
    pub title: String,
    pub body: String,
    /// The agent id of its author.
    pub created_by: String,
    pub updated_at: i64,
}

/// Failures older than this are forgotten when the next one is recorded.
const FAILURE_MEMORY_MS: i64 = 24 * 3_600_000;

macro_rules! team_sql {
    ($module:ident, $db:ty) => {
        mod $module {
            use super::*;
            type Db = $db;

            pub(super) async fn set_locale(pool: &Pool<Db>, agent_id: &str, locale: &str) -> Result<bool> {
                let done = sqlx::query("UPDATE agents SET locale = $1 WHERE id = $2")
                    .bind(locale)
                    .bind(agent_id)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(super) async fn set_password_hash(pool: &Pool<Db>, agent_id: &str, phc: &str) -> Result<bool> {
                let done = sqlx::query("UPDATE agents SET password_hash = $1 WHERE id = $2")
                    .bind(phc)
                    .bind(agent_id)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(super) async fn delete_session(pool: &Pool<Db>, token_hash: &str) -> Result<u64> {
                let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected())
            }

            pub(super) async fn delete_sessions_of(pool: &Pool<Db>, agent_id: &str) -> Result<u64> {
                let done = sqlx::query("DELETE FROM sessions WHERE agent_id = $1")
                    .bind(agent_id)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected())
            }

            pub(super) async fn record_login_failure(
                pool: &Pool<Db>,
                name: &str,
                address: &str,
                now: Timestamp,
            ) -> Result<()> {
                let mut tx = pool.begin().await?;
                sqlx::query("DELETE FROM login_failures WHERE at < $1")
                    .bind(now.0 - FAILURE_MEMORY_MS)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO login_failures (name, address, at) VALUES ($1, $2, $3)")
                    .bind(name)
                    .bind(address)
                    .bind(now.0)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            pub(super) async fn login_failures_since(
                pool: &Pool<Db>,
                name: &str,
                address: &str,
                since: Timestamp,
            ) -> Result<LoginFailures> {
                let (by_name, by_address): (i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM login_failures WHERE name = $1 AND at >= $3), \
                            (SELECT COUNT(*) FROM login_failures WHERE address = $2 AND at >= $3)",
                )
                .bind(name)
                .bind(address)
                .bind(since.0)
                .fetch_one(pool)
                .await?;
                Ok(LoginFailures { by_name, by_address })
            }

            pub(super) async fn clear_login_failures(pool: &Pool<Db>, name: &str) -> Result<()> {
                sqlx::query("DELETE FROM login_failures WHERE name = $1")
                    .bind(name)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            pub(super) async fn append_audit(pool: &Pool<Db>, entry: &NewAudit<'_>, now: Timestamp) -> Result<()> {
                sqlx::query(
                    "INSERT INTO audit_log (at, agent_id, agent_name, action, target, detail, address) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(now.0)
                .bind(entry.agent_id)
                .bind(entry.agent_name)
                .bind(entry.action)
                .bind(entry.target)
                .bind(entry.detail)
                .bind(entry.address)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(super) async fn add_canned(pool: &Pool<Db>, title: &str, body: &str, by: &str, now: Timestamp) -> Result<i64> {
                Ok(sqlx::query_scalar(
                    "INSERT INTO canned_replies (title, body, created_by, updated_at) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(title)
                .bind(body)
                .bind(by)
                .bind(now.0)
                .fetch_one(pool)
                .await?)
            }

            pub(super) async fn canned(pool: &Pool<Db>) -> Result<Vec<CannedReply>> {
                let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
                    "SELECT id, title, body, created_by, updated_at FROM canned_replies ORDER BY title, id",
                )
                .fetch_all(pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, title, body, created_by, updated_at)| CannedReply { id, title, body, created_by, updated_at })
                    .collect())
            }

            pub(super) async fn delete_canned(pool: &Pool<Db>, id: i64) -> Result<u64> {
                let done = sqlx::query("DELETE FROM canned_replies WHERE id = $1")
                    .bind(id)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected())
            }

            pub(super) async fn audit_entries(
                pool: &Pool<Db>,
                before_seq: Option<i64>,
                limit: i64,
            ) -> Result<Vec<AuditEntry>> {
                type Row = (i64, i64, Option<String>, Option<String>, String, Option<String>, String, Option<String>);
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT seq, at, agent_id, agent_name, action, target, detail, address FROM audit_log \
                     WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
                )
                .bind(before_seq.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(seq, at, agent_id, agent_name, action, target, detail, address)| AuditEntry {
                        seq,
                        at,
                        agent_id,
                        agent_name,
                        action,
                        target,
                        detail,
                        address,
                    })
                    .collect())
            }
        }
    };
}

team_sql!(sqlite_team, Sqlite);
team_sql!(postgres_team, Postgres);

macro_rules! on {
    ($store:ident, $func:ident, read $(, $arg:expr)*) => {
        match $store.backend() {
            Backend::Sqlite { read, .. } => sqlite_team::$func(read $(, $arg)*).await,
            Backend::Postgres(pool) => postgres_team::$func(pool $(, $arg)*).await,
        }
    };
    ($store:ident, $func:ident, write $(, $arg:expr)*) => {
        match $store.backend() {
            Backend::Sqlite { write, .. } => sqlite_team::$func(write $(, $arg)*).await,
            Backend::Postgres(pool) => postgres_team::$func(pool $(, $arg)*).await,
        }
    };
}

impl Store {
    /// Stores the agent's language; false if there is no such agent.
    pub async fn set_agent_locale(&self, agent_id: &str, locale: &str) -> Result<bool> {
        on!(self, set_locale, write, agent_id, locale)
    }

    pub async fn set_agent_password_hash(&self, agent_id: &str, phc: &str) -> Result<bool> {
        on!(self, set_password_hash, write, agent_id, phc)
    }

    /// Ends one session (logout); the number of sessions ended.
    pub async fn delete_session(&self, token_hash: &str) -> Result<u64> {
        on!(self, delete_session, write, token_hash)
    }

    /// Ends every session of an agent ("log out everywhere").
    pub async fn delete_sessions_of(&self, agent_id: &str) -> Result<u64> {
        on!(self, delete_sessions_of, write, agent_id)
    }

    pub async fn record_login_failure(
        &self,
        name: &str,
        address: &str,
        now: Timestamp,
    ) -> Result<()> {
        on!(self, record_login_failure, write, name, address, now)
    }

    pub async fn login_failures_since(
        &self,
        name: &str,
        address: &str,
        since: Timestamp,
    ) -> Result<LoginFailures> {
        // The writer: a failure just recorded must count at once.
        on!(self, login_failures_since, write, name, address, since)
    }

    /// A successful login forgets the account's failures (not the address's).
    pub async fn clear_login_failures(&self, name: &str) -> Result<()> {
        on!(self, clear_login_failures, write, name)
    }

    pub async fn append_audit(&self, entry: &NewAudit<'_>, now: Timestamp) -> Result<()> {
        on!(self, append_audit, write, entry, now)
    }

    pub async fn add_canned_reply(
        &self,
        title: &str,
        body: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<i64> {
        on!(self, add_canned, write, title, body, by, now)
    }

    /// The team's canned replies, by title.
    pub async fn canned_replies(&self) -> Result<Vec<CannedReply>> {
        on!(self, canned, read)
    }

    pub async fn delete_canned_reply(&self, id: i64) -> Result<u64> {
        on!(self, delete_canned, write, id)
    }

    /// The audit log, newest first; `before_seq` pages to older entries.
    pub async fn audit_entries(
        &self,
        before_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        on!(self, audit_entries, read, before_seq, limit)
    }
}
