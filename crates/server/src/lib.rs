//! Resonanz server: webhooks, health and metrics, the projector pipeline.

pub mod accounts;
pub mod app;
pub mod assignment;
pub mod config;
pub mod media;
pub mod metrics;
pub mod outbound;
pub mod pipeline;
pub mod problem;
pub mod routes;
pub mod telemetry;
pub mod web;
pub mod workflow;

pub use app::{AppState, Application};
pub use config::Settings;
pub use pipeline::{Pipeline, TextAnalyzer};
