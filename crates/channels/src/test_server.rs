//! A tiny Graph API stand-in on 127.0.0.1:0 for tests: records every request
//! and answers with whatever the test's responder returns.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

pub type Responder = dyn Fn(&Recorded, &str) -> (u16, &'static str, Vec<u8>) + Send + Sync;

#[derive(Clone)]
struct AppState {
    requests: Arc<Mutex<Vec<Recorded>>>,
    responder: Arc<Responder>,
    base_url: String,
}

pub struct MockGraph {
    pub base_url: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl MockGraph {
    /// `responder(request, base_url)` -> (status, content type, body).
    pub async fn start(
        responder: impl Fn(&Recorded, &str) -> (u16, &'static str, Vec<u8>) + Send + Sync + 'static,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = AppState {
            requests: requests.clone(),
            responder: Arc::new(responder),
            base_url: base_url.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base_url, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
    };
    let (status, content_type, body) = (state.responder)(&recorded, &state.base_url);
    state.requests.lock().unwrap().push(recorded);
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", content_type)],
        body,
    )
        .into_response()
}

pub fn json(status: u16, value: serde_json::Value) -> (u16, &'static str, Vec<u8>) {
    (
        status,
        "application/json",
        serde_json::to_vec(&value).unwrap(),
    )
}
