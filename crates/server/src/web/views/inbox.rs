//! `/inbox`: every channel in one list, newest first, with who is waiting
//! and how long the 24-hour window stays open. `/inbox/rows` is the list
//! alone, which the page's script fetches again when an event arrives.

use super::channel_names;
#[allow(unused_imports)] // the conversation pane's template names it
use super::conversation::ThreadItem;
use crate::app::AppState;
use crate::routes::api::{page_cursor, parse_page_cursor, window_times};
use crate::web::format;
use crate::web::i18n::Texts;
use crate::web::render;
use crate::web::session::{Chrome, WebSession, urlencode};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use resonanz_core::analysis::Sentiment;
use resonanz_core::sla::{self, Due};
use resonanz_core::{Channel, ConversationStatus, Direction, Timestamp};
use resonanz_store::{Assignee, ConversationCounts, ConversationFilter, ConversationRow};
use serde::Deserialize;

/// Rows per page of the list.
const ROWS: i64 = 50;
/// Waiting conversations a response-goal view orders (the most urgent 50 are shown).
const GOAL_VIEW_SCAN: i64 = 2000;
/// A window closing sooner than this is flagged.
const CLOSING_SOON_MS: i64 = 2 * 3_600_000;
/// WhatsApp's customer service window.
const HUMAN_WINDOW_MS: i64 = resonanz_core::rules::SERVICE_WINDOW_MS;
/// How much of the newest message a row shows.
const PREVIEW_CHARS: usize = 120;

pub async fn home() -> Redirect {
    Redirect::to("/inbox")
}

/// The list's filters, as the query string carries them.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct InboxFilter {
    #[serde(default)]
    pub channel: String,
    #[serde(default, deserialize_with = "checkbox")]
    pub waiting: bool,
    /// `open` (when absent), `pending`, `snoozed`, `resolved` or `all`.
    #[serde(default)]
    pub status: String,
    /// `me`, `none`, or anyone's when empty.
    #[serde(default)]
    pub assignee: String,
    /// `breached`, `risk` (at risk or breached), or every one when empty.
    #[serde(default)]
    pub sla: String,
    /// `urgency` (the response due first) or by time when empty.
    #[serde(default)]
    pub sort: String,
    /// `negative`, `neutral`, `positive`: the newest message's sentiment.
    #[serde(default)]
    pub sentiment: String,
    /// Only conversations whose 24-hour window closes within two hours.
    #[serde(default, deserialize_with = "checkbox")]
    pub closing: bool,
    pub before: Option<String>,
    /// The open conversation (highlighted in the rows partial).
    pub selected: Option<String>,
    /// Query string that keeps these filters (`?channel=…`), for links.
    #[serde(skip)]
    pub query: String,
}

/// A checkbox sends `1` (or `on`) when ticked and nothing when not.
fn checkbox<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value = String::deserialize(d)?;
    Ok(matches!(value.as_str(), "1" | "on" | "true"))
}

impl InboxFilter {
    fn normalised(mut self) -> Self {
        if self.channel.parse::<Channel>().is_err() {
            self.channel.clear();
        }
        if self.status != "all" && self.status.parse::<ConversationStatus>().is_err() {
            self.status = ConversationStatus::Open.as_str().to_owned();
        }
        if !matches!(self.assignee.as_str(), "me" | "none") {
            self.assignee.clear();
        }
        if !matches!(self.sla.as_str(), "breached" | "risk") {
            self.sla.clear();
        }
        if self.sort != "urgency" {
            self.sort.clear();
        }
        if !matches!(self.sentiment.as_str(), "negative" | "neutral" | "positive") {
            self.sentiment.clear();
        }
        let mut parts = Vec::new();
        if self.status != "open" {
            parts.push(format!("status={}", self.status));
        }
        if !self.assignee.is_empty() {
            parts.push(format!("assignee={}", self.assignee));
        }
        if !self.channel.is_empty() {
            parts.push(format!("channel={}", self.channel));
        }
        if self.waiting {
            parts.push("waiting=1".to_owned());
        }
        if !self.sla.is_empty() {
            parts.push(format!("sla={}", self.sla));
        }
        if !self.sort.is_empty() {
            parts.push(format!("sort={}", self.sort));
        }
        if !self.sentiment.is_empty() {
            parts.push(format!("sentiment={}", self.sentiment));
        }
        if self.closing {
            parts.push("closing=1".to_owned());
        }
        self.query = if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        };
        self
    }

    pub fn query_with_before(&self, before: &str) -> String {
        let sep = if self.query.is_empty() { '?' } else { '&' };
        format!("{}{sep}before={}", self.query, urlencode(before))
    }
}

