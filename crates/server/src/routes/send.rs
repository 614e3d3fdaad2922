//! Sending: `POST /api/conversations/{id}/messages` and the check every
//! send passes first (Meta's limits, an uploaded file's kind, the template's
//! header, the messaging rules) before it is stored in the outbox.

use super::api::{
    ApiResult, bad_json, internal, not_found, outbox_view, problem_with, rfc3339, unprocessable,
};
use crate::accounts::{self, ClientAddress};
use crate::app::AppState;
use crate::outbound::auth::{self, Agent};
use crate::outbound::draft::{Draft, DraftEnvelope, TemplateHeader};
use crate::outbound::{self, violation_error};
use crate::problem::Problem;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use resonanz_channels::media::{BlobStore, check_sticker, sanitize_filename};
use resonanz_channels::outbound::MessagingType;
use resonanz_channels::templates::header_format;
use resonanz_core::rules::{Charge, FreeReason};
use resonanz_core::{Channel, MessageId};
use resonanz_store::{CachedTemplate, Enqueued, NewOutbox, Role};
use serde_json::{Value, json};

/// Our `msg_…` id → the channel's message id; anything else is taken as one.
async fn external_id_of(app: &AppState, id: &str) -> Result<String, Problem> {
    if !id.starts_with(MessageId::PREFIX) {
        return Ok(id.to_owned());
    }
    match app.store.message_ref(id).await.map_err(internal)? {
        Some(message) => Ok(message.external_id),
        None => Err(not_found("message", id)),
    }
}

/// `POST /api/conversations/{id}/messages`: checks the rules and queues the
/// send. 202 when queued, 422 with the rule's explanation when blocked,
/// 200 with the original outbox row when the Idempotency-Key was seen before.
pub(crate) async fn send_message(
    State(app): State<AppState>,
    agent: Agent,
    ClientAddress(address): ClientAddress,
    Path(conversation_id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<DraftEnvelope>, JsonRejection>,
) -> ApiResult {
    agent.require(Role::Agent)?;
    let Json(envelope) = body.map_err(bad_json)?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200);
    queue_send(&app, &agent, &conversation_id, key, &address, envelope).await
}

