//! Environment projection (compat §2.1–§2.4): which root keys become
//! environment variables, and the text they get.

use std::fmt;

use serde::Serialize;

use crate::value::{Table, Value};

/// The environment variables a document exports, and the root keys it does not.
#[derive(Clone, Default, PartialEq)]
pub struct EnvProjection {
    /// `(name, value)` in document order.
    pub exported: Vec<(String, String)>,
    /// Root keys that are not exported, with the reason (safe to show: no values).
    pub skipped: Vec<SkippedKey>,
}

impl EnvProjection {
    /// The exported variable names, in document order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.exported.iter().map(|(k, _)| k.as_str())
    }
}

impl fmt::Debug for EnvProjection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvProjection")
            .field(
                "exported",
                &self
                    .exported
                    .iter()
                    .map(|(k, _)| format!("{k}=<redacted>"))
                    .collect::<Vec<_>>(),
            )
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// A root key that does not become an environment variable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedKey {
    pub key: String,
    pub reason: SkipReason,
}

/// Why a root key is not exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum SkipReason {
    /// Only strings, integers and floats are exported (compat §2.1); this holds the
    /// TOML type name of the value (`table`, `array`, `boolean`, `datetime`).
    NotScalar(&'static str),
    /// The key cannot be an environment variable name, or its value cannot be
    /// an environment variable value (compat §2.4); this says why.
    InvalidName(String),
    /// The name changes which code a program loads or runs (`LD_PRELOAD`, `PATH`,
    /// `PYTHONPATH`, …). Streamlit exports it; hush does not, so that whoever may edit
    /// secrets cannot choose the code an app runs. The value stays in the secrets file.
    Reserved,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotScalar(t) => write!(
                f,
                "its value is a {t}; only strings, integers and floats become environment variables"
            ),
            SkipReason::InvalidName(why) => f.write_str(why),
            SkipReason::Reserved => f.write_str(
                "it would change which code programs load or run, so hush does not export it; \
                 it is still in the secrets file (st.secrets)",
            ),
        }
    }
}

/// Names that change which code a program loads or runs.
const RESERVED_NAMES: &[&str] = &[
    "PATH",
    "IFS",
    "ENV",
    "BASH_ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "NODE_OPTIONS",
    "NODE_PATH",
    "PERL5OPT",
    "PERL5LIB",
    "PERLLIB",
    "RUBYOPT",
    "RUBYLIB",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "GCONV_PATH",
    "BROWSER",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "LESSOPEN",
    "SSH_ASKPASS",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "GIT_EDITOR",
    "GIT_PAGER",
    "GIT_EXTERNAL_DIFF",
    "HUSH_SECRETS_FILE",
    "STREAMLIT_SECRETS_FILES",
];
const RESERVED_PREFIXES: &[&str] = &["LD_", "DYLD_", "PYTHON"];

/// Whether hush refuses to export `key` (see [`SkipReason::Reserved`]).
pub fn is_reserved_env_name(key: &str) -> bool {
    RESERVED_NAMES.contains(&key) || RESERVED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Why `key = value` cannot be exported as an environment variable, if it cannot.
pub(crate) fn invalid_env_reason(key: &str, value: &str) -> Option<String> {
    if key.is_empty() {
        Some("an empty key cannot be an environment variable name".to_owned())
    } else if key.contains('=') {
        Some("a key containing '=' cannot be an environment variable name".to_owned())
    } else if key.contains('\0') {
        Some("a key containing a NUL character cannot be an environment variable name".to_owned())
    } else if value.contains('\0') {
        Some(
            "its value contains a NUL character (\\u0000), which an environment variable cannot hold"
                .to_owned(),
        )
    } else {
        None
    }
}

/// The environment-variable text of a scalar (Python's `str(v)`), or `None`
/// for types that are never exported.
pub fn env_value_str(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(f) => Some(python_float_str(*f)),
        _ => None,
    }
}

/// The environment projection of any root table (what [`crate::Document::env`] returns).
pub fn env_projection(root: &Table) -> EnvProjection {
    env_projection_from(
        root.iter()
            .map(|(k, v)| (k.as_str(), env_value_str(v).ok_or(v.type_name()))),
    )
}

/// [`env_projection`] over root entries held in another form: each key with its
/// value's environment text ([`env_value_str`]), or the TOML type name of a value
/// that is never exported.
pub fn env_projection_from<'a>(
    entries: impl IntoIterator<Item = (&'a str, Result<String, &'static str>)>,
) -> EnvProjection {
    let mut out = EnvProjection::default();
    for (key, text) in entries {
        let key = key.to_owned();
        match text {
            Err(type_name) => out.skipped.push(SkippedKey {
                key,
                reason: SkipReason::NotScalar(type_name),
            }),
            Ok(text) => match invalid_env_reason(&key, &text) {
                Some(why) => out.skipped.push(SkippedKey {
                    key,
                    reason: SkipReason::InvalidName(why),
                }),
                None if is_reserved_env_name(&key) => out.skipped.push(SkippedKey {
                    key,
                    reason: SkipReason::Reserved,
                }),
                None => out.exported.push((key, text)),
            },
        }
    }
    out
}

