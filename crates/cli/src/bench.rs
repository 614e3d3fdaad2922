//! `resonanz bench ingest|import`: throughput and peak memory, each next to
//! the ceiling measured in the same run (a raw batched SQLite insert of the
//! same rows, no parsing, analysis or projection).

use crate::import::{ImportFormat, ImportOptions, run_import, write_sample_mentions};
use anyhow::Context;
use resonanz_core::{Clock, RawEvent, Source, SystemClock};
use resonanz_server::Pipeline;
use resonanz_store::{Store, StoreOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Peak resident set size of this process so far, in MiB.
pub fn peak_rss_mb() -> f64 {
    proc_self_number("status", "VmHWM:")
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Bytes this process has sent to the storage layer so far (WAL, database
/// file and checkpoints alike); `None` where the kernel does not say.
pub fn disk_bytes_written() -> Option<f64> {
    proc_self_number("io", "write_bytes:")
}

/// The first number after `key` in `/proc/self/<file>`.
fn proc_self_number(file: &str, key: &str) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .ok()?
        .lines()
        .find(|line| line.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn raw_connection(path: &Path) -> anyhow::Result<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    Ok(SqliteConnection::connect_with(&options).await?)
}

pub async fn bench_import(count: u64, batch: usize, pipeline: Pipeline) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("mentions.jsonl");
    println!("generating {count} mentions …");
    write_sample_mentions(&file, count, 7)?;
    let store = Store::open(
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
        StoreOptions::default(),
    )
    .await?;
    let started = Instant::now();
    let summary = run_import(
        &store,
        &pipeline,
        &file,
        &ImportOptions {
            format: ImportFormat::Jsonl,
            strict: false,
            rejects: None,
            batch,
            progress: false,
        },
    )
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    store.close().await;
    let peak = peak_rss_mb();
    anyhow::ensure!(
        summary.imported == count,
        "imported {} of {count}",
        summary.imported
    );
    let items_per_s = count as f64 / elapsed;
    println!(
        "import: {count} mentions (parse, analyse, raw log, projection, events) in {elapsed:.2} s = {items_per_s:.0} items/s, peak RSS {peak:.0} MiB"
    );
    println!(
        "  reader (parse + analyse) busy {:.2} s, store commits {:.2} s (they overlap)",
        summary.reader_seconds, summary.store_seconds
    );

    // Ceiling: the same rows, inserted raw in batches of the same size.
    let mut conn = raw_connection(&dir.path().join("ceiling.db")).await?;
    sqlx::query("CREATE TABLE raw_rows (source TEXT, dedupe_key TEXT, received_at INTEGER, verification TEXT, payload BLOB)")
        .execute(&mut conn)
        .await?;
    sqlx::query("CREATE TABLE mention_rows (id TEXT, platform TEXT, author TEXT, followers INTEGER, body TEXT, published_at INTEGER)")
        .execute(&mut conn)
        .await?;
    let reader = std::io::BufReader::new(std::fs::File::open(&file)?);
    let mut lines = reader.lines();
    let mut ceiling_time = 0.0;
    loop {
        let mut rows: Vec<(String, serde_json::Value)> = Vec::with_capacity(batch);
        for line in lines.by_ref().take(batch) {
            let line = line?;
            let value: serde_json::Value = serde_json::from_str(&line)?;
            rows.push((line, value));
        }
        if rows.is_empty() {
            break;
        }
        let t = Instant::now();
        let mut tx = conn.begin().await?;
        for chunk in rows.chunks(1500) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO raw_rows (source, dedupe_key, received_at, verification, payload) ",
            );
            q.push_values(chunk, |mut b, (line, v)| {
                b.push_bind("import.mention")
                    .push_bind(v["id"].as_str().unwrap_or_default())
                    .push_bind(0i64)
                    .push_bind("operator_import")
                    .push_bind(line.as_bytes());
            });
            q.build().execute(&mut *tx).await?;
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO mention_rows (id, platform, author, followers, body, published_at) ",
            );
            q.push_values(chunk, |mut b, (_, v)| {
                b.push_bind(v["id"].as_str().unwrap_or_default())
                    .push_bind(v["platform"].as_str().unwrap_or_default())
                    .push_bind(v["author"].as_str().unwrap_or_default())
                    .push_bind(v["followers"].as_i64().unwrap_or_default())
                    .push_bind(v["text"].as_str().unwrap_or_default())
                    .push_bind(v["published_at"].as_i64().unwrap_or_default());
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        ceiling_time += t.elapsed().as_secs_f64();
    }
    let ceiling = count as f64 / ceiling_time;
    let ratio = ceiling / items_per_s;
    println!(
        "ceiling: raw batched insert of the same rows = {ceiling:.0} items/s; ceiling/import = {ratio:.2}"
    );
    println!(
        "result: items_per_s={items_per_s:.0} ceiling_items_per_s={ceiling:.0} ratio={ratio:.2} peak_rss_mb={peak:.0} items={count} seconds={elapsed:.2}"
    );
    Ok(())
}

/// One WhatsApp webhook body with one text message, in Meta's documented shape.
pub fn whatsapp_text_body(i: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "4930123456789", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": format!("Kunde {i}")}, "wa_id": format!("4917{:08}", i % 50_000)}],
            "messages": [{"from": format!("4917{:08}", i % 50_000), "id": format!("wamid.bench{i}"),
                "timestamp": (1_750_000_000 + i).to_string(), "type": "text",
                "text": {"body": "Ich möchte einen Wasserschaden melden, die Hotline ist nicht erreichbar."}}]
        }}]}]
    }))
    .expect("JSON serialises")
}

