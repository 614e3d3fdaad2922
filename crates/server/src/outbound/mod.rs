//! Outbound: drafts are checked by the pure rules, stored in the outbox,
//! and delivered by the sender worker through the Graph API.
//!
//! Idempotency, end to end:
//! - the API stores each draft under an idempotency key (the client's
//!   `Idempotency-Key` header), so a retried POST never makes a second row;
//! - the worker claims a row atomically (`queued` → `sending`) before the
//!   API call, so two workers or nodes never send the same row;
//! - Meta has no idempotency key on sends, so a row whose call may have
//!   reached Meta but whose answer was lost (crash, timeout) is never sent
//!   again blindly. We send our outbox id as `biz_opaque_callback_data`;
//!   Meta echoes it in every status webhook, and those webhooks land in the
//!   raw log. Reconciliation looks for that echo (or our own logged
//!   receipt): found means sent, adopted with its wamid; not found after a
//!   grace period means `failed` with "outcome unknown" for the agent to
//!   check. At most once, never twice.

pub mod auth;
pub mod cleanup;
pub mod draft;
pub mod receipt;
pub mod worker;

use crate::app::AppState;
use crate::config::Settings;
use draft::DraftEnvelope;
use resonanz_channels::outbound::{GraphClient, GraphConfig, Secret};
use resonanz_channels::templates::Template;
use resonanz_core::event::DomainEvent;
use resonanz_core::rules::{
    Charge, OptOutKeywords, RuleViolation, SendContext, SendPermit, SendPolicy, charge, check_send,
};
use resonanz_core::{Channel, MessageKind, Timestamp};
use resonanz_store::{
    CachedTemplate, ConsentKind, ConsentRecord, ConversationInfo, OutboxError, Store,
};
use std::collections::HashMap;

pub use worker::SenderWorker;

/// The Graph client for a configured business account (WhatsApp phone
/// number id, page id or Instagram id), with that account's token.
pub fn graph_client(settings: &Settings, account: &str) -> anyhow::Result<GraphClient> {
    let token = settings
        .meta
        .whatsapp
        .iter()
        .find(|a| a.phone_number_id == account)
        .map(|a| a.access_token.expose())
        .or_else(|| {
            settings
                .meta
                .pages
                .iter()
                .find(|p| p.id == account)
                .map(|p| p.access_token.expose())
        })
        .ok_or_else(|| anyhow::anyhow!("no configured account {account}"))?;
    Ok(GraphClient::new(GraphConfig::new(
        settings.meta.graph_base_url.clone(),
        settings.meta.graph_api_version.clone(),
        Secret::new(token),
    ))?)
}

/// The WABA a WhatsApp phone number belongs to (templates live there).
pub fn waba_of<'a>(settings: &'a Settings, phone_number_id: &str) -> Option<&'a str> {
    settings
        .meta
        .whatsapp
        .iter()
        .find(|a| a.phone_number_id == phone_number_id)
        .map(|a| a.waba_id.as_str())
}

