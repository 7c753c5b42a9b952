//! `baton credentials`: make a signing key and mint caller tokens with it.
//!
//! `keygen` writes a fresh HS256 secret (owner-only) to give servers in `BATON_JWT_KEYS`;
//! `mint` signs a token for a tenant and a role with such a key, a PEM private key, or the
//! development credentials of a local mesh's data directory.

use std::{path::PathBuf, time::Duration};

use baton_auth::{
    Role, Roles, Tenants,
    dev::DevCredentials,
    jwt::{Claims, Signer},
};
use clap::{Args, Subcommand};

/// The `credentials` subcommands.
#[derive(Subcommand, Debug)]
pub enum CredentialsCommand {
    /// Write a new HS256 signing secret to a file (for BATON_JWT_KEYS and `mint --key`).
    Keygen {
        /// Where to write it; must not exist. Its name without extension is the key id.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a signed bearer token.
    Mint(MintArgs),
}

/// What `mint` signs.
#[derive(Args, Debug)]
pub struct MintArgs {
    /// The signing key: an HS256 secret file or a PEM private key. Unset: the development
    /// credentials in --data-dir.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The data directory holding development credentials.
    #[arg(long, env = "BATON_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// A tenant the caller may act for (repeat for several; `*` for every tenant).
    #[arg(long = "tenant", required = true)]
    pub tenants: Vec<String>,
    /// A role: gateway, agent, supervisor, admin, service (repeat for several).
    #[arg(long = "role", required = true, value_parser = parse_role)]
    pub roles: Vec<Role>,
    /// The agent an agent desk is (required with the agent role).
    #[arg(long)]
    pub agent: Option<String>,
    /// The principal's id; defaults to the agent id, else `<role>-<tenant>`.
    #[arg(long)]
    pub subject: Option<String>,
    /// How long the token is valid.
    #[arg(long, default_value_t = 3600)]
    pub ttl_secs: u64,
    /// The audience servers expect (BATON_JWT_AUDIENCE).
    #[arg(long, default_value = baton_auth::jwt::DEFAULT_AUDIENCE)]
    pub audience: String,
}

fn parse_role(name: &str) -> Result<Role, String> {
    Role::parse(name).ok_or_else(|| {
        format!("unknown role {name:?}: one of gateway, agent, supervisor, admin, service")
    })
}

/// Runs a subcommand; its output goes to `out`.
pub fn run(command: &CredentialsCommand, out: &mut dyn std::io::Write) -> Result<(), String> {
    match command {
        CredentialsCommand::Keygen { out: path } => keygen(path),
        CredentialsCommand::Mint(args) => {
            let token = mint(args)?;
            writeln!(out, "{token}").map_err(|e| e.to_string())
        }
    }
}

fn keygen(path: &std::path::Path) -> Result<(), String> {
    baton_auth::dev::write_new_secret(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The signed token `args` describe.
pub fn mint(args: &MintArgs) -> Result<String, String> {
    let roles = Roles::of(&args.roles);
    if roles.contains(Role::Agent) && args.agent.is_none() {
        return Err("the agent role needs --agent <agent id>".into());
    }
    let tenants = if args.tenants.iter().any(|t| t == "*") {
        Tenants::Any
    } else {
        Tenants::Only(args.tenants.iter().cloned().collect())
    };
    let subject = args
        .subject
        .clone()
        .or_else(|| args.agent.clone())
        .unwrap_or_else(|| format!("{}-{}", args.roles[0], args.tenants[0].replace('*', "all")));
    let signer = match &args.key {
        Some(path) => Signer::from_file(path).map_err(|e| e.to_string())?,
        None => DevCredentials::load(&args.data_dir)
            .map_err(|e| e.to_string())?
            .signer()
            .map_err(|e| e.to_string())?,
    };
    let claims = Claims::new(
        &subject,
        &tenants,
        roles,
        args.agent.as_deref(),
        Duration::from_secs(args.ttl_secs),
        &args.audience,
    );
    signer.sign(&claims).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use baton_auth::jwt::Verifier;

    use super::*;

    #[test]
    fn a_generated_key_signs_tokens_servers_configured_with_it_accept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("ops-1.secret");
        keygen(&key).expect("keygen");
        assert!(keygen(&key).is_err(), "never overwrites a key");
        let args = MintArgs {
            key: Some(key.clone()),
            data_dir: dir.path().to_owned(),
            tenants: vec!["acme".into()],
            roles: vec![Role::Agent],
            agent: Some("ann".into()),
            subject: None,
            ttl_secs: 60,
            audience: "baton".into(),
        };
        let token = mint(&args).expect("mints");
        let verifier = Verifier::from_files(&[key], "baton", None).expect("verifier");
        let p = verifier.verify(&token).expect("verifies");
        assert_eq!(p.subject, "ann");
        assert_eq!(p.agent_id.as_deref(), Some("ann"));
        let no_agent = MintArgs {
            agent: None,
            ..args
        };
        assert!(mint(&no_agent).expect_err("no agent").contains("--agent"));
    }
}
