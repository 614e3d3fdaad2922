//! The web app agents work in: server-rendered pages (askama) beside, not
//! inside, the JSON API, which stays the one place where rules are applied.
//! Every page works as plain HTML forms; `static/app.js` adds live updates,
//! the composer's checks and keyboard shortcuts. One module per page under
//! `views/`, templates named alike under `templates/`.

pub mod assets;
pub mod format;
pub mod i18n;
pub mod session;
pub mod views;

use crate::app::AppState;
use askama::Template;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(views::inbox::home))
        .route("/login", get(views::login::page).post(views::login::submit))
        .route("/logout", post(views::login::logout))
        .route("/logout/everywhere", post(views::login::logout_everywhere))
        .route("/inbox", get(views::inbox::page))
        .route("/inbox/rows", get(views::inbox::rows))
        .route("/inbox/{id}", get(views::conversation::page))
        .route("/inbox/{id}/thread", get(views::conversation::thread))
        .route("/inbox/{id}/reply", post(views::conversation::reply))
        .route(
            "/inbox/{id}/template",
            post(views::conversation::send_template),
        )
        .route("/inbox/{id}/status", post(views::work::status))
        .route("/inbox/{id}/assign", post(views::work::assign))
        .route("/inbox/{id}/note", post(views::work::note))
        .route(
            "/inbox/{id}/messages/{message}/sentiment",
            post(views::work::correct_sentiment),
        )
        .route("/notifications", get(views::notifications::page))
        .route("/availability", post(views::settings::availability))
        .route("/settings", get(views::settings::page))
        .route("/settings/language", post(views::settings::language))
        .route("/settings/password", post(views::settings::password))
        .route("/settings/canned", post(views::settings::add_canned))
        .route(
            "/settings/canned/{id}/delete",
            post(views::settings::delete_canned),
        )
        .route("/admin/audit", get(views::audit::page))
        .route("/files/{sha256}", get(views::files::file))
        .route("/static/{name}", get(assets::serve))
}

/// Renders a template as a page; a template error is a 500, logged.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                // Pages carry customer text: no inline script, no foreign
                // origin, no framing, whatever a message contains.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'self'; img-src 'self' data:; media-src 'self'; \
                     style-src 'self'; script-src 'self'; object-src 'none'; \
                     base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
                ),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "same-origin"),
            ],
            Html(html),
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Interner Fehler / internal error",
            )
                .into_response()
        }
    }
}
