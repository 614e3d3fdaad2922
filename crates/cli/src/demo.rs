//! `resonanz demo`: the server on SQLite, the Graph API simulator beside it,
//! simulated German insurance customers writing in, and a sample of
//! historical mentions imported — so a newcomer sees data flowing at once.

use crate::DemoArgs;
use crate::import::{ImportFormat, ImportOptions, run_import, write_sample_mentions};
use anyhow::Context;
use resonanz_core::event::DomainEvent;
use resonanz_server::config::{PageAccount, Secret, WhatsAppAccount};
use resonanz_server::{Application, Pipeline, Settings};
use resonanz_sim::{SimConfig, TrafficConfig, WebhookTargets};
use std::time::Duration;

const APP_SECRET: &str = "demo-app-secret";
const VERIFY_TOKEN: &str = "demo-verify-token";
const ACCESS_TOKEN: &str = "demo-access-token";

pub async fn run(mut settings: Settings, args: DemoArgs) -> anyhow::Result<()> {
    settings.database_url = args.database.clone();
    settings.listen = format!("127.0.0.1:{}", args.port);
    if !settings.meta.app_secret.is_set() {
        settings.meta.app_secret = Secret::new(APP_SECRET);
    }
    if !settings.meta.verify_token.is_set() {
        settings.meta.verify_token = Secret::new(VERIFY_TOKEN);
    }
    let sim_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the simulator")?;
    let sim_addr = sim_listener.local_addr()?;
    let mut sim_config = SimConfig::new(
        settings.meta.app_secret.expose(),
        settings.meta.verify_token.expose(),
        ACCESS_TOKEN,
    );
    settings.meta.graph_base_url = format!("http://{sim_addr}");
    settings.meta.whatsapp = vec![WhatsAppAccount {
        phone_number_id: sim_config.phone_number_id.clone(),
        display_phone_number: sim_config.display_phone_number.clone(),
        waba_id: sim_config.waba_id.clone(),
        access_token: Secret::new(ACCESS_TOKEN),
    }];
    settings.meta.pages = vec![
        PageAccount {
            id: sim_config.page_id.clone(),
            channel: "messenger".into(),
            access_token: Secret::new(ACCESS_TOKEN),
        },
        PageAccount {
            id: sim_config.ig_id.clone(),
            channel: "instagram".into(),
            access_token: Secret::new(ACCESS_TOKEN),
        },
    ];

    let pipeline = Pipeline::shipped();
    let app = Application::build(settings, pipeline.clone()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    sim_config.webhook_targets = WebhookTargets {
        whatsapp_url: Some(format!("{base}/webhooks/whatsapp")),
        messenger_url: Some(format!("{base}/webhooks/messenger")),
        instagram_url: Some(format!("{base}/webhooks/instagram")),
    };
    let store = app.store();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = {
        let mut stop = stop_rx.clone();
        tokio::spawn(app.run_until(async move {
            let _ = stop.wait_for(|s| *s).await;
        }))
    };
    let sim = std::sync::Arc::new(
        resonanz_sim::start(sim_config, sim_listener)
            .await
            .context("starting the simulator")?,
    );
    let handshake = sim
        .verify_webhook(resonanz_sim::Channel::Whatsapp, None)
        .await;

    println!("Resonanz demo");
    println!("  server:     {base}   (health {base}/healthz, metrics {base}/metrics)");
    println!(
        "  simulator:  {}   (Graph API stand-in; control API under /sim)",
        sim.base_url()
    );
    println!("  database:   {}", args.database);
    println!(
        "  webhook handshake (GET hub.challenge): {}",
        if handshake.echoed {
            "verified"
        } else {
            "FAILED"
        }
    );

    let (token, password) = demo_session(&store).await?;
    println!("  web app:    {base}/   Anmeldung / login: demo / {password}");
    println!("  inbox:      curl -H 'Authorization: Bearer {token}' {base}/api/conversations");
    println!("  live feed:  curl -N -H 'Authorization: Bearer {token}' {base}/api/events");

    // Historical mentions, imported like an operator would.
    let sample = tempfile::NamedTempFile::with_suffix(".jsonl")?;
    write_sample_mentions(sample.path(), 2_000, 2026)?;
    let summary = run_import(
        &store,
        &pipeline,
        sample.path(),
        &ImportOptions {
            format: ImportFormat::Jsonl,
            strict: false,
            rejects: None,
            batch: 1000,
            progress: false,
        },
    )
    .await?;
    println!(
        "  imported {} historical mentions ({} were already there)\n",
        summary.imported, summary.duplicates
    );

    let mut events = store.subscribe();
    let printer_store = store.clone();
    let printer = tokio::spawn(async move {
        while let Ok(envelope) = events.recv().await {
            if let DomainEvent::MessageReceived {
                conversation_id,
                channel,
                ..
            } = envelope.event
                && let Ok(messages) = printer_store
                    .conversation_messages(conversation_id.as_str())
                    .await
                && let Some(message) = messages.iter().rev().find(|m| m.direction == "in")
            {
                // A shared location shows the map link a towing partner would get.
                let text: String = match (&message.body, &message.map_url) {
                    (Some(body), _) => body.chars().take(70).collect(),
                    (None, Some(map)) => format!("[Standort] {map}"),
                    (None, None) => format!("[{}]", message.kind),
                };
                let verdict = message
                    .analysis
                    .as_ref()
                    .map(|a| format!("{} {}", a.sentiment.as_str(), a.topics.join(",")))
                    // A location, sticker or file without caption has no text to analyse.
                    .unwrap_or_else(|| "– (kein Text / no text)".to_owned());
                println!("  {channel:<9} #{:<5} {text:<72} → {verdict}", envelope.seq);
            }
        }
    });

    // Traffic stops first, so the last counts are taken from a running store.
    let (traffic_stop_tx, mut traffic_stop) = tokio::sync::watch::channel(false);
    let traffic_sim = sim.clone();
    let traffic = tokio::spawn(async move {
        resonanz_sim::run_traffic(
            &traffic_sim,
            TrafficConfig {
                rate_per_sec: args.rate,
                ..TrafficConfig::default()
            },
            async move {
                let _ = traffic_stop.wait_for(|s| *s).await;
            },
        )
        .await
    });
    for scenario in ["kfz_unfall", "dokument_anfrage", "beschwerde", "lob"] {
        if let Err(err) = sim.run_scenario(scenario, Default::default()).await {
            eprintln!("scenario {scenario}: {err}");
        }
    }

    let deadline = args.seconds.map(Duration::from_secs);
    let started = std::time::Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(10));
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = ticker.tick() => println!("  ── {}", stored_summary(&store.counts().await?)),
        }
        if deadline.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
    }
    let _ = traffic_stop_tx.send(true);
    let stats = traffic.await.context("traffic task")?;
    store.flush().await?;
    let counts = store.counts().await?;
    let _ = stop_tx.send(true);
    server.await.context("server task")??;
    printer.abort();
    sim.shutdown().await;
    println!(
        "\nstopped: simulated customers sent {} messages, {} not acknowledged",
        stats.messages, stats.failed
    );
    println!("stored:  {}", stored_summary(&counts));
    Ok(())
}

