//! The `resonanz` command.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod agent_cmd;
mod analysis_cmd;
mod bench;
mod bench_api;
mod bench_webhooks;
mod demo;
mod import;

use anyhow::Context;
use clap::{Parser, Subcommand};
use import::{ImportFormat, ImportOptions};
use resonanz_server::app::open_store;
use resonanz_server::{Application, Pipeline, Settings};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "resonanz",
    version,
    about = "Kundendialog und Social Listening für Versicherer / customer dialog and social listening for insurers"
)]
struct Cli {
    /// TOML configuration file (defaults apply when omitted; RESONANZ_* variables override both).
    #[arg(long, global = true, env = "RESONANZ_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server: webhooks, API, health and metrics.
    Serve,
    /// Run the server on SQLite with simulated customer traffic.
    Demo(DemoArgs),
    /// Import historical mentions and reviews from JSONL or CSV.
    Import(ImportArgs),
    /// Rebuild every projection from the raw event log (after a parser upgrade).
    Replay,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Delete uploaded files no message uses, unused for `[media] upload_retention_days`.
    CleanUploads,
    /// Measure throughput and memory.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Manage API users: `resonanz agent add NAME --role admin [--password-stdin]`.
    #[command(subcommand)]
    Agent(agent_cmd::AgentCommand),
    /// Train an analysis model from labelled data.
    #[command(subcommand)]
    Train(analysis_cmd::TrainCommand),
    /// Evaluate an analysis model (prints metrics, ends with a `result:` line).
    #[command(subcommand)]
    Eval(analysis_cmd::EvalCommand),
    /// Adapt a model's class priors to a deployment's unlabelled stream.
    #[command(subcommand)]
    Adapt(analysis_cmd::AdaptCommand),
}

#[derive(clap::Args, Debug)]
struct DemoArgs {
    /// Port for the web server.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Simulated customer messages per second.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Stop after this many seconds (runs until Ctrl-C when omitted).
    #[arg(long)]
    seconds: Option<u64>,
    /// Demo database.
    #[arg(long, default_value = "sqlite://data/demo.db")]
    database: String,
}

