//! `GET /api/events`: committed domain events as Server-Sent Events, the
//! live feed for the team inbox and for integrations. The event table is the
//! source, not the in-process bus: a client that reconnects with
//! `Last-Event-ID` gets every event it missed, in order, and a slow client
//! that the bus would drop simply reads on from the table. The bus only
//! wakes the stream at once; a poll covers events committed by another node.

use super::api::{ApiResult, internal, invalid_query};
use crate::app::AppState;
use crate::outbound::auth::Agent;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use resonanz_core::event::EventEnvelope;
use resonanz_store::Store;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/events", get(events))
}

/// Events read from the table at once.
const PAGE: i64 = 500;
/// How often an idle stream looks at the table without a wake-up.
const POLL: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
struct EventsQuery {
    /// Start after this event number (as `Last-Event-ID`, which wins).
    after: Option<i64>,
}

async fn events(
    State(app): State<AppState>,
    _agent: Agent,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult {
    let Query(query) = query.map_err(|rejection| invalid_query(rejection.body_text()))?;
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|id| id.trim().parse::<i64>().ok())
                .ok_or_else(|| invalid_query("`Last-Event-ID` is not an event number"))?,
        ),
        None => None,
    };
    // Subscribed before reading the start, so nothing committed in between is missed.
    let wakeups = app.store.subscribe();
    let after = match resume.or(query.after) {
        Some(after) => after,
        None => app.store.last_event_seq().await.map_err(internal)?,
    };
    let feed = Feed {
        store: app.store.clone(),
        wakeups,
        stopping: app.stopping.subscribe(),
        after,
        ready: VecDeque::new(),
    };
    let stream = futures::stream::unfold(feed, |mut feed| async move {
        let envelope = feed.next().await?;
        Some((Ok::<_, Infallible>(sse_event(&envelope)), feed))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn sse_event(envelope: &EventEnvelope) -> Event {
    Event::default()
        .id(envelope.seq.to_string())
        .event(envelope.event.kind())
        .json_data(envelope)
        .unwrap_or_else(|_| Event::default().comment("unserialisable event"))
}

struct Feed {
    store: Store,
    wakeups: broadcast::Receiver<EventEnvelope>,
    stopping: watch::Receiver<bool>,
    /// The last event handed out.
    after: i64,
    ready: VecDeque<EventEnvelope>,
}

impl Feed {
    /// The next committed event; `None` ends the stream (shutdown, or the
    /// store failing: the client reconnects with `Last-Event-ID`).
    async fn next(&mut self) -> Option<EventEnvelope> {
        loop {
            if *self.stopping.borrow() {
                return None;
            }
            if let Some(envelope) = self.ready.pop_front() {
                self.after = envelope.seq;
                return Some(envelope);
            }
            match self.store.events_after(self.after, PAGE).await {
                Ok(page) if !page.is_empty() => {
                    self.ready.extend(page);
                    continue;
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, after = self.after, "event stream ends: the store failed");
                    return None;
                }
            }
            tokio::select! {
                _ = self.stopping.changed() => {}
                woken = self.wakeups.recv() => {
                    // An event, or word that some were dropped: the table has
                    // them all, so one read serves every wake-up queued so far.
                    if matches!(woken, Err(broadcast::error::RecvError::Closed)) {
                        tokio::time::sleep(POLL).await;
                    }
                    while !matches!(
                        self.wakeups.try_recv(),
                        Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed)
                    ) {}
                }
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
