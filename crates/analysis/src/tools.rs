//! Library side of the `resonanz train | eval | adapt | bench analysis` commands, so the CLI
//! stays a thin argument parser.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use resonanz_core::analysis::{SensitiveKind, Sentiment};

use crate::data::{self, Format, Item};
use crate::metrics::Confusion;
use crate::model::{self, LinearModel, MAX_CLASSES, Sample, TrainConfig, TrainReport};
use crate::pii::{PiiDetector, kind_str, parse_kind};
use crate::{Analyzer, FeatureContext, OFFENSIVE_LABELS, SENTIMENT_LABELS};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    Sentiment,
    Offensive,
}

impl Task {
    pub fn name(self) -> &'static str {
        match self {
            Task::Sentiment => "sentiment",
            Task::Offensive => "offensive",
        }
    }
    pub fn labels(self) -> Vec<String> {
        match self {
            Task::Sentiment => SENTIMENT_LABELS.iter().map(|s| s.to_string()).collect(),
            Task::Offensive => OFFENSIVE_LABELS.iter().map(|s| s.to_string()).collect(),
        }
    }
    /// Map a label from a data file to a class index.
    pub fn label_index(self, label: &str) -> Option<usize> {
        match self {
            Task::Sentiment => Sentiment::parse(label)
                .map(|s| Sentiment::ALL.iter().position(|x| *x == s).unwrap_or(1)),
            Task::Offensive => match label.trim().to_ascii_uppercase().as_str() {
                "OTHER" | "0" | "NOT" => Some(0),
                "OFFENSE" | "OFFENSIVE" | "1" => Some(1),
                _ => None,
            },
        }
    }
    pub fn shipped_model(self) -> LinearModel {
        let a = Analyzer::shipped();
        match self {
            Task::Sentiment => a.sentiment_model().clone(),
            Task::Offensive => a.offensive_model().clone(),
        }
    }
}

fn labelled(task: Task, items: &[Item]) -> Result<Vec<(String, usize)>> {
    items
        .iter()
        .enumerate()
        .map(|(n, it)| {
            let l = it
                .label
                .as_deref()
                .with_context(|| format!("item {} has no label", n + 1))?;
            let y = task
                .label_index(l)
                .with_context(|| format!("item {}: unknown {} label {l:?}", n + 1, task.name()))?;
            Ok((it.text.clone(), y))
        })
        .collect()
}

fn featurize(fx: &FeatureContext, data: &[(String, usize)], bits: u8) -> Vec<Sample> {
    data.iter()
        .map(|(t, y)| Sample {
            x: fx.featurize(t, bits),
            y: *y,
        })
        .collect()
}

/// Deterministic stratified split: every `1/frac`-th item of each class goes to held-out.
type Labelled = Vec<(String, usize)>;

fn stratified_holdout(data: &[(String, usize)], frac: f32, seed: u64) -> (Labelled, Labelled) {
    let mut idx: Vec<usize> = (0..data.len()).collect();
    shuffle(&mut idx, seed);
    idx.sort_by_key(|i| data[*i].1);
    let step = (1.0 / frac.clamp(0.02, 0.5)).round() as usize;
    let (mut tr, mut ho) = (Vec::new(), Vec::new());
    for (pos, i) in idx.into_iter().enumerate() {
        if pos % step == 0 {
            ho.push(data[i].clone());
        } else {
            tr.push(data[i].clone());
        }
    }
    (tr, ho)
}

fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut s = seed.max(1);
    for i in (1..v.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.swap(i, (s % (i as u64 + 1)) as usize);
    }
}

#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub task: Task,
    pub data: PathBuf,
    pub format: Format,
    pub out: PathBuf,
    pub bits: u8,
    pub heldout_frac: f32,
    pub balanced: bool,
    pub seed: u64,
    /// In-domain labelled TSV files trained on beside `data`.
    pub domain: Vec<DomainFile>,
    /// Times each in-domain training example counts.
    pub domain_weight: usize,
}

/// An in-domain TSV file; with `label`, every text in it counts as that class (customer
/// messages labelled for sentiment are `OTHER` for the offensive model).
#[derive(Clone, Debug, PartialEq)]
pub struct DomainFile {
    pub path: PathBuf,
    pub label: Option<String>,
}

impl std::str::FromStr for DomainFile {
    type Err = anyhow::Error;

    /// `PATH` or `PATH=LABEL`.
    fn from_str(s: &str) -> Result<DomainFile> {
        match s.rsplit_once('=') {
            Some((path, label))
                if !path.is_empty() && !label.is_empty() && !label.contains('/') =>
            {
                Ok(DomainFile {
                    path: path.into(),
                    label: Some(label.to_owned()),
                })
            }
            _ => Ok(DomainFile {
                path: s.into(),
                label: None,
            }),
        }
    }
}

