//! Request validation with field violations.
//!
//! A handler collects every problem with a request before answering, so a caller fixes them
//! all at once. The answer is `INVALID_ARGUMENT` whose message lists the fields and whose
//! details carry a `google.rpc.BadRequest` with one field violation each, which clients in
//! any language can read.
//!
//! The answer stays small whatever the request: it lists at most [`MAX_REPORTED`] violations
//! in a message of at most [`MAX_MESSAGE_LEN`] bytes and counts the rest, and it cuts field
//! paths and descriptions that echo input. A validator still checks a list's length before
//! it looks at the items ([`Violations::max_items`] says whether to), so an oversized list
//! costs one comparison and one violation however long it is.

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
/// Longest plain code (a reason or action code).
pub const MAX_CODE_LEN: usize = 64;
/// Longest label shown for a plain code of a tenant's own ("Lost or stolen card").
pub const MAX_REASON_LABEL_LEN: usize = 256;
/// What a plain code must be, as a violation says it.
pub const PLAIN_CODE: &str =
    "is required: lower case letters, digits and underscores, at most 64 bytes";

/// Whether `code` is a plain code: lower case letters, digits and underscores, 1 to
/// [`MAX_CODE_LEN`] bytes.
pub fn is_plain_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Most violations one answer lists; the rest are counted ("and 3 more"). A caller fixing a
/// request by hand needs the first few, and the message and the `BadRequest` details travel in
/// response headers, which gRPC clients cap (gRPC's C core refuses more than 8 to 16 KiB):
/// a request with 100,000 bad items must not become a 6 MB answer the caller cannot read.
pub const MAX_REPORTED: usize = 16;
/// Longest status message, in bytes. Violations are listed while they fit; the details carry
/// the same ones and the message once more, so all the headers of a refusal stay a few KiB.
pub const MAX_MESSAGE_LEN: usize = 1024;
/// Longest field path kept in a violation, in bytes. Paths can echo input (a map key); the
/// ones the validators build from names and indices are well under this.
pub const MAX_FIELD_LEN: usize = 64;
/// Longest description kept in a violation, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 96;

/// What the message spends besides the violations it lists: the prefix and the longest count.
const MESSAGE_FRAME_LEN: usize = PREFIX.len() + "; and 18446744073709551615 more".len();
/// How every refusal's message starts.
const PREFIX: &str = "invalid request: ";

/// The problems found in one request.
#[derive(Debug, Default)]
pub struct Violations {
    /// `(field path, what is wrong)`, in the order found; the first [`MAX_REPORTED`], cut to
    /// their length bounds.
    found: Vec<(String, String)>,
    /// Bytes the listed violations take in the message, separators included.
    listed_len: usize,
    /// How many more were found than `found` keeps.
    more: usize,
}

