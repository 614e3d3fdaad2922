//! The projector: turns a raw event into domain items (by the parser of its
//! source) and analyses every text. Deterministic, so a replay of the raw
//! log rebuilds the same projections.

use resonanz_core::analysis::Analysis;
use resonanz_core::import::{ImportItem, parse_record};
use resonanz_core::{Channel, Inbound, RawEvent, Source};
use resonanz_store::{ProjectedItem, Projection, Store, StoreError};
use std::sync::Arc;

/// The text analyser seam (implemented by `resonanz-analysis`).
pub trait TextAnalyzer: Send + Sync + 'static {
    fn analyze(&self, text: &str) -> Analysis;
    /// The social-media guideline's findings on an agent's draft.
    fn check_outgoing(
        &self,
        text: &str,
        ctx: &resonanz_analysis::OutgoingContext,
    ) -> Vec<resonanz_analysis::GuidelineFinding>;
}

impl TextAnalyzer for resonanz_analysis::Analyzer {
    fn analyze(&self, text: &str) -> Analysis {
        resonanz_analysis::Analyzer::analyze(self, text)
    }

    fn check_outgoing(
        &self,
        text: &str,
        ctx: &resonanz_analysis::OutgoingContext,
    ) -> Vec<resonanz_analysis::GuidelineFinding> {
        resonanz_analysis::Analyzer::check_outgoing(self, text, ctx)
    }
}

#[derive(Clone)]
pub struct Pipeline {
    analyzer: Arc<dyn TextAnalyzer>,
}

impl Pipeline {
    pub fn new(analyzer: Arc<dyn TextAnalyzer>) -> Self {
        Self { analyzer }
    }

    /// The pipeline with the analysis models shipped in the binary.
    pub fn shipped() -> Self {
        Self::new(Arc::new(resonanz_analysis::Analyzer::shipped()))
    }

    pub fn analyzer(&self) -> &Arc<dyn TextAnalyzer> {
        &self.analyzer
    }

    /// Parses and analyses a raw event. A payload its parser rejects still
    /// becomes a projection (with `parse_error`), so the raw event is kept.
    pub fn project(&self, raw: RawEvent) -> Projection {
        match parse(&raw) {
            Ok(items) => self.project_parsed(raw, items),
            Err(err) => Projection {
                raw,
                items: Vec::new(),
                parse_error: Some(err),
            },
        }
    }

    /// Analyses items already parsed from `raw`.
    pub fn project_parsed(&self, raw: RawEvent, items: Vec<Inbound>) -> Projection {
        let items = items
            .into_iter()
            .map(|inbound| {
                let analysis = text_of(&inbound).map(|text| self.analyzer.analyze(text));
                ProjectedItem { inbound, analysis }
            })
            .collect();
        Projection {
            raw,
            items,
            parse_error: None,
        }
    }

    /// Projects raw events that were accepted (acknowledged) but whose
    /// projection never committed, e.g. after a crash; returns how many.
    pub async fn project_unprojected(
        &self,
        store: &Store,
        batch: i64,
    ) -> resonanz_store::Result<u64> {
        let mut projected = 0u64;
        loop {
            let raws = store.unprojected_raw_events(batch).await?;
            if raws.is_empty() {
                return Ok(projected);
            }
            let count = raws.len() as u64;
            let projections = raws.into_iter().map(|raw| self.project(raw)).collect();
            store.reproject(projections).await?;
            projected += count;
        }
    }

    /// Rebuilds every projection from the raw log; returns the raw events replayed.
    pub async fn replay(&self, store: &Store, batch: i64) -> resonanz_store::Result<u64> {
        self.replay_with_progress(store, batch, |_| {}).await
    }

    /// [`Pipeline::replay`], telling `progress` how many raw events are
    /// projected so far. The next batch is read, parsed and analysed while
    /// the current one commits; batches commit in the log's order, so the
    /// projections are the same as one by one.
    pub async fn replay_with_progress(
        &self,
        store: &Store,
        batch: i64,
        progress: impl Fn(u64),
    ) -> resonanz_store::Result<u64> {
        store.reset_projections().await?;
        let (batches, mut projected) = tokio::sync::mpsc::channel::<Vec<Projection>>(2);
        let reader = {
            let (store, pipeline) = (store.clone(), self.clone());
            tokio::spawn(async move {
                let mut after = 0;
                loop {
                    let raws = store.raw_events_after(after, batch).await?;
                    let Some(last) = raws.last() else {
                        return Ok::<(), StoreError>(());
                    };
                    after = last.id.map(|id| id.0).unwrap_or(after);
                    let pipeline = pipeline.clone();
                    let projections = tokio::task::spawn_blocking(move || {
                        raws.into_iter()
                            .map(|raw| pipeline.project(raw))
                            .collect::<Vec<_>>()
                    })
                    .await
                    .map_err(|err| StoreError::Io(format!("replay analysis: {err}")))?;
                    if batches.send(projections).await.is_err() {
                        // The committing side stopped; it reports why.
                        return Ok(());
                    }
                }
            })
        };
        let mut replayed = 0u64;
        while let Some(projections) = projected.recv().await {
            let count = projections.len() as u64;
            if let Err(err) = store.reproject(projections).await {
                reader.abort();
                return Err(err);
            }
            replayed += count;
            progress(replayed);
        }
        reader
            .await
            .map_err(|err| StoreError::Io(format!("replay reader: {err}")))??;
        Ok(replayed)
    }
}

fn text_of(inbound: &Inbound) -> Option<&str> {
    let text = match inbound {
        Inbound::Message(m) => m.text.as_deref().or_else(|| {
            m.attachments
                .iter()
                .find_map(|attachment| attachment.caption.as_deref())
        }),
        Inbound::Mention(m) => Some(m.text.as_str()),
        Inbound::Review(r) => Some(r.text.as_str()),
        _ => None,
    }?;
    (!text.trim().is_empty()).then_some(text)
}

/// The parser for each source.
pub fn parse(raw: &RawEvent) -> Result<Vec<Inbound>, String> {
    match raw.source {
        Source::WhatsApp => {
            resonanz_channels::whatsapp::parse_webhook(&raw.payload).map_err(|e| e.to_string())
        }
        Source::Messenger => {
            resonanz_channels::meta_messaging::parse_webhook(&raw.payload, Channel::Messenger)
                .map_err(|e| e.to_string())
        }
        Source::Instagram => {
            resonanz_channels::meta_messaging::parse_webhook(&raw.payload, Channel::Instagram)
                .map_err(|e| e.to_string())
        }
        Source::ImportMention | Source::ImportReview => {
            let record = resonanz_core::import::record_from_json_line(
                std::str::from_utf8(&raw.payload).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            match parse_record(&record).map_err(|e| e.to_string())? {
                ImportItem::Mention(m) => Ok(vec![Inbound::Mention(m)]),
                ImportItem::Review(r) => Ok(vec![Inbound::Review(r)]),
            }
        }
        Source::Outbox => crate::outbound::receipt::parse(&raw.payload),
        Source::X => Err("no parser for X stream items in this version".into()),
    }
}
