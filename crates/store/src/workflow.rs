//! The team's work on conversations: status (open, pending, snoozed until,
//! resolved), assignee, internal notes with @mentions, and the history of
//! all of it. Agent-authored, so `reset_projections` leaves these tables
//! alone. Each change commits with an event in the event table, so every
//! node's live feed shows it (a replay, which rebuilds the events from the
//! raw log, drops those events but never the changes themselves).

use crate::backend::Backend;
use crate::{Result, Store, StoreError};
use resonanz_core::event::{DomainEvent, EventEnvelope};
use resonanz_core::{ConversationStatus, Timestamp};
use serde::Serialize;
use sqlx::{Pool, Postgres, Sqlite};

/// One entry of a conversation's history beside its messages.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActivityRow {
    pub id: i64,
    pub conversation_id: String,
    pub at: i64,
    pub agent_id: String,
    pub agent_name: String,
    /// `note`, `status`, `assignee`, `correction`.
    pub kind: String,
    /// A note's text.
    pub body: Option<String>,
    /// What changed, e.g. `{"from": "open", "to": "resolved"}`.
    pub detail: serde_json::Value,
}

/// A note that names an agent, for their notifications.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NotificationRow {
    pub id: i64,
    pub conversation_id: String,
    pub activity_id: i64,
    pub at: i64,
    pub by_name: String,
    pub body: Option<String>,
    pub read: bool,
}

/// An agent's correction of one analysed field of a message.
#[derive(Clone, Copy, Debug)]
pub struct Correction<'a> {
    pub message_id: &'a str,
    pub conversation_id: &'a str,
    /// `sentiment` (or `topics`).
    pub field: &'a str,
    pub old_value: Option<&'a str>,
    pub new_value: &'a str,
}

/// The correction in force for a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CorrectionRow {
    pub message_id: String,
    pub value: String,
    pub agent_name: String,
    pub at: i64,
}

/// Who did it, and when.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    pub agent_id: &'a str,
    pub agent_name: &'a str,
    pub now: Timestamp,
}

/// An agent as others pick them (assignment, @mentions).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentSummary {
    pub id: String,
    pub name: String,
    pub role: String,
}