#[derive(clap::Args, Debug)]
struct ImportArgs {
    /// JSONL or CSV file (see README: import schema).
    file: PathBuf,
    /// File format; detected from the extension when omitted.
    #[arg(long, value_enum)]
    format: Option<ImportFormat>,
    /// Abort without importing anything if any record is malformed.
    #[arg(long)]
    strict: bool,
    /// Where malformed records are written (default: FILE.rejects.jsonl).
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Records per transaction (larger batches write each index page once per commit).
    #[arg(long, default_value_t = 20_000)]
    batch: usize,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Webhook-style ingest: concurrent single deliveries through parse, analysis and group commit.
    Ingest {
        #[arg(long, default_value_t = 20_000)]
        count: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Full German analysis of short posts: posts/s per core and peak memory.
    Analysis(analysis_cmd::BenchAnalysisArgs),
    /// Signed webhook deliveries over HTTP: durable deliveries/s, p99 ack latency, bare-HTTP ceiling.
    Webhooks(bench_webhooks::BenchWebhooksArgs),
    /// Agents listing (with filters) and opening conversations over a seeded store: p50/p99 per call.
    Api(bench_api::BenchApiArgs),
    /// Bulk import of mentions into SQLite.
    Import {
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
        #[arg(long, default_value_t = 20_000)]
        batch: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // CPU-only commands need neither configuration nor a runtime.
    match cli.command {
        Command::Train(analysis_cmd::TrainCommand::Sentiment(mut args))
            if args.team_corrections =>
        {
            // The corrections live in the database: read them first, then train offline.
            let settings =
                Settings::load(cli.config.as_deref()).context("loading the configuration")?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let file = runtime.block_on(team_corrections_file(&settings))?;
            args.domain.push(resonanz_analysis::tools::DomainFile {
                path: file.path().to_owned(),
                label: None,
            });
            return analysis_cmd::run_train(analysis_cmd::TrainCommand::Sentiment(args));
        }
        Command::Train(cmd) => return analysis_cmd::run_train(cmd),
        Command::Eval(cmd) => return analysis_cmd::run_eval(cmd),
        Command::Adapt(cmd) => return analysis_cmd::run_adapt(cmd),
        Command::Bench(BenchCommand::Analysis(args)) => {
            return analysis_cmd::run_bench_analysis(args);
        }
        _ => {}
    }
    let settings = Settings::load(cli.config.as_deref()).context("loading the configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(cli.command, settings))
}

/// The team's sentiment corrections as a `label<TAB>text` file for training.
async fn team_corrections_file(settings: &Settings) -> anyhow::Result<tempfile::NamedTempFile> {
    let store = open_store(settings).await?;
    let rows = store.labelled_corrections("sentiment").await;
    store.close().await;
    let rows = rows?;
    println!(
        "team corrections: {} labelled messages from the inbox",
        rows.len()
    );
    let mut file =
        tempfile::NamedTempFile::new().context("a temporary file for the corrections")?;
    std::io::Write::write_all(
        &mut file,
        resonanz_server::routes::workflow::labelled_tsv(&rows).as_bytes(),
    )?;
    Ok(file)
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            resonanz_server::telemetry::init(&settings.log_format);
            let app = Application::build(settings, Pipeline::shipped()).await?;
            app.run_until(resonanz_server::app::shutdown_signal()).await
        }
        Command::Demo(args) => {
            resonanz_server::telemetry::init(&settings.log_format);
            demo::run(settings, args).await
        }
        Command::Import(args) => {
            let store = open_store(&settings).await?;
            let options = ImportOptions {
                format: args
                    .format
                    .unwrap_or_else(|| ImportFormat::detect(&args.file)),
                strict: args.strict,
                rejects: args.rejects,
                batch: args.batch.max(1),
                progress: true,
            };
            let started = std::time::Instant::now();
            let result =
                import::run_import(&store, &Pipeline::shipped(), &args.file, &options).await;
            store.close().await;
            let summary = result?;
            println!(
                "{} records read: {} imported, {} already present, {} rejected ({:.1} s)",
                summary.records,
                summary.imported,
                summary.duplicates,
                summary.rejected,
                started.elapsed().as_secs_f64()
            );
            if let Some(path) = summary.rejects_file {
                println!(
                    "rejected records with line numbers and reasons: {}",
                    path.display()
                );
            }
            Ok(())
        }
        Command::Replay => {
            let store = open_store(&settings).await?;
            let started = std::time::Instant::now();
            let total = store.counts().await?.raw_events;
            let bar = replay_progress(total.max(0) as u64);
            let replayed = Pipeline::shipped()
                .replay_with_progress(&store, 2000, |done| bar.set_position(done))
                .await;
            bar.finish_and_clear();
            let counts = store.counts().await;
            store.close().await;
            let replayed = replayed?;
            let counts = counts?;
            println!(
                "replayed {replayed} raw events in {:.1} s: {} contacts, {} conversations, {} messages, {} mentions, {} reviews, {} events",
                started.elapsed().as_secs_f64(),
                counts.contacts,
                counts.conversations,
                counts.messages,
                counts.mentions,
                counts.reviews,
                counts.events
            );
            Ok(())
        }
        Command::Agent(cmd) => agent_cmd::run(cmd, &settings).await.map(|_| ()),
        Command::Migrate => {
            let store = open_store(&settings).await?;
            println!("database schema is up to date ({})", store.backend_name());
            store.close().await;
            Ok(())
        }
        Command::CleanUploads => {
            let store = open_store(&settings).await?;
            let now = resonanz_core::Clock::now(&resonanz_core::SystemClock);
            let report = resonanz_server::outbound::cleanup::run_once(&store, &settings, now).await;
            store.close().await;
            println!("{}", report?);
            Ok(())
        }
        Command::Bench(BenchCommand::Ingest { count, concurrency }) => {
            bench::bench_ingest(count, concurrency.max(1), Pipeline::shipped()).await
        }
        Command::Bench(BenchCommand::Webhooks(args)) => bench_webhooks::run(args).await,
        Command::Bench(BenchCommand::Api(args)) => bench_api::run(args).await,
        Command::Bench(BenchCommand::Import { count, batch }) => {
            bench::bench_import(count, batch.max(1), Pipeline::shipped()).await
        }
        Command::Train(_)
        | Command::Eval(_)
        | Command::Adapt(_)
        | Command::Bench(BenchCommand::Analysis(_)) => {
            unreachable!("handled before the runtime starts")
        }
    }
}

/// A bar over the raw log for `replay`, drawn only on a terminal.
fn replay_progress(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} raw events ({per_sec}, {eta} left)",
        )
        .expect("valid progress template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