/// One line of the list.
#[derive(Clone, Debug)]
pub struct InboxRow {
    pub id: String,
    pub contact_name: String,
    pub channel: String,
    pub channel_label: &'static str,
    pub channel_short: &'static str,
    pub preview: String,
    pub outbound: bool,
    pub awaiting: bool,
    pub sentiment: Option<&'static str>,
    pub waiting: Option<String>,
    pub window_label: String,
    pub window_class: &'static str,
    pub window_closes_at: Option<i64>,
    pub time_label: String,
    pub time_iso: String,
    pub selected: bool,
    pub assignee: Option<String>,
    /// `open`, `pending`, `snoozed`, `resolved`.
    pub status: String,
    /// The response goal: label and CSS class (`sla-ok`, `sla-risk`, `sla-breached`).
    pub sla: Option<(String, &'static str)>,
    pub due: Option<Due>,
}

/// A contact's name, or a short form of their identity when they gave none.
pub fn contact_label(name: Option<&str>, contact_id: &str) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => name.to_owned(),
        None => format!(
            "Kontakt {}",
            contact_id
                .trim_start_matches("ct_")
                .chars()
                .take(6)
                .collect::<String>()
        ),
    }
}

pub fn preview(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > PREVIEW_CHARS {
        let cut: String = line.chars().take(PREVIEW_CHARS).collect();
        format!("{cut}…")
    } else {
        line
    }
}

/// (label, CSS class, closes at) of a conversation's 24-hour window.
pub fn window_badge(
    t: &Texts,
    channel: &str,
    last_inbound_at: Option<i64>,
    now: Timestamp,
) -> (String, &'static str, Option<i64>) {
    let (open, closes_at, _) = window_times(last_inbound_at.map(Timestamp), now);
    match closes_at.filter(|_| open) {
        Some(closes_at) => {
            let left = closes_at.0 - now.0;
            if left < CLOSING_SOON_MS {
                (
                    t.arg("window-closing", "duration", format::duration(t, left)),
                    "window-closing",
                    Some(closes_at.0),
                )
            } else {
                (
                    t.arg("window-open", "duration", format::duration(t, left)),
                    "window-open",
                    Some(closes_at.0),
                )
            }
        }
        None if channel == Channel::WhatsApp.as_str() => {
            (t.get("window-closed-templates"), "window-closed", None)
        }
        None => (t.get("window-closed"), "window-closed", None),
    }
}

/// The response goal of a conversation whose customer is waiting.
pub fn response_due(app: &AppState, row: &ConversationRow, now: Timestamp) -> Option<Due> {
    let waiting_since = row.waiting_since?;
    let calendar = app.settings.sla.calendar().ok()?;
    sla::response_due(
        &calendar,
        &app.settings.sla.goals(&row.channel),
        Timestamp(waiting_since),
        row.last_outbound_at.is_some(),
        now,
    )
}

