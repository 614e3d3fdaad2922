//! Meta error codes (WhatsApp Cloud API, Messenger/Instagram, Graph) with an
//! explanation an agent understands, in German and English, and whether a
//! retry can help. Match on `code`: titles change between API versions.

use serde::Serialize;

/// What the outbox should do with a failed send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAdvice {
    /// Back off and try again (throttling, transient server trouble).
    Retry,
    /// Too many messages to this one recipient (131056): wait for this
    /// recipient only; sends to others may go on.
    RetryRecipientLater,
    /// Retrying the same request cannot succeed; show the agent why.
    Permanent,
}

impl RetryAdvice {
    pub fn is_retryable(self) -> bool {
        self != RetryAdvice::Permanent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetaErrorInfo {
    pub code: i64,
    pub title: &'static str,
    pub de: &'static str,
    pub en: &'static str,
    pub retry: RetryAdvice,
}

use RetryAdvice::*;

const fn info(
    code: i64,
    title: &'static str,
    de: &'static str,
    en: &'static str,
    retry: RetryAdvice,
) -> MetaErrorInfo {
    MetaErrorInfo {
        code,
        title,
        de,
        en,
        retry,
    }
}

pub static TABLE: &[MetaErrorInfo] = &[
    info(
        131047,
        "Re-engagement message",
        "Das 24-Stunden-Fenster ist geschlossen: Der Kunde hat seit mehr als 24 Stunden nicht geschrieben. Nur eine freigegebene Vorlage kann jetzt gesendet werden.",
        "The 24-hour window is closed: the customer has not written for more than 24 hours. Only an approved template can be sent now.",
        Permanent,
    ),
    info(
        131026,
        "Message undeliverable",
        "Nachricht nicht zustellbar: Die Nummer nutzt kein WhatsApp, die App ist veraltet oder der Kunde hat die Nutzungsbedingungen nicht akzeptiert.",
        "Message undeliverable: the number is not on WhatsApp, the app is outdated, or the customer has not accepted the terms of service.",
        Permanent,
    ),
    info(
        131049,
        "Ecosystem engagement",
        "Meta hat die Nachricht nicht zugestellt, um zu viele Werbenachrichten an diesen Kunden zu vermeiden. Nicht sofort erneut senden.",
        "Meta did not deliver the message to protect the customer from too many marketing messages. Do not resend soon.",
        Permanent,
    ),
    info(
        131053,
        "Media upload error",
        "Meta konnte die Datei der Nachricht nicht verarbeiten (Typ, Größe oder abgelaufene Medien-ID). Datei prüfen und erneut senden.",
        "Meta could not process the message's file (type, size or an expired media id). Check the file and send it again.",
        Permanent,
    ),
    info(
        131051,
        "Unsupported message type",
        "Dieser Nachrichtentyp wird nicht unterstützt.",
        "This message type is not supported.",
        Permanent,
    ),
    info(
        130429,
        "Rate limit hit",
        "Durchsatzgrenze der Nummer erreicht (standardmäßig 80 Nachrichten pro Sekunde). Wird automatisch später erneut versucht.",
        "Throughput limit of the number reached (80 messages per second by default). Retried automatically later.",
        Retry,
    ),
    info(
        131056,
        "Pair rate limit hit",
        "Zu viele Nachrichten in kurzer Zeit an denselben Kunden. Wird für diesen Kunden später erneut versucht.",
        "Too many messages to the same customer in a short time. Retried later for this customer.",
        RetryRecipientLater,
    ),
    info(
        131057,
        "Account in maintenance",
        "Die Nummer wird gerade auf höheren Durchsatz umgestellt (bis zu einer Minute). Wird automatisch erneut versucht.",
        "The number is being upgraded to a higher throughput (up to a minute). Retried automatically.",
        Retry,
    ),
    info(
        131048,
        "Spam rate limit hit",
        "Versand gedrosselt, weil viele Empfänger Nachrichten blockiert oder gemeldet haben. Qualität der Nachrichten prüfen.",
        "Sending throttled because many recipients blocked or reported messages. Check the message quality.",
        Retry,
    ),
    info(
        80007,
        "Rate limit issues",
        "Zu viele API-Aufrufe für dieses WhatsApp-Konto. Wird automatisch später erneut versucht.",
        "Too many API calls for this WhatsApp account. Retried automatically later.",
        Retry,
    ),
    info(
        132000,
        "Number of parameters does not match",
        "Die Anzahl der Variablen passt nicht zur Vorlage. Vorlage und Platzhalter prüfen.",
        "The number of variables does not match the template. Check the template and its placeholders.",
        Permanent,
    ),
    info(
        132012,
        "Parameter format does not match format in the created template",
        "Der Kopf der Nachricht passt nicht zur Vorlage: Die Vorlage erwartet im Kopf eine andere Art von Datei (Bild, Video oder Dokument) oder einen Text. Vorlage und Anhang prüfen.",
        "The message header does not match the template: the template expects another kind of file (image, video or document) or text in its header. Check the template and the attachment.",
        Permanent,
    ),
    info(
        132001,
        "Template does not exist",
        "Die Vorlage existiert nicht in dieser Sprache (oder ist noch nicht freigegeben).",
        "The template does not exist in this language (or is not approved yet).",
        Permanent,
    ),
    info(
        132015,
        "Template is paused",
        "Die Vorlage wurde wegen schlechter Qualität pausiert und kann derzeit nicht gesendet werden.",
        "The template was paused for low quality and cannot be sent at the moment.",
        Permanent,
    ),
    info(
        100,
        "Invalid parameter",
        "Ungültiger Parameter in der Anfrage – ein Fehler in Resonanz oder in der Konfiguration. Bitte an den Betrieb melden.",
        "Invalid parameter in the request – a bug in Resonanz or its configuration. Please report it to operations.",
        Permanent,
    ),
    info(
        190,
        "Access token expired",
        "Der Zugangsschlüssel (Access Token) ist abgelaufen oder ungültig. Der Betrieb muss ihn erneuern.",
        "The access token has expired or is invalid. Operations must renew it.",
        Permanent,
    ),
    info(
        368,
        "Temporarily blocked for policy violations",
        "Das Konto ist wegen Richtlinienverstößen vorübergehend gesperrt. Der Betrieb ist informiert.",
        "The account is temporarily restricted for policy violations. Operations has been alerted.",
        Permanent,
    ),
    info(
        131031,
        "Account locked",
        "Das WhatsApp-Konto ist gesperrt. Der Betrieb ist informiert.",
        "The WhatsApp account is locked. Operations has been alerted.",
        Permanent,
    ),
    info(
        131000,
        "Something went wrong",
        "Unbekannter Fehler bei Meta. Wird automatisch erneut versucht.",
        "Unknown error at Meta. Retried automatically.",
        Retry,
    ),
    info(
        1,
        "API unknown",
        "Unbekannter Fehler bei Meta. Wird automatisch erneut versucht.",
        "Unknown error at Meta. Retried automatically.",
        Retry,
    ),
    info(
        2,
        "API service",
        "Dienst von Meta vorübergehend nicht verfügbar. Wird automatisch erneut versucht.",
        "Meta's service is temporarily unavailable. Retried automatically.",
        Retry,
    ),
    info(
        4,
        "API too many calls",
        "Zu viele API-Aufrufe dieser App. Wird automatisch später erneut versucht.",
        "Too many API calls by this app. Retried automatically later.",
        Retry,
    ),
    info(
        551,
        "This person isn't available right now",
        "Diese Person ist gerade nicht erreichbar (hat die Seite blockiert oder nimmt keine Nachrichten an).",
        "This person isn't available right now (blocked the page or does not accept messages).",
        Permanent,
    ),
    info(
        10,
        "Permission denied",
        "Keine Berechtigung für diese Nachricht – oft außerhalb des Antwortfensters oder fehlende App-Freigabe.",
        "Permission denied for this message – often outside the messaging window or a missing app permission.",
        Permanent,
    ),
    info(
        200,
        "Permissions error",
        "Der Seite oder App fehlt eine Berechtigung (z. B. pages_messaging). Der Betrieb muss sie erteilen.",
        "The page or app lacks a permission (e.g. pages_messaging). Operations must grant it.",
        Permanent,
    ),
    info(
        230,
        "Requires pages_messaging permission",
        "Der App fehlt die Berechtigung pages_messaging für Nachrichten.",
        "The app is missing the pages_messaging permission.",
        Permanent,
    ),
    info(
        613,
        "Calls to this api have exceeded the rate limit",
        "Sendegrenze überschritten. Wird automatisch später erneut versucht.",
        "Rate limit exceeded. Retried automatically later.",
        Retry,
    ),
];

/// The table row for a code. The legacy On-Premises 470 is 131047.
pub fn explain(code: i64) -> Option<&'static MetaErrorInfo> {
    let code = if code == 470 { 131047 } else { code };
    TABLE.iter().find(|row| row.code == code)
}

/// Whether a failure is worth retrying: a known code decides; otherwise
/// 429 and 5xx (and no response at all) are transient, the rest permanent.
pub fn classify(http_status: Option<u16>, code: Option<i64>) -> RetryAdvice {
    if let Some(row) = code.and_then(explain) {
        return row.retry;
    }
    match http_status {
        None => Retry,
        Some(429) => Retry,
        Some(s) if s >= 500 => Retry,
        Some(_) => Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_transient_codes_are_retryable() {
        for code in [130429, 131057, 131000, 1, 2, 80007, 613] {
            assert_eq!(classify(Some(400), Some(code)), Retry, "{code}");
        }
        assert_eq!(classify(Some(429), Some(131056)), RetryRecipientLater);
        assert_eq!(classify(Some(503), None), Retry);
        assert_eq!(classify(Some(429), Some(999_999)), Retry);
        assert_eq!(classify(None, None), Retry);
    }

    #[test]
    fn window_template_and_auth_errors_are_permanent() {
        for code in [
            131047, 470, 131026, 131049, 131053, 132000, 132001, 132012, 132015, 100, 190, 368,
            131031, 551, 10, 200, 230,
        ] {
            assert_eq!(classify(Some(400), Some(code)), Permanent, "{code}");
        }
        assert_eq!(classify(Some(400), None), Permanent);
    }

    #[test]
    fn legacy_470_is_explained_as_131047_and_codes_are_unique() {
        assert_eq!(explain(470).unwrap().code, 131047);
        assert!(explain(131047).unwrap().de.contains("24-Stunden"));
        assert!(explain(424242).is_none());
        let mut codes: Vec<i64> = TABLE.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), TABLE.len());
    }
}
