//! HTTP routes: the Graph API subset and the `/sim/*` control API.

use crate::config::Tunables;
use crate::graph::{GraphError, check_token, check_version};
use crate::inbound::{BatchLayout, InboundError, InboundRequest};
use crate::media::{FormField, UPLOAD_BODY_LIMIT, URL_TTL_SECS};
use crate::scenarios::{ScenarioError, ScenarioParams};
use crate::state::{Channel, Sim, WebhookKind};
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type Shared = State<Arc<Sim>>;
type Q = Query<HashMap<String, String>>;

pub(crate) fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/sim/inbound", post(control_inbound))
        .route("/sim/inbound/batch", post(control_batch))
        .route("/sim/scenarios/{name}", post(control_scenario))
        .route("/sim/sent", get(control_sent))
        .route("/sim/webhooks", get(control_webhooks))
        .route("/sim/clock", get(control_clock_get).post(control_clock))
        .route("/sim/config", get(control_config_get).post(control_config))
        .route("/sim/verify-webhook", post(control_verify))
        .route("/sim/reset", post(control_reset))
        .route("/sim/value-error", post(control_value_error))
        .route("/whatsapp_business/attachments/", get(media_download))
        .route("/cdn/attachments/{id}", get(cdn_download))
        .route("/sim/uploads", get(control_uploads))
        .route("/{ver}/{id}/messages", post(graph_messages))
        .route(
            "/{ver}/{id}/media",
            post(graph_media_upload).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route(
            "/{ver}/{id}/message_templates",
            get(graph_templates_list)
                .post(graph_templates_create)
                .delete(graph_templates_delete),
        )
        .route(
            "/{ver}/{id}",
            get(graph_media_info).delete(graph_media_delete),
        )
        .layer(DefaultBodyLimit::max(4 * 1024 * 1024))
        .with_state(sim)
}

fn parse_json(body: &Bytes, whatsapp: bool) -> Result<Value, GraphError> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| {
            if whatsapp {
                GraphError::wa_param("Request body must be a JSON object.")
            } else {
                GraphError::fb_param("Request body must be a JSON object.")
            }
        })
}

