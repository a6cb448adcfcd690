//! Progress for the long admin commands: drawn on standard error when it is a terminal,
//! nothing at all otherwise (scripts and logs get only the summary).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `len` steps of `what` ("versions", "apps").
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(&format!(
        "{{msg}} [{{bar:30}}] {{pos}}/{{len}} {what} ({{eta}} left)"
    ))
    .expect("a valid progress template")
    .progress_chars("=> ");
    ProgressBar::new(len).with_style(style)
}

/// A counter for work whose size is not known ahead ("rows").
pub fn counter(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(&format!("{{spinner}} {{msg}} {{pos}} {what}"))
        .expect("a valid progress template");
    let counter = ProgressBar::new_spinner().with_style(style);
    counter.enable_steady_tick(Duration::from_millis(120));
    counter
}