/// (label, CSS class) of a response goal.
pub fn due_badge(t: &Texts, due: Due, now: Timestamp) -> (String, &'static str) {
    match due {
        Due::Breached { due_at } => (
            t.arg("sla-breached", "since", format::short(due_at, now)),
            "sla-breached",
        ),
        Due::Pending { due_at, at_risk } => (
            t.arg("sla-due", "at", format::short(due_at, now)),
            if at_risk { "sla-risk" } else { "sla-ok" },
        ),
    }
}

fn inbox_row(
    app: &AppState,
    t: &Texts,
    row: &ConversationRow,
    now: Timestamp,
    selected: Option<&str>,
) -> InboxRow {
    let (channel_label, channel_short) = channel_names(&row.channel);
    let (window_label, window_class, window_closes_at) =
        window_badge(t, &row.channel, row.last_inbound_at, now);
    let due = response_due(app, row, now);
    let last = row.last_message.as_ref();
    let outbound = last.is_some_and(|m| m.direction == Direction::Outbound.as_str());
    let awaiting = last.is_some_and(|m| m.direction == Direction::Inbound.as_str());
    let preview_text = match last {
        Some(m) => match m.body.as_deref().filter(|b| !b.trim().is_empty()) {
            Some(body) => preview(body),
            None => t.get(&format!("kind-{}", m.kind)),
        },
        None => String::new(),
    };
    InboxRow {
        id: row.id.clone(),
        contact_name: contact_label(row.contact_name.as_deref(), &row.contact_id),
        channel: row.channel.clone(),
        channel_label,
        channel_short,
        preview: preview_text,
        outbound,
        awaiting,
        sentiment: last.and_then(|m| m.sentiment).map(|s| s.as_str()),
        waiting: row
            .waiting_since
            .filter(|_| awaiting)
            .map(|since| format::duration(t, now.0 - since)),
        window_label,
        window_class,
        window_closes_at,
        time_label: format::short(Timestamp(row.last_message_at), now),
        time_iso: Timestamp(row.last_message_at).to_rfc3339(),
        selected: selected == Some(row.id.as_str()),
        assignee: row.assignee_name.clone(),
        status: row.status.clone(),
        due: due.filter(|_| awaiting),
        sla: due.filter(|_| awaiting).map(|due| due_badge(t, due, now)),
    }
}

/// What the list shows for a filter.
pub struct InboxList {
    pub filter: InboxFilter,
    pub rows: Vec<InboxRow>,
    pub next: Option<String>,
    pub counts: ConversationCounts,
}

pub async fn load_list(
    app: &AppState,
    session: &WebSession,
    filter: InboxFilter,
    selected: Option<&str>,
) -> Result<InboxList, Response> {
    let t = &session.texts;
    let filter = filter.normalised();
    let before = filter
        .before
        .as_deref()
        .map(parse_page_cursor)
        .transpose()
        .unwrap_or_default();
    let now = app.clock.now();
    let query = ConversationFilter {
        channel: filter.channel.parse().ok(),
        awaiting_reply: filter.waiting,
        before,
        status: filter.status.parse().ok(),
        assignee: match filter.assignee.as_str() {
            "me" => Assignee::Agent(&session.agent.id),
            "none" => Assignee::Nobody,
            _ => Assignee::Anyone,
        },
        now: now.0,
        sentiment: Sentiment::ALL
            .into_iter()
            .find(|s| s.as_str() == filter.sentiment),
        // The window closes 24 h after the customer's last message.
        last_inbound_between: filter.closing.then(|| {
            (
                now.0 - HUMAN_WINDOW_MS,
                now.0 - HUMAN_WINDOW_MS + CLOSING_SOON_MS,
            )
        }),
        ..ConversationFilter::default()
    };
    // Due times follow the business calendar, which SQL does not know: the
    // response-goal views read the waiting conversations and order them here.
    let by_goal = !filter.sla.is_empty() || filter.sort == "urgency";
    let query = if by_goal {
        ConversationFilter {
            awaiting_reply: true,
            before: None,
            ..query
        }
    } else {
        query
    };
    let limit = if by_goal { GOAL_VIEW_SCAN } else { ROWS };
    let (rows, counts) = match tokio::try_join!(
        app.store.conversations(limit, &query),
        app.store.conversation_counts(&session.agent.id, now)
    ) {
        Ok(found) => found,
        Err(err) => return Err(store_failed(err)),
    };
    let next = rows
        .last()
        .filter(|_| !by_goal && rows.len() as i64 == ROWS)
        .map(|row| page_cursor(row.last_message_at, &row.id));
    let selected = selected.or(filter.selected.as_deref());
    let mut rows: Vec<InboxRow> = rows
        .iter()
        .map(|row| inbox_row(app, t, row, now, selected))
        .collect();
    if by_goal {
        rows.retain(|row| {
            matches!(
                (filter.sla.as_str(), row.due),
                ("", _)
                    | ("breached", Some(Due::Breached { .. }))
                    | (
                        "risk",
                        Some(Due::Breached { .. } | Due::Pending { at_risk: true, .. })
                    )
            )
        });
        // Due first; conversations without a goal last.
        rows.sort_by_key(|row| row.due.map_or(i64::MAX, |due| due.due_at().0));
        rows.truncate(ROWS as usize);
    }
    Ok(InboxList {
        filter,
        rows,
        next,
        counts,
    })
}

