//! Graph API plumbing: the error body, token and version checks.

use crate::state::{Sim, random_token};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A Graph API error, rendered in Meta's exact shape.
#[derive(Debug, Clone)]
pub(crate) struct GraphError {
    pub http: StatusCode,
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
    pub kind: &'static str,
    /// WhatsApp errors carry `error_data {messaging_product, details}`.
    pub whatsapp_details: Option<String>,
}

impl GraphError {
    fn wa(http: StatusCode, code: i64, title: &str, details: impl Into<String>) -> Self {
        Self {
            http,
            code,
            subcode: None,
            message: format!("(#{code}) {title}"),
            kind: "OAuthException",
            whatsapp_details: Some(details.into()),
        }
    }

    pub fn details(&self) -> Option<String> {
        self.whatsapp_details.clone()
    }

    pub fn token() -> Self {
        Self {
            http: StatusCode::UNAUTHORIZED,
            code: 190,
            subcode: None,
            message: "Invalid OAuth access token - Cannot parse access token".into(),
            kind: "OAuthException",
            whatsapp_details: None,
        }
    }

    pub fn wa_param(details: impl Into<String>) -> Self {
        Self::wa(StatusCode::BAD_REQUEST, 100, "Invalid parameter", details)
    }

    /// A send whose `{kind: {"id"}}` is no media this number may use
    /// (never uploaded, expired after 30 days, deleted, another number's).
    pub fn media_id(kind: &str) -> Self {
        let text =
            format!("Param {kind}.id is not a valid whatsapp business account media attachment ID");
        Self {
            http: StatusCode::BAD_REQUEST,
            code: 100,
            subcode: None,
            message: format!("(#100) {text}"),
            kind: "OAuthException",
            whatsapp_details: Some(text),
        }
    }

    pub fn service_unavailable() -> Self {
        Self::wa(
            StatusCode::SERVICE_UNAVAILABLE,
            2,
            "Service temporarily unavailable",
            "The service is temporarily unavailable. Please retry your request later.",
        )
    }

    pub fn reengagement() -> Self {
        Self::wa(
            StatusCode::BAD_REQUEST,
            131047,
            "Re-engagement message",
            REENGAGEMENT_DETAILS,
        )
    }

    pub fn undeliverable() -> Self {
        Self::wa(
            StatusCode::BAD_REQUEST,
            131026,
            "Message undeliverable",
            UNDELIVERABLE_DETAILS,
        )
    }

    pub fn rate_limited() -> Self {
        Self::wa(
            StatusCode::TOO_MANY_REQUESTS,
            130429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
        )
    }

    pub fn pair_rate_limited() -> Self {
        Self::wa(
            StatusCode::TOO_MANY_REQUESTS,
            131056,
            "(Business Account, Consumer Account) pair rate limit hit",
            "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
        )
    }

    pub fn template_missing(name: &str, lang: &str) -> Self {
        Self::wa(
            StatusCode::NOT_FOUND,
            132001,
            "Template name does not exist in the translation",
            format!("template name ({name}) does not exist in {lang}"),
        )
    }

    pub fn template_paused(name: &str) -> Self {
        Self::wa(
            StatusCode::BAD_REQUEST,
            132015,
            "Template is Paused",
            format!("Template {name} is paused due to low quality so it cannot be sent."),
        )
    }

    pub fn template_params(expected: usize, got: usize) -> Self {
        Self::wa(
            StatusCode::BAD_REQUEST,
            132000,
            "Number of parameters does not match the expected number of params",
            format!(
                "body: number of localizable_params ({got}) does not match the expected number of params ({expected})"
            ),
        )
    }

    /// Header parameter counted like the body's (Meta names the component).
    pub fn template_header_params(expected: usize, got: usize) -> Self {
        Self::wa(
            StatusCode::BAD_REQUEST,
            132000,
            "Number of parameters does not match the expected number of params",
            format!(
                "header: number of localizable_params ({got}) does not match the expected number of params ({expected})"
            ),
        )
    }

