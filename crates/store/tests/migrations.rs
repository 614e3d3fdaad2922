//! Upgrades keep what an installation already holds: data written under an
//! older schema is carried into the columns a newer migration adds, on both
//! databases.

use resonanz_core::analysis::Sentiment;
use resonanz_core::{DomainEvent, MentionId, MessageId, Platform, ReviewId, Stars, Timestamp};
use resonanz_store::{Store, StoreOptions};
use sqlx::Connection;

#[allow(dead_code)] // this suite opens stores itself
mod common;

const CREATED: i64 = 1_750_000_000_000;
const QUEUED_FILE: &str = "aa11";
const SENT_FILE: &str = "bb22";
const UNUSED_FILE: &str = "cc33";

/// Rows as a version 5 installation wrote them: three uploaded files, two
/// of them named by outbox rows (one queued, one sent), one by none.
const VERSION_5_ROWS: [&str; 3] = [
    "INSERT INTO outbound_files (sha256, kind, mime_type, size, filename, created_by, created_at) VALUES \
     ('aa11', 'document', 'application/pdf', 10, 'police.pdf', 'agent', 1750000000000), \
     ('bb22', 'image', 'image/png', 10, NULL, 'agent', 1750000000000), \
     ('cc33', 'document', 'application/pdf', 10, 'alt.pdf', 'agent', 1750000000000)",
    "INSERT INTO outbox (id, idempotency_key, channel, account, recipient_kind, recipient, contact_id, \
       conversation_id, payload, state, attempts, next_attempt_at, created_by, created_at, updated_at) VALUES \
     ('out_1', 'key-1', 'whatsapp', '106540352242922', 'phone', '491701234567', 'con_1', 'cnv_1', \
      '{\"type\":\"document\",\"upload\":\"aa11\",\"filename\":\"police.pdf\"}', 'queued', 0, 0, 'agent', 1750000000000, 1750000000000)",
    "INSERT INTO outbox (id, idempotency_key, channel, account, recipient_kind, recipient, contact_id, \
       conversation_id, payload, state, attempts, next_attempt_at, created_by, created_at, updated_at) VALUES \
     ('out_2', 'key-2', 'whatsapp', '106540352242922', 'phone', '491701234567', 'con_1', 'cnv_1', \
      '{\"type\":\"image\",\"upload\":\"bb22\"}', 'sent', 1, 0, 'agent', 1750000000000, 1750000000000), \
     ('out_3', 'key-3', 'whatsapp', '106540352242922', 'phone', '491701234567', 'con_1', 'cnv_1', \
      '{\"type\":\"text\",\"text\":{\"body\":\"Hallo\"}}', 'sent', 1, 0, 'agent', 1750000000000, 1750000000000)",
];

