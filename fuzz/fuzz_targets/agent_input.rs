//! What agents and customers type that rules and templates read: opt-out
//! keywords in every inbound message, template drafts (JSON components with
//! `{{1}}` variables), click-to-chat numbers and prefilled text. A finding
//! or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resonanz_channels::click_to_chat::{normalize_number, wa_me_link};
use resonanz_channels::templates::{
    NewTemplate, ParameterFormat, TemplateCategory, promotion_signals, validate_template,
};
use resonanz_core::rules::OptOutKeywords;

fuzz_target!(|text: &str| {
    let _ = OptOutKeywords::default().matches(text);
    let _ = promotion_signals(text);
    let _ = normalize_number(text, "49");
    let _ = wa_me_link("+49 170 1234567", "49", Some(text));
    // The text as a template body, and as the components an agent posts.
    let body = serde_json::json!([{"type": "BODY", "text": text}]);
    let posted = serde_json::from_str::<Vec<serde_json::Value>>(text).ok();
    for components in [Some(body.as_array().cloned().unwrap_or_default()), posted]
        .into_iter()
        .flatten()
    {
        for parameter_format in [ParameterFormat::Positional, ParameterFormat::Named] {
            let _ = validate_template(&NewTemplate {
                name: "kfz_schaden_status".into(),
                language: "de".into(),
                category: TemplateCategory::Utility,
                parameter_format,
                components: components.clone(),
            });
        }
    }
});
