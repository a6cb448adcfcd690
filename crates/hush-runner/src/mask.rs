//! Output masking (like `op run`) and the ring buffer of recent output lines.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// What replaces a secret value in masked output.
pub const CONCEALED: &str = "<concealed by hush>";

/// Values shorter than this (in characters) are not masked: they would hide ordinary words.
const MIN_SECRET_CHARS: usize = 4;

/// A line longer than this is masked and passed on in pieces of this size.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// An unfinished line (a prompt, a `\r` progress bar) is passed on once the app has written
/// nothing more for this long, but for a tail that could be the start of a value.
const QUIET_FLUSH: Duration = Duration::from_millis(150);

/// How much output is read at once.
const READ_BYTES: usize = 16 * 1024;

/// Finds every secret string of a version in output, in one pass over it (Aho-Corasick), and
/// replaces it with [`CONCEALED`]. Where two values overlap, the longest wins, so a value that
/// contains another is replaced whole.
#[derive(Default)]
pub(crate) struct Masker {
    automaton: Option<AhoCorasick>,
    /// The length in bytes of the longest value: how much output must be held back at the end
    /// of a piece cut from a longer line, in case a value continues in the next piece.
    longest: usize,
    /// The values, sorted: those starting with some text follow each other, so whether the end
    /// of an unfinished line could be the start of a value is a binary search.
    sorted: Vec<Box<[u8]>>,
}

impl Masker {
    /// `values`: every string value of the document, root-level and nested. A multi-line value
    /// (a PEM key) is also masked line by line, since output is masked one line at a time.
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Masker {
        let mut needles: Vec<&str> = Vec::new();
        let mut add = |s: &'a str| {
            if s.chars().count() >= MIN_SECRET_CHARS {
                needles.push(s);
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
        needles.sort_unstable();
        needles.dedup();
        let longest = needles.iter().map(|n| n.len()).max().unwrap_or(0);
        let automaton = (!needles.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                // Not the DFA the crate would pick for few values: its build time grows with
                // the square of a value's length (seconds for one 8 KiB key); the NFA's is linear.
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .build(&needles)
                .expect("an automaton of plain strings (no size limit set) always builds")
        });
        let sorted = needles.iter().map(|n| Box::from(n.as_bytes())).collect();
        Masker {
            automaton,
            longest,
            sorted,
        }
    }

    /// `text` with every value replaced; borrowed when there was nothing to replace.
    pub(crate) fn mask<'a>(&self, text: &'a [u8]) -> Cow<'a, [u8]> {
        let (masked, end) = self.mask_upto(text, text.len());
        debug_assert_eq!(end, text.len());
        masked
    }

    /// For a piece cut from a longer line (more of it follows): masks and returns what can be
    /// passed on now, and how many bytes of `text` that covers. The rest (at most the longest
    /// value's length minus one) may be the start of a value that continues in the next piece:
    /// the caller keeps it and puts it in front of the next piece.
    pub(crate) fn mask_piece<'a>(&self, text: &'a [u8]) -> (Cow<'a, [u8]>, usize) {
        let hold = self.longest.saturating_sub(1);
        self.mask_upto(text, text.len().saturating_sub(hold))
    }

    /// For an unfinished line the app has stopped writing for a while: masks and returns what
    /// can be passed on now, and how many bytes of `text` that covers. Held back is the longest
    /// end of `text` that is the start of a longer value; every value starting before it ends
    /// inside `text`, so, as in [`Masker::mask_piece`], the choice made is the whole line's.
    pub(crate) fn mask_settled<'a>(&self, text: &'a [u8]) -> (Cow<'a, [u8]>, usize) {
        let earliest = text.len().saturating_sub(self.longest.saturating_sub(1));
        let hold_from = (earliest..text.len())
            .find(|&start| self.starts_a_longer_value(&text[start..]))
            .unwrap_or(text.len());
        self.mask_upto(text, hold_from)
    }

    /// Whether some value begins with `tail` and goes on after it.
    fn starts_a_longer_value(&self, tail: &[u8]) -> bool {
        let first = self.sorted.partition_point(|v| &**v < tail);
        self.sorted[first..]
            .iter()
            .take_while(|v| v.starts_with(tail))
            .any(|v| v.len() > tail.len())
    }

    /// Masks `text[..cut]`, moving `cut` to the end of a value that starts before it. A value
    /// starting before `cut` ends inside `text` when `cut <= len - (longest - 1)`, so the
    /// choice made here is the one the whole line would give.
    fn mask_upto<'a>(&self, text: &'a [u8], mut cut: usize) -> (Cow<'a, [u8]>, usize) {
        let Some(automaton) = &self.automaton else {
            return (Cow::Borrowed(&text[..cut]), cut);
        };
        let mut out: Option<Vec<u8>> = None;
        let mut copied = 0;
        for found in automaton.find_iter(text) {
            if found.start() >= cut {
                break;
            }
            let buf = out.get_or_insert_with(|| Vec::with_capacity(text.len()));
            buf.extend_from_slice(&text[copied..found.start()]);
            buf.extend_from_slice(CONCEALED.as_bytes());
            copied = found.end();
            cut = cut.max(found.end());
        }
        match out {
            None => (Cow::Borrowed(&text[..cut]), cut),
            Some(mut buf) => {
                buf.extend_from_slice(&text[copied..cut]);
                (Cow::Owned(buf), cut)
            }
        }
    }
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

