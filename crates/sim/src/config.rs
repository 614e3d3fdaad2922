//! Startup configuration and the knobs tests may turn at run time.

use serde::{Deserialize, Serialize};

/// Where the sim delivers webhooks. Only these addresses are ever contacted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookTargets {
    pub whatsapp_url: Option<String>,
    pub messenger_url: Option<String>,
    pub instagram_url: Option<String>,
}

/// How synchronous-or-not Meta is about per-recipient failures (131047, 131026).
/// Meta does both, so Resonanz must handle both.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// HTTP 400 with the Graph error body.
    #[default]
    Sync,
    /// HTTP 200 with a wamid, then a `status:"failed"` webhook.
    Async,
}

/// How webhooks are signed; the non-valid modes exist to test Resonanz's rejection path.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignatureMode {
    #[default]
    Valid,
    Wrong,
    Missing,
}

/// Settings that `POST /sim/config` may change while the sim runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Tunables {
    /// Outbound messages per second per business number before 130429.
    pub rate_limit_per_sec: u32,
    /// Pause before each status webhook (sent, delivered, read).
    pub status_delay_ms: u64,
    /// Deliver every status webhook twice with identical bytes.
    pub duplicate_statuses: bool,
    /// Deliver statuses as sent, read, delivered.
    pub out_of_order_statuses: bool,
    /// Customers with read receipts off never produce `read`.
    pub read_receipts: bool,
    pub failure_mode: FailureMode,
    pub signature: SignatureMode,
    /// Pause before a created template is reviewed.
    pub template_review_delay_ms: u64,
    /// Inbound media webhooks carry `url` (rolled out since 2025-11); off tests the
    /// `GET /{media_id}` fallback.
    pub include_media_url: bool,
    /// Without `+`, Meta prepends the business number's country code to `to`.
    pub strict_plus: bool,
    /// Retries after a non-200 webhook answer (Meta retries; bounded here).
    pub webhook_retries: u32,
    pub webhook_retry_delay_ms: u64,
    /// Pause between the steps of a scenario.
    pub scenario_step_delay_ms: u64,
    /// Messenger/Instagram sends come back as `is_echo` events.
    pub echoes: bool,
    /// All statuses of one send in a single POST instead of one POST each.
    pub batch_statuses: bool,
    /// Messages per minute to one recipient before 131056 (pair rate limit); 0 = off.
    pub pair_rate_limit_per_min: u32,
    /// The next N media downloads answer 503, to test download retries.
    pub media_failures: u32,
    /// The next N media uploads answer 503 (Graph code 2), to test upload retries.
    pub upload_failures: u32,
}

impl Default for Tunables {
    fn default() -> Self {
        Self {
            rate_limit_per_sec: 80,
            status_delay_ms: 50,
            duplicate_statuses: false,
            out_of_order_statuses: false,
            read_receipts: true,
            failure_mode: FailureMode::Sync,
            signature: SignatureMode::Valid,
            template_review_delay_ms: 100,
            include_media_url: true,
            strict_plus: true,
            webhook_retries: 2,
            webhook_retry_delay_ms: 100,
            scenario_step_delay_ms: 0,
            echoes: true,
            batch_statuses: false,
            pair_rate_limit_per_min: 0,
            media_failures: 0,
            upload_failures: 0,
        }
    }
}

/// A customer the sim knows: a WhatsApp number, optionally with a Messenger PSID and an
/// Instagram IGSID, so one person can be reached on several channels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Customer {
    pub name: String,
    /// Digits only, e.g. `491701234567`.
    pub wa_id: String,
    pub psid: Option<String>,
    pub igsid: Option<String>,
}

impl Customer {
    pub fn new(name: &str, wa_id: &str) -> Self {
        Self {
            name: name.to_owned(),
            wa_id: wa_id.to_owned(),
            psid: None,
            igsid: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimConfig {
    pub app_secret: String,
    pub verify_token: String,
    /// Bearer token every Graph call must carry.
    pub access_token: String,
    pub webhook_targets: WebhookTargets,
    /// `Some("v23.0")` pins the version in paths; `None` accepts any `vNN.N`.
    pub api_version: Option<String>,
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub waba_id: String,
    /// Meta app id, carried by Messenger/Instagram echoes.
    pub app_id: String,
    pub page_id: String,
    pub ig_id: String,
    pub known_customers: Vec<Customer>,
    pub tunables: Tunables,
}

impl SimConfig {
    /// A config with the seed data of the docs' examples and the given secrets.
    pub fn new(app_secret: &str, verify_token: &str, access_token: &str) -> Self {
        Self {
            app_secret: app_secret.to_owned(),
            verify_token: verify_token.to_owned(),
            access_token: access_token.to_owned(),
            webhook_targets: WebhookTargets::default(),
            api_version: None,
            phone_number_id: "106540352242922".into(),
            display_phone_number: "4930123456789".into(),
            waba_id: "102290129340398".into(),
            app_id: "1660302834210975".into(),
            page_id: "104488245203118".into(),
            ig_id: "17841405822304914".into(),
            known_customers: default_customers(),
            tunables: Tunables::default(),
        }
    }

    /// Country calling code of the business number (for `to` without `+`).
    pub(crate) fn business_country_code(&self) -> &str {
        let d = &self.display_phone_number;
        // Good enough for the markets the sim plays: 1, 7 and two-digit codes.
        if d.starts_with('1') || d.starts_with('7') {
            &d[..1]
        } else {
            &d[..2.min(d.len())]
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::new("sim-app-secret", "sim-verify-token", "sim-access-token")
    }
}

fn default_customers() -> Vec<Customer> {
    let rows = [
        (
            "Anna Keller",
            "491701234567",
            "7105448321",
            "17841400000000001",
        ),
        (
            "Jürgen Müller",
            "491712345678",
            "7105448322",
            "17841400000000002",
        ),
        (
            "Sabine Schäfer",
            "491523456789",
            "7105448323",
            "17841400000000003",
        ),
        (
            "Mehmet Yılmaz",
            "491604567890",
            "7105448324",
            "17841400000000004",
        ),
        (
            "Katrin Weiß",
            "491765678901",
            "7105448325",
            "17841400000000005",
        ),
        (
            "Thomas Becker",
            "491626789012",
            "7105448326",
            "17841400000000006",
        ),
        (
            "Lena Hoffmann",
            "491577890123",
            "7105448327",
            "17841400000000007",
        ),
        (
            "Stefan Groß",
            "491738901234",
            "7105448328",
            "17841400000000008",
        ),
        (
            "Olga Nowak",
            "491519012345",
            "7105448329",
            "17841400000000009",
        ),
        (
            "Peter Schulz",
            "491630123456",
            "7105448330",
            "17841400000000010",
        ),
    ];
    rows.iter()
        .map(|(name, wa, psid, igsid)| Customer {
            name: (*name).into(),
            wa_id: (*wa).into(),
            psid: Some((*psid).into()),
            igsid: Some((*igsid).into()),
        })
        .collect()
}
