//! Runs the CLI module `crates/cli/src/analysis_cmd.rs` standalone, so the analysis commands
//! work (and compile-check) without the full `resonanz` binary:
//! `cargo run -p resonanz-analysis --release --example analysis_cli -- train sentiment ...`

#[path = "../../cli/src/analysis_cmd.rs"]
mod analysis_cmd;

use clap::Parser;

#[derive(clap::Parser, Debug)]
enum Cli {
    #[command(subcommand)]
    Train(analysis_cmd::TrainCommand),
    #[command(subcommand)]
    Eval(analysis_cmd::EvalCommand),
    #[command(subcommand)]
    Adapt(analysis_cmd::AdaptCommand),
    Bench(analysis_cmd::BenchAnalysisArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse() {
        Cli::Train(c) => analysis_cmd::run_train(c),
        Cli::Eval(c) => analysis_cmd::run_eval(c),
        Cli::Adapt(c) => analysis_cmd::run_adapt(c),
        Cli::Bench(a) => analysis_cmd::run_bench_analysis(a),
    }
}