macro_rules! workflow_sql {
    ($module:ident, $db:ty, $insert_event:literal) => {
        mod $module {
            use super::*;
            type Db = $db;

            async fn record(
                tx: &mut sqlx::Transaction<'_, Db>,
                conversation_id: &str,
                actor: &Actor<'_>,
                kind: &str,
                body: Option<&str>,
                detail: &serde_json::Value,
            ) -> Result<i64> {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO conversation_activity (conversation_id, at, agent_id, agent_name, kind, body, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(conversation_id)
                .bind(actor.now.0)
                .bind(actor.agent_id)
                .bind(actor.agent_name)
                .bind(kind)
                .bind(body)
                .bind(detail.to_string())
                .fetch_one(&mut **tx)
                .await?;
                Ok(id)
            }

            async fn event(
                tx: &mut sqlx::Transaction<'_, Db>,
                at: Timestamp,
                event: DomainEvent,
                out: &mut Vec<EventEnvelope>,
            ) -> Result<()> {
                let payload = serde_json::to_string(&event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let seq: i64 = sqlx::query_scalar($insert_event)
                    .bind(at.0)
                    .bind(event.kind())
                    .bind(payload)
                    .fetch_one(&mut **tx)
                    .await?;
                out.push(EventEnvelope { seq, at, event });
                Ok(())
            }

            async fn changed(
                tx: &mut sqlx::Transaction<'_, Db>,
                conversation_id: &str,
                change: &str,
                actor: &Actor<'_>,
                out: &mut Vec<EventEnvelope>,
            ) -> Result<()> {
                event(
                    tx,
                    actor.now,
                    DomainEvent::ConversationChanged {
                        conversation_id: conversation_id.to_owned(),
                        change: change.to_owned(),
                        agent_id: actor.agent_id.to_owned(),
                    },
                    out,
                )
                .await
            }

            pub(super) async fn set_status(
                pool: &Pool<Db>,
                conversation_id: &str,
                status: ConversationStatus,
                snoozed_until: Option<Timestamp>,
                from: ConversationStatus,
                actor: Actor<'_>,
            ) -> Result<Vec<EventEnvelope>> {
                let mut events = Vec::new();
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO conversation_work (conversation_id, status, snoozed_until, assignee_id, status_changed_at, updated_at) \
                     VALUES ($1, $2, $3, NULL, $4, $4) \
                     ON CONFLICT (conversation_id) DO UPDATE SET status = excluded.status, \
                       snoozed_until = excluded.snoozed_until, status_changed_at = excluded.status_changed_at, \
                       updated_at = excluded.updated_at",
                )
                .bind(conversation_id)
                .bind(status.as_str())
                .bind(snoozed_until.map(|t| t.0))
                .bind(actor.now.0)
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({
                    "from": from.as_str(),
                    "to": status.as_str(),
                    "until": snoozed_until.map(|t| t.0),
                });
                record(&mut tx, conversation_id, &actor, "status", None, &detail).await?;
                changed(&mut tx, conversation_id, "status", &actor, &mut events).await?;
                tx.commit().await?;
                Ok(events)
            }

            /// `only_if_free`: assign only a conversation nobody has (automatic
            /// assignment on two nodes then assigns it once); `None` if it was taken.
            pub(super) async fn assign(
                pool: &Pool<Db>,
                conversation_id: &str,
                assignee: Option<&AgentSummary>,
                from: Option<&str>,
                only_if_free: bool,
                actor: Actor<'_>,
            ) -> Result<Option<Vec<EventEnvelope>>> {
                let mut events = Vec::new();
                let mut tx = pool.begin().await?;
                let sql = if only_if_free {
                    "INSERT INTO conversation_work (conversation_id, status, snoozed_until, assignee_id, status_changed_at, updated_at) \
                     VALUES ($1, 'open', NULL, $2, $3, $3) \
                     ON CONFLICT (conversation_id) DO UPDATE SET assignee_id = excluded.assignee_id, \
                       updated_at = excluded.updated_at WHERE conversation_work.assignee_id IS NULL"
                } else {
                    "INSERT INTO conversation_work (conversation_id, status, snoozed_until, assignee_id, status_changed_at, updated_at) \
                     VALUES ($1, 'open', NULL, $2, $3, $3) \
                     ON CONFLICT (conversation_id) DO UPDATE SET assignee_id = excluded.assignee_id, \
                       updated_at = excluded.updated_at"
                };
                let done = sqlx::query(sql)
                    .bind(conversation_id)
                    .bind(assignee.map(|a| a.id.as_str()))
                    .bind(actor.now.0)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                let detail = serde_json::json!({
                    "from": from,
                    "to": assignee.map(|a| a.id.as_str()),
                    "to_name": assignee.map(|a| a.name.as_str()),
                });
                record(&mut tx, conversation_id, &actor, "assignee", None, &detail).await?;
                changed(&mut tx, conversation_id, "assignee", &actor, &mut events).await?;
                tx.commit().await?;
                Ok(Some(events))
            }

            pub(super) async fn add_note(
                pool: &Pool<Db>,
                conversation_id: &str,
                body: &str,
                mentioned: &[AgentSummary],
                actor: Actor<'_>,
            ) -> Result<(i64, Vec<EventEnvelope>)> {
                let mut events = Vec::new();
                let mut tx = pool.begin().await?;
                let names: Vec<&str> = mentioned.iter().map(|a| a.name.as_str()).collect();
                let detail = serde_json::json!({"mentions": names});
                let id = record(&mut tx, conversation_id, &actor, "note", Some(body), &detail).await?;
                for agent in mentioned {
                    sqlx::query(
                        "INSERT INTO agent_notifications (agent_id, conversation_id, activity_id, at, read_at) \
                         VALUES ($1, $2, $3, $4, NULL)",
                    )
                    .bind(&agent.id)
                    .bind(conversation_id)
                    .bind(id)
                    .bind(actor.now.0)
                    .execute(&mut *tx)
                    .await?;
                    event(
                        &mut tx,
                        actor.now,
                        DomainEvent::AgentMentioned {
                            agent_id: agent.id.clone(),
                            conversation_id: conversation_id.to_owned(),
                            note_id: id,
                        },
                        &mut events,
                    )
                    .await?;
                }
                changed(&mut tx, conversation_id, "note", &actor, &mut events).await?;
                tx.commit().await?;
                Ok((id, events))
            }

            pub(super) async fn activity(pool: &Pool<Db>, conversation_id: &str) -> Result<Vec<ActivityRow>> {
                type Row = (i64, String, i64, String, String, String, Option<String>, String);
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT id, conversation_id, at, agent_id, agent_name, kind, body, detail \
                     FROM conversation_activity WHERE conversation_id = $1 ORDER BY id LIMIT 1000",
                )
                .bind(conversation_id)
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|(id, conversation_id, at, agent_id, agent_name, kind, body, detail)| {
                        Ok(ActivityRow {
                            id,
                            conversation_id,
                            at,
                            agent_id,
                            agent_name,
                            kind,
                            body,
                            detail: serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        })
                    })
                    .collect()
            }

            /// (status as stored, snoozed until, status changed at, assignee) of one conversation.
            pub(super) async fn work(
                pool: &Pool<Db>,
                conversation_id: &str,
            ) -> Result<Option<(String, Option<i64>, i64, Option<String>)>> {
                Ok(sqlx::query_as(
                    "SELECT status, snoozed_until, status_changed_at, assignee_id FROM conversation_work WHERE conversation_id = $1",
                )
                .bind(conversation_id)
                .fetch_optional(pool)
                .await?)
            }

            pub(super) async fn agents(pool: &Pool<Db>) -> Result<Vec<AgentSummary>> {
                let rows: Vec<(String, String, String)> =
                    sqlx::query_as("SELECT id, name, role FROM agents ORDER BY name")
                        .fetch_all(pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, name, role)| AgentSummary { id, name, role })
                    .collect())
            }

            pub(super) async fn notifications(pool: &Pool<Db>, agent_id: &str, limit: i64) -> Result<Vec<NotificationRow>> {
                type Row = (i64, String, i64, i64, String, Option<String>, Option<i64>);
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT n.id, n.conversation_id, n.activity_id, n.at, a.agent_name, a.body, n.read_at \
                     FROM agent_notifications n JOIN conversation_activity a ON a.id = n.activity_id \
                     WHERE n.agent_id = $1 ORDER BY n.id DESC LIMIT $2",
                )
                .bind(agent_id)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, conversation_id, activity_id, at, by_name, body, read_at)| NotificationRow {
                        id,
                        conversation_id,
                        activity_id,
                        at,
                        by_name,
                        body,
                        read: read_at.is_some(),
                    })
                    .collect())
            }

            pub(super) async fn unread_notifications(pool: &Pool<Db>, agent_id: &str) -> Result<i64> {
                Ok(sqlx::query_scalar(
                    "SELECT COUNT(*) FROM agent_notifications WHERE agent_id = $1 AND read_at IS NULL",
                )
                .bind(agent_id)
                .fetch_one(pool)
                .await?)
            }

            pub(super) async fn correct(
                pool: &Pool<Db>,
                correction: &Correction<'_>,
                actor: Actor<'_>,
            ) -> Result<Vec<EventEnvelope>> {
                let mut events = Vec::new();
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO analysis_corrections (message_id, conversation_id, field, old_value, new_value, agent_id, agent_name, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(correction.message_id)
                .bind(correction.conversation_id)
                .bind(correction.field)
                .bind(correction.old_value)
                .bind(correction.new_value)
                .bind(actor.agent_id)
                .bind(actor.agent_name)
                .bind(actor.now.0)
                .execute(&mut *tx)
                .await?;
                let detail = serde_json::json!({
                    "message_id": correction.message_id,
                    "field": correction.field,
                    "from": correction.old_value,
                    "to": correction.new_value,
                });
                record(&mut tx, correction.conversation_id, &actor, "correction", None, &detail).await?;
                changed(&mut tx, correction.conversation_id, "correction", &actor, &mut events).await?;
                tx.commit().await?;
                Ok(events)
            }

            /// The newest correction per message of `field` in a conversation.
            pub(super) async fn corrections_in(
                pool: &Pool<Db>,
                conversation_id: &str,
                field: &str,
            ) -> Result<Vec<CorrectionRow>> {
                let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
                    "SELECT r.message_id, r.new_value, r.agent_name, r.at FROM analysis_corrections r \
                     WHERE r.conversation_id = $1 AND r.field = $2 AND r.id = \
                       (SELECT MAX(x.id) FROM analysis_corrections x WHERE x.message_id = r.message_id AND x.field = r.field)",
                )
                .bind(conversation_id)
                .bind(field)
                .fetch_all(pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(message_id, value, agent_name, at)| CorrectionRow { message_id, value, agent_name, at })
                    .collect())
            }

            /// (label, text) of every message whose `field` the team corrected, newest correction each.
            pub(super) async fn labelled_corrections(pool: &Pool<Db>, field: &str) -> Result<Vec<(String, String)>> {
                Ok(sqlx::query_as(
                    "SELECT r.new_value, m.body FROM analysis_corrections r JOIN messages m ON m.id = r.message_id \
                     WHERE r.field = $1 AND m.body IS NOT NULL AND r.id = \
                       (SELECT MAX(x.id) FROM analysis_corrections x WHERE x.message_id = r.message_id AND x.field = r.field) \
                     ORDER BY r.id",
                )
                .bind(field)
                .fetch_all(pool)
                .await?)
            }

            pub(super) async fn set_availability(pool: &Pool<Db>, agent_id: &str, availability: &str) -> Result<bool> {
                let done = sqlx::query("UPDATE agents SET availability = $1 WHERE id = $2")
                    .bind(availability)
                    .bind(agent_id)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(super) async fn availability(pool: &Pool<Db>, agent_id: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar("SELECT availability FROM agents WHERE id = $1")
                    .bind(agent_id)
                    .fetch_optional(pool)
                    .await?)
            }

            /// Online agents who may take conversations, by name, with how many
            /// conversations they hold that are not resolved (as the team sees it at `now`).
            pub(super) async fn online_load(pool: &Pool<Db>, now: i64) -> Result<Vec<(AgentSummary, i64)>> {
                let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
                    "SELECT a.id, a.name, a.role, \
                       (SELECT COUNT(*) FROM conversation_work w JOIN conversations c ON c.id = w.conversation_id \
                        WHERE w.assignee_id = a.id AND (CASE WHEN w.status <> 'open' AND c.last_inbound_at > w.status_changed_at \
                          THEN 'open' WHEN w.status = 'snoozed' AND w.snoozed_until <= $1 THEN 'open' ELSE w.status END) <> 'resolved') \
                     FROM agents a WHERE a.availability = 'online' AND a.role IN ('agent', 'admin') ORDER BY a.name, a.id",
                )
                .bind(now)
                .fetch_all(pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, name, role, open)| (AgentSummary { id, name, role }, open))
                    .collect())
            }

            pub(super) async fn rotation(pool: &Pool<Db>, name: &str) -> Result<Option<String>> {
                Ok(sqlx::query_scalar("SELECT last_agent_id FROM assignment_rotation WHERE name = $1")
                    .bind(name)
                    .fetch_optional(pool)
                    .await?)
            }

            pub(super) async fn set_rotation(pool: &Pool<Db>, name: &str, agent_id: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO assignment_rotation (name, last_agent_id) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET last_agent_id = excluded.last_agent_id",
                )
                .bind(name)
                .bind(agent_id)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(super) async fn read_notifications(
                pool: &Pool<Db>,
                agent_id: &str,
                conversation_id: &str,
                now: Timestamp,
            ) -> Result<u64> {
                let done = sqlx::query(
                    "UPDATE agent_notifications SET read_at = $1 \
                     WHERE agent_id = $2 AND conversation_id = $3 AND read_at IS NULL",
                )
                .bind(now.0)
                .bind(agent_id)
                .bind(conversation_id)
                .execute(pool)
                .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

// Single-writer SQLite numbers events max + 1, as the projector does;
// PostgreSQL's identity column numbers them.
workflow_sql!(
    sqlite_work,
    Sqlite,
    "INSERT INTO events (seq, at, kind, payload, raw_event_id) \
     VALUES ((SELECT COALESCE(MAX(seq), 0) + 1 FROM events), $1, $2, $3, NULL) RETURNING seq"
);
workflow_sql!(
    postgres_work,
    Postgres,
    "INSERT INTO events (at, kind, payload, raw_event_id) VALUES ($1, $2, $3, NULL) RETURNING seq"
);

macro_rules! on {
    ($store:ident, $func:ident, read $(, $arg:expr)*) => {
        match $store.backend() {
            Backend::Sqlite { read, .. } => sqlite_work::$func(read $(, $arg)*).await,
            Backend::Postgres(pool) => postgres_work::$func(pool $(, $arg)*).await,
        }
    };
    ($store:ident, $func:ident, write $(, $arg:expr)*) => {
        match $store.backend() {
            Backend::Sqlite { write, .. } => sqlite_work::$func(write $(, $arg)*).await,
            Backend::Postgres(pool) => postgres_work::$func(pool $(, $arg)*).await,
        }
    };
}

/// A conversation's work state as the team sees it at `now`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkState {
    pub status: ConversationStatus,
    pub snoozed_until: Option<Timestamp>,
    pub assignee_id: Option<String>,
}

