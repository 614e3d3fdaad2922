//! What the binary's tests share.

use std::process::Command;

/// Runs `command` to its end and returns its standard output; fails the
/// test with both outputs if it did not succeed.
pub fn succeeds(command: &mut Command) -> String {
    let output = command.env_remove("RUST_LOG").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
