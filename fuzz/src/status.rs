//! What every validation refusal must be: `INVALID_ARGUMENT`, naming at least one field,
//! within the size bounds `baton_runtime::validate` documents, and carried intact through the
//! trailers a gRPC response ends with.

use baton_runtime::validate::{
    MAX_DESCRIPTION_LEN, MAX_FIELD_LEN, MAX_MESSAGE_LEN, MAX_REPORTED, field_violations,
};
use http::HeaderMap;
use tonic::{Code, Status};

/// Checks a refusal from a request validator.
///
/// # Panics
///
/// When the status is not `INVALID_ARGUMENT`, names no field, breaks a size bound, or does
/// not survive encoding.
pub fn assert_refusal(status: &Status) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().len() <= MAX_MESSAGE_LEN, "{status:?}");
    let mut violations = field_violations(status);
    // Those that do not fit the bounds are counted in one last entry without a field.
    if violations.last().is_some_and(|(field, _)| field.is_empty()) {
        let (_, count) = violations.pop().expect("there is a last one");
        assert!(
            count.starts_with("and ") && count.ends_with(" more"),
            "a violation without a field: {status:?}"
        );
    }
    assert!(
        !violations.is_empty() && violations.len() <= MAX_REPORTED,
        "a refusal names between 1 and {MAX_REPORTED} fields: {status:?}"
    );
    for (field, description) in &violations {
        assert!(
            !field.is_empty() && !description.is_empty(),
            "a violation without a field or a description: {status:?}"
        );
        assert!(
            field.len() <= MAX_FIELD_LEN && description.len() <= MAX_DESCRIPTION_LEN,
            "a violation longer than its bounds: {status:?}"
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
