//! An import line, as JSON or as a CSV row: a record or a reason, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resonanz_core::import::{parse_record, record_from_csv_row, record_from_json_line};

fuzz_target!(|line: &str| {
    if let Ok(record) = record_from_json_line(line) {
        let _ = parse_record(&record);
    }
    let cells: Vec<String> = line.split(',').map(str::to_owned).collect();
    let headers: Vec<String> = [
        "type",
        "id",
        "platform",
        "author",
        "followers",
        "text",
        "published_at",
        "url",
        "stars",
        "portal",
        "product",
    ]
    .iter()
    .map(|h| (*h).to_owned())
    .collect();
    let _ = parse_record(&record_from_csv_row(&headers, &cells));
});
