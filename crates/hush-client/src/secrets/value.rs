//! Read-only views of loaded secrets: [`Secret`] (one value) and
//! [`SecretTable`] (a table). Index with `["key"]` like `st.secrets["key"]`.

use std::fmt;
use std::ops::Index;
use std::sync::Arc;

use hush_core::{Datetime, Table, Value};
use indexmap::IndexMap;
use serde::de::DeserializeOwned;

use super::SecretsError;
use super::sources::Context;

/// One secret value. `Debug` never shows the value; read it with
/// [`Secret::as_str`] and friends, compare it with `==`, or deserialize it.
#[derive(Clone, PartialEq)]
pub enum Secret {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(Datetime),
    Array(Vec<Secret>),
    /// A table, including a table inside an array (`[[servers]]`, compat §3.7).
    Table(SecretTable),
}

/// A read-only table of secrets, keys in file order. Cloning is cheap: the
/// entries are shared, never copied.
#[derive(Clone)]
pub struct SecretTable {
    entries: Arc<IndexMap<String, Secret>>,
    /// Where these secrets came from: the rule-15 hint for a missing key names it.
    context: Arc<Context>,
}

impl PartialEq for SecretTable {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.entries, &other.entries) || self.entries == other.entries
    }
}

pub(crate) fn missing_key_message(key: &str, hint: &str) -> String {
    format!("st.secrets has no key {key:?}. {hint}")
}

impl SecretTable {
    /// Takes the parsed table over (moved, not copied).
    pub(crate) fn from_table(table: Table, context: &Arc<Context>) -> SecretTable {
        SecretTable {
            entries: Arc::new(
                table
                    .into_iter()
                    .map(|(k, v)| (k, Secret::from_value(v, context)))
                    .collect(),
            ),
            context: context.clone(),
        }
    }

    pub(crate) fn context(&self) -> &Arc<Context> {
        &self.context
    }

    /// What a missing key's error says after Streamlit's first sentence: where
    /// hush looked (`Did you forget to add it to ...?`).
    pub fn hint(&self) -> String {
        self.context.hint()
    }

    pub fn get(&self, key: &str) -> Option<&Secret> {
        self.entries.get(key)
    }