/// Copies `from` to `to` and into `logs`, masked, a line at a time. A line longer than
/// [`MAX_LINE_BYTES`] is passed on in pieces, and an unfinished line once the app has been quiet
/// for [`QUIET_FLUSH`]; either way the end that could be the start of a secret is held back and
/// masked together with what follows, so a value is masked even when it straddles a cut.
pub(crate) async fn pump<R, W>(
    mut from: R,
    mut to: W,
    stream: Stream,
    masker: MaskHandle,
    logs: Option<Arc<LogBuffer>>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut outgoing = Outgoing {
        bytes: Vec::new(),
        logs: logs.map(|buffer| LogLines {
            buffer,
            stream,
            line: Vec::new(),
        }),
    };
    let mut read_buf = vec![0u8; READ_BYTES];
    // Read and not passed on yet: the held-back end of what was, then what came after it.
    let mut unmasked: Vec<u8> = Vec::new();
    // Whether `unmasked` got bytes since the last flush when quiet: if not, what it holds
    // waits for more output (it may be the start of a value).
    let mut flush_when_quiet = false;
    loop {
        let read = if flush_when_quiet {
            tokio::time::timeout(QUIET_FLUSH, from.read(&mut read_buf))
                .await
                .ok()
        } else {
            Some(from.read(&mut read_buf).await)
        };
        let masker = masker.get();
        let end_of_output = match read {
            None => {
                let (masked, used) = masker.mask_settled(&unmasked);
                outgoing.add(&masked);
                drop(masked);
                unmasked.drain(..used);
                flush_when_quiet = false;
                false
            }
            Some(Ok(0)) => true,
            Some(Ok(n)) => {
                unmasked.extend_from_slice(&read_buf[..n]);
                flush_when_quiet = true;
                false
            }
            Some(Err(e)) => {
                tracing::warn!(?stream, error = %e, "reading the app's output failed");
                true
            }
        };
        if let Some(last) = unmasked.iter().rposition(|&b| b == b'\n') {
            for line in unmasked[..=last].split_inclusive(|&b| b == b'\n') {
                outgoing.add(&masker.mask(line));
            }
            unmasked.drain(..=last);
        }
        while unmasked.len() >= MAX_LINE_BYTES {
            let (masked, used) = masker.mask_piece(&unmasked);
            if used == 0 {
                // A value longer than a piece may start here: read on.
                break;
            }
            outgoing.add(&masked);
            drop(masked);
            unmasked.drain(..used);
        }
        if end_of_output {
            outgoing.add(&masker.mask(&unmasked));
        }
        flush_when_quiet &= !unmasked.is_empty();
        if !outgoing.bytes.is_empty() {
            // The runner's own stdout going away (closed pipe) must not stop the app.
            let _ = to.write_all(&outgoing.bytes).await;
            let _ = to.flush().await;
            outgoing.bytes.clear();
        }
        if end_of_output {
            if let Some(logs) = &mut outgoing.logs {
                logs.finish();
            }
            break;
        }
    }
}

/// Masked output on its way: the bytes for `to`, and the log buffer's lines.
struct Outgoing {
    bytes: Vec<u8>,
    logs: Option<LogLines>,
}

impl Outgoing {
    fn add(&mut self, masked: &[u8]) {
        self.bytes.extend_from_slice(masked);
        if let Some(logs) = &mut self.logs {
            logs.add(masked);
        }
    }
}

/// Masked output gathered into the log buffer's lines: a line is added when it ends, when it
/// reaches [`MAX_LINE_BYTES`], or at the end of the output, however it was passed on meanwhile.
struct LogLines {
    buffer: Arc<LogBuffer>,
    stream: Stream,
    line: Vec<u8>,
}

impl LogLines {
    fn add(&mut self, masked: &[u8]) {
        for part in masked.split_inclusive(|&b| b == b'\n') {
            self.line.extend_from_slice(part);
            if part.ends_with(b"\n") || self.line.len() >= MAX_LINE_BYTES {
                self.finish();
            }
        }
    }