impl Violations {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field` (a dotted path such as `identifiers[0].value`).
    /// Past [`MAX_REPORTED`] violations, or once the message would outgrow
    /// [`MAX_MESSAGE_LEN`], it is only counted.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.more > 0 || self.found.len() >= MAX_REPORTED {
            self.more += 1;
            return;
        }
        let field = cut(field.into(), MAX_FIELD_LEN);
        let description = cut(description.into(), MAX_DESCRIPTION_LEN);
        // "field description" plus "; " before the next one.
        let len = field.len() + 1 + description.len() + 2;
        if MESSAGE_FRAME_LEN + self.listed_len + len > MAX_MESSAGE_LEN {
            self.more += 1;
            return;
        }
        self.listed_len += len;
        self.found.push((field, description));
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

    /// Checks an optional plain code: empty, or one [`is_plain_code`] accepts.
    pub fn optional_code(&mut self, field: &str, value: &str) {
        if !value.is_empty() && !is_plain_code(value) {
            self.add(
                field,
                "must be lower case letters, digits and underscores, at most 64 bytes",
            );
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

    /// Checks optional text: at most `max` bytes. Returns whether it is within the bound, so
    /// a caller looks inside only a value of bounded size.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> bool {
        if value.len() > max {
            self.add(
                field,
                format!("must be at most {max} bytes (got {})", value.len()),
            );
            return false;
        }
        true
    }

    /// Checks required text: at most `max` bytes and non-empty after trimming. The length is
    /// checked first, so an oversized value is never scanned.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) {
        if self.text(field, value, max) && value.trim().is_empty() {
            self.add(field, "is required");
        }
    }

    /// Checks a list's length. Returns whether it is within the bound: a caller checks the
    /// items only then, so an oversized list is one violation however long it is.
    pub fn max_items(&mut self, field: &str, len: usize, max: usize) -> bool {
        if len > max {
            self.add(field, format!("must have at most {max} items (got {len})"));
            return false;
        }
        true
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

    /// `Ok` when nothing is wrong, else `INVALID_ARGUMENT` with the violations listed, then,
    /// when some were left out, one more entry with an empty field and a message suffix
    /// saying how many ("and 3 more").
    pub fn check(self) -> Result<(), Status> {
        if self.found.is_empty() {
            return Ok(());
        }
        let mut parts: Vec<String> = self
            .found
            .iter()
            .map(|(field, description)| format!("{field} {description}"))
            .collect();
        let mut details = ErrorDetails::new();
        for (field, description) in self.found {
            details.add_bad_request_violation(field, description);
        }
        if self.more > 0 {
            let rest = format!("and {} more", self.more);
            parts.push(rest.clone());
            details.add_bad_request_violation("", rest);
        }
        Err(Status::with_error_details(
            Code::InvalidArgument,
            format!("{PREFIX}{}", parts.join("; ")),
            details,
        ))
    }
}

/// `text` cut to at most `max` bytes on a character boundary, with an ellipsis when cut.
pub fn cut(mut text: String, max: usize) -> String {
    const ELLIPSIS: &str = "...";
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub(ELLIPSIS.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(ELLIPSIS);
    text
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
    fn lists_at_most_max_reported_and_counts_the_rest() {
        let mut v = Violations::new();
        for i in 0..100_000 {
            v.add(format!("identifiers[{i}].value"), "is required");
        }
        let status = v.check().expect_err("must fail");
        let found = field_violations(&status);
        assert_eq!(found.len(), MAX_REPORTED + 1);
        assert_eq!(found[0].0, "identifiers[0].value");
        let rest = format!("and {} more", 100_000 - MAX_REPORTED);
        assert_eq!(found[MAX_REPORTED], (String::new(), rest.clone()));
        assert!(status.message().ends_with(&format!("; {rest}")));
        assert!(status.message().len() <= MAX_MESSAGE_LEN);
    }

    #[test]
    fn exactly_max_reported_needs_no_count() {
        let mut v = Violations::new();
        for i in 0..MAX_REPORTED {
            v.add(format!("f{i}"), "is required");
        }
        let status = v.check().expect_err("must fail");
        assert_eq!(field_violations(&status).len(), MAX_REPORTED);
        assert!(!status.message().contains("more"), "{}", status.message());
    }

    #[test]
    fn the_answer_is_bounded_whatever_the_violations_echo() {
        let mut v = Violations::new();
        for _ in 0..1000 {
            // Multi-byte characters, so a cut at a byte count would split one.
            v.add("ключ".repeat(500), "значение".repeat(500));
        }
        let status = v.check().expect_err("must fail");
        assert!(
            status.message().len() <= MAX_MESSAGE_LEN,
            "{}",
            status.message().len()
        );
        assert!(status.message().ends_with(" more"), "{}", status.message());
        // The details repeat the message and list the same violations.
        assert!(
            status.details().len() < 3 * MAX_MESSAGE_LEN,
            "{}",
            status.details().len()
        );
        let found = field_violations(&status);
        assert!(found.len() > 1, "{found:?}");
        for (field, description) in &found[..found.len() - 1] {
            assert!(
                field.len() <= MAX_FIELD_LEN && field.ends_with("..."),
                "{field}"
            );
            assert!(description.len() <= MAX_DESCRIPTION_LEN, "{description}");
            assert!(field.starts_with("ключ"), "{field}");
        }
    }

    #[test]
    fn short_values_are_kept_whole() {
        assert_eq!(cut("customer_id".into(), MAX_FIELD_LEN), "customer_id");
        assert_eq!(
            cut("x".repeat(MAX_FIELD_LEN), MAX_FIELD_LEN).len(),
            MAX_FIELD_LEN
        );
        assert_eq!(cut("é".repeat(40), 10), "ééé...");
    }

    #[test]
    fn an_oversized_list_is_one_violation_and_says_so() {
        let mut v = Violations::new();
        assert!(v.max_items("identifiers", 16, 16));
        assert!(!v.max_items("identifiers", 100_000, 16));
        let status = v.check().expect_err("must fail");
        assert_eq!(
            field_violations(&status),
            [(
                "identifiers".to_owned(),
                "must have at most 16 items (got 100000)".to_owned()
            )]
        );
    }

    #[test]
    fn oversized_required_text_is_refused_for_its_length() {
        let mut v = Violations::new();
        v.required_text("utterance", &" ".repeat(MAX_TEXT_LEN + 1), MAX_TEXT_LEN);
        v.required_text("summary", "   ", MAX_TEXT_LEN);
        let status = v.check().expect_err("must fail");
        let found = field_violations(&status);
        assert_eq!(found.len(), 2);
        assert!(found[0].1.starts_with("must be at most"), "{found:?}");
        assert_eq!(found[1].1, "is required");
    }

    #[test]
    fn tenant_with_separator_characters_is_refused() {
        let mut v = Violations::new();
        v.tenant("acme\u{1f}other");
        assert!(v.check().is_err());
    }
}
