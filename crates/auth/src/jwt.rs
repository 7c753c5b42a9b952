//! Bearer JWTs: verifying them against configured keys, and minting them (development
//! credentials and `baton credentials`).
//!
//! A key file is one of: a PEM public key (Ed25519, ECDSA P-256/P-384 or RSA), a JWK set as
//! published by an identity provider (`{"keys": [...]}`), or a shared secret for HS256 (at
//! least 32 bytes). A PEM or secret file's key id is its file name without the extension; a
//! token whose header names a `kid` is checked against that key only.
//!
//! The claims baton reads:
//!
//! | claim | meaning |
//! |---|---|
//! | `sub` | the principal's id (required) |
//! | `tenants` | tenants it may act for; `["*"]` for every tenant (required, non-empty) |
//! | `roles` | `gateway`, `agent`, `supervisor`, `admin`, `service` (required, non-empty) |
//! | `agent_id` | the agent an agent desk is; defaults to `sub` |
//! | `exp` | expiry, seconds since the epoch (required) |
//! | `aud` | must contain the configured audience (`baton` by default) |
//! | `iss` | must equal the configured issuer, when one is configured |

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind, jwk::JwkSet,
};
use serde::{Deserialize, Serialize};

use crate::principal::{AuthMethod, Principal, Role, Roles, Tenants};

/// The audience a token must name unless configured otherwise.
pub const DEFAULT_AUDIENCE: &str = "baton";

/// The claims of a baton bearer token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The principal's id.
    pub sub: String,
    /// Tenants it may act for; `*` for all.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Role names.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The agent an agent desk is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at (seconds since the epoch).
    #[serde(default)]
    pub iat: u64,
    /// The audience (a string or a list; checked by the verifier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    /// The issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

impl Claims {
    /// Claims for `principal`, valid for `ttl` from now, for `audience`.
    pub fn new(
        subject: &str,
        tenants: &Tenants,
        roles: Roles,
        agent_id: Option<&str>,
        ttl: Duration,
        audience: &str,
    ) -> Claims {
        let now = now_secs();
        Claims {
            sub: subject.to_owned(),
            tenants: match tenants {
                Tenants::Any => vec!["*".to_owned()],
                Tenants::Only(set) => set.iter().cloned().collect(),
            },
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
            agent_id: agent_id.map(str::to_owned),
            exp: now.saturating_add(ttl.as_secs()),
            iat: now,
            aud: Some(serde_json::Value::String(audience.to_owned())),
            iss: None,
        }
    }

    /// The principal these (verified) claims describe.
    pub fn principal(&self) -> Result<Principal, JwtError> {
        if self.sub.is_empty() {
            return Err(JwtError::Claims("sub is empty".into()));
        }
        if self.tenants.is_empty() {
            return Err(JwtError::Claims("tenants is empty".into()));
        }
        let tenants = if self.tenants.iter().any(|t| t == "*") {
            Tenants::Any
        } else {
            Tenants::Only(self.tenants.iter().cloned().collect::<BTreeSet<_>>())
        };
        let mut roles = Vec::new();
        for name in &self.roles {
            roles.push(Role::parse(name).ok_or_else(|| {
                JwtError::Claims(format!("unknown role {:?}", truncate(name, 32)))
            })?);
        }
        if roles.is_empty() {
            return Err(JwtError::Claims("roles is empty".into()));
        }
        let roles = Roles::of(&roles);
        let agent_id = match (&self.agent_id, roles.contains(Role::Agent)) {
            (Some(id), _) => Some(id.clone()),
            (None, true) => Some(self.sub.clone()),
            (None, false) => None,
        };
        Ok(Principal {
            subject: self.sub.clone(),
            tenants,
            roles,
            agent_id,
            method: AuthMethod::Jwt,
        })
    }
}

/// Why a token or a key was refused.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The token is not a JWT, or its signature, expiry, audience or issuer failed.
    #[error("bearer token refused: {0}")]
    Token(String),
    /// The token verified but its claims do not describe a principal.
    #[error("bearer token refused: {0}")]
    Claims(String),
    /// A key file is unreadable or holds no usable key.
    #[error("jwt key file {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// One key tokens may be signed with.
