//! The mesh's configuration: flags, each with an environment variable and a default.
//!
//! Read once at start; an invalid value stops the process with a message before anything
//! listens. The README's configuration table is this file in prose.

use std::{net::IpAddr, path::PathBuf};

use baton_auth::config::AuthConfig;
use baton_identity::{PhoneRegions, RegionError};
use baton_runtime::{
    client::ClientConfig, metrics::MetricsConfig, server::ServerConfig, telemetry::TelemetryConfig,
    tls::TlsConfig,
};
use clap::{Args, ValueEnum};

/// One of the four services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum)]
pub enum ServiceName {
    /// All four, in one process.
    All,
    /// IdentityService.
    Identity,
    /// ContextService.
    Context,
    /// RoutingService.
    Routing,
    /// RecommendationService.
    Recommendation,
}

impl ServiceName {
    /// The four real services, in start order (routing last: it calls the others).
    pub const EACH: [ServiceName; 4] = [
        ServiceName::Identity,
        ServiceName::Context,
        ServiceName::Recommendation,
        ServiceName::Routing,
    ];

    /// How a process serving `services` names itself in telemetry: `baton-<service>` when it
    /// serves one, else `baton`.
    pub fn process_name(services: &[ServiceName]) -> String {
        match services {
            [one] if *one != ServiceName::All => format!("baton-{}", one.as_str()),
            _ => "baton".to_owned(),
        }
    }

    /// The lower-case name used in logs, file names and trace resource attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::All => "all",
            ServiceName::Identity => "identity",
            ServiceName::Context => "context",
            ServiceName::Routing => "routing",
            ServiceName::Recommendation => "recommendation",
        }
    }
}

