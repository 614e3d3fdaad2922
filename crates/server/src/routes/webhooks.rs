//! Meta webhooks (WhatsApp, Messenger, Instagram): the GET handshake and
//! signed POSTs. A POST is acknowledged only after its raw body is durably
//! stored; a retried delivery is stored once.

use crate::app::AppState;
use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use resonanz_channels::handshake::verify_subscription;
use resonanz_channels::signature::verify_meta_signature;
use resonanz_core::{Channel, RawEvent, Source};
use resonanz_store::IngestOutcome;
use std::time::Instant;

pub async fn verify(
    State(app): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    match verify_subscription(&query, app.settings.meta.verify_token.expose()) {
        Ok(challenge) => (StatusCode::OK, challenge).into_response(),
        Err(err) => {
            let status = StatusCode::from_u16(err.http_status()).unwrap_or(StatusCode::FORBIDDEN);
            Problem::new(
                status,
                "webhook-verification-failed",
                "Webhook verification failed",
                "Webhook-Verifizierung fehlgeschlagen",
                err.to_string(),
            )
            .into_response()
        }
    }
}

type Body = Result<Bytes, BytesRejection>;

pub async fn whatsapp(state: State<AppState>, headers: HeaderMap, body: Body) -> Response {
    receive(state, headers, body, Source::WhatsApp, Channel::WhatsApp).await
}

pub async fn messenger(state: State<AppState>, headers: HeaderMap, body: Body) -> Response {
    receive(state, headers, body, Source::Messenger, Channel::Messenger).await
}

pub async fn instagram(state: State<AppState>, headers: HeaderMap, body: Body) -> Response {
    receive(state, headers, body, Source::Instagram, Channel::Instagram).await
}

async fn receive(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
    source: Source,
    channel: Channel,
) -> Response {
    let started = Instant::now();
    let label = channel.as_str();
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let outcome = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "unreadable"
            };
            app.metrics.webhook(label, outcome);
            return Problem::new(
                status,
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "body-too-large"
                } else {
                    "unreadable-body"
                },
                "Webhook body rejected",
                "Webhook-Inhalt abgelehnt",
                rejection.body_text(),
            )
            .into_response();
        }
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|value| value.to_str().ok());
    if let Err(err) = verify_meta_signature(
        app.settings.meta.app_secret.expose().as_bytes(),
        &body,
        signature,
    ) {
        app.metrics.webhook(label, "bad_signature");
        tracing::warn!(channel = label, error = %err, "webhook rejected: signature");
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid-signature",
            "Invalid webhook signature",
            "Ungültige Webhook-Signatur",
            err.to_string(),
        )
        .into_response();
    }
    let raw = RawEvent::webhook(source, body.to_vec(), app.clock.now());
    let items = match crate::pipeline::parse(&raw) {
        Ok(items) => items,
        Err(err) => {
            app.metrics.webhook(label, "malformed");
            tracing::warn!(channel = label, error = %err, "webhook rejected: malformed");
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-webhook",
                "Malformed webhook body",
                "Fehlerhafter Webhook-Inhalt",
                err,
            )
            .into_response();
        }
    };
    // Acknowledged once the raw event is durable; the writer applies the
    // projection right after, off this request's path.
    let projection = app.pipeline.project_parsed(raw, items);
    match app.store.accept(vec![projection]).await {
        Ok(outcomes) => {
            // A journaled delivery is counted as stored or duplicate once applied.
            if let Some(&outcome) = outcomes.first()
                && outcome != IngestOutcome::Accepted
            {
                app.metrics
                    .webhook(label, crate::app::webhook_outcome(outcome));
            }
            app.metrics.observe_ack(started.elapsed().as_secs_f64());
            (StatusCode::OK, "EVENT_RECEIVED").into_response()
        }
        Err(err) => {
            // Not acknowledged: Meta retries for up to 7 days.
            app.metrics.webhook(label, "store_error");
            tracing::error!(channel = label, error = %err, "webhook not stored");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "Could not store the webhook, retry later",
                "Webhook konnte nicht gespeichert werden, bitte später erneut senden",
                "the event store is unavailable",
            )
            .into_response()
        }
    }
}
