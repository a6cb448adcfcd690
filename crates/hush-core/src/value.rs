//! The parsed secrets tree: ordered tables of TOML values.
//!
//! `Debug` on every type here is written by hand and never prints a value: a
//! secret must not reach a log line through `{:?}`.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// An ordered TOML table (keys in document order).
pub type Table = indexmap::IndexMap<String, Value>;

/// One TOML value.
///
/// Serializes to plain JSON: strings, numbers, booleans, arrays and objects as
/// themselves; a datetime as its canonical TOML text (`1979-05-27T07:32:00Z`);
/// a non-finite float, which JSON cannot hold, as the string Python would print
/// (`"inf"`, `"-inf"`, `"nan"`).
#[derive(Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(Datetime),
    Array(Vec<Value>),
    Table(Table),
}

/// Which of TOML's four date/time types a [`Datetime`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatetimeKind {
    /// `1979-05-27T07:32:00Z`, `1979-05-27T00:32:00-07:00`
    OffsetDatetime,
    /// `1979-05-27T07:32:00`
    LocalDatetime,
    /// `1979-05-27`
    LocalDate,
    /// `07:32:00`
    LocalTime,
}

/// A TOML date/time value: its kind and its canonical text (RFC 3339 with `T`,
/// seconds always present, fractional seconds without trailing zeros, `Z` for UTC).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Datetime {
    kind: DatetimeKind,
    text: String,
}

impl Datetime {
    pub fn kind(&self) -> DatetimeKind {
        self.kind
    }

    /// The canonical text, e.g. `1979-05-27T07:32:00Z`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub(crate) fn from_toml(dt: &toml::value::Datetime) -> Datetime {
        let kind = match (dt.date.is_some(), dt.time.is_some(), dt.offset.is_some()) {
            (true, true, true) => DatetimeKind::OffsetDatetime,
            (true, true, false) => DatetimeKind::LocalDatetime,
            (true, false, _) => DatetimeKind::LocalDate,
            _ => DatetimeKind::LocalTime,
        };
        Datetime {
            kind,
            text: dt.to_string(),
        }
    }
}

impl fmt::Display for Datetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Datetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Datetime({:?}, <redacted>)", self.kind)
    }
}

impl Value {
    /// The TOML type name: `string`, `integer`, `float`, `boolean`, `datetime`,
    /// `array` or `table`. Safe to show: it says nothing about the value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Boolean(_) => "boolean",
            Value::Datetime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Table(_) => "table",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_datetime(&self) -> Option<&Datetime> {
        match self {
            Value::Datetime(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&Table> {
        match self {
            Value::Table(t) => Some(t),
            _ => None,
        }
    }

    pub(crate) fn from_toml(v: toml::Value) -> Value {
        match v {
            toml::Value::String(s) => Value::String(s),
            toml::Value::Integer(i) => Value::Integer(i),
            toml::Value::Float(f) => Value::Float(f),
            toml::Value::Boolean(b) => Value::Boolean(b),
            toml::Value::Datetime(d) => Value::Datetime(Datetime::from_toml(&d)),
            toml::Value::Array(a) => Value::Array(a.into_iter().map(Value::from_toml).collect()),
            toml::Value::Table(t) => Value::Table(table_from_toml(t)),
        }
    }
}

pub(crate) fn table_from_toml(t: toml::Table) -> Table {
    t.into_iter()
        .map(|(k, v)| (k, Value::from_toml(v)))
        .collect()
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::String(_) => f.write_str("String(<redacted>)"),
            Value::Integer(_) => f.write_str("Integer(<redacted>)"),
            Value::Float(_) => f.write_str("Float(<redacted>)"),
            Value::Boolean(_) => f.write_str("Boolean(<redacted>)"),
            Value::Datetime(d) => write!(f, "{d:?}"),
            // Structure (key names, lengths) is not secret; leaves are.
            Value::Array(a) => f.debug_list().entries(a.iter()).finish(),
            Value::Table(t) => f.debug_map().entries(t.iter()).finish(),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::String(v) => s.serialize_str(v),
            Value::Integer(v) => s.serialize_i64(*v),
            Value::Float(v) if v.is_finite() => s.serialize_f64(*v),
            Value::Float(v) => s.serialize_str(&crate::python_float_str(*v)),
            Value::Boolean(v) => s.serialize_bool(*v),
            Value::Datetime(d) => s.serialize_str(d.as_str()),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Table(t) => {
                let mut map = s.serialize_map(Some(t.len()))?;
                for (k, v) in t {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}
