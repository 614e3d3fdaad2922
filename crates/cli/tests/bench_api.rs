//! `resonanz bench api` runs its agents against the real server and ends
//! with a complete `result:` line (a small store: the figures come from a
//! release build with the defaults, not from this test).

mod support;

use std::process::Command;

#[test]
fn the_api_bench_ends_with_a_complete_result_line_and_no_failed_call() {
    let out = support::succeeds(Command::new(env!("CARGO_BIN_EXE_resonanz")).args([
        "bench",
        "api",
        "--conversations",
        "200",
        "--messages-per-conversation",
        "4",
        "--agents",
        "4",
        "--seconds",
        "1",
        "--think-ms",
        "5",
    ]));
    let result = out
        .lines()
        .last()
        .and_then(|line| line.strip_prefix("result: "))
        .unwrap_or_else(|| panic!("no result line: {out}"));
    for key in [
        "list_p50_ms",
        "list_p99_ms",
        "open_p50_ms",
        "open_p99_ms",
        "calls_per_s",
    ] {
        assert!(
            result.contains(&format!("{key}=")),
            "{key} missing: {result}"
        );
    }
    assert!(
        result.contains("conversations=200 messages=800"),
        "{result}"
    );
    assert!(result.contains("failed=0"), "{result}");
    let lists: u64 = result
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix("list_calls="))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(lists > 0, "{result}");
}
