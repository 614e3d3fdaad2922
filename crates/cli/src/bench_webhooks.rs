//! `resonanz bench webhooks`: durable webhook deliveries per second and ack
//! latency of the real server (signature check, parse, analysis, group
//! commit with `synchronous=FULL`, 200 only after the commit), next to the
//! ceiling of a trivial axum handler measured with the same client and load
//! in the same run, and the p99 at a fixed rate. Loopback only, bounded time.

use anyhow::Context;
use axum::Router;
use axum::routing::post;
use resonanz_server::config::{MetaSettings, Secret, WhatsAppAccount};
use resonanz_server::{Application, Pipeline, Settings};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};

#[derive(clap::Args, Debug)]
pub struct BenchWebhooksArgs {
    /// Seconds of each closed-loop phase (bare handler, then Resonanz).
    #[arg(long, default_value_t = 5)]
    pub secs: u64,
    /// Requests in flight in the closed-loop phases.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Deliveries per second of the fixed-rate phase.
    #[arg(long, default_value_t = 2000)]
    pub rate: u32,
    /// Seconds of the fixed-rate phase.
    #[arg(long, default_value_t = 5)]
    pub rate_secs: u64,
}

const APP_SECRET: &str = "bench-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";
/// Open requests at most in the fixed-rate phase; beyond that the server is
/// not keeping up, which the latency shows.
const MAX_IN_FLIGHT: usize = 1024;

const TEXTS: [&str; 6] = [
    "Ich möchte einen Wasserschaden melden, der Keller steht unter Wasser.",
    "Wann kommt endlich meine Erstattung? Ich warte seit drei Wochen!",
    "Vielen Dank für die schnelle Hilfe nach dem Unfall, super Service.",
    "Bitte schicken Sie mir die Police für die Hausratversicherung als PDF.",
    "Ich will meinen Vertrag zum Monatsende kündigen.",
    "Hallo, ist die Glasversicherung bei meinem Tarif dabei?",
];

/// A signed WhatsApp delivery with one text message; `n` makes it unique.
/// Its message id is random like Meta's, not a counter that would fill the
/// message indexes in order and flatter the store.
fn delivery(n: u64) -> (Vec<u8>, String) {
    let wa_id = format!("49170{:07}", n % 500);
    let mut tail = [0u8; 10];
    tail[..8].copy_from_slice(&splitmix64(n).to_be_bytes());
    let body = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "4930123456789", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": format!("Kunde {}", n % 500)}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": resonanz_sim::wire::wamid(&wa_id, tail),
                "timestamp": "1750016800", "type": "text", "text": {"body": TEXTS[(n % 6) as usize]}}],
        }}]}],
    });
    let bytes = resonanz_sim::wire::meta_json(&body);
    let signature = resonanz_sim::wire::signature_header(APP_SECRET, &bytes);
    (bytes, signature)
}

/// A bijective mix of `n` (SplitMix64's finaliser): distinct and scattered.
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The nearest-rank percentile `p` (0–100) of `latencies`; NaN when empty.
pub fn percentile(latencies: &[f64], p: f64) -> f64 {
    if latencies.is_empty() {
        return f64::NAN;
    }
    let mut sorted = latencies.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Default)]
struct Phase {
    ok: u64,
    failed: u64,
    /// Milliseconds, one per answered request.
    latencies: Vec<f64>,
    elapsed: Duration,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&self, p: f64) -> f64 {
        percentile(&self.latencies, p)
    }

    fn print(&self, name: &str) {
        println!(
            "{name}: {} ok, {} failed in {:.2} s = {:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.ok,
            self.failed,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.percentile(50.0),
            self.percentile(99.0),
            self.latencies.iter().copied().fold(0.0, f64::max),
        );
    }
}

async fn send(client: &reqwest::Client, url: &str, n: u64) -> bool {
    let (body, signature) = delivery(n);
    send_signed(client, url, body, signature).await
}

