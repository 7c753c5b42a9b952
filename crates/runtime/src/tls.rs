//! TLS and mutual TLS: the server side (rustls, certificates re-read when their files change)
//! and the configuration routing's clients present.
//!
//! A server with a certificate serves TLS only; with a client CA it verifies client
//! certificates, which then name the caller (see `baton_auth::cert`). Plaintext is for
//! loopback, unless explicitly allowed (a service mesh whose sidecar encrypts).

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use baton_auth::reload::Watched;
use clap::Args;
use rustls::{
    RootCertStore, ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
    server::WebPkiClientVerifier,
};
use tokio_rustls::TlsAcceptor;

/// Transport security settings.
#[derive(Args, Clone, Debug)]
pub struct TlsConfig {
    /// PEM certificate chain this process serves with (and presents as its client certificate
    /// on routing's calls). With it, every port serves TLS only.
    #[arg(long, env = "BATON_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the certificate.
    #[arg(long, env = "BATON_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA bundle client certificates are verified against; a verified client certificate
    /// naming a principal is a caller's credential.
    #[arg(long, env = "BATON_TLS_CLIENT_CA_FILE", requires = "tls_cert_file")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// Refuse TLS connections without a verified client certificate.
    #[arg(
        long,
        env = "BATON_TLS_REQUIRE_CLIENT_CERT",
        default_value_t = false,
        requires = "tls_client_ca_file"
    )]
    pub tls_require_client_cert: bool,
    /// The SPIFFE trust domain client certificates must name their principal in
    /// (`spiffe://<trust domain>/baton/...`); unset, any trust domain the CA signed.
    #[arg(long, env = "BATON_TLS_TRUST_DOMAIN", requires = "tls_client_ca_file")]
    pub tls_trust_domain: Option<String>,
    /// PEM CA bundle that `https://` dependencies' server certificates are verified against.
    #[arg(long, env = "BATON_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Serve plaintext on a non-loopback address (only behind something that encrypts, such
    /// as a service mesh sidecar).
    #[arg(long, env = "BATON_ALLOW_PLAINTEXT", default_value_t = false)]
    pub allow_plaintext: bool,
    /// How long a new connection has to complete its TLS handshake and HTTP/2 preface.
    #[arg(long, env = "BATON_HANDSHAKE_TIMEOUT_MS", default_value_t = 5000)]
    pub handshake_timeout_ms: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_require_client_cert: false,
            tls_trust_domain: None,
            tls_ca_file: None,
            allow_plaintext: false,
            handshake_timeout_ms: 5000,
        }
    }
}

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file is unreadable or holds nothing usable.
    #[error("tls file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("tls: {0}")]
    Config(String),
    /// Plaintext on an address others can reach.
    #[error(
        "refusing to serve plaintext on {host}: set BATON_TLS_CERT_FILE and BATON_TLS_KEY_FILE, or BATON_ALLOW_PLAINTEXT=true when something in front encrypts"
    )]
    Plaintext {
        /// The listen address.
        host: IpAddr,
    },
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// The certificates of a PEM file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "holds no certificate"));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error(path, e))
}

fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(path)? {
        roots.add(cert).map_err(|e| file_error(path, e))?;
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server's TLS configuration, rebuilt when its files change.
#[derive(Clone, Debug)]
pub struct ServerTls {
    config: Watched<Arc<ServerConfig>>,
    trust_domain: Option<Arc<str>>,
}

impl ServerTls {
    /// An acceptor with the configuration now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.get().as_ref().clone())
    }

    /// The trust domain client certificates must name their principal in, if one is set.
    pub fn trust_domain(&self) -> Option<&str> {
        self.trust_domain.as_deref()
    }
}

impl TlsConfig {
    /// Whether client certificates can name callers.
    pub fn verifies_client_certificates(&self) -> bool {
        self.tls_client_ca_file.is_some()
    }

    /// The server side for a process listening on `host`: TLS when a certificate is
    /// configured; else plaintext, refused off loopback unless allowed.
    pub fn server(&self, host: IpAddr, reload: Duration) -> Result<Option<ServerTls>, TlsError> {
        let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) else {
            if !host.is_loopback() && !self.allow_plaintext {
                return Err(TlsError::Plaintext { host });
            }
            if !host.is_loopback() {
                tracing::warn!(%host, "serving plaintext off loopback (BATON_ALLOW_PLAINTEXT)");
            }
            return Ok(None);
        };
        let mut files = vec![cert.clone(), key.clone()];
        files.extend(self.tls_client_ca_file.clone());
        let (client_ca, require) = (
            self.tls_client_ca_file.clone(),
            self.tls_require_client_cert,
        );
        let watched = Watched::load("tls server certificate", files, reload, move |files| {
            server_config(&files[0], &files[1], client_ca.as_deref(), require).map(Arc::new)
        })?;
        Ok(Some(ServerTls {
            config: watched,
            trust_domain: self.tls_trust_domain.as_deref().map(Arc::from),
        }))
    }

    /// How routing's clients speak TLS to `https://` and `dns:///` dependencies, if they may;
    /// read again every `reload` when its files change.
    pub fn client(
        &self,
        reload: Duration,
    ) -> Result<Option<Watched<tonic::transport::ClientTlsConfig>>, TlsError> {
        if self.tls_ca_file.is_none() {
            return Ok(None);
        }
        let config = self.clone();
        Watched::load(
            "tls client certificate",
            self.client_files(),
            reload,
            move |_| config.client_once(),
        )
        .map(Some)
    }

    fn client_once(&self) -> Result<tonic::transport::ClientTlsConfig, TlsError> {
        let Some(ca) = &self.tls_ca_file else {
            return Err(TlsError::Config("no BATON_TLS_CA_FILE".into()));
        };
        let pem = std::fs::read(ca).map_err(|e| file_error(ca, e))?;
        read_certificates(ca)?;
        let mut config = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(pem));
        if let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) {
            let cert_pem = std::fs::read(cert).map_err(|e| file_error(cert, e))?;
            let key_pem = std::fs::read(key).map_err(|e| file_error(key, e))?;
            config = config.identity(tonic::transport::Identity::from_pem(cert_pem, key_pem));
        }
        Ok(config)
    }

    /// The files the client configuration is read from (to notice they changed).
    pub fn client_files(&self) -> Vec<PathBuf> {
        [&self.tls_ca_file, &self.tls_cert_file, &self.tls_key_file]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

/// A rustls server configuration from PEM files; HTTP/2 only.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    require_client_cert: bool,
) -> Result<ServerConfig, TlsError> {
    let chain = read_certificates(cert)?;
    let key = read_key(key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match client_ca {
        Some(ca) => {
            let roots = Arc::new(read_roots(ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider());
            let verifier = if require_client_cert {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| TlsError::Config(e.to_string()))?,
            )
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}
