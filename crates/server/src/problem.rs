//! API errors as `application/problem+json` (RFC 9457) with a stable `type`
//! and the message in German and English.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub title_de: String,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        slug: &str,
        title_en: &str,
        title_de: &str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: format!("/problems/{slug}"),
            title: title_en.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            title_de: title_de.to_owned(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).expect("problem serialises");
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}
