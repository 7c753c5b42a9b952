//! `baton identity`: operator commands on IdentityService.

use std::{io::Write, time::Duration};

use baton_auth::Role;
use baton_proto::v1::{
    RebuildIndexProgress, RebuildIndexRequest, TrainMatcherRequest, TrainMatcherResponse,
};
use clap::{Args, Subcommand};

use crate::client::{self, ClientArgs};

/// The `identity` subcommands.
#[derive(Subcommand, Debug)]
pub enum IdentityCommand {
    /// Re-estimate a tenant's matching weights from its own profiles and print them.
    Train(TrainArgs),
    /// Rebuild a tenant's fuzzy-matching index from its profiles (after an upgrade that files
    /// profiles differently, or for profiles stored before fuzzy matching), showing progress.
    Reindex(ReindexArgs),
}

/// Which tenant `reindex` rebuilds.
#[derive(Args, Debug)]
pub struct ReindexArgs {
    /// The tenant.
    #[arg(long)]
    pub tenant: String,
    /// Where the service is.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A rebuild reads and rewrites the whole tenant's index: allow it hours, not seconds.
const REINDEX_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// What `train` estimates.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The tenant.
    #[arg(long)]
    pub tenant: String,
    /// Compare at most this many candidate pairs (0: the service's default, 200,000).
    #[arg(long, default_value_t = 0)]
    pub max_pairs: u32,
    /// Where the service is.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Training reads every profile of the tenant; give it time.
const TRAIN_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs a subcommand; its output goes to `out`.
pub async fn run(command: &IdentityCommand, out: &mut dyn Write) -> Result<(), String> {
    match command {
        IdentityCommand::Train(args) => {
            let mut identity =
                client::identity(&args.client, &args.tenant, Role::Admin, TRAIN_TIMEOUT).await?;
            let answer = identity
                .train_matcher(TrainMatcherRequest {
                    tenant_id: args.tenant.clone(),
                    max_pairs: args.max_pairs,
                })
                .await
                .map_err(|s| format!("training refused: {} ({:?})", s.message(), s.code()))?
                .into_inner();
            print_weights(&answer, out).map_err(|e| format!("output: {e}"))
        }
        IdentityCommand::Reindex(args) => {
            let mut identity =
                client::identity(&args.client, &args.tenant, Role::Admin, REINDEX_TIMEOUT).await?;
            let refused =
                |s: tonic::Status| format!("rebuild refused: {} ({:?})", s.message(), s.code());
            let mut stream = identity
                .rebuild_index(RebuildIndexRequest {
                    tenant_id: args.tenant.clone(),
                })
                .await
                .map_err(refused)?
                .into_inner();
            let mut shown = Shown::default();
            while let Some(progress) = stream.message().await.map_err(|s| {
                format!(
                    "the rebuild stopped after {} of {} profiles: {} ({:?}); run it again",
                    shown.filed,
                    shown.total,
                    s.message(),
                    s.code()
                )
            })? {
                shown.show(&progress);
                if progress.done {
                    return print_rebuilt(&progress, out).map_err(|e| format!("output: {e}"));
                }
            }
            Err(format!(
                "the service ended the rebuild after {} of {} profiles without finishing; run it again",
                shown.filed, shown.total
            ))
        }
    }
}

/// Progress of a rebuild on stderr: a line at each tenth of the way.
#[derive(Default)]
struct Shown {
    filed: u64,
    total: u64,
    tenth: u64,
}

impl Shown {
    fn show(&mut self, p: &RebuildIndexProgress) {
        self.filed = p.profiles_filed;
        self.total = p.profiles_total;
        let tenth = (p.profiles_filed * 10)
            .checked_div(p.profiles_total)
            .unwrap_or(10);
        if !p.done && (p.profiles_filed == 0 || tenth > self.tenth) {
            self.tenth = tenth;
            eprintln!(
                "{} of {} profiles filed",
                p.profiles_filed, p.profiles_total
            );
        }
    }
}

/// What a finished rebuild did.
fn print_rebuilt(p: &RebuildIndexProgress, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "index rebuilt: {} profiles filed, {} names counted",
        p.profiles_filed, p.names_counted
    )
}

/// The weights as a table, then how the estimate went.
pub fn print_weights(answer: &TrainMatcherResponse, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<16} {:<28} {:>8} {:>8} {:>8}",
        "field", "level", "m", "u", "weight"
    )?;
    for field in &answer.fields {
        for (i, level) in field.levels.iter().enumerate() {
            let name = if i == 0 { field.field.as_str() } else { "" };
            writeln!(
                out,
                "{name:<16} {:<28} {:>8.4} {:>8.4} {:>8.2}",
                level.level, level.m, level.u, level.weight
            )?;
        }
    }
    writeln!(
        out,
        "\n{} profiles, {} candidate pairs, {} iterations ({}), estimated match share {:.4}",
        answer.profiles,
        answer.pairs,
        answer.iterations,
        if answer.converged {
            "converged"
        } else {
            "did not converge"
        },
        answer.match_share
    )
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{FieldWeights, LevelWeight};

    use super::*;

    #[test]
    fn the_weights_print_as_a_table() {
        let answer = TrainMatcherResponse {
            fields: vec![FieldWeights {
                field: "given_name".into(),
                levels: vec![
                    LevelWeight {
                        level: "exact".into(),
                        m: 0.9,
                        u: 0.01,
                        weight: 6.49,
                    },
                    LevelWeight {
                        level: "mismatch".into(),
                        m: 0.1,
                        u: 0.99,
                        weight: -3.31,
                    },
                ],
            }],
            profiles: 1200,
            pairs: 5000,
            iterations: 12,
            converged: true,
            match_share: 0.0125,
        };
        let mut out = Vec::new();
        print_weights(&answer, &mut out).expect("printed");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("given_name       exact"), "{text}");
        assert!(lines[1].ends_with("6.49"), "{text}");
        assert!(lines[2].starts_with("                 mismatch"), "{text}");
        assert!(text.contains("1200 profiles, 5000 candidate pairs, 12 iterations (converged)"));
    }
}