    /// Like `get`, with the rule-15 error (`st.secrets has no key "x". ...`).
    pub fn try_get(&self, key: &str) -> Result<&Secret, SecretsError> {
        self.entries
            .get(key)
            .ok_or_else(|| SecretsError::MissingKey {
                key: key.to_owned(),
                hint: self.hint(),
            })
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(key, value)` in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn values(&self) -> impl Iterator<Item = &Secret> {
        self.entries.values()
    }

    /// A plain, independent copy (compat §3.8: changing it changes nothing here).
    pub fn to_table(&self) -> Table {
        self.entries
            .iter()
            .map(|(k, v)| (k.clone(), v.to_value()))
            .collect()
    }

    /// Deserialize the whole table, e.g. into a struct (the Rust answer to
    /// `**st.secrets.section`).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, SecretsError> {
        hush_core::from_table(&self.to_table()).map_err(|error| SecretsError::Deserialize {
            key: "(table)".to_owned(),
            error,
        })
    }
}

impl Index<&str> for SecretTable {
    type Output = Secret;
    /// Panics with Streamlit's text when the key is missing:
    /// `st.secrets has no key "x". Did you forget to add it ...`.
    fn index(&self, key: &str) -> &Secret {
        match self.entries.get(key) {
            Some(v) => v,
            None => panic!("{}", missing_key_message(key, &self.hint())),
        }
    }
}

impl<'a> IntoIterator for &'a SecretTable {
    type Item = (&'a String, &'a Secret);
    type IntoIter = indexmap::map::Iter<'a, String, Secret>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl fmt::Debug for SecretTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries.iter()).finish()
    }
}

impl Secret {
    pub(crate) fn from_value(value: Value, context: &Arc<Context>) -> Secret {
        match value {
            Value::String(s) => Secret::String(s),
            Value::Integer(i) => Secret::Integer(i),
            Value::Float(f) => Secret::Float(f),
            Value::Boolean(b) => Secret::Boolean(b),
            Value::Datetime(d) => Secret::Datetime(d),
            Value::Array(a) => Secret::Array(
                a.into_iter()
                    .map(|v| Secret::from_value(v, context))
                    .collect(),
            ),
            Value::Table(t) => Secret::Table(SecretTable::from_table(t, context)),
        }
    }

    /// The environment variable text (Python's `str(v)`) of a string, integer
    /// or float; for any other type, its type name (compat §2.1).
    pub(crate) fn env_text(&self) -> Result<String, &'static str> {
        match self {
            Secret::String(_) | Secret::Integer(_) | Secret::Float(_) => {
                hush_core::env_value_str(&self.to_value()).ok_or(self.type_name())
            }
            other => Err(other.type_name()),
        }
    }

    /// A plain, independent copy of this value.
    pub fn to_value(&self) -> Value {
        match self {
            Secret::String(s) => Value::String(s.clone()),
            Secret::Integer(i) => Value::Integer(*i),
            Secret::Float(f) => Value::Float(*f),
            Secret::Boolean(b) => Value::Boolean(*b),
            Secret::Datetime(d) => Value::Datetime(d.clone()),
            Secret::Array(a) => Value::Array(a.iter().map(Secret::to_value).collect()),
            Secret::Table(t) => Value::Table(t.to_table()),
        }
    }

    /// `string`, `integer`, `float`, `boolean`, `datetime`, `array` or `table`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Secret::String(_) => "string",
            Secret::Integer(_) => "integer",
            Secret::Float(_) => "float",
            Secret::Boolean(_) => "boolean",
            Secret::Datetime(_) => "datetime",
            Secret::Array(_) => "array",
            Secret::Table(_) => "table",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Secret::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Secret::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Secret::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Secret::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_datetime(&self) -> Option<&Datetime> {
        match self {
            Secret::Datetime(d) => Some(d),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Secret]> {
        match self {
            Secret::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&SecretTable> {
        match self {
            Secret::Table(t) => Some(t),
            _ => None,
        }
    }

    /// `Some` when this is a table holding `key`.
    pub fn get(&self, key: &str) -> Option<&Secret> {
        self.as_table().and_then(|t| t.get(key))
    }

    /// Deserialize into any serde type (`String`, `u16`, `Vec<String>`, a struct...).
    /// Errors name the type, never the value.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, SecretsError> {
        hush_core::from_value(&self.to_value()).map_err(|error| SecretsError::Deserialize {
            key: "(value)".to_owned(),
            error,
        })
    }
}

impl Index<&str> for Secret {
    type Output = Secret;
    /// Nested lookup, `secrets["db"]["port"]`. Panics with the rule-15 text
    /// when the key is missing, or says the value is not a table.
    fn index(&self, key: &str) -> &Secret {
        match self {
            Secret::Table(t) => &t[key],
            other => panic!(
                "st.secrets cannot look up key {key:?} in a {}: only tables have keys",
                other.type_name()
            ),
        }
    }
}

impl Index<usize> for Secret {
    type Output = Secret;
    /// Array element, `secrets["servers"][0]["name"]`.
    fn index(&self, i: usize) -> &Secret {
        match self {
            Secret::Array(a) => match a.get(i) {
                Some(v) => v,
                None => panic!(
                    "st.secrets array index {i} is out of range (the array has {} items)",
                    a.len()
                ),
            },
            other => panic!(
                "st.secrets cannot index a {} with [{i}]: it is not an array",
                other.type_name()
            ),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Array(a) => f.debug_list().entries(a.iter()).finish(),
            Secret::Table(t) => t.fmt(f),
            Secret::Datetime(d) => d.fmt(f),
            other => write!(f, "{}(<redacted>)", other.type_name()),
        }
    }
}

impl PartialEq<str> for Secret {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Secret {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<String> for Secret {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}

impl PartialEq<i64> for Secret {
    fn eq(&self, other: &i64) -> bool {
        self.as_i64() == Some(*other)
    }
}

impl PartialEq<f64> for Secret {
    fn eq(&self, other: &f64) -> bool {
        self.as_f64() == Some(*other)
    }
}

impl PartialEq<bool> for Secret {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

impl PartialEq<Value> for Secret {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}
