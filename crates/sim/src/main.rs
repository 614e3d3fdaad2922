use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use resonanz_sim::{SimConfig, TrafficConfig, WebhookTargets};

#[derive(Parser)]
#[command(
    name = "resonanz-sim",
    about = "Local stand-in for Meta's WhatsApp/Messenger/Instagram APIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Graph API subset and the /sim control API.
    Serve(Common),
    /// Serve, and keep sending realistic customer traffic to Resonanz until Ctrl-C.
    Run {
        #[command(flatten)]
        common: Common,
        /// Inbound messages per second.
        #[arg(long, default_value_t = 1.0)]
        rate: f64,
        /// Stop after this many messages.
        #[arg(long)]
        max: Option<u64>,
        #[arg(long)]
        seed: Option<u64>,
    },
}

#[derive(Args)]
struct Common {
    /// Resonanz base URL (webhooks go to /webhooks/{whatsapp,messenger,instagram}) or,
    /// with a path, the WhatsApp webhook URL itself.
    #[arg(
        long,
        env = "RESONANZ_SIM_TARGET",
        default_value = "http://127.0.0.1:8080"
    )]
    target: String,
    #[arg(long)]
    whatsapp_url: Option<String>,
    #[arg(long)]
    messenger_url: Option<String>,
    #[arg(long)]
    instagram_url: Option<String>,
    #[arg(
        long,
        env = "RESONANZ_SIM_APP_SECRET",
        default_value = "sim-app-secret"
    )]
    app_secret: String,
    #[arg(
        long,
        env = "RESONANZ_SIM_VERIFY_TOKEN",
        default_value = "sim-verify-token"
    )]
    verify_token: String,
    #[arg(
        long,
        env = "RESONANZ_SIM_ACCESS_TOKEN",
        default_value = "sim-access-token"
    )]
    access_token: String,
    /// Where the simulator listens.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    /// Pin the Graph version in paths (default: accept any vNN.N).
    #[arg(long)]
    api_version: Option<String>,
    /// Outbound messages per second per number before 130429.
    #[arg(long, default_value_t = 80)]
    rate_limit: u32,
    /// Delay before each status webhook, in milliseconds.
    #[arg(long, default_value_t = 800)]
    status_delay_ms: u64,
}

impl Common {
    fn config(&self) -> SimConfig {
        let base = self.target.trim_end_matches('/');
        let has_path = base.splitn(4, '/').nth(3).is_some_and(|p| !p.is_empty());
        let default = |channel: &str| {
            if has_path {
                base.to_owned()
            } else {
                format!("{base}/webhooks/{channel}")
            }
        };
        let mut c = SimConfig::new(&self.app_secret, &self.verify_token, &self.access_token);
        c.webhook_targets = WebhookTargets {
            whatsapp_url: Some(
                self.whatsapp_url
                    .clone()
                    .unwrap_or_else(|| default("whatsapp")),
            ),
            messenger_url: Some(
                self.messenger_url
                    .clone()
                    .unwrap_or_else(|| default("messenger")),
            ),
            instagram_url: Some(
                self.instagram_url
                    .clone()
                    .unwrap_or_else(|| default("instagram")),
            ),
        };
        c.api_version = self.api_version.clone();
        c.tunables.rate_limit_per_sec = self.rate_limit;
        c.tunables.status_delay_ms = self.status_delay_ms;
        c.tunables.template_review_delay_ms = 5_000;
        c
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let (common, traffic) = match cli.command {
        Command::Serve(c) => (c, None),
        Command::Run {
            common,
            rate,
            max,
            seed,
        } => (
            common,
            Some(TrafficConfig {
                rate_per_sec: rate,
                max_messages: max,
                seed,
                other_channels: true,
            }),
        ),
    };
    let listener = tokio::net::TcpListener::bind(&common.listen)
        .await
        .with_context(|| format!("could not listen on {}", common.listen))?;
    let sim = resonanz_sim::start(common.config(), listener)
        .await
        .context("could not start the simulator")?;
    tracing::info!(graph = %sim.graph_url(), targets = ?sim.config().webhook_targets, "simulator up");
    match traffic {
        Some(t) => {
            let stats = resonanz_sim::run_traffic(&sim, t, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await;
            tracing::info!(
                messages = stats.messages,
                failed = stats.failed,
                "traffic stopped"
            );
        }
        None => {
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
        }
    }
    sim.shutdown().await;
    Ok(())
}
