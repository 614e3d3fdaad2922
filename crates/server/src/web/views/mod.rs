//! One module per page; each fills its template struct and renders it.

pub mod audit;
pub mod contact_panel;
pub mod conversation;
pub mod files;
pub mod inbox;
pub mod login;
pub mod notifications;
pub mod settings;
pub mod work;

use resonanz_core::Channel;

/// A one-line message after a form was handled.
#[derive(Clone, Debug)]
pub struct Flash {
    /// `ok` or `error` (the CSS class).
    pub kind: &'static str,
    pub text: String,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            kind: "ok",
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self {
            kind: "error",
            text: text.into(),
        }
    }
}

/// (name, two-letter badge) of a channel as agents know it.
pub fn channel_names(channel: &str) -> (&'static str, &'static str) {
    match channel.parse::<Channel>() {
        Ok(Channel::WhatsApp) => ("WhatsApp", "WA"),
        Ok(Channel::Messenger) => ("Messenger", "FB"),
        Ok(Channel::Instagram) => ("Instagram", "IG"),
        _ => ("?", "?"),
    }
}
