//! The acceptance journal: where the embedded store makes a webhook durable
//! before it is acknowledged.
//!
//! An acknowledgement used to wait for a SQLite commit, and the one SQLite
//! writer also applies projections and checkpoints, so acknowledgements
//! queued behind that work. The journal is an append-only file of framed
//! records (length, CRC-32, raw event) written by its own thread with one
//! `fdatasync` per group. The writer then stores the raw events with their
//! projections in large transactions, where the database still
//! deduplicates, and reports how far it got; fully applied segments are
//! deleted. After a crash the records left in the journal are applied
//! again: one already stored is a duplicate and changes nothing.

use crate::writer::WriteJob;
use crate::{Projection, Result, StoreError};
use resonanz_core::{RawEvent, Source, Timestamp, Verification};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// A segment is closed once it holds this much; closed segments are deleted
/// as soon as every record in them is applied.
const SEGMENT_BYTES: u64 = 16 << 20;
/// Records one group write takes at most, so that a group's projections
/// reach the writer in pieces it can batch.
const GROUP_RECORDS: usize = 512;
/// Length and CRC-32 in front of each record.
const HEADER: usize = 8;
/// Raw events acknowledged but not yet committed to the database, at most:
/// beyond this, acknowledgements wait for the writer, so that memory stays
/// bounded when webhooks arrive faster than the database takes them.
const MAX_BACKLOG: usize = 20_000;
/// Larger than any body the server accepts; a bigger length is a torn header.
const MAX_RECORD: usize = 64 << 20;
const SEGMENT_SUFFIX: &str = ".log";

/// The journal directory beside a SQLite database file.
pub(crate) fn dir_for(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".accepted");
    PathBuf::from(name)
}

struct Append {
    projections: Vec<Projection>,
    reply: oneshot::Sender<Result<()>>,
}

struct Segment {
    path: PathBuf,
    /// Sequence number of its last record; a segment without records has
    /// `first - 1`.
    last_seq: u64,
}

/// Bookkeeping shared by the journal thread (which appends and rotates) and
/// the writer (which reports what is applied).
struct Segments {
    closed: Vec<Segment>,
    active: Segment,
    applied: u64,
    /// The journal thread has stopped: the active segment may go too.
    stopped: bool,
}

impl Segments {
    fn remove_applied(&mut self) {
        let applied = self.applied;
        self.closed.retain(|segment| {
            if segment.last_seq > applied {
                return true;
            }
            match std::fs::remove_file(&segment.path) {
                Ok(()) => false,
                Err(err) if err.kind() == io::ErrorKind::NotFound => false,
                Err(err) => {
                    tracing::warn!(path = %segment.path.display(), error = %err, "cannot delete an applied journal segment");
                    true
                }
            }
        });
        if self.stopped && self.closed.is_empty() && self.active.last_seq <= applied {
            let _ = std::fs::remove_file(&self.active.path);
        }
    }
}

pub(crate) struct Journal {
    /// Taken at stop: the thread ends once every sender is gone.
    appends: Mutex<Option<mpsc::Sender<Append>>>,
    segments: Arc<Mutex<Segments>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Held until `finish`: one process at a time appends to a journal.
    lock: Mutex<Option<File>>,
    /// One permit per raw event the journal may hold ahead of the writer.
    backlog: Arc<tokio::sync::Semaphore>,
    max_backlog: usize,
}

/// A journal directory this process holds, before its thread starts.
pub(crate) struct Opened {
    dir: PathBuf,
    lock: File,
    /// Records left by the last run, which may never have been applied.
    pub(crate) recovered: Vec<RawEvent>,
    old_segments: Vec<PathBuf>,
}