/// Share of each in-domain file held out for model choice and calibration.
const DOMAIN_HELDOUT: f32 = 0.2;

const BAG_FOLDS: usize = 5;
const BAG_MIN: usize = 50;

/// Train on labelled data and fit calibration; the held-out slice is PotTS dev for `potts`,
/// otherwise a stratified `heldout_frac` of the file.
pub fn train_split(
    task: Task,
    fx: &FeatureContext,
    train: &[(String, usize)],
    heldout: Option<&[(String, usize)]>,
    cfg: &TrainConfig,
    heldout_frac: f32,
) -> Result<(LinearModel, TrainReport)> {
    // In-domain files (a few thousand items): 5-fold cross-validated bagging uses every
    // example for training and averages away the variance of one held-out split.
    if heldout.is_none() && train.len() >= BAG_MIN {
        let s = featurize(fx, train, cfg.bits);
        return model::train_bagged(task.name(), &task.labels(), &s, BAG_FOLDS, cfg);
    }
    let (tr, ho) = match heldout {
        Some(h) => (train.to_vec(), h.to_vec()),
        None => stratified_holdout(train, heldout_frac, cfg.seed),
    };
    let tr_s = featurize(fx, &tr, cfg.bits);
    let ho_s = featurize(fx, &ho, cfg.bits);
    model::train(task.name(), &task.labels(), &tr_s, &ho_s, cfg)
}

pub fn run_train(opts: &TrainOptions, log: &mut dyn Write) -> Result<LinearModel> {
    let fx = FeatureContext::shipped();
    let cfg = TrainConfig {
        bits: opts.bits,
        balanced: opts.balanced,
        seed: opts.seed,
        // The shipped PotTS model predicts under a uniform prior: the tweet mix (46 %
        // positive) is not the deployment's; in-domain data keeps half of its own skew.
        prior_power: if opts.format == Format::Potts {
            0.0
        } else {
            TrainConfig::default().prior_power
        },
        ..TrainConfig::default()
    };
    let (mut train, mut heldout) = if opts.format == Format::Potts {
        let tr = data::load(&opts.data, Format::Potts, Some("train"))?;
        let dev = data::load(&opts.data, Format::Potts, Some("dev"))?;
        (labelled(opts.task, &tr)?, Some(labelled(opts.task, &dev)?))
    } else {
        (
            labelled(opts.task, &data::load(&opts.data, opts.format, None)?)?,
            None,
        )
    };
    for domain in &opts.domain {
        let path = &domain.path;
        let mut items = data::load(path, Format::Tsv, None)?;
        if let Some(label) = &domain.label {
            for item in &mut items {
                item.label = Some(label.clone());
            }
        }
        let items = labelled(opts.task, &items)?;
        let (tr, ho) = match heldout.as_mut() {
            Some(heldout) => {
                let (tr, ho) = stratified_holdout(&items, DOMAIN_HELDOUT, opts.seed);
                heldout.extend(ho.iter().cloned());
                (tr, ho)
            }
            None => (items, Vec::new()),
        };
        writeln!(
            log,
            "domain {}{}: {} for training (x{}), {} held out",
            path.display(),
            domain
                .label
                .as_deref()
                .map(|l| format!(" as {l}"))
                .unwrap_or_default(),
            tr.len(),
            opts.domain_weight.max(1),
            ho.len()
        )?;
        for _ in 0..opts.domain_weight.max(1) {
            train.extend(tr.iter().cloned());
        }
    }
    ensure!(
        train.len() >= 10,
        "too few labelled examples ({})",
        train.len()
    );
    let t0 = Instant::now();
    let (model, rep) = train_split(
        opts.task,
        &fx,
        &train,
        heldout.as_deref(),
        &cfg,
        opts.heldout_frac,
    )?;
    writeln!(
        log,
        "trained {} on {} examples in {:.1}s: l2={} epochs={} held-out macro_f1={:.4} accuracy={:.4} temperature={:.3} nll={:.4}",
        opts.task.name(),
        train.len(),
        t0.elapsed().as_secs_f32(),
        rep.l2,
        rep.epochs,
        rep.heldout_macro_f1,
        rep.heldout_accuracy,
        rep.temperature,
        rep.heldout_nll
    )?;
    let bytes = model.to_bytes();
    if let Some(dir) = opts.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&opts.out, &bytes).with_context(|| format!("writing {}", opts.out.display()))?;
    writeln!(
        log,
        "wrote {} ({} KiB)",
        opts.out.display(),
        bytes.len() / 1024
    )?;
    Ok(model)
}