/// Exactly Python's `str(f)` / `repr(f)` for a float.
///
/// The digits are the shortest that round-trip (Rust's `{:e}` and Python's
/// `repr` both produce those); the layout is Python's: scientific notation when
/// the decimal exponent is below -4 or at least 16 (`1e-05`, `1.5e+16`), with a
/// sign and at least two exponent digits; otherwise positional with at least
/// one decimal (`1.0`, `10000000000.0`, `0.0001`). `inf`, `-inf`, `nan`.
pub fn python_float_str(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = python_tie_break(f.abs(), digits, exp);
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let n = digits.len() as i32;

    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}e{esign}{:02}", exp.abs());
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        format!("{sign}0.{zeros}{digits}")
    } else if exp + 1 >= n {
        let zeros = "0".repeat((exp + 1 - n) as usize);
        format!("{sign}{digits}{zeros}.0")
    } else {
        let (int, frac) = digits.split_at((exp + 1) as usize);
        format!("{sign}{int}.{frac}")
    }
}

/// Rust and Python both pick the shortest digits that round-trip, but when the
/// exact binary value lies exactly halfway between two such candidates, Rust
/// rounds the last digit up and Python (David Gay's dtoa) rounds it to even:
/// 1394865425023536.25 is `...536.3` in Rust and `...536.2` in Python.
fn python_tie_break(abs: f64, digits: String, exp: i32) -> String {
    let n = digits.len();
    let last = digits.as_bytes()[n - 1] - b'0';
    if last.is_multiple_of(2) {
        return digits;
    }
    // The exact value of a double has at most 767 significant digits.
    let exact = format!("{abs:.800e}");
    let (mantissa, exact_exp) = exact.split_once('e').expect("{:e} has an exponent");
    if exact_exp.parse::<i32>() != Ok(exp) {
        return digits;
    }
    let exact_digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exact_digits = exact_digits.trim_end_matches('0');
    // A tie: exactly one more digit than the shortest form, and it is a 5.
    if exact_digits.len() != n + 1 || !exact_digits.ends_with('5') {
        return digits;
    }
    let down = &exact_digits[..n];
    let candidate = if down == digits {
        if last == 9 {
            return digits;
        }
        let mut up = down.as_bytes().to_vec();
        up[n - 1] += 1;
        String::from_utf8(up).expect("ASCII digits")
    } else {
        down.to_owned()
    };
    let text = format!("0.{candidate}e{}", exp + 1);
    if text.parse::<f64>() == Ok(abs) {
        candidate
    } else {
        digits
    }
}

#[cfg(test)]
#[allow(clippy::approx_constant)] // 3.14 is a value people type, not π.
mod tests {
    use super::python_float_str as p;

    #[test]
    fn exact_ties_round_half_even_like_python() {
        assert_eq!(p(f64::from_bits(0x4313d27da8ac08c1)), "1394865425023536.2");
        assert_eq!(p(f64::from_bits(0xc2e30d42752c9404)), "-167581363823776.12");
    }

    #[test]
    fn python_float_examples_from_the_spec() {
        assert_eq!(p(1.0), "1.0");
        assert_eq!(p(1e10), "10000000000.0");
        assert_eq!(p(3.14), "3.14");
        assert_eq!(p(1e-7), "1e-07");
        assert_eq!(p(1e22), "1e+22");
        assert_eq!(p(1e16), "1e+16");
        assert_eq!(p(1e15), "1000000000000000.0");
        assert_eq!(p(1e-5), "1e-05");
        assert_eq!(p(1.5e-7), "1.5e-07");
        assert_eq!(p(0.0001), "0.0001");
        assert_eq!(p(-0.0), "-0.0");
        assert_eq!(p(0.0), "0.0");
        assert_eq!(p(f64::INFINITY), "inf");
        assert_eq!(p(f64::NEG_INFINITY), "-inf");
        assert_eq!(p(f64::NAN), "nan");
        assert_eq!(p(-f64::NAN), "nan");
        assert_eq!(p(123.456), "123.456");
        assert_eq!(p(1e100), "1e+100");
        assert_eq!(p(5e-324), "5e-324");
    }
}

#[cfg(test)]
mod reserved_tests {
    use crate::Document;

    use super::SkipReason;

    #[test]
    fn names_that_choose_code_stay_in_the_file_only() {
        let doc = Document::parse(
            "LD_PRELOAD = \"/tmp/x.so\"\nPATH = \"/tmp\"\nPYTHONWARNINGS = \"x\"\nGIT_TOKEN = \"t\"\nPYPI = \"p\"\n",
        )
        .unwrap();
        let env = doc.env();
        let exported: Vec<&str> = env.exported.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(exported, ["GIT_TOKEN", "PYPI"]);
        assert!(env.skipped.iter().all(|s| s.reason == SkipReason::Reserved));
        assert_eq!(env.skipped.len(), 3);
        assert!(
            Document::parse_for_save("PATH = \"/tmp\"\n").is_ok(),
            "saving is allowed; exporting is not"
        );
    }
}
