//! The parsed secrets tree: ordered tables of TOML values.
//!
//! `Debug` on every type here is written by hand and never prints a value: a
//! secret must not reach a log line through `{:?}`.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use toml_datetime11::de::VisitMap;

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
/// seconds always present, fractional seconds without trailing zeros, `Z` for UTC),
/// and its parts.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Datetime {
    kind: DatetimeKind,
    text: String,
    date: Option<Date>,
    time: Option<Time>,
    offset_minutes: Option<i16>,
}

/// The date of a [`Datetime`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// The time of day of a [`Datetime`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Time {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub nanosecond: u32,
}

impl Datetime {
    pub fn kind(&self) -> DatetimeKind {
        self.kind
    }

    /// The canonical text, e.g. `1979-05-27T07:32:00Z`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The date, for every kind but a local time.
    pub fn date(&self) -> Option<Date> {
        self.date
    }

    /// The time of day, for every kind but a local date.
    pub fn time(&self) -> Option<Time> {
        self.time
    }

    /// The offset from UTC in minutes (`Some(0)` for `Z`), for an offset datetime only.
    pub fn offset_minutes(&self) -> Option<i16> {
        self.offset_minutes
    }

    /// From toml 1.x's datetime. The text is what toml 0.8 (`toml_datetime`
    /// 0.6) prints, so it is the same whichever parser read the document:
    /// seconds always present, no fractional part when it is zero.
    pub(crate) fn from_toml11(dt: &toml_datetime11::Datetime) -> Datetime {
        use toml::value as v;
        let kind = match (dt.date.is_some(), dt.time.is_some(), dt.offset.is_some()) {
            (true, true, true) => DatetimeKind::OffsetDatetime,
            (true, true, false) => DatetimeKind::LocalDatetime,
            (true, false, _) => DatetimeKind::LocalDate,
            _ => DatetimeKind::LocalTime,
        };
        let canonical = v::Datetime {
            date: dt.date.map(|d| v::Date {
                year: d.year,
                month: d.month,
                day: d.day,
            }),
            time: dt.time.map(|t| v::Time {
                hour: t.hour,
                minute: t.minute,
                second: t.second.unwrap_or(0),
                nanosecond: t.nanosecond.unwrap_or(0),
            }),
            offset: dt.offset.map(|o| match o {
                toml_datetime11::Offset::Z => v::Offset::Z,
                toml_datetime11::Offset::Custom { minutes } => v::Offset::Custom { minutes },
            }),
        };
        Datetime {
            kind,
            text: canonical.to_string(),
            date: canonical.date.map(|d| Date {
                year: d.year,
                month: d.month,
                day: d.day,
            }),
            time: canonical.time.map(|t| Time {
                hour: t.hour,
                minute: t.minute,
                second: t.second,
                nanosecond: t.nanosecond,
            }),
            offset_minutes: canonical.offset.map(|o| match o {
                v::Offset::Z => 0,
                v::Offset::Custom { minutes } => minutes,
            }),
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
}

/// The root table, deserialized straight from a TOML parser's serde
/// deserializer (toml 1.x or 0.8) into [`Value`]s, with no `toml::Value`
/// tree in between.
pub(crate) struct TomlTable(pub(crate) Table);

struct TomlValue(Value);

impl<'de> Deserialize<'de> for TomlTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(ValueVisitor)? {
            Value::Table(t) => Ok(TomlTable(t)),
            other => Err(de::Error::custom(format_args!(
                "expected a table, found a {}",
                other.type_name()
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for TomlValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(TomlValue)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Integer)
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(TomlValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // A datetime arrives as a one-entry map with a private key; toml_datetime
        // tells it apart from a table.
        let first = match VisitMap::next_key_seed(&mut map)? {
            None => return Ok(Value::Table(Table::new())),
            Some(VisitMap::Datetime(dt)) => return Ok(Value::Datetime(Datetime::from_toml11(&dt))),
            Some(VisitMap::Key(key)) => key.into_owned(),
        };
        let mut table = Table::with_capacity(map.size_hint().unwrap_or(0).min(4096) + 1);
        let TomlValue(v) = map.next_value()?;
        table.insert(first, v);
        while let Some(key) = map.next_key::<String>()? {
            let TomlValue(v) = map.next_value()?;
            // The TOML parsers refuse duplicate keys before this point.
            if table.insert(key, v).is_some() {
                return Err(de::Error::custom("duplicate key"));
            }
        }
        Ok(Value::Table(table))
    }
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
