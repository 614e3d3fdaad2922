//! The two database backends. The SQL is written once (both accept `$1`
//! placeholders, `ON CONFLICT` and `RETURNING`) and instantiated per
//! database by the `backend_sql!` macro, so the dialects cannot drift apart.

use crate::{ApplyMode, IngestOutcome, Projection, Result, StoreError, StoreOptions};
use resonanz_core::analysis::{Analysis, Sentiment};
use resonanz_core::event::{DomainEvent, EventEnvelope};
use resonanz_core::*;
use serde::Serialize;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Postgres, Sqlite};
// Batch-local maps keyed by ids and dedupe keys: a fast seeded hasher, not SipHash.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::time::Duration;

#[derive(Clone)]
pub enum Backend {
    Sqlite {
        write: Pool<Sqlite>,
        read: Pool<Sqlite>,
        /// Commits fsync (`synchronous=FULL`) so an ack survives power loss.
        sync_full: bool,
        /// The database file (its `.setup-lock` sibling serialises set-up).
        path: std::path::PathBuf,
    },
    Postgres(Pool<Postgres>),
}

/// Row counts of the log and each projection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub raw_events: i64,
    pub contacts: i64,
    pub conversations: i64,
    pub messages: i64,
    pub mentions: i64,
    pub reviews: i64,
    pub events: i64,
    pub unrecognized: i64,
    pub parse_errors: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ConversationRow {
    pub id: String,
    pub contact_id: String,
    pub contact_name: Option<String>,
    pub channel: String,
    pub account: String,
    pub last_inbound_at: Option<i64>,
    pub last_message_at: i64,
    /// The newest message either way, for the inbox line.
    pub last_message: Option<LastMessage>,
    /// The first customer message since the business last wrote, when the
    /// customer wrote last: how long they have been waiting.
    pub waiting_since: Option<i64>,
    /// `open`, `pending`, `snoozed`, `resolved`, as the team sees it now.
    pub status: String,
    pub assignee_id: Option<String>,
    pub assignee_name: Option<String>,
    /// The business's newest message (a first or a next response is due).
    pub last_outbound_at: Option<i64>,
}

/// Whose conversations a list shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Assignee<'a> {
    #[default]
    Anyone,
    /// Nobody has taken them yet.
    Nobody,
    Agent(&'a str),
}

/// Which conversations a list shows; the default is all of them.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConversationFilter<'a> {
    pub contact_id: Option<&'a str>,
    pub channel: Option<Channel>,
    /// Only those whose newest message is the customer's.
    pub awaiting_reply: bool,
    /// (last message time in ms, id) of the previous page's last row.
    pub before: Option<(i64, &'a str)>,
    /// Only this status (as the team sees it at `now`); `None`: every one.
    pub status: Option<ConversationStatus>,
    pub assignee: Assignee<'a>,
    /// The time a snooze is compared with (ms).
    pub now: i64,
    /// Only those whose newest message has this sentiment.
    pub sentiment: Option<Sentiment>,
    /// Only those whose customer last wrote within this span (ms, from–to):
    /// e.g. the 24-hour window closes within two hours.
    pub last_inbound_between: Option<(i64, i64)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LastMessage {
    pub id: String,
    pub direction: String,
    pub kind: String,
    pub body: Option<String>,
    pub sent_at: i64,
    pub sentiment: Option<Sentiment>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MessageRow {
    pub id: String,
    pub conversation_id: String,
    pub channel: String,
    pub direction: String,
    pub external_id: String,
    pub kind: String,
    pub body: Option<String>,
    pub delivery_state: String,
    pub delivery: DeliveryState,
    pub reactions: Vec<Reaction>,
    pub location: Option<Location>,
    pub attachments: Vec<Attachment>,
    pub reply_to: Option<String>,
    pub sent_at: i64,
    pub analysis: Option<Analysis>,
    /// For a shared location: a map link a towing partner can open.
    pub map_url: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct MentionRow {
    pub id: String,
    pub platform: String,
    pub author_handle: String,
    pub followers: i64,
    pub body: String,
    pub published_at: i64,
    pub analysis: Option<Analysis>,
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("domain types serialise")
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| StoreError::Corrupt(format!("{err}: {text}")))
}

/// Events collected during one transaction, ordered by their origin
/// (raw event, item position) so that live ingest and replay number them alike.
#[derive(Default)]
struct EventBuffer {
    events: Vec<(i64, usize, usize, Timestamp, DomainEvent)>,
}

impl EventBuffer {
    fn push(&mut self, raw_id: i64, position: usize, at: Timestamp, event: DomainEvent) {
        let sub = self.events.len();
        self.events.push((raw_id, position, sub, at, event));
    }
}

struct MessageInsert<'a> {
    raw_id: i64,
    position: usize,
    at: Timestamp,
    message: &'a InboundMessage,
    analysis: Option<&'a Analysis>,
}

/// Messages per multi-row statement (18 columns each).
const MESSAGES_PER_STATEMENT: usize = 500;

struct MentionInsert<'a> {
    raw_id: i64,
    position: usize,
    at: Timestamp,
    mention: &'a Mention,
    analysis: Option<&'a Analysis>,
}

struct ReviewInsert<'a> {
    raw_id: i64,
    position: usize,
    at: Timestamp,
    review: &'a Review,
    analysis: Option<&'a Analysis>,
}

/// SQLite allows 32,766 bound parameters per statement, PostgreSQL 65,535.
const ROWS_PER_STATEMENT: usize = 1500;

