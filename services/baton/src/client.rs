//! How the operator commands reach the mesh (`baton import` and `baton identity`
//! IdentityService, `baton queues` and `baton contact` RoutingService, `baton import catalog`
//! and `baton import articles` RecommendationService): an address, a bearer
//! token (given, or minted from a local mesh's development credentials) and, for `https://`,
//! the CA to verify the server with and an optional client certificate.

use std::{path::PathBuf, time::Duration};

use baton_auth::{Role, Roles, Tenants, dev::DevCredentials, reload::Watched};
use baton_proto::v1::{
    identity_service_client::IdentityServiceClient,
    recommendation_service_client::RecommendationServiceClient,
    routing_service_client::RoutingServiceClient,
};
use baton_runtime::{
    client::{ClientChannel, with_credentials},
    tls::TlsConfig,
};
use clap::Args;
use tonic::transport::Channel;

/// Where IdentityService is and how to call it.
#[derive(Args, Clone, Debug)]
pub struct ClientArgs {
    /// IdentityService's address (`https://` with --tls-ca-file).
    #[arg(
        long,
        env = "BATON_IDENTITY_ADDRESS",
        default_value = "http://127.0.0.1:50051"
    )]
    pub address: String,
    /// How to call it.
    #[command(flatten)]
    pub access: AccessArgs,
}

/// Where RoutingService is and how to call it.
#[derive(Args, Clone, Debug)]
pub struct RoutingClientArgs {
    /// RoutingService's address (`https://` with --tls-ca-file).
    #[arg(
        long,
        env = "BATON_ROUTING_ADDRESS",
        default_value = "http://127.0.0.1:50053"
    )]
    pub address: String,
    /// How to call it.
    #[command(flatten)]
    pub access: AccessArgs,
}

/// Where RecommendationService is and how to call it.
#[derive(Args, Clone, Debug)]
pub struct RecommendationClientArgs {
    /// RecommendationService's address (`https://` with --tls-ca-file).
    #[arg(
        long,
        env = "BATON_RECOMMENDATION_ADDRESS",
        default_value = "http://127.0.0.1:50054"
    )]
    pub address: String,
    /// How to call it.
    #[command(flatten)]
    pub access: AccessArgs,
}

/// The credentials and TLS settings of an operator command.
#[derive(Args, Clone, Debug)]
pub struct AccessArgs {
    /// The bearer token to call with; unset, one is minted from the development credentials
    /// in --data-dir (a mesh started with `make run`).
    #[arg(long, env = "BATON_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The data directory of the running mesh (where its development credentials are).
    #[arg(long = "data-dir", env = "BATON_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// PEM CA bundle the server's certificate must chain to (`https://` addresses).
    #[arg(long, env = "BATON_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// PEM client certificate to present (a server that verifies client certificates).
    #[arg(long, env = "BATON_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of --tls-cert-file.
    #[arg(long, env = "BATON_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
}

/// Connects to IdentityService as a principal acting for `tenant` with `role` (when no token
/// is given), failing at once when nothing answers. Each call may take up to `timeout`
/// (the server still applies its own limit).
pub async fn identity(
    args: &ClientArgs,
    tenant: &str,
    role: Role,
    timeout: Duration,
) -> Result<IdentityServiceClient<ClientChannel>, String> {
    let channel = connect(&args.address, &args.access, tenant, role, timeout).await?;
    Ok(IdentityServiceClient::new(channel))
}

/// Connects to RoutingService as [`identity`] connects to IdentityService.
pub async fn routing(
    args: &RoutingClientArgs,
    tenant: &str,
    role: Role,
    timeout: Duration,
) -> Result<RoutingServiceClient<ClientChannel>, String> {
    let channel = connect(&args.address, &args.access, tenant, role, timeout).await?;
    Ok(RoutingServiceClient::new(channel))
}

/// Connects to RecommendationService as [`identity`] connects to IdentityService.
pub async fn recommendation(
    args: &RecommendationClientArgs,
    tenant: &str,
    role: Role,
    timeout: Duration,
) -> Result<RecommendationServiceClient<ClientChannel>, String> {
    let channel = connect(&args.address, &args.access, tenant, role, timeout).await?;
    Ok(RecommendationServiceClient::new(channel))
}

/// A channel to `address`, each call carrying the token of `args` (or one minted for `tenant`
/// and `role`).
async fn connect(
    address: &str,
    args: &AccessArgs,
    tenant: &str,
    role: Role,
    timeout: Duration,
) -> Result<ClientChannel, String> {
    let token = match &args.token {
        Some(token) => token.clone(),
        None => DevCredentials::load(&args.data_dir)
            .map_err(|e| format!("credentials: {e}; or pass --token"))?
            .mint(
                &format!("baton-cli-{}", role),
                &Tenants::one(tenant),
                Roles::of(&[role]),
                None,
                Duration::from_secs(3600),
            )
            .map_err(|e| format!("credentials: {e}"))?,
    };
    let mut endpoint = Channel::from_shared(address.to_owned())
        .map_err(|e| format!("invalid address {address}: {e}"))?
        .connect_timeout(Duration::from_secs(5));
    if address.starts_with("https://") {
        let tls = TlsConfig {
            tls_ca_file: args.tls_ca_file.clone(),
            tls_cert_file: args.tls_cert_file.clone(),
            tls_key_file: args.tls_key_file.clone(),
            ..TlsConfig::default()
        };
        let config = tls
            .client(Duration::from_secs(3600))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{address} needs --tls-ca-file"))?;
        endpoint = endpoint
            .tls_config((*config.get()).clone())
            .map_err(|e| format!("tls: {e}"))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot reach {address} ({e}); is the mesh running?"))?;
    Ok(with_credentials(
        channel,
        Some(Watched::fixed(token)),
        timeout,
    ))
}
