//! Prometheus metrics, served at `/metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Mutex;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Mutex<Registry>,
    webhooks: Family<Labels, Counter>,
    ack_seconds: Histogram,
    accept_backlog: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("resonanz");
        let webhooks = Family::<Labels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by channel and outcome (stored, duplicate, bad_signature, malformed, too_large, store_error); journaled ones count when stored",
            webhooks.clone(),
        );
        let ack_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "webhook_ack_seconds",
            "Time from receiving a webhook to acknowledging it after the durable commit",
            ack_seconds.clone(),
        );
        let accept_backlog = Gauge::default();
        registry.register(
            "webhook_backlog",
            "Webhooks acknowledged from the acceptance journal and not yet in the raw log",
            accept_backlog.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            webhooks,
            ack_seconds,
            accept_backlog,
        }
    }

    pub fn webhook(&self, channel: &str, outcome: &str) {
        self.webhooks
            .get_or_create(&vec![
                ("channel".to_owned(), channel.to_owned()),
                ("outcome".to_owned(), outcome.to_owned()),
            ])
            .inc();
    }

    pub fn webhook_count(&self, channel: &str, outcome: &str) -> u64 {
        self.webhooks
            .get_or_create(&vec![
                ("channel".to_owned(), channel.to_owned()),
                ("outcome".to_owned(), outcome.to_owned()),
            ])
            .get()
    }

    pub fn set_accept_backlog(&self, raw_events: usize) {
        self.accept_backlog
            .set(i64::try_from(raw_events).unwrap_or(i64::MAX));
    }

    pub fn observe_ack(&self, seconds: f64) {
        self.ack_seconds.observe(seconds);
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        let registry = self.registry.lock().expect("metrics registry lock");
        encode(&mut text, &registry).expect("writing to a String cannot fail");
        text
    }
}
