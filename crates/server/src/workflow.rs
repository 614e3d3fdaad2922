//! The team workflow on a conversation — status, snooze, assignment and
//! internal notes with @mentions — for the JSON API and the web app alike,
//! each change audited and kept in the conversation's history.

use crate::accounts;
use crate::app::AppState;
use resonanz_core::analysis::Sentiment;
use resonanz_core::{ConversationStatus, Direction, Timestamp};
use resonanz_store::{Actor, AgentRow, AgentSummary, Correction, Role, StoreError};

/// The longest internal note.
pub const MAX_NOTE_CHARS: usize = 4000;

#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("no conversation {0}")]
    NoConversation(String),
    #[error("no agent {0}")]
    NoAgent(String),
    #[error("a snooze needs a time in the future")]
    SnoozeNeedsFuture,
    #[error("the note is empty or longer than {MAX_NOTE_CHARS} characters")]
    BadNote,
    #[error("an analyst reads but changes nothing")]
    ReadOnly,
    #[error("no message {0}")]
    NoMessage(String),
    #[error("only a customer's message has a sentiment to correct")]
    NotFromCustomer,
    #[error("a canned reply needs a title (up to 100 characters) and a text (up to 4096)")]
    BadCanned,
    #[error("only its author or an admin may delete a canned reply")]
    NotYours,
    #[error("no canned reply {0}")]
    NoCanned(i64),
    #[error("availability must be online, away or offline")]
    BadAvailability,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WorkflowError {
    pub fn message_de(&self) -> String {
        match self {
            WorkflowError::NoConversation(_) => "Diese Unterhaltung gibt es nicht.".into(),
            WorkflowError::NoAgent(name) => format!("Es gibt keine Person „{name}“ im Team."),
            WorkflowError::SnoozeNeedsFuture => {
                "Zum Zurückstellen bitte einen Zeitpunkt in der Zukunft wählen.".into()
            }
            WorkflowError::BadNote => {
                format!("Die Notiz ist leer oder länger als {MAX_NOTE_CHARS} Zeichen.")
            }
            WorkflowError::ReadOnly => "Ihre Rolle erlaubt nur das Lesen.".into(),
            WorkflowError::NoMessage(_) => "Diese Nachricht gibt es nicht.".into(),
            WorkflowError::NoCanned(_) => "Diesen Textbaustein gibt es nicht.".into(),
            WorkflowError::BadAvailability => {
                "Verfügbarkeit muss online, abwesend (away) oder offline sein.".into()
            }
            WorkflowError::BadCanned => {
                "Ein Textbaustein braucht einen Titel (bis 100 Zeichen) und einen Text (bis 4096).".into()
            }
            WorkflowError::NotYours => {
                "Nur wer ihn angelegt hat oder eine Administratorin darf einen Textbaustein löschen.".into()
            }
            WorkflowError::NotFromCustomer => {
                "Nur die Stimmung einer Kundennachricht lässt sich korrigieren.".into()
            }
            WorkflowError::Store(_) => "Die Datenbank ist nicht erreichbar.".into(),
        }
    }

    pub fn message_en(&self) -> String {
        match self {
            WorkflowError::Store(_) => "The database is unavailable.".into(),
            other => {
                let text = other.to_string();
                let mut chars = text.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
                    None => text,
                }
            }
        }
    }
}

fn actor(agent: &AgentRow, now: Timestamp) -> Actor<'_> {
    Actor {
        agent_id: &agent.id,
        agent_name: &agent.name,
        now,
    }
}

async fn check(
    app: &AppState,
    agent: &AgentRow,
    conversation_id: &str,
) -> Result<(), WorkflowError> {
    if agent.role == Role::Analyst {
        return Err(WorkflowError::ReadOnly);
    }
    match app.store.conversation_info(conversation_id).await? {
        Some(_) => Ok(()),
        None => Err(WorkflowError::NoConversation(conversation_id.to_owned())),
    }
}

pub async fn set_status(
    app: &AppState,
    agent: &AgentRow,
    conversation_id: &str,
    status: ConversationStatus,
    snoozed_until: Option<Timestamp>,
    address: &str,
) -> Result<(), WorkflowError> {
    check(app, agent, conversation_id).await?;
    let now = app.clock.now();
    if status == ConversationStatus::Snoozed && snoozed_until.is_none_or(|until| until <= now) {
        return Err(WorkflowError::SnoozeNeedsFuture);
    }
    app.store
        .set_conversation_status(conversation_id, status, snoozed_until, actor(agent, now))
        .await?;
    let detail = match snoozed_until.filter(|_| status == ConversationStatus::Snoozed) {
        Some(until) => format!("{} until {}", status.as_str(), until.to_rfc3339()),
        None => status.as_str().to_owned(),
    };
    accounts::audit(
        app,
        Some(agent),
        None,
        "status",
        Some(conversation_id),
        &detail,
        address,
    )
    .await;
    Ok(())
}

