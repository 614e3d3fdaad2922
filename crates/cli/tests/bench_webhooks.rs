//! `resonanz bench webhooks` end to end, briefly: every phase answers, every
//! acknowledged delivery is in the raw log (the bench checks and fails
//! otherwise), and the last line carries every figure for scripts.

use std::collections::HashMap;
use std::process::Command;

mod support;

#[test]
fn bench_webhooks_ends_with_every_figure_on_one_result_line() {
    let stdout = support::succeeds(
        Command::new(env!("CARGO_BIN_EXE_resonanz"))
            .args(["bench", "webhooks", "--secs", "1", "--concurrency", "8"])
            .args(["--rate", "200", "--rate-secs", "1"]),
    );
    assert!(stdout.contains("durability: "), "{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    let figures: HashMap<&str, f64> = last
        .strip_prefix("result: ")
        .unwrap_or_else(|| panic!("last line is not a result line: {last}"))
        .split(' ')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap();
            (name, value.parse().unwrap_or(f64::NAN))
        })
        .collect();
    for name in [
        "deliveries_per_s",
        "ceiling_per_s",
        "ratio",
        "floor_per_s",
        "floor_ratio",
        "p99_ms",
        "applied_per_s",
    ] {
        let value = figures.get(name).copied().unwrap_or(f64::NAN);
        assert!(value > 0.0, "{name}={value} in {last}");
    }
    // The floor does a part of Resonanz's work; with noise in one-second
    // phases it may still not be far behind.
    assert!(
        figures["floor_per_s"] > figures["deliveries_per_s"] * 0.5,
        "{last}"
    );
}