pub async fn bench_ingest(
    count: u64,
    concurrency: usize,
    pipeline: Pipeline,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
        StoreOptions::default(),
    )
    .await?;
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new((0..count).map(whatsapp_text_body).collect());
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (store, pipeline, bodies, next) = (
                store.clone(),
                pipeline.clone(),
                bodies.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        return anyhow::Ok(());
                    }
                    let raw = RawEvent::webhook(
                        Source::WhatsApp,
                        bodies[i as usize].clone(),
                        SystemClock.now(),
                    );
                    let projection = pipeline.project(raw);
                    store.ingest(vec![projection]).await?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.context("ingest worker")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let counts = store.counts().await?;
    store.close().await;
    anyhow::ensure!(
        counts.messages == count as i64,
        "stored {} of {count}",
        counts.messages
    );
    let peak = peak_rss_mb();
    let items_per_s = count as f64 / elapsed;
    println!(
        "ingest: {count} webhook deliveries from {concurrency} concurrent writers (verify-free path: parse, analyse, durable group commit) in {elapsed:.2} s = {items_per_s:.0} items/s"
    );

    let mut conn = raw_connection(&dir.path().join("ceiling.db")).await?;
    sqlx::query("CREATE TABLE raw_rows (source TEXT, dedupe_key TEXT, received_at INTEGER, verification TEXT, payload BLOB)")
        .execute(&mut conn)
        .await?;
    let started = Instant::now();
    for chunk in bodies.chunks(1000) {
        let mut tx = conn.begin().await?;
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO raw_rows (source, dedupe_key, received_at, verification, payload) ",
        );
        q.push_values(chunk.iter().enumerate(), |mut b, (i, body)| {
            b.push_bind("whatsapp")
                .push_bind(i as i64)
                .push_bind(0i64)
                .push_bind("signature_valid")
                .push_bind(body.as_slice());
        });
        q.build().execute(&mut *tx).await?;
        tx.commit().await?;
    }
    let ceiling = count as f64 / started.elapsed().as_secs_f64();
    let ratio = ceiling / items_per_s;
    println!(
        "ceiling: raw batched insert of the same bodies = {ceiling:.0} items/s; ceiling/ingest = {ratio:.2}"
    );
    println!(
        "result: items_per_s={items_per_s:.0} ceiling_items_per_s={ceiling:.0} ratio={ratio:.2} peak_rss_mb={peak:.0} items={count}"
    );
    Ok(())
}
