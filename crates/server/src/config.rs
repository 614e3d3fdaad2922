//! Settings: built-in defaults, then a TOML file, then `RESONANZ_*`
//! environment variables (nested keys with `__`, e.g. `RESONANZ_META__APP_SECRET`).

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// A secret that never shows in logs or debug output.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "<unset>"
        } else {
            "<redacted>"
        })
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `sqlite://PATH` (embedded default) or `postgres://USER@HOST/DB`.
    pub database_url: String,
    /// Address the HTTP server binds to.
    pub listen: String,
    pub log_format: LogFormat,
    /// Largest webhook body accepted (Meta sends up to 3 MB).
    pub max_body_bytes: usize,
    /// SQLite: fsync on every commit so that an acknowledged webhook survives power loss.
    pub sqlite_sync_full: bool,
    /// SQLite: acknowledge a webhook once it is in the acceptance journal
    /// (an fsynced append-only file beside the database), which the store
    /// then applies in large commits; off, after a database commit.
    pub sqlite_accept_journal: bool,
    pub meta: MetaSettings,
    /// Inbound media downloads (`[media]`).
    pub media: MediaSettings,
    /// Outbox, sender worker and send rules (`[outbound]`).
    #[serde(default)]
    pub outbound: OutboundSettings,
    /// Response-time goals in business hours (`[sla]`).
    #[serde(default)]
    pub sla: SlaSettings,
    /// Automatic assignment (`[assignment]`).
    #[serde(default)]
    pub assignment: AssignmentSettings,
}

/// `[assignment]`: who takes a new conversation when nobody has.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssignmentSettings {
    /// Assign new and reopened conversations by round robin to online agents. Default `false`.
    pub auto: bool,
    /// An agent who holds this many unresolved conversations gets no more. Default 20.
    pub max_open_per_agent: i64,
    /// How often the assigner looks for new conversations. Default 1000 ms.
    pub poll_interval_ms: u64,
}

impl Default for AssignmentSettings {
    fn default() -> Self {
        Self {
            auto: false,
            max_open_per_agent: 20,
            poll_interval_ms: 1000,
        }
    }
}

/// `[sla]`: when the team works and how fast it answers.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaSettings {
    /// The Bundesland whose public holidays are closed (ISO code, e.g. `NW`). Default `NW`.
    pub land: resonanz_core::sla::Bundesland,
    /// Opening and closing time on workdays, German local time. Default `08:00`–`18:00`.
    pub opens: String,
    pub closes: String,
    /// Workdays. Default Monday to Friday.
    pub workdays: Vec<String>,
    /// First answer, in business minutes, per channel. Default WhatsApp 60, Messenger and Instagram 120.
    pub first_response_minutes: std::collections::BTreeMap<String, i64>,
    /// Each further answer. Default WhatsApp 120, Messenger and Instagram 240.
    pub next_response_minutes: std::collections::BTreeMap<String, i64>,
}

impl Default for SlaSettings {
    fn default() -> Self {
        let per_channel = |whatsapp, other| {
            [
                ("whatsapp", whatsapp),
                ("messenger", other),
                ("instagram", other),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        };
        Self {
            land: resonanz_core::sla::Bundesland::Nw,
            opens: "08:00".into(),
            closes: "18:00".into(),
            workdays: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            first_response_minutes: per_channel(60, 120),
            next_response_minutes: per_channel(120, 240),
        }
    }
}

fn minutes_of(text: &str) -> Option<u16> {
    let (hours, minutes) = text.trim().split_once(':')?;
    let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours <= 24 && minutes < 60 && hours * 60 + minutes <= 24 * 60).then_some(hours * 60 + minutes)
}

impl SlaSettings {
    /// The weekly calendar; `None` names what is wrong in the settings.
    pub fn calendar(&self) -> Result<resonanz_core::sla::BusinessCalendar, String> {
        let opens = minutes_of(&self.opens)
            .ok_or_else(|| format!("sla.opens {:?} is not HH:MM", self.opens))?;
        let closes = minutes_of(&self.closes)
            .ok_or_else(|| format!("sla.closes {:?} is not HH:MM", self.closes))?;
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let mut week = [None; 7];
        for day in &self.workdays {
            let index = DAYS
                .iter()
                .position(|d| d.eq_ignore_ascii_case(day.trim()))
                .ok_or_else(|| format!("sla.workdays: {day:?} is not one of {DAYS:?}"))?;
            week[index] = Some(resonanz_core::sla::Hours {
                open: opens,
                close: closes,
            });
        }
        Ok(resonanz_core::sla::BusinessCalendar {
            week,
            land: self.land,
        })
    }

