//! Development credentials: what makes `make run` and `make demo` work with nothing to set up.
//!
//! `baton serve` on a loopback address with no caller keys configured creates one random
//! HS256 secret in the data directory (owner-only permissions) and accepts tokens signed with
//! it; `baton demo`, `baton credentials` and the test harness read the same file and mint the
//! tokens they need. A server on any other address never creates nor accepts it.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    time::Duration,
};

use zeroize::Zeroizing;

use crate::{
    jwt::{Claims, DEFAULT_AUDIENCE, JwtError, Signer, Verifier},
    principal::{Roles, Tenants},
};

/// The key id development tokens carry.
pub const KID: &str = "baton-dev";

/// The file name of the secret in the data directory.
pub const FILE: &str = "dev-credentials.secret";

/// Why development credentials could not be read or created.
#[derive(Debug, thiserror::Error)]
#[error("development credentials {path}: {reason}")]
pub struct DevError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// Writes a fresh random HS256 secret (32 bytes, base64url) to `path`, which must not exist,
/// readable by its owner only, and synced before it is used.
pub fn write_new_secret(path: &Path) -> std::io::Result<()> {
    let mut raw = Zeroizing::new([0u8; 32]);
    getrandom::fill(raw.as_mut()).map_err(std::io::Error::other)?;
    let encoded = Zeroizing::new(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        raw.as_ref(),
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(encoded.as_bytes())?;
    file.sync_all()
}

/// The development secret.
pub struct DevCredentials {
    secret: Zeroizing<Vec<u8>>,
    path: PathBuf,
}

impl std::fmt::Debug for DevCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevCredentials")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DevCredentials {
    /// Reads the secret from `data_dir`, creating it first when there is none.
    pub fn load_or_create(data_dir: &Path) -> Result<DevCredentials, DevError> {
        let path = data_dir.join(FILE);
        let error = |reason: String| DevError {
            path: path.clone(),
            reason,
        };
        match Self::load(data_dir) {
            Ok(creds) => return Ok(creds),
            Err(_) if !path.exists() => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir_all(data_dir).map_err(|e| error(e.to_string()))?;
        match write_new_secret(&path) {
            Ok(()) => {}
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(error(e.to_string())),
        }
        Self::load(data_dir)
    }

    /// Reads the secret from `data_dir`.
    pub fn load(data_dir: &Path) -> Result<DevCredentials, DevError> {
        let path = data_dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| DevError {
            path: path.clone(),
            reason: format!("{e} (does 'baton serve' run with this data directory?)"),
        })?;
        let secret = Zeroizing::new(text.trim().as_bytes().to_vec());
        if secret.len() < 32 {
            return Err(DevError {
                path,
                reason: "shorter than 32 bytes".into(),
            });
        }
        Ok(DevCredentials { secret, path })
    }

    /// Where the secret is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Verifies development tokens.
    pub fn verifier(&self) -> Result<Verifier, JwtError> {
        Verifier::from_secret(KID, &self.secret, DEFAULT_AUDIENCE)
    }

    /// Signs development tokens.
    pub fn signer(&self) -> Result<Signer, JwtError> {
        Signer::from_secret(KID, &self.secret)
    }

    /// A development token for `subject`.
    pub fn mint(
        &self,
        subject: &str,
        tenants: &Tenants,
        roles: Roles,
        agent_id: Option<&str>,
        ttl: Duration,
    ) -> Result<String, JwtError> {
        self.signer()?.sign(&Claims::new(
            subject,
            tenants,
            roles,
            agent_id,
            ttl,
            DEFAULT_AUDIENCE,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Role;

    #[test]
    fn the_secret_is_created_once_and_its_tokens_verify() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DevCredentials::load_or_create(dir.path()).expect("created");
        let again = DevCredentials::load_or_create(dir.path()).expect("read");
        let token = first
            .mint(
                "gw",
                &Tenants::one("acme"),
                Roles::of(&[Role::Gateway]),
                None,
                Duration::from_secs(60),
            )
            .expect("mints");
        let p = again
            .verifier()
            .expect("verifier")
            .verify(&token)
            .expect("same secret");
        assert_eq!(p.subject, "gw");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(first.path())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "owner-only");
        }
    }
}
