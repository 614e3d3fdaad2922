//! Scripted customer conversations for tests and the demo.

use crate::inbound::{BatchLayout, InboundContent, InboundError, InboundRequest};
use crate::state::{Channel, Sim};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const SCENARIOS: &[&str] = &[
    "kfz_unfall",
    "dokument_anfrage",
    "opt_out",
    "beschwerde",
    "lob",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ScenarioParams {
    /// Sender; defaults to the scenario's own customer on that channel.
    pub from: Option<String>,
    pub channel: Option<Channel>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioStep {
    /// The message type delivered (`text`, `location`, `image`, …).
    pub r#type: String,
    pub message_id: String,
    /// Resonanz's answer to the webhook POST.
    pub http_status: Option<u16>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub name: String,
    pub channel: Channel,
    pub from: String,
    pub steps: Vec<ScenarioStep>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScenarioError {
    #[error("unknown scenario {0}; known: kfz_unfall, dokument_anfrage, opt_out, beschwerde, lob")]
    Unknown(String),
    #[error(transparent)]
    Inbound(#[from] InboundError),
}

fn text(t: &str) -> InboundContent {
    InboundContent::Text { text: t.into() }
}

/// The customer (index into the default list) and the messages of a scenario.
fn script(name: &str) -> Option<(usize, Vec<InboundContent>)> {
    let steps = match name {
        "kfz_unfall" => (
            1,
            vec![
                text(
                    "Hallo, ich hatte gerade einen Unfall mit meinem Auto. Jemand ist mir an der Ampel hinten aufgefahren. Verletzt ist niemand, aber die Stoßstange ist kaputt. Was muss ich jetzt tun?",
                ),
                InboundContent::Location {
                    latitude: 52.520008,
                    longitude: 13.404954,
                    name: Some("Unfallort".into()),
                    address: Some("Karl-Liebknecht-Straße 8, 10178 Berlin".into()),
                },
                InboundContent::Image {
                    caption: Some("Schaden an der Stoßstange".into()),
                },
                text(
                    "Mein Kennzeichen ist B-JM 4711, Versicherungsschein KFZ-2024-081547. Brauche ich einen Abschleppdienst?",
                ),
            ],
        ),
        "dokument_anfrage" => (
            2,
            vec![
                text(
                    "Guten Tag, könnten Sie mir bitte meinen Versicherungsschein für die Hausratversicherung als PDF schicken? Die Bank braucht ihn bis Freitag.",
                ),
                text("Die Vertragsnummer ist HR-2023-554120."),
            ],
        ),
        "opt_out" => (4, vec![text("STOPP")]),
        "beschwerde" => (
            5,
            vec![text(
                "Seit drei Wochen warte ich auf eine Rückmeldung zu meinem Wasserschaden! Die Hotline ist nie erreichbar, 45 Minuten Wartezeit und dann fliegt man raus. Wenn sich bis Montag niemand meldet, kündige ich und schreibe das überall öffentlich. 😡",
            )],
        ),
        "lob" => (
            6,
            vec![text(
                "Ganz herzlichen Dank! Die Auszahlung für meinen Fahrradschaden war schon nach zwei Tagen auf dem Konto. So unkompliziert hätte ich mir das nie vorgestellt 👍",
            )],
        ),
        _ => return None,
    };
    Some(steps)
}

fn type_name(c: &InboundContent) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Sim {
    pub(crate) async fn run_scenario(
        &self,
        name: &str,
        params: ScenarioParams,
    ) -> Result<ScenarioReport, ScenarioError> {
        let (customer_idx, steps) =
            script(name).ok_or_else(|| ScenarioError::Unknown(name.into()))?;
        let channel = params.channel.unwrap_or_default();
        let customer = self
            .config
            .known_customers
            .get(customer_idx)
            .or_else(|| self.config.known_customers.first());
        let from = params
            .from
            .or_else(|| {
                customer.and_then(|c| match channel {
                    Channel::Whatsapp => Some(c.wa_id.clone()),
                    Channel::Messenger => c.psid.clone(),
                    Channel::Instagram => c.igsid.clone(),
                })
            })
            .unwrap_or_else(|| "491709999999".into());
        let delay = Duration::from_millis(self.tunables().scenario_step_delay_ms);
        let mut report = ScenarioReport {
            name: name.into(),
            channel,
            from: from.clone(),
            steps: Vec::new(),
        };
        for (i, content) in steps.into_iter().enumerate() {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let ty = type_name(&content);
            let req = InboundRequest {
                channel,
                ..InboundRequest::whatsapp(&from, content)
            };
            let receipt = self
                .deliver_inbound(vec![req], BatchLayout::Messages)
                .await?;
            report.steps.push(ScenarioStep {
                r#type: ty,
                message_id: receipt.message_ids.first().cloned().unwrap_or_default(),
                http_status: receipt.deliveries.first().and_then(|d| d.http_status),
            });
        }
        Ok(report)
    }
}