pub fn load_model(task: Task, path: Option<&Path>) -> Result<LinearModel> {
    let m = match path {
        Some(p) => LinearModel::from_bytes(
            &std::fs::read(p).with_context(|| format!("reading model {}", p.display()))?,
        )
        .with_context(|| format!("loading model {}", p.display()))?,
        None => task.shipped_model(),
    };
    ensure!(
        m.labels == task.labels(),
        "model labels {:?} do not fit task {}",
        m.labels,
        task.name()
    );
    Ok(m)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    Majority,
    Lexicon,
}

impl std::str::FromStr for Baseline {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Baseline> {
        match s {
            "majority" => Ok(Baseline::Majority),
            "lexicon" => Ok(Baseline::Lexicon),
            o => bail!("unknown baseline {o:?} (majority, lexicon)"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub task: Task,
    pub model: Option<PathBuf>,
    pub data: PathBuf,
    pub format: Format,
    /// PotTS split to evaluate (default test).
    pub split: Option<String>,
    pub predictions: Option<PathBuf>,
    pub baseline: Option<Baseline>,
    /// k-fold cross-validation of the learner on the file instead of a fixed model.
    pub cv: Option<usize>,
    /// Re-estimate class priors (EM) on the evaluation texts themselves, labels unused.
    pub adapt: bool,
    pub bits: u8,
    /// Subsample the evaluation data to these class proportions (simulated label shift).
    pub resample: Option<Vec<f32>>,
}

/// Deterministic subsample with the given class proportions, as large as the data allows.
fn resample(data: Vec<(String, usize)>, props: &[f32], k: usize) -> Result<Vec<(String, usize)>> {
    ensure!(props.len() == k, "--resample needs {k} proportions");
    let sum: f32 = props.iter().sum();
    ensure!(sum > 0.0, "proportions must be positive");
    let mut by_class: Vec<Vec<(String, usize)>> = vec![Vec::new(); k];
    for d in data {
        by_class[d.1].push(d);
    }
    let total = (0..k)
        .filter(|c| props[*c] > 0.0)
        .map(|c| by_class[c].len() as f32 / (props[c] / sum))
        .fold(f32::INFINITY, f32::min);
    let mut out = Vec::new();
    for (c, mut items) in by_class.into_iter().enumerate() {
        shuffle(&mut items, 11 + c as u64);
        let n = ((props[c] / sum) * total).floor() as usize;
        out.extend(items.into_iter().take(n));
    }
    shuffle(&mut out, 5);
    Ok(out)
}

/// Evaluate and write the report (last line `result: …`).
pub fn run_eval(opts: &EvalOptions, out: &mut dyn Write) -> Result<Confusion> {
    let split = match (&opts.split, opts.format) {
        (Some(s), _) => Some(s.as_str()),
        (None, Format::Potts) => Some("test"),
        _ => None,
    };
    let items = data::load(&opts.data, opts.format, split)?;
    let mut data = labelled(opts.task, &items)?;
    if let Some(props) = &opts.resample {
        data = resample(data, props, opts.task.labels().len())?;
    }
    ensure!(
        !data.is_empty(),
        "no labelled items in {}",
        opts.data.display()
    );
    let labels = opts.task.labels();
    let k = labels.len();
    let fx = FeatureContext::shipped();
    // (predicted index, score) per input line
    let mut preds: Vec<(usize, f32)> = Vec::with_capacity(data.len());
    let what;
    if let Some(b) = opts.baseline {
        match b {
            Baseline::Majority => {
                let mut counts = vec![0usize; k];
                for (_, y) in &data {
                    counts[*y] += 1;
                }
                let maj = model::argmax(&counts.iter().map(|c| *c as f32).collect::<Vec<_>>());
                preds = data.iter().map(|_| (maj, 1.0)).collect();
                what = format!("majority-class baseline ({})", labels[maj]);
            }
            Baseline::Lexicon => {
                for (t, _) in &data {
                    let p = fx.lexicon_polarity(t);
                    let y = match opts.task {
                        Task::Sentiment if p > 0.15 => 2,
                        Task::Sentiment if p < -0.15 => 0,
                        Task::Sentiment => 1,
                        Task::Offensive if p < -0.5 => 1,
                        Task::Offensive => 0,
                    };
                    preds.push((y, p));
                }
                what = "lexicon-only baseline (polarity lexicon + emoji, negation-aware)".into();
            }
        }
    } else if let Some(folds) = opts.cv {
        ensure!(folds >= 2, "--cv needs at least 2 folds");
        let mut order: Vec<usize> = (0..data.len()).collect();
        shuffle(&mut order, 7);
        order.sort_by_key(|i| data[*i].1);
        let mut fold_of = vec![0usize; data.len()];
        for (pos, i) in order.iter().enumerate() {
            fold_of[*i] = pos % folds;
        }
        preds = vec![(0, 0.0); data.len()];
        let cfg = TrainConfig {
            bits: opts.bits,
            ..TrainConfig::default()
        };
        for f in 0..folds {
            let train: Vec<(String, usize)> = data
                .iter()
                .zip(&fold_of)
                .filter(|(_, fo)| **fo != f)
                .map(|(d, _)| d.clone())
                .collect();
            let (m, rep) = train_split(opts.task, &fx, &train, None, &cfg, 0.1)?;
            writeln!(
                out,
                "fold {}/{folds}: trained on {} (l2={}, epochs={}, held-out macro_f1={:.4})",
                f + 1,
                train.len(),
                rep.l2,
                rep.epochs,
                rep.heldout_macro_f1
            )?;
            for (i, (t, _)) in data.iter().enumerate() {
                if fold_of[i] == f {
                    let p = m.probs(&fx.featurize(t, m.bits));
                    preds[i] = score_of(opts.task, &p[..k]);
                }
            }
        }
        what = format!("{folds}-fold cross-validation of the learner");
    } else {
        let mut m = load_model(opts.task, opts.model.as_deref())?;
        let feats: Vec<Vec<(u32, f32)>> =
            data.iter().map(|(t, _)| fx.featurize(t, m.bits)).collect();
        if opts.adapt {
            let raw: Vec<[f32; MAX_CLASSES]> = feats.iter().map(|x| m.raw_probs(x)).collect();
            let pri = model::em_priors(&raw, &m.train_prior, 500);
            writeln!(
                out,
                "EM prior re-estimation on the {} unlabelled texts: {}",
                raw.len(),
                fmt_priors(&labels, &pri)
            )?;
            m = m.with_priors(&pri);
        }
        for x in &feats {
            let p = m.probs(x);
            preds.push(score_of(opts.task, &p[..k]));
        }
        what = match &opts.model {
            Some(p) => format!("model {}", p.display()),
            None => format!("shipped {} model", opts.task.name()),
        } + if opts.adapt {
            " + EM prior adaptation"
        } else {
            ""
        };
    }
    let mut conf = Confusion::new(k);
    for ((_, y), (p, _)) in data.iter().zip(&preds) {
        conf.add(*y, *p);
    }
    if let Some(path) = &opts.predictions {
        let mut s = String::from("predicted\tscore\n");
        for (p, sc) in &preds {
            let _ = writeln!(s, "{}\t{sc:.4}", labels[*p]);
        }
        std::fs::write(path, s).with_context(|| format!("writing {}", path.display()))?;
    }
    writeln!(
        out,
        "evaluating {what} on {} ({} items)",
        opts.data.display(),
        data.len()
    )?;
    writeln!(out, "{}", conf.report(&labels))?;
    Ok(conf)
}

/// Predicted class and its score (sentiment: P(pos) - P(neg); offensive: P(OFFENSE)).
fn score_of(task: Task, p: &[f32]) -> (usize, f32) {
    let y = model::argmax(p);
    match task {
        Task::Sentiment => (y, p[2] - p[0]),
        Task::Offensive => (y, p[1]),
    }
}

fn fmt_priors(labels: &[String], p: &[f32]) -> String {
    labels
        .iter()
        .zip(p)
        .map(|(l, v)| format!("{l}={v:.3}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Clone, Debug)]
pub struct AdaptOptions {
    pub model: Option<PathBuf>,
    pub unlabelled: PathBuf,
    pub format: Format,
    pub out: PathBuf,
    /// Set the deployment prior directly (negative,neutral,positive) instead of EM.
    pub priors: Option<Vec<f32>>,
}

pub fn run_adapt(opts: &AdaptOptions, log: &mut dyn Write) -> Result<LinearModel> {
    let m = load_model(Task::Sentiment, opts.model.as_deref())?;
    let labels = Task::Sentiment.labels();
    let pri = match &opts.priors {
        Some(p) => {
            ensure!(
                p.len() == 3,
                "--priors needs three values: negative,neutral,positive"
            );
            let s: f32 = p.iter().sum();
            ensure!(s > 0.0, "priors must be positive");
            p.iter().map(|v| v / s).collect()
        }
        None => {
            let items = data::load(&opts.unlabelled, opts.format, None)?;
            ensure!(
                !items.is_empty(),
                "no texts in {}",
                opts.unlabelled.display()
            );
            let fx = FeatureContext::shipped();
            let raw: Vec<[f32; MAX_CLASSES]> = items
                .iter()
                .map(|it| m.raw_probs(&fx.featurize(&it.text, m.bits)))
                .collect();
            writeln!(log, "read {} unlabelled texts", raw.len())?;
            model::em_priors(&raw, &m.train_prior, 500)
        }
    };
    writeln!(
        log,
        "training prior: {}\nestimated deployment prior: {}",
        fmt_priors(&labels, &m.train_prior),
        fmt_priors(&labels, &pri)
    )?;
    let adapted = m.with_priors(&pri);
    std::fs::write(&opts.out, adapted.to_bytes())
        .with_context(|| format!("writing {}", opts.out.display()))?;
    writeln!(log, "wrote {}", opts.out.display())?;
    Ok(adapted)
}

// ------------------------------------------------------------------ PII evaluation

pub const PII_CORPUS: &str = include_str!("../testdata/pii_cases.tsv");

#[derive(Clone, Debug, Default)]
pub struct PiiScore {
    pub cases: usize,
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

impl PiiScore {
    pub fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    pub fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
}

/// Corpus format: `EXPECTED<TAB>TEXT`, EXPECTED = `-` or `kind=substring` joined by ` || `.
pub fn run_eval_pii(corpus: Option<&Path>, out: &mut dyn Write) -> Result<PiiScore> {
    let text = match corpus {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => PII_CORPUS.to_string(),
    };
    let det = PiiDetector::shipped();
    let mut total = PiiScore::default();
    let mut per_kind: std::collections::BTreeMap<&'static str, PiiScore> = Default::default();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((exp, sample)) = line.split_once('\t') else {
            bail!("PII corpus line {}: expected EXPECTED<TAB>TEXT", n + 1);
        };
        let mut expected: Vec<(SensitiveKind, String)> = Vec::new();
        if exp.trim() != "-" {
            for e in exp.split(" || ") {
                let (k, s) = e
                    .split_once('=')
                    .with_context(|| format!("line {}: bad expectation {e:?}", n + 1))?;
                let kind = parse_kind(k.trim())
                    .with_context(|| format!("line {}: unknown kind {k:?}", n + 1))?;
                ensure!(sample.contains(s), "line {}: {s:?} not in text", n + 1);
                expected.push((kind, s.to_string()));
            }
        }
        total.cases += 1;
        let found: Vec<(SensitiveKind, String)> = det
            .detect(sample)
            .into_iter()
            .map(|s| (s.kind, sample[s.start..s.end].to_string()))
            .collect();
        let mut unmatched = expected.clone();
        for f in &found {
            let e = per_kind.entry(kind_str(f.0)).or_default();
            if let Some(pos) = unmatched.iter().position(|u| u == f) {
                unmatched.remove(pos);
                total.tp += 1;
                e.tp += 1;
            } else {
                total.fp += 1;
                e.fp += 1;
                writeln!(
                    out,
                    "false positive (line {}): {}={:?}",
                    n + 1,
                    kind_str(f.0),
                    f.1
                )?;
            }
        }
        for u in unmatched {
            total.fn_ += 1;
            per_kind.entry(kind_str(u.0)).or_default().fn_ += 1;
            writeln!(out, "missed (line {}): {}={:?}", n + 1, kind_str(u.0), u.1)?;
        }
    }
    writeln!(
        out,
        "{:<14} {:>5} {:>5} {:>5} {:>9} {:>9}",
        "kind", "tp", "fp", "fn", "precision", "recall"
    )?;
    for (k, s) in &per_kind {
        writeln!(
            out,
            "{k:<14} {:>5} {:>5} {:>5} {:>9.4} {:>9.4}",
            s.tp,
            s.fp,
            s.fn_,
            s.precision(),
            s.recall()
        )?;
    }
    let (p, r) = (total.precision(), total.recall());
    let f1 = if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    };
    writeln!(
        out,
        "result: precision={p:.4} recall={r:.4} f1={f1:.4} cases={} tp={} fp={} fn={}",
        total.cases, total.tp, total.fp, total.fn_
    )?;
    Ok(total)
}

// ------------------------------------------------------------------ topic evaluation

#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    pub fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct LabelScore {
    pub texts: usize,
    /// Texts whose label set is exactly the expected one.
    pub exact: usize,
    pub total: Counts,
    pub per_label: std::collections::BTreeMap<String, Counts>,
}

impl LabelScore {
    /// Mean F1 over the labels the tagger knows.
    pub fn macro_f1(&self) -> f64 {
        let n = self.per_label.len().max(1) as f64;
        self.per_label.values().map(Counts::f1).sum::<f64>() / n
    }
}

/// Corpus format: `TOPICS<TAB>TEXT`, TOPICS = comma-separated topic ids or `-` for none.
/// Writes every disagreement, a per-topic table and a `result:` line.
pub fn run_eval_topics(path: &Path, out: &mut dyn Write) -> Result<LabelScore> {
    let analyzer = crate::Analyzer::shipped();
    let known = analyzer.taxonomy().topics.iter().map(|t| t.id.clone());
    eval_multilabel(path, "topic", known.collect(), Some("-"), out, &|text| {
        analyzer.analyze(text).topics.into_iter().collect()
    })
}

/// Corpus format: `INTENTS<TAB>TEXT`, INTENTS = comma-separated intent ids (`other` when
/// none of the others applies, as the tagger says).
pub fn run_eval_intents(path: &Path, out: &mut dyn Write) -> Result<LabelScore> {
    let analyzer = crate::Analyzer::shipped();
    let known = resonanz_core::analysis::Intent::ALL
        .iter()
        .map(|i| i.as_str().to_owned());
    eval_multilabel(path, "intent", known.collect(), None, out, &|text| {
        analyzer
            .analyze(text)
            .intents
            .into_iter()
            .map(|i| i.as_str().to_owned())
            .collect()
    })
}

type LabelSet = std::collections::BTreeSet<String>;

/// Multi-label scoring of `predict` on `LABELS<TAB>TEXT` lines; `none` marks an empty set.
fn eval_multilabel(
    path: &Path,
    kind: &str,
    known: LabelSet,
    none: Option<&str>,
    out: &mut dyn Write,
    predict: &dyn Fn(&str) -> LabelSet,
) -> Result<LabelScore> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut score = LabelScore::default();
    for id in &known {
        score.per_label.insert(id.clone(), Counts::default());
    }
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((labels, sample)) = line.split_once('\t') else {
            bail!(
                "{} line {}: expected LABELS<TAB>TEXT",
                path.display(),
                n + 1
            );
        };
        let mut expected = LabelSet::new();
        if none != Some(labels.trim()) {
            for id in labels.split(',').map(str::trim) {
                ensure!(
                    known.contains(id),
                    "{} line {}: unknown {kind} {id:?}",
                    path.display(),
                    n + 1
                );
                expected.insert(id.to_owned());
            }
        }
        let found = predict(sample);
        score.texts += 1;
        if found == expected {
            score.exact += 1;
        }
        for id in found.union(&expected) {
            let c = score.per_label.entry(id.clone()).or_default();
            match (found.contains(id), expected.contains(id)) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                _ => c.fn_ += 1,
            }
        }
        if found != expected {
            let extra: Vec<&str> = found.difference(&expected).map(String::as_str).collect();
            let missed: Vec<&str> = expected.difference(&found).map(String::as_str).collect();
            writeln!(
                out,
                "line {}: extra [{}] missed [{}]: {sample}",
                n + 1,
                extra.join(","),
                missed.join(",")
            )?;
        }
    }
    ensure!(score.texts > 0, "no texts in {}", path.display());
    writeln!(
        out,
        "{kind:<20} {:>5} {:>5} {:>5} {:>9} {:>9} {:>7}",
        "tp", "fp", "fn", "precision", "recall", "f1"
    )?;
    for (id, c) in &score.per_label {
        score.total.tp += c.tp;
        score.total.fp += c.fp;
        score.total.fn_ += c.fn_;
        writeln!(
            out,
            "{id:<20} {:>5} {:>5} {:>5} {:>9.4} {:>9.4} {:>7.4}",
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.f1()
        )?;
    }
    let t = score.total;
    writeln!(
        out,
        "result: micro_f1={:.4} macro_f1={:.4} precision={:.4} recall={:.4} exact_match={:.4} n={}",
        t.f1(),
        score.macro_f1(),
        t.precision(),
        t.recall(),
        score.exact as f64 / score.texts as f64,
        score.texts
    )?;
    Ok(score)
}