    /// Adds what is gathered, if anything, as a line.
    fn finish(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        self.buffer
            .push(self.stream, String::from_utf8_lossy(text).into_owned());
        self.line.clear();
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

    /// Runs `output` through the pump with these values; what comes out.
    async fn pumped(values: &[&str], output: &[u8]) -> String {
        let handle = MaskHandle::default();
        handle.set(Masker::new(values.iter().copied()));
        let mut out = Vec::new();
        pump(output, &mut out, Stream::Stdout, handle, None).await;
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn a_value_across_the_cut_of_a_long_line_is_masked() {
        let secret = "0123456789-secret-straddling-the-cut";
        let cut = MAX_LINE_BYTES;
        // The value starts at every offset around the cut: 1..len bytes before it.
        for before in 1..secret.len() {
            let mut line = "x".repeat(cut - before);
            line.push_str(secret);
            line.push_str(" tail\n");
            let out = pumped(&[secret, "unrelated"], line.as_bytes()).await;
            assert!(!out.contains(&secret[..4]), "{before} bytes before the cut");
            assert_eq!(
                out,
                format!("{}{CONCEALED} tail\n", "x".repeat(cut - before))
            );
        }
        // Across two cuts, and with no newline at the very end.
        let long = "k".repeat(cut + 10);
        let mut line = "y".repeat(cut - 5);
        line.push_str(&long);
        let out = pumped(&[&long], line.as_bytes()).await;
        assert_eq!(out, format!("{}{CONCEALED}", "y".repeat(cut - 5)));
    }

    #[tokio::test]
    async fn the_longest_of_overlapping_values_wins_across_a_cut() {
        let cut = MAX_LINE_BYTES;
        let mut line = "z".repeat(cut - 3);
        line.push_str("abcdefgh!\n");
        let out = pumped(&["abcd", "abcdefgh"], line.as_bytes()).await;
        assert_eq!(out, format!("{}{CONCEALED}!\n", "z".repeat(cut - 3)));
    }

    #[test]
    fn a_quiet_line_is_passed_on_but_for_an_end_that_may_start_a_value() {
        let m = Masker::new(["hunter2-secret", "abcd", "abcdefgh"]);
        let settled = |text: &str| {
            let (masked, used) = m.mask_settled(text.as_bytes());
            (String::from_utf8(masked.into_owned()).unwrap(), used)
        };
        assert_eq!(settled("Password: "), ("Password: ".into(), 10));
        assert_eq!(settled("Password: hunt"), ("Password: ".into(), 10));
        assert_eq!(
            settled("Password: hunter2-secre"),
            ("Password: ".into(), 10)
        );
        assert_eq!(settled("x hunter2-secret"), (format!("x {CONCEALED}"), 16));
        assert_eq!(
            settled("50% [=====>    ]\r"),
            ("50% [=====>    ]\r".into(), 17)
        );
        // A whole value that a longer one continues is held too: the line decides which it is.
        assert_eq!(settled("x abcd"), ("x ".into(), 2));
        assert_eq!(settled("x abcdefgh"), (format!("x {CONCEALED}"), 10));
        assert_eq!(settled("x abcdx"), (format!("x {CONCEALED}x"), 7));
        assert_eq!(Masker::new([]).mask_settled(b"free").1, 4);
    }

    #[tokio::test]
    async fn pump_shows_a_quiet_prompt_and_masks_a_value_split_at_the_flush() {
        let handle = MaskHandle::default();
        handle.set(Masker::new(["hunter2-secret"]));
        let logs = Arc::new(LogBuffer::new(10));
        let (mut app, from) = tokio::io::duplex(1024);
        let (to, mut shown) = tokio::io::duplex(1024);
        let pump = tokio::spawn(pump(from, to, Stream::Stdout, handle, Some(logs.clone())));
        app.write_all(b"Password: hunt").await.unwrap();
        // Shown while the app waits (no newline, no more output), without the held-back end.
        let mut prompt = vec![0u8; 10];
        tokio::time::timeout(Duration::from_secs(10), shown.read_exact(&mut prompt))
            .await
            .expect("the prompt is shown while the app is quiet")
            .unwrap();
        assert_eq!(prompt, b"Password: ");
        assert!(logs.lines().is_empty(), "the log buffer keeps whole lines");
        app.write_all(b"er2-secret ok\n").await.unwrap();
        drop(app);
        let mut rest = String::new();
        shown.read_to_string(&mut rest).await.unwrap();
        pump.await.unwrap();
        assert_eq!(rest, format!("{CONCEALED} ok\n"));
        let texts: Vec<_> = logs.lines().into_iter().map(|l| l.text).collect();
        assert_eq!(texts, [format!("Password: {CONCEALED} ok")]);
    }

    #[test]
    fn many_values_are_masked_in_one_pass() {
        let values: Vec<String> = (0..2_000).map(|i| format!("value-{i:05}")).collect();
        let m = Masker::new(values.iter().map(String::as_str));
        let line = format!("a {} b {} c\n", values[7], values[1_999]);
        assert_eq!(
            m.mask(line.as_bytes()).as_ref(),
            format!("a {CONCEALED} b {CONCEALED} c\n").as_bytes()
        );
    }
}
