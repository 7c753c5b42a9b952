//! Reaching a Redis server: the url, a password read from a file, and TLS with a CA and a
//! client certificate of its own.
//!
//! No message ever holds a password: errors and logs name the server by `host:port`, and a url
//! that does not parse is shown with its user information replaced by `***`.

use std::path::{Path, PathBuf};

use redis::{
    ClientTlsConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo as _, RedisError,
    TlsCertificates, cluster::ClusterClient,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};

use crate::StoreError;

/// How to reach and trust a Redis server beyond what its url says, and what to accept of it.
/// The default: the url alone, the system's roots for `rediss://`, and durability checked.
#[derive(Debug, Clone, Default)]
pub struct RedisOptions {
    /// A file holding the password (a mounted Kubernetes Secret, say), so that it is in neither
    /// the url nor the environment; trailing line breaks are trimmed. An ACL user's name goes
    /// in the url (`redis://user@host:port/`). Refused when the url carries a password too.
    pub password_file: Option<PathBuf>,
    /// PEM certificates the server's certificate must chain to, for a server whose certificate
    /// a private CA signed; unset: the system's roots. Only with `rediss://`.
    pub ca_file: Option<PathBuf>,
    /// A PEM certificate chain to present to a server that requires client certificates
    /// (`tls-auth-clients yes`); needs [`client_key_file`](Self::client_key_file).
    pub client_cert_file: Option<PathBuf>,
    /// The PEM private key of [`client_cert_file`](Self::client_cert_file).
    pub client_key_file: Option<PathBuf>,
    /// Start against a server that does not fsync every write to an append-only file, with a
    /// warning, instead of refusing to (acknowledged writes could then be lost on a crash).
    pub allow_weak_durability: bool,
    /// The url names the seed nodes of a Redis Cluster, one or more urls separated by commas
    /// (`redis://node-a:6379/,redis://node-b:6379/`), instead of one server. The client learns
    /// the other nodes from whichever seed answers; every seed takes the options above.
    pub cluster: bool,
}

/// A client for `url` with `options` applied, and the server's `host:port` for messages.
pub(super) async fn client(
    url: &str,
    options: &RedisOptions,
) -> Result<(redis::Client, String), StoreError> {
    let (info, addr, tls) = node(url, options).await?;
    let certificates = tls_certificates(options).await?;
    let client = match (tls, certificates) {
        (true, certificates) => {
            use_ring();
            match certificates {
                Some(certificates) => redis::Client::build_with_tls(info, certificates),
                None => redis::Client::open(info),
            }
        }
        (false, Some(_)) => return Err(not_tls(&addr)),
        (false, None) => redis::Client::open(info),
    }
    .map_err(|e| config(format!("redis at {addr}: {e}")))?;
    Ok((client, addr))
}

/// A cluster client for the comma-separated seed node urls of `urls`, each checked and given
/// `options` as a single server's url is, and the seeds' `host:port`s for messages. The client
/// learns the other nodes from the seeds, so one reachable seed is enough.
pub(super) async fn cluster_client(
    urls: &str,
    options: &RedisOptions,
) -> Result<(ClusterClient, String), StoreError> {
    let mut seeds = Vec::new();
    let mut addrs = Vec::new();
    let mut tls = None;
    for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let (info, addr, seed_tls) = node(url, options).await?;
        if *tls.get_or_insert(seed_tls) != seed_tls {
            return Err(config(format!(
                "redis cluster seed {addr} is not reached like the first seed: give every \
                 seed as redis:// or every seed as rediss://"
            )));
        }
        if info.redis_settings().db() != 0 {
            return Err(config(format!(
                "redis cluster seed {addr} names database {}: a cluster has database 0 only",
                info.redis_settings().db()
            )));
        }
        seeds.push(info);
        addrs.push(addr);
    }
    let addr = addrs.join(",");
    if seeds.is_empty() {
        return Err(config(
            "a redis cluster needs at least one seed node url (comma-separated)".to_owned(),
        ));
    }
    let mut builder = ClusterClient::builder(seeds)
        .connection_timeout(TIMEOUT)
        .response_timeout(TIMEOUT)
        .retries(RETRIES);
    match (tls == Some(true), tls_certificates(options).await?) {
        (true, certificates) => {
            use_ring();
            if let Some(certificates) = certificates {
                builder = builder.certs(certificates);
            }
        }
        (false, Some(_)) => return Err(not_tls(&addr)),
        (false, None) => {}
    }
    let client = builder
        .build()
        .map_err(|e| config(format!("redis cluster at {addr}: {e}")))?;
    Ok((client, addr))
}