/// Checks a draft against Meta's limits and the messaging rules and stores
/// it in the outbox: the one path every send takes, from the JSON API and
/// from the web app's composer alike. The response is the API's.
pub(crate) async fn queue_send(
    app: &AppState,
    agent: &Agent,
    conversation_id: &str,
    idempotency_key: Option<&str>,
    address: &str,
    mut envelope: DraftEnvelope,
) -> ApiResult {
    let conversation = app
        .store
        .conversation_info(conversation_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("conversation", conversation_id))?;
    let recipient = conversation.recipient().cloned().ok_or_else(|| {
        unprocessable(
            "no-recipient",
            "The contact has no identity on this channel",
            "Der Kontakt hat auf diesem Kanal keine Kennung",
            format!("no {} identity", conversation.channel),
        )
    })?;
    if let Some(reply_to) = envelope.reply_to.clone() {
        envelope.reply_to = Some(external_id_of(app, &reply_to).await?);
    }
    if let Draft::Reaction { message_id, .. } = &mut envelope.draft {
        *message_id = external_id_of(app, message_id).await?;
    }
    if let Draft::Document { filename, .. }
    | Draft::Template {
        header: Some(TemplateHeader::Document { filename, .. }),
        ..
    } = &mut envelope.draft
    {
        // The customer sees it; an agent's text is as untrusted as a file's name.
        *filename = filename.as_deref().and_then(sanitize_filename);
    }
    if let Some(problem) = attach_upload(app, conversation.channel, &mut envelope).await? {
        return Ok(problem);
    }
    // Meta's limits are checked now, so the agent sees a bad draft at once.
    // An uploaded file gets its Meta id only at send time; a stand-in checks the rest.
    let stand_in = envelope.draft.upload().map(|_| "0");
    let shape = match conversation.channel {
        Channel::WhatsApp => envelope
            .to_whatsapp(&(&recipient).into(), "check", stand_in)
            .map(|_| ()),
        channel => envelope
            .to_meta(channel, &recipient.value, MessagingType::Response)
            .map(|_| ()),
    };
    if let Err(err) = shape {
        return Ok(problem_with(
            unprocessable(
                "invalid-draft",
                "The message cannot be sent like this",
                "Die Nachricht kann so nicht gesendet werden",
                err.to_string(),
            ),
            json!({"de": err.message_de(), "en": err.to_string()}),
        ));
    }
    let key = idempotency_key
        .map(|k| format!("{}:{k}", agent.0.id))
        .unwrap_or_else(|| format!("generated:{}", auth::new_token()));
    outbound::catch_up(app).await.map_err(internal)?;
    let now = app.clock.now();
    let outbound::Evaluation {
        verdict,
        charge,
        template,
    } = outbound::evaluate(app, &conversation, &envelope, now)
        .await
        .map_err(internal)?;
    // Meta would refuse it (132012) only after the upload; say so now.
    if let Some(problem) = template
        .as_ref()
        .and_then(|t| template_header_mismatch(&envelope.draft, t))
    {
        return Ok(problem);
    }
    // Naming a file counts as using it: the cleanup of unused uploads keeps
    // it a full retention period from now, so it cannot vanish before the
    // row below references it (one atomic update against the cleanup's delete).
    if let Some(sha256) = envelope.draft.upload()
        && !app
            .store
            .touch_outbound_file(sha256, now)
            .await
            .map_err(internal)?
    {
        return Ok(unknown_upload(sha256));
    }
    let outbox_id = format!("ob_{}", &auth::token_hash(&auth::new_token())[..24]);
    let enqueued = app
        .store
        .enqueue_outbox(NewOutbox {
            id: outbox_id,
            idempotency_key: key,
            channel: conversation.channel,
            account: conversation.account.clone(),
            recipient,
            contact_id: conversation.contact_id.clone(),
            conversation_id: conversation.id.clone(),
            payload: serde_json::to_value(&envelope).map_err(internal)?,
            upload: envelope.draft.upload().map(str::to_owned),
            created_by: agent.0.id.clone(),
            now,
            blocked: verdict.as_ref().err().map(violation_error),
        })
        .await
        .map_err(internal)?;
    match (enqueued, verdict) {
        (Enqueued::Existing(row), _) => {
            Ok((StatusCode::OK, Json(outbox_view(&row))).into_response())
        }
        (Enqueued::Created(row), Err(violation)) => {
            accounts::audit(
                app,
                Some(&agent.0),
                None,
                "send_blocked",
                Some(&conversation.id),
                &format!("{} ({})", row.id, violation.code()),
                address,
            )
            .await;
            Ok(problem_with(
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("rule/{}", violation.code()),
                    "Blocked by a messaging rule",
                    "Durch eine Versandregel blockiert",
                    violation.message_en(),
                ),
                json!({
                    "code": violation.code(),
                    "de": violation.message_de(),
                    "en": violation.message_en(),
                    "outbox": outbox_view(&row),
                }),
            ))
        }
        (Enqueued::Created(row), Ok(permit)) => {
            accounts::audit(
                app,
                Some(&agent.0),
                None,
                "send",
                Some(&conversation.id),
                &format!("{} ({})", row.id, envelope.draft.type_name()),
                address,
            )
            .await;
            let mut view = outbox_view(&row);
            view["window_closes_at"] = rfc3339(permit.window_closes_at);
            view["charge"] = charge_view(&charge);
            view["warnings"] = permit
                .warnings
                .iter()
                .map(|w| json!({"warning": w, "de": w.message_de(), "en": w.message_en()}))
                .collect();
            Ok((StatusCode::ACCEPTED, Json(view)).into_response())
        }
    }
}

