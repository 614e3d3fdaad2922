//! The sim's memory: clock, service windows, rate counters, logs, media and templates.

use crate::config::{SimConfig, Tunables};
use crate::media::{MediaItem, UploadRecord};
use crate::templates::Template;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, watch};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Whatsapp,
    Messenger,
    Instagram,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accepted,
    Rejected,
}

/// One call the business made to a send endpoint, with what the sim made of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentRecord {
    pub seq: u64,
    /// Sim clock, unix seconds.
    pub at: i64,
    pub channel: Channel,
    /// Phone number id, page id or IG id from the path.
    pub object_id: String,
    pub request: Value,
    pub http_status: u16,
    pub verdict: Verdict,
    pub error_code: Option<i64>,
    pub error_details: Option<String>,
    /// `wamid.…` / `m_…` when accepted.
    pub message_id: Option<String>,
    /// Normalised recipient (wa_id, PSID or IGSID).
    pub recipient: Option<String>,
    /// `text`, `template`, `read`, … for WhatsApp; `text`/`attachment`/`sender_action` otherwise.
    pub kind: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    Inbound,
    Status,
    TemplateStatus,
    /// Value-level `errors[]` without a message or status.
    Error,
}

/// One webhook POST the sim made (or tried to), and Resonanz's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookRecord {
    pub seq: u64,
    pub at: i64,
    pub kind: WebhookKind,
    pub channel: Channel,
    pub url: Option<String>,
    /// Exactly the bytes sent (ASCII only, since non-ASCII is escaped).
    pub body: String,
    pub signature: Option<String>,
    /// Status of the last attempt; `None` when no answer came.
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub error: Option<String>,
    /// True for the second copy of a deliberately duplicated delivery.
    pub duplicate: bool,
}

pub(crate) struct State {
    pub tunables: Tunables,
    pub clock_offset_secs: i64,
    /// (phone_number_id, wa_id or user_id) → unix secs of the last inbound message.
    pub wa_windows: HashMap<(String, String), i64>,
    /// (page or IG id, PSID/IGSID) → unix secs of the last inbound message.
    pub fb_windows: HashMap<(String, String), i64>,
    pub known_wa: HashSet<String>,
    pub known_scoped: HashSet<String>,
    pub rate: HashMap<String, VecDeque<Instant>>,
    /// (phone_number_id, wa_id) → recent sends, for the pair limit.
    pub pair_rate: HashMap<(String, String), VecDeque<Instant>>,
    pub sent: Vec<SentRecord>,
    pub webhooks: Vec<WebhookRecord>,
    pub media: HashMap<String, MediaItem>,
    /// Every call to the media upload endpoint, in order.
    pub uploads: Vec<UploadRecord>,
    pub templates: Vec<Template>,
    /// Inbound wamids delivered, for mark-as-read.
    pub inbound_ids: HashSet<String>,
    pub seq: u64,
}

pub(crate) struct Sim {
    pub config: SimConfig,
    pub base_url: String,
    pub http: reqwest::Client,
    state: Mutex<State>,
    in_flight: AtomicUsize,
    idle: Notify,
    shutdown: watch::Receiver<bool>,
}

impl Sim {
    pub fn new(config: SimConfig, base_url: String, shutdown: watch::Receiver<bool>) -> Self {
        let known_wa = config
            .known_customers
            .iter()
            .map(|c| c.wa_id.clone())
            .collect();
        let known_scoped = config
            .known_customers
            .iter()
            .flat_map(|c| c.psid.iter().chain(c.igsid.iter()).cloned())
            .collect();
        let state = State {
            tunables: config.tunables.clone(),
            clock_offset_secs: 0,
            wa_windows: HashMap::new(),
            fb_windows: HashMap::new(),
            known_wa,
            known_scoped,
            rate: HashMap::new(),
            pair_rate: HashMap::new(),
            sent: Vec::new(),
            webhooks: Vec::new(),
            media: HashMap::new(),
            uploads: Vec::new(),
            templates: crate::templates::seed(),
            inbound_ids: HashSet::new(),
            seq: 0,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            // The sim must only talk to the addresses it was given.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("reqwest client with a rustls provider installed");
        Self {
            config,
            base_url,
            http,
            state: Mutex::new(state),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            shutdown,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn tunables(&self) -> Tunables {
        self.lock().tunables.clone()
    }

    /// Sim clock in unix seconds: real time plus the test-controlled offset.
    pub fn now(&self) -> i64 {
        let offset = self.lock().clock_offset_secs;
        real_unix_ms() / 1000 + offset
    }

    pub fn now_ms(&self) -> i64 {
        let offset = self.lock().clock_offset_secs;
        real_unix_ms() + offset * 1000
    }

    pub fn next_seq(state: &mut State) -> u64 {
        state.seq += 1;
        state.seq
    }

    /// Runs `fut` in the background, counted for [`Sim::settle`] and cut off at shutdown.
    pub fn spawn_tracked<F>(self: &Arc<Self>, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let sim = Arc::clone(self);
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = fut => {}
                _ = shutdown.wait_for(|s| *s) => {}
            }
            if sim.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
                sim.idle.notify_waiters();
            }
        });
    }

    /// Waits until no background delivery is pending; false on timeout.
    pub async fn settle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.idle.notified();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.in_flight.load(Ordering::SeqCst) == 0;
            }
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

pub(crate) fn real_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A WhatsApp message id shaped like Meta's (base64 after `wamid.`).
pub(crate) fn new_wamid(wa_id: &str) -> String {
    crate::wire::wamid(wa_id, rand::rng().random())
}

pub(crate) fn new_numeric_id(digits: usize) -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(digits);
    s.push(char::from(b'1' + rng.random_range(0..9u8)));
    for _ in 1..digits {
        s.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    s
}

pub(crate) fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