macro_rules! backend_sql {
    ($module:ident, $db:ty, $clear_events:literal, $single_writer:literal, $identity_rows:literal) => {
        pub(crate) mod $module {
            use super::*;
            /// Only this process writes (SQLite's writer task), so ids can be computed.
            const SINGLE_WRITER: bool = $single_writer;
            type Db = $db;
            type Tx<'c> = sqlx::Transaction<'c, Db>;

            /// Runs one multi-row statement per chunk and returns the rows each
            /// changed. sqlx executes on its own worker thread, so while SQLite
            /// runs one statement this task builds the next one's binds instead
            /// of the two taking turns.
            async fn execute_chunks<'i, T>(
                tx: &mut Tx<'_>,
                items: &'i [T],
                rows_per_statement: usize,
                build: impl Fn(&'i [T]) -> sqlx::QueryBuilder<Db>,
            ) -> Result<Vec<u64>> {
                let mut chunks = items.chunks(rows_per_statement);
                let mut next = chunks.next().map(&build);
                let mut affected = Vec::with_capacity(items.len().div_ceil(rows_per_statement.max(1)));
                while let Some(mut query) = next.take() {
                    let (result, built) = futures::join!(
                        query.build().execute(&mut **tx),
                        async { chunks.next().map(&build) }
                    );
                    affected.push(result?.rows_affected());
                    next = built;
                }
                Ok(affected)
            }

            pub(crate) async fn apply(
                conn: &mut <Db as sqlx::Database>::Connection,
                projections: &[&Projection],
                mode: ApplyMode,
            ) -> Result<(Vec<IngestOutcome>, Vec<EventEnvelope>)> {
                if mode == ApplyMode::Accept {
                    return accept_raw(conn, projections).await;
                }
                let mut tx = sqlx::Connection::begin(conn).await?;
                let reproject = mode == ApplyMode::Reproject;
                let raw_ids: Vec<Option<i64>> = if reproject {
                    let ids: Vec<Option<i64>> = projections.iter().map(|p| p.raw.id.map(|id| id.0)).collect();
                    let claimed = mark_projected(&mut tx, &ids).await?;
                    ids.into_iter().map(|id| id.filter(|id| claimed.contains(id))).collect()
                } else {
                    insert_raw(&mut tx, projections, true).await?
                };
                let mut events = EventBuffer::default();
                let mut mentions = Vec::new();
                let mut reviews = Vec::new();
                let mut messages: Vec<MessageInsert<'_>> = Vec::new();
                for (projection, raw_id) in projections.iter().zip(&raw_ids) {
                    let Some(raw_id) = *raw_id else { continue };
                    let at = projection.raw.received_at;
                    for (position, item) in projection.items.iter().enumerate() {
                        let analysis = item.analysis.as_ref();
                        // Statuses, reactions and read marks see every message before them.
                        let refers_to_messages =
                            !matches!(item.inbound, Inbound::Message(_) | Inbound::Mention(_) | Inbound::Review(_));
                        if refers_to_messages && !messages.is_empty() {
                            apply_messages(&mut tx, &messages, &mut events).await?;
                            messages.clear();
                        }
                        match &item.inbound {
                            Inbound::Mention(mention) => mentions.push(MentionInsert {
                                raw_id,
                                position,
                                at,
                                mention,
                                analysis,
                            }),
                            Inbound::Review(review) => reviews.push(ReviewInsert {
                                raw_id,
                                position,
                                at,
                                review,
                                analysis,
                            }),
                            Inbound::Message(message) => messages.push(MessageInsert {
                                raw_id,
                                position,
                                at,
                                message,
                                analysis,
                            }),
                            Inbound::Status(status) => {
                                apply_status(&mut tx, raw_id, position, at, status, &mut events).await?
                            }
                            Inbound::Reaction(reaction) => {
                                apply_reaction(&mut tx, raw_id, position, at, reaction, &mut events)
                                    .await?
                            }
                            Inbound::ReadUpTo(watermark) => {
                                apply_watermark(&mut tx, raw_id, position, at, watermark, &mut events)
                                    .await?
                            }
                            Inbound::IdentityChanged(change) => {
                                apply_identity_change(&mut tx, raw_id, position, at, change, &mut events)
                                    .await?
                            }
                            Inbound::Unrecognized(unrecognized) => {
                                insert_unrecognized(
                                    &mut tx,
                                    raw_id,
                                    position,
                                    &unrecognized.kind,
                                    &unrecognized.raw,
                                )
                                .await?;
                                events.push(
                                    raw_id,
                                    position,
                                    at,
                                    DomainEvent::Unrecognized {
                                        raw_event_id: RawEventId(raw_id),
                                        kind: unrecognized.kind.clone(),
                                    },
                                );
                            }
                        }
                    }
                }
                apply_messages(&mut tx, &messages, &mut events).await?;
                insert_mentions(&mut tx, &mentions, &mut events).await?;
                insert_reviews(&mut tx, &reviews, &mut events).await?;
                let envelopes = insert_events(&mut tx, events).await?;
                tx.commit().await?;
                let outcomes = raw_ids
                    .into_iter()
                    .map(|id| match id {
                        Some(id) if !reproject => IngestOutcome::Stored(RawEventId(id)),
                        Some(_) => IngestOutcome::Duplicate,
                        None => IngestOutcome::Duplicate,
                    })
                    .collect();
                Ok((outcomes, envelopes))
            }

            /// Claims the projection of these raw events: returns those this
            /// transaction marked projected. Another claimant (a second node
            /// recovering at start, or the writer that accepted them) finds
            /// them marked and projects nothing, so no event is recorded twice.
            async fn mark_projected(tx: &mut Tx<'_>, ids: &[Option<i64>]) -> Result<HashSet<i64>> {
                let ids: Vec<i64> = ids.iter().flatten().copied().collect();
                let mut claimed = HashSet::with_capacity(ids.len());
                for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                    let mut query = sqlx::QueryBuilder::<Db>::new(
                        "UPDATE raw_events SET projected = 1 WHERE projected = 0 AND id IN (",
                    );
                    let mut list = query.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    query.push(") RETURNING id");
                    let rows: Vec<(i64,)> = query.build_query_as().persistent(false).fetch_all(&mut **tx).await?;
                    claimed.extend(rows.into_iter().map(|(id,)| id));
                }
                Ok(claimed)
            }

            /// Stores raw events only, marked unprojected: one autocommitted
            /// statement per chunk, so an acknowledgement costs one round trip to
            /// the database and one fsync. Each raw event stands alone, so a chunk
            /// committed before a later one fails is simply a duplicate on retry.
            async fn accept_raw(
                conn: &mut <Db as sqlx::Database>::Connection,
                projections: &[&Projection],
            ) -> Result<(Vec<IngestOutcome>, Vec<EventEnvelope>)> {
                let mut claimed: HashMap<(String, String), i64> = HashMap::new();
                for chunk in projections.chunks(ROWS_PER_STATEMENT) {
                    let mut query = raw_insert_returning(chunk, false);
                    let rows: Vec<(i64, String, String)> = query.build_query_as().fetch_all(&mut *conn).await?;
                    claimed.extend(rows.into_iter().map(|(id, source, key)| ((source, key), id)));
                }
                let outcomes = first_claims(projections, claimed)
                    .into_iter()
                    .map(|id| id.map_or(IngestOutcome::Duplicate, |id| IngestOutcome::Stored(RawEventId(id))))
                    .collect();
                Ok((outcomes, Vec::new()))
            }

            fn raw_insert_returning(chunk: &[&Projection], projected: bool) -> sqlx::QueryBuilder<Db> {
                let mut query = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO raw_events (source, dedupe_key, received_at, verification, payload, parse_error, projected) ",
                );
                push_raw_values(&mut query, chunk, projected);
                query.push(" ON CONFLICT (source, dedupe_key) DO NOTHING RETURNING id, source, dedupe_key");
                query
            }

            /// Within one batch the first copy of a duplicate claims the id.
            fn first_claims(projections: &[&Projection], mut claimed: HashMap<(String, String), i64>) -> Vec<Option<i64>> {
                projections
                    .iter()
                    .map(|p| claimed.remove(&(p.raw.source.as_str().to_owned(), p.raw.dedupe_key.clone())))
                    .collect()
            }

            async fn insert_raw(tx: &mut Tx<'_>, projections: &[&Projection], projected: bool) -> Result<Vec<Option<i64>>> {
                if SINGLE_WRITER {
                    return insert_raw_single_writer(tx, projections, projected).await;
                }
                let mut claimed: HashMap<(String, String), i64> = HashMap::new();
                for chunk in projections.chunks(ROWS_PER_STATEMENT) {
                    let mut query = raw_insert_returning(chunk, projected);
                    let rows: Vec<(i64, String, String)> =
                        query.build_query_as().fetch_all(&mut **tx).await?;
                    claimed.extend(rows.into_iter().map(|(id, source, key)| ((source, key), id)));
                }
                Ok(first_claims(projections, claimed))
            }

            fn push_raw_values(query: &mut sqlx::QueryBuilder<Db>, rows: &[&Projection], projected: bool) {
                query.push_values(rows, |mut row, p| {
                    row.push_bind(p.raw.source.as_str())
                        .push_bind(p.raw.dedupe_key.as_str())
                        .push_bind(p.raw.received_at.0)
                        .push_bind(p.raw.verification.as_str())
                        .push_bind(p.raw.payload.as_slice())
                        .push_bind(p.parse_error.as_deref())
                        .push_bind(i64::from(projected));
                });
            }

            /// With one writer (SQLite), ids are known without RETURNING: rows of
            /// one INSERT get consecutive rowids after the current maximum. This
            /// avoids sqlx handing every returned row across threads. The insert
            /// skips keys already stored; only when it skipped any (a redelivery,
            /// a file imported again) are the new rows looked up, so the usual
            /// batch walks the dedupe index once per row, not twice.
            async fn insert_raw_single_writer(
                tx: &mut Tx<'_>,
                projections: &[&Projection],
                projected: bool,
            ) -> Result<Vec<Option<i64>>> {
                let mut fresh: Vec<&Projection> = Vec::with_capacity(projections.len());
                let mut first_in_batch: HashSet<(&str, &str)> = Default::default();
                for p in projections {
                    if first_in_batch.insert((p.raw.source.as_str(), p.raw.dedupe_key.as_str())) {
                        fresh.push(p);
                    }
                }
                let base: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM raw_events")
                    .fetch_one(&mut **tx)
                    .await?;
                let inserted: u64 = execute_chunks(tx, &fresh, ROWS_PER_STATEMENT, |chunk| {
                    let mut query = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO raw_events (source, dedupe_key, received_at, verification, payload, parse_error, projected) ",
                    );
                    push_raw_values(&mut query, chunk, projected);
                    query.push(" ON CONFLICT (source, dedupe_key) DO NOTHING");
                    query
                })
                .await?
                .into_iter()
                .sum();
                let mut ids: HashMap<(&str, &str), i64> = HashMap::with_capacity(fresh.len());
                if inserted == fresh.len() as u64 {
                    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM raw_events")
                        .fetch_one(&mut **tx)
                        .await?;
                    if last != base + fresh.len() as i64 {
                        return Err(StoreError::Corrupt(format!(
                            "raw event ids not consecutive: {base} + {} != {last}",
                            fresh.len()
                        )));
                    }
                    ids.extend(fresh.iter().zip(base + 1..).map(|(p, id)| {
                        ((p.raw.source.as_str(), p.raw.dedupe_key.as_str()), id)
                    }));
                } else {
                    let rows: Vec<(i64, String, String)> =
                        sqlx::query_as("SELECT id, source, dedupe_key FROM raw_events WHERE id > $1")
                            .bind(base)
                            .fetch_all(&mut **tx)
                            .await?;
                    let stored: HashMap<(String, String), i64> =
                        rows.into_iter().map(|(id, source, key)| ((source, key), id)).collect();
                    for p in &fresh {
                        let key = (p.raw.source.as_str().to_owned(), p.raw.dedupe_key.clone());
                        if let Some(id) = stored.get(&key) {
                            ids.insert((p.raw.source.as_str(), p.raw.dedupe_key.as_str()), *id);
                        }
                    }
                }
                Ok(projections
                    .iter()
                    .map(|p| ids.remove(&(p.raw.source.as_str(), p.raw.dedupe_key.as_str())))
                    .collect())
            }

            async fn apply_messages(
                tx: &mut Tx<'_>,
                messages: &[MessageInsert<'_>],
                events: &mut EventBuffer,
            ) -> Result<()> {
                for chunk in messages.chunks(MESSAGES_PER_STATEMENT) {
                    apply_message_chunk(tx, chunk, events).await?;
                }
                Ok(())
            }

            /// Projects consecutive messages with a handful of multi-row statements
            /// (sqlx hands every statement to SQLite's worker thread, so statements,
            /// not rows, are the cost). The in-memory walk keeps the semantics of
            /// applying them one by one: the first known identity decides the contact,
            /// otherwise the first identity derives a new one; the first copy wins.
            async fn apply_message_chunk(
                tx: &mut Tx<'_>,
                chunk: &[MessageInsert<'_>],
                events: &mut EventBuffer,
            ) -> Result<()> {
                // Contacts already known for any identity in the chunk.
                let mut owner: HashMap<(IdentityKind, String), String> = HashMap::new();
                let mut name_missing: HashMap<String, bool> = HashMap::new();
                // One lookup per identity kind, each value once (`kind = $1 AND value IN
                // (…)` walks the primary key per value), answered as one JSON row: sqlx
                // hands every result row across threads, and with a row per identity the
                // lookup took a third of a webhook's projection.
                let mut by_kind: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
                    Default::default();
                for identity in chunk.iter().flat_map(|m| m.message.customer.iter()) {
                    by_kind.entry(identity.kind.as_str()).or_default().insert(identity.value.as_str());
                }
                for (kind, values) in by_kind {
                    let mut query = sqlx::QueryBuilder::<Db>::new(
                        concat!("SELECT ", $identity_rows, " FROM identities i \
                         JOIN contacts c ON c.id = i.contact_id WHERE i.kind = "),
                    );
                    query.push_bind(kind).push(" AND i.value IN (");
                    let mut list = query.separated(", ");
                    for value in values {
                        list.push_bind(value);
                    }
                    query.push(")");
                    let json: String =
                        query.build_query_scalar().persistent(false).fetch_one(&mut **tx).await?;
                    let rows: Vec<(String, String, serde_json::Value)> = serde_json::from_str(&json)
                        .map_err(|e| StoreError::Corrupt(format!("identity lookup: {e}")))?;
                    let kind: IdentityKind = kind.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))?;
                    for (value, contact, missing) in rows {
                        // SQLite's JSON has 0/1 for a condition, PostgreSQL's true/false.
                        let missing = missing.as_bool().unwrap_or(missing.as_i64() == Some(1));
                        name_missing.insert(contact.clone(), missing);
                        owner.insert((kind, value), contact);
                    }
                }

                struct Row<'m, 'a> {
                    item: &'m MessageInsert<'a>,
                    message_id: MessageId,
                    conversation_id: ConversationId,
                    contact_id: String,
                }
                let mut new_contacts: Vec<(String, Option<&str>, i64)> = Vec::new();
                let mut new_identities: Vec<(&Identity, String, i64)> = Vec::new();
                let mut name_updates: Vec<(String, &str)> = Vec::new();
                // id, contact, channel, account, last_inbound_at, last_message_at, created_at
                let mut conversations: Vec<(String, String, Channel, &str, Option<i64>, i64, i64)> = Vec::new();
                let mut conversation_index: HashMap<String, usize> = HashMap::new();
                let mut rows: Vec<Row<'_, '_>> = Vec::new();
                for item in chunk {
                    let message = item.message;
                    let Some(first) = message.customer.first() else {
                        let raw = serde_json::json!({ "reason": "message without sender", "message": message.raw });
                        let kind = format!("{}:message_without_sender", message.channel);
                        insert_unrecognized(tx, item.raw_id, item.position, &kind, &raw).await?;
                        continue;
                    };
                    let name = message.profile_name.as_deref();
                    let found = message.customer.iter().enumerate().find_map(|(index, identity)| {
                        owner.get(&(identity.kind, identity.value.clone())).map(|c| (index, c.clone()))
                    });
                    let (contact_id, known_index) = match found {
                        Some((index, contact)) => {
                            if let Some(name) = name
                                && name_missing.get(&contact).copied().unwrap_or(false)
                            {
                                name_updates.push((contact.clone(), name));
                                name_missing.insert(contact.clone(), false);
                            }
                            (contact, Some(index))
                        }
                        None => {
                            let id = ContactId::derive(&[first.kind.as_str(), &first.value]).to_string();
                            new_contacts.push((id.clone(), name, item.at.0));
                            name_missing.insert(id.clone(), name.is_none());
                            events.push(item.raw_id, item.position, item.at, DomainEvent::ContactCreated {
                                contact_id: ContactId::from_stored(id.clone()),
                                display_name: name.map(str::to_owned),
                            });
                            (id, None)
                        }
                    };
                    for (index, identity) in message.customer.iter().enumerate() {
                        let key = (identity.kind, identity.value.clone());
                        if Some(index) == known_index || owner.contains_key(&key) {
                            continue;
                        }
                        owner.insert(key, contact_id.clone());
                        new_identities.push((identity, contact_id.clone(), item.at.0));
                    }
                    let conversation_id =
                        ConversationId::derive(&[message.channel.as_str(), &message.account, &contact_id]);
                    let inbound_at = (message.direction == Direction::Inbound).then_some(message.sent_at.0);
                    match conversation_index.get(conversation_id.as_str()) {
                        Some(&index) => {
                            let entry = &mut conversations[index];
                            entry.4 = entry.4.max(inbound_at);
                            entry.5 = entry.5.max(message.sent_at.0);
                        }
                        None => {
                            conversation_index.insert(conversation_id.to_string(), conversations.len());
                            conversations.push((
                                conversation_id.to_string(),
                                contact_id.clone(),
                                message.channel,
                                message.account.as_str(),
                                inbound_at,
                                message.sent_at.0,
                                item.at.0,
                            ));
                        }
                    }
                    rows.push(Row {
                        item,
                        message_id: MessageId::derive(&[message.channel.as_str(), &message.external_id]),
                        conversation_id,
                        contact_id,
                    });
                }

                if !new_contacts.is_empty() {
                    let mut query = sqlx::QueryBuilder::<Db>::new("INSERT INTO contacts (id, display_name, created_at) ");
                    query.push_values(&new_contacts, |mut row, (id, name, at)| {
                        row.push_bind(id.as_str()).push_bind(*name).push_bind(*at);
                    });
                    query.push(" ON CONFLICT (id) DO NOTHING");
                    query.build().persistent(false).execute(&mut **tx).await?;
                }
                if !new_identities.is_empty() {
                    let mut query =
                        sqlx::QueryBuilder::<Db>::new("INSERT INTO identities (kind, value, contact_id, created_at) ");
                    query.push_values(&new_identities, |mut row, (identity, contact, at)| {
                        row.push_bind(identity.kind.as_str())
                            .push_bind(identity.value.as_str())
                            .push_bind(contact.as_str())
                            .push_bind(*at);
                    });
                    query.push(" ON CONFLICT (kind, value) DO NOTHING");
                    query.build().persistent(false).execute(&mut **tx).await?;
                }
                for (contact, name) in name_updates {
                    sqlx::query("UPDATE contacts SET display_name = $1 WHERE id = $2 AND display_name IS NULL")
                        .bind(name)
                        .bind(contact.as_str())
                        .execute(&mut **tx)
                        .await?;
                }
                if !conversations.is_empty() {
                    let mut query = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO conversations (id, contact_id, channel, account, last_inbound_at, last_message_at, created_at) ",
                    );
                    query.push_values(&conversations, |mut row, c| {
                        row.push_bind(c.0.as_str())
                            .push_bind(c.1.as_str())
                            .push_bind(c.2.as_str())
                            .push_bind(c.3)
                            .push_bind(c.4)
                            .push_bind(c.5)
                            .push_bind(c.6);
                    });
                    query.push(
                        " ON CONFLICT (id) DO UPDATE SET \
                           last_message_at = CASE WHEN excluded.last_message_at > conversations.last_message_at \
                                                  THEN excluded.last_message_at ELSE conversations.last_message_at END, \
                           last_inbound_at = CASE WHEN excluded.last_inbound_at IS NOT NULL AND \
                                                       (conversations.last_inbound_at IS NULL OR excluded.last_inbound_at > conversations.last_inbound_at) \
                                                  THEN excluded.last_inbound_at ELSE conversations.last_inbound_at END",
                    );
                    query.build().persistent(false).execute(&mut **tx).await?;
                }
                if rows.is_empty() {
                    return Ok(());
                }

                // Which messages are already stored, and receipts that came before our own messages.
                let mut existing: HashSet<String> = Default::default();
                let mut early: HashMap<(String, String), Vec<String>> = HashMap::new();
                {
                    // The id is derived from (channel, external id), so it is the one unique key.
                    let mut query = sqlx::QueryBuilder::<Db>::new("SELECT id FROM messages WHERE id IN (");
                    let mut list = query.separated(", ");
                    for row in &rows {
                        list.push_bind(row.message_id.as_str());
                    }
                    query.push(")");
                    let found: Vec<String> = query.build_query_scalar().persistent(false).fetch_all(&mut **tx).await?;
                    existing.extend(found);
                }
                let outbound: Vec<&Row<'_, '_>> =
                    rows.iter().filter(|r| r.item.message.direction != Direction::Inbound).collect();
                if !outbound.is_empty() {
                    let mut query = sqlx::QueryBuilder::<Db>::new(
                        "SELECT channel, external_id, delivery FROM message_statuses WHERE (channel, external_id) IN (",
                    );
                    let mut list = query.separated(", ");
                    for row in &outbound {
                        list.push("(")
                            .push_bind_unseparated(row.item.message.channel.as_str())
                            .push_unseparated(", ")
                            .push_bind_unseparated(row.item.message.external_id.as_str())
                            .push_unseparated(")");
                    }
                    query.push(") ORDER BY at, state");
                    let found: Vec<(String, String, String)> =
                        query.build_query_as().persistent(false).fetch_all(&mut **tx).await?;
                    for (channel, external_id, delivery) in found {
                        early.entry((channel, external_id)).or_default().push(delivery);
                    }
                }

                let mut fresh: Vec<(&Row<'_, '_>, DeliveryState)> = Vec::new();
                let mut seen: HashSet<(&str, &str)> = Default::default();
                for row in &rows {
                    let message = row.item.message;
                    let key = (message.channel.as_str(), message.external_id.as_str());
                    if existing.contains(row.message_id.as_str()) || !seen.insert(key) {
                        continue;
                    }
                    let inbound = message.direction == Direction::Inbound;
                    let mut delivery = if inbound { DeliveryState::Received } else { DeliveryState::Sent };
                    if let Some(states) = early.get(&(key.0.to_owned(), key.1.to_owned())) {
                        for state in states {
                            delivery = delivery.advance(&from_json(state)?);
                        }
                    }
                    fresh.push((row, delivery));
                }
                if fresh.is_empty() {
                    return Ok(());
                }
                let mut query = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO messages (id, conversation_id, contact_id, channel, direction, external_id, kind, body, \
                       attachments, location, reply_to, reactions, delivery, delivery_state, sent_at, analysis, raw_event_id, raw) ",
                );
                query.push_values(&fresh, |mut b, (row, delivery)| {
                    let message = row.item.message;
                    b.push_bind(row.message_id.as_str())
                        .push_bind(row.conversation_id.as_str())
                        .push_bind(row.contact_id.as_str())
                        .push_bind(message.channel.as_str())
                        .push_bind(message.direction.as_str())
                        .push_bind(message.external_id.as_str())
                        .push_bind(message.kind.as_str())
                        .push_bind(message.text.as_deref())
                        .push_bind(to_json(&message.attachments))
                        .push_bind(message.location.as_ref().map(to_json))
                        .push_bind(message.reply_to.as_deref())
                        .push_bind("[]")
                        .push_bind(to_json(delivery))
                        .push_bind(delivery.as_str())
                        .push_bind(message.sent_at.0)
                        .push_bind(row.item.analysis.map(to_json))
                        .push_bind(row.item.raw_id)
                        .push_bind(to_json(&message.raw));
                });
                query.push(" ON CONFLICT (id) DO NOTHING");
                query.build().persistent(false).execute(&mut **tx).await?;
                for (row, _) in fresh {
                    let message = row.item.message;
                    let event = if message.direction == Direction::Inbound {
                        DomainEvent::MessageReceived {
                            message_id: row.message_id.clone(),
                            conversation_id: row.conversation_id.clone(),
                            contact_id: ContactId::from_stored(row.contact_id.clone()),
                            channel: message.channel,
                            kind: message.kind,
                            sentiment: row.item.analysis.map(|a| a.sentiment),
                        }
                    } else {
                        DomainEvent::MessageEchoed {
                            message_id: row.message_id.clone(),
                            conversation_id: row.conversation_id.clone(),
                            channel: message.channel,
                        }
                    };
                    events.push(row.item.raw_id, row.item.position, row.item.at, event);
                }
                Ok(())
            }

            async fn apply_status(
                tx: &mut Tx<'_>,
                raw_id: i64,
                position: usize,
                at: Timestamp,
                status: &StatusUpdate,
                events: &mut EventBuffer,
            ) -> Result<()> {
                let fresh: Option<String> = sqlx::query_scalar(
                    "INSERT INTO message_statuses (channel, external_id, state, delivery, at, raw_event_id) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (channel, external_id, state) DO NOTHING RETURNING state",
                )
                .bind(status.channel.as_str())
                .bind(status.external_id.as_str())
                .bind(status.state.as_str())
                .bind(to_json(&status.state))
                .bind(status.at.0)
                .bind(raw_id)
                .fetch_optional(&mut **tx)
                .await?;
                if fresh.is_none() {
                    return Ok(());
                }
                advance_delivery(tx, raw_id, position, at, status.channel, &status.external_id, &status.state, events)
                    .await
            }

            #[allow(clippy::too_many_arguments)]
            async fn advance_delivery(
                tx: &mut Tx<'_>,
                raw_id: i64,
                position: usize,
                at: Timestamp,
                channel: Channel,
                external_id: &str,
                next: &DeliveryState,
                events: &mut EventBuffer,
            ) -> Result<()> {
                let current: Option<(String, String)> =
                    sqlx::query_as("SELECT id, delivery FROM messages WHERE id = $1")
                        .bind(MessageId::derive(&[channel.as_str(), external_id]).as_str())
                        .fetch_optional(&mut **tx)
                        .await?;
                let Some((message_id, current)) = current else { return Ok(()) };
                let current: DeliveryState = from_json(&current)?;
                let advanced = current.advance(next);
                if advanced != current {
                    sqlx::query("UPDATE messages SET delivery = $1, delivery_state = $2 WHERE id = $3")
                        .bind(to_json(&advanced))
                        .bind(advanced.as_str())
                        .bind(message_id.as_str())
                        .execute(&mut **tx)
                        .await?;
                    events.push(raw_id, position, at, DomainEvent::DeliveryChanged {
                        message_id: MessageId::from_stored(message_id),
                        state: advanced,
                    });
                }
                Ok(())
            }

            async fn apply_reaction(
                tx: &mut Tx<'_>,
                raw_id: i64,
                position: usize,
                at: Timestamp,
                reaction: &ReactionUpdate,
                events: &mut EventBuffer,
            ) -> Result<()> {
                let target: Option<(String, String)> =
                    sqlx::query_as("SELECT id, reactions FROM messages WHERE id = $1")
                        .bind(MessageId::derive(&[reaction.channel.as_str(), &reaction.target_external_id]).as_str())
                        .fetch_optional(&mut **tx)
                        .await?;
                let Some((message_id, reactions)) = target else {
                    // Reacted to a message we never saw: keep it visible, not lost.
                    let kind = format!("{}:reaction_to_unknown_message", reaction.channel);
                    return insert_unrecognized(tx, raw_id, position, &kind, &reaction.raw).await;
                };
                let mut reactions: Vec<Reaction> = from_json(&reactions)?;
                reactions.retain(|r| !r.from_customer);
                if let Some(emoji) = &reaction.emoji {
                    reactions.push(Reaction { emoji: emoji.clone(), from_customer: true, at: reaction.at });
                }
                sqlx::query("UPDATE messages SET reactions = $1 WHERE id = $2")
                    .bind(to_json(&reactions))
                    .bind(message_id.as_str())
                    .execute(&mut **tx)
                    .await?;
                events.push(raw_id, position, at, DomainEvent::ReactionChanged {
                    message_id: MessageId::from_stored(message_id),
                    emoji: reaction.emoji.clone(),
                });
                Ok(())
            }

            async fn apply_watermark(
                tx: &mut Tx<'_>,
                raw_id: i64,
                position: usize,
                at: Timestamp,
                watermark: &ReadWatermark,
                events: &mut EventBuffer,
            ) -> Result<()> {
                let Some(identity) = watermark.customer.first() else { return Ok(()) };
                let unread: Vec<String> = sqlx::query_scalar(
                    "SELECT m.external_id FROM messages m \
                     JOIN conversations c ON c.id = m.conversation_id \
                     JOIN identities i ON i.contact_id = c.contact_id \
                     WHERE i.kind = $1 AND i.value = $2 AND c.channel = $3 AND c.account = $4 \
                       AND m.direction = 'out' AND m.sent_at <= $5 AND m.delivery_state IN ('queued', 'sent', 'delivered') \
                     ORDER BY m.sent_at, m.external_id",
                )
                .bind(identity.kind.as_str())
                .bind(identity.value.as_str())
                .bind(watermark.channel.as_str())
                .bind(watermark.account.as_str())
                .bind(watermark.up_to.0)
                .fetch_all(&mut **tx)
                .await?;
                for external_id in unread {
                    advance_delivery(tx, raw_id, position, at, watermark.channel, &external_id, &DeliveryState::Read, events)
                        .await?;
                }
                Ok(())
            }

            /// Moves the contact from its previous identities to the current
            /// ones, so the next message and every reply find the same person.
            /// A change for a customer never seen stays visible as unrecognized.
            async fn apply_identity_change(
                tx: &mut Tx<'_>,
                raw_id: i64,
                position: usize,
                at: Timestamp,
                change: &IdentityChange,
                events: &mut EventBuffer,
            ) -> Result<()> {
                let mut contact: Option<String> = None;
                for identity in change.previous.iter().chain(&change.kept) {
                    contact = sqlx::query_scalar("SELECT contact_id FROM identities WHERE kind = $1 AND value = $2")
                        .bind(identity.kind.as_str())
                        .bind(identity.value.as_str())
                        .fetch_optional(&mut **tx)
                        .await?;
                    if contact.is_some() {
                        break;
                    }
                }
                let Some(contact_id) = contact else {
                    let kind = format!("{}:identity_change_for_unknown_contact", change.channel);
                    let raw = serde_json::json!({ "kept": change.kept, "previous": change.previous, "current": change.current });
                    return insert_unrecognized(tx, raw_id, position, &kind, &raw).await;
                };
                for identity in &change.previous {
                    sqlx::query("DELETE FROM identities WHERE kind = $1 AND value = $2 AND contact_id = $3")
                        .bind(identity.kind.as_str())
                        .bind(identity.value.as_str())
                        .bind(contact_id.as_str())
                        .execute(&mut **tx)
                        .await?;
                }
                for identity in &change.current {
                    sqlx::query(
                        "INSERT INTO identities (kind, value, contact_id, created_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (kind, value) DO NOTHING",
                    )
                    .bind(identity.kind.as_str())
                    .bind(identity.value.as_str())
                    .bind(contact_id.as_str())
                    .bind(at.0)
                    .execute(&mut **tx)
                    .await?;
                }
                events.push(raw_id, position, at, DomainEvent::IdentityChanged {
                    contact_id: ContactId::from_stored(contact_id),
                    previous: change.previous.clone(),
                    current: change.current.clone(),
                });
                Ok(())
            }

            async fn insert_unrecognized(
                tx: &mut Tx<'_>,
                raw_id: i64,
                position: usize,
                kind: &str,
                raw: &serde_json::Value,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO unrecognized (raw_event_id, position, kind, raw) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (raw_event_id, position) DO NOTHING",
                )
                .bind(raw_id)
                .bind(position as i64)
                .bind(kind)
                .bind(to_json(raw))
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Which items of a chunk its `INSERT .. ON CONFLICT (id) DO NOTHING`
            /// stored (`affected` rows): every first copy of an id when it stored
            /// that many, else those whose stored row names their raw event. An id
            /// the store already held, or a second copy, records no event.
            async fn stored_now<'a>(
                tx: &mut Tx<'_>,
                table: &'static str,
                items: &[(&'a str, i64)],
                affected: u64,
                seen: &mut HashSet<&'a str>,
            ) -> Result<Vec<bool>> {
                let firsts: Vec<bool> = items.iter().map(|(id, _)| seen.insert(*id)).collect();
                if affected == firsts.iter().filter(|first| **first).count() as u64 {
                    return Ok(firsts);
                }
                let mut query = sqlx::QueryBuilder::<Db>::new(format!("SELECT id, raw_event_id FROM {table} WHERE id IN ("));
                let mut list = query.separated(", ");
                for ((id, _), _) in items.iter().zip(&firsts).filter(|(_, first)| **first) {
                    list.push_bind(*id);
                }
                query.push(")");
                let owners: HashMap<String, Option<i64>> = query.build_query_as().fetch_all(&mut **tx).await?.into_iter().collect();
                Ok(items
                    .iter()
                    .zip(firsts)
                    .map(|((id, raw_id), first)| first && owners.get(*id) == Some(&Some(*raw_id)))
                    .collect())
            }

            async fn insert_mentions(
                tx: &mut Tx<'_>,
                mentions: &[MentionInsert<'_>],
                events: &mut EventBuffer,
            ) -> Result<()> {
                let per_statement = ROWS_PER_STATEMENT / 2;
                let affected = execute_chunks(tx, mentions, per_statement, |chunk| {
                    let mut query = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO mentions (id, platform, external_id, url, author_handle, author_name, followers, verified, \
                         body, lang, reshares, replies, likes, parent, published_at, analysis, raw_event_id) ",
                    );
                    query.push_values(chunk, |mut row, item| {
                        let m = item.mention;
                        row.push_bind(m.id.as_str())
                            .push_bind(m.platform.as_str())
                            .push_bind(m.external_id.as_str())
                            .push_bind(m.url.as_deref())
                            .push_bind(m.author.handle.as_str())
                            .push_bind(m.author.name.as_deref())
                            .push_bind(saturating_i64(m.author.followers))
                            .push_bind(m.author.verified)
                            .push_bind(m.text.as_str())
                            .push_bind(m.lang.as_deref())
                            .push_bind(saturating_i64(m.reshares))
                            .push_bind(saturating_i64(m.replies))
                            .push_bind(saturating_i64(m.likes))
                            .push_bind(m.parent.as_deref())
                            .push_bind(m.published_at.0)
                            .push_bind(item.analysis.map(to_json))
                            .push_bind(item.raw_id);
                    });
                    query.push(" ON CONFLICT (id) DO NOTHING");
                    query
                })
                .await?;
                let mut seen = HashSet::new();
                for (chunk, affected) in mentions.chunks(per_statement).zip(affected) {
                    let keys: Vec<(&str, i64)> = chunk.iter().map(|i| (i.mention.id.as_str(), i.raw_id)).collect();
                    let stored = stored_now(tx, "mentions", &keys, affected, &mut seen).await?;
                    for (item, _) in chunk.iter().zip(stored).filter(|(_, stored)| *stored) {
                        events.push(item.raw_id, item.position, item.at, DomainEvent::MentionCaptured {
                            mention_id: item.mention.id.clone(),
                            platform: item.mention.platform,
                            sentiment: item.analysis.map(|a| a.sentiment),
                        });
                    }
                }
                Ok(())
            }

            async fn insert_reviews(
                tx: &mut Tx<'_>,
                reviews: &[ReviewInsert<'_>],
                events: &mut EventBuffer,
            ) -> Result<()> {
                let per_statement = ROWS_PER_STATEMENT / 2;
                let affected = execute_chunks(tx, reviews, per_statement, |chunk| {
                    let mut query = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO reviews (id, portal, external_id, product, stars, title, body, author, published_at, analysis, raw_event_id) ",
                    );
                    query.push_values(chunk, |mut row, item| {
                        let r = item.review;
                        row.push_bind(r.id.as_str())
                            .push_bind(r.portal.as_str())
                            .push_bind(r.external_id.as_str())
                            .push_bind(r.product.as_deref())
                            .push_bind(i64::from(r.stars.get()))
                            .push_bind(r.title.as_deref())
                            .push_bind(r.text.as_str())
                            .push_bind(r.author.as_deref())
                            .push_bind(r.published_at.0)
                            .push_bind(item.analysis.map(to_json))
                            .push_bind(item.raw_id);
                    });
                    query.push(" ON CONFLICT (id) DO NOTHING");
                    query
                })
                .await?;
                let mut seen = HashSet::new();
                for (chunk, affected) in reviews.chunks(per_statement).zip(affected) {
                    let keys: Vec<(&str, i64)> = chunk.iter().map(|i| (i.review.id.as_str(), i.raw_id)).collect();
                    let stored = stored_now(tx, "reviews", &keys, affected, &mut seen).await?;
                    for (item, _) in chunk.iter().zip(stored).filter(|(_, stored)| *stored) {
                        events.push(item.raw_id, item.position, item.at, DomainEvent::ReviewCaptured {
                            review_id: item.review.id.clone(),
                            stars: item.review.stars,
                        });
                    }
                }
                Ok(())
            }

            async fn insert_events(tx: &mut Tx<'_>, buffer: EventBuffer) -> Result<Vec<EventEnvelope>> {
                let mut events = buffer.events;
                events.sort_by_key(|(raw_id, position, sub, _, _)| (*raw_id, *position, *sub));
                let insert = |chunk: &[(i64, usize, usize, Timestamp, DomainEvent)]| {
                    let mut query = sqlx::QueryBuilder::<Db>::new("INSERT INTO events (at, kind, payload, raw_event_id) ");
                    query.push_values(chunk, |mut row, (raw_id, _, _, at, event)| {
                        row.push_bind(at.0)
                            .push_bind(event.kind())
                            .push_bind(to_json(event))
                            .push_bind(*raw_id);
                    });
                    query
                };
                let seqs: Vec<i64> = if SINGLE_WRITER {
                    // As for raw events: consecutive rowids after the maximum.
                    let base: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM events")
                        .fetch_one(&mut **tx)
                        .await?;
                    execute_chunks(tx, &events, ROWS_PER_STATEMENT, insert).await?;
                    (base + 1..=base + events.len() as i64).collect()
                } else {
                    let mut seqs = Vec::with_capacity(events.len());
                    for chunk in events.chunks(ROWS_PER_STATEMENT) {
                        let mut query = insert(chunk);
                        query.push(" RETURNING seq");
                        let mut chunk_seqs: Vec<i64> = query.build_query_scalar().fetch_all(&mut **tx).await?;
                        // Identity values of one statement ascend in row order.
                        chunk_seqs.sort_unstable();
                        seqs.extend(chunk_seqs);
                    }
                    seqs
                };
                Ok(seqs
                    .into_iter()
                    .zip(events)
                    .map(|(seq, (_, _, _, at, event))| EventEnvelope { seq, at, event })
                    .collect())
            }

            pub(crate) async fn reset_projections(pool: &Pool<Db>) -> Result<()> {
                let mut tx = pool.begin().await?;
                for table in [
                    $clear_events,
                    "DELETE FROM unrecognized",
                    "DELETE FROM message_statuses",
                    "DELETE FROM messages",
                    "DELETE FROM conversations",
                    "DELETE FROM identities",
                    "DELETE FROM contacts",
                    "DELETE FROM mentions",
                    "DELETE FROM reviews",
                    // Nothing is projected now: a replay, or the next start, projects it all.
                    "UPDATE raw_events SET projected = 0 WHERE projected = 1",
                ] {
                    sqlx::query(table).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn counts(pool: &Pool<Db>) -> Result<Counts> {
                let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM raw_events), (SELECT COUNT(*) FROM contacts), \
                     (SELECT COUNT(*) FROM conversations), (SELECT COUNT(*) FROM messages), \
                     (SELECT COUNT(*) FROM mentions), (SELECT COUNT(*) FROM reviews), \
                     (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM unrecognized), \
                     (SELECT COUNT(*) FROM raw_events WHERE parse_error IS NOT NULL)",
                )
                .fetch_one(pool)
                .await?;
                Ok(Counts {
                    raw_events: row.0,
                    contacts: row.1,
                    conversations: row.2,
                    messages: row.3,
                    mentions: row.4,
                    reviews: row.5,
                    events: row.6,
                    unrecognized: row.7,
                    parse_errors: row.8,
                })
            }

            pub(crate) async fn raw_events_after(pool: &Pool<Db>, after: i64, limit: i64) -> Result<Vec<RawEvent>> {
                let rows: Vec<(i64, String, String, i64, String, Vec<u8>)> = sqlx::query_as(
                    "SELECT id, source, dedupe_key, received_at, verification, payload FROM raw_events \
                     WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                raw_rows(rows)
            }

            pub(crate) async fn unprojected_raw_events(pool: &Pool<Db>, limit: i64) -> Result<Vec<RawEvent>> {
                let rows: Vec<(i64, String, String, i64, String, Vec<u8>)> = sqlx::query_as(
                    "SELECT id, source, dedupe_key, received_at, verification, payload FROM raw_events \
                     WHERE projected = 0 ORDER BY id LIMIT $1",
                )
                .bind(limit)
                .fetch_all(pool)
                .await?;
                raw_rows(rows)
            }

            fn raw_rows(rows: Vec<(i64, String, String, i64, String, Vec<u8>)>) -> Result<Vec<RawEvent>> {
                rows.into_iter()
                    .map(|(id, source, dedupe_key, received_at, verification, payload)| {
                        Ok(RawEvent {
                            id: Some(RawEventId(id)),
                            source: source.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))?,
                            dedupe_key,
                            received_at: Timestamp(received_at),
                            verification: verification.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))?,
                            payload,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn snapshot(pool: &Pool<Db>) -> Result<Vec<String>> {
                let mut lines = Vec::new();
                let contacts: Vec<(String, Option<String>, i64)> =
                    sqlx::query_as("SELECT id, display_name, created_at FROM contacts ORDER BY id").fetch_all(pool).await?;
                lines.extend(contacts.into_iter().map(|r| format!("contact {r:?}")));
                let identities: Vec<(String, String, String)> =
                    sqlx::query_as("SELECT kind, value, contact_id FROM identities ORDER BY kind, value").fetch_all(pool).await?;
                lines.extend(identities.into_iter().map(|r| format!("identity {r:?}")));
                let conversations: Vec<(String, String, String, String, Option<i64>, i64)> = sqlx::query_as(
                    "SELECT id, contact_id, channel, account, last_inbound_at, last_message_at FROM conversations ORDER BY id",
                )
                .fetch_all(pool)
                .await?;
                lines.extend(conversations.into_iter().map(|r| format!("conversation {r:?}")));
                let messages: Vec<(String, String, String, String, Option<String>, String, String, i64, Option<String>, Option<i64>)> =
                    sqlx::query_as(
                        "SELECT id, conversation_id, direction, kind, body, reactions, delivery, sent_at, analysis, raw_event_id \
                         FROM messages ORDER BY id",
                    )
                    .fetch_all(pool)
                    .await?;
                lines.extend(messages.into_iter().map(|r| format!("message {r:?}")));
                let statuses: Vec<(String, String, String, i64)> =
                    sqlx::query_as("SELECT channel, external_id, state, at FROM message_statuses ORDER BY channel, external_id, state")
                        .fetch_all(pool)
                        .await?;
                lines.extend(statuses.into_iter().map(|r| format!("status {r:?}")));
                let mentions: Vec<(String, String, i64, String, i64, Option<String>, Option<i64>)> = sqlx::query_as(
                    "SELECT id, author_handle, followers, body, published_at, analysis, raw_event_id FROM mentions ORDER BY id",
                )
                .fetch_all(pool)
                .await?;
                lines.extend(mentions.into_iter().map(|r| format!("mention {r:?}")));
                let reviews: Vec<(String, i64, String, i64, Option<String>, Option<i64>)> = sqlx::query_as(
                    "SELECT id, stars, body, published_at, analysis, raw_event_id FROM reviews ORDER BY id",
                )
                .fetch_all(pool)
                .await?;
                lines.extend(reviews.into_iter().map(|r| format!("review {r:?}")));
                let unrecognized: Vec<(i64, i64, String, String)> =
                    sqlx::query_as("SELECT raw_event_id, position, kind, raw FROM unrecognized ORDER BY raw_event_id, position")
                        .fetch_all(pool)
                        .await?;
                lines.extend(unrecognized.into_iter().map(|r| format!("unrecognized {r:?}")));
                let events: Vec<(i64, i64, String, String)> =
                    sqlx::query_as("SELECT seq, at, kind, payload FROM events ORDER BY seq").fetch_all(pool).await?;
                lines.extend(events.into_iter().map(|r| format!("event {r:?}")));
                Ok(lines)
            }

            pub(crate) async fn last_event_seq(pool: &Pool<Db>) -> Result<i64> {
                let (seq,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM events").fetch_one(pool).await?;
                Ok(seq)
            }

            pub(crate) async fn events_after(pool: &Pool<Db>, after: i64, limit: i64) -> Result<Vec<EventEnvelope>> {
                let rows: Vec<(i64, i64, String)> =
                    sqlx::query_as("SELECT seq, at, payload FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
                        .bind(after)
                        .bind(limit)
                        .fetch_all(pool)
                        .await?;
                rows.into_iter()
                    .map(|(seq, at, payload)| Ok(EventEnvelope { seq, at: Timestamp(at), event: from_json(&payload)? }))
                    .collect()
            }

            /// Newest first; `before` continues a page after its last row
            /// (keyset: stable while new messages arrive).
            pub(crate) async fn recent_conversations(
                pool: &Pool<Db>,
                limit: i64,
                filter: &ConversationFilter<'_>,
            ) -> Result<Vec<ConversationRow>> {
                // The page first, then each conversation's newest message by
                // its (conversation_id, sent_at) index: one lookup per row.
                let mut query = sqlx::QueryBuilder::<Db>::new(
                    // Only the page's rows reach the outer query, so the lookups
                    // per row (waiting since, last answer) run for those alone.
                    "SELECT p.id, p.contact_id, p.display_name, p.channel, p.account, p.last_inbound_at, p.last_message_at, \
                            m.id, m.direction, m.kind, m.body, m.sent_at, m.analysis, \
                            (SELECT MIN(iw.sent_at) FROM messages iw WHERE iw.conversation_id = p.id AND iw.direction = 'in' \
                             AND iw.sent_at > COALESCE((SELECT MAX(o.sent_at) FROM messages o \
                                                       WHERE o.conversation_id = p.id AND o.direction = 'out'), 0)) AS waiting_since, \
                            p.status, p.assignee_id, p.assignee_name, \
                            (SELECT MAX(lo.sent_at) FROM messages lo WHERE lo.conversation_id = p.id AND lo.direction = 'out') \
                             AS last_outbound_at \
                     FROM (SELECT c.id, c.contact_id, k.display_name, c.channel, c.account, c.last_inbound_at, c.last_message_at, \
                                  (SELECT x.id FROM messages x WHERE x.conversation_id = c.id \
                                   ORDER BY x.sent_at DESC, x.id DESC LIMIT 1) AS last_id, ",
                );
                push_status(&mut query, filter.now);
                query.push(
                    " AS status, w.assignee_id, ag.name AS assignee_name \
                     FROM conversations c JOIN contacts k ON k.id = c.contact_id \
                     LEFT JOIN conversation_work w ON w.conversation_id = c.id \
                     LEFT JOIN agents ag ON ag.id = w.assignee_id ",
                );
                query.push("WHERE 1 = 1 ");
                if let Some(status) = filter.status {
                    query.push("AND ");
                    push_status(&mut query, filter.now);
                    query.push(" = ").push_bind(status.as_str()).push(" ");
                }
                if let Some(sentiment) = filter.sentiment {
                    // The stored analysis is compact JSON (serde), so the sentiment reads `"sentiment":"…"`.
                    query
                        .push("AND (SELECT x.analysis FROM messages x WHERE x.conversation_id = c.id \
                               ORDER BY x.sent_at DESC, x.id DESC LIMIT 1) LIKE ")
                        .push_bind(format!("%\"sentiment\":\"{}\"%", sentiment.as_str()))
                        .push(" ");
                }
                if let Some((from, to)) = filter.last_inbound_between {
                    query
                        .push("AND c.last_inbound_at > ")
                        .push_bind(from)
                        .push(" AND c.last_inbound_at <= ")
                        .push_bind(to)
                        .push(" ");
                }
                match filter.assignee {
                    Assignee::Anyone => {}
                    Assignee::Nobody => {
                        query.push("AND w.assignee_id IS NULL ");
                    }
                    Assignee::Agent(agent_id) => {
                        query.push("AND w.assignee_id = ").push_bind(agent_id).push(" ");
                    }
                }
                if let Some(contact_id) = filter.contact_id {
                    query.push("AND c.contact_id = ").push_bind(contact_id).push(" ");
                }
                if let Some(channel) = filter.channel {
                    query.push("AND c.channel = ").push_bind(channel.as_str()).push(" ");
                }
                if filter.awaiting_reply {
                    // The row's own times rule most out cheaply (the newest message can
                    // only be the customer's if it is also their newest); the lookup
                    // then breaks a same-millisecond tie.
                    query
                        .push("AND c.last_inbound_at = c.last_message_at \
                               AND (SELECT x.direction FROM messages x WHERE x.conversation_id = c.id \
                               ORDER BY x.sent_at DESC, x.id DESC LIMIT 1) = ")
                        .push_bind(Direction::Inbound.as_str())
                        .push(" ");
                }
                if let Some((last_message_at, id)) = filter.before {
                    query
                        .push("AND (c.last_message_at < ")
                        .push_bind(last_message_at)
                        .push(" OR (c.last_message_at = ")
                        .push_bind(last_message_at)
                        .push(" AND c.id > ")
                        .push_bind(id)
                        .push(")) ");
                }
                query
                    .push("ORDER BY c.last_message_at DESC, c.id LIMIT ")
                    .push_bind(limit)
                    .push(") p LEFT JOIN messages m ON m.id = p.last_id ORDER BY p.last_message_at DESC, p.id");
                type Row = (
                    String, String, Option<String>, String, String, Option<i64>, i64,
                    Option<String>, Option<String>, Option<String>, Option<String>, Option<i64>, Option<String>,
                    Option<i64>, String, Option<String>, Option<String>, Option<i64>,
                );
                // More columns than sqlx's tuple decoding takes: read them by position.
                let decode = |row: &<Db as sqlx::Database>::Row| -> std::result::Result<Row, sqlx::Error> {
                    use sqlx::Row as _;
                    Ok((
                        row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?,
                        row.try_get(5)?, row.try_get(6)?, row.try_get(7)?, row.try_get(8)?, row.try_get(9)?,
                        row.try_get(10)?, row.try_get(11)?, row.try_get(12)?, row.try_get(13)?, row.try_get(14)?,
                        row.try_get(15)?, row.try_get(16)?, row.try_get(17)?,
                    ))
                };
                let rows: Vec<Row> = query
                    .build()
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(decode)
                    .collect::<std::result::Result<_, _>>()?;
                rows.into_iter()
                    .map(|r| {
                        let last_message = match (r.7, r.8, r.9, r.11) {
                            (Some(id), Some(direction), Some(kind), Some(sent_at)) => Some(LastMessage {
                                id,
                                direction,
                                kind,
                                body: r.10,
                                sent_at,
                                sentiment: r.12.as_deref().map(from_json::<Analysis>).transpose()?.map(|a| a.sentiment),
                            }),
                            _ => None,
                        };
                        Ok(ConversationRow {
                            id: r.0,
                            contact_id: r.1,
                            contact_name: r.2,
                            channel: r.3,
                            account: r.4,
                            last_inbound_at: r.5,
                            last_message_at: r.6,
                            // Only while the customer, not the business, wrote last.
                            waiting_since: r.13.filter(|_| {
                                last_message.as_ref().is_some_and(|m| m.direction == Direction::Inbound.as_str())
                            }),
                            last_message,
                            status: r.14,
                            assignee_id: r.15,
                            assignee_name: r.16,
                            last_outbound_at: r.17,
                        })
                    })
                    .collect()
            }

            /// The status as the team sees it (see `workflow::effective_status_sql`).
            fn push_status(query: &mut sqlx::QueryBuilder<Db>, now: i64) {
                query
                    .push("(CASE WHEN w.status IS NULL THEN 'open' \
                           WHEN w.status <> 'open' AND c.last_inbound_at > w.status_changed_at THEN 'open' \
                           WHEN w.status = 'snoozed' AND w.snoozed_until <= ")
                    .push_bind(now)
                    .push(" THEN 'open' ELSE w.status END)");
            }

            const MESSAGE_COLUMNS: &str = "SELECT id, conversation_id, channel, direction, external_id, kind, body, delivery_state, \
                 delivery, reactions, location, attachments, reply_to, sent_at, analysis FROM messages ";

            type MessageTuple = (
                String, String, String, String, String, String, Option<String>, String,
                String, String, Option<String>, String, Option<String>, i64, Option<String>,
            );

            fn message_row(t: MessageTuple) -> Result<MessageRow> {
                let location: Option<Location> = t.10.as_deref().map(from_json).transpose()?;
                Ok(MessageRow {
                    id: t.0,
                    conversation_id: t.1,
                    channel: t.2,
                    direction: t.3,
                    external_id: t.4,
                    kind: t.5,
                    body: t.6,
                    delivery_state: t.7,
                    delivery: from_json(&t.8)?,
                    reactions: from_json(&t.9)?,
                    map_url: location.as_ref().map(Location::map_url),
                    location,
                    attachments: from_json(&t.11)?,
                    reply_to: t.12,
                    sent_at: t.13,
                    analysis: t.14.as_deref().map(from_json).transpose()?,
                })
            }

            /// A contact's messages over all channels, newest first; `before`
            /// (sent_at, id) continues after the previous page's last.
            pub(crate) async fn contact_messages(
                pool: &Pool<Db>,
                contact_id: &str,
                limit: i64,
                before: Option<(i64, &str)>,
            ) -> Result<Vec<MessageRow>> {
                let mut query = sqlx::QueryBuilder::<Db>::new(MESSAGE_COLUMNS);
                query
                    .push("WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = ")
                    .push_bind(contact_id)
                    .push(") ");
                if let Some((sent_at, id)) = before {
                    query
                        .push("AND (sent_at < ")
                        .push_bind(sent_at)
                        .push(" OR (sent_at = ")
                        .push_bind(sent_at)
                        .push(" AND id < ")
                        .push_bind(id)
                        .push(")) ");
                }
                query.push("ORDER BY sent_at DESC, id DESC LIMIT ").push_bind(limit);
                let rows: Vec<MessageTuple> = query.build_query_as().fetch_all(pool).await?;
                rows.into_iter().map(message_row).collect()
            }

            pub(crate) async fn conversation_messages(pool: &Pool<Db>, conversation_id: &str) -> Result<Vec<MessageRow>> {
                let sql = format!("{MESSAGE_COLUMNS} WHERE conversation_id = $1 ORDER BY sent_at, id");
                let rows: Vec<MessageTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(conversation_id)
                    .fetch_all(pool)
                    .await?;
                rows.into_iter().map(message_row).collect()
            }

            pub(crate) async fn message_by_external_id(
                pool: &Pool<Db>,
                channel: &str,
                external_id: &str,
            ) -> Result<Option<MessageRow>> {
                let sql = format!("{MESSAGE_COLUMNS} WHERE id = $1");
                let row: Option<MessageTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(MessageId::derive(&[channel, external_id]).as_str())
                    .fetch_optional(pool)
                    .await?;
                row.map(message_row).transpose()
            }

            pub(crate) async fn recent_mentions(pool: &Pool<Db>, limit: i64) -> Result<Vec<MentionRow>> {
                let rows: Vec<(String, String, String, i64, String, i64, Option<String>)> = sqlx::query_as(
                    "SELECT id, platform, author_handle, followers, body, published_at, analysis FROM mentions \
                     ORDER BY published_at DESC, id LIMIT $1",
                )
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|(id, platform, author_handle, followers, body, published_at, analysis)| {
                        Ok(MentionRow {
                            id,
                            platform,
                            author_handle,
                            followers,
                            body,
                            published_at,
                            analysis: analysis.as_deref().map(from_json).transpose()?,
                        })
                    })
                    .collect()
            }
        }
    };
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

// Event numbers restart at 1 so that a replay reproduces them exactly.
// The last argument aggregates identity lookups into one JSON array of
// [value, contact id, display name missing].
backend_sql!(
    sqlite_sql,
    Sqlite,
    "DELETE FROM events",
    true,
    "json_group_array(json_array(i.value, i.contact_id, c.display_name IS NULL))"
);
backend_sql!(
    postgres_sql,
    Postgres,
    "TRUNCATE events RESTART IDENTITY",
    false,
    "COALESCE(json_agg(json_build_array(i.value, i.contact_id, c.display_name IS NULL))::text, '[]')"
);

/// Dispatches a call to the backend's module.
macro_rules! dispatch {
    ($self:ident, $func:ident, read $(, $arg:expr)*) => {
        match $self {
            Backend::Sqlite { read, .. } => sqlite_sql::$func(read $(, $arg)*).await,
            Backend::Postgres(pool) => postgres_sql::$func(pool $(, $arg)*).await,
        }
    };
    ($self:ident, $func:ident, write $(, $arg:expr)*) => {
        match $self {
            Backend::Sqlite { write, .. } => sqlite_sql::$func(write $(, $arg)*).await,
            Backend::Postgres(pool) => postgres_sql::$func(pool $(, $arg)*).await,
        }
    };
}

/// `:memory:` or a `mode=memory` URI: SQLite keeps no file for it.
fn is_in_memory(path: &std::path::Path) -> bool {
    let name = path.to_string_lossy();
    name.starts_with(":memory:") || name.contains("mode=memory")
}

/// Serialises setting up one SQLite file (WAL switch, migrations) across
/// processes, e.g. `resonanz import` beside a starting server: held until the
/// returned file is dropped.
async fn lock_sqlite_setup(path: &std::path::Path) -> Result<Option<std::fs::File>> {
    // An in-memory database has no file another process could open.
    if is_in_memory(path) {
        return Ok(None);
    }
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".setup-lock");
    let lock_path = std::path::PathBuf::from(lock_path);
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(Some(file))
    })
    .await
    .map_err(|err| StoreError::Io(err.to_string()))?
    .map_err(|err| StoreError::Io(format!("locking the database for set-up: {err}")))
}