struct VerifyingKey {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// The keys bearer tokens are verified against.
pub struct Verifier {
    keys: Vec<VerifyingKey>,
    audience: String,
    issuer: Option<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field(
                "kids",
                &self
                    .keys
                    .iter()
                    .map(|k| k.kid.as_deref())
                    .collect::<Vec<_>>(),
            )
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl Verifier {
    /// Reads every key of `files`.
    pub fn from_files(
        files: &[PathBuf],
        audience: &str,
        issuer: Option<&str>,
    ) -> Result<Verifier, JwtError> {
        let mut keys = Vec::new();
        for path in files {
            keys.extend(read_verifying_keys(path)?);
        }
        Ok(Verifier {
            keys,
            audience: audience.to_owned(),
            issuer: issuer.map(str::to_owned),
        })
    }

    /// A verifier of HS256 tokens signed with `secret` under key id `kid`.
    pub fn from_secret(kid: &str, secret: &[u8], audience: &str) -> Result<Verifier, JwtError> {
        Ok(Verifier {
            keys: vec![VerifyingKey {
                kid: Some(kid.to_owned()),
                key: DecodingKey::from_secret(secret).map_err(secret_error)?,
                algorithms: vec![Algorithm::HS256],
            }],
            audience: audience.to_owned(),
            issuer: None,
        })
    }

    /// The principal `token` proves, if it verifies.
    pub fn verify(&self, token: &str) -> Result<Principal, JwtError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| JwtError::Token(describe(e.kind())))?;
        let candidates = self.keys.iter().filter(|k| {
            k.algorithms.contains(&header.alg)
                && match (&header.kid, &k.kid) {
                    (Some(wanted), Some(kid)) => wanted == kid,
                    (Some(_), None) => false,
                    (None, _) => true,
                }
        });
        let mut last = None;
        for key in candidates {
            let mut validation = Validation::new(header.alg);
            validation.set_audience(&[&self.audience]);
            validation.set_required_spec_claims(&["exp", "sub", "aud"]);
            validation.leeway = 30;
            if let Some(iss) = &self.issuer {
                validation.set_issuer(&[iss]);
            }
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => return data.claims.principal(),
                Err(e) => last = Some(describe(e.kind())),
            }
        }
        Err(JwtError::Token(last.unwrap_or_else(|| match &header.kid {
            Some(kid) => format!(
                "no configured {:?} key has key id {:?}",
                header.alg,
                truncate(kid, 64)
            ),
            None => format!("no configured key verifies {:?}", header.alg),
        })))
    }
}

fn secret_error(e: jsonwebtoken::errors::Error) -> JwtError {
    JwtError::Token(format!("unusable secret: {e}"))
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "it has expired".into(),
        ErrorKind::InvalidSignature => "its signature does not verify".into(),
        ErrorKind::InvalidAudience => "it is not for this audience".into(),
        ErrorKind::InvalidIssuer => "it is not from the configured issuer".into(),
        ErrorKind::ImmatureSignature => "it is not valid yet".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("it has no {c} claim"),
        ErrorKind::InvalidAlgorithm => "its algorithm does not match the key".into(),
        ErrorKind::Json(_) => "its claims are not the expected JSON".into(),
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            "it is not a well-formed JWT".into()
        }
        other => format!("{other:?}"),
    }
}

