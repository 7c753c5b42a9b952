//! What every validation refusal must be: `INVALID_ARGUMENT`, naming at least one field, and
//! carried intact through the trailers a gRPC response ends with.

use baton_runtime::validate::field_violations;
use http::HeaderMap;
use tonic::{Code, Status};

/// Checks a refusal from a request validator.
///
/// # Panics
///
/// When the status is not `INVALID_ARGUMENT`, names no field, or does not survive encoding.
pub fn assert_refusal(status: &Status) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let violations = field_violations(status);
    assert!(
        !violations.is_empty(),
        "a refusal names the fields at fault: {status:?}"
    );
    for (field, description) in &violations {
        assert!(
            !field.is_empty() && !description.is_empty(),
            "violation without a field or a description: {status:?}"
        );
    }
    assert_transmittable(status);
}

/// Checks that `status` encodes into trailers and decodes back to the same code, message and
/// details, as a client on the other end reads it.
///
/// # Panics
///
/// When encoding fails or anything is lost on the way.
pub fn assert_transmittable(status: &Status) {
    let mut trailers = HeaderMap::new();
    if let Err(err) = status.add_header(&mut trailers) {
        panic!("status does not encode into trailers: {err:?} from {status:?}");
    }
    let Some(read) = Status::from_header_map(&trailers) else {
        panic!("trailers carry no status: {trailers:?}");
    };
    assert_eq!(read.code(), status.code());
    assert_eq!(read.message(), status.message());
    assert_eq!(read.details(), status.details());
}

/// What a validator accepted, or `None` after checking its refusal with [`assert_refusal`].
pub fn accepted<T>(result: Result<T, Status>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(status) => {
            assert_refusal(&status);
            None
        }
    }
}
