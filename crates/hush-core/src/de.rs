//! Deserializing a [`Value`] into a caller's type, with errors that name
//! types and fields but never values.
//!
//! serde's default error text quotes the offending value (`invalid type:
//! string "hunter2", expected u16`); [`DeError`] overrides those hooks.
//! Datetimes deserialize as their canonical text (into a `String`, or any type
//! that parses one from a string).

use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, Expected, IntoDeserializer, Unexpected, Visitor};

use crate::value::{Table, Value};

/// Why a value did not fit the requested type. Never holds the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeError(String);

impl DeError {
    pub fn message(&self) -> &str {
        &self.0
    }
}

fn unexpected_kind(u: &Unexpected<'_>) -> &'static str {
    match u {
        Unexpected::Bool(_) => "a boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "an integer",
        Unexpected::Float(_) => "a float",
        Unexpected::Char(_) => "a character",
        Unexpected::Str(_) => "a string",
        Unexpected::Bytes(_) => "bytes",
        Unexpected::Unit => "a unit value",
        Unexpected::Option => "an optional value",
        Unexpected::NewtypeStruct => "a newtype struct",
        Unexpected::Seq => "an array",
        Unexpected::Map => "a table",
        Unexpected::Enum => "an enum",
        Unexpected::UnitVariant => "a unit variant",
        Unexpected::NewtypeVariant => "a newtype variant",
        Unexpected::TupleVariant => "a tuple variant",
        Unexpected::StructVariant => "a struct variant",
        Unexpected::Other(_) => "another kind of value",
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError(msg.to_string())
    }
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        DeError(format!(
            "invalid type: found {}, expected {exp}",
            unexpected_kind(&unexp)
        ))
    }
    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn Expected) -> Self {
        DeError(format!(
            "invalid value: {} that is not {exp}",
            unexpected_kind(&unexp)
        ))
    }
    fn invalid_length(len: usize, exp: &dyn Expected) -> Self {
        DeError(format!("invalid length {len}, expected {exp}"))
    }
    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        DeError(format!(
            "unknown variant, expected one of {}",
            expected.join(", ")
        ))
    }
}

/// Deserialize a value into `T`.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, DeError> {
    T::deserialize(value)
}

/// Deserialize a table into `T` (a struct, a map, ...).
pub fn from_table<T: DeserializeOwned>(table: &Table) -> Result<T, DeError> {
    T::deserialize(TableDeserializer(table))
}

/// The two methods every deserializer here shares: TOML has no null, so a present value is
/// always `Some`; a newtype struct is the value it wraps.
macro_rules! option_and_newtype_of_self {
    ($de:lifetime) => {
        fn deserialize_option<V: Visitor<$de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.visit_some(self)
        }

        fn deserialize_newtype_struct<V: Visitor<$de>>(
            self,
            _name: &'static str,
            visitor: V,
        ) -> Result<V::Value, DeError> {
            visitor.visit_newtype_struct(self)
        }
    };
}

struct TableDeserializer<'a>(&'a Table);

impl<'de, 'a> de::Deserializer<'de> for TableDeserializer<'a> {
    type Error = DeError;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let mut map = MapDeserializer::new(self.0.iter().map(|(k, v)| (k.as_str(), v)));
        let out = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(out)
    }
    option_and_newtype_of_self!('de);
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> IntoDeserializer<'de, DeError> for &Value {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for &Value {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self {
            Value::String(s) => visitor.visit_str(s),
            Value::Integer(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Boolean(b) => visitor.visit_bool(*b),
            Value::Datetime(d) => visitor.visit_str(d.as_str()),
            Value::Array(a) => {
                let mut seq = SeqDeserializer::new(a.iter());
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Table(t) => TableDeserializer(t).deserialize_any(visitor),
        }
    }

    option_and_newtype_of_self!('de);

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self {
            // `mode = "fast"` → unit variant.
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            // `mode = { fast = {...} }` → variant with data.
            Value::Table(t) if t.len() == 1 => {
                let (k, v) = t.iter().next().expect("len is 1");
                visitor.visit_enum(EnumAccess(k, v))
            }
            other => Err(de::Error::invalid_type(unexpected(other), &"an enum")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

fn unexpected(v: &Value) -> Unexpected<'static> {
    match v {
        Value::String(_) | Value::Datetime(_) => Unexpected::Str(""),
        Value::Integer(_) => Unexpected::Signed(0),
        Value::Float(_) => Unexpected::Float(0.0),
        Value::Boolean(_) => Unexpected::Bool(false),
        Value::Array(_) => Unexpected::Seq,
        Value::Table(_) => Unexpected::Map,
    }
}

struct EnumAccess<'a>(&'a str, &'a Value);

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = DeError;
    type Variant = VariantAccess<'a>;
    fn variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self::Variant), DeError> {
        let d: de::value::StrDeserializer<'_, DeError> = self.0.into_deserializer();
        Ok((seed.deserialize(d)?, VariantAccess(self.1)))
    }
}

struct VariantAccess<'a>(&'a Value);

impl<'de, 'a> de::VariantAccess<'de> for VariantAccess<'a> {
    type Error = DeError;
    fn unit_variant(self) -> Result<(), DeError> {
        Err(de::Error::invalid_type(
            unexpected(self.0),
            &"a unit variant (write it as a string)",
        ))
    }
    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, DeError> {
        seed.deserialize(self.0)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_any(self.0, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_any(self.0, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Document;
    use std::collections::HashMap;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Db {
        host: String,
        port: u16,
        tags: Vec<String>,
        opt: Option<i64>,
        mode: Mode,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
    }

    fn root(s: &str) -> Table {
        Document::parse(s).unwrap().into_root()
    }

    #[test]
    fn deserializes_structs_maps_and_scalars() {
        let r = root(
            "when = 1979-05-27T07:32:00Z\n[db]\nhost = \"h\"\nport = 5432\ntags = [\"a\"]\nmode = \"slow\"\n",
        );
        let db: Db = from_value(&r["db"]).unwrap();
        assert_eq!(
            db,
            Db {
                host: "h".into(),
                port: 5432,
                tags: vec!["a".into()],
                opt: None,
                mode: Mode::Slow
            }
        );
        let m: HashMap<String, serde_json::Value> = from_value(&r["db"]).unwrap();
        assert_eq!(m["port"], 5432);
        let s: String = from_value(&r["when"]).unwrap();
        assert_eq!(s, "1979-05-27T07:32:00Z");
        let _ = Mode::Fast;
    }

    #[test]
    fn errors_never_contain_values() {
        let r =
            root("port = \"hunter2-port\"\nmode = \"hunter2-mode\"\nsmall = 99999999\nn = 3.25\n");
        let e = from_value::<u16>(&r["port"]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("string"), "{e}");
        let e = from_value::<Mode>(&r["mode"]).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = from_value::<u16>(&r["small"]).unwrap_err();
        assert!(!e.to_string().contains("99999999"), "{e}");
        let e = from_value::<String>(&r["n"]).unwrap_err();
        assert!(!e.to_string().contains("3.25"), "{e}");
    }
}
