//! The Graph API client: WhatsApp Cloud API and Messenger/Instagram sends.
//! Base URL and API version come from config, so tests and the simulator
//! stand in for Meta. The token never appears in Debug output or logs.

pub mod meta;
pub mod whatsapp;

use crate::errors::{self, RetryAdvice};
use resonanz_core::Channel;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

pub use meta::{AttachmentType, MessagingType, MetaContent, MetaMessage};
pub use whatsapp::{
    BodyParam, BodyValue, ButtonParam, ButtonParamKind, HeaderParam, ListMessage, ListRow,
    ListSection, MediaRef, ReplyButtons, TemplateMessage, WaContent, WaMessage, WaRecipient,
};

/// A secret string: redacted in Debug and Display.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Clone, Debug)]
pub struct GraphConfig {
    /// `https://graph.facebook.com` (or `https://graph.instagram.com`, or the simulator).
    pub base_url: String,
    /// e.g. `v23.0`.
    pub api_version: String,
    pub access_token: Secret,
    pub timeout: Duration,
}

impl GraphConfig {
    pub fn new(base_url: impl Into<String>, api_version: impl Into<String>, token: Secret) -> Self {
        Self {
            base_url: base_url.into(),
            api_version: api_version.into(),
            access_token: token,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A draft that breaks Meta's documented limits; never sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{field} has {len} characters, at most {max} allowed")]
    TooLong {
        field: &'static str,
        max: usize,
        len: usize,
    },
    #[error("{field}: {len} given, {min} to {max} allowed")]
    Count {
        field: &'static str,
        min: usize,
        max: usize,
        len: usize,
    },
    #[error("duplicate id {0:?}")]
    Duplicate(String),
    #[error("recipient {0:?} is neither a phone number nor a WhatsApp user id")]
    BadRecipient(String),
    #[error("latitude/longitude out of range")]
    BadLocation,
    #[error("files of type {mime_type:?} cannot be sent on WhatsApp")]
    MediaType { mime_type: String },
    #[error("file has {size} bytes, at most {max} allowed for its type")]
    MediaSize { size: u64, max: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SendErrorKind {
    /// Refused locally before any request.
    Invalid,
    /// No HTTP answer (connect, timeout, TLS).
    Network,
    /// Meta answered with an error (or an unreadable success).
    Api,
}

/// A failed Graph call, as the outbox stores it and the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}", self.summary())]
pub struct SendError {
    pub kind: SendErrorKind,
    pub http_status: Option<u16>,
    /// Meta's `error.code` (470 normalised to 131047).
    pub code: Option<i64>,
    pub message: String,
    /// `error.error_data.details`.
    pub details: Option<String>,
    pub fbtrace_id: Option<String>,
    pub retry: RetryAdvice,
}

impl SendError {
    fn summary(&self) -> String {
        let mut s = String::new();
        if let Some(status) = self.http_status {
            s.push_str(&format!("HTTP {status} "));
        }
        if let Some(code) = self.code {
            s.push_str(&format!("(#{code}) "));
        }
        s.push_str(&self.message);
        if let Some(d) = &self.details {
            s.push_str(": ");
            s.push_str(d);
        }
        s
    }

    pub fn invalid(err: &ValidationError) -> Self {
        Self {
            kind: SendErrorKind::Invalid,
            http_status: None,
            code: None,
            message: err.to_string(),
            details: None,
            fbtrace_id: None,
            retry: RetryAdvice::Permanent,
        }
    }

    fn network(err: reqwest::Error) -> Self {
        Self {
            kind: SendErrorKind::Network,
            http_status: None,
            code: None,
            // Without the URL: it may carry ids we do not want in logs.
            message: format!("network error: {}", err.without_url()),
            details: None,
            fbtrace_id: None,
            retry: RetryAdvice::Retry,
        }
    }

    /// Reads a Graph error body (`{"error":{code,message,error_data{details}}}`).
    pub fn from_response(http_status: u16, body: &[u8]) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        let code = error
            .and_then(|e| e.get("code"))
            .and_then(Value::as_i64)
            .map(|c| if c == 470 { 131047 } else { c });
        let message = error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let text = String::from_utf8_lossy(body);
                format!(
                    "unexpected response: {}",
                    text.chars().take(200).collect::<String>()
                )
            });
        let details = error
            .and_then(|e| e.pointer("/error_data/details"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let fbtrace_id = error
            .and_then(|e| e.get("fbtrace_id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Self {
            kind: SendErrorKind::Api,
            http_status: Some(http_status),
            code,
            message,
            details,
            fbtrace_id,
            retry: errors::classify(Some(http_status), code),
        }
    }

    /// German explanation for the agent (from the code table, else Meta's text).
    pub fn explain_de(&self) -> String {
        match self.code.and_then(errors::explain) {
            Some(row) => row.de.to_owned(),
            None if self.retry.is_retryable() => format!(
                "Senden fehlgeschlagen, wird erneut versucht ({}).",
                self.summary()
            ),
            None => format!("Senden fehlgeschlagen: {}", self.summary()),
        }
    }

    pub fn explain_en(&self) -> String {
        match self.code.and_then(errors::explain) {
            Some(row) => row.en.to_owned(),
            None if self.retry.is_retryable() => {
                format!("Sending failed, will retry ({}).", self.summary())
            }
            None => format!("Sending failed: {}", self.summary()),
        }
    }
}

/// Meta accepted the message (200 means accepted, not delivered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentMessage {
    /// wamid (WhatsApp) or mid (Messenger/Instagram).
    pub id: String,
    /// WhatsApp `contacts[0].wa_id` (or `user_id` for a username-only
    /// customer), Messenger `recipient_id`.
    pub recipient: Option<String>,
    /// WhatsApp template pacing: `accepted`, `held_for_quality_assessment`, `paused`.
    pub message_status: Option<String>,
}

/// Installs ring as rustls' process-wide provider (reqwest is built without
/// one to avoid aws-lc's C build). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish()
    }
}

impl GraphClient {
    pub fn new(config: GraphConfig) -> Result<Self, SendError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(SendError::network)?;
        let base = format!(
            "{}/{}",
            config.base_url.trim_end_matches('/'),
            config.api_version.trim_matches('/')
        );
        Ok(Self {
            http,
            base,
            token: config.access_token,
        })
    }

