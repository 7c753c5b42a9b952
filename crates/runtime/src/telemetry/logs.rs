//! How log lines look: JSON lines that name their trace, and readable lines coloured only
//! for a terminal.

use std::{ffi::OsStr, fmt};

use opentelemetry::trace::TraceContextExt as _;
use tracing::{Event, Subscriber};
use tracing_subscriber::{
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::{Format, Json, Writer},
    },
    registry::LookupSpan,
};

/// One JSON object per event, as `tracing_subscriber`'s JSON format writes it (timestamp,
/// level, fields, target, the current span's fields), with the current OpenTelemetry
/// `trace_id` and `span_id` as top-level members when a trace is active, so a log pipeline
/// can go from a line to its trace and back.
///
/// Use it with the JSON field formatter: `fmt::layer().json().event_format(JsonLines::default())`.
#[derive(Debug)]
pub struct JsonLines {
    /// Writes everything but the ids.
    inner: Format<Json>,
}

impl Default for JsonLines {
    fn default() -> Self {
        Self {
            inner: tracing_subscriber::fmt::format()
                .json()
                .with_current_span(true)
                .with_span_list(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    N: for<'writer> FormatFields<'writer> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // The OpenTelemetry layer makes a span's context current while the span is entered, so
        // this is the span the event happens in (and, for a server span, the caller's trace).
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let ids = span.span_context();
        if !ids.is_valid() {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        // The JSON format always writes exactly one object: the ids become its first members.
        match line.strip_prefix('{') {
            Some(rest) => write!(
                writer,
                "{{\"trace_id\":\"{}\",\"span_id\":\"{}\",{rest}",
                ids.trace_id(),
                ids.span_id()
            ),
            None => writer.write_str(&line),
        }
    }
}

/// Whether readable log lines are coloured: only when stderr is a terminal, so files, pipes and
/// log collectors never get escape codes, and never when `NO_COLOR` is set to anything but the
/// empty string (<https://no-color.org>).
pub(crate) fn colour(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    /// Log lines written into memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        }
    }

    #[test]
    fn a_line_written_inside_a_span_carries_its_trace_and_span_ids() {
        let provider = SdkTracerProvider::builder().build();
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .event_format(JsonLines::default())
                    .with_writer(move || writer.clone()),
            );
        let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside any span");
            let span = tracing::info_span!("work", contact = "con_1");
            let _entered = span.enter();
            tracing::info!(step = 2, "inside");
            let cx = span.context();
            let otel = cx.span();
            let ids = otel.span_context();
            (ids.trace_id().to_string(), ids.span_id().to_string())
        });
        let text = lines.text();
        let mut all = text.lines();
        let outside = all.next().expect("first line");
        assert!(outside.starts_with("{\"timestamp\""), "{outside}");
        assert!(!outside.contains("trace_id"), "{outside}");
        let inside = all.next().expect("second line");
        assert!(
            inside.starts_with(&format!(
                "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\",\"timestamp\""
            )),
            "{inside}"
        );
        assert!(inside.contains("\"contact\":\"con_1\""), "{inside}");
        assert!(inside.ends_with('}'), "{inside}");
        assert_ne!(trace_id, "00000000000000000000000000000000");
    }

    #[test]
    fn colour_is_for_terminals_that_did_not_opt_out() {
        assert!(colour(true, None));
        assert!(colour(true, Some(OsStr::new(""))));
        assert!(!colour(true, Some(OsStr::new("1"))));
        assert!(!colour(false, None));
        assert!(!colour(false, Some(OsStr::new(""))));
    }

    #[test]
    fn readable_lines_without_colour_carry_no_escape_codes() {
        let written = |ansi: bool| {
            let lines = Lines::default();
            let writer = lines.clone();
            let subscriber = tracing_subscriber::registry().with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(move || writer.clone()),
            );
            tracing::subscriber::with_default(subscriber, || {
                let span = tracing::info_span!("work", contact = "con_1");
                let _entered = span.enter();
                tracing::warn!(attempt = 2, "context lookup failed");
            });
            lines.text()
        };
        let plain = written(false);
        assert!(plain.contains("WARN"), "{plain}");
        assert!(plain.contains("context lookup failed"), "{plain}");
        assert!(!plain.contains('\x1b'), "{plain:?}");
        let coloured = written(true);
        assert!(
            coloured.contains('\x1b'),
            "colour is on for a terminal: {coloured:?}"
        );
    }
}
