//! Automatic assignment against the real server and the simulator: new
//! conversations go round robin to online agents with room, never to one
//! who is away, offline or full; a resolved one frees room.

mod support;

use resonanz_core::{Clock, SystemClock};
use resonanz_server::outbound::auth::create_agent;
use resonanz_sim::InboundRequest;
use resonanz_store::Role;
use serde_json::{Value, json};
use std::time::Duration;
use support::{TestApp, spawn_app_with};

async fn agent(app: &TestApp, name: &str, role: Role) -> (String, String) {
    let (row, token) = create_agent(&app.store, name, role, None, SystemClock.now())
        .await
        .unwrap();
    (row.id, token)
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> u16 {
    app.http
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A customer writes; returns the conversation and who holds it once the
/// assigner had its turns.
async fn customer_writes(app: &TestApp, from: &str) -> (String, Option<String>) {
    app.sim
        .deliver_inbound(InboundRequest::text(
            from,
            "Guten Tag, ich habe eine Frage.",
        ))
        .await
        .unwrap();
    app.store.flush().await.unwrap();
    // Newest message first: the conversation just written to.
    let id = app
        .store
        .recent_conversations(1)
        .await
        .unwrap()
        .remove(0)
        .id;
    // Wait until the assigner has read past this message's events (when it runs).
    if app.settings.assignment.auto {
        let seen = app.store.max_event_seq().await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while app.store.cursor("auto_assign").await.unwrap() < seen {
            assert!(
                std::time::Instant::now() < deadline,
                "the assigner did not catch up"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    } else {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let state = app.store.work_state(&id, SystemClock.now()).await.unwrap();
    (id, state.assignee_id)
}

#[tokio::test]
async fn new_conversations_go_round_robin_to_online_agents_with_room() {
    let app = spawn_app_with(|settings| {
        settings.assignment.auto = true;
        settings.assignment.max_open_per_agent = 1;
        settings.assignment.poll_interval_ms = 20;
    })
    .await;
    let (anna, anna_token) = agent(&app, "anna", Role::Agent).await;
    let (bernd, bernd_token) = agent(&app, "bernd", Role::Agent).await;
    let (_, carla_token) = agent(&app, "carla", Role::Agent).await;
    let (_, _analyst) = agent(&app, "auswertung", Role::Analyst).await;
    for token in [&anna_token, &bernd_token] {
        let status = post(
            &app,
            token,
            "/api/agents/me/availability",
            json!({"availability": "online"}),
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        post(
            &app,
            &carla_token,
            "/api/agents/me/availability",
            json!({"availability": "away"})
        )
        .await,
        200
    );
    assert_eq!(
        post(
            &app,
            &carla_token,
            "/api/agents/me/availability",
            json!({"availability": "busy"})
        )
        .await,
        422
    );

    let (first, holder) = customer_writes(&app, "491701000001").await;
    assert_eq!(
        holder.as_deref(),
        Some(anna.as_str()),
        "anna comes first by name"
    );
    let (_, holder) = customer_writes(&app, "491701000002").await;
    assert_eq!(holder.as_deref(), Some(bernd.as_str()), "then bernd");
    // Both hold one, the most each may: the third waits for whoever has room.
    let (third, holder) = customer_writes(&app, "491701000003").await;
    assert_eq!(holder, None, "nobody has room; carla is away");

    // Anna resolves hers; the next new conversation is hers.
    let status = post(
        &app,
        &anna_token,
        &format!("/api/conversations/{first}/status"),
        json!({"status": "resolved"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, holder) = customer_writes(&app, "491701000004").await;
    assert_eq!(holder.as_deref(), Some(anna.as_str()));

    // The history says it was the automatic assignment, and the third is still free.
    let history = app.store.conversation_activity(&first).await.unwrap();
    assert_eq!(history[0].kind, "assignee");
    assert_eq!(history[0].agent_name, "Automatik");
    let state = app
        .store
        .work_state(&third, SystemClock.now())
        .await
        .unwrap();
    assert_eq!(state.assignee_id, None);
}

#[tokio::test]
async fn without_automatic_assignment_nobody_is_assigned() {
    let app = spawn_app_with(|settings| settings.assignment.poll_interval_ms = 20).await;
    let (_, token) = agent(&app, "anna", Role::Agent).await;
    assert_eq!(
        post(
            &app,
            &token,
            "/api/agents/me/availability",
            json!({"availability": "online"})
        )
        .await,
        200
    );
    let (_, holder) = customer_writes(&app, "491701000001").await;
    assert_eq!(holder, None);
}
