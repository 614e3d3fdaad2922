//! Every webhook body parser, on any bytes: an error or items, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resonanz_channels::{meta_messaging, routing, whatsapp};
use resonanz_core::Channel;

fuzz_target!(|body: &[u8]| {
    let _ = routing::parse_any(body);
    let _ = whatsapp::parse_webhook(body);
    let _ = meta_messaging::parse_webhook(body, Channel::Messenger);
    let _ = meta_messaging::parse_webhook(body, Channel::Instagram);
});
