//! `POST /api/media`: an agent uploads a file to send over WhatsApp, either
//! as the raw body (its `Content-Type`, `?filename=`) or as a
//! `multipart/form-data` form with a `file` part. It is checked against
//! WhatsApp's type and size table, stored durably in the content-addressed
//! blob store and described in `outbound_files`; the returned `upload`
//! handle then goes into a document, image, audio, video or sticker draft,
//! or into a template's header. The sender worker uploads it to Meta just
//! before the send. A WebP file is a sticker: 512×512, 100 KB static, 500 KB
//! animated.

use super::api::{ApiResult, internal, problem_with};
use crate::app::AppState;
use crate::outbound::auth::Agent;
use crate::problem::Problem;
use axum::body::Bytes;
use axum::extract::multipart::MultipartError;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use resonanz_channels::media::{
    self, BlobStore, MediaError, StickerError, WHATSAPP_MEDIA, check_sticker, check_upload,
    content_matches, essence, sanitize_filename,
};
use resonanz_store::{OutboundFile, Role};
use serde::Deserialize;
use serde_json::{Value, json};

/// The largest WhatsApp file (a 100 MB document) plus a multipart form
/// around it. Only this route; webhooks keep `max_body_bytes`.
pub const UPLOAD_BODY_LIMIT: usize = 100 * 1024 * 1024 + 64 * 1024;

/// Kinds a draft can send an uploaded file as.
const SENDABLE: &[&str] = &["document", "image", "audio", "video", "sticker"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/media",
            post(upload).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/api/media/{sha256}", get(describe))
}

#[derive(Deserialize)]
struct UploadQuery {
    filename: Option<String>,
    /// Overrides the Content-Type (as Meta's `type` field does).
    #[serde(rename = "type")]
    mime_type: Option<String>,
}

fn view(file: &OutboundFile) -> Value {
    json!({
        "upload": file.sha256,
        "sha256": file.sha256,
        "kind": file.kind,
        "mime_type": file.mime_type,
        "size": file.size,
        "filename": file.filename,
    })
}

fn too_large(size: u64, limit: u64, kind: &str) -> Problem {
    let mb = |bytes: u64| format!("{:.1}", bytes as f64 / (1024.0 * 1024.0));
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "file-too-large",
        &format!(
            "The file is too large: WhatsApp takes at most {} MB for this type",
            mb(limit)
        ),
        &format!(
            "Die Datei ist zu groß: WhatsApp nimmt für diesen Typ höchstens {} MB an",
            mb(limit)
        ),
        format!("{size} bytes, at most {limit} for {kind} (WhatsApp Cloud API media limits)"),
    )
}

fn unsupported(mime_type: &str, detail: String) -> axum::response::Response {
    let accepted: Vec<&str> = WHATSAPP_MEDIA
        .iter()
        .filter(|l| SENDABLE.contains(&l.kind))
        .flat_map(|l| l.mime_types.iter().copied())
        .collect();
    problem_with(
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-file-type",
            "WhatsApp does not accept files of this type",
            "WhatsApp nimmt Dateien dieses Typs nicht an",
            detail,
        ),
        json!({ "mime_type": mime_type, "accepted": accepted }),
    )
}

/// A WebP file WhatsApp would not show as a sticker.
fn bad_sticker(mime_type: &str, err: &StickerError) -> axum::response::Response {
    let en = format!("This file cannot be sent as a WhatsApp sticker: {err}");
    let de = format!(
        "Diese Datei kann nicht als WhatsApp-Sticker gesendet werden: {}",
        err.message_de()
    );
    let problem = match err {
        StickerError::NotWebp => return unsupported(mime_type, err.to_string()),
        StickerError::TooLarge { size, max, .. } => too_large(*size, *max, "sticker"),
        StickerError::Dimensions { .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "sticker-invalid",
            "WhatsApp stickers must be 512×512 pixels",
            "WhatsApp-Sticker müssen 512×512 Pixel groß sein",
            err.to_string(),
        ),
    };
    problem_with(problem, json!({"de": de, "en": en, "sticker": err}))
}

fn bad_upload(detail: impl Into<String>) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-upload",
        "The upload cannot be read",
        "Die hochgeladene Datei kann nicht gelesen werden",
        detail,
    )
}

/// An uploaded file before any check.
struct Received {
    bytes: Bytes,
    mime_type: Option<String>,
    filename: Option<String>,
}

/// The body is over the route's own limit (a 100 MB file plus its form).
fn body_too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "file-too-large",
        "The file is too large: WhatsApp takes at most 100 MB",
        "Die Datei ist zu groß: WhatsApp nimmt höchstens 100 MB an",
        format!("the body exceeds {UPLOAD_BODY_LIMIT} bytes"),
    )
}

fn unreadable_form(err: MultipartError) -> Problem {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        body_too_large()
    } else {
        bad_upload(err.body_text())
    }
}

