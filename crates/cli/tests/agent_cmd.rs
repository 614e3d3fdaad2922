//! `resonanz agent add`: the printed token authenticates as the new agent.

#[path = "../src/agent_cmd.rs"]
mod agent_cmd;

use agent_cmd::{AgentCommand, RoleArg};
use resonanz_core::{Clock, SystemClock};
use resonanz_server::Settings;
use resonanz_server::outbound::auth::token_hash;
use resonanz_store::{Role, Store, StoreOptions};

#[tokio::test]
async fn an_added_admin_can_authenticate_with_the_printed_token() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        database_url: format!("sqlite://{}", dir.path().join("r.db").display()),
        ..Settings::default()
    };
    let add = |name: &str| AgentCommand::Add {
        name: name.into(),
        role: RoleArg::Admin,
        password_stdin: false,
    };
    let token = agent_cmd::run(add("leitung"), &settings).await.unwrap();
    assert!(token.starts_with("rz_"));
    // The name is unique.
    assert!(agent_cmd::run(add("leitung"), &settings).await.is_err());

    let store = Store::open(&settings.database_url, StoreOptions::default())
        .await
        .unwrap();
    let agent = store
        .agent_by_token_hash(&token_hash(&token), SystemClock.now())
        .await
        .unwrap()
        .expect("the token authenticates");
    assert_eq!((agent.name.as_str(), agent.role), ("leitung", Role::Admin));
    assert!(
        store
            .agent_by_token_hash(&token_hash("rz_other"), SystemClock.now())
            .await
            .unwrap()
            .is_none()
    );
    store.close().await;
}
