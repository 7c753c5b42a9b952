//! `baton`: serve any subset of the mesh, or walk through the demo journeys.

use std::process::ExitCode;

/// mimalloc: a StartContact allocates spans, protobuf messages and HTTP/2 frames by the hundred,
/// and glibc's allocator was a tenth of the CPU time under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use baton::{
    config::{MeshConfig, ServiceName},
    credentials::{self, CredentialsCommand},
    demo::{self, DemoConfig},
    eval, floor,
    identity::{self, IdentityCommand},
    import::{
        self, ImportArgs,
        content::{self, ContentArgs},
    },
    mesh::Mesh,
};
use baton_runtime::{shutdown::Shutdown, telemetry};
use clap::{Parser, Subcommand};

/// Contact-centre continuity: the customer identifies once and explains once.
#[derive(Parser, Debug)]
#[command(name = "baton", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve services: `all`, or any of identity, context, routing, recommendation.
    Serve {
        /// Which services.
        #[arg(value_enum, required = true, num_args = 1..)]
        services: Vec<ServiceName>,
        #[command(flatten)]
        config: Box<MeshConfig>,
    },
    /// Run the customer journeys against a running mesh and print them.
    Demo(DemoConfig),
    /// Caller credentials: a signing key, and tokens for a tenant and role.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Bulk-load data into a running mesh.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Operator commands on IdentityService.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Measure recommendations offline against a baseline, on data from a file.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// The tenant's queues with their live figures: waiting, oldest wait, agents, service level.
    Queues(floor::QueuesArgs),
    /// One contact: its state, agent, verification and every hop so far.
    Contact(floor::ContactArgs),
    /// Print a new context-token key ring for BATON_TOKEN_KEYS.
    Keygen {
        /// The key id.
        #[arg(long, default_value = "k1")]
        kid: String,
    },
}

#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// Offers against popularity, leave-last-out by time: HR@10 and NDCG@10 from a CSV of
    /// customer, product and time rows.
    Recommend(eval::RecommendArgs),
    /// Article search against a character-trigram TF-IDF baseline: precision and recall at 3
    /// and MRR from a CSV of articles and a CSV of judged queries.
    Articles(eval::ArticlesArgs),
    /// Likely reasons learned from confirmed contacts against the rules and the most frequent
    /// reason: accuracy at 1 and 3 on the newest fifth, from a CSV of text and reason.
    Reasons(eval::ReasonsArgs),
}

#[derive(Subcommand, Debug)]
enum ImportCommand {
    /// Import customer profiles from a CSV file (a CRM export) into IdentityService.
    Profiles(Box<ImportArgs>),
    /// Import catalog items from a CSV file into RecommendationService.
    Catalog(ContentArgs),
    /// Import knowledge articles from a CSV file into RecommendationService.
    Articles(ContentArgs),
    /// Replace a tenant's synonym groups (one a line, comma-separated) for article search.
    Synonyms(ContentArgs),
    /// Replace a tenant's next-best-action rules from a CSV file.
    Actions(ContentArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Serve { services, config } => serve(services, *config).await,
        Command::Demo(config) => match demo::run(&config, &mut std::io::stdout()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("demo failed: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Credentials(command) => match credentials::run(&command, &mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("credentials: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Import(ImportCommand::Profiles(args)) => {
            match import::run(&args, &mut std::io::stdout()).await {
                Ok(outcome) if outcome.clean() => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(err) => {
                    eprintln!("import: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Import(ImportCommand::Catalog(args)) => {
            content_exit(content::catalog(&args, &mut std::io::stdout()).await)
        }
        Command::Import(ImportCommand::Articles(args)) => {
            content_exit(content::articles(&args, &mut std::io::stdout()).await)
        }
        Command::Import(ImportCommand::Actions(args)) => {
            match content::actions(&args, &mut std::io::stdout()).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("import: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Import(ImportCommand::Synonyms(args)) => {
            match content::synonyms(&args, &mut std::io::stdout()).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("import: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Identity(command) => match identity::run(&command, &mut std::io::stdout()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("identity: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Queues(args) => match floor::queues(&args, &mut std::io::stdout()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("queues: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Contact(args) => match floor::contact(&args, &mut std::io::stdout()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("contact: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Eval(EvalCommand::Recommend(args)) => {
            match eval::recommend(&args, &mut std::io::stdout()).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("eval: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Eval(EvalCommand::Reasons(args)) => {
            match eval::reasons(&args, &mut std::io::stdout()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("eval: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Eval(EvalCommand::Articles(args)) => {
            match eval::articles(&args, &mut std::io::stdout()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("eval: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Keygen { kid } => match baton_token::KeyRing::generate(&kid) {
            Ok(ring) => {
                println!("{}", ring.to_spec());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("keygen: {err}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(services: Vec<ServiceName>, config: MeshConfig) -> ExitCode {
    let label = ServiceName::process_name(&services);
    let _telemetry = match telemetry::init(&label, &config.telemetry) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("baton: {err}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let mesh = match Mesh::start(&services, &config, shutdown).await {
        Ok(mesh) => mesh,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            eprintln!("baton: {err}");
            return ExitCode::FAILURE;
        }
    };
    match mesh.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("baton: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The exit of `baton import catalog|articles`: failure when a row was refused or the import
/// stopped.
fn content_exit(result: Result<content::Loaded, String>) -> ExitCode {
    match result {
        Ok(loaded) if loaded.refused.is_empty() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("import: {err}");
            ExitCode::FAILURE
        }
    }
}
