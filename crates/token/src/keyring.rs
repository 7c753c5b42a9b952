//! Sealing keys by id, the newest one active.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{KeyInit as _, OsRng};
use zeroize::Zeroize as _;

use crate::error::KeyRingError;

/// Length of a key in bytes (XChaCha20-Poly1305 uses 256-bit keys).
pub const KEY_LEN: usize = 32;

/// Longest key id the sealed header can carry.
pub const MAX_KID_LEN: usize = 64;

/// One 256-bit sealing key. Wiped from memory on drop; `Debug` never prints it.
#[derive(Clone)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Key {
        let mut generated = XChaCha20Poly1305::generate_key(&mut OsRng);
        let mut bytes = [0u8; KEY_LEN];
        bytes.copy_from_slice(&generated);
        generated.zeroize();
        Key(bytes)
    }

    pub(crate) fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(..)")
    }
}

/// Keys by id, oldest first; the last one is active and seals new tokens, every one opens.
///
/// Rotation: append a new key (it becomes active), keep the old ones until every token they
/// sealed has expired, then drop them.
#[derive(Clone)]
pub struct KeyRing {
    /// Never empty; kids are unique and valid.
    keys: Vec<(String, Key)>,
}

impl KeyRing {
    /// A ring holding one key.
    pub fn new(kid: &str, key: Key) -> Result<KeyRing, KeyRingError> {
        check_kid(kid)?;
        Ok(KeyRing {
            keys: vec![(kid.to_owned(), key)],
        })
    }

    /// A ring holding one fresh random key.
    pub fn generate(kid: &str) -> Result<KeyRing, KeyRingError> {
        KeyRing::new(kid, Key::generate())
    }

    /// Parses `kid1=<base64>,kid2=<base64>`: standard base64 of 32 bytes each, newest last
    /// (the active key). Whitespace around entries is ignored.
    pub fn parse(spec: &str) -> Result<KeyRing, KeyRingError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(KeyRingError::Empty);
        }
        let mut keys: Vec<(String, Key)> = Vec::new();
        for (index, entry) in spec.split(',').enumerate() {
            let (kid, encoded) = entry.split_once('=').ok_or(KeyRingError::NotAPair {
                position: index + 1,
            })?;
            let (kid, encoded) = (kid.trim(), encoded.trim());
            check_kid(kid)?;
            if keys.iter().any(|(known, _)| known == kid) {
                return Err(KeyRingError::DuplicateKid {
                    kid: kid.to_owned(),
                });
            }
            keys.push((kid.to_owned(), decode_key(kid, encoded)?));
        }
        Ok(KeyRing { keys })
    }

    /// The spec [`KeyRing::parse`] reads back into the same ring. It holds key material.
    pub fn to_spec(&self) -> String {
        self.keys
            .iter()
            .map(|(kid, key)| format!("{kid}={}", BASE64.encode(key.0)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Adds a key that becomes the active one; the previous keys keep opening tokens.
    pub fn push(&mut self, kid: &str, key: Key) -> Result<(), KeyRingError> {
        check_kid(kid)?;
        if self.get(kid).is_some() {
            return Err(KeyRingError::DuplicateKid {
                kid: kid.to_owned(),
            });
        }
        self.keys.push((kid.to_owned(), key));
        Ok(())
    }

    /// The id of the key that seals new tokens.
    pub fn active_kid(&self) -> &str {
        self.active().0
    }

    /// Every key id, oldest first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(kid, _)| kid.as_str())
    }

    /// Reads a ring from `path`, or creates a one-key ring there when the file does not exist.
    ///
    /// Made for running on one machine without configuring keys, where tokens must survive a
    /// restart. The new file is written to a temporary file in the same directory (owner-only
    /// permissions on Unix) and renamed into place without replacing a file that appeared in
    /// the meantime, so a reader never sees half a key and two starters agree on one ring.
    /// An existing file that does not parse is an error, never overwritten.
    pub fn load_or_create(path: &Path) -> Result<KeyRing, KeyRingError> {
        match std::fs::read_to_string(path) {
            Ok(spec) => return parse_file(path, &spec),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_error(path, "read", source)),
        }
        let ring = KeyRing::generate("k1")?;
        match write_new(path, &ring) {
            Ok(()) => Ok(ring),
            // Someone else created it first: theirs wins, so everyone seals with one key.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let spec = std::fs::read_to_string(path).map_err(|e| io_error(path, "read", e))?;
                parse_file(path, &spec)
            }
            Err(source) => Err(io_error(path, "write", source)),
        }
    }

    pub(crate) fn active(&self) -> (&str, &Key) {
        // `keys` is never empty: every constructor puts one key in and nothing removes one.
        let (kid, key) = &self.keys[self.keys.len() - 1];
        (kid, key)
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&Key> {
        self.keys
            .iter()
            .find(|(known, _)| known == kid)
            .map(|(_, key)| key)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("kids", &self.kids().collect::<Vec<_>>())
            .field("active", &self.active_kid())
            .finish()
    }
}

/// Whether `kid` may appear in a spec and in a sealed header: 1 to 64 bytes of `A-Z a-z 0-9
/// . _ -`, so it can never contain the spec's separators and prints safely in error messages.
pub(crate) fn is_valid_kid(kid: &[u8]) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn check_kid(kid: &str) -> Result<(), KeyRingError> {
    if is_valid_kid(kid.as_bytes()) {
        Ok(())
    } else {
        Err(KeyRingError::BadKid {
            kid: kid.to_owned(),
        })
    }
}

fn decode_key(kid: &str, encoded: &str) -> Result<Key, KeyRingError> {
    let mut decoded = BASE64
        .decode(encoded)
        .map_err(|_| KeyRingError::BadBase64 {
            kid: kid.to_owned(),
        })?;
    let result = <[u8; KEY_LEN]>::try_from(decoded.as_slice())
        .map(Key)
        .map_err(|_| KeyRingError::WrongLength {
            kid: kid.to_owned(),
            len: decoded.len(),
        });
    decoded.zeroize();
    result
}

fn parse_file(path: &Path, spec: &str) -> Result<KeyRing, KeyRingError> {
    KeyRing::parse(spec).map_err(|err| KeyRingError::InvalidFile {
        path: path.to_owned(),
        source: Box::new(err),
    })
}

fn io_error(path: &Path, action: &'static str, source: std::io::Error) -> KeyRingError {
    KeyRingError::Io {
        path: path.to_owned(),
        action,
        source,
    }
}

/// Writes `ring` to `path` atomically, failing with `AlreadyExists` if `path` exists.
fn write_new(path: &Path, ring: &KeyRing) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    // tempfile creates the file readable and writable by its owner only (0600 on Unix).
    let mut file = tempfile::Builder::new()
        .prefix(".baton-keys-")
        .tempfile_in(dir)?;
    let mut spec = ring.to_spec();
    spec.push('\n');
    let written = file.write_all(spec.as_bytes());
    spec.zeroize();
    written?;
    file.as_file().sync_all()?;
    file.persist_noclobber(path).map_err(|err| err.error)?;
    Ok(())
}
