//! Protobuf messages as stored values.

use prost::Message;

use crate::StoreError;

/// Encodes a message for storage.
pub fn encode<M: Message>(message: &M) -> Vec<u8> {
    message.encode_to_vec()
}

/// Decodes a stored message; a failure means a damaged or incompatible file.
pub fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, StoreError> {
    Ok(M::decode(bytes)?)
}