// ------------------------------------------------------------------ benchmark

/// Short German posts of the kind the product sees (written for the benchmark).
pub const BENCH_POSTS: &[&str] = &[
    "Super Service, danke! Schaden wurde in zwei Tagen reguliert 👍",
    "Seit Wochen keine Antwort auf meine Schadensmeldung, unverschämt!",
    "@Versicherung Wie kann ich meine Adresse in der App ändern?",
    "Beitragserhöhung um 20 %?! Ich kündige zum Jahresende.",
    "Hotline 45 Minuten Warteschleife und dann aufgelegt. Toll gemacht...",
    "Danke an meinen Makler, hat alles super geklappt :)",
    "Brauche dringend eine Versicherungsbestätigung für die Zulassung, bitte schicken",
    "Hatte gestern einen Auffahrunfall, wie melde ich den Schaden?",
    "Die Kfz-Haftpflicht ist nicht günstig, aber der Service stimmt.",
    "Wasserschaden im Keller, Gutachter kommt erst in drei Wochen #ärgerlich",
    "Erstattung der Zahnarztrechnung ging diesmal richtig schnell, top!",
    "Warum wird meine Rechnung nicht bezahlt? Habe alles eingereicht.",
    "Kundenportal funktioniert schon wieder nicht, Login unmöglich",
    "Sehr kompetente Beratung in der Geschäftsstelle, gerne wieder",
    "Kündigungsbestätigung fehlt immer noch, bitte um Rückmeldung",
    "Habt ihr auch eine Reiserücktrittsversicherung im Angebot?",
];

