//! `/notifications`: the notes that mention the agent (@name), newest
//! first; opening the conversation marks them read.

use crate::app::AppState;
use crate::web::format;
use crate::web::render;
use crate::web::session::{Chrome, WebSession};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use resonanz_core::Timestamp;

pub struct MentionLine {
    pub conversation_id: String,
    pub by: String,
    pub body: String,
    pub unread: bool,
    pub time_label: String,
    pub time_iso: String,
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    chrome: Chrome,
    mentions: Vec<MentionLine>,
}

pub async fn page(State(app): State<AppState>, session: WebSession) -> Response {
    let found = match app.store.notifications(&session.agent.id, 100).await {
        Ok(found) => found,
        Err(err) => return super::inbox::store_failed(err),
    };
    let now = app.clock.now();
    let mentions = found
        .into_iter()
        .map(|n| MentionLine {
            conversation_id: n.conversation_id,
            by: n.by_name,
            body: n.body.unwrap_or_default(),
            unread: !n.read,
            time_label: format::short(Timestamp(n.at), now),
            time_iso: Timestamp(n.at).to_rfc3339(),
        })
        .collect();
    render(&NotificationsPage {
        chrome: session.chrome("notifications"),
        mentions,
    })
}
