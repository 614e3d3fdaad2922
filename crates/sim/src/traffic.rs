//! Endless-but-stoppable realistic customer traffic for `resonanz demo`.

use crate::SimHandle;
use crate::inbound::{BatchLayout, InboundContent, InboundRequest};
use crate::state::Channel;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrafficConfig {
    /// Inbound messages per second (may be fractional, e.g. 0.5).
    pub rate_per_sec: f64,
    /// Stop after this many messages even if not stopped.
    pub max_messages: Option<u64>,
    /// Fixed seed for reproducible traffic.
    pub seed: Option<u64>,
    /// Also write on Messenger and Instagram (only if their targets are configured).
    pub other_channels: bool,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            rate_per_sec: 1.0,
            max_messages: None,
            seed: None,
            other_channels: true,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrafficStats {
    pub messages: u64,
    /// Deliveries Resonanz did not answer with 200.
    pub failed: u64,
}

const POSITIVE: &[&str] = &[
    "Vielen Dank für die schnelle Auszahlung, das Geld ist schon da!",
    "Super Service, die Schadenmeldung über die App hat keine fünf Minuten gedauert.",
    "Die Dame an der Hotline war sehr freundlich und kompetent. Danke!",
    "Top, mein Beitrag ist nach dem Tarifwechsel sogar gesunken 👍",
    "Danke für die Erinnerung an die Frist, hätte ich fast vergessen.",
    "Kulanzregelung für meinen Glasschaden – damit hatte ich nicht gerechnet. Herzlichen Dank!",
];
const NEUTRAL: &[&str] = &[
    "Guten Tag, wie kann ich meine Bankverbindung für den Beitrag ändern?",
    "Ich möchte einen Wasserschaden in meiner Küche melden. Was brauchen Sie von mir?",
    "Wann wird mein Beitrag für die Kfz-Versicherung dieses Jahr abgebucht?",
    "Können Sie mir die Versicherungsbestätigung für meinen Vermieter schicken?",
    "Wie lange ist die Kündigungsfrist bei meiner Hausratversicherung?",
    "Ich ziehe um. Muss ich die neue Adresse auch für die Haftpflicht melden?",
    "Gibt es die Police auch als PDF in der App?",
    "Ist mein Fahrrad über die Hausrat mitversichert, wenn es vor der Tür steht?",
    "Wo finde ich in der App den Stand meiner Schadenmeldung?",
    "Hallo, ich hätte gern einen Rückruf wegen meiner Zahnzusatzversicherung.",
];
const NEGATIVE: &[&str] = &[
    "Seit Wochen keine Antwort auf meine Schadenmeldung. So geht das nicht!",
    "Die Wartezeit an der Hotline ist eine Zumutung, 40 Minuten in der Schleife.",
    "Ihr habt meinen Beitrag schon wieder erhöht, ich denke über eine Kündigung nach.",
    "Die App stürzt beim Hochladen der Fotos jedes Mal ab 😠",
    "Wann kommt endlich die Auszahlung? Ich warte seit einem Monat.",
    "Der Gutachter kam nicht zum vereinbarten Termin. Sehr ärgerlich.",
];

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

/// Produces traffic through `sim` (so service windows open for Resonanz's replies) until
/// `stop` resolves or `max_messages` is reached.
pub async fn run_traffic(
    sim: &SimHandle,
    config: TrafficConfig,
    stop: impl Future<Output = ()>,
) -> TrafficStats {
    let mut rng = match config.seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_rng(&mut rand::rng()),
    };
    let period = Duration::from_secs_f64(1.0 / config.rate_per_sec.clamp(0.01, 1000.0));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let customers = sim.sim.config.known_customers.clone();
    let targets = sim.sim.config.webhook_targets.clone();
    let mut stats = TrafficStats::default();
    tokio::pin!(stop);
    loop {
        if config.max_messages.is_some_and(|m| stats.messages >= m) || customers.is_empty() {
            break;
        }
        tokio::select! {
            () = &mut stop => break,
            _ = ticker.tick() => {}
        }
        let req = next_message(&mut rng, &customers, &targets, config.other_channels);
        let ok = match sim
            .sim
            .deliver_inbound(vec![req], BatchLayout::Messages)
            .await
        {
            Ok(r) => r.deliveries.iter().all(|d| d.http_status == Some(200)),
            Err(e) => {
                tracing::warn!(error = %e, "traffic message not built");
                false
            }
        };
        stats.messages += 1;
        if !ok {
            stats.failed += 1;
        }
    }
    stats
}

fn next_message(
    rng: &mut StdRng,
    customers: &[crate::config::Customer],
    targets: &crate::config::WebhookTargets,
    other_channels: bool,
) -> InboundRequest {
    let c = &customers[rng.random_range(0..customers.len())];
    let roll: f64 = rng.random();
    let channel = if other_channels
        && roll < 0.12
        && (targets.messenger_url.is_some())
        && c.psid.is_some()
    {
        Channel::Messenger
    } else if other_channels && roll < 0.2 && targets.instagram_url.is_some() && c.igsid.is_some() {
        Channel::Instagram
    } else {
        Channel::Whatsapp
    };
    let from = match channel {
        Channel::Whatsapp => c.wa_id.clone(),
        Channel::Messenger => c.psid.clone().unwrap_or_default(),
        Channel::Instagram => c.igsid.clone().unwrap_or_default(),
    };
    let mood: f64 = rng.random();
    let content = match rng.random_range(0..20) {
        0 if channel == Channel::Whatsapp => InboundContent::Location {
            latitude: 48.137154 + rng.random_range(-0.05..0.05),
            longitude: 11.576124 + rng.random_range(-0.05..0.05),
            name: Some("Unfallort".into()),
            address: None,
        },
        1 => InboundContent::Image {
            caption: Some("Foto vom Schaden".into()),
        },
        _ => {
            let list = if mood < 0.25 {
                POSITIVE
            } else if mood < 0.7 {
                NEUTRAL
            } else {
                NEGATIVE
            };
            InboundContent::Text {
                text: pick(rng, list).into(),
            }
        }
    };
    InboundRequest {
        channel,
        name: Some(c.name.clone()),
        ..InboundRequest::whatsapp(&from, content)
    }
}