#[derive(Clone, Debug)]
pub struct BenchResult {
    pub posts: usize,
    pub seconds: f64,
    pub posts_per_s: f64,
    pub peak_rss_mb: f64,
}

/// Full analysis of short posts on one thread for about `seconds`.
pub fn run_bench(seconds: f64, out: &mut dyn Write) -> Result<BenchResult> {
    let analyzer = Analyzer::shipped();
    // Warm-up: lazy statics and thread-local buffers.
    for p in BENCH_POSTS {
        std::hint::black_box(analyzer.analyze(p));
    }
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut n = 0usize;
    let mut sink = 0usize;
    while t0.elapsed().as_secs_f64() < seconds {
        for p in BENCH_POSTS {
            let a = analyzer.analyze(std::hint::black_box(p));
            sink += a.topics.len() + a.sensitive.len();
        }
        n += BENCH_POSTS.len();
    }
    std::hint::black_box(sink);
    let secs = t0.elapsed().as_secs_f64();
    // Per core = per CPU-second of this process, so a busy machine does not halve the figure.
    let cpu = match (cpu0, cpu_seconds()) {
        (Some(a), Some(b)) if b - a > 0.5 => b - a,
        _ => secs,
    };
    let rate = n as f64 / cpu;
    let peak = peak_rss_mb().unwrap_or(0.0);
    let avg_len = BENCH_POSTS.iter().map(|p| p.len()).sum::<usize>() / BENCH_POSTS.len();
    writeln!(
        out,
        "analysed {n} posts (avg {avg_len} bytes) on one thread: {secs:.2}s wall, {cpu:.2}s CPU ({:.0} posts/s wall)",
        n as f64 / secs
    )?;
    writeln!(
        out,
        "result: posts_per_s_per_core={rate:.0} peak_rss_mb={peak:.1}"
    )?;
    Ok(BenchResult {
        posts: n,
        seconds: secs,
        posts_per_s: rate,
        peak_rss_mb: peak,
    })
}

