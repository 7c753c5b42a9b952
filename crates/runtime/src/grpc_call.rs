//! What a gRPC call is, read from its HTTP/2 request and response: the service and method
//! from the path, the status code from the headers. Shared by the trace and metrics layers so
//! both name a call the same way, and neither ever echoes an arbitrary path or header value.

/// `rpc.grpc.status_code` values: every gRPC code, so recording never allocates for it.
pub(crate) const CODES: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// What an unknown path is recorded as (the OpenTelemetry convention), so that callers
/// inventing paths cannot add series.
pub(crate) const OTHER: &str = "_OTHER";

/// `/pkg.Service/Method` as (`pkg.Service`, `Method`); anything else as (`_OTHER`, `_OTHER`).
pub(crate) fn split_path(path: &str) -> (&str, &str) {
    path.strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(service, method)| {
            !service.is_empty() && !method.is_empty() && !method.contains('/')
        })
        .unwrap_or((OTHER, OTHER))
}

/// The `grpc-status` of a response's headers; `0` when absent, `2` (UNKNOWN) when unreadable.
pub(crate) fn status_code(headers: &http::HeaderMap) -> &'static str {
    match headers.get("grpc-status") {
        None => CODES[0],
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .and_then(|n| CODES.get(n).copied())
            .unwrap_or(CODES[2]),
    }
}
