//! The web app's text, from Fluent catalogues (`locales/de.ftl`,
//! `locales/en.ftl`) compiled into the binary. German is the default; an
//! agent's choice is stored with the agent, so it follows them to any node.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    De,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first of the browser's `Accept-Language` we speak, else German.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        header
            .into_iter()
            .flat_map(|value| value.split(','))
            .filter_map(|part| part.split(';').next())
            .filter_map(|tag| Lang::parse(tag.split('-').next().unwrap_or(tag)))
            .next()
            .unwrap_or(Lang::De)
    }
}

pub const CATALOGUE_DE: &str = include_str!("../../locales/de.ftl");
pub const CATALOGUE_EN: &str = include_str!("../../locales/en.ftl");

fn bundle(lang: &str, source: &str) -> FluentBundle<FluentResource> {
    let resource = FluentResource::try_new(source.to_owned())
        .unwrap_or_else(|(_, errors)| panic!("the {lang} catalogue does not parse: {errors:?}"));
    let mut bundle = FluentBundle::new_concurrent(vec![lang.parse().expect("a language tag")]);
    // The marks Fluent puts around arguments would show up in HTML attributes.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(resource)
        .unwrap_or_else(|errors| panic!("the {lang} catalogue repeats keys: {errors:?}"));
    bundle
}

static GERMAN: LazyLock<FluentBundle<FluentResource>> =
    LazyLock::new(|| bundle("de", CATALOGUE_DE));
static ENGLISH: LazyLock<FluentBundle<FluentResource>> =
    LazyLock::new(|| bundle("en", CATALOGUE_EN));

/// The text of one language, handed to every template as `t`.
#[derive(Clone, Copy, Debug)]
pub struct Texts {
    pub lang: Lang,
}

impl Texts {
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    fn bundle(&self) -> &'static FluentBundle<FluentResource> {
        match self.lang {
            Lang::De => &GERMAN,
            Lang::En => &ENGLISH,
        }
    }

    /// The message `key`; the key itself if a catalogue lacks it (a test
    /// keeps both catalogues complete).
    pub fn get(&self, key: &str) -> String {
        self.format(key, None)
    }

    /// The message `prefix` + `name`, e.g. `sentiment-` + `negative`
    /// (templates cannot build the key with `format!`).
    pub fn key(&self, prefix: &str, name: &str) -> String {
        self.get(&format!("{prefix}{name}"))
    }

    /// A topic's name; an insurer's own topic (not in the catalogue) by its id.
    pub fn topic(&self, id: &str) -> String {
        let key = format!("topic-{id}");
        let label = self.get(&key);
        if label == key { id.to_owned() } else { label }
    }

    /// The message `key` with one argument, e.g. `{ $count }`.
    pub fn arg(&self, key: &str, name: &str, value: impl std::fmt::Display) -> String {
        let mut args = FluentArgs::new();
        args.set(name, FluentValue::from(value.to_string()));
        self.format(key, Some(&args))
    }

    /// The message `key` with a number argument (plural rules apply).
    pub fn count(&self, key: &str, name: &str, value: impl std::borrow::Borrow<i64>) -> String {
        let mut args = FluentArgs::new();
        args.set(name, FluentValue::from(*value.borrow()));
        self.format(key, Some(&args))
    }

    /// The message `key` with several arguments.
    pub fn with_args(&self, key: &str, args: &FluentArgs) -> String {
        self.format(key, Some(args))
    }

    fn format(&self, key: &str, args: Option<&FluentArgs>) -> String {
        let bundle = self.bundle();
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            return key.to_owned();
        };
        let mut errors = Vec::new();
        bundle
            .format_pattern(pattern, args, &mut errors)
            .into_owned()
    }

    /// German or English, whichever this page speaks.
    pub fn pick<'a>(&self, de: &'a str, en: &'a str) -> &'a str {
        match self.lang {
            Lang::De => de,
            Lang::En => en,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(source: &str) -> Vec<String> {
        let resource = FluentResource::try_new(source.to_owned()).expect("parses");
        let mut keys: Vec<String> = resource
            .entries()
            .filter_map(|entry| match entry {
                fluent_syntax::ast::Entry::Message(message) => Some(message.id.name.to_owned()),
                _ => None,
            })
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn both_catalogues_have_the_same_keys() {
        let (de, en) = (keys(CATALOGUE_DE), keys(CATALOGUE_EN));
        let missing_en: Vec<_> = de.iter().filter(|k| !en.contains(k)).collect();
        let missing_de: Vec<_> = en.iter().filter(|k| !de.contains(k)).collect();
        assert!(missing_en.is_empty(), "missing in en.ftl: {missing_en:?}");
        assert!(missing_de.is_empty(), "missing in de.ftl: {missing_de:?}");
        assert!(
            de.len() > 40,
            "the catalogue has only {} messages",
            de.len()
        );
    }

    #[test]
    fn texts_come_in_the_chosen_language_with_arguments() {
        assert_eq!(Texts::new(Lang::De).get("nav-inbox"), "Posteingang");
        assert_eq!(Texts::new(Lang::En).get("nav-inbox"), "Inbox");
        assert_eq!(
            Texts::new(Lang::De).count("inbox-count", "count", 1),
            "1 Unterhaltung"
        );
        assert_eq!(
            Texts::new(Lang::En).count("inbox-count", "count", 3),
            "3 conversations"
        );
    }

    #[test]
    fn the_browser_language_picks_the_catalogue() {
        assert_eq!(Lang::from_accept_language(Some("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("fr-FR,de;q=0.8")), Lang::De);
        assert_eq!(Lang::from_accept_language(Some("fr")), Lang::De);
        assert_eq!(Lang::from_accept_language(None), Lang::De);
    }
}