/// Assigns to the agent named by id (`None`: nobody).
pub async fn assign(
    app: &AppState,
    agent: &AgentRow,
    conversation_id: &str,
    assignee_id: Option<&str>,
    address: &str,
) -> Result<(), WorkflowError> {
    check(app, agent, conversation_id).await?;
    let assignee = match assignee_id {
        Some(id) => {
            let team = app.store.agents().await?;
            let found = team
                .into_iter()
                .find(|a| a.id == id && a.role != Role::Analyst.as_str());
            Some(found.ok_or_else(|| WorkflowError::NoAgent(id.to_owned()))?)
        }
        None => None,
    };
    let now = app.clock.now();
    app.store
        .assign_conversation(conversation_id, assignee.as_ref(), actor(agent, now))
        .await?;
    let detail = assignee
        .as_ref()
        .map(|a| a.name.as_str())
        .unwrap_or("nobody");
    accounts::audit(
        app,
        Some(agent),
        None,
        "assign",
        Some(conversation_id),
        detail,
        address,
    )
    .await;
    Ok(())
}

/// The agents a note names with `@name` (each once, any case).
pub fn mentioned<'a>(body: &str, team: &'a [AgentSummary]) -> Vec<&'a AgentSummary> {
    let mut found: Vec<&AgentSummary> = Vec::new();
    for word in body
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '!' | '?' | '(' | ')'))
    {
        let Some(name) = word.strip_prefix('@') else {
            continue;
        };
        let name = name.trim_end_matches('.');
        if let Some(agent) = team.iter().find(|a| a.name.eq_ignore_ascii_case(name))
            && !found.iter().any(|f| f.id == agent.id)
        {
            found.push(agent);
        }
    }
    found
}

/// An internal note; the agents it @mentions are notified. Returns its id.
pub async fn add_note(
    app: &AppState,
    agent: &AgentRow,
    conversation_id: &str,
    body: &str,
    address: &str,
) -> Result<i64, WorkflowError> {
    check(app, agent, conversation_id).await?;
    let body = body.trim();
    if body.is_empty() || body.chars().count() > MAX_NOTE_CHARS {
        return Err(WorkflowError::BadNote);
    }
    let team = app.store.agents().await?;
    let mentioned: Vec<AgentSummary> = mentioned(body, &team).into_iter().cloned().collect();
    let now = app.clock.now();
    let id = app
        .store
        .add_note(conversation_id, body, &mentioned, actor(agent, now))
        .await?;
    let names: Vec<&str> = mentioned.iter().map(|a| a.name.as_str()).collect();
    let detail = format!("note {id}, mentions: {}", names.join(", "));
    accounts::audit(
        app,
        Some(agent),
        None,
        "note",
        Some(conversation_id),
        &detail,
        address,
    )
    .await;
    Ok(id)
}

/// An agent sets the sentiment of a customer's message; the model's (or
/// the last correction's) value is kept as `old`, and the text becomes
/// labelled data for `resonanz train sentiment --team-corrections`.
pub async fn correct_sentiment(
    app: &AppState,
    agent: &AgentRow,
    message_id: &str,
    sentiment: Sentiment,
    address: &str,
) -> Result<(), WorkflowError> {
    if agent.role == Role::Analyst {
        return Err(WorkflowError::ReadOnly);
    }
    let message = app
        .store
        .message_ref(message_id)
        .await?
        .ok_or_else(|| WorkflowError::NoMessage(message_id.to_owned()))?;
    if message.direction != Direction::Inbound.as_str() {
        return Err(WorkflowError::NotFromCustomer);
    }
    let corrected = app
        .store
        .corrections_in(&message.conversation_id, "sentiment")
        .await?
        .into_iter()
        .find(|c| c.message_id == message_id)
        .map(|c| c.value);
    let modelled = app
        .store
        .message_by_external_id(message.channel.as_str(), &message.external_id)
        .await?
        .and_then(|m| m.analysis)
        .map(|a| a.sentiment.as_str().to_owned());
    let old = corrected.or(modelled);
    if old.as_deref() == Some(sentiment.as_str()) {
        return Ok(());
    }
    let now = app.clock.now();
    app.store
        .correct_analysis(
            &Correction {
                message_id,
                conversation_id: &message.conversation_id,
                field: "sentiment",
                old_value: old.as_deref(),
                new_value: sentiment.as_str(),
            },
            actor(agent, now),
        )
        .await?;
    let detail = format!(
        "{message_id}: sentiment {} → {}",
        old.as_deref().unwrap_or("–"),
        sentiment.as_str()
    );
    accounts::audit(
        app,
        Some(agent),
        None,
        "correction",
        Some(&message.conversation_id),
        &detail,
        address,
    )
    .await;
    Ok(())
}