impl Store {
    /// Sets the status (a snooze with its end) and records it in the history.
    pub async fn set_conversation_status(
        &self,
        conversation_id: &str,
        status: ConversationStatus,
        snoozed_until: Option<Timestamp>,
        actor: Actor<'_>,
    ) -> Result<()> {
        let from = self.work_state(conversation_id, actor.now).await?.status;
        let until = snoozed_until.filter(|_| status == ConversationStatus::Snoozed);
        let events = on!(
            self,
            set_status,
            write,
            conversation_id,
            status,
            until,
            from,
            actor
        )?;
        self.bus.publish(&events);
        Ok(())
    }

    /// Assigns the conversation (or frees it with `None`), kept in the history.
    pub async fn assign_conversation(
        &self,
        conversation_id: &str,
        assignee: Option<&AgentSummary>,
        actor: Actor<'_>,
    ) -> Result<()> {
        let from = self
            .work_state(conversation_id, actor.now)
            .await?
            .assignee_id;
        let assigned = on!(
            self,
            assign,
            write,
            conversation_id,
            assignee,
            from.as_deref(),
            false,
            actor
        )?;
        if let Some(events) = assigned {
            self.bus.publish(&events);
        }
        Ok(())
    }

    /// Assigns a conversation nobody has yet; false if someone took it first.
    pub async fn assign_if_free(
        &self,
        conversation_id: &str,
        assignee: &AgentSummary,
        actor: Actor<'_>,
    ) -> Result<bool> {
        match on!(
            self,
            assign,
            write,
            conversation_id,
            Some(assignee),
            None,
            true,
            actor
        )? {
            Some(events) => {
                self.bus.publish(&events);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// `online`, `away` or `offline`; false if there is no such agent.
    pub async fn set_availability(&self, agent_id: &str, availability: &str) -> Result<bool> {
        on!(self, set_availability, write, agent_id, availability)
    }

    pub async fn availability(&self, agent_id: &str) -> Result<Option<String>> {
        on!(self, availability, read, agent_id)
    }

    /// Online agents (not analysts) with the number of unresolved conversations each holds.
    pub async fn online_load(&self, now: Timestamp) -> Result<Vec<(AgentSummary, i64)>> {
        on!(self, online_load, write, now.0)
    }

    /// The agent a round robin named last.
    pub async fn rotation(&self, name: &str) -> Result<Option<String>> {
        on!(self, rotation, write, name)
    }

    pub async fn set_rotation(&self, name: &str, agent_id: &str) -> Result<()> {
        on!(self, set_rotation, write, name, agent_id)
    }

    /// An internal note (never sent to the customer); each mentioned agent
    /// gets a notification. Returns the note's id.
    pub async fn add_note(
        &self,
        conversation_id: &str,
        body: &str,
        mentioned: &[AgentSummary],
        actor: Actor<'_>,
    ) -> Result<i64> {
        let (id, events) = on!(
            self,
            add_note,
            write,
            conversation_id,
            body,
            mentioned,
            actor
        )?;
        self.bus.publish(&events);
        Ok(id)
    }

    /// Notes, status and assignment changes of a conversation, oldest first.
    pub async fn conversation_activity(&self, conversation_id: &str) -> Result<Vec<ActivityRow>> {
        on!(self, activity, read, conversation_id)
    }

    /// The status as the team sees it at `now` (reopened by a customer
    /// message after the change, or by the end of a snooze).
    pub async fn work_state(&self, conversation_id: &str, now: Timestamp) -> Result<WorkState> {
        let stored = on!(self, work, write, conversation_id)?;
        let Some((status, snoozed_until, changed_at, assignee_id)) = stored else {
            return Ok(WorkState {
                status: ConversationStatus::Open,
                snoozed_until: None,
                assignee_id: None,
            });
        };
        let stored: ConversationStatus = status
            .parse()
            .map_err(|e: resonanz_core::UnknownValue| StoreError::Corrupt(e.to_string()))?;
        let last_inbound = self
            .conversation_info(conversation_id)
            .await?
            .and_then(|info| info.last_inbound_at);
        let reopened =
            stored != ConversationStatus::Open && last_inbound.is_some_and(|at| at.0 > changed_at);
        let woke =
            stored == ConversationStatus::Snoozed && snoozed_until.is_some_and(|t| t <= now.0);
        Ok(WorkState {
            status: if reopened || woke {
                ConversationStatus::Open
            } else {
                stored
            },
            snoozed_until: snoozed_until.map(Timestamp).filter(|_| !(reopened || woke)),
            assignee_id,
        })
    }

    /// Records an agent's correction of a message's analysis, in the history too.
    pub async fn correct_analysis(
        &self,
        correction: &Correction<'_>,
        actor: Actor<'_>,
    ) -> Result<()> {
        let events = on!(self, correct, write, correction, actor)?;
        self.bus.publish(&events);
        Ok(())
    }

    /// The corrections in force in a conversation for `field`.
    pub async fn corrections_in(
        &self,
        conversation_id: &str,
        field: &str,
    ) -> Result<Vec<CorrectionRow>> {
        on!(self, corrections_in, read, conversation_id, field)
    }

    /// `(label, text)` of each corrected message: the team's labelled data.
    pub async fn labelled_corrections(&self, field: &str) -> Result<Vec<(String, String)>> {
        on!(self, labelled_corrections, read, field)
    }

    pub async fn agents(&self) -> Result<Vec<AgentSummary>> {
        on!(self, agents, read)
    }

    /// Notes that mention the agent, newest first.
    pub async fn notifications(&self, agent_id: &str, limit: i64) -> Result<Vec<NotificationRow>> {
        on!(self, notifications, read, agent_id, limit)
    }

    pub async fn unread_notifications(&self, agent_id: &str) -> Result<i64> {
        on!(self, unread_notifications, read, agent_id)
    }

    /// Marks the agent's notifications of a conversation read (they opened it).
    pub async fn read_notifications(
        &self,
        agent_id: &str,
        conversation_id: &str,
        now: Timestamp,
    ) -> Result<u64> {
        on!(
            self,
            read_notifications,
            write,
            agent_id,
            conversation_id,
            now
        )
    }
}
