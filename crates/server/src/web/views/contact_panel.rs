//! The contact beside a conversation: who they are on every channel, their
//! consent, their other conversations and what they wrote lately anywhere.

use super::channel_names;
use super::inbox::{preview, store_failed};
use crate::app::AppState;
use crate::web::format;
use crate::web::i18n::Texts;
use axum::response::Response;
use resonanz_core::{Direction, Timestamp};
use resonanz_store::{ContactRow, ConversationFilter};

/// Recent messages shown, over all channels.
const RECENT: i64 = 5;

#[derive(Clone, Debug)]
pub struct IdentityLine {
    pub kind: String,
    pub value: String,
}

#[derive(Clone, Debug)]
pub struct OtherConversation {
    pub id: String,
    pub channel: String,
    pub channel_short: &'static str,
    pub status_label: String,
    pub last: String,
}

#[derive(Clone, Debug)]
pub struct RecentLine {
    pub channel: String,
    pub channel_short: &'static str,
    pub outbound: bool,
    pub text: String,
    pub time_label: String,
}

#[derive(Clone, Debug)]
pub struct ContactPanel {
    pub identities: Vec<IdentityLine>,
    pub consent_label: String,
    pub others: Vec<OtherConversation>,
    pub recent: Vec<RecentLine>,
}

pub async fn load(
    app: &AppState,
    t: &Texts,
    contact: Option<&ContactRow>,
    contact_id: &str,
    conversation_id: &str,
    consent_label: String,
) -> Result<ContactPanel, Response> {
    let now = app.clock.now();
    let filter = ConversationFilter {
        contact_id: Some(contact_id),
        now: now.0,
        ..ConversationFilter::default()
    };
    let (conversations, messages) = tokio::try_join!(
        app.store.conversations(50, &filter),
        app.store.contact_messages(contact_id, RECENT, None),
    )
    .map_err(store_failed)?;
    let identities = contact
        .map(|c| {
            c.identities
                .iter()
                .map(|i| IdentityLine {
                    kind: t.key("identity-", i.kind.as_str()),
                    value: i.value.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let others = conversations
        .iter()
        .filter(|c| c.id != conversation_id)
        .map(|c| OtherConversation {
            id: c.id.clone(),
            channel: c.channel.clone(),
            channel_short: channel_names(&c.channel).1,
            status_label: t.key("status-", &c.status),
            last: format::short(Timestamp(c.last_message_at), now),
        })
        .collect();
    let recent = messages
        .iter()
        .map(|m| RecentLine {
            channel: m.channel.clone(),
            channel_short: channel_names(&m.channel).1,
            outbound: m.direction == Direction::Outbound.as_str(),
            text: match m.body.as_deref().filter(|b| !b.trim().is_empty()) {
                Some(body) => preview(body),
                None => t.key("kind-", &m.kind),
            },
            time_label: format::short(Timestamp(m.sent_at), now),
        })
        .collect();
    Ok(ContactPanel {
        identities,
        consent_label,
        others,
        recent,
    })
}
