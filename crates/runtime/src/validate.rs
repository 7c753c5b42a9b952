//! Request validation with field violations.
//!
//! A handler collects every problem with a request before answering, so a caller fixes them
//! all at once. The answer is `INVALID_ARGUMENT` whose message lists the fields and whose
//! details carry a `google.rpc.BadRequest` with one field violation each, which clients in
//! any language can read.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

/// Longest tenant id.
pub const MAX_TENANT_LEN: usize = 64;
/// Longest id (customer, contact, agent, queue, case, order, ...).
pub const MAX_ID_LEN: usize = 128;
/// Longest idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
/// Longest free-text field (utterances, notes, summaries).
pub const MAX_TEXT_LEN: usize = 4096;

/// The problems found in one request.
#[derive(Debug, Default)]
pub struct Violations {
    /// `(field path, what is wrong)`, in the order found.
    found: Vec<(String, String)>,
}

impl Violations {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field` (a dotted path such as `identifiers[0].value`).
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.found.push((field.into(), description.into()));
    }

    /// Whether nothing is wrong so far.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// Checks a tenant id: required, at most 64 bytes of `[A-Za-z0-9._-]`.
    pub fn tenant(&mut self, tenant_id: &str) {
        if tenant_id.is_empty() {
            self.add("tenant_id", "is required");
        } else if tenant_id.len() > MAX_TENANT_LEN {
            self.add(
                "tenant_id",
                format!("must be at most {MAX_TENANT_LEN} bytes"),
            );
        } else if !tenant_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            self.add(
                "tenant_id",
                "may contain only letters, digits, '.', '_' and '-'",
            );
        }
    }

    /// Checks a required id: non-empty, at most 128 bytes, no control characters.
    pub fn id(&mut self, field: &str, value: &str) {
        if value.is_empty() {
            self.add(field, "is required");
        } else {
            self.optional_id(field, value);
        }
    }

    /// Checks an optional id: empty, or at most 128 bytes with no control characters.
    pub fn optional_id(&mut self, field: &str, value: &str) {
        if value.len() > MAX_ID_LEN {
            self.add(field, format!("must be at most {MAX_ID_LEN} bytes"));
        } else if value.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
        }
    }

    /// Checks a required idempotency key.
    pub fn idempotency_key(&mut self, value: &str) {
        if value.is_empty() {
            self.add("idempotency_key", "is required: retries must be safe");
        } else if value.len() > MAX_IDEMPOTENCY_KEY_LEN {
            self.add(
                "idempotency_key",
                format!("must be at most {MAX_IDEMPOTENCY_KEY_LEN} bytes"),
            );
        }
    }

    /// Checks optional text: at most `max` bytes.
    pub fn text(&mut self, field: &str, value: &str, max: usize) {
        if value.len() > max {
            self.add(
                field,
                format!("must be at most {max} bytes (got {})", value.len()),
            );
        }
    }

    /// Checks required text: non-empty (after trimming) and at most `max` bytes.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "is required");
        } else {
            self.text(field, value, max);
        }
    }

    /// Checks a list's length.
    pub fn max_items(&mut self, field: &str, len: usize, max: usize) {
        if len > max {
            self.add(field, format!("must have at most {max} items (got {len})"));
        }
    }

    /// Reads a protobuf enum field. Unknown numbers are a violation; so is the zero
    /// (UNSPECIFIED) value when `required`. Returns the value when it is known.
    pub fn enum_value<E>(&mut self, field: &str, raw: i32, required: bool) -> Option<E>
    where
        E: TryFrom<i32>,
    {
        if raw == 0 && required {
            self.add(field, "is required");
            return None;
        }
        match E::try_from(raw) {
            Ok(value) => Some(value),
            Err(_) => {
                self.add(field, format!("unknown value {raw}"));
                None
            }
        }
    }

    /// `Ok` when nothing is wrong, else `INVALID_ARGUMENT` with every violation.
    pub fn check(self) -> Result<(), Status> {
        if self.found.is_empty() {
            return Ok(());
        }
        let message = self
            .found
            .iter()
            .map(|(field, description)| format!("{field} {description}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut details = ErrorDetails::new();
        for (field, description) in self.found {
            details.add_bad_request_violation(field, description);
        }
        Err(Status::with_error_details(
            Code::InvalidArgument,
            format!("invalid request: {message}"),
            details,
        ))
    }
}

/// The field violations carried by a status, as `(field, description)` pairs. For tests and
/// for Rust callers that want to show them.
pub fn field_violations(status: &Status) -> Vec<(String, String)> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| (v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::Channel;

    use super::*;

    #[test]
    fn collects_every_violation_into_bad_request_details() {
        let mut v = Violations::new();
        v.tenant("");
        v.id("customer_id", &"x".repeat(200));
        v.enum_value::<Channel>("channel", 99, true);
        v.idempotency_key("");
        let status = v.check().expect_err("must fail");
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<String> = field_violations(&status)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            fields,
            ["tenant_id", "customer_id", "channel", "idempotency_key"]
        );
        assert!(
            status.message().contains("channel unknown value 99"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn valid_values_pass() {
        let mut v = Violations::new();
        v.tenant("acme-bank.eu_1");
        v.id("customer_id", "c-1");
        assert_eq!(
            v.enum_value::<Channel>("channel", 1, true),
            Some(Channel::Voice)
        );
        v.text("utterance", "hello", MAX_TEXT_LEN);
        assert!(v.check().is_ok());
    }

    #[test]
    fn tenant_with_separator_characters_is_refused() {
        let mut v = Violations::new();
        v.tenant("acme\u{1f}other");
        assert!(v.check().is_err());
    }
}