/// At most `max` bytes of `s`, cut on a character boundary: what a message may echo of input.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn key_error(path: &Path, reason: impl Into<String>) -> JwtError {
    JwtError::Key {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn stem(path: &Path) -> Option<String> {
    path.file_stem().and_then(|s| s.to_str()).map(str::to_owned)
}

fn read_verifying_keys(path: &Path) -> Result<Vec<VerifyingKey>, JwtError> {
    let bytes = std::fs::read(path).map_err(|e| key_error(path, e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        let set: JwkSet = serde_json::from_str(trimmed)
            .map_err(|e| key_error(path, format!("not a JWK set: {e}")))?;
        let mut keys = Vec::new();
        for jwk in set.keys.iter().filter(|k| k.is_supported()) {
            let key = DecodingKey::from_jwk(jwk).map_err(|e| key_error(path, e.to_string()))?;
            let algorithms = match jwk.common.key_algorithm {
                Some(alg) => vec![
                    alg.to_string()
                        .parse::<Algorithm>()
                        .map_err(|_| key_error(path, format!("unsupported algorithm {alg}")))?,
                ],
                None => algorithms_of(key.family()),
            };
            keys.push(VerifyingKey {
                kid: jwk.common.key_id.clone(),
                key,
                algorithms,
            });
        }
        if keys.is_empty() {
            return Err(key_error(path, "the JWK set holds no supported key"));
        }
        return Ok(keys);
    }
    let kid = stem(path);
    if trimmed.starts_with("-----BEGIN") {
        let pem = trimmed.as_bytes();
        let (key, algorithms) = if let Ok(k) = DecodingKey::from_ed_pem(pem) {
            (k, vec![Algorithm::EdDSA])
        } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
            (k, vec![Algorithm::ES256, Algorithm::ES384])
        } else if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
            (
                k,
                vec![
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ],
            )
        } else {
            return Err(key_error(
                path,
                "not an Ed25519, ECDSA or RSA public key in PEM",
            ));
        };
        return Ok(vec![VerifyingKey {
            kid,
            key,
            algorithms,
        }]);
    }
    let secret = trimmed.as_bytes();
    if secret.len() < 32 {
        return Err(key_error(
            path,
            "a shared secret must be at least 32 bytes (or give a PEM public key or a JWK set)",
        ));
    }
    Ok(vec![VerifyingKey {
        kid,
        key: DecodingKey::from_secret(secret).map_err(|e| key_error(path, e.to_string()))?,
        algorithms: vec![Algorithm::HS256],
    }])
}

fn algorithms_of(family: jsonwebtoken::AlgorithmFamily) -> Vec<Algorithm> {
    use jsonwebtoken::AlgorithmFamily as F;
    match family {
        F::Hmac => vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
        F::Rsa => vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
        F::Ec => vec![Algorithm::ES256, Algorithm::ES384],
        F::Ed => vec![Algorithm::EdDSA],
        #[allow(unreachable_patterns)]
        _ => vec![],
    }
}

/// Signs tokens: the development credentials' secret, or a private key given to
/// `baton credentials`.
pub struct Signer {
    kid: Option<String>,
    key: EncodingKey,
    algorithm: Algorithm,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// An HS256 signer with `secret` under key id `kid`.
    pub fn from_secret(kid: &str, secret: &[u8]) -> Result<Signer, JwtError> {
        Ok(Signer {
            kid: Some(kid.to_owned()),
            key: EncodingKey::from_secret(secret).map_err(secret_error)?,
            algorithm: Algorithm::HS256,
        })
    }

    /// A signer from a key file: a PEM private key (Ed25519, ECDSA P-256 or RSA) or a shared
    /// secret of at least 32 bytes; the key id is the file name without its extension.
    pub fn from_file(path: &Path) -> Result<Signer, JwtError> {
        let bytes = std::fs::read(path).map_err(|e| key_error(path, e.to_string()))?;
        let text = String::from_utf8_lossy(&bytes);
        let trimmed = text.trim();
        let kid = stem(path);
        if trimmed.starts_with("-----BEGIN") {
            let pem = trimmed.as_bytes();
            let (key, algorithm) = if let Ok(k) = EncodingKey::from_ed_pem(pem) {
                (k, Algorithm::EdDSA)
            } else if let Ok(k) = EncodingKey::from_ec_pem(pem) {
                (k, Algorithm::ES256)
            } else if let Ok(k) = EncodingKey::from_rsa_pem(pem) {
                (k, Algorithm::RS256)
            } else {
                return Err(key_error(
                    path,
                    "not an Ed25519, ECDSA or RSA private key in PEM",
                ));
            };
            return Ok(Signer {
                kid,
                key,
                algorithm,
            });
        }
        if trimmed.len() < 32 {
            return Err(key_error(path, "a shared secret must be at least 32 bytes"));
        }
        Ok(Signer {
            kid,
            key: EncodingKey::from_secret(trimmed.as_bytes())
                .map_err(|e| key_error(path, e.to_string()))?,
            algorithm: Algorithm::HS256,
        })
    }