/// Everything `baton serve` needs.
#[derive(Args, Clone, Debug)]
pub struct MeshConfig {
    /// Address to listen on (0.0.0.0 in containers).
    #[arg(long, env = "BATON_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// IdentityService port (0 picks a free one).
    #[arg(long, env = "BATON_IDENTITY_PORT", default_value_t = 50051)]
    pub identity_port: u16,
    /// ContextService port.
    #[arg(long, env = "BATON_CONTEXT_PORT", default_value_t = 50052)]
    pub context_port: u16,
    /// RoutingService port.
    #[arg(long, env = "BATON_ROUTING_PORT", default_value_t = 50053)]
    pub routing_port: u16,
    /// RecommendationService port.
    #[arg(long, env = "BATON_RECOMMENDATION_PORT", default_value_t = 50054)]
    pub recommendation_port: u16,
    /// A plaintext port serving only the standard health service, for probes that speak
    /// neither TLS nor credentials (the kubelet's); unset, none.
    #[arg(long, env = "BATON_HEALTH_PORT")]
    pub health_port: Option<u16>,
    /// Where routing reaches identity; defaults to this process's identity port when it serves
    /// identity, else `http://127.0.0.1:<identity-port>`.
    #[arg(long, env = "BATON_IDENTITY_URL")]
    pub identity_url: Option<String>,
    /// Where routing reaches context (default as for identity).
    #[arg(long, env = "BATON_CONTEXT_URL")]
    pub context_url: Option<String>,
    /// Where routing reaches recommendation (default as for identity).
    #[arg(long, env = "BATON_RECOMMENDATION_URL")]
    pub recommendation_url: Option<String>,
    /// Directory of the embedded store: one redb file per service, and the token key ring
    /// when none is configured.
    #[arg(long, env = "BATON_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Where state lives: `embedded` (redb files in the data directory) or `redis`.
    #[arg(long, env = "BATON_STORE", value_enum, default_value_t = StoreKind::Embedded)]
    pub store: StoreKind,
    /// The Redis server of `--store redis`, `redis://[user[:password]@]host:port/db`, or
    /// `rediss://` for TLS. With `--redis-cluster`: one or more seed nodes of the cluster,
    /// their urls separated by commas.
    #[arg(
        long,
        env = "BATON_REDIS_URL",
        default_value = "redis://127.0.0.1:6379/",
        hide_env_values = true
    )]
    pub redis_url: String,
    /// With `--store redis`: `--redis-url` names seed nodes of a Redis Cluster, not one
    /// server. Every key of one transaction shares a hash tag, so each commit stays on one
    /// node; the password file and TLS options apply to every node.
    #[arg(
        long,
        env = "BATON_REDIS_CLUSTER",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub redis_cluster: bool,
    /// With `--store redis`: how many Redis replicas must hold each write before it is
    /// acknowledged (Redis `WAIT`); 0 relies on the primary's own append-only file.
    #[arg(long, env = "BATON_REDIS_WAIT_REPLICAS", default_value_t = 0)]
    pub redis_wait_replicas: u32,
    /// With `--store redis`: a file holding the Redis password (a mounted Secret; trailing line
    /// breaks are trimmed), instead of a password in the url. An ACL user's name goes in the
    /// url, `redis://user@host:port/`.
    #[arg(long, env = "BATON_REDIS_PASSWORD_FILE")]
    pub redis_password_file: Option<PathBuf>,
    /// With a `rediss://` url: PEM certificates the Redis server's certificate must chain to;
    /// unset, the system's roots.
    #[arg(long, env = "BATON_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,
    /// With a `rediss://` url: a PEM client certificate for a Redis server that requires one
    /// (`tls-auth-clients yes`).
    #[arg(
        long,
        env = "BATON_REDIS_CLIENT_CERT_FILE",
        requires = "redis_client_key_file"
    )]
    pub redis_client_cert_file: Option<PathBuf>,
    /// The PEM private key of `--redis-client-cert-file`.
    #[arg(
        long,
        env = "BATON_REDIS_CLIENT_KEY_FILE",
        requires = "redis_client_cert_file"
    )]
    pub redis_client_key_file: Option<PathBuf>,
    /// Start against a Redis server that does not fsync every write to an append-only file
    /// (`appendonly yes`, `appendfsync always`), with a warning, instead of refusing to:
    /// acknowledged writes could then be lost on a crash.
    #[arg(
        long,
        env = "BATON_REDIS_ALLOW_WEAK_DURABILITY",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub redis_allow_weak_durability: bool,
    /// Context-token key ring, `kid=<base64 32 bytes>,...`, newest (active) last. Unset: a key
    /// ring is created once in `<data-dir>/token-keys` and reused.
    #[arg(long, env = "BATON_TOKEN_KEYS", hide_env_values = true)]
    pub token_keys: Option<String>,
    /// How long a context token opens after it is minted.
    #[arg(long, env = "BATON_TOKEN_TTL_SECS", default_value_t = 3600)]
    pub token_ttl_secs: u64,
    /// How long an agent has to accept an offer before it goes to the next agent.
    #[arg(long, env = "BATON_OFFER_TIMEOUT_SECS", default_value_t = 30)]
    pub offer_timeout_secs: u64,
    /// How long an agent who rejected a contact (or let its offer lapse) is not offered it
    /// again; after that, it is when nobody else can take it.
    #[arg(long, env = "BATON_OFFER_COOLDOWN_SECS", default_value_t = 5)]
    pub offer_cooldown_secs: u64,
    /// How long a warm transfer waits for an agent to accept it when its queue sets no
    /// escalation timeout; then the transferring agent is told and gets the contact back.
    #[arg(long, env = "BATON_WARM_TRANSFER_TIMEOUT_SECS", default_value_t = 120)]
    pub warm_transfer_timeout_secs: u64,
    /// Waiting time that raises a queued contact's priority by one (0 turns aging off).
    #[arg(long, env = "BATON_PRIORITY_AGING_SECS", default_value_t = 60)]
    pub priority_aging_secs: u64,
    /// RoutingService on Redis: how many shards tenants are split into, each routed by one
    /// replica at a time. Every replica must agree; change it only with every replica stopped.
    #[arg(long, env = "BATON_ROUTING_SHARDS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub routing_shards: u32,
    /// RoutingService on Redis: how long a replica's hold on a shard lasts unless renewed
    /// (renewed every third of it): how long the tenants of a replica that died wait before
    /// another takes them over.
    #[arg(long, env = "BATON_ROUTING_LEASE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub routing_lease_secs: u64,
    /// RoutingService on Redis: whether replicas even out their shares of the shards, so a
    /// replica that joins is handed some (experimental: off until the routing simulation
    /// passes with it; without it a shard moves only when its holder stops or dies).
    #[arg(long, env = "BATON_ROUTING_REBALANCE", default_value_t = false)]
    pub routing_rebalance: bool,
    /// RoutingService on Redis: the url other routing replicas reach this one at
    /// (`http://$(POD_IP):50054`), so a call that reaches a replica not routing its tenant is
    /// sent on. Unset: this replica assumes it is the only one.
    #[arg(long, env = "BATON_ROUTING_ADVERTISE_URL", default_value = "")]
    pub routing_advertise_url: String,
    /// RoutingService: the name another replica's certificate is verified for when an
    /// advertised url is `https://` with an address for its host (the routing Service's
    /// name, which its certificate carries).
    #[arg(
        long,
        env = "BATON_ROUTING_PEER_SERVER_NAME",
        default_value = "routing"
    )]
    pub routing_peer_server_name: String,
    /// IdentityService: where phone numbers written without a country code ("02 9876 5432")
    /// are read, for tenants without a region of their own (ISO 3166-1 alpha-2); unset, US.
    /// An identifier's own `default_region` always wins.
    #[arg(long, env = "BATON_IDENTITY_DEFAULT_REGION", value_parser = parse_region)]
    pub default_region: Option<String>,
    /// IdentityService: tenants whose local numbers are read in another region,
    /// `acme=AU,globex=GB`.
    #[arg(
        long,
        env = "BATON_IDENTITY_TENANT_REGIONS",
        default_value = "",
        value_parser = parse_tenant_regions
    )]
    pub tenant_regions: String,
    /// How callers authenticate.
    #[command(flatten)]
    pub auth: AuthConfig,
    /// TLS and mutual TLS.
    #[command(flatten)]
    pub tls: TlsConfig,
    /// Server settings.
    #[command(flatten)]
    pub server: ServerConfig,
    /// Settings for routing's calls to the other services.
    #[command(flatten)]
    pub client: ClientConfig,
    /// Logs and traces.
    #[command(flatten)]
    pub telemetry: TelemetryConfig,
    /// The Prometheus scrape endpoint.
    #[command(flatten)]
    pub metrics: MetricsConfig,
}

