//! The module functions of PyCharter's "manual initialization" and "validation only"
//! patterns: `initialize_schema(conn, force=False)` and `validate_schema(conn)`.
//!
//! `conn` is a database URL, or — so that PyCharter's documented code runs as written — an
//! open psycopg2 / psycopg connection, whose parameters name the database to open.

use crate::backend::Target;
use crate::convert::to_python;
use crate::errors::map_error;
use crate::runtime;
use pycharter_core::{ConnectOptions, InitializeOptions};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde::Serialize;

/// A serde value (a `SchemaInfo`, a `MigrationReport`, a record) as plain Python objects.
pub(crate) fn serialized<'py, T: Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(value).map_err(|e| {
        map_error(
            py,
            pycharter_core::Error::InvalidDocument {
                reason: e.to_string(),
            },
        )
    })?;
    to_python(py, &value)
}

/// Opened without touching the schema: these functions are the ones that look at it.
fn hands_off() -> ConnectOptions {
    ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: false,
        ..ConnectOptions::default()
    }
}

/// Applies every pending migration (idempotent, safe to race), as PyCharter's
/// `initialize_schema` does; with `force`, first recreates missing tables and indexes
/// (never drops anything), as `pycharter db init --force`. Returns the migration report.
#[pyfunction]
#[pyo3(signature = (conn, force = false))]
pub(crate) fn initialize_schema<'py>(
    py: Python<'py>,
    conn: &Bound<'py, PyAny>,
    force: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let target = target_of(py, conn)?;
    let report = runtime::wait(py, async move {
        let store = target.open(hands_off()).await?;
        let options = InitializeOptions {
            force,
            ..InitializeOptions::default()
        };
        let report = store.initialize(options).await;
        store.close().await;
        report
    })?;
    serialized(py, &report)
}

/// The schema's state, as PyCharter's `validate_schema` returns it (`valid`, `message`, …):
/// an invalid schema is a result, not an exception.
#[pyfunction]
pub(crate) fn validate_schema<'py>(
    py: Python<'py>,
    conn: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let target = target_of(py, conn)?;
    let info = runtime::wait(py, async move {
        let store = target.open(hands_off()).await?;
        let info = store.validate().await;
        store.close().await;
        info
    })?;
    serialized(py, &info)
}

fn target_of(py: Python<'_>, conn: &Bound<'_, PyAny>) -> PyResult<Target> {
    let url = url_of(conn)?;
    Target::from_url(&url).map_err(|err| map_error(py, err))
}

/// A URL string as is; a psycopg2 / psycopg connection as the URL of the database it is
/// connected to (host, port, user, password, database, `sslmode`), read from `conn.info`.
fn url_of(conn: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(url) = conn.cast::<PyString>() {
        return Ok(url.to_cow()?.into_owned());
    }
    let not_a_connection = || {
        let type_name = conn
            .get_type()
            .name()
            .map_or_else(|_| "object".to_string(), |n| n.to_string());
        PyTypeError::new_err(format!(
            "expected a database URL (str) or a psycopg2/psycopg connection, got {type_name}"
        ))
    };
    let info = conn.getattr("info").map_err(|_| not_a_connection())?;
    let text = |name: &str| -> PyResult<Option<String>> {
        match info.getattr(name) {
            Ok(value) if !value.is_none() => Ok(Some(value.str()?.to_cow()?.into_owned())),
            Ok(_) => Ok(None),
            Err(_) => Err(not_a_connection()),
        }
    };
    let host = text("host")?.unwrap_or_else(|| "localhost".into());
    let mut url = url::Url::parse("postgres://localhost").map_err(|_| not_a_connection())?;
    // A host starting with `/` is a Unix socket directory: it travels as the `host` parameter.
    let socket = host.starts_with('/').then_some(host.clone());
    let fields_ok = url.set_host(Some(if socket.is_some() { "localhost" } else { &host }));
    let port = match text("port")? {
        Some(port) => Some(port.parse::<u16>().map_err(|_| not_a_connection())?),
        None => None,
    };
    let set = fields_ok.is_ok()
        && url.set_port(port).is_ok()
        && url.set_username(&text("user")?.unwrap_or_default()).is_ok()
        && url.set_password(text("password")?.as_deref()).is_ok();
    if !set {
        return Err(not_a_connection());
    }
    url.set_path(&text("dbname")?.unwrap_or_default());
    let mut query = Vec::new();
    if let Some(socket) = socket {
        query.push(("host".to_string(), socket));
    }
    for (key, value) in ssl_parameters(&info)? {
        query.push((key, value));
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url.to_string())
}

/// `sslmode` and `sslrootcert` of the connection: psycopg2's `info.dsn_parameters`, psycopg's
/// `info.get_parameters()`.
fn ssl_parameters(info: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let parameters = match info.getattr("dsn_parameters") {
        Ok(parameters) => parameters,
        Err(_) => match info.call_method0("get_parameters") {
            Ok(parameters) => parameters,
            Err(_) => return Ok(Vec::new()),
        },
    };
    let Ok(parameters) = parameters.cast::<PyDict>() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for key in ["sslmode", "sslrootcert"] {
        if let Some(value) = parameters.get_item(key)? {
            out.push((key.to_string(), value.str()?.to_cow()?.into_owned()));
        }
    }
    Ok(out)
}
