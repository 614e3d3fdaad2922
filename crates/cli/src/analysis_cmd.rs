//! `resonanz train | eval | adapt | bench analysis`: thin argument parsing over
//! `resonanz_analysis::tools`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use resonanz_analysis::data::Format;
use resonanz_analysis::tools::{
    self, AdaptOptions, Baseline, DomainFile, EvalOptions, Task, TrainOptions,
};

#[derive(clap::Subcommand, Debug)]
pub enum TrainCommand {
    /// Train a sentiment model (negative/neutral/positive) from labelled data.
    Sentiment(TrainArgs),
    /// Train an offensive-language model (OFFENSE/OTHER).
    Offensive(TrainArgs),
    /// Compile the polarity lexicon from the shared data folder.
    Lexicon(LexiconArgs),
}

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Labelled data file.
    #[arg(long)]
    pub data: PathBuf,
    /// tsv (LABEL<TAB>TEXT), potts, germeval2018 or xed.
    #[arg(long, default_value = "tsv")]
    pub format: String,
    /// Where to write the model.
    #[arg(long)]
    pub out: PathBuf,
    /// Hash buckets = 2^bits.
    #[arg(long, default_value_t = 18)]
    pub bits: u8,
    /// Share held out for early stopping and calibration on files under 50 items (potts: the
    /// dev split; larger files train 5 cross-validated models on all items and average them).
    #[arg(long, default_value_t = 0.1)]
    pub heldout: f32,
    /// Train with the empirical class prior instead of balanced class weights.
    #[arg(long)]
    pub unbalanced: bool,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// In-domain labelled TSV files (LABEL<TAB>TEXT) trained on beside `--data`; a stratified
    /// share of each joins the held-out slice so model choice and calibration see the domain.
    /// `FILE=LABEL` counts every text of the file as LABEL.
    #[arg(long)]
    pub domain: Vec<DomainFile>,
    /// Times each in-domain training example counts.
    #[arg(long, default_value_t = 1)]
    pub domain_weight: usize,
    /// Add the team's sentiment corrections from the inbox (the configured
    /// database) as in-domain labelled data.
    #[arg(long)]
    pub team_corrections: bool,
}

#[derive(clap::Args, Debug)]
pub struct LexiconArgs {
    /// The shared data folder (with german_polarity_lexicon/, afinn_de/, emoji_sentiment_ranking/).
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    #[arg(long, default_value = "crates/analysis/models/lexicon.tsv")]
    pub out: PathBuf,
}

#[derive(clap::Subcommand, Debug)]
pub enum EvalCommand {
    /// Evaluate sentiment (default: the shipped model).
    Sentiment(EvalArgs),
    /// Evaluate offensive-language detection (default: the shipped model).
    Offensive(EvalArgs),
    /// Precision/recall of the sensitive-data detector on the bundled corpus.
    Pii(PiiArgs),
    /// Precision/recall/F1 per topic of the taxonomy on a labelled file.
    Topics(TopicsArgs),
    /// Precision/recall/F1 per intent (inbox sorting) on a labelled file.
    Intents(IntentsArgs),
}

#[derive(clap::Args, Debug)]
pub struct IntentsArgs {
    /// INTENTS<TAB>TEXT per line, INTENTS comma-separated intent ids (`other` alone for none).
    #[arg(long, default_value = "crates/analysis/testdata/intents_dev.tsv")]
    pub data: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct TopicsArgs {
    /// TOPICS<TAB>TEXT per line, TOPICS comma-separated topic ids or `-`.
    #[arg(long, default_value = "crates/analysis/testdata/topics_dev.tsv")]
    pub data: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Model file (default: the shipped model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long)]
    pub data: PathBuf,
    /// tsv (LABEL<TAB>TEXT), potts, germeval2018 or xed.
    #[arg(long, default_value = "tsv")]
    pub format: String,
    /// PotTS split to evaluate (train, dev, test, all); default test.
    #[arg(long)]
    pub split: Option<String>,
    /// Write predicted label and score per input line.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
    /// Evaluate a baseline instead of a model: majority or lexicon.
    #[arg(long)]
    pub baseline: Option<String>,
    /// Cross-validate the learner with this many folds on the data.
    #[arg(long)]
    pub cv: Option<usize>,
    /// Re-estimate class priors on the (unlabelled) evaluation texts before predicting.
    #[arg(long)]
    pub adapt: bool,
    /// Hash bits for --cv training.
    #[arg(long, default_value_t = 18)]
    pub bits: u8,
    /// Subsample to class proportions (simulated label shift), e.g. 0.30,0.65,0.05.
    #[arg(long, value_delimiter = ',')]
    pub resample: Option<Vec<f32>>,
}

