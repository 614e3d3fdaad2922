//! `X-Hub-Signature-256` checking on any header and body: accepted only with
//! the HMAC of the body, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resonanz_channels::signature::verify_meta_signature;

fuzz_target!(|input: (&str, &[u8])| {
    let (header, body) = input;
    let _ = verify_meta_signature(b"fuzz-app-secret", body, Some(header));
    let _ = verify_meta_signature(b"", body, Some(header));
});
