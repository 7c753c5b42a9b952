//! Carrying a sealed token on a gRPC call as the binary metadata entry `baton-context-bin`.

use tonic::metadata::{MetadataMap, MetadataValue};

use crate::error::OpenError;

/// The metadata key under which calls made for a contact carry its sealed token. The `-bin`
/// suffix makes gRPC base64-encode the value on the wire.
pub const TOKEN_METADATA_KEY: &str = "baton-context-bin";

/// Puts `sealed` into `metadata`, replacing any token already there.
pub fn insert(metadata: &mut MetadataMap, sealed: &[u8]) {
    metadata.insert_bin(TOKEN_METADATA_KEY, MetadataValue::from_bytes(sealed));
}

/// The sealed token carried in `metadata`, if any. It still has to be opened.
///
/// An entry that is not valid base64 is refused as [`OpenError::Malformed`].
pub fn get(metadata: &MetadataMap) -> Result<Option<Vec<u8>>, OpenError> {
    let Some(value) = metadata.get_bin(TOKEN_METADATA_KEY) else {
        return Ok(None);
    };
    value
        .to_bytes()
        .map(|bytes| Some(bytes.to_vec()))
        .map_err(|_| OpenError::Malformed {
            reason: "metadata entry is not valid base64",
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_metadata() {
        let mut map = MetadataMap::new();
        assert_eq!(get(&map), Ok(None));
        insert(&mut map, b"BTN\x01sealed\xff\x00");
        assert_eq!(get(&map), Ok(Some(b"BTN\x01sealed\xff\x00".to_vec())));
        insert(&mut map, b"second");
        assert_eq!(get(&map), Ok(Some(b"second".to_vec())));
    }

    #[test]
    fn survives_the_http_header_encoding() {
        let mut map = MetadataMap::new();
        insert(&mut map, &[0, 1, 2, 254, 255]);
        let headers = map.into_headers();
        let raw = headers
            .get(TOKEN_METADATA_KEY)
            .map(|v| v.as_bytes().to_vec());
        assert!(raw.as_deref().is_some_and(|r| r.is_ascii()), "{raw:?}");
        let back = MetadataMap::from_headers(headers);
        assert_eq!(get(&back), Ok(Some(vec![0, 1, 2, 254, 255])));
    }

    #[test]
    fn bad_base64_is_malformed() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            TOKEN_METADATA_KEY,
            http::HeaderValue::from_static("not base64!"),
        );
        let map = MetadataMap::from_headers(headers);
        assert!(matches!(get(&map), Err(OpenError::Malformed { .. })));
    }
}