#[derive(clap::Args, Debug)]
pub struct PiiArgs {
    /// Corpus file (default: the bundled crates/analysis/testdata/pii_cases.tsv).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
pub enum AdaptCommand {
    /// Re-estimate the sentiment class priors for a deployment from its unlabelled texts.
    Sentiment(AdaptArgs),
}

#[derive(clap::Args, Debug)]
pub struct AdaptArgs {
    /// Model to adapt (default: the shipped model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Unlabelled texts, one per line (or any labelled format via --format; labels are ignored).
    #[arg(long)]
    pub unlabelled: PathBuf,
    #[arg(long, default_value = "lines")]
    pub format: String,
    #[arg(long)]
    pub out: PathBuf,
    /// Set the priors directly instead of estimating: negative,neutral,positive (e.g. 0.3,0.65,0.05).
    #[arg(long, value_delimiter = ',')]
    pub priors: Option<Vec<f32>>,
}

#[derive(clap::Args, Debug)]
pub struct BenchAnalysisArgs {
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
}

pub fn run_train(cmd: TrainCommand) -> Result<()> {
    let (task, a) = match cmd {
        TrainCommand::Sentiment(a) => (Task::Sentiment, a),
        TrainCommand::Offensive(a) => (Task::Offensive, a),
        TrainCommand::Lexicon(l) => {
            return tools::run_compile_lexicon(&l.data, &l.out, &mut std::io::stdout());
        }
    };
    let opts = TrainOptions {
        task,
        data: a.data,
        format: a.format.parse::<Format>()?,
        out: a.out,
        bits: a.bits,
        heldout_frac: a.heldout,
        balanced: !a.unbalanced,
        seed: a.seed,
        domain: a.domain,
        domain_weight: a.domain_weight,
    };
    tools::run_train(&opts, &mut std::io::stdout())?;
    Ok(())
}

pub fn run_eval(cmd: EvalCommand) -> Result<()> {
    let (task, a) = match cmd {
        EvalCommand::Sentiment(a) => (Task::Sentiment, a),
        EvalCommand::Offensive(a) => (Task::Offensive, a),
        EvalCommand::Pii(p) => {
            tools::run_eval_pii(p.data.as_deref(), &mut std::io::stdout())?;
            return Ok(());
        }
        EvalCommand::Topics(t) => {
            tools::run_eval_topics(&t.data, &mut std::io::stdout())?;
            return Ok(());
        }
        EvalCommand::Intents(i) => {
            tools::run_eval_intents(&i.data, &mut std::io::stdout())?;
            return Ok(());
        }
    };
    let opts = EvalOptions {
        task,
        model: a.model,
        data: a.data,
        format: a.format.parse::<Format>()?,
        split: a.split,
        predictions: a.predictions,
        baseline: a
            .baseline
            .as_deref()
            .map(str::parse::<Baseline>)
            .transpose()?,
        cv: a.cv,
        adapt: a.adapt,
        bits: a.bits,
        resample: a.resample,
    };
    tools::run_eval(&opts, &mut std::io::stdout())?;
    std::io::stdout().flush()?;
    Ok(())
}

pub fn run_adapt(cmd: AdaptCommand) -> Result<()> {
    let AdaptCommand::Sentiment(a) = cmd;
    let opts = AdaptOptions {
        model: a.model,
        unlabelled: a.unlabelled,
        format: a.format.parse::<Format>()?,
        out: a.out,
        priors: a.priors,
    };
    tools::run_adapt(&opts, &mut std::io::stdout())?;
    Ok(())
}

pub fn run_bench_analysis(args: BenchAnalysisArgs) -> Result<()> {
    tools::run_bench(args.seconds, &mut std::io::stdout())?;
    Ok(())
}