    pub fn goals(&self, channel: &str) -> resonanz_core::sla::Goals {
        resonanz_core::sla::Goals {
            first_response_minutes: self.first_response_minutes.get(channel).copied(),
            next_response_minutes: self.next_response_minutes.get(channel).copied(),
        }
    }
}

/// `[outbound]`: how sends are checked, delivered and retried.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundSettings {
    /// MARKETING templates may be sent at all. Default `false`: brokers
    /// must not send promotion.
    pub marketing_templates_allowed: bool,
    /// Whole-message keywords that record an opt-out (case-insensitive).
    /// Default: STOP, Stopp, Abmelden, Abbestellen.
    pub opt_out_keywords: Vec<String>,
    /// How often the sender worker looks for due rows. Default 500 ms.
    pub poll_interval_ms: u64,
    /// Rows claimed per poll. Default 20.
    pub batch_size: i64,
    /// Attempts before a retryable failure becomes `failed`. Default 8.
    pub max_attempts: i64,
    /// First retry delay; doubles per attempt. Default 2000 ms.
    pub retry_base_ms: i64,
    /// Longest retry delay. Default 300000 ms (5 min).
    pub retry_max_ms: i64,
    /// A send whose outcome is unknown (crash or timeout mid-request) waits
    /// this long for a status webhook proving Meta accepted it; without one
    /// it is marked failed, never re-sent. Default 600 s.
    pub unknown_outcome_grace_secs: i64,
    /// Lifetime of a login session token. Default 12 h.
    pub session_ttl_hours: i64,
    /// Country code for national numbers in click-to-chat links. Default "49".
    pub default_country: String,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            marketing_templates_allowed: false,
            opt_out_keywords: ["STOP", "Stopp", "Abmelden", "Abbestellen"]
                .map(String::from)
                .to_vec(),
            poll_interval_ms: 500,
            batch_size: 20,
            max_attempts: 8,
            retry_base_ms: 2000,
            retry_max_ms: 300_000,
            unknown_outcome_grace_secs: 600,
            session_ttl_hours: 12,
            default_country: "49".into(),
        }
    }
}

/// Where inbound media goes and how failed downloads are retried.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSettings {
    /// Content-addressed blob store for downloaded files. Default `data/media`.
    pub dir: std::path::PathBuf,
    /// How often the worker looks for new and due downloads. Default 1000 ms.
    pub poll_interval_ms: u64,
    /// First retry delay, doubled per failed attempt. Default 2000 ms.
    pub retry_base_ms: u64,
    /// Longest delay between two attempts. Default 3600 s.
    pub retry_max_secs: u64,
    /// Downloads running at once. Default 4.
    pub concurrency: usize,
    /// Agents' uploads (`POST /api/media`) that no message uses are deleted
    /// this many days after they were last uploaded or named in a draft.
    /// Default 7; 0 keeps them for ever.
    pub upload_retention_days: u64,
    /// How often `serve` looks for such uploads. Default 3600 s.
    pub upload_cleanup_interval_secs: u64,
}

