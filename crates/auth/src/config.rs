//! Caller authentication settings, and the start-up decision they lead to.
//!
//! Secure by default: with no keys configured, a server on loopback uses development
//! credentials from its data directory, and a server on any other address refuses to start.
//! The one way to serve anonymous callers is the loudly named development switch, which also
//! refuses any address but loopback.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use clap::Args;

use crate::{
    dev::{DevCredentials, DevError},
    jwt::{DEFAULT_AUDIENCE, JwtError, Verifier},
    layer::{Authenticator, Limits},
    principal::{Role, Roles, Tenants},
    reload::Watched,
};

/// How callers prove who they are.
#[derive(Args, Clone, Debug)]
pub struct AuthConfig {
    /// Files of keys bearer JWTs are verified against, comma-separated: PEM public keys, JWK
    /// sets, or HS256 secrets of at least 32 bytes. Read again when they change.
    #[arg(long, env = "BATON_JWT_KEYS", value_delimiter = ',')]
    pub jwt_keys: Vec<PathBuf>,
    /// The audience bearer JWTs must name.
    #[arg(long, env = "BATON_JWT_AUDIENCE", default_value = DEFAULT_AUDIENCE)]
    pub jwt_audience: String,
    /// The issuer bearer JWTs must name; unset accepts any issuer the keys verify.
    #[arg(long, env = "BATON_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The bearer JWT routing sends on its calls to identity, context and recommendation (a
    /// file, read again when it changes). Not needed with a client certificate naming the
    /// service, nor with development credentials.
    #[arg(long, env = "BATON_SERVICE_TOKEN_FILE")]
    pub service_token_file: Option<PathBuf>,
    /// DEVELOPMENT ONLY: serve callers without credentials as a principal with every role for
    /// every tenant. Refused on any address but loopback.
    #[arg(
        long,
        env = "BATON_INSECURE_ANONYMOUS_LOOPBACK",
        default_value_t = false
    )]
    pub insecure_anonymous_loopback: bool,
    /// Calls per second one caller may make on one server (services are exempt; 0: no limit).
    #[arg(long, env = "BATON_RATE_LIMIT_PER_SEC", default_value_t = 1000)]
    pub rate_limit_per_sec: u32,
    /// Calls one caller may make in a burst above its rate.
    #[arg(long, env = "BATON_RATE_LIMIT_BURST", default_value_t = 2000)]
    pub rate_limit_burst: u32,
    /// Agent sessions and context watches one caller may hold open on one server.
    #[arg(long, env = "BATON_MAX_STREAMS_PER_CALLER", default_value_t = 16)]
    pub max_streams_per_caller: usize,
    /// How often key, token and certificate files are checked for changes (0: never).
    #[arg(long, env = "BATON_CREDENTIALS_RELOAD_SECS", default_value_t = 10)]
    pub credentials_reload_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_keys: Vec::new(),
            jwt_audience: DEFAULT_AUDIENCE.to_owned(),
            jwt_issuer: None,
            service_token_file: None,
            insecure_anonymous_loopback: false,
            rate_limit_per_sec: 1000,
            rate_limit_burst: 2000,
            max_streams_per_caller: 16,
            credentials_reload_secs: 10,
        }
    }
}