/// How long connecting to a node, and each answer, may take.
pub(super) const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How many times a command is sent again after a lost connection (and, on a cluster, after a
/// redirect or a node that is still failing over).
pub(super) const RETRIES: u32 = 3;

/// The connection info of `url` with `options` applied, its `host:port`, and whether it is
/// reached over TLS.
async fn node(
    url: &str,
    options: &RedisOptions,
) -> Result<(ConnectionInfo, String, bool), StoreError> {
    let info = url
        .into_connection_info()
        .map_err(|e| config(format!("redis url {}: {e}", redacted(url))))?;
    let addr = info.addr().to_string();
    let tls = match info.addr() {
        ConnectionAddr::TcpTls { insecure: true, .. } => {
            return Err(config(format!(
                "redis url for {addr} turns certificate checks off (#insecure), which baton \
                 never does: give the CA that signed the server's certificate instead"
            )));
        }
        ConnectionAddr::TcpTls { .. } => true,
        _ => false,
    };

    let info = match &options.password_file {
        Some(file) => {
            if info.redis_settings().password().is_some() {
                return Err(config(format!(
                    "redis url for {addr} carries a password and a password file is given \
                     too: keep only the file"
                )));
            }
            let settings = info
                .redis_settings()
                .clone()
                .set_password(read_password(file).await?);
            info.set_redis_settings(settings)
        }
        None => info,
    };
    // Without a password the client sends no AUTH and would run as the default user instead.
    if let (Some(user), None) = (
        info.redis_settings().username(),
        info.redis_settings().password(),
    ) {
        return Err(config(format!(
            "redis url for {addr} names the user {user} but gives no password: give the \
             password in a file"
        )));
    }
    Ok((info, addr, tls))
}

fn not_tls(addr: &str) -> StoreError {
    config(format!(
        "a CA file or client certificate is given for redis at {addr}, but its url is not \
         rediss://: use rediss:// to reach it over TLS"
    ))
}

/// The error of a connection attempt or its first command: a configuration error with a hint
/// when the server refused the credentials, else a backend error naming the server.
pub(super) fn refused(addr: &str, options: &RedisOptions, err: RedisError) -> StoreError {
    let code = err.code().unwrap_or_default();
    let text = err.to_string();
    // A cluster client reports the refusal of its first node inside an error of its own, so
    // the kind is found in the text there.
    let wrapped = |kind: &str| code.is_empty() && text.contains(kind);
    if code == "WRONGPASS"
        || err.kind() == redis::ErrorKind::AuthenticationFailed
        || wrapped("AuthenticationFailed")
        || wrapped("WRONGPASS")
    {
        let from = match &options.password_file {
            Some(file) => format!("the password in {}", file.display()),
            None => "the password in the url".to_owned(),
        };
        return config(format!("redis at {addr} refused {from}: {err}"));
    }
    if code == "NOAUTH" || wrapped("NOAUTH") {
        return config(format!(
            "redis at {addr} requires a password and none was given: put it in a file and pass \
             that file (--redis-password-file)"
        ));
    }
    if text.contains("CertificateRequired") {
        return config(format!(
            "redis at {addr} requires a client certificate: {err} (give the certificate and \
             key files, --redis-client-cert-file and --redis-client-key-file)"
        ));
    }
    if text.contains("certificate") {
        let signer = match &options.ca_file {
            Some(file) => format!("a CA in {}", file.display()),
            None => "a CA the system trusts (give a CA file for a private one)".to_owned(),
        };
        return config(format!(
            "redis at {addr} presented a certificate baton does not trust: {err} (it must be \
             issued for the url's host and signed by {signer})"
        ));
    }
    StoreError::Backend(format!("redis at {addr}: {err}"))
}

/// The password in `file`, without trailing line breaks (`echo` and most editors add one).
async fn read_password(file: &Path) -> Result<String, StoreError> {
    let text = tokio::fs::read_to_string(file)
        .await
        .map_err(|e| config(format!("redis password file {}: {e}", file.display())))?;
    let password = text.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(config(format!(
            "redis password file {} is empty",
            file.display()
        )));
    }
    Ok(password.to_owned())
}

/// The CA and client certificate of `options`, read and checked so that a wrong file is
/// named now rather than failing every handshake later; `None` when neither is given.
async fn tls_certificates(options: &RedisOptions) -> Result<Option<TlsCertificates>, StoreError> {
    let root_cert = match &options.ca_file {
        Some(file) => {
            let pem = read(file, "CA file").await?;
            certificates(&pem, file, "CA file")?;
            Some(pem)
        }
        None => None,
    };
    let client_tls = match (&options.client_cert_file, &options.client_key_file) {
        (Some(cert), Some(key)) => {
            let client_cert = read(cert, "client certificate file").await?;
            certificates(&client_cert, cert, "client certificate file")?;
            let client_key = read(key, "client key file").await?;
            PrivateKeyDer::from_pem_slice(&client_key).map_err(|e| {
                config(format!(
                    "redis client key file {} holds no PEM private key: {e}",
                    key.display()
                ))
            })?;
            Some(ClientTlsConfig {
                client_cert,
                client_key,
            })
        }
        (None, None) => None,
        _ => {
            return Err(config(
                "a redis client certificate needs its key and a key its certificate: give both \
                 files or neither"
                    .to_owned(),
            ));
        }
    };
    if root_cert.is_none() && client_tls.is_none() {
        return Ok(None);
    }
    Ok(Some(TlsCertificates {
        client_tls,
        root_cert,
    }))
}

async fn read(file: &Path, what: &str) -> Result<Vec<u8>, StoreError> {
    tokio::fs::read(file)
        .await
        .map_err(|e| config(format!("redis {what} {}: {e}", file.display())))
}

/// Fails unless `pem` holds at least one certificate and nothing unreadable.
fn certificates(pem: &[u8], file: &Path, what: &str) -> Result<(), StoreError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config(format!("redis {what} {}: {e}", file.display())))?;
    if certs.is_empty() {
        return Err(config(format!(
            "redis {what} {} holds no PEM certificate",
            file.display()
        )));
    }
    Ok(())
}

/// Makes ring the process's rustls provider unless one is installed already. rustls takes its
/// cryptography from that default, and finds none of its own when the dependency graph enables
/// more than one provider; ring builds with the C compiler alone.
fn use_ring() {
    // An error only says that a provider is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `url` with the user information before its host (where a password would be) replaced by
/// `***`.
fn redacted(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_owned(),
    }
}

fn config(message: String) -> StoreError {
    StoreError::Config(message)
}

#[cfg(test)]
mod tests;