impl Opened {
    /// Locks the journal in `dir` and reads what the last run left in it.
    /// `None` when another process holds it.
    pub(crate) fn open(dir: &Path) -> Result<Option<Opened>> {
        std::fs::create_dir_all(dir).map_err(|err| io_error(dir, "creating", err))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(|err| io_error(dir, "opening the lock", err))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(err)) => return Err(io_error(dir, "locking", err)),
        }
        let (old_segments, recovered) =
            read_segments(dir).map_err(|err| io_error(dir, "reading", err))?;
        Ok(Some(Opened {
            dir: dir.to_owned(),
            lock,
            recovered,
            old_segments,
        }))
    }

    /// Once the recovered records are committed to the database: deletes the
    /// old segments and starts appending, handing every durable group to
    /// the writer.
    pub(crate) fn start(self, writer: mpsc::Sender<WriteJob>) -> Result<Journal> {
        self.start_with_backlog(writer, MAX_BACKLOG)
    }

    fn start_with_backlog(
        self,
        writer: mpsc::Sender<WriteJob>,
        max_backlog: usize,
    ) -> Result<Journal> {
        let dir = &self.dir;
        for path in &self.old_segments {
            std::fs::remove_file(path).map_err(|err| io_error(dir, "deleting a segment", err))?;
        }
        let (active, file) =
            create_segment(dir, 1).map_err(|err| io_error(dir, "creating a segment", err))?;
        let segments = Arc::new(Mutex::new(Segments {
            closed: Vec::new(),
            active: Segment {
                path: active,
                last_seq: 0,
            },
            applied: 0,
            stopped: false,
        }));
        let (appends, receiver) = mpsc::channel(1024);
        let backlog = Arc::new(tokio::sync::Semaphore::new(max_backlog));
        let appender = Appender {
            dir: dir.clone(),
            file,
            written: 0,
            next_seq: 1,
            segments: segments.clone(),
            writer,
            backlog: backlog.clone(),
            max_backlog,
            runtime: tokio::runtime::Handle::current(),
        };
        let thread = std::thread::Builder::new()
            .name("resonanz-journal".into())
            .spawn(move || appender.run(receiver))
            .map_err(|err| io_error(dir, "starting its thread", err))?;
        Ok(Journal {
            appends: Mutex::new(Some(appends)),
            segments,
            thread: Mutex::new(Some(thread)),
            lock: Mutex::new(Some(self.lock)),
            backlog,
            max_backlog,
        })
    }
}

fn io_error(dir: &Path, what: &str, err: io::Error) -> StoreError {
    StoreError::Io(format!(
        "acceptance journal {}: {what}: {err}",
        dir.display()
    ))
}

