//! Plain Python objects ⇄ JSON values: documents go in and come out as `dict`, `list`, `str`,
//! `int`, `float`, `bool` and `None`, as PyCharter's stores take and return them.
//!
//! What is not JSON (a `set`, a non-`str` key, `NaN`, an integer beyond 64 bits, a structure
//! that contains itself) is refused as `InvalidDocument` before anything reaches a store; what
//! is JSON but not acceptable (too deep, too large, not a JSON Schema) is core's to judge.

use pycharter_core::document::MAX_DOCUMENT_DEPTH;
use pycharter_core::Error;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// `object` as a JSON value, or [`Error::InvalidDocument`] saying what is not JSON in it.
pub(crate) fn to_json(object: &Bound<'_, PyAny>) -> Result<Value, Error> {
    convert(object, 0)
}

fn invalid(reason: String) -> Error {
    Error::InvalidDocument { reason }
}

fn convert(object: &Bound<'_, PyAny>, depth: usize) -> Result<Value, Error> {
    // Deeper than core accepts cannot be stored anyway; stopping here also ends the
    // recursion on a structure that contains itself.
    if depth > MAX_DOCUMENT_DEPTH {
        return Err(invalid(format!(
            "nested more than {MAX_DOCUMENT_DEPTH} levels deep (or contains itself), the limit is {MAX_DOCUMENT_DEPTH}"
        )));
    }
    let python_error = |e: PyErr| invalid(e.to_string());
    if let Ok(text) = object.cast::<PyString>() {
        return Ok(Value::String(
            text.to_cow().map_err(python_error)?.into_owned(),
        ));
    }
    if let Ok(dict) = object.cast::<PyDict>() {
        let mut map = Map::new();
        for (key, value) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(invalid(format!(
                    "object keys must be str, not {}",
                    type_name(&key)
                )));
            };
            let key = key.to_cow().map_err(python_error)?.into_owned();
            map.insert(key, convert(&value, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(list) = object.cast::<PyList>() {
        return list.iter().map(|item| convert(&item, depth + 1)).collect();
    }
    if let Ok(tuple) = object.cast::<PyTuple>() {
        return tuple.iter().map(|item| convert(&item, depth + 1)).collect();
    }
    // Before int: bool is a subclass of int.
    if let Ok(flag) = object.cast::<PyBool>() {
        return Ok(Value::Bool(flag.is_true()));
    }
    if object.is_instance_of::<PyInt>() {
        if let Ok(n) = object.extract::<i64>() {
            return Ok(Value::from(n));
        }
        if let Ok(n) = object.extract::<u64>() {
            return Ok(Value::from(n));
        }
        return Err(invalid(format!(
            "the integer {} does not fit in 64 bits",
            object.str().map_err(python_error)?
        )));
    }
    if object.is_instance_of::<PyFloat>() {
        let x: f64 = object.extract().map_err(python_error)?;
        return Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| invalid(format!("{x} is not a JSON number")));
    }
    if object.is_none() {
        return Ok(Value::Null);
    }
    Err(invalid(format!(
        "a {} is not JSON — use dict, list, str, int, float, bool or None",
        type_name(object)
    )))
}

fn type_name(object: &Bound<'_, PyAny>) -> String {
    object
        .get_type()
        .name()
        .map_or_else(|_| "value".to_string(), |name| name.to_string())
}

/// `value` as plain Python objects (`dict`, `list`, `str`, `int`, `float`, `bool`, `None`).
pub(crate) fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, to_python(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
