use thiserror::Error;

/// A storage failure. Services map it to `UNAVAILABLE` or `INTERNAL`; the message is for logs,
/// never for callers.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database could not be opened, read or committed.
    #[error("store backend: {0}")]
    Backend(String),
    /// The store is configured in a way that cannot work or cannot keep the durability promise
    /// (an unreadable password or certificate file, a refused password, a Redis server that
    /// does not fsync every write): found at start, fixed by whoever deploys.
    #[error("store configuration: {0}")]
    Config(String),
    /// A stored value no longer decodes: the file is damaged or was written by an
    /// incompatible version.
    #[error("stored value does not decode: {0}")]
    Corrupt(String),
    /// The blocking task running the transaction was cancelled or panicked.
    #[error("store task failed: {0}")]
    Task(String),
    /// A commit fenced by a lease found the lease taken by another holder, so nothing was
    /// written: whoever holds it now decides (routing's shards; see baton-routing).
    #[error("lease lost: {0}")]
    Fenced(String),
    /// An idempotency key came back with a request other than the one it was first used
    /// with: a caller's bug or a replay, refused rather than answered with the first
    /// request's result. The caller's error, unlike every other variant: services map it to
    /// `INVALID_ARGUMENT` on the key.
    #[error("idempotency key was already used with a different {operation} request")]
    KeyReused {
        /// The operation the key was used for (the name the service remembers answers under).
        operation: String,
    },
}

macro_rules! backend_from {
    ($($ty:ty),* $(,)?) => {$(
        impl From<$ty> for StoreError {
            fn from(err: $ty) -> Self {
                StoreError::Backend(err.to_string())
            }
        }
    )*};
}

backend_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    std::io::Error,
);

impl From<prost::DecodeError> for StoreError {
    fn from(err: prost::DecodeError) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}