async fn send_signed(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    signature: String,
) -> bool {
    match client
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
    {
        Ok(response) => {
            let ok = response.status().as_u16() == 200;
            // Read the body so the connection goes back to the pool.
            let _ = response.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

/// `concurrency` workers, each sending its next delivery when the last is answered.
async fn closed_loop(
    client: &reqwest::Client,
    url: &str,
    concurrency: usize,
    duration: Duration,
    next: &Arc<AtomicU64>,
) -> Phase {
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, next) = (client.clone(), url.to_owned(), Arc::clone(next));
            tokio::spawn(async move {
                let mut phase = Phase::default();
                while Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let sent = Instant::now();
                    let ok = send(&client, &url, n).await;
                    phase.latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    if ok { phase.ok += 1 } else { phase.failed += 1 }
                }
                phase
            })
        })
        .collect();
    let mut total = Phase::default();
    for worker in workers {
        let phase = worker.await.expect("bench worker");
        total.ok += phase.ok;
        total.failed += phase.failed;
        total.latencies.extend(phase.latencies);
    }
    total.elapsed = started.elapsed();
    total
}

/// Open loop at `rate`/s: latency counts from the scheduled send time, so a
/// server that falls behind shows it (no coordinated omission).
async fn fixed_rate(
    client: &reqwest::Client,
    url: &str,
    rate: u32,
    duration: Duration,
    next: &Arc<AtomicU64>,
) -> Phase {
    let total = (u64::from(rate.max(1)) * duration.as_secs()).max(1);
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // Signed beforehand, as Meta's servers would: the load generator shares
    // this machine's two cores with the server under test.
    let deliveries: Vec<(Vec<u8>, String)> = (0..total)
        .map(|_| delivery(next.fetch_add(1, Ordering::Relaxed)))
        .collect();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for (i, (body, signature)) in deliveries.into_iter().enumerate() {
        let due = started + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let permit = Arc::clone(&slots)
            .acquire_owned()
            .await
            .expect("semaphore open");
        let (client, url) = (client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let ok = send_signed(&client, &url, body, signature).await;
            drop(permit);
            (ok, due.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    let mut phase = Phase::default();
    for task in tasks {
        let (ok, ms) = task.await.expect("bench request");
        phase.latencies.push(ms);
        if ok { phase.ok += 1 } else { phase.failed += 1 }
    }
    phase.elapsed = started.elapsed();
    phase
}

/// Serves `router` until the returned sender fires (or is dropped).
fn serve_until_stopped(listener: TcpListener, router: Router) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    stop
}

/// The ceiling: what this client and machine do against a handler that
/// reads the body and answers 200.
async fn start_trivial_server() -> anyhow::Result<(String, oneshot::Sender<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/whatsapp", listener.local_addr()?);
    let router = Router::new().route(
        "/webhooks/whatsapp",
        post(|_body: axum::body::Bytes| async { "EVENT_RECEIVED" }),
    );
    Ok((url, serve_until_stopped(listener, router)))
}

/// The durable floor: the least a server can do that acknowledges only
/// stored bodies. It checks the signature, appends the body to a file on a
/// group-commit thread (one `fdatasync` per group, as Resonanz's journal
/// does) and answers 200 after the sync; it parses and stores nothing else.
/// Resonanz's own work is what lies between this and its own rate.
async fn start_floor_server(
    dir: &std::path::Path,
) -> anyhow::Result<(String, oneshot::Sender<()>)> {
    use std::io::Write;
    type Append = (axum::body::Bytes, oneshot::Sender<()>);
    let mut file =
        std::fs::File::create(dir.join("floor.log")).context("creating the floor's log")?;
    let (appends, received) = std::sync::mpsc::channel::<Append>();
    std::thread::Builder::new()
        .name("bench-floor".into())
        .spawn(move || {
            while let Ok(first) = received.recv() {
                let mut group = vec![first];
                group.extend(received.try_iter().take(1023));
                let written = group.iter().try_for_each(|(body, _)| {
                    file.write_all(&(body.len() as u32).to_le_bytes())?;
                    file.write_all(body)
                });
                if written.and_then(|()| file.sync_data()).is_ok() {
                    for (_, done) in group {
                        let _ = done.send(());
                    }
                }
            }
        })?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/whatsapp", listener.local_addr()?);
    let router = Router::new().route(
        "/webhooks/whatsapp",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let appends = appends.clone();
                async move {
                    let signature = headers
                        .get("x-hub-signature-256")
                        .and_then(|v| v.to_str().ok());
                    if resonanz_channels::signature::verify_meta_signature(
                        APP_SECRET.as_bytes(),
                        &body,
                        signature,
                    )
                    .is_err()
                    {
                        return axum::http::StatusCode::UNAUTHORIZED;
                    }
                    let (done, synced) = oneshot::channel();
                    if appends.send((body, done)).is_err() || synced.await.is_err() {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    Ok((url, serve_until_stopped(listener, router)))
}

pub async fn run(args: BenchWebhooksArgs) -> anyhow::Result<()> {
    resonanz_channels::outbound::install_crypto_provider();
    let duration = Duration::from_secs(args.secs.clamp(1, 600));
    let rate_duration = Duration::from_secs(args.rate_secs.clamp(1, 600));
    let concurrency = args.concurrency.clamp(1, 4096);
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let settings = Settings {
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        listen: "127.0.0.1:0".into(),
        sqlite_sync_full: true,
        meta: MetaSettings {
            app_secret: Secret::new(APP_SECRET),
            verify_token: Secret::new("bench-verify-token"),
            // Unreachable on purpose: text-only deliveries fetch no media.
            graph_base_url: "http://127.0.0.1:9".into(),
            whatsapp: vec![WhatsAppAccount {
                phone_number_id: PHONE_NUMBER_ID.into(),
                display_phone_number: "4930123456789".into(),
                waba_id: "102290129340398".into(),
                access_token: Secret::new("bench-token"),
            }],
            ..MetaSettings::default()
        },
        media: resonanz_server::config::MediaSettings {
            dir: dir.path().join("media"),
            ..Default::default()
        },
        ..Settings::default()
    };
    let app = Application::build(settings, Pipeline::shipped())
        .await
        .context("starting the server")?;
    let store = app.store();
    let resonanz_url = format!("http://127.0.0.1:{}/webhooks/whatsapp", app.port());
    let (stop_app, app_stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = app_stopped.await;
    }));
    let (trivial_url, stop_trivial) = start_trivial_server().await?;
    let (floor_url, stop_floor) = start_floor_server(dir.path()).await?;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let next = Arc::new(AtomicU64::new(0));

    println!(
        "bench webhooks: signed WhatsApp text deliveries over loopback HTTP, {concurrency} in flight, {} s per phase; acknowledged after the acceptance journal's fdatasync, SQLite synchronous=FULL",
        duration.as_secs()
    );
    // Warm up both: connections, analysis caches, the database file.
    closed_loop(
        &client,
        &trivial_url,
        concurrency,
        Duration::from_millis(300),
        &next,
    )
    .await;
    closed_loop(
        &client,
        &floor_url,
        concurrency,
        Duration::from_millis(300),
        &next,
    )
    .await;
    closed_loop(
        &client,
        &resonanz_url,
        concurrency,
        Duration::from_millis(500),
        &next,
    )
    .await;
    store.flush().await?;
    let stored_before = store.counts().await?.raw_events;

    let ceiling = closed_loop(&client, &trivial_url, concurrency, duration, &next).await;
    ceiling.print("ceiling (trivial axum handler)");
    let floor = closed_loop(&client, &floor_url, concurrency, duration, &next).await;
    floor.print("durable floor (verify, append to a file, fdatasync per group, ack)");
    anyhow::ensure!(
        floor.failed == 0,
        "{} deliveries to the durable floor failed",
        floor.failed
    );
    let written_before = crate::bench::disk_bytes_written();
    let durable = closed_loop(&client, &resonanz_url, concurrency, duration, &next).await;
    durable.print("resonanz (verify, parse, analyse, durable append, ack)");
    let flushing = Instant::now();
    store.flush().await?;
    let catch_up = flushing.elapsed();
    // Acknowledged is durable (journal or commit); this is the rate at which
    // the same deliveries also became raw-log rows with their projections.
    let applied_per_s = durable.ok as f64 / (durable.elapsed + catch_up).as_secs_f64().max(1e-9);
    println!(
        "raw log and projections caught up {:.0} ms after the last ack: {applied_per_s:.0} deliveries/s applied",
        catch_up.as_secs_f64() * 1000.0
    );
    // Whole pages of every index a delivery touches go to the WAL and again
    // to the database file at checkpoint: the volume a disk must sync.
    let disk_kb_per_delivery = match (written_before, crate::bench::disk_bytes_written()) {
        (Some(before), Some(after)) if durable.ok > 0 => {
            (after - before) / 1024.0 / durable.ok as f64
        }
        _ => f64::NAN,
    };
    println!(
        "disk writes: {disk_kb_per_delivery:.1} KB per delivery (raw log, projections, checkpoints)"
    );
    let paced = fixed_rate(&client, &resonanz_url, args.rate, rate_duration, &next).await;
    paced.print(&format!("resonanz at {}/s fixed rate", args.rate));

    let _ = stop_trivial.send(());
    let _ = stop_floor.send(());
    let _ = stop_app.send(());
    server.await.context("server task")??;

    // Every 200 must be a stored raw event: count them in the log.
    let reopened = resonanz_store::Store::open(
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
        resonanz_store::StoreOptions::default(),
    )
    .await?;
    let stored = reopened.counts().await?.raw_events - stored_before;
    reopened.close().await;
    let acked = durable.ok + paced.ok;
    anyhow::ensure!(
        stored == acked as i64,
        "{acked} deliveries acknowledged but {stored} stored"
    );
    println!("durability: {acked} acknowledged deliveries, {stored} raw events in the log");
    anyhow::ensure!(
        durable.failed == 0 && paced.failed == 0,
        "{} deliveries were not acknowledged",
        durable.failed + paced.failed
    );

    let deliveries_per_s = durable.per_second();
    let ceiling_per_s = ceiling.per_second();
    let floor_per_s = floor.per_second();
    println!(
        "result: deliveries_per_s={:.0} ceiling_per_s={:.0} ratio={:.2} floor_per_s={:.0} floor_ratio={:.2} p99_ms={:.2} applied_per_s={:.0} catch_up_ms={:.0} disk_kb_per_delivery={:.1} peak_rss_mb={:.0}",
        deliveries_per_s,
        ceiling_per_s,
        deliveries_per_s / ceiling_per_s.max(1e-9),
        floor_per_s,
        floor_per_s / ceiling_per_s.max(1e-9),
        paced.percentile(99.0),
        applied_per_s,
        catch_up.as_secs_f64() * 1000.0,
        disk_kb_per_delivery,
        crate::bench::peak_rss_mb()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_unique_and_correctly_signed() {
        let (a, sig) = delivery(1);
        let (b, _) = delivery(2);
        assert_ne!(a, b);
        assert!(resonanz_sim::wire::verify_signature(APP_SECRET, &a, &sig));
        let items = resonanz_channels::whatsapp::parse_webhook(&a).unwrap();
        assert_eq!(items.len(), 1);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let phase = Phase {
            latencies: (1..=100).map(f64::from).collect(),
            ..Phase::default()
        };
        assert_eq!(phase.percentile(99.0), 99.0);
        assert_eq!(phase.percentile(50.0), 50.0);
    }
}
