//! `POST /api/compose/check`: the guideline and sensitive-data check of a
//! draft, which the composer runs while the agent types, so the reason a
//! reply is risky shows before it is sent. It changes nothing.

use super::api::{ApiResult, bad_json};
use crate::app::AppState;
use crate::outbound::auth::Agent;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use resonanz_analysis::OutgoingContext;
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/compose/check", post(check))
}

/// A draft is at most what WhatsApp takes in one message.
const MAX_DRAFT_CHARS: usize = 4096;

#[derive(Deserialize)]
struct CheckBody {
    text: String,
    /// A reply visible to everyone (under a post), not a private chat.
    #[serde(default)]
    public: bool,
    #[serde(default)]
    first_message: bool,
}

async fn check(
    State(app): State<AppState>,
    _agent: Agent,
    body: Result<Json<CheckBody>, JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(bad_json)?;
    let text: String = body.text.chars().take(MAX_DRAFT_CHARS).collect();
    let ctx = OutgoingContext {
        public: body.public,
        template: false,
        first_message: body.first_message,
    };
    let analyzer = app.pipeline.analyzer().clone();
    let findings = tokio::task::spawn_blocking(move || analyzer.check_outgoing(&text, &ctx))
        .await
        .map_err(super::api::internal)?;
    Ok(Json(json!({
        "findings": findings.iter().map(|f| json!({
            "rule": f.rule_id,
            "severity": f.severity,
            "start": f.start,
            "end": f.end,
            "de": f.message_de,
            "en": f.message_en,
        })).collect::<Vec<_>>(),
    }))
    .into_response())
}
