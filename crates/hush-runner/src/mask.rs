//! Output masking (like `op run`) and the ring buffer of recent output lines.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// What replaces a secret value in masked output.
pub const CONCEALED: &str = "<concealed by hush>";

/// Values shorter than this (in characters) are not masked: they would hide ordinary words.
const MIN_SECRET_CHARS: usize = 4;

/// A line longer than this is masked and passed on in pieces of this size.
const MAX_LINE_BYTES: u64 = 64 * 1024;

/// The secret strings of one version, longest first (so a value containing another is replaced
/// whole).
#[derive(Default)]
pub(crate) struct Masker {
    needles: Vec<Vec<u8>>,
}

impl Masker {
    /// `values`: every string value of the document, root-level and nested. A multi-line value
    /// (a PEM key) is also masked line by line, since output is masked one line at a time.
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Masker {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        let mut add = |s: &str| {
            if s.chars().count() >= MIN_SECRET_CHARS {
                needles.push(s.as_bytes().to_vec());
            }
        };
        for value in values {
            add(value);
            if value.contains('\n') {
                for line in value.lines() {
                    add(line.trim_end_matches('\r'));
                }
            }
        }
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Masker { needles }
    }

    pub(crate) fn mask<'a>(&self, line: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out: Cow<'a, [u8]> = Cow::Borrowed(line);
        for needle in &self.needles {
            if let Some(replaced) = replace_all(&out, needle, CONCEALED.as_bytes()) {
                out = Cow::Owned(replaced);
            }
        }
        out
    }
}

/// `None` when `needle` does not occur.
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut start = 0;
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        if &haystack[i..i + needle.len()] == needle {
            let buf = out.get_or_insert_with(|| Vec::with_capacity(haystack.len()));
            buf.extend_from_slice(&haystack[start..i]);
            buf.extend_from_slice(with);
            i += needle.len();
            start = i;
        } else {
            i += 1;
        }
    }
    let mut buf = out?;
    buf.extend_from_slice(&haystack[start..]);
    Some(buf)
}

/// The masker of the version now applied, swapped by the runner, read by the output pumps.
#[derive(Clone, Default)]
pub(crate) struct MaskHandle(Arc<RwLock<Arc<Masker>>>);

impl MaskHandle {
    pub(crate) fn set(&self, masker: Masker) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(masker);
    }

    fn get(&self) -> Arc<Masker> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One masked line of the child's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Increases by one for every line ever pushed: lets a reader ask only for newer lines.
    pub seq: u64,
    pub stream: Stream,
    /// The line without its line ending, masked, invalid UTF-8 replaced.
    pub text: String,
}

/// The last `capacity` lines of a child's output, always masked. Share it with `Arc` between
/// the runner ([`crate::RunnerConfig::log_buffer`]) and whoever shows it (the server's panel).
pub struct LogBuffer {
    capacity: usize,
    inner: Mutex<(u64, VecDeque<LogLine>)>,
}

impl LogBuffer {
    /// A buffer keeping the last `capacity` lines (e.g. 500).
    pub fn new(capacity: usize) -> LogBuffer {
        LogBuffer {
            capacity,
            inner: Mutex::new((0, VecDeque::with_capacity(capacity.min(4096)))),
        }
    }

    pub fn push(&self, stream: Stream, text: String) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (next, lines) = &mut *inner;
        if self.capacity == 0 {
            return;
        }
        while lines.len() >= self.capacity {
            lines.pop_front();
        }
        lines.push_back(LogLine {
            seq: *next,
            stream,
            text,
        });
        *next += 1;
    }

    /// Every line kept, oldest first.
    pub fn lines(&self) -> Vec<LogLine> {
        self.since(0)
    }

    /// The kept lines with `seq >= from`, oldest first.
    pub fn since(&self, from: u64) -> Vec<LogLine> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.1.iter().filter(|l| l.seq >= from).cloned().collect()
    }
}

impl std::fmt::Debug for LogBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBuffer")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

/// Copies `from` line by line to `to` (masked when `mask_to`) and into `logs` (always masked).
pub(crate) async fn pump<R, W>(
    from: R,
    mut to: W,
    mask_to: bool,
    stream: Stream,
    masker: MaskHandle,
    logs: Option<Arc<LogBuffer>>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(?stream, error = %e, "reading the app's output failed");
                break;
            }
        }
        let masker = masker.get();
        let masked = masker.mask(&line);
        let out: &[u8] = if mask_to { &masked } else { &line };
        // The runner's own stdout going away (closed pipe) must not stop the app.
        let _ = to.write_all(out).await;
        let _ = to.flush().await;
        if let Some(logs) = &logs {
            let text = masked.strip_suffix(b"\n").unwrap_or(&masked);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            logs.push(stream, String::from_utf8_lossy(text).into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_longest_first_and_skips_short_values() {
        let m = Masker::new(["hunter2", "hunter2-long", "abc", "pass word"]);
        let out = m.mask(b"x=hunter2 y=hunter2-long z=abc pass word\n");
        assert_eq!(
            String::from_utf8(out.into_owned()).unwrap(),
            format!("x={CONCEALED} y={CONCEALED} z=abc {CONCEALED}\n")
        );
        assert!(matches!(m.mask(b"nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn masks_each_line_of_a_multi_line_value() {
        let m = Masker::new(["-----BEGIN KEY-----\nQUJDREVGR0g=\n-----END KEY-----"]);
        assert_eq!(
            m.mask(b"QUJDREVGR0g=\n").as_ref(),
            format!("{CONCEALED}\n").as_bytes()
        );
    }

    #[test]
    fn log_buffer_keeps_the_last_lines() {
        let logs = LogBuffer::new(2);
        for i in 0..5 {
            logs.push(Stream::Stdout, i.to_string());
        }
        let lines = logs.lines();
        assert_eq!(
            lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
            ["3", "4"]
        );
        assert_eq!(lines[0].seq, 3);
        assert_eq!(logs.since(4).len(), 1);
    }

    #[tokio::test]
    async fn pump_masks_output_and_buffer() {
        let handle = MaskHandle::default();
        handle.set(Masker::new(["s3cr3t-value"]));
        let logs = Arc::new(LogBuffer::new(10));
        let mut out = Vec::new();
        pump(
            &b"token s3cr3t-value\r\nplain\nlast"[..],
            &mut out,
            true,
            Stream::Stderr,
            handle,
            Some(logs.clone()),
        )
        .await;
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("token {CONCEALED}\r\nplain\nlast")
        );
        let texts: Vec<_> = logs.lines().into_iter().map(|l| l.text).collect();
        assert_eq!(
            texts,
            [format!("token {CONCEALED}"), "plain".into(), "last".into()]
        );
    }
}