impl Backend {
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Backend> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if let Some(parent) = std::path::Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|err| {
                    StoreError::Corrupt(format!("cannot create {}: {err}", parent.display()))
                })?;
            }
            let connect = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(if options.sqlite_sync_full {
                    SqliteSynchronous::Full
                } else {
                    SqliteSynchronous::Normal
                })
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // Random-key index inserts (ids, dedupe keys) thrash the default 2 MB
                // page cache and spill mid-transaction; 64 MB keeps a batch in memory.
                .pragma("cache_size", "-65536")
                .pragma("temp_store", "memory")
                // Checkpoints run beside the writer (`Backend::checkpoint`); this
                // is only the safety valve should they fall behind (64 MB of WAL).
                .pragma("wal_autocheckpoint", "16384")
                // Multi-row statements differ by row count; a small cache would evict
                // the per-message statements and re-prepare them on every use.
                .statement_cache_capacity(2048);
            // Switching a new file to WAL needs it alone; a second process
            // opening it at that moment would get SQLITE_BUSY at once.
            let lock = lock_sqlite_setup(std::path::Path::new(path)).await?;
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(connect.clone())
                .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(options.read_connections.max(1))
                .connect_with(connect)
                .await?;
            drop(lock);
            Ok(Backend::Sqlite {
                write,
                read,
                sync_full: options.sqlite_sync_full,
                path: path.into(),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(options.read_connections.max(1) + 2)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Ok(Backend::Postgres(pool))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    /// The SQLite database file; `None` for PostgreSQL or an in-memory database.
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        match self {
            Backend::Sqlite { path, .. } => (!is_in_memory(path)).then_some(path),
            Backend::Postgres(_) => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        match self {
            Backend::Sqlite { write, path, .. } => {
                // sqlx locks migrations on PostgreSQL only.
                let lock = lock_sqlite_setup(path).await?;
                let migrated = sqlx::migrate!("./migrations/sqlite").run(write).await;
                drop(lock);
                migrated?
            }
            Backend::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Copies committed WAL frames into the database file from a reader
    /// connection, so that the writer's commits never wait for it (SQLite's
    /// own autocheckpoint runs inside the committing transaction). PASSIVE
    /// never blocks the writer; a no-op on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<()> {
        if let Backend::Sqlite { read, .. } = self {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(read)
                .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        match self {
            Backend::Sqlite { write, read, .. } => {
                read.close().await;
                write.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    pub async fn ping(&self) -> Result<()> {
        match self {
            Backend::Sqlite { read, .. } => {
                sqlx::query("SELECT 1").execute(read).await?;
            }
            Backend::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    pub(crate) async fn apply(
        &self,
        projections: &[&Projection],
        mode: ApplyMode,
    ) -> Result<(Vec<IngestOutcome>, Vec<EventEnvelope>)> {
        match self {
            Backend::Sqlite {
                write, sync_full, ..
            } => {
                let mut conn = write.acquire().await?;
                // A projection commit need not reach the disk on its own: the
                // raw events it projects stay `projected = 0` until it does,
                // and the next acceptance's fsync covers it (WAL is appended
                // in order). So only acceptances and imports pay an fsync.
                let relaxed = *sync_full && mode == ApplyMode::Reproject;
                if relaxed {
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                }
                let applied = sqlite_sql::apply(&mut conn, projections, mode).await;
                if relaxed
                    && let Err(err) = sqlx::query("PRAGMA synchronous = FULL")
                        .execute(&mut *conn)
                        .await
                {
                    // Never let a relaxed connection serve an acceptance.
                    conn.close_on_drop();
                    return Err(err.into());
                }
                applied
            }
            Backend::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                postgres_sql::apply(&mut conn, projections, mode).await
            }
        }
    }

    pub(crate) async fn reset_projections(&self) -> Result<()> {
        dispatch!(self, reset_projections, write)
    }

    pub async fn counts(&self) -> Result<Counts> {
        dispatch!(self, counts, read)
    }

    pub async fn raw_events_after(&self, after: i64, limit: i64) -> Result<Vec<RawEvent>> {
        dispatch!(self, raw_events_after, read, after, limit)
    }

    pub async fn unprojected_raw_events(&self, limit: i64) -> Result<Vec<RawEvent>> {
        dispatch!(self, unprojected_raw_events, read, limit)
    }

    pub async fn snapshot(&self) -> Result<Vec<String>> {
        dispatch!(self, snapshot, read)
    }

    pub async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<EventEnvelope>> {
        dispatch!(self, events_after, read, after, limit)
    }

    pub async fn last_event_seq(&self) -> Result<i64> {
        dispatch!(self, last_event_seq, read)
    }

    pub async fn recent_conversations(
        &self,
        limit: i64,
        filter: &ConversationFilter<'_>,
    ) -> Result<Vec<ConversationRow>> {
        dispatch!(self, recent_conversations, read, limit, filter)
    }

    pub async fn contact_messages(
        &self,
        contact_id: &str,
        limit: i64,
        before: Option<(i64, &str)>,
    ) -> Result<Vec<MessageRow>> {
        dispatch!(self, contact_messages, read, contact_id, limit, before)
    }

    pub async fn conversation_messages(&self, conversation_id: &str) -> Result<Vec<MessageRow>> {
        dispatch!(self, conversation_messages, read, conversation_id)
    }

    pub async fn message_by_external_id(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<MessageRow>> {
        dispatch!(self, message_by_external_id, read, channel, external_id)
    }

    pub async fn recent_mentions(&self, limit: i64) -> Result<Vec<MentionRow>> {
        dispatch!(self, recent_mentions, read, limit)
    }
}
