//! `resonanz import` as an operator runs it: the real binary on a temp SQLite file.

use resonanz_store::{Store, StoreOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

mod support;

fn resonanz(db: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_resonanz"));
    command
        .env(
            "RESONANZ_DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    command
}

async fn counts(db: &Path) -> resonanz_store::Counts {
    let store = Store::open(
        &format!("sqlite://{}", db.display()),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    let counts = store.counts().await.unwrap();
    store.close().await;
    counts
}

const MIXED: &str = r#"{"id":"1","platform":"x","author":"anna","followers":1200,"text":"Die Hotline ist nie erreichbar!","published_at":"2024-03-01T08:00:00Z"}
{"id":"2","platform":"x","text":"Danke für die schnelle Auszahlung","published_at":1709280000}
{oops

{"type":"review","id":"r1","portal":"trustpilot","stars":9,"text":"x","published_at":1}
{"type":"review","id":"r2","portal":"trustpilot","stars":2,"text":"Regulierung dauert ewig","published_at":1}
{"id":"3","platform":"myspace","text":"t","published_at":1}
"#;

#[tokio::test]
async fn malformed_lines_are_reported_with_line_numbers_and_good_lines_are_imported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, MIXED).unwrap();
    let output = resonanz(&db).arg("import").arg(&file).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("3 imported"), "{stdout}");
    assert!(stdout.contains("3 rejected"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3: not valid JSON"), "{stderr}");
    assert!(stderr.contains("line 5: field `stars`"), "{stderr}");
    assert!(stderr.contains("line 7: field `platform`"), "{stderr}");
    let rejects = std::fs::read_to_string(dir.path().join("mixed.jsonl.rejects.jsonl")).unwrap();
    let lines: Vec<u64> = rejects
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["line"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(lines, vec![3, 5, 7]);
    let c = counts(&db).await;
    assert_eq!((c.mentions, c.reviews, c.raw_events), (2, 1, 3));

    // The same file again adds nothing.
    let again = resonanz(&db).arg("import").arg(&file).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 imported, 3 already present"));
    assert_eq!(counts(&db).await.raw_events, 3);
}

#[tokio::test]
async fn strict_import_of_a_file_with_a_bad_line_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let file = dir.path().join("mixed.jsonl");
    std::fs::write(&file, MIXED).unwrap();
    let output = resonanz(&db)
        .args(["import", "--strict"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(stderr.contains("line 3"), "{stderr}");
    assert_eq!(counts(&db).await.raw_events, 0);
}

#[tokio::test]
async fn csv_rows_import_like_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let file = dir.path().join("reviews.csv");
    std::fs::write(
        &file,
        "type,id,portal,product,stars,text,published_at\n\
         review,a1,check24,Kfz,5,\"Schnelle Regulierung, sehr zufrieden\",2024-01-02T10:00:00Z\n\
         review,a2,check24,Hausrat,0,kaputt,2024-01-02T10:00:00Z\n\
         review,a3,check24,Hausrat,1,\"Beitrag zu hoch\",1704190000\n",
    )
    .unwrap();
    let output = resonanz(&db).arg("import").arg(&file).output().unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3: field `stars`"), "{stderr}");
    assert_eq!(counts(&db).await.reviews, 2);
}

#[tokio::test]
async fn a_jsonl_file_saved_with_a_byte_order_mark_imports_its_first_line() {
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend_from_slice(MIXED.lines().next().unwrap().as_bytes());
    bytes.extend_from_slice(b"\r\n");
    imports_one_mention("bom.jsonl", &bytes).await;
}

/// Imports `bytes` as a file named `name` into a new database and checks
/// that exactly one mention arrived.
async fn imports_one_mention(name: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("one.db");
    let file = dir.path().join(name);
    std::fs::write(&file, bytes).unwrap();
    let output = resonanz(&db).arg("import").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("1 imported"),
        "{name}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(counts(&db).await.mentions, 1);
}

/// What Excel writes with German settings: semicolons, CRLF, and either a
/// UTF-8 byte order mark ("CSV UTF-8") or Windows-1252 ("CSV (Trennzeichen-getrennt)").
#[tokio::test]
async fn excel_csv_files_with_semicolons_and_either_encoding_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("excel.db");
    let utf8 = dir.path().join("utf8.csv");
    let mut bytes = b"\xef\xbb\xbfid;platform;author;published_at;text\r\n".to_vec();
    bytes.extend_from_slice(
        "u1;x;kunde1;2024-01-02T10:00:00Z;\"Schäden; seit Wochen offen\"\r\n\
         u2;myspace;kunde1;2024-01-02T10:00:00Z;falsche Plattform\r\n"
            .as_bytes(),
    );
    std::fs::write(&utf8, bytes).unwrap();
    let ansi = dir.path().join("ansi.csv");
    std::fs::write(
        &ansi,
        b"id;platform;author;text;published_at\r\nw1;forum;kunde2;Gro\xdfartige Beratung, danke \x84Team\x93!;02.01.2024 11:00\r\n",
    )
    .unwrap();
    for (file, rejected) in [(&utf8, 1), (&ansi, 0)] {
        let output = resonanz(&db).arg("import").arg(file).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stdout.contains("1 imported") && stdout.contains(&format!("{rejected} rejected")),
            "{}: {stdout}{stderr}",
            file.display(),
        );
        if rejected > 0 {
            // Line numbers count CRLF lines like any other: the header is line 1.
            assert!(stderr.contains("line 3: field `platform`"), "{stderr}");
        }
    }
    let store = Store::open(
        &format!("sqlite://{}", db.display()),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    let mentions = store.recent_mentions(10).await.unwrap();
    let mut bodies: Vec<String> = mentions
        .iter()
        .map(|mention| mention.body.clone())
        .collect();
    store.close().await;
    bodies.sort();
    // Excel's German date is German local time: 11:00 CET is 10:00 UTC.
    assert!(
        mentions.iter().all(|m| m.published_at == 1_704_189_600_000),
        "{mentions:?}"
    );
    assert_eq!(
        bodies,
        vec![
            "Großartige Beratung, danke „Team“!".to_owned(),
            "Schäden; seit Wochen offen".to_owned(),
        ]
    );
}

#[tokio::test]
async fn a_line_that_is_not_utf8_is_rejected_and_the_rest_imported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("latin1.db");
    let file = dir.path().join("latin1.jsonl");
    let mut bytes = Vec::new();
    // "Schäden" in Latin-1: not UTF-8.
    bytes.extend_from_slice(
        b"{\"id\":\"1\",\"platform\":\"x\",\"text\":\"Sch\xe4den\",\"published_at\":1}",
    );
    bytes.push(b'\n');
    bytes.extend_from_slice(MIXED.lines().next().unwrap().as_bytes());
    bytes.push(b'\n');
    std::fs::write(&file, bytes).unwrap();
    let output = resonanz(&db).arg("import").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("1 imported") && stdout.contains("1 rejected"),
        "{stdout}"
    );
    assert!(stderr.contains("line 1: not UTF-8"), "{stderr}");
    assert_eq!(counts(&db).await.mentions, 1);
}

#[tokio::test]
async fn a_tab_separated_file_imports_like_csv() {
    imports_one_mention(
        "mentions.tsv",
        "id\tplatform\ttext\tpublished_at\nt1\tnews\tVersicherer erhöht Beiträge, Kunden kündigen\t1704190000\n"
            .as_bytes(),
    )
    .await;
}

#[tokio::test]
async fn killing_an_import_midway_leaves_whole_batches_and_a_rerun_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let file = dir.path().join("big.jsonl");
    let total = 40_000u64;
    let batch = 500u64;
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        for i in 0..total {
            writeln!(
                out,
                r#"{{"id":"{i}","platform":"x","author":"u{i}","text":"Beitragserhöhung bei der Kfz-Versicherung, ich kündige #{i}","published_at":{}}}"#,
                1_700_000_000 + i
            )
            .unwrap();
        }
    }
    let mut child = resonanz(&db)
        .args(["import", "--batch", &batch.to_string()])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some batches are committed, then kill -9.
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(20));
        if db.exists() && counts(&db).await.mentions >= (batch as i64) * 2 {
            break;
        }
        assert!(started.elapsed().as_secs() < 60, "import made no progress");
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let after_crash = counts(&db).await;
    // No half batch: every committed batch is whole, and log and projections agree.
    assert_eq!(after_crash.raw_events % batch as i64, 0, "{after_crash:?}");
    assert_eq!(after_crash.raw_events, after_crash.mentions);
    assert_eq!(after_crash.mentions, after_crash.events);

    let output = resonanz(&db).arg("import").arg(&file).output().unwrap();
    assert!(output.status.success());
    let c = counts(&db).await;
    assert_eq!(
        (c.raw_events, c.mentions, c.events),
        (total as i64, total as i64, total as i64)
    );
}