pub fn store_failed(err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "a page could not read the store");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Die Datenbank ist nicht erreichbar / the database is unavailable",
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "inbox.html")]
pub struct InboxPage {
    pub chrome: Chrome,
    pub filter: InboxFilter,
    pub rows: Vec<InboxRow>,
    pub next: Option<String>,
    pub counts: ConversationCounts,
    pub pane: Option<super::conversation::ConversationPane>,
}

#[derive(Template)]
#[template(path = "partials/inbox_rows.html")]
struct InboxRowsPartial {
    chrome: Chrome,
    filter: InboxFilter,
    rows: Vec<InboxRow>,
    next: Option<String>,
    counts: ConversationCounts,
}

pub async fn page(
    State(app): State<AppState>,
    session: WebSession,
    Query(filter): Query<InboxFilter>,
) -> Response {
    let list = match load_list(&app, &session, filter, None).await {
        Ok(list) => list,
        Err(failed) => return failed,
    };
    render(&InboxPage {
        chrome: session.chrome("inbox"),
        filter: list.filter,
        rows: list.rows,
        next: list.next,
        counts: list.counts,
        pane: None,
    })
}

pub async fn rows(
    State(app): State<AppState>,
    session: WebSession,
    Query(filter): Query<InboxFilter>,
) -> Response {
    let list = match load_list(&app, &session, filter, None).await {
        Ok(list) => list,
        Err(failed) => return failed,
    };
    render(&InboxRowsPartial {
        chrome: session.chrome("inbox"),
        filter: list.filter,
        rows: list.rows,
        next: list.next,
        counts: list.counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_to_one_line() {
        let long = "Sehr geehrte Damen und Herren,\n\nich ".to_owned() + &"warte ".repeat(40);
        let cut = preview(&long);
        assert!(cut.starts_with("Sehr geehrte Damen und Herren, ich warte"));
        assert!(cut.ends_with('…'));
        assert_eq!(cut.chars().count(), PREVIEW_CHARS + 1);
    }

    #[test]
    fn the_filters_survive_in_links() {
        let filter = InboxFilter {
            channel: "whatsapp".into(),
            waiting: true,
            ..InboxFilter::default()
        }
        .normalised();
        assert_eq!(filter.query, "?channel=whatsapp&waiting=1");
        assert_eq!(
            filter.query_with_before("123.cv_a"),
            "?channel=whatsapp&waiting=1&before=123.cv_a"
        );
        let bogus = InboxFilter {
            channel: "<script>".into(),
            ..InboxFilter::default()
        }
        .normalised();
        assert_eq!(bogus.query, "");
    }
}