async fn graph_messages(
    State(sim): Shared,
    Path((ver, id)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    check_version(&sim, &ver)?;
    check_token(&sim, &headers, q.get("access_token").map(String::as_str))?;
    let cfg = &sim.config;
    if id == cfg.phone_number_id {
        let body = parse_json(&body, true)?;
        crate::whatsapp::send(&sim, &id, &body).map(Json)
    } else if id == cfg.page_id || id == "me" {
        let body = parse_json(&body, false)?;
        crate::messenger::send(&sim, Channel::Messenger, &cfg.page_id, &body).map(Json)
    } else if id == cfg.ig_id {
        let body = parse_json(&body, false)?;
        crate::messenger::send(&sim, Channel::Instagram, &cfg.ig_id, &body).map(Json)
    } else {
        Err(GraphError::unknown_object(&id, "post"))
    }
}

/// `POST /{ver}/{phone_number_id}/media`: a multipart upload for sending.
async fn graph_media_upload(
    State(sim): Shared,
    Path((ver, id)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, GraphError> {
    check_version(&sim, &ver)?;
    check_token(&sim, &headers, q.get("access_token").map(String::as_str))?;
    if id != sim.config.phone_number_id {
        return Err(GraphError::unknown_object(&id, "post"));
    }
    let fields = read_form(form).await;
    sim.upload_media(&id, fields).map(Json)
}

/// Every part of a `multipart/form-data` body; anything else (another
/// Content-Type, a truncated or oversized form) is Meta's #100.
async fn read_form(
    form: Result<Multipart, MultipartRejection>,
) -> Result<Vec<FormField>, GraphError> {
    let unreadable = |detail: String| {
        GraphError::wa_param(format!(
            "The request must be multipart/form-data ({detail})."
        ))
    };
    let mut form = form.map_err(|e| unreadable(e.body_text()))?;
    let mut fields = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| unreadable(e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let data = field.bytes().await.map_err(|e| unreadable(e.body_text()))?;
        fields.push(FormField {
            name,
            filename,
            content_type,
            data: Vec::from(data),
        });
    }
    Ok(fields)
}

/// Version, token and WABA id of a `/{ver}/{waba}/message_templates` call.
fn check_waba_call(
    sim: &Arc<Sim>,
    ver: &str,
    id: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    verb: &str,
) -> Result<(), GraphError> {
    check_version(sim, ver)?;
    check_token(sim, headers, q.get("access_token").map(String::as_str))?;
    if id != sim.config.waba_id {
        return Err(GraphError::unknown_object(id, verb));
    }
    Ok(())
}

async fn graph_templates_list(
    State(sim): Shared,
    Path((ver, id)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    check_waba_call(&sim, &ver, &id, &q, &headers, "get")?;
    sim.list_templates(&ver, &q).map(Json)
}

async fn graph_templates_create(
    State(sim): Shared,
    Path((ver, id)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphError> {
    check_waba_call(&sim, &ver, &id, &q, &headers, "post")?;
    let body = parse_json(&body, false)?;
    sim.create_template(&body).map(Json)
}

async fn graph_templates_delete(
    State(sim): Shared,
    Path((ver, id)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    check_waba_call(&sim, &ver, &id, &q, &headers, "delete")?;
    sim.delete_template(
        q.get("name").map(String::as_str),
        q.get("hsm_id").map(String::as_str),
    )
    .map(Json)
}

async fn graph_media_info(
    State(sim): Shared,
    Path((ver, id)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    check_version(&sim, &ver)?;
    check_token(&sim, &headers, q.get("access_token").map(String::as_str))?;
    if let Some(pn) = q.get("phone_number_id")
        && pn != &sim.config.phone_number_id
    {
        return Err(GraphError::wa_param(
            "Media does not belong to this phone_number_id.",
        ));
    }
    let now = sim.now();
    let item = sim.lock().media.get(&id).cloned();
    let pnid = q
        .get("phone_number_id")
        .map_or(sim.config.phone_number_id.as_str(), String::as_str);
    let item = item
        .filter(|m| m.usable_by(pnid, now))
        .ok_or_else(|| GraphError::unknown_object(&id, "get"))?;
    Ok(Json(json!({
        "messaging_product": "whatsapp",
        "url": sim.media_url(&item.id),
        "mime_type": item.mime_type,
        "sha256": item.sha256,
        "file_size": item.bytes.len(),
        "id": item.id,
    })))
}

async fn graph_media_delete(
    State(sim): Shared,
    Path((ver, id)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphError> {
    check_version(&sim, &ver)?;
    check_token(&sim, &headers, q.get("access_token").map(String::as_str))?;
    match sim.lock().media.remove(&id) {
        Some(_) => Ok(Json(json!({"success": true}))),
        None => Err(GraphError::unknown_object(&id, "delete")),
    }
}

/// A 503 while the `media_failures` tunable lasts (each use counts down).
fn injected_media_failure(sim: &Arc<Sim>) -> Option<Response> {
    let mut st = sim.lock();
    (st.tunables.media_failures > 0).then(|| {
        st.tunables.media_failures -= 1;
        (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response()
    })
}

/// The file's bytes, or `refusal` when the link is unknown or expired.
fn serve_media(
    item: Option<crate::media::MediaItem>,
    valid: bool,
    refusal: (StatusCode, &'static str),
) -> Response {
    match item {
        Some(item) if valid => (
            [
                (header::CONTENT_TYPE, item.mime_type.clone()),
                (header::CONTENT_LENGTH, item.bytes.len().to_string()),
            ],
            item.bytes.as_ref().clone(),
        )
            .into_response(),
        _ => refusal.into_response(),
    }
}

async fn media_download(State(sim): Shared, Query(q): Q, headers: HeaderMap) -> Response {
    if let Err(e) = check_token(&sim, &headers, None) {
        return e.into_response();
    }
    if let Some(failure) = injected_media_failure(&sim) {
        return failure;
    }
    let issued = q.get("ext").and_then(|e| e.parse::<i64>().ok());
    let fresh = issued.is_some_and(|issued| sim.now() - issued <= URL_TTL_SECS);
    let item = q
        .get("mid")
        .and_then(|mid| sim.lock().media.get(mid).cloned());
    // Lookaside answers expired or unknown URLs with 404.
    serve_media(
        item,
        fresh,
        (
            StatusCode::NOT_FOUND,
            "URL signature expired or unknown media",
        ),
    )
}

/// Messenger/Instagram attachments: public, no token, until `oe` (hex seconds).
async fn cdn_download(State(sim): Shared, Path(id): Path<String>, Query(q): Q) -> Response {
    if let Some(failure) = injected_media_failure(&sim) {
        return failure;
    }
    let expires = q.get("oe").and_then(|e| i64::from_str_radix(e, 16).ok());
    let fresh = expires.is_some_and(|expires| sim.now() <= expires);
    let item = sim.lock().media.get(&id).cloned();
    serve_media(
        item,
        fresh,
        (StatusCode::FORBIDDEN, "URL signature expired"),
    )
}

#[derive(Debug, Serialize)]
struct ControlError {
    error: String,
}

fn bad_request(msg: impl ToString) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(ControlError {
            error: msg.to_string(),
        }),
    )
        .into_response()
}

fn inbound_error(e: InboundError) -> Response {
    bad_request(e)
}

async fn control_inbound(State(sim): Shared, body: Bytes) -> Response {
    let req: InboundRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("invalid inbound request: {e}")),
    };
    match sim.deliver_inbound(vec![req], BatchLayout::Messages).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => inbound_error(e),
    }
}

#[derive(Debug, Deserialize)]
struct BatchBody {
    items: Vec<InboundRequest>,
    #[serde(default)]
    layout: BatchLayout,
}

async fn control_batch(State(sim): Shared, body: Bytes) -> Response {
    let b: BatchBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("invalid batch: {e}")),
    };
    match sim.deliver_inbound(b.items, b.layout).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => inbound_error(e),
    }
}

async fn control_scenario(State(sim): Shared, Path(name): Path<String>, body: Bytes) -> Response {
    let params: ScenarioParams = if body.iter().all(u8::is_ascii_whitespace) {
        ScenarioParams::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => return bad_request(format!("invalid scenario params: {e}")),
        }
    };
    match sim.run_scenario(&name, params).await {
        Ok(r) => Json(r).into_response(),
        Err(e @ ScenarioError::Unknown(_)) => (
            StatusCode::NOT_FOUND,
            Json(ControlError {
                error: e.to_string(),
            }),
        )
            .into_response(),
        Err(e) => bad_request(e),
    }
}

async fn control_sent(State(sim): Shared) -> Response {
    Json(sim.lock().sent.clone()).into_response()
}

async fn control_uploads(State(sim): Shared) -> Response {
    Json(sim.lock().uploads.clone()).into_response()
}

async fn control_webhooks(State(sim): Shared, Query(q): Q) -> Response {
    let kind = q
        .get("kind")
        .and_then(|k| serde_json::from_value::<WebhookKind>(json!(k)).ok());
    let list: Vec<_> = sim
        .lock()
        .webhooks
        .iter()
        .filter(|w| kind.is_none_or(|k| w.kind == k))
        .cloned()
        .collect();
    Json(list).into_response()
}

#[derive(Debug, Deserialize)]
struct ClockBody {
    advance_secs: i64,
}

fn clock_json(sim: &Sim) -> Value {
    json!({"now": sim.now(), "offset_secs": sim.lock().clock_offset_secs})
}

async fn control_clock_get(State(sim): Shared) -> Json<Value> {
    Json(clock_json(&sim))
}

async fn control_clock(State(sim): Shared, body: Bytes) -> Response {
    match serde_json::from_slice::<ClockBody>(&body) {
        Ok(b) => {
            sim.lock().clock_offset_secs += b.advance_secs;
            Json(clock_json(&sim)).into_response()
        }
        Err(e) => bad_request(format!("expected {{\"advance_secs\": n}}: {e}")),
    }
}

async fn control_config_get(State(sim): Shared) -> Json<Tunables> {
    Json(sim.tunables())
}

/// Merges the given keys into the current tunables; unknown keys are an error.
async fn control_config(State(sim): Shared, body: Bytes) -> Response {
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return bad_request("expected a JSON object of settings"),
    };
    match sim.patch_tunables(&patch) {
        Ok(t) => Json(t).into_response(),
        Err(e) => bad_request(e),
    }
}

impl Sim {
    pub(crate) fn patch_tunables(&self, patch: &Value) -> Result<Tunables, String> {
        let mut current = serde_json::to_value(self.tunables()).map_err(|e| e.to_string())?;
        if let (Some(cur), Some(p)) = (current.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                cur.insert(k.clone(), v.clone());
            }
        }
        let t: Tunables =
            serde_json::from_value(current).map_err(|e| format!("invalid settings: {e}"))?;
        self.lock().tunables = t.clone();
        Ok(t)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VerifyBody {
    channel: Channel,
    /// Send this instead of the configured token (to test rejection).
    verify_token: Option<String>,
}

async fn control_verify(State(sim): Shared, body: Bytes) -> Response {
    let b: VerifyBody = if body.iter().all(u8::is_ascii_whitespace) {
        VerifyBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return bad_request(format!("invalid verify request: {e}")),
        }
    };
    Json(
        sim.verify_webhook(b.channel, b.verify_token.as_deref())
            .await,
    )
    .into_response()
}

/// Result of Meta's GET handshake against Resonanz.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyReport {
    pub url: Option<String>,
    pub http_status: Option<u16>,
    pub body: String,
    pub challenge: String,
    /// HTTP 200 and the body is exactly the challenge.
    pub echoed: bool,
    pub error: Option<String>,
}

impl Sim {
    pub(crate) async fn verify_webhook(
        &self,
        channel: Channel,
        token: Option<&str>,
    ) -> VerifyReport {
        let challenge = crate::state::new_numeric_id(10);
        let mut report = VerifyReport {
            url: self.target(channel),
            http_status: None,
            body: String::new(),
            challenge: challenge.clone(),
            echoed: false,
            error: None,
        };
        let Some(url) = report.url.clone() else {
            report.error = Some(format!("no webhook target configured for {channel:?}"));
            return report;
        };
        let token = token.unwrap_or(&self.config.verify_token);
        let sep = if url.contains('?') { '&' } else { '?' };
        let full = format!(
            "{url}{sep}hub.mode=subscribe&hub.challenge={}&hub.verify_token={}",
            percent_encode(&challenge),
            percent_encode(token)
        );
        let resp = self.http.get(&full).send().await;
        match resp {
            Ok(r) => {
                let status = r.status().as_u16();
                report.http_status = Some(status);
                report.body = r.text().await.unwrap_or_default();
                report.echoed = status == 200 && report.body == challenge;
            }
            Err(e) => report.error = Some(e.to_string()),
        }
        report
    }
}

#[derive(Debug, Deserialize)]
struct ValueErrorBody {
    code: i64,
}

async fn control_value_error(State(sim): Shared, body: Bytes) -> Response {
    match serde_json::from_slice::<ValueErrorBody>(&body) {
        Ok(b) => Json(sim.deliver_value_error(b.code).await).into_response(),
        Err(e) => bad_request(format!("expected {{\"code\": n}}: {e}")),
    }
}

async fn control_reset(State(sim): Shared) -> Json<Value> {
    let mut st = sim.lock();
    st.sent.clear();
    st.uploads.clear();
    st.webhooks.clear();
    Json(json!({"ok": true}))
}

/// Query-component encoding: everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
