//! Why a token did not open, and why a key ring could not be built.

use std::path::PathBuf;

use prost_types::Timestamp;

/// Why a sealed token was refused. One variant per check, in the order `open` runs them.
///
/// Messages name the failed check and never carry token contents beyond what the check needs
/// (no tenant ids, no audience ids), because they are returned to whoever presented the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The bytes are not a sealed token (too short, wrong magic, unknown format version, bad
    /// key id), or the authentic payload is unusable (does not decode, unknown payload version,
    /// no issue or expiry time).
    #[error("format check failed: {reason}")]
    Malformed {
        /// What is wrong with the structure.
        reason: &'static str,
    },
    /// The key id in the header is not in the key ring (never issued, or retired).
    #[error("key check failed: unknown key id {kid:?}")]
    UnknownKey {
        /// The key id named in the header.
        kid: String,
    },
    /// The AEAD tag did not verify.
    #[error("seal check failed: token was altered or sealed with another key")]
    Tampered,
    /// The token's expiry time has passed.
    #[error("expiry check failed: token expired at {expired_at}")]
    Expired {
        /// When the token stopped opening.
        expired_at: Timestamp,
    },
    /// The token claims to be issued later than the clock-skew allowance permits.
    #[error("issue time check failed: token is issued at {issued_at}, in the future")]
    NotYetValid {
        /// The issue time the token carries.
        issued_at: Timestamp,
    },
    /// The token belongs to a tenant other than the one the caller acts for.
    #[error("tenant check failed: token belongs to another tenant")]
    WrongTenant,
    /// The opener is not in the token's audience.
    #[error("audience check failed: {reason}")]
    WrongAudience {
        /// Which part of the audience did not match.
        reason: &'static str,
    },
}

impl OpenError {
    /// A stable short label of the failed check, for metrics and logs.
    pub fn check(&self) -> &'static str {
        match self {
            OpenError::Malformed { .. } => "malformed",
            OpenError::UnknownKey { .. } => "unknown_key",
            OpenError::Tampered => "seal",
            OpenError::Expired { .. } => "expired",
            OpenError::NotYetValid { .. } => "not_yet_valid",
            OpenError::WrongTenant => "tenant",
            OpenError::WrongAudience { .. } => "audience",
        }
    }

    /// Whether the token itself was valid but is not for this caller (`PERMISSION_DENIED`),
    /// as opposed to not being a valid token at all (`UNAUTHENTICATED`).
    pub fn is_permission_denied(&self) -> bool {
        matches!(
            self,
            OpenError::WrongTenant | OpenError::WrongAudience { .. }
        )
    }
}

impl From<OpenError> for tonic::Status {
    fn from(err: OpenError) -> Self {
        if err.is_permission_denied() {
            tonic::Status::permission_denied(err.to_string())
        } else {
            tonic::Status::unauthenticated(err.to_string())
        }
    }
}

/// Why a key ring spec or file was refused. Messages name key ids but never key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// The spec holds no keys.
    #[error("key ring is empty: expected kid=<base64 key>[,kid=<base64 key>...]")]
    Empty,
    /// An entry is not of the form `kid=<base64 key>`.
    #[error("key ring entry {position} is not of the form kid=<base64 key>")]
    NotAPair {
        /// 1-based position of the entry in the spec.
        position: usize,
    },
    /// A key id is empty, too long, or uses characters outside `A-Z a-z 0-9 . _ -`.
    #[error("key id {kid:?} is invalid: use 1 to 64 characters from A-Z a-z 0-9 . _ -")]
    BadKid {
        /// The refused key id.
        kid: String,
    },
    /// A key is not standard (padded) base64.
    #[error("key {kid:?} is not valid standard base64")]
    BadBase64 {
        /// The key's id.
        kid: String,
    },
    /// A key does not decode to 32 bytes.
    #[error("key {kid:?} is {len} bytes long, expected 32")]
    WrongLength {
        /// The key's id.
        kid: String,
        /// How many bytes it decoded to.
        len: usize,
    },
    /// The same key id appears twice.
    #[error("key id {kid:?} appears more than once")]
    DuplicateKid {
        /// The repeated key id.
        kid: String,
    },
    /// Reading or writing the key ring file failed.
    #[error("key ring file {}: {action} failed", path.display())]
    Io {
        /// The key ring file.
        path: PathBuf,
        /// What was being done ("read", "write").
        action: &'static str,
        /// The underlying failure.
        source: std::io::Error,
    },
    /// The key ring file exists but does not hold a valid spec.
    #[error("key ring file {} is invalid", path.display())]
    InvalidFile {
        /// The key ring file.
        path: PathBuf,
        /// What is wrong with its contents.
        source: Box<KeyRingError>,
    },
}
