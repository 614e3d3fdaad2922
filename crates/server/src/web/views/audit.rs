//! `/admin/audit`: the append-only audit log, newest first, for admins.

use crate::app::AppState;
use crate::web::format;
use crate::web::render;
use crate::web::session::{Chrome, WebSession};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use resonanz_core::Timestamp;
use serde::Deserialize;

const PAGE: i64 = 100;

pub struct AuditLine {
    pub action: String,
    pub action_label: String,
    pub who: String,
    pub target: String,
    pub detail: String,
    pub address: String,
    pub time_label: String,
    pub time_iso: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    entries: Vec<AuditLine>,
    next: Option<i64>,
}

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
}

pub async fn page(
    State(app): State<AppState>,
    session: WebSession,
    Query(query): Query<AuditQuery>,
) -> Response {
    if let Err(refused) = session.check_admin() {
        return refused.into_response();
    }
    let t = session.texts;
    let entries = match app.store.audit_entries(query.before, PAGE).await {
        Ok(entries) => entries,
        Err(err) => return super::inbox::store_failed(err),
    };
    let next = entries
        .last()
        .filter(|_| entries.len() as i64 == PAGE)
        .map(|e| e.seq);
    let entries = entries
        .into_iter()
        .map(|e| {
            let key = format!("audit-action-{}", e.action);
            let label = t.get(&key);
            AuditLine {
                action_label: if label == key {
                    e.action.clone()
                } else {
                    label
                },
                action: e.action,
                who: e.agent_name.unwrap_or_default(),
                target: e.target.unwrap_or_default(),
                detail: e.detail,
                address: e.address.unwrap_or_default(),
                time_label: format::datetime(Timestamp(e.at)),
                time_iso: Timestamp(e.at).to_rfc3339(),
            }
        })
        .collect();
    render(&AuditPage {
        chrome: session.chrome("audit"),
        entries,
        next,
    })
}
