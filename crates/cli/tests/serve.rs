//! `resonanz serve` as it runs in production, killed with -9 while webhooks
//! stream in: every delivery it acknowledged is there after the restart,
//! stored once and projected.

use resonanz_store::{Store, StoreOptions};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const APP_SECRET: &str = "crash-test-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(dir: &Path, port: u16) -> Child {
    let config = dir.join("resonanz.toml");
    std::fs::write(
        &config,
        format!(
            r#"database_url = "sqlite://{}"
listen = "127.0.0.1:{port}"

[meta]
app_secret = "{APP_SECRET}"

[[meta.whatsapp]]
phone_number_id = "{PHONE_NUMBER_ID}"
display_phone_number = "4930123456789"
waba_id = "102290129340398"
access_token = "crash-test-token"
"#,
            dir.join("resonanz.db").display()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_resonanz"))
        .current_dir(dir)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(client: &reqwest::Client, base: &str, child: &mut Child) {
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "the server exited");
        assert!(started.elapsed() < Duration::from_secs(60), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn delivery(n: u64) -> (String, Vec<u8>) {
    let id = format!("wamid.crash{n:06}");
    let wa_id = format!("49170{:07}", n % 7);
    let body = resonanz_sim::wire::meta_json(&serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "4930123456789", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Kunde"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": id, "timestamp": "1750016800",
                "type": "text", "text": {"body": format!("Schadenmeldung Nummer {n}")}}],
        }}]}],
    }));
    (id, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_loses_no_acknowledged_webhook() {
    resonanz_channels::outbound::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = serve(dir.path(), port);
    wait_ready(&client, &base, &mut server).await;

    // Eight senders stream deliveries; the server dies under them.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..8 {
        let (client, url) = (client.clone(), format!("{base}/webhooks/whatsapp"));
        let (acknowledged, next) = (acknowledged.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (id, body) = delivery(n);
                let signature = resonanz_sim::wire::signature_header(APP_SECRET, &body);
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", signature)
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == 200 => {
                        acknowledged.lock().unwrap().push(id)
                    }
                    Ok(response) => panic!("unexpected {}", response.status()),
                    // The server is gone: this one was never acknowledged.
                    Err(_) => return,
                }
            }
        }));
    }
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < 400 {
        assert!(started.elapsed() < Duration::from_secs(60), "too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    for sender in senders {
        sender.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    // Killed, the server leaves its acceptance journal behind.
    let journaled: u64 = std::fs::read_dir(dir.path().join("resonanz.db.accepted"))
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum();
    assert!(journaled > 0, "the server acknowledged from its journal");
    // The restart stores and projects what the journal held before it listens.
    let mut restarted = serve(dir.path(), port);
    wait_ready(&client, &base, &mut restarted).await;
    restarted.kill().unwrap();
    restarted.wait().unwrap();

    let store = Store::open(
        &format!("sqlite://{}", dir.path().join("resonanz.db").display()),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    for id in &acknowledged {
        assert!(
            store
                .message_by_external_id("whatsapp", id)
                .await
                .unwrap()
                .is_some(),
            "acknowledged {id} is a message after the restart"
        );
    }
    let counts = store.counts().await.unwrap();
    assert!(counts.raw_events >= acknowledged.len() as i64);
    assert_eq!(
        counts.raw_events, counts.messages,
        "each stored once, each projected"
    );
    store.close().await;
}