/// Why the configured authentication cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// The anonymous switch on an address others can reach.
    #[error(
        "BATON_INSECURE_ANONYMOUS_LOOPBACK serves callers without credentials and is refused on {host}: it only binds loopback"
    )]
    AnonymousOffLoopback {
        /// The listen address.
        host: IpAddr,
    },
    /// Nothing to authenticate callers with on an address others can reach.
    #[error(
        "no caller credentials configured for {host}: set BATON_JWT_KEYS (and/or BATON_TLS_CLIENT_CA_FILE for client certificates); development credentials are only used on loopback"
    )]
    NoCredentials {
        /// The listen address.
        host: IpAddr,
    },
    /// A key file is unusable.
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// The development secret is unusable.
    #[error(transparent)]
    Dev(#[from] DevError),
    /// The service token file is unreadable.
    #[error("service token file {path}: {reason}")]
    ServiceToken {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What a process authenticates with, decided once at start.
#[derive(Clone, Debug)]
pub struct Auth {
    /// Verifies callers.
    pub authenticator: Authenticator,
    /// Per-caller limits.
    pub limits: Limits,
    /// The bearer token this process's clients send (routing's calls), if any.
    pub service_token: Option<Watched<String>>,
    /// Whether development credentials are in use (the process logs so, loudly).
    pub development: bool,
}

/// How long a development service token minted at start stays valid.
const DEV_SERVICE_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

impl AuthConfig {
    /// Decides how a process listening on `host` authenticates. `client_certificates` says
    /// whether TLS verifies client certificates (another way to prove a principal).
    pub fn build(
        &self,
        host: IpAddr,
        data_dir: &Path,
        client_certificates: bool,
    ) -> Result<Auth, AuthConfigError> {
        let limits = Limits {
            calls_per_sec: self.rate_limit_per_sec,
            burst: self.rate_limit_burst,
            streams: self.max_streams_per_caller,
        };
        let interval = Duration::from_secs(self.credentials_reload_secs);
        let mut authenticator = Authenticator::new();
        let mut development = false;
        let mut service_token = None;
        if self.insecure_anonymous_loopback {
            if !host.is_loopback() {
                return Err(AuthConfigError::AnonymousOffLoopback { host });
            }
            tracing::warn!(
                %host,
                "BATON_INSECURE_ANONYMOUS_LOOPBACK is on: callers without credentials get every role for every tenant"
            );
            authenticator = authenticator.with_anonymous_development();
            development = true;
        }
        if !self.jwt_keys.is_empty() {
            let (audience, issuer) = (self.jwt_audience.clone(), self.jwt_issuer.clone());
            let verifier =
                Watched::load("jwt keys", self.jwt_keys.clone(), interval, move |files| {
                    Verifier::from_files(files, &audience, issuer.as_deref())
                })?;
            authenticator = authenticator.with_verifier(verifier);
        } else if !client_certificates && !self.insecure_anonymous_loopback {
            if !host.is_loopback() {
                return Err(AuthConfigError::NoCredentials { host });
            }
            let dev = DevCredentials::load_or_create(data_dir)?;
            tracing::warn!(
                path = %dev.path().display(),
                "no caller keys configured: development credentials in the data directory are accepted (loopback only)"
            );
            authenticator = authenticator.with_verifier(Watched::fixed(dev.verifier()?));
            let token = dev.mint(
                "baton-service",
                &Tenants::Any,
                Roles::of(&[Role::Service]),
                None,
                DEV_SERVICE_TOKEN_TTL,
            )?;
            service_token = Some(Watched::fixed(token));
            development = true;
        }
        if let Some(path) = &self.service_token_file {
            let read = |files: &[PathBuf]| -> Result<String, AuthConfigError> {
                let path = &files[0];
                let text =
                    std::fs::read_to_string(path).map_err(|e| AuthConfigError::ServiceToken {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                Ok(text.trim().to_owned())
            };
            service_token = Some(Watched::load(
                "service token",
                vec![path.clone()],
                interval,
                read,
            )?);
        }
        Ok(Auth {
            authenticator,
            limits,
            service_token,
            development,
        })
    }
}

impl Auth {
    /// No limits and the given authenticator: for benchmarks and tests that build servers
    /// by hand.
    pub fn with(authenticator: Authenticator) -> Auth {
        Auth {
            authenticator,
            limits: Limits::default(),
            service_token: None,
            development: false,
        }
    }

    /// The service token, shared.
    pub fn service_token(&self) -> Option<Arc<String>> {
        self.service_token.as_ref().map(Watched::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_without_keys_gets_development_credentials_and_nothing_else_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = AuthConfig::default();
        let auth = config
            .build(IpAddr::from([127, 0, 0, 1]), dir.path(), false)
            .expect("loopback");
        assert!(auth.development);
        assert!(auth.service_token.is_some());
        assert!(dir.path().join(crate::dev::FILE).exists());

        let err = config
            .build(IpAddr::from([0, 0, 0, 0]), dir.path(), false)
            .expect_err("all addresses");
        assert!(err.to_string().contains("BATON_JWT_KEYS"), "{err}");
        config
            .build(IpAddr::from([0, 0, 0, 0]), dir.path(), true)
            .expect("client certificates are credentials");
    }

    #[tokio::test]
    async fn the_anonymous_switch_refuses_anything_but_loopback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = AuthConfig {
            insecure_anonymous_loopback: true,
            ..AuthConfig::default()
        };
        let err = config
            .build(IpAddr::from([10, 0, 0, 1]), dir.path(), false)
            .expect_err("off loopback");
        assert!(err.to_string().contains("loopback"), "{err}");
        let auth = config
            .build(IpAddr::from([127, 0, 0, 1]), dir.path(), false)
            .expect("loopback");
        let p = auth
            .authenticator
            .authenticate(&http::HeaderMap::new(), None)
            .expect("anonymous admitted");
        assert!(p.has(Role::Admin));
    }
}
