//! Which configured channel account a webhook body belongs to, read before
//! full parsing so the server can reject bodies for numbers or pages it does
//! not serve (several numbers and pages per installation).

use crate::json::*;
use resonanz_core::Channel;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub channel: Channel,
    /// WhatsApp `phone_number_id`s, or page / Instagram ids, in first-seen order.
    pub accounts: Vec<String>,
    /// `entry[].id`: the WABA id for WhatsApp (template and account updates
    /// name no phone number), the page / IG id otherwise.
    pub entry_ids: Vec<String>,
}

impl Route {
    /// The accounts not in `known`; the server refuses the body when any is unknown.
    pub fn unknown_accounts<'a>(&'a self, known: &[&str]) -> Vec<&'a str> {
        self.accounts
            .iter()
            .map(String::as_str)
            .filter(|a| !known.contains(a))
            .collect()
    }
}

/// The channel named by the body's `object`.
pub fn channel_of(root: &Value) -> Result<Channel, ParseError> {
    match object_name(root) {
        Some(crate::whatsapp::OBJECT) => Ok(Channel::WhatsApp),
        Some("page") => Ok(Channel::Messenger),
        Some("instagram") => Ok(Channel::Instagram),
        other => Err(ParseError::WrongObject {
            expected: "whatsapp_business_account | page | instagram",
            found: other.map(str::to_owned),
        }),
    }
}

fn push_unique(list: &mut Vec<String>, value: Option<String>) {
    if let Some(v) = value
        && !list.contains(&v)
    {
        list.push(v);
    }
}

/// Reads the channel and account ids of a webhook body.
pub fn route(body: &[u8]) -> Result<Route, ParseError> {
    let root = parse_body(body)?;
    route_value(&root)
}

pub fn route_value(root: &Value) -> Result<Route, ParseError> {
    let channel = channel_of(root)?;
    let mut accounts = Vec::new();
    let mut entry_ids = Vec::new();
    for entry in entries(root)? {
        push_unique(&mut entry_ids, nonempty(entry, &["id"]));
        match channel {
            Channel::WhatsApp => {
                for change in array_at(entry, "changes") {
                    push_unique(
                        &mut accounts,
                        nonempty(change, &["value", "metadata", "phone_number_id"]),
                    );
                }
            }
            Channel::Messenger | Channel::Instagram => {
                // The entry id is the page / IG account for every event in it.
                push_unique(&mut accounts, nonempty(entry, &["id"]));
            }
        }
    }
    Ok(Route {
        channel,
        accounts,
        entry_ids,
    })
}

/// Parses any supported webhook body, choosing the parser by `object`.
pub fn parse_any(body: &[u8]) -> Result<(Channel, Vec<resonanz_core::Inbound>), ParseError> {
    let root = parse_body(body)?;
    let channel = channel_of(&root)?;
    let items = match channel {
        Channel::WhatsApp => crate::whatsapp::parse_value(&root)?,
        other => crate::meta_messaging::parse_value(&root, other)?,
    };
    Ok((channel, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whatsapp_route_lists_every_phone_number_id_once() {
        let body = br#"{"object":"whatsapp_business_account","entry":[
          {"id":"W1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"P1"}}},
                                {"field":"messages","value":{"metadata":{"phone_number_id":"P2"}}}]},
          {"id":"W1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"P1"}}},
                                {"field":"message_template_status_update","value":{"event":"APPROVED"}}]}]}"#;
        let route = route(body).unwrap();
        assert_eq!(route.channel, Channel::WhatsApp);
        assert_eq!(route.accounts, vec!["P1", "P2"]);
        assert_eq!(route.entry_ids, vec!["W1"]);
        assert_eq!(route.unknown_accounts(&["P1"]), vec!["P2"]);
        assert!(route.unknown_accounts(&["P1", "P2"]).is_empty());
    }

    #[test]
    fn page_and_instagram_route_by_entry_id() {
        let body = br#"{"object":"instagram","entry":[{"id":"IG1","time":1,"messaging":[]},{"id":"IG2","messaging":[]}]}"#;
        let route = route(body).unwrap();
        assert_eq!(route.channel, Channel::Instagram);
        assert_eq!(route.accounts, vec!["IG1", "IG2"]);
        let page =
            route_value(&serde_json::json!({"object":"page","entry":[{"id":"PG"}]})).unwrap();
        assert_eq!(page.channel, Channel::Messenger);
    }

    #[test]
    fn unknown_object_and_bad_json_are_errors() {
        assert!(matches!(
            route(br#"{"object":"user","entry":[]}"#),
            Err(ParseError::WrongObject { .. })
        ));
        assert!(matches!(route(b"{nope"), Err(ParseError::InvalidJson(_))));
        assert!(matches!(
            route(br#"{"object":"page"}"#),
            Err(ParseError::MissingEntries)
        ));
    }

    #[test]
    fn parse_any_picks_the_parser_by_object() {
        let wa = include_bytes!("../tests/fixtures/wa_batch.json");
        let (channel, items) = parse_any(wa).unwrap();
        assert_eq!((channel, items.len()), (Channel::WhatsApp, 5));
        let ig = include_bytes!("../tests/fixtures/instagram_batch.json");
        let (channel, items) = parse_any(ig).unwrap();
        assert_eq!((channel, items.len()), (Channel::Instagram, 6));
        assert!(parse_any(br#"{"object":"user","entry":[]}"#).is_err());
    }
}
