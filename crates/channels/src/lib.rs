//! Channel connectors for Resonanz: WhatsApp Cloud API, Facebook Messenger and
//! Instagram. Pure parsers and signature checks for the webhook side, and a
//! Graph API client for sends, media and templates. Every base URL is
//! configurable so the simulator can stand in for Meta.
//!
//! Webhook path, in order: [`handshake::verify_subscription`] (GET),
//! [`signature::verify_meta_signature`] over the raw body (POST),
//! [`routing::route`] to pick the configured account, store the raw body,
//! then [`whatsapp::parse_webhook`] / [`meta_messaging::parse_webhook`]
//! (or [`routing::parse_any`]) in the projector.
//!
//! Send path: `resonanz_core::rules::check_send` first, then
//! [`outbound::GraphClient`]; failures carry Meta's code, a retry advice and
//! an explanation from [`errors`].

mod json;

pub mod click_to_chat;
pub mod errors;
pub mod handshake;
pub mod media;
pub mod meta_messaging;
pub mod outbound;
pub mod routing;
pub mod signature;
pub mod templates;
pub mod whatsapp;

pub use json::ParseError;

#[cfg(test)]
mod test_server;