/// Checks a draft's uploaded file (it exists, WhatsApp only, sent as the
/// kind it is, a sticker within WhatsApp's rules) and fills in a document's
/// filename from the upload.
async fn attach_upload(
    app: &AppState,
    channel: Channel,
    envelope: &mut DraftEnvelope,
) -> Result<Option<Response>, Problem> {
    let Some(sha256) = envelope.draft.upload().map(str::to_owned) else {
        return Ok(None);
    };
    let refuse = |slug: &str, en: &str, de: &str, detail: String| {
        Some(problem_with(
            unprocessable(slug, en, de, detail),
            json!({"de": de, "en": en}),
        ))
    };
    if channel != Channel::WhatsApp {
        return Ok(refuse(
            "upload-whatsapp-only",
            "Uploaded files can only be sent over WhatsApp; use a link on this channel",
            "Hochgeladene Dateien können nur über WhatsApp gesendet werden; auf diesem Kanal bitte einen Link verwenden",
            format!("upload on {channel}"),
        ));
    }
    let Some(file) = app.store.outbound_file(&sha256).await.map_err(internal)? else {
        return Ok(Some(unknown_upload(&sha256)));
    };
    let wanted = envelope.draft.upload_kind();
    if file.kind != wanted {
        return Ok(refuse(
            "upload-kind",
            &format!(
                "This file is a {} and cannot be sent as {wanted}",
                file.kind
            ),
            &format!(
                "Diese Datei ist vom Typ {} ({}) und kann nicht als {wanted} gesendet werden",
                file.kind, file.mime_type
            ),
            format!("{} ({}) sent as {wanted}", file.kind, file.mime_type),
        ));
    }
    if file.kind == "sticker" {
        // Checked on upload already; a sticker is small, so check its bytes again.
        let blobs = BlobStore::new(app.settings.media.dir.clone());
        if let Some(bytes) = blobs.get(&sha256).await.map_err(internal)?
            && let Err(err) = check_sticker(&bytes)
        {
            return Ok(refuse(
                "sticker-invalid",
                &format!("This file cannot be sent as a WhatsApp sticker: {err}"),
                &format!(
                    "Diese Datei kann nicht als WhatsApp-Sticker gesendet werden: {}",
                    err.message_de()
                ),
                err.to_string(),
            ));
        }
    }
    if let Draft::Document { filename, .. }
    | Draft::Template {
        header: Some(TemplateHeader::Document { filename, .. }),
        ..
    } = &mut envelope.draft
        && filename.is_none()
    {
        filename.clone_from(&file.filename);
    }
    Ok(None)
}

fn unknown_upload(sha256: &str) -> Response {
    let en = "No uploaded file has this handle; upload it with POST /api/media first";
    let de = "Zu dieser Kennung gibt es keine hochgeladene Datei; bitte zuerst über POST /api/media hochladen";
    problem_with(
        unprocessable(
            "unknown-upload",
            en,
            de,
            format!("unknown upload {sha256:?}"),
        ),
        json!({"de": de, "en": en}),
    )
}

/// What a header kind is called in a sentence.
fn header_words(kind: Option<&str>) -> (&'static str, &'static str) {
    match kind {
        Some("image") => ("ein Bild", "an image"),
        Some("video") => ("ein Video", "a video"),
        Some("document") => ("ein Dokument", "a document"),
        Some("location") => ("einen Standort", "a location"),
        Some("text") => ("einen Text", "a text"),
        _ => ("keinen Kopf", "no header"),
    }
}

/// A 422 when the draft's header does not fit the cached template's HEADER
/// format: an IMAGE/VIDEO/DOCUMENT template needs exactly that file in its
/// header, and a file cannot go into a template without such a header.
fn template_header_mismatch(draft: &Draft, template: &CachedTemplate) -> Option<Response> {
    let Draft::Template { name, header, .. } = draft else {
        return None;
    };
    let expected = header_format(&template.components).map(|f| f.to_ascii_lowercase());
    let given = header.as_ref().map(TemplateHeader::kind);
    let is_media = |kind: Option<&str>| matches!(kind, Some("image" | "video" | "document"));
    if !is_media(expected.as_deref()) && !is_media(given) || expected.as_deref() == given {
        return None;
    }
    let (expected_de, expected_en) = header_words(expected.as_deref());
    let (given_de, given_en) = header_words(given);
    let en = format!(
        "The template {name} expects {expected_en} in its header, the message has {given_en}"
    );
    let de = format!(
        "Die Vorlage {name} erwartet im Kopf {expected_de}, die Nachricht enthält {given_de}"
    );
    Some(problem_with(
        unprocessable(
            "template-header",
            "The header does not match the template",
            "Der Kopf passt nicht zur Vorlage",
            en.clone(),
        ),
        json!({
            "de": de,
            "en": en,
            "expected": expected.as_deref().map(str::to_ascii_uppercase),
            "given": given,
        }),
    ))
}

/// What Meta bills for a send, with the reason in German and English.
fn charge_view(charge: &Charge) -> Value {
    let mut view = json!(charge);
    if let Charge::Free {
        reason: FreeReason::FreeEntryPoint { until },
    } = charge
    {
        view["until"] = rfc3339(Some(*until));
    }
    view["de"] = json!(charge.message_de());
    view["en"] = json!(charge.message_en());
    view
}