    /// `{base_url}/{api_version}`.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn token(&self) -> &str {
        self.token.expose()
    }

    /// Sends a request with the bearer token; 2xx bodies are returned as JSON,
    /// everything else becomes a classified `SendError`.
    pub(crate) async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, SendError> {
        let response = request
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(SendError::network)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(SendError::network)?;
        if !(200..300).contains(&status) {
            return Err(SendError::from_response(status, &body));
        }
        serde_json::from_slice(&body).map_err(|_| SendError::from_response(status, &body))
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Result<Value, SendError> {
        self.call(self.http.post(self.url(path)).json(body)).await
    }

    pub(crate) async fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, SendError> {
        self.call(self.http.get(self.url(path)).query(query)).await
    }

    /// Sends a WhatsApp message from `phone_number_id`. Validated first.
    pub async fn send_whatsapp(
        &self,
        phone_number_id: &str,
        message: &WaMessage,
    ) -> Result<SentMessage, SendError> {
        message.validate().map_err(|e| SendError::invalid(&e))?;
        let reply = self
            .post_json(&format!("{phone_number_id}/messages"), &message.to_json())
            .await?;
        let id = reply.pointer("/messages/0/id").and_then(Value::as_str);
        match id {
            Some(id) => Ok(SentMessage {
                id: id.to_owned(),
                recipient: reply
                    .pointer("/contacts/0/wa_id")
                    .or_else(|| reply.pointer("/contacts/0/user_id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                message_status: reply
                    .pointer("/messages/0/message_status")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }),
            None => Err(unexpected(&reply)),
        }
    }

    /// Marks an inbound WhatsApp message (and earlier ones) as read.
    pub async fn mark_read(
        &self,
        phone_number_id: &str,
        message_id: &str,
    ) -> Result<(), SendError> {
        let reply = self
            .post_json(
                &format!("{phone_number_id}/messages"),
                &whatsapp::mark_read_json(message_id),
            )
            .await?;
        if reply.get("success").and_then(Value::as_bool) == Some(true) {
            Ok(())
        } else {
            Err(unexpected(&reply))
        }
    }

    /// Sends a Messenger or Instagram message from the page / IG account.
    pub async fn send_meta(
        &self,
        channel: Channel,
        account_id: &str,
        message: &MetaMessage,
    ) -> Result<SentMessage, SendError> {
        message
            .validate(channel)
            .map_err(|e| SendError::invalid(&e))?;
        let reply = self
            .post_json(&format!("{account_id}/messages"), &message.to_json())
            .await?;
        match reply.get("message_id").and_then(Value::as_str) {
            Some(id) => Ok(SentMessage {
                id: id.to_owned(),
                recipient: reply
                    .get("recipient_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                message_status: None,
            }),
            None => Err(unexpected(&reply)),
        }
    }

    /// Messenger/Instagram `sender_action: MARK_SEEN`.
    pub async fn mark_seen(&self, account_id: &str, recipient_id: &str) -> Result<(), SendError> {
        self.post_json(
            &format!("{account_id}/messages"),
            &meta::mark_seen_json(recipient_id),
        )
        .await
        .map(|_| ())
    }
}

fn unexpected(reply: &Value) -> SendError {
    SendError::from_response(200, reply.to_string().as_bytes())
}

#[cfg(test)]
mod tests;
