//! Channel connectors for Resonanz: WhatsApp Cloud API, Facebook Messenger and
//! Instagram. Pure parsers and signature checks for the webhook side, and a
//! Graph API client for sends, media and templates. Every base URL is
//! configurable so the simulator can stand in for Meta.

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