impl Journal {
    /// Returns once the raw events are durable in the journal; their
    /// projections are then with the writer.
    pub(crate) async fn append(&self, projections: Vec<Projection>) -> Result<()> {
        let appends = self
            .appends
            .lock()
            .expect("journal sender")
            .clone()
            .ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        appends
            .send(Append { projections, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        drop(appends);
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Every record up to `seq` is committed to the database.
    pub(crate) fn applied(&self, seq: u64) {
        let mut segments = self.segments.lock().expect("journal segments");
        segments.applied = segments.applied.max(seq);
        segments.remove_applied();
    }

    /// The writer has taken raw events worth `permits` off the backlog.
    pub(crate) fn release(&self, permits: usize) {
        self.backlog.add_permits(permits);
    }

    /// Raw events acknowledged and not yet committed to the database.
    pub(crate) fn backlog(&self) -> usize {
        self.max_backlog
            .saturating_sub(self.backlog.available_permits())
    }

    /// Stops the thread once it has written (and handed on) what is queued.
    /// Called when no request waits any more; should the backlog be full, a
    /// group still queued is refused rather than waited for.
    pub(crate) async fn stop(&self) {
        self.appends.lock().expect("journal sender").take();
        self.backlog.close();
        let thread = self.thread.lock().expect("journal thread").take();
        if let Some(thread) = thread {
            // The thread may wait for room at the writer: join off the runtime.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    /// After the writer's last commit: deletes the journal's applied
    /// segments, the active one included, and lets the journal go.
    pub(crate) fn finish(&self) {
        let mut segments = self.segments.lock().expect("journal segments");
        segments.stopped = true;
        segments.remove_applied();
        self.lock.lock().expect("journal lock").take();
    }
}

struct Appender {
    dir: PathBuf,
    file: File,
    written: u64,
    next_seq: u64,
    segments: Arc<Mutex<Segments>>,
    writer: mpsc::Sender<WriteJob>,
    backlog: Arc<tokio::sync::Semaphore>,
    max_backlog: usize,
    runtime: tokio::runtime::Handle,
}

impl Appender {
    fn run(mut self, mut appends: mpsc::Receiver<Append>) {
        let mut buffer = Vec::with_capacity(1 << 20);
        while let Some(first) = appends.blocking_recv() {
            let mut records = first.projections.len();
            let mut group = vec![first];
            while records < GROUP_RECORDS {
                match appends.try_recv() {
                    Ok(append) => {
                        records += append.projections.len();
                        group.push(append);
                    }
                    Err(_) => break,
                }
            }
            // Room in the backlog first: when the writer is behind, the
            // acknowledgements wait here.
            let permits = records.min(self.max_backlog);
            let backlog = self.backlog.clone();
            let room = self
                .runtime
                .block_on(backlog.acquire_many_owned(permits as u32));
            match room {
                Ok(room) => room.forget(),
                Err(_) => {
                    for append in group {
                        let _ = append.reply.send(Err(StoreError::Closed));
                    }
                    return;
                }
            }
            buffer.clear();
            for append in &group {
                for projection in &append.projections {
                    encode(&projection.raw, &mut buffer);
                }
            }
            if let Err(err) = self.write(&buffer) {
                tracing::error!(error = %err, "acceptance journal write failed; deliveries not acknowledged");
                for append in group {
                    let _ = append
                        .reply
                        .send(Err(StoreError::Io(format!("acceptance journal: {err}"))));
                }
                continue;
            }
            self.next_seq += records as u64;
            let through = self.next_seq - 1;
            self.segments
                .lock()
                .expect("journal segments")
                .active
                .last_seq = through;
            let mut replies = Vec::with_capacity(group.len());
            let mut projections = Vec::with_capacity(records);
            for append in group {
                projections.extend(append.projections);
                replies.push(append.reply);
            }
            // Handed on before the callers hear back, so that a flush they
            // send next finds these projections ahead of it. Should the
            // writer be gone, they are durable here and applied at the next start.
            let _ = self.writer.blocking_send(WriteJob::Journaled {
                projections,
                through,
                permits,
            });
            for reply in replies {
                let _ = reply.send(Ok(()));
            }
            if self.written >= SEGMENT_BYTES
                && let Err(err) = self.rotate()
            {
                tracing::warn!(error = %err, "cannot start a new journal segment; appending to the old one");
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let result = self
            .file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.written += bytes.len() as u64;
                Ok(())
            }
            Err(err) => {
                // Whatever half of the group reached the file was never
                // acknowledged; cut it so later records follow good ones.
                let _ = self.file.set_len(self.written);
                Err(err)
            }
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        let (path, file) = create_segment(&self.dir, self.next_seq)?;
        self.file = file;
        self.written = 0;
        let mut segments = self.segments.lock().expect("journal segments");
        let full = std::mem::replace(
            &mut segments.active,
            Segment {
                path,
                last_seq: self.next_seq - 1,
            },
        );
        segments.closed.push(full);
        segments.remove_applied();
        Ok(())
    }
}

/// Creates the segment whose first record will be `first_seq`, durably
/// named in the directory before any record in it is acknowledged (and
/// after the deletion of older segments with the same name).
fn create_segment(dir: &Path, first_seq: u64) -> io::Result<(PathBuf, File)> {
    let path = dir.join(format!("{first_seq:020}{SEGMENT_SUFFIX}"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    File::open(dir)?.sync_all()?;
    Ok((path, file))
}

/// Reads every segment, oldest first. Reading a segment stops at its first
/// torn or corrupt record, which was never acknowledged.
fn read_segments(dir: &Path) -> io::Result<(Vec<PathBuf>, Vec<RawEvent>)> {
    let mut names: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let first = name.strip_suffix(SEGMENT_SUFFIX)?.parse().ok()?;
            Some((first, entry.path()))
        })
        .collect();
    names.sort();
    let mut raw_events = Vec::new();
    for (_, path) in &names {
        let bytes = std::fs::read(path)?;
        let mut offset = 0;
        while let Some((raw, used)) = decode(&bytes[offset..]) {
            raw_events.push(raw);
            offset += used;
        }
        if offset < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                bytes = bytes.len() - offset,
                "journal segment ends in a torn record (never acknowledged); skipped"
            );
        }
    }
    Ok((
        names.into_iter().map(|(_, path)| path).collect(),
        raw_events,
    ))
}

fn encode(raw: &RawEvent, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    push_short(out, raw.source.as_str().as_bytes());
    push_short(out, raw.dedupe_key.as_bytes());
    out.extend_from_slice(&raw.received_at.0.to_le_bytes());
    push_short(out, raw.verification.as_str().as_bytes());
    out.extend_from_slice(&raw.payload);
    let body = &out[start + HEADER..];
    let length = u32::try_from(body.len()).expect("a record is smaller than 4 GiB");
    let crc = crc32fast::hash(body);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
}

fn push_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = u16::try_from(bytes.len()).expect("source, key and verification are short");
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The record at the start of `bytes` and its length with header, or `None`
/// at the end of the records (zeros, a torn write, a CRC mismatch).
fn decode(bytes: &[u8]) -> Option<(RawEvent, usize)> {
    let header = bytes.get(..HEADER)?;
    let length = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if length == 0 || length > MAX_RECORD {
        return None;
    }
    let body = bytes.get(HEADER..HEADER + length)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let mut rest = body;
    let source: Source = std::str::from_utf8(take_short(&mut rest)?)
        .ok()?
        .parse()
        .ok()?;
    let dedupe_key = std::str::from_utf8(take_short(&mut rest)?).ok()?.to_owned();
    let (received_at, tail) = rest.split_first_chunk::<8>()?;
    rest = tail;
    let verification: Verification = std::str::from_utf8(take_short(&mut rest)?)
        .ok()?
        .parse()
        .ok()?;
    let raw = RawEvent {
        id: None,
        source,
        dedupe_key,
        received_at: Timestamp(i64::from_le_bytes(*received_at)),
        verification,
        payload: rest.to_vec(),
    };
    Some((raw, HEADER + length))
}

fn take_short<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (length, tail) = rest.split_first_chunk::<2>()?;
    let length = u16::from_le_bytes(*length) as usize;
    let field = tail.get(..length)?;
    *rest = &tail[length..];
    Some(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn projection(n: usize) -> Projection {
        Projection {
            raw: RawEvent::webhook(
                Source::WhatsApp,
                format!("{{\"delivery\":{n},\"text\":\"Schaden gemeldet\"}}").into_bytes(),
                Timestamp(1_750_000_000_000 + n as i64),
            ),
            items: Vec::new(),
            parse_error: None,
        }
    }

    /// A journal opened and started in `dir`, and the writer's end of it.
    fn started(dir: &Path) -> (Journal, mpsc::Receiver<WriteJob>) {
        let (writer, jobs) = mpsc::channel(16);
        let journal = Opened::open(dir).unwrap().unwrap().start(writer).unwrap();
        (journal, jobs)
    }

    /// Appends `count` deliveries and returns what the writer was handed.
    async fn append_all(
        journal: &Journal,
        jobs: &mut mpsc::Receiver<WriteJob>,
        count: usize,
    ) -> Vec<RawEvent> {
        for n in 0..count {
            journal.append(vec![projection(n)]).await.unwrap();
        }
        let mut handed = Vec::new();
        while handed.len() < count {
            match jobs.recv().await.unwrap() {
                WriteJob::Journaled { projections, .. } => {
                    handed.extend(projections.into_iter().map(|p| p.raw))
                }
                _ => panic!("only journaled groups reach the writer"),
            }
        }
        handed
    }

    #[test]
    fn records_read_back_exactly() {
        let raw = projection(7).raw;
        let mut bytes = Vec::new();
        encode(&raw, &mut bytes);
        let (decoded, used) = decode(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(decoded, raw);
    }

    #[test]
    fn a_torn_or_corrupt_record_ends_the_segment() {
        let mut bytes = Vec::new();
        encode(&projection(1).raw, &mut bytes);
        let whole = bytes.len();
        encode(&projection(2).raw, &mut bytes);
        assert!(decode(&bytes[whole..bytes.len() - 1]).is_none(), "torn");
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(decode(&flipped[whole..]).is_none(), "CRC mismatch");
        assert!(decode(&[0; 64]).is_none(), "zeros");
    }

    #[tokio::test]
    async fn acknowledged_records_survive_a_crash_and_a_torn_tail_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let journal_dir = dir.path().join("db.accepted");
        let (writer, mut jobs) = mpsc::channel(16);
        let opened = Opened::open(&journal_dir).unwrap().unwrap();
        assert!(opened.recovered.is_empty());
        let journal = opened.start(writer).unwrap();
        let handed = append_all(&journal, &mut jobs, 5).await;
        assert_eq!(handed.len(), 5);
        // A second process finds the journal taken.
        assert!(Opened::open(&journal_dir).unwrap().is_none());

        // Crash: nothing applied, the thread gone, a half-written record at the end.
        journal.stop().await;
        drop(journal);
        let segment = journal_dir.join(format!("{:020}{SEGMENT_SUFFIX}", 1));
        let mut torn = Vec::new();
        encode(&projection(99).raw, &mut torn);
        let mut file = OpenOptions::new().append(true).open(&segment).unwrap();
        file.write_all(&torn[..torn.len() / 2]).unwrap();

        let reopened = Opened::open(&journal_dir).unwrap().unwrap();
        assert_eq!(
            reopened.recovered, handed,
            "every acknowledged record, in order"
        );
        // Started again, the old segment is gone and appends go on.
        let (writer, mut jobs) = mpsc::channel(16);
        let journal = reopened.start(writer).unwrap();
        append_all(&journal, &mut jobs, 1).await;
        journal.stop().await;
        drop(journal);
        let again = Opened::open(&journal_dir).unwrap().unwrap();
        assert_eq!(again.recovered.len(), 1);
    }

    #[tokio::test]
    async fn applied_segments_are_deleted_and_a_clean_stop_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let journal_dir = dir.path().join("db.accepted");
        let (journal, mut jobs) = started(&journal_dir);
        append_all(&journal, &mut jobs, 3).await;
        // Rotated segments go once applied; the active one stays while running.
        journal.applied(3);
        let segments = |dir: &Path| {
            std::fs::read_dir(dir)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(SEGMENT_SUFFIX)
                })
                .count()
        };
        assert_eq!(segments(&journal_dir), 1);
        journal.stop().await;
        journal.finish();
        assert_eq!(segments(&journal_dir), 0, "all applied: nothing to replay");
        drop(journal);
        assert!(
            Opened::open(&journal_dir)
                .unwrap()
                .unwrap()
                .recovered
                .is_empty()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acknowledgements_wait_while_the_writer_is_a_full_backlog_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, mut jobs) = mpsc::channel(16);
        let journal = Arc::new(
            Opened::open(&dir.path().join("db.accepted"))
                .unwrap()
                .unwrap()
                .start_with_backlog(writer, 3)
                .unwrap(),
        );
        append_all(&journal, &mut jobs, 3).await;
        assert_eq!(journal.backlog(), 3);
        let waiting = tokio::spawn({
            let journal = journal.clone();
            async move { journal.append(vec![projection(3)]).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            !waiting.is_finished(),
            "no room: the fourth is not acknowledged"
        );
        journal.release(3);
        waiting.await.unwrap().unwrap();
        assert_eq!(journal.backlog(), 1);
        journal.stop().await;
    }

    #[tokio::test]
    async fn unapplied_records_stay_after_a_clean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let journal_dir = dir.path().join("db.accepted");
        let (journal, mut jobs) = started(&journal_dir);
        append_all(&journal, &mut jobs, 4).await;
        journal.applied(2);
        journal.stop().await;
        journal.finish();
        drop(journal);
        let reopened = Opened::open(&journal_dir).unwrap().unwrap();
        assert_eq!(
            reopened.recovered.len(),
            4,
            "a segment goes only when all of it is applied"
        );
    }
}