    /// A header parameter of another kind than the template's HEADER format
    /// (`received UNKNOWN` when the header parameter is missing).
    pub fn template_format_mismatch(expected: &str, received: &str) -> Self {
        Self::wa(
            StatusCode::BAD_REQUEST,
            132012,
            "Parameter format does not match format in the created template",
            format!("header: Format mismatch, expected {expected}, received {received}"),
        )
    }

    /// Messenger/Instagram `(#100)`: no `error_data`, like the Page Send API.
    pub fn fb_param(message: impl Into<String>) -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            code: 100,
            subcode: None,
            message: format!("(#100) {}", message.into()),
            kind: "OAuthException",
            whatsapp_details: None,
        }
    }

    pub fn fb_outside_window() -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            code: 10,
            subcode: Some(2018278),
            message: "(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview".into(),
            kind: "OAuthException",
            whatsapp_details: None,
        }
    }

    pub fn fb_unavailable() -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            code: 551,
            subcode: Some(1545041),
            message: "(#551) This person isn't available right now.".into(),
            kind: "OAuthException",
            whatsapp_details: None,
        }
    }

    pub fn unknown_object(id: &str, method: &str) -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            code: 100,
            subcode: Some(33),
            message: format!(
                "Unsupported {method} request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
            kind: "GraphMethodException",
            whatsapp_details: None,
        }
    }

    pub fn unknown_version(ver: &str) -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            code: 2500,
            subcode: None,
            message: format!("Unknown path components: /{ver}"),
            kind: "OAuthException",
            whatsapp_details: None,
        }
    }

    pub fn body(&self) -> Value {
        let mut err = json!({
            "message": self.message,
            "type": self.kind,
            "code": self.code,
            "fbtrace_id": random_token(23),
        });
        if let Some(sub) = self.subcode {
            err["error_subcode"] = json!(sub);
        }
        if let Some(details) = &self.whatsapp_details {
            err["error_data"] = json!({"messaging_product": "whatsapp", "details": details});
        }
        json!({ "error": err })
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        (self.http, axum::Json(self.body())).into_response()
    }
}

pub(crate) const REENGAGEMENT_DETAILS: &str = "Message failed to send because more than 24 hours have passed since the customer last replied to this number.";
pub(crate) const UNDELIVERABLE_DETAILS: &str = "Message Undeliverable.";

/// Bearer header, or the `access_token` query parameter Graph also accepts.
pub(crate) fn check_token(
    sim: &Sim,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<(), GraphError> {
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or(query_token);
    match presented {
        Some(t) if constant_time_eq(t.as_bytes(), sim.config.access_token.as_bytes()) => Ok(()),
        _ => Err(GraphError::token()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `vNN.N`, and equal to the pinned version if one is configured.
pub(crate) fn check_version(sim: &Sim, ver: &str) -> Result<(), GraphError> {
    let well_formed = ver
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        });
    let pinned_ok = sim.config.api_version.as_deref().is_none_or(|p| p == ver);
    if well_formed && pinned_ok {
        Ok(())
    } else {
        Err(GraphError::unknown_version(ver))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_error_has_metas_shape() {
        let b = GraphError::reengagement().body();
        assert_eq!(b["error"]["message"], "(#131047) Re-engagement message");
        assert_eq!(b["error"]["type"], "OAuthException");
        assert_eq!(b["error"]["code"], 131047);
        assert_eq!(b["error"]["error_data"]["messaging_product"], "whatsapp");
        assert_eq!(b["error"]["error_data"]["details"], REENGAGEMENT_DETAILS);
        assert!(b["error"]["fbtrace_id"].as_str().unwrap().len() > 10);
        assert!(b["error"].get("error_subcode").is_none());
    }

    #[test]
    fn messenger_window_error_has_subcode_and_no_error_data() {
        let b = GraphError::fb_outside_window().body();
        assert_eq!(b["error"]["code"], 10);
        assert_eq!(b["error"]["error_subcode"], 2018278);
        assert!(b["error"].get("error_data").is_none());
    }
}
