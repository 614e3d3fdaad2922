//! The sender worker: claims due outbox rows, runs the rule check again
//! (the window may have closed, the customer may have opted out since the
//! draft was queued), and only then calls the Graph API. Retryable errors go
//! back to `queued` with exponential backoff; permanent ones end `failed`
//! with Meta's code and an explanation. Rows whose outcome is unknown are
//! reconciled (see the module docs of `outbound`).

use super::draft::DraftEnvelope;
use super::receipt::{self, Receipt};
use super::{catch_up, evaluate, graph_client, violation_error};
use crate::app::AppState;
use resonanz_channels::errors::RetryAdvice;
use resonanz_channels::media::BlobStore;
use resonanz_channels::outbound::{
    GraphClient, MessagingType, SendError, SendErrorKind, SentMessage,
};
use resonanz_core::{Channel, Inbound, Source, Timestamp};
use resonanz_store::{OutboxError, OutboxRow};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A claimed row may legitimately be `sending` this long (the HTTP timeout
/// plus margin); only older ones are reconciled.
const IN_FLIGHT_MS: i64 = 60_000;

/// Meta keeps an upload 30 days; a media id is reused for 29, so a send
/// that waits in the queue never names an id that expires on the way.
const MEDIA_REUSE_MS: i64 = 29 * 24 * 3_600_000;

pub struct SenderWorker {
    app: AppState,
    clients: HashMap<String, GraphClient>,
    blobs: BlobStore,
}

/// What became of a claimed row that names an uploaded file.
enum Upload {
    /// Meta's media id: send now.
    Ready(String),
    /// Uploaded just now and claimed again: deliver this row.
    Reclaimed(Box<OutboxRow>),
    /// Settled or given back; nothing more to do this tick.
    Done,
}

pub struct SenderHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SenderHandle {
    /// Stops after the row in hand is settled; nothing is cut off mid-send.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl SenderWorker {
    pub fn new(app: &AppState) -> Self {
        Self {
            app: app.clone(),
            clients: HashMap::new(),
            blobs: BlobStore::new(app.settings.media.dir.clone()),
        }
    }

    pub fn spawn(mut self) -> SenderHandle {
        let (stop, mut stopped) = watch::channel(false);
        let interval = Duration::from_millis(self.app.settings.outbound.poll_interval_ms.max(10));
        let task = tokio::spawn(async move {
            loop {
                if let Err(err) = self.tick().await {
                    tracing::warn!(error = %err, "outbox tick failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stopped.wait_for(|s| *s) => break,
                }
            }
        });
        SenderHandle { stop, task }
    }

    /// One pass: consent/template events, reconciliation, then due sends.
    pub async fn tick(&mut self) -> anyhow::Result<()> {
        catch_up(&self.app).await?;
        self.reconcile().await?;
        let now = self.app.clock.now();
        let rows = self
            .app
            .store
            .claim_outbox(now, self.app.settings.outbound.batch_size.max(1))
            .await?;
        for row in rows {
            let id = row.id.clone();
            if let Err(err) = self.deliver(row).await {
                // A store error after claiming: the row stays `sending` and
                // is reconciled, never blindly re-sent.
                tracing::error!(outbox_id = %id, error = %err, "outbox row not settled");
            }
        }
        Ok(())
    }

    fn client(&mut self, account: &str) -> anyhow::Result<&GraphClient> {
        if !self.clients.contains_key(account) {
            let client = graph_client(&self.app.settings, account)?;
            self.clients.insert(account.to_owned(), client);
        }
        Ok(&self.clients[account])
    }

    async fn deliver(&mut self, row: OutboxRow) -> anyhow::Result<()> {
        let mut row = row;
        // At most twice: once to upload the row's file, once to send it.
        for _ in 0..2 {
            match self.deliver_once(row).await? {
                Some(reclaimed) => row = reclaimed,
                None => return Ok(()),
            }
        }
        // Not reached (the second pass finds the fresh media id); never leave it `sending`.
        self.app
            .store
            .outbox_release(&row.id, self.app.clock.now())
            .await?;
        Ok(())
    }

    /// Checks and sends a claimed row; returns it claimed again when its
    /// file was uploaded first.
    async fn deliver_once(&mut self, row: OutboxRow) -> anyhow::Result<Option<OutboxRow>> {
        let store = self.app.store.clone();
        let now = self.app.clock.now();
        let envelope: DraftEnvelope = match serde_json::from_value(row.payload.clone()) {
            Ok(envelope) => envelope,
            Err(err) => {
                let error = local_error("unreadable_draft", &err.to_string());
                store.outbox_failed(&row.id, &error, now).await?;
                return Ok(None);
            }
        };
        let Some(conversation) = store.conversation_info(&row.conversation_id).await? else {
            let error = local_error("unknown_conversation", &row.conversation_id);
            store.outbox_failed(&row.id, &error, now).await?;
            return Ok(None);
        };
        // The rules decide before any API call.
        let super::Evaluation {
            verdict, template, ..
        } = evaluate(&self.app, &conversation, &envelope, now).await?;
        let permit = match verdict {
            Ok(permit) => permit,
            Err(violation) => {
                tracing::info!(outbox_id = %row.id, rule = violation.code(), "send blocked by rule");
                store
                    .outbox_blocked(&row.id, &violation_error(&violation), now)
                    .await?;
                return Ok(None);
            }
        };
        // A file uploaded to Resonanz goes to Meta first (or reuses its media id).
        let upload_id = match envelope.draft.upload() {
            Some(sha256) if row.channel == Channel::WhatsApp => {
                match self.media_id_for(&row, sha256).await? {
                    Upload::Ready(id) => Some(id),
                    Upload::Reclaimed(row) => return Ok(Some(*row)),
                    Upload::Done => return Ok(None),
                }
            }
            _ => None,
        };
        let built = match row.channel {
            Channel::WhatsApp => envelope
                .to_whatsapp(&(&row.recipient).into(), &row.id, upload_id.as_deref())
                .map(|m| (m.to_json(), Wire::WhatsApp(m))),
            Channel::Messenger | Channel::Instagram => {
                let messaging_type = MessagingType::from_delivery(permit.delivery)
                    .unwrap_or(MessagingType::Response);
                envelope
                    .to_meta(row.channel, &row.recipient.value, messaging_type)
                    .map(|m| (m.to_json(), Wire::Meta(m)))
            }
        };
        let (request, wire) = match built {
            Ok(built) => built,
            Err(err) => {
                let error = OutboxError {
                    code: "invalid_draft".into(),
                    de: err.message_de(),
                    en: err.to_string(),
                };
                store.outbox_failed(&row.id, &error, now).await?;
                return Ok(None);
            }
        };
        let channel = row.channel;
        let account = row.account.clone();
        let client = self.client(&account)?;
        let result = match &wire {
            Wire::WhatsApp(message) => client.send_whatsapp(&account, message).await,
            Wire::Meta(message) => client.send_meta(channel, &account, message).await,
        };
        let now = self.app.clock.now();
        match result {
            Ok(sent) => {
                let body_text = template
                    .as_ref()
                    .and_then(|t| super::body_text(&t.components));
                let rendered = envelope.draft.render_template(body_text);
                let receipt = Receipt::new(
                    &row,
                    &envelope,
                    rendered,
                    request,
                    &sent,
                    upload_id.as_deref(),
                    now,
                );
                // The receipt first: if we die between the two writes, the
                // logged receipt proves the send during reconciliation.
                receipt::record(&self.app, &receipt).await?;
                store.outbox_sent(&row.id, &sent.id, now).await?;
                tracing::info!(outbox_id = %row.id, attempts = row.attempts, "sent");
                Ok(None)
            }
            Err(err) if err.kind == SendErrorKind::Network => {
                // The request may or may not have reached Meta.
                tracing::warn!(outbox_id = %row.id, error = %err, "send outcome unknown");
                Ok(None)
            }
            Err(mut err) => {
                if let Some(media_id) = &upload_id
                    && stale_media_id(&err)
                {
                    // Deleted or expired at Meta: forget it, so the retry uploads again.
                    tracing::warn!(outbox_id = %row.id, "Meta refused the media id; uploading again");
                    store.forget_media_upload(&account, media_id).await?;
                    err.retry = RetryAdvice::Retry;
                }
                self.settle_error(&row, &err, now).await?;
                Ok(None)
            }
        }
    }

    /// Meta's media id for the row's uploaded file: reused if this number
    /// uploaded it within 29 days, else uploaded now. The row is given back
    /// (`queued`) before the upload, which may take minutes: a crash or a
    /// slow upload then never leaves it `sending`, which reconciliation could
    /// only fail, and no message has gone out yet.
    async fn media_id_for(&mut self, row: &OutboxRow, sha256: &str) -> anyhow::Result<Upload> {
        let store = self.app.store.clone();
        let now = self.app.clock.now();
        let Some(file) = store.outbound_file(sha256).await? else {
            let error = local_error("upload_missing", sha256);
            store.outbox_failed(&row.id, &error, now).await?;
            return Ok(Upload::Done);
        };
        let account = row.account.as_str();
        let fresh_after = now.plus_millis(-MEDIA_REUSE_MS);
        if let Some(id) = store
            .media_upload(sha256, account, &file.mime_type, fresh_after)
            .await?
        {
            return Ok(Upload::Ready(id));
        }
        if !store.outbox_release(&row.id, now).await? {
            return Ok(Upload::Done);
        }
        let bytes = match self.blobs.get(sha256).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                let error = OutboxError {
                    code: "file_missing".into(),
                    de: "Die hochgeladene Datei fehlt im Dateispeicher und kann nicht gesendet werden. Bitte erneut hochladen.".into(),
                    en: "The uploaded file is missing from the file store and cannot be sent. Please upload it again.".into(),
                };
                store.outbox_released_failed(&row.id, &error, now).await?;
                return Ok(Upload::Done);
            }
            Err(err) => {
                let error = local_error("file_unreadable", &err.to_string());
                self.settle_released(row, &error, RetryAdvice::Retry, now)
                    .await?;
                return Ok(Upload::Done);
            }
        };
        let client = self.client(account)?.clone();
        let filename = file.filename.as_deref().unwrap_or("file");
        let uploaded = client
            .upload_media(account, &bytes, &file.mime_type, filename)
            .await;
        let now = self.app.clock.now();
        match uploaded {
            Ok(media_id) => {
                store
                    .record_media_upload(sha256, account, &file.mime_type, &media_id, now)
                    .await?;
                tracing::info!(outbox_id = %row.id, size = bytes.len(), "file uploaded to Meta");
                // Send it now, before rows claimed after it.
                Ok(match store.claim_outbox_row(&row.id, now).await? {
                    Some(row) => Upload::Reclaimed(Box::new(row)),
                    None => Upload::Done,
                })
            }
            Err(err) => {
                tracing::warn!(outbox_id = %row.id, error = %err, "file upload to Meta failed");
                let error = OutboxError {
                    de: format!("Hochladen der Datei fehlgeschlagen. {}", err.explain_de()),
                    en: format!("Uploading the file failed. {}", err.explain_en()),
                    ..send_error(&err)
                };
                self.settle_released(row, &error, err.retry, now).await?;
                Ok(Upload::Done)
            }
        }
    }

    /// Backoff before attempt `attempts + 1`, or `None` when attempts are
    /// used up or retrying cannot help.
    fn retry_delay(&self, attempts: i64, advice: RetryAdvice) -> Option<i64> {
        let settings = &self.app.settings.outbound;
        if !advice.is_retryable() || attempts >= settings.max_attempts {
            return None;
        }
        let shift = (attempts - 1).clamp(0, 20) as u32;
        let delay = settings
            .retry_base_ms
            .saturating_mul(1i64 << shift)
            .min(settings.retry_max_ms);
        // Meta asks for about six seconds between messages to one user.
        Some(if advice == RetryAdvice::RetryRecipientLater {
            delay.max(6_000)
        } else {
            delay
        })
    }

    /// Settles a row given back before its upload: retried with backoff, or failed.
    async fn settle_released(
        &self,
        row: &OutboxRow,
        error: &OutboxError,
        advice: RetryAdvice,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let store = &self.app.store;
        match self.retry_delay(row.attempts, advice) {
            Some(delay) => {
                store
                    .outbox_released_retry(&row.id, now.plus_millis(delay), error, now)
                    .await?;
            }
            None => {
                store.outbox_released_failed(&row.id, error, now).await?;
            }
        }
        Ok(())
    }

    async fn settle_error(
        &self,
        row: &OutboxRow,
        err: &SendError,
        now: Timestamp,
    ) -> anyhow::Result<()> {
        let error = send_error(err);
        if let Some(delay) = self.retry_delay(row.attempts, err.retry) {
            tracing::info!(outbox_id = %row.id, code = ?err.code, delay_ms = delay, "send will be retried");
            self.app
                .store
                .outbox_retry(&row.id, now.plus_millis(delay), &error, now)
                .await?;
            Ok(())
        } else {
            tracing::warn!(outbox_id = %row.id, code = ?err.code, "send failed");
            self.app.store.outbox_failed(&row.id, &error, now).await?;
            Ok(())
        }
    }

    /// Settles rows stuck in `sending`: adopt a send the raw log proves,
    /// fail (never re-send) one nothing proves after the grace period.
    async fn reconcile(&self) -> anyhow::Result<()> {
        let store = &self.app.store;
        let now = self.app.clock.now();
        let grace_ms = self.app.settings.outbound.unknown_outcome_grace_secs.max(0) * 1000;
        for row in store
            .outbox_sending_before(now.plus_millis(-IN_FLIGHT_MS))
            .await?
        {
            let claimed_at = row.claimed_at.unwrap_or(row.updated_at);
            if let Some(external_id) = self.proof_of_send(&row, claimed_at).await? {
                tracing::info!(outbox_id = %row.id, "unknown outcome resolved: Meta accepted it");
                store.outbox_sent(&row.id, &external_id, now).await?;
            } else if now.millis() - claimed_at.millis() >= grace_ms {
                tracing::warn!(outbox_id = %row.id, "unknown outcome: marked failed, not re-sent");
                store
                    .outbox_failed(
                        &row.id,
                        &OutboxError {
                            code: "outcome_unknown".into(),
                            de: "Ob Meta diese Nachricht angenommen hat, ist unbekannt (Verbindungsabbruch oder Neustart während des Sendens), und keine Statusmeldung hat sie bestätigt. Sie wird nicht automatisch wiederholt, damit der Kunde sie nicht doppelt erhält. Bitte prüfen und bei Bedarf erneut senden.".into(),
                            en: "It is unknown whether Meta accepted this message (connection lost or restart while sending), and no status webhook confirmed it. It is not retried automatically so the customer never gets it twice. Please check and resend if needed.".into(),
                        },
                        now,
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// The wamid of a send the raw log proves: our own receipt, or a status
    /// webhook echoing our outbox id as `biz_opaque_callback_data`.
    async fn proof_of_send(
        &self,
        row: &OutboxRow,
        claimed_at: Timestamp,
    ) -> anyhow::Result<Option<String>> {
        let store = &self.app.store;
        if store.raw_event_id(Source::Outbox, &row.id).await?.is_some() {
            let logged = store
                .raw_events_containing(Source::Outbox, Timestamp(i64::MIN / 2), &row.id)
                .await?;
            for raw in logged.iter().filter(|r| r.dedupe_key == row.id) {
                if let Ok(receipt) = serde_json::from_slice::<Receipt>(&raw.payload) {
                    return Ok(Some(receipt.external_id));
                }
            }
        }
        if row.channel != Channel::WhatsApp {
            return Ok(None);
        }
        // Webhooks are stamped with our clock on arrival; a minute of slack.
        let since = claimed_at.plus_millis(-IN_FLIGHT_MS);
        for raw in store
            .raw_events_containing(Source::WhatsApp, since, &row.id)
            .await?
        {
            let Ok(items) = crate::pipeline::parse(&raw) else {
                continue;
            };
            for item in items {
                let Inbound::Status(status) = item else {
                    continue;
                };
                if status
                    .raw
                    .get("biz_opaque_callback_data")
                    .and_then(|v| v.as_str())
                    != Some(row.id.as_str())
                {
                    continue;
                }
                // Log the receipt so the message appears and statuses attach to it.
                let envelope: DraftEnvelope = serde_json::from_value(row.payload.clone())?;
                let sent = SentMessage {
                    id: status.external_id.clone(),
                    recipient: Some(row.recipient.value.clone()),
                    message_status: None,
                };
                let upload_id = match envelope.draft.upload() {
                    Some(sha256) => self.any_media_id(row, sha256).await?,
                    None => None,
                };
                let request = envelope
                    .to_whatsapp(&(&row.recipient).into(), &row.id, upload_id.as_deref())
                    .map(|m| m.to_json())
                    .unwrap_or(serde_json::Value::Null);
                let mut receipt = Receipt::new(
                    row,
                    &envelope,
                    None,
                    request,
                    &sent,
                    upload_id.as_deref(),
                    claimed_at,
                );
                receipt.response = status.raw.clone();
                receipt::record(&self.app, &receipt).await?;
                return Ok(Some(status.external_id));
            }
        }
        Ok(None)
    }
}

impl SenderWorker {
    /// The last media id this row's number got for the file, of any age.
    async fn any_media_id(&self, row: &OutboxRow, sha256: &str) -> anyhow::Result<Option<String>> {
        let store = &self.app.store;
        let Some(file) = store.outbound_file(sha256).await? else {
            return Ok(None);
        };
        Ok(store
            .media_upload(
                sha256,
                &row.account,
                &file.mime_type,
                Timestamp(i64::MIN / 2),
            )
            .await?)
    }
}

enum Wire {
    WhatsApp(resonanz_channels::outbound::WaMessage),
    Meta(resonanz_channels::outbound::MetaMessage),
}

/// Meta's refusal of a media id this number uploaded (expired or deleted).
fn stale_media_id(err: &SendError) -> bool {
    err.code == Some(100)
        && [Some(err.message.as_str()), err.details.as_deref()]
            .into_iter()
            .flatten()
            .any(|text| text.contains("media attachment ID"))
}

/// A failed Graph call as the outbox stores it.
fn send_error(err: &SendError) -> OutboxError {
    OutboxError {
        code: err
            .code
            .map(|c| c.to_string())
            .or_else(|| err.http_status.map(|s| format!("http_{s}")))
            .unwrap_or_else(|| "send_error".into()),
        de: err.explain_de(),
        en: err.explain_en(),
    }
}

fn local_error(code: &str, detail: &str) -> OutboxError {
    OutboxError {
        code: code.to_owned(),
        de: format!("Die Nachricht konnte nicht gesendet werden ({code}: {detail})."),
        en: format!("The message could not be sent ({code}: {detail})."),
    }
}
