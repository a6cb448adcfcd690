//! How `hush run` speaks: every message in one style on stderr, the way a command-line tool
//! does (the app's own output shares the terminal, and a service manager adds timestamps):
//!
//! ```text
//! hush: app started (pid=4242, version=7)
//! hush: warning: lost the hush server at http://… (…); the app keeps its current secrets …
//! ```
//!
//! `HUSH_LOG` filters as usual (`info` by default; `debug` says more).

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

pub fn init() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("HUSH_LOG").unwrap_or_else(|_| "info".into());
    // Ignore the error of a second init (tests call `run` more than once).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Plain)
        .try_init();
}

/// `hush: [warning: |error: ]message (field=value, …)`.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Line::default();
        event.record(&mut line);
        writer.write_str(&line.render(*event.metadata().level()))?;
        writer.write_char('\n')
    }
}

#[derive(Default)]
struct Line {
    message: String,
    fields: Vec<String>,
}

impl Line {
    fn render(&self, level: Level) -> String {
        let label = match level {
            Level::ERROR => "error: ",
            Level::WARN => "warning: ",
            _ => "",
        };
        let mut out = format!("hush: {label}{}", self.message);
        if !self.fields.is_empty() {
            let _ = write!(out, " ({})", self.fields.join(", "));
        }
        out
    }
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields.push(format!("{}={value}", field.name()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields.push(format!("{}={value:?}", field.name()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_like_a_command_line_tool() {
        let line = Line {
            message: "app started".into(),
            fields: vec!["pid=42".into(), "version=7".into()],
        };
        assert_eq!(
            line.render(Level::INFO),
            "hush: app started (pid=42, version=7)"
        );
        let line = Line {
            message: "lost the server".into(),
            fields: vec![],
        };
        assert_eq!(line.render(Level::WARN), "hush: warning: lost the server");
        assert_eq!(line.render(Level::ERROR), "hush: error: lost the server");
    }
}