/// After the upgrade, only the upload no message names is up for cleaning,
/// and the uploads keep their age.
async fn uploads_named_before_the_upgrade_are_kept(url: &str) {
    let store = Store::open(url, StoreOptions::default()).await.unwrap();
    let long_after = Timestamp(CREATED + 365 * 24 * 3_600_000);
    let unused: Vec<String> = store
        .unused_outbound_files(long_after, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|file| file.sha256)
        .collect();
    assert_eq!(unused, vec![UNUSED_FILE.to_owned()]);
    // The retention counts from the upload, not from the upgrade.
    let just_after = Timestamp(CREATED + 1);
    assert_eq!(
        store
            .unused_outbound_files(just_after, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .unused_outbound_files(Timestamp(CREATED), 100)
            .await
            .unwrap()
            .is_empty()
    );
    for named in [QUEUED_FILE, SENT_FILE] {
        assert!(
            !store
                .delete_unused_outbound_file(named, long_after)
                .await
                .unwrap(),
            "{named} is named by a message and must stay"
        );
    }
    store.close().await;
}

/// A SQLite file migrated to `version` only, holding `rows`; its connection options.
async fn sqlite_at_version(
    path: &std::path::Path,
    version: i64,
    rows: &[String],
) -> sqlx::sqlite::SqliteConnectOptions {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::migrate!("./migrations/sqlite")
        .run_to(version, &mut conn)
        .await
        .unwrap();
    for statement in rows {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    options
}

/// A fresh PostgreSQL schema migrated to `version` only, holding `rows`; its URL.
async fn postgres_at_version(version: i64, rows: &[String]) -> String {
    let url = common::fresh_pg_url().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::migrate!("./migrations/postgres")
        .run_to(version, &mut conn)
        .await
        .unwrap();
    for statement in rows {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
    url
}

fn version_5_rows() -> Vec<String> {
    VERSION_5_ROWS.iter().map(|row| (*row).to_owned()).collect()
}

#[tokio::test]
async fn sqlite_upgrade_to_upload_cleanup_keeps_files_messages_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resonanz.db");
    sqlite_at_version(&path, 5, &version_5_rows()).await;
    uploads_named_before_the_upgrade_are_kept(&format!("sqlite://{}", path.display())).await;
}

#[tokio::test]
async fn postgres_upgrade_to_upload_cleanup_keeps_files_messages_name() {
    let url = postgres_at_version(5, &version_5_rows()).await;
    uploads_named_before_the_upgrade_are_kept(&url).await;
}

/// A version 6 installation's conversation with one message, keyed twice
/// then (id and channel + external id), once since version 7.
fn version_6_rows() -> Vec<String> {
    let id = MessageId::derive(&["whatsapp", "wamid.upgrade"]);
    vec![
        "INSERT INTO contacts (id, display_name, created_at) VALUES ('con_1', 'Erika', 1750000000000)".into(),
        "INSERT INTO conversations (id, contact_id, channel, account, last_inbound_at, last_message_at, created_at) \
         VALUES ('cnv_1', 'con_1', 'whatsapp', '106540352242922', 1750000000000, 1750000000000, 1750000000000)"
            .into(),
        format!(
            "INSERT INTO messages (id, conversation_id, contact_id, channel, direction, external_id, kind, body, \
               attachments, location, reply_to, reactions, delivery, delivery_state, sent_at, analysis, raw_event_id, raw) \
             VALUES ('{}', 'cnv_1', 'con_1', 'whatsapp', 'in', 'wamid.upgrade', 'text', 'Mein Keller steht unter Wasser', \
               '[]', NULL, NULL, '[]', '{{\"state\":\"received\"}}', 'received', 1750000000000, NULL, NULL, NULL)",
            id.as_str()
        ),
    ]
}

/// After the upgrade the message is still found by its channel and
/// external id, and its id still refuses a second copy.
async fn messages_survive_the_single_key_upgrade(url: &str) {
    let store = Store::open(url, StoreOptions::default()).await.unwrap();
    let message = store
        .message_by_external_id("whatsapp", "wamid.upgrade")
        .await
        .unwrap()
        .expect("the message stored before the upgrade");
    assert_eq!(
        message.body.as_deref(),
        Some("Mein Keller steht unter Wasser")
    );
    assert_eq!(message.conversation_id, "cnv_1");
    store.close().await;
}

#[tokio::test]
async fn sqlite_upgrade_to_one_message_key_keeps_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resonanz.db");
    let options = sqlite_at_version(&path, 6, &version_6_rows()).await;
    messages_survive_the_single_key_upgrade(&format!("sqlite://{}", path.display())).await;
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    let copy = sqlx::query(sqlx::AssertSqlSafe(version_6_rows()[2].clone()))
        .execute(&mut conn)
        .await;
    assert!(
        copy.is_err(),
        "a second row with the same id must be refused"
    );
}

#[tokio::test]
async fn postgres_upgrade_to_one_message_key_keeps_messages() {
    let url = postgres_at_version(6, &version_6_rows()).await;
    messages_survive_the_single_key_upgrade(&url).await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let copy = sqlx::query(sqlx::AssertSqlSafe(version_6_rows()[2].clone()))
        .execute(&mut conn)
        .await;
    assert!(
        copy.is_err(),
        "a second row with the same id must be refused"
    );
}

const POST_ID: &str = "1790000000000000001";
const ARTICLE_URL: &str = "https://example.org/artikel?id=7";

/// A version 7 installation's imported post, news article and review, with
/// their events, all named by digest ids as version 7 derived them.
fn version_7_rows() -> Vec<String> {
    let post = MentionId::derive(&["x", POST_ID]);
    let article = MentionId::derive(&["news", ARTICLE_URL]);
    let review = ReviewId::derive(&["Check24", "r-1"]);
    let mention = |id: &MentionId, platform: &str, external_id: &str| {
        format!(
            "INSERT INTO mentions (id, platform, external_id, url, author_handle, author_name, followers, verified, body, \
               lang, reshares, replies, likes, parent, published_at, analysis, raw_event_id) \
             VALUES ('{id}', '{platform}', '{external_id}', NULL, 'nutzer1', NULL, 10, false, 'Hotline nicht erreichbar', \
               NULL, 0, 0, 0, NULL, 1750000000000, NULL, NULL)"
        )
    };
    let event = |seq: i64, event: &DomainEvent| {
        format!(
            "INSERT INTO events (seq, at, kind, payload, raw_event_id) VALUES ({seq}, 1750000000000, '{}', '{}', NULL)",
            event.kind(),
            serde_json::to_string(event).unwrap()
        )
    };
    vec![
        mention(&post, "x", POST_ID),
        mention(&article, "news", ARTICLE_URL),
        format!(
            "INSERT INTO reviews (id, portal, external_id, product, stars, title, body, author, published_at, analysis, raw_event_id) \
             VALUES ('{review}', 'Check24', 'r-1', NULL, 2, NULL, 'Zu langsam', NULL, 1750000000000, NULL, NULL)"
        ),
        event(1, &mention_captured(post, Platform::X)),
        event(2, &mention_captured(article, Platform::News)),
        event(3, &review_captured(review)),
    ]
}

fn mention_captured(mention_id: MentionId, platform: Platform) -> DomainEvent {
    DomainEvent::MentionCaptured {
        mention_id,
        platform,
        sentiment: Some(Sentiment::Negative),
    }
}

fn review_captured(review_id: ReviewId) -> DomainEvent {
    DomainEvent::ReviewCaptured {
        review_id,
        stars: Stars::try_from(2).unwrap(),
    }
}

/// After the upgrade, items with a plain platform key carry the id an import
/// derives now (so re-importing or replaying matches them), their events name
/// it in the projector's own text, and other keys keep their digest id.
async fn natural_key_ids_after_the_upgrade(url: &str) {
    let store = Store::open(url, StoreOptions::default()).await.unwrap();
    let post = MentionId::from_natural_key("x", POST_ID);
    let article = MentionId::derive(&["news", ARTICLE_URL]);
    let review = ReviewId::from_natural_key("Check24", "r-1");
    assert_eq!(post.as_str(), "mn_x:1790000000000000001");
    assert_eq!(review.as_str(), "rv_Check24:r-1");
    let mut ids: Vec<String> = store
        .recent_mentions(10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    ids.sort();
    let mut expected = vec![post.as_str().to_owned(), article.as_str().to_owned()];
    expected.sort();
    assert_eq!(ids, expected);
    let expected_events = [
        mention_captured(post, Platform::X),
        mention_captured(article, Platform::News),
        review_captured(review),
    ];
    let events: Vec<DomainEvent> = store
        .events_after(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, expected_events);
    let snapshot = store.snapshot().await.unwrap();
    for (seq, event) in (1i64..).zip(&expected_events) {
        let line = format!(
            "event {:?}",
            (
                seq,
                CREATED,
                event.kind().to_owned(),
                serde_json::to_string(event).unwrap()
            )
        );
        assert!(snapshot.contains(&line), "missing {line} in {snapshot:#?}");
    }
    store.close().await;
}

#[tokio::test]
async fn sqlite_upgrade_to_natural_key_ids_renames_plain_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resonanz.db");
    sqlite_at_version(&path, 7, &version_7_rows()).await;
    natural_key_ids_after_the_upgrade(&format!("sqlite://{}", path.display())).await;
}

#[tokio::test]
async fn postgres_upgrade_to_natural_key_ids_renames_plain_keys() {
    let url = postgres_at_version(7, &version_7_rows()).await;
    natural_key_ids_after_the_upgrade(&url).await;
}