async fn snapshot(db: &Path) -> Vec<String> {
    let store = Store::open(
        &format!("sqlite://{}", db.display()),
        StoreOptions::default(),
    )
    .await
    .unwrap();
    let snapshot = store.snapshot().await.unwrap();
    store.close().await;
    snapshot
}

#[tokio::test]
async fn replay_rebuilds_an_imported_file_exactly_across_many_batches() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("replay.db");
    let file = dir.path().join("mentions.jsonl");
    // More raw events than one replay batch (2,000), so reading the next batch
    // overlaps committing this one.
    let lines: String = (0..4_500)
        .map(|i| {
            format!(
                "{{\"id\":\"{i}\",\"platform\":\"x\",\"author\":\"kunde{}\",\"text\":\"Meine Schadenmeldung Nummer {i} ist seit Tagen offen\",\"published_at\":{}}}\n",
                i % 17,
                1_700_000_000 + i
            )
        })
        .collect();
    std::fs::write(&file, lines).unwrap();
    let imported = resonanz(&db).arg("import").arg(&file).output().unwrap();
    assert!(imported.status.success());
    let before = snapshot(&db).await;

    let stdout = support::succeeds(resonanz(&db).arg("replay"));
    assert!(stdout.contains("replayed 4500 raw events"), "{stdout}");
    assert!(stdout.contains("4500 mentions"), "{stdout}");
    assert_eq!(snapshot(&db).await, before);
}