/// User + system CPU time of this process from /proc/self/stat (Linux only).
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Peak resident set size from /proc/self/status (VmHWM), Linux only.
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Rebuild the compiled lexicon from the shared data folder.
pub fn run_compile_lexicon(data_dir: &Path, out: &Path, log: &mut dyn Write) -> Result<()> {
    let text = crate::lexicon::compile_from_sources(data_dir)?;
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    writeln!(
        log,
        "wrote {} ({} lines)",
        out.display(),
        text.lines().count()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pii_corpus_has_300_cases_and_high_precision_and_recall() {
        let mut sink = Vec::new();
        let s = run_eval_pii(None, &mut sink).unwrap();
        let report = String::from_utf8(sink).unwrap();
        assert!(s.cases >= 300, "{}", s.cases);
        assert!(s.precision() >= 0.97 && s.recall() >= 0.97, "{report}");
        assert!(
            report
                .lines()
                .last()
                .unwrap()
                .starts_with("result: precision=")
        );
    }

    #[test]
    fn eval_reports_baselines_and_writes_predictions() {
        let dir = std::env::temp_dir().join(format!("rz-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("d.tsv");
        std::fs::write(
            &data,
            "positive\tSuper Service, vielen Dank!\nnegative\tUnverschämt, seit Wochen keine Antwort\nneutral\tMein Vertrag läuft bis Mai\nneutral\tDer Brief kam heute\n",
        )
        .unwrap();
        let preds = dir.join("p.tsv");
        let mut opts = EvalOptions {
            task: Task::Sentiment,
            model: None,
            data: data.clone(),
            format: Format::Tsv,
            split: None,
            predictions: Some(preds.clone()),
            baseline: None,
            cv: None,
            adapt: false,
            bits: 18,
            resample: None,
        };
        let mut out = Vec::new();
        let conf = run_eval(&opts, &mut out).unwrap();
        assert_eq!(conf.n(), 4);
        assert_eq!(std::fs::read_to_string(&preds).unwrap().lines().count(), 5);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.lines()
                .last()
                .unwrap()
                .starts_with("result: accuracy="),
            "{text}"
        );
        opts.baseline = Some(Baseline::Majority);
        opts.predictions = None;
        let maj = run_eval(&opts, &mut Vec::new()).unwrap();
        assert!((maj.accuracy() - 0.5).abs() < 1e-9);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_learner_learns_a_small_in_domain_task() {
        let fx = FeatureContext::shipped();
        let pos = [
            "schnelle Hilfe",
            "toller Berater",
            "super Abwicklung",
            "sehr zufrieden",
            "klasse Service",
        ];
        let neg = [
            "keine Antwort",
            "ewig gewartet",
            "Geld fehlt immer noch",
            "Hotline nie erreichbar",
            "Antrag verschlampt",
        ];
        let mut data = Vec::new();
        for round in 0..6 {
            for p in pos {
                data.push((format!("{p} {round}"), 2));
            }
            for n in neg {
                data.push((format!("{n} {round}"), 0));
            }
            data.push((format!("Vertrag Nummer {round}"), 1));
            data.push((format!("Brief vom Amt {round}"), 1));
        }
        let cfg = TrainConfig {
            bits: 14,
            ..TrainConfig::default()
        };
        let (m, _) = train_split(Task::Sentiment, &fx, &data, None, &cfg, 0.2).unwrap();
        let p = m.probs(&fx.featurize("Hotline wieder nie erreichbar", m.bits));
        assert_eq!(model::argmax(&p[..3]), 0, "{p:?}");
        let p = m.probs(&fx.featurize("sehr schnelle Hilfe", m.bits));
        assert_eq!(model::argmax(&p[..3]), 2, "{p:?}");
    }

    #[test]
    fn domain_files_join_training_and_teach_what_the_main_data_lacks() {
        let dir = std::env::temp_dir().join(format!("rz-domain-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut main = String::new();
        let mut domain = String::new();
        for round in 0..8 {
            main.push_str(&format!("positive\tsuper toll {round}\nnegative\tschlecht mies {round}\nneutral\tBrief Nummer {round}\n"));
            // "Quorkelbescheid" is a made-up word only the domain file knows as a complaint.
            domain.push_str(&format!(
                "negative\tQuorkelbescheid schon wieder {round}\nneutral\tAntrag {round} anbei\n"
            ));
        }
        std::fs::write(dir.join("main.tsv"), main).unwrap();
        std::fs::write(dir.join("domain.tsv"), domain).unwrap();
        let train = |domain: Vec<DomainFile>| {
            let mut log = Vec::new();
            let opts = TrainOptions {
                task: Task::Sentiment,
                data: dir.join("main.tsv"),
                format: Format::Tsv,
                out: dir.join("m.bin"),
                bits: 14,
                heldout_frac: 0.2,
                balanced: true,
                seed: 42,
                domain,
                domain_weight: 2,
            };
            let model = run_train(&opts, &mut log).unwrap();
            (model, String::from_utf8(log).unwrap())
        };
        let fx = FeatureContext::shipped();
        let text = "Quorkelbescheid";
        let (without, _) = train(Vec::new());
        let (with, log) = train(vec![DomainFile {
            path: dir.join("domain.tsv"),
            label: None,
        }]);
        assert!(log.contains("domain.tsv: 16 for training (x2)"), "{log}");
        let neg = |m: &LinearModel| m.probs(&fx.featurize(text, m.bits))[0];
        assert!(
            neg(&with) > neg(&without) + 0.2,
            "{} vs {}",
            neg(&with),
            neg(&without)
        );
        assert_eq!(
            model::argmax(&with.probs(&fx.featurize(text, with.bits))[..3]),
            0
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn topic_eval_counts_per_topic_and_lists_disagreements() {
        let dir = std::env::temp_dir().join(format!("rz-topics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let data = dir.join("t.tsv");
        std::fs::write(
            &data,
            "claims,car\tUnfall mit dem Auto, wie melde ich den Schaden?\n-\tDanke, schönes Wochenende!\ntravel\tMeine Kfz-Versicherung ist zu teuer.\n",
        )
        .unwrap();
        let mut out = Vec::new();
        let score = run_eval_topics(&data, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!((score.texts, score.exact), (3, 2), "{out}");
        assert_eq!(score.per_label["travel"].fn_, 1, "{out}");
        assert_eq!(score.per_label["claims"].tp, 1, "{out}");
        assert!(
            out.contains("line 3: extra [car,premium] missed [travel]"),
            "{out}"
        );
        assert!(out.lines().last().unwrap().starts_with("result: micro_f1="));
        std::fs::write(&data, "nonsense\tText\n").unwrap();
        let err = run_eval_topics(&data, &mut Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains("unknown topic \"nonsense\""),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