/// The file, its declared type and name, from a form (`file` part, optional
/// `type` and `filename` fields) or a raw body (its Content-Type).
async fn read_upload(
    app: &AppState,
    query: &UploadQuery,
    request: Request,
) -> Result<Received, Problem> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if essence(&content_type) != "multipart/form-data" {
        let bytes = Bytes::from_request(request, app)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    body_too_large()
                } else {
                    bad_upload(rejection.body_text())
                }
            })?;
        return Ok(Received {
            bytes,
            mime_type: query.mime_type.clone().or(Some(content_type)),
            filename: query.filename.clone(),
        });
    }
    let mut form = Multipart::from_request(request, app)
        .await
        .map_err(|rejection| bad_upload(rejection.body_text()))?;
    let (mut declared, mut named, mut file) = (None, None, None);
    while let Some(field) = form.next_field().await.map_err(unreadable_form)? {
        let is_text = field.file_name().is_none();
        match field.name().unwrap_or("") {
            "file" if file.is_none() => {
                let filename = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(unreadable_form)?;
                file = Some(Received {
                    bytes,
                    mime_type: content_type,
                    filename,
                });
            }
            "type" if is_text && declared.is_none() => {
                declared = Some(field.text().await.map_err(unreadable_form)?);
            }
            "filename" if is_text && named.is_none() => {
                named = Some(field.text().await.map_err(unreadable_form)?);
            }
            // Anything else is skipped unread.
            _ => {}
        }
    }
    let file = file.ok_or_else(|| bad_upload("the form has no \"file\" part"))?;
    Ok(Received {
        bytes: file.bytes,
        mime_type: query.mime_type.clone().or(declared).or(file.mime_type),
        filename: query.filename.clone().or(named).or(file.filename),
    })
}

/// `POST /api/media`: 201 with the upload handle; 413 over WhatsApp's limit
/// for the type, 415 for a type WhatsApp does not take; nothing is queued.
async fn upload(
    State(app): State<AppState>,
    agent: Agent,
    query: Result<Query<UploadQuery>, QueryRejection>,
    request: Request,
) -> ApiResult {
    agent.require(Role::Agent)?;
    let Query(query) = query.map_err(|e| bad_upload(e.body_text()))?;
    let Received {
        bytes,
        mime_type: declared,
        filename,
    } = read_upload(&app, &query, request).await?;
    let filename = filename.as_deref().and_then(sanitize_filename);
    // No type, or only "some bytes": the file name's extension decides.
    let mime = declared
        .map(|m| essence(&m))
        .filter(|m| !m.is_empty() && m != "application/octet-stream")
        .or_else(|| {
            filename
                .as_deref()
                .and_then(media::mime_from_filename)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let limit = match check_upload(&mime, bytes.len() as u64) {
        Ok(limit) if SENDABLE.contains(&limit.kind) => limit,
        Ok(limit) => {
            return Ok(unsupported(
                &mime,
                format!("{} files cannot be sent from Resonanz", limit.kind),
            ));
        }
        Err(MediaError::TooLarge { size, limit }) => {
            let kind = media::upload_limit(&mime).map_or("file", |l| l.kind);
            return Err(too_large(size, limit, kind));
        }
        Err(MediaError::Empty) => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "empty-file",
                "The file is empty",
                "Die Datei ist leer",
                "0 bytes",
            ));
        }
        Err(_) if mime.is_empty() => {
            return Ok(unsupported(
                &mime,
                "give the file's Content-Type (or a file name with a known extension)".into(),
            ));
        }
        Err(_) => {
            return Ok(unsupported(
                &mime,
                format!("{mime} is not a WhatsApp media type"),
            ));
        }
    };
    if !content_matches(&mime, &bytes) {
        return Ok(unsupported(
            &mime,
            format!("the content is not {mime} (a renamed file?)"),
        ));
    }
    if limit.kind == "sticker"
        && let Err(err) = check_sticker(&bytes)
    {
        return Ok(bad_sticker(&mime, &err));
    }
    let filename = filename.or_else(|| {
        let stem = match limit.kind {
            "image" => "Bild",
            "sticker" => "Sticker",
            "audio" => "Audio",
            "video" => "Video",
            _ => "Dokument",
        };
        media::extension_for(&mime).map(|ext| format!("{stem}.{ext}"))
    });
    // Bytes first (fsynced), then the row: a crash in between leaves an
    // unreferenced blob, never a handle without its file.
    let blobs = BlobStore::new(app.settings.media.dir.clone());
    let blob = blobs.put(&bytes).await.map_err(internal)?;
    let file = OutboundFile {
        sha256: blob.sha256,
        kind: limit.kind.to_owned(),
        mime_type: mime,
        size: i64::try_from(blob.size).unwrap_or(i64::MAX),
        filename,
        created_by: agent.0.id.clone(),
        created_at: app.clock.now(),
    };
    app.store
        .save_outbound_file(&file)
        .await
        .map_err(internal)?;
    // The cleanup may have removed the same bytes (an old unused upload)
    // between `put` and the row; the row now keeps them, so store them again.
    blobs.put(&bytes).await.map_err(internal)?;
    tracing::info!(sha256 = %file.sha256, kind = %file.kind, size = file.size, "file uploaded for sending");
    Ok((StatusCode::CREATED, Json(view(&file))).into_response())
}

/// `GET /api/media/{sha256}`: what an upload handle stands for.
async fn describe(
    State(app): State<AppState>,
    _agent: Agent,
    Path(sha256): Path<String>,
) -> ApiResult {
    match app.store.outbound_file(&sha256).await.map_err(internal)? {
        Some(file) => Ok(Json(view(&file)).into_response()),
        None => Err(super::api::not_found("upload", &sha256)),
    }
}