/// Storage backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// redb files in the data directory: durable, single machine, nothing to install.
    Embedded,
    /// A Redis server shared by every replica of every service (keys are hash-tagged per
    /// tenant, so that each transaction stays within one Redis Cluster slot).
    Redis,
}

/// A region code phone numbering knows, upper-cased.
fn parse_region(code: &str) -> Result<String, String> {
    baton_identity::grpc::regions::region(code).map_err(|e| e.to_string())
}

/// A tenant region list, checked whole and kept as given.
fn parse_tenant_regions(spec: &str) -> Result<String, String> {
    PhoneRegions::new(None, spec)
        .map(|_| spec.to_owned())
        .map_err(|e| e.to_string())
}

impl MeshConfig {
    /// The phone regions identity reads local numbers in (checked again, for configurations
    /// built in code rather than parsed).
    pub fn phone_regions(&self) -> Result<PhoneRegions, RegionError> {
        PhoneRegions::new(self.default_region.as_deref(), &self.tenant_regions)
    }

    /// A configuration for tests and tools: every port 0 (free ports), data in `data_dir`,
    /// short timeouts.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            identity_port: 0,
            context_port: 0,
            routing_port: 0,
            recommendation_port: 0,
            health_port: None,
            identity_url: None,
            context_url: None,
            recommendation_url: None,
            data_dir,
            store: StoreKind::Embedded,
            redis_url: "redis://127.0.0.1:6379/".to_owned(),
            redis_cluster: false,
            redis_wait_replicas: 0,
            redis_password_file: None,
            redis_ca_file: None,
            redis_client_cert_file: None,
            redis_client_key_file: None,
            redis_allow_weak_durability: false,
            token_keys: None,
            token_ttl_secs: 3600,
            offer_timeout_secs: 30,
            offer_cooldown_secs: 5,
            warm_transfer_timeout_secs: 120,
            priority_aging_secs: 60,
            routing_shards: 16,
            routing_lease_secs: 10,
            routing_rebalance: false,
            routing_advertise_url: String::new(),
            routing_peer_server_name: "routing".to_owned(),
            default_region: None,
            tenant_regions: String::new(),
            auth: AuthConfig::default(),
            tls: TlsConfig::default(),
            server: ServerConfig {
                drain_timeout_secs: 2,
                stop_grace_ms: 0,
                ..ServerConfig::default()
            },
            // Test binaries share two cores with each other: a dependency call given the
            // production 2 s would sometimes run out while the machine is busy, and the
            // scenario would see degraded (unidentified) routing it did not ask for.
            client: ClientConfig {
                request_timeout_ms: 10_000,
                ..ClientConfig::default()
            },
            telemetry: TelemetryConfig::default(),
            metrics: MetricsConfig { port: 0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser};

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        mesh: MeshConfig,
    }

    #[test]
    fn every_flag_is_distinct_and_defaults_parse() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["baton"]).expect("defaults parse");
        assert_eq!(cli.mesh.routing_port, 50053);
        assert_eq!(cli.mesh.metrics.port, 9464);
        assert_eq!(cli.mesh.server.request_timeout_ms, 10_000);
        assert_eq!(cli.mesh.client.request_timeout_ms, 2_000);
    }

    #[test]
    fn invalid_values_are_refused_before_anything_starts() {
        let err =
            Cli::try_parse_from(["baton", "--routing-port", "70000"]).expect_err("port range");
        assert!(err.to_string().contains("routing-port"), "{err}");
        let err =
            Cli::try_parse_from(["baton", "--store", "cassandra"]).expect_err("unknown store");
        assert!(err.to_string().contains("embedded"), "{err}");
    }

    #[test]
    fn phone_regions_are_checked_before_anything_starts() {
        let cli = Cli::try_parse_from([
            "baton",
            "--default-region",
            "gb",
            "--tenant-regions",
            "acme=AU,globex=NZ",
        ])
        .expect("parses");
        let regions = cli.mesh.phone_regions().expect("valid");
        assert_eq!(regions.for_tenant("acme"), "AU");
        assert_eq!(regions.for_tenant("initech"), "GB");
        let defaults = Cli::try_parse_from(["baton"]).expect("parses");
        assert_eq!(
            defaults
                .mesh
                .phone_regions()
                .expect("valid")
                .for_tenant("acme"),
            "US"
        );

        let err = Cli::try_parse_from(["baton", "--default-region", "XX"]).expect_err("unknown");
        assert!(
            err.to_string().contains("not an ISO 3166-1 alpha-2"),
            "{err}"
        );
        let err = Cli::try_parse_from(["baton", "--tenant-regions", "acme=AU,globex"])
            .expect_err("malformed");
        assert!(err.to_string().contains("tenant=REGION"), "{err}");
    }

    #[test]
    fn the_redis_store_takes_its_url() {
        let cli = Cli::try_parse_from([
            "baton",
            "--store",
            "redis",
            "--redis-url",
            "redis://redis:6379/2",
        ])
        .expect("parses");
        assert_eq!(cli.mesh.store, StoreKind::Redis);
        assert_eq!(cli.mesh.redis_url, "redis://redis:6379/2");
        assert_eq!(cli.mesh.redis_wait_replicas, 0);
        assert!(!cli.mesh.redis_cluster);
        assert_eq!(cli.mesh.redis_password_file, None);
        assert_eq!(cli.mesh.redis_ca_file, None);
        assert!(!cli.mesh.redis_allow_weak_durability);
    }

    #[test]
    fn the_redis_store_takes_a_password_file_tls_files_and_the_durability_override() {
        let cli = Cli::try_parse_from([
            "baton",
            "--redis-url",
            "rediss://baton@redis:6380/",
            "--redis-password-file",
            "/run/secrets/redis/password",
            "--redis-ca-file",
            "/etc/baton/redis-ca.crt",
            "--redis-client-cert-file",
            "/etc/baton/redis-client.crt",
            "--redis-client-key-file",
            "/etc/baton/redis-client.key",
            "--redis-allow-weak-durability",
        ])
        .expect("parses");
        let mesh = cli.mesh;
        let path = |p: &str| Some(PathBuf::from(p));
        assert_eq!(
            mesh.redis_password_file,
            path("/run/secrets/redis/password")
        );
        assert_eq!(mesh.redis_ca_file, path("/etc/baton/redis-ca.crt"));
        assert_eq!(
            mesh.redis_client_cert_file,
            path("/etc/baton/redis-client.crt")
        );
        assert_eq!(
            mesh.redis_client_key_file,
            path("/etc/baton/redis-client.key")
        );
        assert!(mesh.redis_allow_weak_durability);
    }

    #[test]
    fn the_redis_store_takes_cluster_seeds() {
        let cli = Cli::try_parse_from([
            "baton",
            "--store",
            "redis",
            "--redis-cluster",
            "--redis-url",
            "redis://redis-0:6379/,redis://redis-1:6379/",
        ])
        .expect("parses");
        assert!(cli.mesh.redis_cluster);
        assert_eq!(
            cli.mesh.redis_url,
            "redis://redis-0:6379/,redis://redis-1:6379/"
        );
    }

    #[test]
    fn a_redis_client_certificate_needs_its_key() {
        let err = Cli::try_parse_from(["baton", "--redis-client-cert-file", "/c.crt"])
            .expect_err("no key");
        assert!(err.to_string().contains("--redis-client-key-file"), "{err}");
        let err = Cli::try_parse_from(["baton", "--redis-client-key-file", "/c.key"])
            .expect_err("no certificate");
        assert!(
            err.to_string().contains("--redis-client-cert-file"),
            "{err}"
        );
    }

    #[test]
    fn the_redis_flags_read_their_documented_variables() {
        let command = Cli::command();
        let env = |id: &str| {
            command
                .get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_env())
                .and_then(|e| e.to_str())
                .map(str::to_owned)
        };
        for (id, variable) in [
            ("redis_cluster", "BATON_REDIS_CLUSTER"),
            ("redis_password_file", "BATON_REDIS_PASSWORD_FILE"),
            ("redis_ca_file", "BATON_REDIS_CA_FILE"),
            ("redis_client_cert_file", "BATON_REDIS_CLIENT_CERT_FILE"),
            ("redis_client_key_file", "BATON_REDIS_CLIENT_KEY_FILE"),
            (
                "redis_allow_weak_durability",
                "BATON_REDIS_ALLOW_WEAK_DURABILITY",
            ),
            ("default_region", "BATON_IDENTITY_DEFAULT_REGION"),
            ("tenant_regions", "BATON_IDENTITY_TENANT_REGIONS"),
        ] {
            assert_eq!(env(id).as_deref(), Some(variable), "{id}");
        }
    }
}