    /// A signed token carrying `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, JwtError> {
        let mut header = Header::new(self.algorithm);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, claims, &self.key).map_err(|e| JwtError::Token(e.to_string()))
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn claims() -> Claims {
        Claims::new(
            "desk-ann",
            &Tenants::one("acme"),
            Roles::of(&[Role::Agent]),
            Some("ann"),
            Duration::from_secs(60),
            DEFAULT_AUDIENCE,
        )
    }

    #[test]
    fn a_signed_token_verifies_to_its_principal() {
        let signer = Signer::from_secret("dev", SECRET).expect("signer");
        let verifier = Verifier::from_secret("dev", SECRET, DEFAULT_AUDIENCE).expect("verifier");
        let token = signer.sign(&claims()).expect("signs");
        let p = verifier.verify(&token).expect("verifies");
        assert_eq!(p.subject, "desk-ann");
        assert_eq!(p.agent_id.as_deref(), Some("ann"));
        assert_eq!(p.tenants, Tenants::one("acme"));
        assert!(p.has(Role::Agent) && !p.has(Role::Admin));
    }

    #[test]
    fn tampered_expired_foreign_and_misaddressed_tokens_are_refused() {
        let signer = Signer::from_secret("dev", SECRET).expect("signer");
        let verifier = Verifier::from_secret("dev", SECRET, DEFAULT_AUDIENCE).expect("verifier");
        let token = signer.sign(&claims()).expect("signs");

        // A character in the middle of the signature: every one of its bits is signature (the
        // last character's low bits may be padding).
        let at = token.len() - 10;
        let flipped = if &token[at..=at] == "A" { "B" } else { "A" };
        let tampered = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
        let err = verifier.verify(&tampered).expect_err("tampered");
        assert!(err.to_string().contains("signature"), "{err}");

        let mut old = claims();
        old.exp = now_secs() - 3600;
        let err = verifier
            .verify(&signer.sign(&old).expect("signs"))
            .expect_err("expired");
        assert!(err.to_string().contains("expired"), "{err}");

        let other =
            Signer::from_secret("dev", b"another secret of thirty-two bytes!!").expect("signer");
        let err = verifier
            .verify(&other.sign(&claims()).expect("signs"))
            .expect_err("foreign key");
        assert!(err.to_string().contains("signature"), "{err}");

        let mut elsewhere = claims();
        elsewhere.aud = Some(serde_json::Value::String("someone-else".into()));
        let err = verifier
            .verify(&signer.sign(&elsewhere).expect("signs"))
            .expect_err("audience");
        assert!(err.to_string().contains("audience"), "{err}");

        let unknown_kid = Signer::from_secret("k9", SECRET).expect("signer");
        let err = verifier
            .verify(&unknown_kid.sign(&claims()).expect("signs"))
            .expect_err("kid");
        assert!(err.to_string().contains("k9"), "{err}");

        let err = verifier.verify("not.a.jwt").expect_err("garbage");
        assert!(err.to_string().contains("well-formed"), "{err}");
    }

    #[test]
    fn claims_must_name_tenants_and_known_roles() {
        let mut c = claims();
        c.roles = vec!["root".into()];
        assert!(c.principal().is_err());
        let mut c = claims();
        c.tenants.clear();
        assert!(c.principal().is_err());
        let mut c = claims();
        c.tenants = vec!["*".into()];
        assert_eq!(c.principal().expect("valid").tenants, Tenants::Any);
    }

    #[test]
    fn key_files_hold_secrets_of_a_minimum_length() {
        let dir = tempfile::tempdir().expect("tempdir");
        let short = dir.path().join("short.secret");
        std::fs::write(&short, "too short").expect("write");
        let err = Verifier::from_files(&[short], DEFAULT_AUDIENCE, None).expect_err("short");
        assert!(err.to_string().contains("32 bytes"), "{err}");

        let good = dir.path().join("k2.secret");
        std::fs::write(&good, SECRET).expect("write");
        let verifier = Verifier::from_files(std::slice::from_ref(&good), DEFAULT_AUDIENCE, None)
            .expect("reads");
        let token = Signer::from_file(&good)
            .expect("signer")
            .sign(&claims())
            .expect("signs");
        verifier
            .verify(&token)
            .expect("the file's key id is its stem");
    }
}
