//! `resonanz agent add NAME --role admin|agent`: creates an API user and
//! prints its token once (only a hash is stored). A login password is read
//! from standard input, never from the command line, where other users of
//! the machine could see it in the process list.

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use resonanz_core::{Clock, SystemClock};
use resonanz_server::Settings;
use resonanz_server::outbound::auth::create_agent;
use resonanz_store::{Role, Store, StoreOptions};
use std::io::BufRead;

#[derive(Subcommand, Debug)]
pub enum AgentCommand {
    /// Create an agent and print its API token (shown only once).
    Add {
        /// Login name, e.g. `makler.schmidt`.
        name: String,
        /// `admin` may also manage templates; `agent` sends and records consent.
        #[arg(long, value_enum, default_value_t = RoleArg::Agent)]
        role: RoleArg,
        /// Read a login password (for `POST /api/sessions`) from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Admin,
    Agent,
    /// Reads everything, changes nothing.
    Analyst,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Admin => Role::Admin,
            RoleArg::Agent => Role::Agent,
            RoleArg::Analyst => Role::Analyst,
        }
    }
}

/// Runs the command; returns the new token so callers (and tests) can use it.
pub async fn run(command: AgentCommand, settings: &Settings) -> anyhow::Result<String> {
    match command {
        AgentCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from stdin")?;
                let line = line.trim_end_matches(['\r', '\n']).to_owned();
                anyhow::ensure!(
                    line.len() >= 10,
                    "the password needs at least 10 characters"
                );
                Some(line)
            } else {
                None
            };
            let store = Store::open(
                &settings.database_url,
                StoreOptions {
                    sqlite_sync_full: settings.sqlite_sync_full,
                    ..StoreOptions::default()
                },
            )
            .await
            .with_context(|| {
                format!(
                    "opening the database at {}",
                    resonanz_server::app::redact_url(&settings.database_url)
                )
            })?;
            let created = create_agent(
                &store,
                &name,
                role.into(),
                password.as_deref(),
                SystemClock.now(),
            )
            .await;
            store.close().await;
            let (agent, token) = created.with_context(|| format!("creating agent {name:?}"))?;
            println!(
                "agent {} ({}) created, id {}",
                agent.name,
                agent.role.as_str(),
                agent.id
            );
            println!("API token (shown once, send as `Authorization: Bearer …`):");
            println!("{token}");
            Ok(token)
        }
    }
}
