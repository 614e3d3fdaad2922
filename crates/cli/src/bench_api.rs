//! `resonanz bench api`: many agents at once listing the inbox (with
//! filters) and opening conversations, over a store seeded with many
//! conversations and messages, through the real HTTP server; p50/p99 per call.

use crate::bench_webhooks::percentile;
use anyhow::Context;
use resonanz_core::{
    Channel, Clock, Direction, Identity, IdentityKind, Inbound, InboundMessage, MessageKind,
    RawEvent, Source, SystemClock, Timestamp, Verification,
};
use resonanz_server::outbound::auth::create_agent;
use resonanz_server::{Application, Pipeline, Settings};
use resonanz_store::{ProjectedItem, Projection, Role, Store, StoreOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct BenchApiArgs {
    /// Conversations to seed.
    #[arg(long, default_value_t = 100_000)]
    pub conversations: u64,
    /// Messages per conversation (customer and agent by turns).
    #[arg(long, default_value_t = 10)]
    pub messages_per_conversation: u64,
    /// Simulated agents calling at once.
    #[arg(long, default_value_t = 500)]
    pub agents: usize,
    /// How long the agents call.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Mean pause between an agent's calls (reading, typing), drawn evenly
    /// from 0 to twice this; 0 calls back to back (the server's saturation).
    #[arg(long, default_value_t = 2000)]
    pub think_ms: u64,
    /// `sqlite` (a temporary file) or a `postgres://` URL of an empty database.
    #[arg(long, default_value = "sqlite")]
    pub database: String,
}

/// A small deterministic generator (splitmix64), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

const TEXTS: &[&str] = &[
    "Guten Tag, ich möchte einen Wasserschaden melden.",
    "Wann wird mein Schaden reguliert?",
    "Bitte senden Sie mir die Police als PDF.",
    "Vielen Dank für die schnelle Hilfe!",
    "Seit drei Wochen keine Antwort, das ist ärgerlich.",
    "Können Sie mich morgen zurückrufen?",
];

fn projection(conversation: u64, turn: u64, at: Timestamp) -> Projection {
    let from = format!("4915{conversation:09}");
    let inbound = turn.is_multiple_of(2);
    let key = format!("bench-{conversation}-{turn}");
    let message = Inbound::Message(InboundMessage {
        channel: Channel::WhatsApp,
        account: "106540352242922".into(),
        direction: if inbound {
            Direction::Inbound
        } else {
            Direction::Outbound
        },
        customer: vec![Identity::new(IdentityKind::WhatsApp, from)],
        profile_name: Some(format!("Kunde {conversation}")),
        external_id: format!("wamid.{key}"),
        kind: MessageKind::Text,
        text: Some(TEXTS[((conversation + turn) as usize) % TEXTS.len()].into()),
        attachments: vec![],
        location: None,
        reply_to: None,
        sent_at: at,
        raw: serde_json::json!({"id": key}),
    });
    Projection {
        raw: RawEvent {
            id: None,
            source: Source::WhatsApp,
            dedupe_key: key.clone(),
            received_at: at,
            verification: Verification::SignatureValid,
            payload: key.into_bytes(),
        },
        items: vec![ProjectedItem {
            inbound: message,
            analysis: None,
        }],
        parse_error: None,
    }
}

async fn seed(store: &Store, conversations: u64, per: u64) -> anyhow::Result<()> {
    let start = SystemClock
        .now()
        .plus_millis(-((conversations * per) as i64) * 1000);
    let mut batch = Vec::with_capacity(5000);
    let mut n = 0_i64;
    // Turn by turn, so conversations interleave as real traffic does.
    for turn in 0..per {
        for conversation in 0..conversations {
            n += 1;
            batch.push(projection(conversation, turn, start.plus_millis(n * 1000)));
            if batch.len() == 5000 {
                store.ingest(std::mem::take(&mut batch)).await?;
            }
        }
    }
    if !batch.is_empty() {
        store.ingest(batch).await?;
    }
    store.flush().await?;
    Ok(())
}

/// What the agents do, in shares of their calls.
const LISTS: &[&str] = &[
    "/api/conversations?limit=50",
    "/api/conversations?limit=50&awaiting_reply=true",
    "/api/conversations?limit=50&status=open&channel=whatsapp",
    "/api/conversations?limit=50&assignee=none",
];

pub async fn run(args: BenchApiArgs) -> anyhow::Result<()> {
    resonanz_channels::outbound::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let url = match args.database.as_str() {
        "sqlite" => format!("sqlite://{}", dir.path().join("bench.db").display()),
        other => other.to_owned(),
    };
    let store = Store::open(&url, StoreOptions::default())
        .await
        .context("opening the bench database")?;
    let total = args.conversations * args.messages_per_conversation;
    println!(
        "seeding {} conversations with {} messages …",
        args.conversations, total
    );
    let seeding = Instant::now();
    seed(&store, args.conversations, args.messages_per_conversation).await?;
    let counts = store.counts().await?;
    println!(
        "seeded {} conversations, {} messages in {:.1} s",
        counts.conversations,
        counts.messages,
        seeding.elapsed().as_secs_f64()
    );
    let ids: Vec<String> = store
        .recent_conversations(10_000)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let (_, token) = create_agent(&store, "bench", Role::Agent, None, SystemClock.now()).await?;

    let settings = Settings {
        database_url: url,
        listen: "127.0.0.1:0".into(),
        ..Settings::default()
    };
    let app = Application::build_with_store(
        settings,
        Pipeline::shipped(),
        store.clone(),
        Arc::new(SystemClock),
    )
    .await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.agents)
        .build()?;
    let ids = Arc::new(ids);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut agents = Vec::new();
    for agent in 0..args.agents {
        let (client, base, token, ids) = (client.clone(), base.clone(), token.clone(), ids.clone());
        let think_ms = args.think_ms;
        agents.push(tokio::spawn(async move {
            let mut rng = Rng(agent as u64 + 1);
            let (mut lists, mut opens, mut failed) = (Vec::new(), Vec::new(), 0_u64);
            while Instant::now() < deadline {
                if think_ms > 0 {
                    let pause = rng.next() % (2 * think_ms);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                let pick = rng.next();
                let list = pick.is_multiple_of(2) || ids.is_empty();
                let path = if list {
                    LISTS[(pick / 2) as usize % LISTS.len()].to_owned()
                } else {
                    let id = &ids[(pick / 2) as usize % ids.len()];
                    format!("/api/conversations/{id}/messages")
                };
                let started = Instant::now();
                let answer = client
                    .get(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .send()
                    .await;
                let ok = match answer {
                    Ok(response) if response.status().is_success() => {
                        response.bytes().await.is_ok()
                    }
                    _ => false,
                };
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                match (ok, list) {
                    (false, _) => failed += 1,
                    (true, true) => lists.push(ms),
                    (true, false) => opens.push(ms),
                }
            }
            (lists, opens, failed)
        }));
    }
    let (mut lists, mut opens, mut failed) = (Vec::new(), Vec::new(), 0);
    for agent in agents {
        let (l, o, f) = agent.await?;
        lists.extend(l);
        opens.extend(o);
        failed += f;
    }
    let _ = stop.send(());
    server.await??;

    let per_second = (lists.len() + opens.len()) as f64 / args.seconds.max(1) as f64;
    let (list_p50, list_p99) = (percentile(&lists, 50.0), percentile(&lists, 99.0));
    let (open_p50, open_p99) = (percentile(&opens, 50.0), percentile(&opens, 99.0));
    println!(
        "{} agents (pausing {} ms on average) for {} s: {} list calls (p50 {list_p50:.1} ms, p99 {list_p99:.1} ms), \
         {} conversations opened (p50 {open_p50:.1} ms, p99 {open_p99:.1} ms), {failed} failed, {per_second:.0} calls/s",
        args.agents,
        args.think_ms,
        args.seconds,
        lists.len(),
        opens.len(),
    );
    println!(
        "result: conversations={} messages={} agents={} think_ms={} list_calls={} list_p50_ms={list_p50:.1} \
         list_p99_ms={list_p99:.1} open_calls={} open_p50_ms={open_p50:.1} open_p99_ms={open_p99:.1} \
         failed={failed} calls_per_s={per_second:.0}",
        counts.conversations,
        counts.messages,
        args.agents,
        args.think_ms,
        lists.len(),
        opens.len(),
    );
    Ok(())
}