/// The BODY component's text of a template in Meta's JSON shape.
pub fn body_text(components: &[serde_json::Value]) -> Option<&str> {
    components
        .iter()
        .find(|c| {
            c.get("type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.eq_ignore_ascii_case("BODY"))
        })
        .and_then(|c| c.get("text"))
        .and_then(|t| t.as_str())
}

pub fn violation_error(violation: &RuleViolation) -> OutboxError {
    OutboxError {
        code: violation.code().to_owned(),
        de: violation.message_de(),
        en: violation.message_en(),
    }
}

/// Fetches every template of a WABA into the cache; returns how many.
pub async fn sync_templates(app: &AppState, waba_id: &str, account: &str) -> anyhow::Result<usize> {
    let client = graph_client(&app.settings, account)?;
    let templates = client.list_templates(waba_id).await?;
    let now = app.clock.now();
    for template in &templates {
        app.store
            .upsert_template(&cached(waba_id, template, now))
            .await?;
    }
    Ok(templates.len())
}

pub fn cached(waba_id: &str, template: &Template, now: Timestamp) -> CachedTemplate {
    CachedTemplate {
        waba_id: waba_id.to_owned(),
        name: template.name.clone(),
        language: template.language.clone(),
        template_id: Some(template.id.clone()),
        category: template.category,
        status: template.status.clone(),
        components: template.components.clone(),
        updated_at: now,
    }
}

/// The cached template a draft names; on a miss the cache is synced once
/// (a read, not a send) so a template approved a minute ago is found.
pub async fn template_for(
    app: &AppState,
    account: &str,
    name: &str,
    language: &str,
) -> anyhow::Result<Option<CachedTemplate>> {
    let Some(waba) = waba_of(&app.settings, account) else {
        return Ok(None);
    };
    if let Some(found) = app.store.template(waba, name, language).await? {
        return Ok(Some(found));
    }
    if let Err(err) = sync_templates(app, waba, account).await {
        tracing::warn!(error = %err, "template sync on cache miss failed");
        return Ok(None);
    }
    Ok(app.store.template(waba, name, language).await?)
}

/// The rule check for a draft on a conversation, with everything the
/// store knows now (window, consent, template state, policy).
pub async fn evaluate(
    app: &AppState,
    conversation: &ConversationInfo,
    envelope: &DraftEnvelope,
    now: Timestamp,
) -> anyhow::Result<Evaluation> {
    let template = match &envelope.draft {
        draft::Draft::Template { name, language, .. } => {
            template_for(app, &conversation.account, name, language).await?
        }
        _ => None,
    };
    let consent = app
        .store
        .consent(&conversation.contact_id, conversation.channel)
        .await?;
    let ctx = SendContext {
        channel: conversation.channel,
        last_inbound_at: conversation.last_inbound_at,
        consent,
        policy: SendPolicy {
            marketing_templates_allowed: app.settings.outbound.marketing_templates_allowed,
        },
        username_only: conversation.username_only(),
        free_entry_opened_at: conversation.free_entry_opened_at,
    };
    let kind = envelope.rule_kind(template.as_ref().map(|t| (t.status.clone(), t.category)));
    Ok(Evaluation {
        verdict: check_send(&ctx, &kind, now),
        charge: charge(&ctx, &kind, now),
        template,
    })
}

/// A draft's rule check, and what Meta would bill for it if sent now.
pub struct Evaluation {
    pub verdict: Result<SendPermit, RuleViolation>,
    pub charge: Charge,
    pub template: Option<CachedTemplate>,
}

const EVENTS_CURSOR: &str = "outbound.events";

/// Reads new domain events: a customer message that is exactly an opt-out
/// keyword records an opt-out (idempotent per message), and template status
/// webhooks update the cache. Runs before every rule check.
pub async fn catch_up(app: &AppState) -> anyhow::Result<()> {
    let store = &app.store;
    let keywords = OptOutKeywords::new(app.settings.outbound.opt_out_keywords.iter().cloned());
    let mut cursor = store.cursor(EVENTS_CURSOR).await?;
    if store.max_event_seq().await? < cursor {
        // A replay renumbered the events; records are idempotent, so start over.
        cursor = 0;
    }
    loop {
        let events = store.events_after(cursor, 500).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            break;
        };
        let mut texts: Vec<(&str, &str, Channel)> = Vec::new();
        for envelope in &events {
            match &envelope.event {
                DomainEvent::MessageReceived {
                    message_id,
                    contact_id,
                    channel,
                    kind: MessageKind::Text,
                    ..
                } => texts.push((message_id.as_str(), contact_id.as_str(), *channel)),
                DomainEvent::Unrecognized { raw_event_id, kind }
                    if kind == "whatsapp:message_template_status_update" =>
                {
                    for (item_kind, raw) in store.unrecognized_of(*raw_event_id).await? {
                        if item_kind != *kind {
                            continue;
                        }
                        if let Some(update) =
                            resonanz_channels::templates::parse_status_update(&raw)
                        {
                            store
                                .update_template_status(
                                    &update.template_id,
                                    &update.name,
                                    &update.language,
                                    &update.status,
                                    update.category.as_deref().and_then(|c| c.parse().ok()),
                                    app.clock.now(),
                                )
                                .await?;
                        }
                    }
                }
                _ => {}
            }
        }
        record_keyword_opt_outs(store, &keywords, &texts).await?;
        cursor = last;
        store.set_cursor(EVENTS_CURSOR, cursor).await?;
    }
    Ok(())
}

/// Records an opt-out for each of `messages` (id, contact, channel) whose
/// text is exactly a keyword. One query for all: most messages are long.
async fn record_keyword_opt_outs(
    store: &Store,
    keywords: &OptOutKeywords,
    messages: &[(&str, &str, Channel)],
) -> anyhow::Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = messages.iter().map(|(id, _, _)| *id).collect();
    let texts = store
        .short_message_texts(&ids, keywords.longest_match_chars())
        .await?;
    let texts: HashMap<&str, (&str, Timestamp)> = texts
        .iter()
        .map(|(id, body, at)| (id.as_str(), (body.as_str(), *at)))
        .collect();
    for (message_id, contact_id, channel) in messages {
        let Some((body, sent_at)) = texts.get(message_id) else {
            continue;
        };
        let Some(keyword) = keywords.matches(body) else {
            continue;
        };
        let fresh = store
            .record_consent(&ConsentRecord {
                contact_id: (*contact_id).to_owned(),
                channel: *channel,
                kind: ConsentKind::OptOut,
                source: "keyword".into(),
                recorded_by: "customer".into(),
                at: *sent_at,
                evidence: Some(keyword.to_owned()),
                origin: Some(format!("keyword:{message_id}")),
            })
            .await?;
        if fresh {
            tracing::info!(contact_id, channel = %channel, "opt-out keyword recorded");
        }
    }
    Ok(())
}