fn stored_summary(counts: &resonanz_store::Counts) -> String {
    format!(
        "{} raw events · {} contacts · {} conversations · {} messages · {} mentions · {} unrecognized kept",
        counts.raw_events,
        counts.contacts,
        counts.conversations,
        counts.messages,
        counts.mentions,
        counts.unrecognized
    )
}

/// A session for the demo's own agent (created on the first run), so that the
/// printed commands read the inbox, and a fresh password for the web app
/// (a new one each run, so none is fixed in the source). The session
/// expires like any session.
async fn demo_session(store: &resonanz_store::Store) -> anyhow::Result<(String, String)> {
    use resonanz_core::Clock;
    use resonanz_server::outbound::auth;
    let now = resonanz_core::SystemClock.now();
    let password = format!("demo-{}", &auth::new_token()[3..15]);
    let agent = match store.agent_by_name("demo").await? {
        Some(agent) => agent,
        None => {
            auth::create_agent(store, "demo", resonanz_store::Role::Admin, None, now)
                .await?
                .0
        }
    };
    store
        .set_agent_password_hash(&agent.id, &auth::hash_password(&password)?)
        .await?;
    let token = auth::new_token();
    store
        .create_session(
            &auth::token_hash(&token),
            &agent.id,
            now,
            now.plus_millis(12 * 3_600_000),
        )
        .await?;
    Ok((token, password))
}