impl Default for MediaSettings {
    fn default() -> Self {
        Self {
            dir: "data/media".into(),
            poll_interval_ms: 1000,
            retry_base_ms: 2000,
            retry_max_secs: 3600,
            concurrency: 4,
            upload_retention_days: 7,
            upload_cleanup_interval_secs: 3600,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSettings {
    /// Graph API root; the simulator's URL in tests and the demo.
    pub graph_base_url: String,
    pub graph_api_version: String,
    /// App Secret that signs webhook bodies (X-Hub-Signature-256).
    pub app_secret: Secret,
    /// Token Meta echoes in the GET subscription handshake.
    pub verify_token: Secret,
    /// WhatsApp business numbers served by this installation.
    pub whatsapp: Vec<WhatsAppAccount>,
    /// Facebook pages (Messenger) and Instagram accounts.
    pub pages: Vec<PageAccount>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppAccount {
    pub phone_number_id: String,
    pub display_phone_number: String,
    pub waba_id: String,
    pub access_token: Secret,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PageAccount {
    /// Page id (Messenger) or Instagram account id.
    pub id: String,
    /// `messenger` or `instagram`.
    pub channel: String,
    pub access_token: Secret,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/resonanz.db".into(),
            listen: "127.0.0.1:8080".into(),
            log_format: LogFormat::Text,
            max_body_bytes: 3 * 1024 * 1024,
            sqlite_sync_full: true,
            sqlite_accept_journal: true,
            meta: MetaSettings::default(),
            media: MediaSettings::default(),
            outbound: OutboundSettings::default(),
            sla: SlaSettings::default(),
            assignment: AssignmentSettings::default(),
        }
    }
}

impl Default for MetaSettings {
    fn default() -> Self {
        Self {
            graph_base_url: "https://graph.facebook.com".into(),
            graph_api_version: "v23.0".into(),
            app_secret: Secret::default(),
            verify_token: Secret::default(),
            whatsapp: Vec::new(),
            pages: Vec::new(),
        }
    }
}

impl Settings {
    /// Defaults, then the TOML file (if given), then `RESONANZ_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            // RESONANZ_CONFIG names the file itself; RESONANZ_TEST_* belong to the test suite.
            .merge(
                Env::prefixed("RESONANZ_")
                    .filter(|key| {
                        key != "config" && !key.as_str().to_ascii_lowercase().starts_with("test_")
                    })
                    .split("__"),
            )
            .extract::<Settings>()
            .map_err(Box::new)
            .and_then(|settings| match settings.sla.calendar() {
                // A wrong opening time is a start-up error, not a wrong due time later.
                Ok(_) => Ok(settings),
                Err(problem) => Err(Box::new(figment::Error::from(problem))),
            })
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail API fixes the closure's error type
mod tests {
    use super::*;

    #[test]
    fn the_business_calendar_comes_from_the_settings_and_bad_hours_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "resonanz.toml",
                "[sla]\nland = \"BY\"\nopens = \"07:30\"\nworkdays = [\"mon\", \"sat\"]\n\n[sla.first_response_minutes]\nwhatsapp = 30\n",
            )?;
            let settings = Settings::load(Some(Path::new("resonanz.toml"))).unwrap();
            let calendar = settings.sla.calendar().unwrap();
            assert_eq!(calendar.land, resonanz_core::sla::Bundesland::By);
            assert_eq!(
                calendar.week[0],
                Some(resonanz_core::sla::Hours {
                    open: 450,
                    close: 1080
                })
            );
            assert!(calendar.week[1].is_none() && calendar.week[5].is_some());
            assert_eq!(
                settings.sla.goals("whatsapp").first_response_minutes,
                Some(30)
            );
            jail.create_file("bad.toml", "[sla]\nopens = \"8 Uhr\"\n")?;
            let error = Settings::load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(error.to_string().contains("sla.opens"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn file_and_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "resonanz.toml",
                r#"
                listen = "0.0.0.0:9000"
                [meta]
                app_secret = "from-file"
                [[meta.whatsapp]]
                phone_number_id = "106540352242922"
                display_phone_number = "4930123456789"
                waba_id = "102290129340398"
                access_token = "token"
                "#,
            )?;
            jail.set_env("RESONANZ_DATABASE_URL", "postgres://db/resonanz");
            jail.set_env("RESONANZ_META__APP_SECRET", "from-env");
            jail.set_env("RESONANZ_MEDIA__UPLOAD_RETENTION_DAYS", "30");
            // Variables that are not settings do not break loading.
            jail.set_env("RESONANZ_CONFIG", "resonanz.toml");
            jail.set_env("RESONANZ_TEST_PG_URL", "postgres://elsewhere/test");
            let settings = Settings::load(Some(Path::new("resonanz.toml"))).unwrap();
            assert_eq!(settings.listen, "0.0.0.0:9000");
            assert_eq!(settings.database_url, "postgres://db/resonanz");
            assert_eq!(settings.meta.app_secret.expose(), "from-env");
            assert_eq!(settings.meta.whatsapp[0].phone_number_id, "106540352242922");
            assert_eq!(settings.max_body_bytes, 3 * 1024 * 1024);
            assert_eq!(settings.media.dir, std::path::Path::new("data/media"));
            assert_eq!(settings.media.upload_retention_days, 30);
            assert_eq!(settings.media.upload_cleanup_interval_secs, 3600);
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let settings = Settings {
            meta: MetaSettings {
                app_secret: Secret::new("s3cr3t"),
                ..MetaSettings::default()
            },
            ..Settings::default()
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("s3cr3t"));
        assert!(printed.contains("<redacted>"));
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "listn = \"x\"")?;
            let err = Settings::load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(err.to_string().contains("listn"), "{err}");
            Ok(())
        });
    }
}
