//! hush-client values as Python objects, built on each read, so nothing handed out shares
//! state with the store (compat §3.8): strings, ints, floats, bools, `datetime` values as tomllib
//! makes them, new lists, and tables as [`crate::table::Secrets`] (or plain dicts for
//! `to_dict()`).

use hush_client::Secret;
use hush_core::{Datetime, DatetimeKind};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{IntoPyDict, PyDict, PyList, PyModule, PyString};

use crate::table::Secrets;

/// How tables come out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tables {
    /// As read-only `hush.Secrets` mappings (key and attribute access).
    Secrets,
    /// As plain, independent `dict`s (`to_dict()`).
    Dicts,
}

pub fn to_py<'py>(py: Python<'py>, value: &Secret, tables: Tables) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Secret::String(s) => PyString::new(py, s).into_any(),
        Secret::Integer(i) => i.into_bound_py_any(py)?,
        Secret::Float(f) => f.into_bound_py_any(py)?,
        Secret::Boolean(b) => b.into_bound_py_any(py)?,
        Secret::Datetime(d) => datetime(py, d)?,
        Secret::Array(items) => PyList::new(
            py,
            items
                .iter()
                .map(|v| to_py(py, v, tables))
                .collect::<PyResult<Vec<_>>>()?,
        )?
        .into_any(),
        Secret::Table(t) => match tables {
            Tables::Secrets => Bound::new(py, Secrets::snapshot(t.clone()))?.into_any(),
            Tables::Dicts => to_dict(py, t)?.into_any(),
        },
    })
}

/// A plain, independent `dict` of a table, in file order.
pub fn to_dict<'py>(
    py: Python<'py>,
    table: &hush_client::SecretTable,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in table.iter() {
        dict.set_item(key, to_py(py, value, Tables::Dicts)?)?;
    }
    Ok(dict)
}

/// What tomllib gives: `datetime` (aware for an offset, naive for a local one), `date` or
/// `time`, microseconds truncated from the nanoseconds TOML allows.
fn datetime<'py>(py: Python<'py>, value: &Datetime) -> PyResult<Bound<'py, PyAny>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let m = MODULE
        .get_or_try_init(py, || py.import("datetime").map(Bound::unbind))?
        .bind(py);
    let date = value.date();
    let time = value.time();
    let micro = time.map(|t| t.nanosecond / 1000).unwrap_or(0);
    match (value.kind(), date, time) {
        (DatetimeKind::LocalDate, Some(d), _) => m.getattr("date")?.call1((d.year, d.month, d.day)),
        (DatetimeKind::LocalTime, _, Some(t)) => m
            .getattr("time")?
            .call1((t.hour, t.minute, t.second, micro)),
        (kind, Some(d), Some(t)) => {
            let tz = match (kind, value.offset_minutes()) {
                (DatetimeKind::OffsetDatetime, Some(0)) => m.getattr("timezone")?.getattr("utc")?,
                (DatetimeKind::OffsetDatetime, Some(minutes)) => {
                    let delta = m
                        .getattr("timedelta")?
                        .call((), Some(&[("minutes", minutes)].into_py_dict(py)?))?;
                    m.getattr("timezone")?.call1((delta,))?
                }
                _ => py.None().into_bound(py),
            };
            m.getattr("datetime")?.call1((
                d.year, d.month, d.day, t.hour, t.minute, t.second, micro, tz,
            ))
        }
        _ => Ok(PyString::new(py, value.as_str()).into_any()),
    }
}
