//! The German analysis of any customer text, incoming and outgoing: it
//! slices text by byte offsets, so a char boundary bug would panic here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resonanz_analysis::{Analyzer, OutgoingContext};
use std::sync::LazyLock;

static ANALYZER: LazyLock<Analyzer> = LazyLock::new(Analyzer::shipped);

fuzz_target!(|text: &str| {
    let analysis = ANALYZER.analyze(text);
    for span in &analysis.sensitive {
        assert!(span.start <= span.end && span.end <= text.len());
        assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
    }
    let _ = ANALYZER.redact(text);
    let context = OutgoingContext {
        public: text.len() % 2 == 0,
        template: false,
        first_message: text.len() % 3 == 0,
    };
    let _ = ANALYZER.check_outgoing(text, &context);
});