/// Online agents receive new conversations when automatic assignment is on.
pub async fn set_availability(
    app: &AppState,
    agent: &AgentRow,
    availability: &str,
    address: &str,
) -> Result<(), WorkflowError> {
    if agent.role == Role::Analyst {
        return Err(WorkflowError::ReadOnly);
    }
    if !matches!(availability, "online" | "away" | "offline") {
        return Err(WorkflowError::BadAvailability);
    }
    app.store.set_availability(&agent.id, availability).await?;
    accounts::audit(
        app,
        Some(agent),
        None,
        "availability",
        None,
        availability,
        address,
    )
    .await;
    Ok(())
}

/// A canned reply for one conversation: `{{contact.name}}` and
/// `{{agent.name}}` filled in; other text stays as written.
pub fn render_canned(body: &str, contact_name: &str, agent_name: &str) -> String {
    body.replace("{{contact.name}}", contact_name)
        .replace("{{ contact.name }}", contact_name)
        .replace("{{agent.name}}", agent_name)
        .replace("{{ agent.name }}", agent_name)
}

pub async fn add_canned(
    app: &AppState,
    agent: &AgentRow,
    title: &str,
    body: &str,
    address: &str,
) -> Result<i64, WorkflowError> {
    if agent.role == Role::Analyst {
        return Err(WorkflowError::ReadOnly);
    }
    let (title, body) = (title.trim(), body.trim());
    if title.is_empty()
        || title.chars().count() > 100
        || body.is_empty()
        || body.chars().count() > 4096
    {
        return Err(WorkflowError::BadCanned);
    }
    let id = app
        .store
        .add_canned_reply(title, body, &agent.id, app.clock.now())
        .await?;
    accounts::audit(
        app,
        Some(agent),
        None,
        "canned_add",
        Some(&id.to_string()),
        title,
        address,
    )
    .await;
    Ok(id)
}

pub async fn delete_canned(
    app: &AppState,
    agent: &AgentRow,
    id: i64,
    address: &str,
) -> Result<(), WorkflowError> {
    let found = app
        .store
        .canned_replies()
        .await?
        .into_iter()
        .find(|c| c.id == id);
    let Some(reply) = found else {
        return Err(WorkflowError::NoCanned(id));
    };
    if agent.role != Role::Admin && reply.created_by != agent.id {
        return Err(WorkflowError::NotYours);
    }
    app.store.delete_canned_reply(id).await?;
    accounts::audit(
        app,
        Some(agent),
        None,
        "canned_delete",
        Some(&id.to_string()),
        &reply.title,
        address,
    )
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> Vec<AgentSummary> {
        ["anna.k", "Bernd", "carla"]
            .iter()
            .map(|name| AgentSummary {
                id: format!("ag_{name}"),
                name: (*name).to_owned(),
                role: "agent".into(),
            })
            .collect()
    }

    #[test]
    fn a_canned_reply_is_filled_in_for_the_conversation() {
        assert_eq!(
            render_canned(
                "Guten Tag {{contact.name}}, Ihr {{ agent.name }} {{policy}}",
                "Frau Schmidt",
                "Team Kfz"
            ),
            "Guten Tag Frau Schmidt, Ihr Team Kfz {{policy}}"
        );
    }

    #[test]
    fn a_note_mentions_each_named_agent_once() {
        let team = team();
        let names = |body: &str| -> Vec<String> {
            mentioned(body, &team)
                .iter()
                .map(|a| a.name.clone())
                .collect()
        };
        assert_eq!(
            names("@bernd bitte Rückruf, @anna.k zur Info. @Bernd!"),
            ["Bernd", "anna.k"]
        );
        assert_eq!(names("(@carla) E-Mail an kunde@example.de"), ["carla"]);
        assert!(names("@niemand und bernd ohne at").is_empty());
    }
}
