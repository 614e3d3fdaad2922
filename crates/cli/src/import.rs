//! `resonanz import`: bulk import of historical mentions and reviews.
//! A reader thread parses and analyses; the store commits one batch per
//! transaction, so a crash leaves whole batches and a rerun adds the rest.

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use resonanz_core::import::{ImportItem, parse_record, record_from_csv_row, record_from_json_line};
use resonanz_core::{Clock, Inbound, RawEvent, SystemClock, Verification};
use resonanz_server::Pipeline;
use resonanz_store::{IngestOutcome, Projection, Store};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    Jsonl,
    Csv,
}

impl ImportFormat {
    pub fn detect(path: &Path) -> ImportFormat {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            // The CSV reader finds the delimiter itself, tab included.
            Some(ext) if ext == "csv" || ext == "tsv" => ImportFormat::Csv,
            _ => ImportFormat::Jsonl,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub format: ImportFormat,
    /// Abort without importing anything if any record is malformed.
    pub strict: bool,
    /// Where malformed records go (default: `<file>.rejects.jsonl`).
    pub rejects: Option<PathBuf>,
    pub batch: usize,
    pub progress: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportSummary {
    /// Time the reader spent parsing and analysing (not waiting for the store).
    pub reader_seconds: f64,
    /// Time spent in store commits.
    pub store_seconds: f64,
    pub records: u64,
    pub imported: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub rejects_file: Option<PathBuf>,
}

/// A malformed record: where it is and why.
#[derive(Clone, Debug)]
pub struct Reject {
    pub line: u64,
    pub reason: String,
    pub content: String,
}

enum Record {
    /// The payload the raw log keeps (a JSONL line verbatim, a CSV row as a
    /// JSON object) and what it parsed into.
    Good(Vec<u8>, Box<ImportItem>),
    Bad(Reject),
}

/// Reads the file record by record, with line numbers.
fn for_each_record(
    path: &Path,
    format: ImportFormat,
    mut visit: impl FnMut(Record, u64) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    match format {
        ImportFormat::Jsonl => {
            let mut reader = BufReader::with_capacity(1 << 20, file);
            let mut line = Vec::new();
            let mut number = 0u64;
            let mut offset = 0u64;
            loop {
                line.clear();
                let read = reader
                    .read_until(b'\n', &mut line)
                    .with_context(|| format!("reading {} after line {number}", path.display()))?;
                if read == 0 {
                    break;
                }
                number += 1;
                offset += read as u64;
                // A line that is not UTF-8 is one bad record, not the end of the import.
                let text = match std::str::from_utf8(&line) {
                    Ok(text) => text,
                    Err(err) => {
                        let content = String::from_utf8_lossy(&line);
                        visit(
                            Record::Bad(Reject {
                                line: number,
                                reason: format!(
                                    "not UTF-8 at byte {}: JSON lines must be UTF-8",
                                    err.valid_up_to() + 1
                                ),
                                content: content.trim_end_matches(['\n', '\r']).to_owned(),
                            }),
                            offset,
                        )?;
                        continue;
                    }
                };
                let mut text = text.trim_end_matches(['\n', '\r']);
                if number == 1 {
                    // Windows editors may start a UTF-8 file with a byte order mark.
                    text = text.trim_start_matches('\u{feff}');
                }
                if text.trim().is_empty() {
                    continue;
                }
                let record = record_from_json_line(text)
                    .and_then(|record| parse_record(&record).map(|item| (record, item)));
                let record = match record {
                    Ok((_, item)) => Record::Good(text.as_bytes().to_vec(), Box::new(item)),
                    Err(err) => Record::Bad(Reject {
                        line: number,
                        reason: err.to_string(),
                        content: text.to_owned(),
                    }),
                };
                visit(record, offset)?;
            }
        }
        ImportFormat::Csv => {
            let delimiter = sniff_csv_delimiter(path)?;
            // Lines end at '\n' only, so a CRLF file (Windows, Excel) counts its
            // lines like any other; the '\r' left on a row's last cell is cut.
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .delimiter(delimiter)
                .terminator(csv::Terminator::Any(b'\n'))
                .from_reader(file);
            let mut headers: Vec<String> = reader
                .byte_headers()
                .with_context(|| format!("reading the CSV header of {}", path.display()))?
                .iter()
                .map(decode_csv_cell)
                .collect();
            cut_carriage_return(&mut headers);
            // Excel's "CSV UTF-8" starts with a byte order mark.
            if let Some(first) = headers.first_mut() {
                *first = first.trim_start_matches('\u{feff}').to_owned();
            }
            let mut row = csv::ByteRecord::new();
            loop {
                let line_before = reader.position().line();
                match reader.read_byte_record(&mut row) {
                    Ok(false) => break,
                    Ok(true) => {
                        let line = row.position().map_or(line_before, |p| p.line());
                        let offset = reader.position().byte();
                        let mut cells: Vec<String> = row.iter().map(decode_csv_cell).collect();
                        cut_carriage_return(&mut cells);
                        let record = if cells.len() != headers.len() {
                            Record::Bad(Reject {
                                line,
                                reason: format!(
                                    "expected {} columns as in the header, found {}",
                                    headers.len(),
                                    cells.len()
                                ),
                                content: cells.join(","),
                            })
                        } else {
                            let record = record_from_csv_row(&headers, &cells);
                            match parse_record(&record) {
                                Ok(item) => Record::Good(
                                    serde_json::to_vec(&record).expect("a JSON map serialises"),
                                    Box::new(item),
                                ),
                                Err(err) => Record::Bad(Reject {
                                    line,
                                    reason: err.to_string(),
                                    content: cells.join(","),
                                }),
                            }
                        };
                        visit(record, offset)?;
                    }
                    Err(err) => {
                        let offset = reader.position().byte();
                        visit(
                            Record::Bad(Reject {
                                line: err.position().map_or(line_before, |p| p.line()),
                                reason: format!("not valid CSV: {err}"),
                                content: String::new(),
                            }),
                            offset,
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Comma, semicolon (what Excel writes with German settings) or tab:
/// whichever the header line holds most of outside quotes; comma on a tie.
fn sniff_csv_delimiter(path: &Path) -> anyhow::Result<u8> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut header = Vec::new();
    BufReader::new(file)
        .take(64 * 1024)
        .read_until(b'\n', &mut header)
        .with_context(|| format!("reading the CSV header of {}", path.display()))?;
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for byte in header {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(count) = counts.iter_mut().find(|(d, _)| *d == byte) {
            count.1 += 1;
        }
    }
    let (delimiter, _) = counts.into_iter().fold((b',', 0), |best, candidate| {
        if candidate.1 > best.1 {
            candidate
        } else {
            best
        }
    });
    Ok(delimiter)
}

fn cut_carriage_return(cells: &mut [String]) {
    if let Some(last) = cells.last_mut()
        && last.ends_with('\r')
    {
        last.pop();
    }
}

/// A CSV cell as text: UTF-8 as it is, anything else read as Windows-1252,
/// which Excel writes for "CSV (Trennzeichen-getrennt)" on German systems.
fn decode_csv_cell(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

fn projection(
    pipeline: &Pipeline,
    payload: Vec<u8>,
    item: ImportItem,
    received_at: resonanz_core::Timestamp,
) -> Projection {
    let raw = RawEvent {
        id: None,
        source: item.source(),
        dedupe_key: item.dedupe_key(),
        received_at,
        verification: Verification::OperatorImport,
        payload,
    };
    let inbound = match item {
        ImportItem::Mention(m) => Inbound::Mention(m),
        ImportItem::Review(r) => Inbound::Review(r),
    };
    pipeline.project_parsed(raw, vec![inbound])
}

pub async fn run_import(
    store: &Store,
    pipeline: &Pipeline,
    path: &Path,
    options: &ImportOptions,
) -> anyhow::Result<ImportSummary> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if options.strict {
        let mut rejects = Vec::new();
        for_each_record(path, options.format, |record, _| {
            if let Record::Bad(reject) = record {
                rejects.push(reject);
            }
            Ok(())
        })?;
        if !rejects.is_empty() {
            for reject in rejects.iter().take(50) {
                eprintln!("line {}: {}", reject.line, reject.reason);
            }
            if rejects.len() > 50 {
                eprintln!("… and {} more", rejects.len() - 50);
            }
            bail!(
                "--strict: {} malformed record(s) in {}; nothing was imported",
                rejects.len(),
                path.display()
            );
        }
    }

    let progress = if options.progress {
        let bar = ProgressBar::new(size);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
            )
            .expect("valid progress template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };

    // Reader thread: parse + analyse; the async side commits batches.
    let (batches_tx, mut batches_rx) = tokio::sync::mpsc::channel::<(Vec<Projection>, u64)>(2);
    let reader_path = path.to_owned();
    let reader_options = options.clone();
    let reader_pipeline = pipeline.clone();
    let reader = std::thread::spawn(move || -> anyhow::Result<(u64, Vec<Reject>, f64)> {
        let received_at = SystemClock.now();
        let mut waiting = Duration::ZERO;
        let reader_started = std::time::Instant::now();
        let mut batch = Vec::with_capacity(reader_options.batch);
        let mut records = 0u64;
        let mut rejects = Vec::new();
        for_each_record(&reader_path, reader_options.format, |record, offset| {
            records += 1;
            match record {
                Record::Good(payload, item) => {
                    batch.push(projection(&reader_pipeline, payload, *item, received_at))
                }
                Record::Bad(reject) => rejects.push(reject),
            }
            if batch.len() >= reader_options.batch {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(reader_options.batch));
                let send_started = std::time::Instant::now();
                batches_tx
                    .blocking_send((full, offset))
                    .map_err(|_| anyhow::anyhow!("the store stopped accepting batches"))?;
                waiting += send_started.elapsed();
            }
            Ok(())
        })?;
        if !batch.is_empty() {
            batches_tx
                .blocking_send((batch, size))
                .map_err(|_| anyhow::anyhow!("the store stopped accepting batches"))?;
        }
        let busy = reader_started
            .elapsed()
            .saturating_sub(waiting)
            .as_secs_f64();
        Ok((records, rejects, busy))
    });

    let mut summary = ImportSummary::default();
    while let Some((batch, offset)) = batches_rx.recv().await {
        let commit_started = std::time::Instant::now();
        let outcomes = store
            .ingest(batch)
            .await
            .context("storing an import batch")?;
        summary.store_seconds += commit_started.elapsed().as_secs_f64();
        for outcome in outcomes {
            match outcome {
                // `ingest` commits: it never answers `Accepted`.
                IngestOutcome::Stored(_) | IngestOutcome::Accepted => summary.imported += 1,
                IngestOutcome::Duplicate => summary.duplicates += 1,
            }
        }
        progress.set_position(offset);
        progress.set_message(format!("{} new", summary.imported));
    }
    let (records, rejects, reader_seconds) = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the import reader panicked"))??;
    progress.finish_and_clear();
    summary.records = records;
    summary.reader_seconds = reader_seconds;
    summary.rejected = rejects.len() as u64;
    if !rejects.is_empty() {
        let rejects_path = options.rejects.clone().unwrap_or_else(|| {
            let mut name = path.as_os_str().to_owned();
            name.push(".rejects.jsonl");
            PathBuf::from(name)
        });
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&rejects_path)
                .with_context(|| format!("creating {}", rejects_path.display()))?,
        );
        for reject in &rejects {
            writeln!(
                out,
                "{}",
                serde_json::json!({"line": reject.line, "reason": reject.reason, "record": reject.content})
            )?;
        }
        out.flush()?;
        summary.rejects_file = Some(rejects_path);
        for reject in rejects.iter().take(20) {
            eprintln!("line {}: {}", reject.line, reject.reason);
        }
        if rejects.len() > 20 {
            eprintln!("… and {} more", rejects.len() - 20);
        }
    }
    Ok(summary)
}

/// Writes `count` synthetic German insurance mentions as JSONL (bench, demo).
pub fn write_sample_mentions(path: &Path, count: u64, seed: u64) -> anyhow::Result<()> {
    use rand::{Rng, SeedableRng};
    const TEXTS: &[&str] = &[
        "Seit drei Wochen warte ich auf die Schadensregulierung, unfassbar! @Versicherung",
        "Super schnelle Auszahlung nach dem Wasserschaden, danke an das Team 👍",
        "Die Hotline ist wieder nicht erreichbar, 45 Minuten Wartezeit #service",
        "Beitragserhöhung in der Kfz-Haftpflicht um 18 %? Ich kündige.",
        "Kann mir jemand sagen, wie ich die Police in der App herunterlade?",
        "Mein Makler hat mir super bei der Berufsunfähigkeitsversicherung geholfen.",
        "Wieso dauert die Bearbeitung meiner Zahnzusatz-Erstattung so lange?",
        "Sturmschaden am Dach gemeldet, Gutachter kam schon am nächsten Tag. Top!",
        "Keine Antwort auf meine Kündigung, das ist doch Absicht",
        "Neue Tarife für die Hausratversicherung sind online",
    ];
    const PLATFORMS: &[&str] = &["x", "facebook", "instagram", "news", "forum", "blog"];
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let base = 1_700_000_000i64;
    for i in 0..count {
        let record = serde_json::json!({
            "type": "mention",
            "id": format!("{seed}-{i}"),
            "platform": PLATFORMS[rng.random_range(0..PLATFORMS.len())],
            "author": format!("nutzer{}", rng.random_range(0..50_000)),
            "followers": rng.random_range(0..200_000),
            "text": TEXTS[rng.random_range(0..TEXTS.len())],
            "reshares": rng.random_range(0..50),
            "replies": rng.random_range(0..30),
            "likes": rng.random_range(0..500),
            "published_at": base + i as i64 * 7,
        });
        writeln!(out, "{record}")?;
    }
    out.flush()?;
    Ok(())
}
