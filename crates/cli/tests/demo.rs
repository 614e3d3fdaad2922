//! `resonanz demo`, the README's first command: it starts the server and the
//! simulator, imports the sample mentions, lets simulated customers write in
//! and stops by itself with everything it was sent stored.

use resonanz_store::{Store, StoreOptions};
use std::process::Command;

mod support;

#[tokio::test]
async fn the_demo_shows_customer_messages_flowing_into_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("demo.db").display());
    let stdout = support::succeeds(
        Command::new(env!("CARGO_BIN_EXE_resonanz"))
            .current_dir(dir.path())
            .args(["demo", "--seconds", "4", "--rate", "5", "--port", "0"])
            .args(["--database", &database]),
    );
    assert!(
        stdout.contains("webhook handshake (GET hub.challenge): verified"),
        "{stdout}"
    );
    assert!(
        stdout.contains("imported 2000 historical mentions"),
        "{stdout}"
    );
    // Each stored customer message is printed with its analysis.
    let printed = stdout
        .lines()
        .filter(|line| line.contains(" → ") && line.trim_start().starts_with("whatsapp"))
        .count();
    assert!(printed > 0, "no WhatsApp message printed: {stdout}");
    assert!(stdout.contains(", 0 not acknowledged"), "{stdout}");

    let stored = stdout
        .lines()
        .find_map(|line| line.strip_prefix("stored:"))
        .unwrap_or_else(|| panic!("no closing summary: {stdout}"));
    let store = Store::open(&database, StoreOptions::default())
        .await
        .unwrap();
    let counts = store.counts().await.unwrap();
    // The printed inbox command carries a session that the server accepts.
    let token = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("inbox:"))
        .and_then(|line| line.split("Bearer ").nth(1))
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no inbox command: {stdout}"));
    let agent = store
        .agent_by_token_hash(
            &resonanz_server::outbound::auth::token_hash(token),
            resonanz_core::Clock::now(&resonanz_core::SystemClock),
        )
        .await
        .unwrap()
        .expect("the printed token opens a session");
    assert_eq!(agent.name, "demo");
    // The printed web login is the demo agent's password.
    let login = stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix("web app:"))
        .unwrap_or_else(|| panic!("no web app line: {stdout}"));
    assert!(login.contains("http://127.0.0.1:"), "{login}");
    let password = login
        .rsplit("demo / ")
        .next()
        .map(str::trim)
        .unwrap_or_else(|| panic!("no login in {login:?}"));
    let phc = store
        .agent_by_name("demo")
        .await
        .unwrap()
        .and_then(|a| a.password_hash)
        .expect("the demo agent has a password");
    assert!(
        resonanz_server::outbound::auth::verify_password(password, &phc),
        "the printed password {password:?} logs in"
    );
    store.close().await;
    assert_eq!(counts.mentions, 2000);
    assert!(counts.messages as usize >= printed);
    assert_eq!(counts.parse_errors, 0);
    // The summary is what the database holds after the stop.
    assert!(
        stored.contains(&format!("{} messages", counts.messages)),
        "summary {stored:?} against {counts:?}"
    );
}
