//! The store classes: `MetadataStore` (the methods) and its three constructors,
//! `PostgresMetadataStore(url)`, `SqliteMetadataStore(url)` and `InMemoryMetadataStore()`.
//!
//! A store is created unconnected, as PyCharter's are; `connect()` opens the backend (and
//! prepares its schema, as the backend's `connect` does); every method then runs the core
//! operation on the module's runtime without the GIL. One object may be shared by any number
//! of threads: each call clones the handle and releases the lock before it waits.

use crate::backend::{Connected, Target};
use crate::convert::{to_json, to_python};
use crate::errors::{kind_name, map_error, NotConnected};
use crate::{runtime, wait};
use pycharter_core::{ArtifactKind, ConnectOptions, ContractVersion, IntoSelector};
use pycharter_memory::MemoryMetadataStore;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::PyClassInitializer;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// The methods every store has (never instantiated directly: use one of the three
/// subclasses).
#[pyclass(subclass, frozen, module = "pycharter_rs", name = "MetadataStore")]
pub(crate) struct Store {
    class: &'static str,
    target: Target,
    connected: RwLock<Option<Arc<dyn Connected>>>,
}

impl Store {
    fn new(class: &'static str, target: Target) -> Self {
        Store {
            class,
            target,
            connected: RwLock::new(None),
        }
    }

    /// The connected handle, or `NotConnected` naming the fix.
    fn handle(&self) -> PyResult<Arc<dyn Connected>> {
        // A panic cannot leave an `Option<Arc>` half-written: a poisoned lock is used as is.
        let slot = self
            .connected
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        slot.clone().ok_or_else(|| {
            NotConnected::new_err(format!(
                "{}({}) is not connected — call connect() first",
                self.class,
                self.target.display()
            ))
        })
    }

    fn replace(&self, handle: Option<Arc<dyn Connected>>) -> Option<Arc<dyn Connected>> {
        let mut slot = self
            .connected
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, handle)
    }

    fn store_kind(
        &self,
        py: Python<'_>,
        kind: ArtifactKind,
        schema_name: String,
        document: &Bound<'_, PyAny>,
        version: String,
    ) -> PyResult<i64> {
        let handle = self.handle()?;
        let document = to_json(document).map_err(|err| map_error(py, err))?;
        let id = runtime::wait(py, async move {
            let version = ContractVersion::parse(&version)?;
            handle
                .store_artifact(kind, &schema_name, &version, &document)
                .await
        })?;
        Ok(id.0)
    }

    fn get_kind<'py>(
        &self,
        py: Python<'py>,
        kind: ArtifactKind,
        schema_name: String,
        version: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle()?;
        let record = runtime::wait(py, async move {
            let selector = version.as_deref().into_selector()?;
            handle.get_artifact(kind, &schema_name, &selector).await
        })?;
        match record {
            Some(record) => to_python(py, &record.document),
            None => Ok(py.None().into_bound(py)),
        }
    }

    fn close_handle(&self, py: Python<'_>) -> PyResult<()> {
        if let Some(handle) = self.replace(None) {
            runtime::wait(py, async move {
                handle.close().await;
                Ok(())
            })?;
        }
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(handle) = self.replace(None) {
            runtime::drop_in_runtime(handle);
        }
    }
}

/// Seconds from Python as a `Duration` (finite, not negative).
fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be a finite number of seconds, not negative: got {value}"
        ))
    })
}

#[pymethods]
impl Store {
    /// Connects, then does to the schema what PyCharter's `connect` does: validate it, apply
    /// pending migrations when `auto_initialize`, fail unless valid when
    /// `validate_schema_on_connect`. `wait_for_schema` (seconds) keeps retrying while the
    /// server is unreachable or the schema not migrated yet.
    #[pyo3(signature = (
        auto_initialize = true,
        validate_schema_on_connect = true,
        wait_for_schema = None,
        *,
        connect_timeout = 10.0,
        statement_timeout = None,
        lock_timeout = None,
        namespace = None,
        max_connections = 10,
    ))]
    #[allow(clippy::too_many_arguments)] // Python keyword arguments, one per option
    fn connect(
        &self,
        py: Python<'_>,
        auto_initialize: bool,
        validate_schema_on_connect: bool,
        wait_for_schema: Option<f64>,
        connect_timeout: f64,
        statement_timeout: Option<f64>,
        lock_timeout: Option<f64>,
        namespace: Option<String>,
        max_connections: u32,
    ) -> PyResult<()> {
        // Fields ConnectOptions gains later keep their defaults.
        #[allow(clippy::needless_update)]
        let options = ConnectOptions {
            auto_initialize,
            validate_schema_on_connect,
            connect_timeout: seconds("connect_timeout", connect_timeout)?,
            statement_timeout: statement_timeout
                .map(|s| seconds("statement_timeout", s))
                .transpose()?,
            lock_timeout: lock_timeout
                .map(|s| seconds("lock_timeout", s))
                .transpose()?,
            namespace,
            max_connections,
            ..ConnectOptions::default()
        };
        let wait_for = wait_for_schema
            .map(|s| seconds("wait_for_schema", s))
            .transpose()?;
        let target = self.target.clone();
        let handle = runtime::wait(py, async move {
            wait::connect(&target, options, wait_for).await
        })?;
        if let Some(previous) = self.replace(Some(handle)) {
            runtime::wait(py, async move {
                previous.close().await;
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Closes the connections (idempotent); methods then raise `NotConnected` until the next
    /// `connect()`.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.close_handle(py)
    }

    /// `with store:` connects with PyCharter's defaults unless already connected.
    fn __enter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        let store = slf.get();
        if store.handle().is_err() {
            slf.call_method0("connect")?;
        }
        Ok(slf.clone())
    }

    /// Leaving the `with` block closes the store; exceptions propagate.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close_handle(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.handle().is_ok() {
            "connected"
        } else {
            "not connected"
        };
        format!("<{} {} ({state})>", self.class, self.target.display())
    }

    /// The database, with its password redacted (as every message shows it).
    #[getter]
    fn database(&self) -> String {
        self.target.display()
    }

    /// The schema's state: PyCharter's keys (`valid`, `version`, `message`) and ours
    /// (`state`, `expected_version`, `missing_tables`, `missing_indexes`, `pending`, …).
    fn get_schema_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let handle = self.handle()?;
        let info = runtime::wait(py, async move { handle.validate().await })?;
        crate::functions::serialized(py, &info)
    }

    /// Stores a JSON Schema as `schema_name` at `version`; returns its id.
    fn store_schema(
        &self,
        py: Python<'_>,
        schema_name: String,
        schema: &Bound<'_, PyAny>,
        version: String,
    ) -> PyResult<i64> {
        self.store_kind(py, ArtifactKind::Schema, schema_name, schema, version)
    }

    /// The JSON Schema of `schema_name` at `version` (None: the latest by semver), or None.
    #[pyo3(signature = (schema_name, version = None))]
    fn get_schema<'py>(
        &self,
        py: Python<'py>,
        schema_name: String,
        version: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get_kind(py, ArtifactKind::Schema, schema_name, version)
    }

    /// Stores coercion rules for `schema_name` at `version`; returns their id.
    fn store_coercion_rules(
        &self,
        py: Python<'_>,
        schema_name: String,
        coercion_rules: &Bound<'_, PyAny>,
        version: String,
    ) -> PyResult<i64> {
        let kind = ArtifactKind::CoercionRules;
        self.store_kind(py, kind, schema_name, coercion_rules, version)
    }

    /// The coercion rules of `schema_name` at `version` (None: the latest), or None.
    #[pyo3(signature = (schema_name, version = None))]
    fn get_coercion_rules<'py>(
        &self,
        py: Python<'py>,
        schema_name: String,
        version: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get_kind(py, ArtifactKind::CoercionRules, schema_name, version)
    }

    /// Stores validation rules for `schema_name` at `version`; returns their id.
    fn store_validation_rules(
        &self,
        py: Python<'_>,
        schema_name: String,
        validation_rules: &Bound<'_, PyAny>,
        version: String,
    ) -> PyResult<i64> {
        let kind = ArtifactKind::ValidationRules;
        self.store_kind(py, kind, schema_name, validation_rules, version)
    }

    /// The validation rules of `schema_name` at `version` (None: the latest), or None.
    #[pyo3(signature = (schema_name, version = None))]
    fn get_validation_rules<'py>(
        &self,
        py: Python<'py>,
        schema_name: String,
        version: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get_kind(py, ArtifactKind::ValidationRules, schema_name, version)
    }

    /// Stores metadata for `schema_name` at `version`; returns its id.
    fn store_metadata(
        &self,
        py: Python<'_>,
        schema_name: String,
        metadata: &Bound<'_, PyAny>,
        version: String,
    ) -> PyResult<i64> {
        self.store_kind(py, ArtifactKind::Metadata, schema_name, metadata, version)
    }

    /// The metadata of `schema_name` at `version` (None: the latest), or None.
    #[pyo3(signature = (schema_name, version = None))]
    fn get_metadata<'py>(
        &self,
        py: Python<'py>,
        schema_name: String,
        version: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get_kind(py, ArtifactKind::Metadata, schema_name, version)
    }

    /// Stores ownership for `schema_name` at `version`; returns its id.
    fn store_ownership(
        &self,
        py: Python<'_>,
        schema_name: String,
        ownership: &Bound<'_, PyAny>,
        version: String,
    ) -> PyResult<i64> {
        self.store_kind(py, ArtifactKind::Ownership, schema_name, ownership, version)
    }

    /// The ownership of `schema_name` at `version` (None: the latest), or None.
    #[pyo3(signature = (schema_name, version = None))]
    fn get_ownership<'py>(
        &self,
        py: Python<'py>,
        schema_name: String,
        version: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get_kind(py, ArtifactKind::Ownership, schema_name, version)
    }

    /// Stores governance rules for `schema_name` at `version`; returns their id.
    fn store_governance_rules(
        &self,
        py: Python<'_>,
        schema_name: String,
        governance_rules: &Bound<'_, PyAny>,
        version: String,
    ) -> PyResult<i64> {
        let kind = ArtifactKind::GovernanceRules;
        self.store_kind(py, kind, schema_name, governance_rules, version)
    }

    /// The governance rules of `schema_name` at `version` (None: the latest), or None.
    #[pyo3(signature = (schema_name, version = None))]
    fn get_governance_rules<'py>(
        &self,
        py: Python<'py>,
        schema_name: String,
        version: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get_kind(py, ArtifactKind::GovernanceRules, schema_name, version)
    }

    /// The whole record of one kind (`"schema"`, `"coercion_rules"`, `"validation_rules"`,
    /// `"metadata"`, `"ownership"`, `"governance_rules"`): id, kind, name, version, document,
    /// created_at (ISO 8601). None when absent.
    #[pyo3(signature = (kind, schema_name, version = None))]
    fn get_artifact<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
        schema_name: String,
        version: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(kind) = ArtifactKind::ALL
            .into_iter()
            .find(|k| kind_name(*k) == kind)
        else {
            let known: Vec<String> = ArtifactKind::ALL.into_iter().map(kind_name).collect();
            return Err(PyValueError::new_err(format!(
                "unknown kind {kind:?}: use one of {}",
                known.join(", ")
            )));
        };
        let handle = self.handle()?;
        let record = runtime::wait(py, async move {
            let selector = version.as_deref().into_selector()?;
            handle.get_artifact(kind, &schema_name, &selector).await
        })?;
        match record {
            Some(record) => crate::functions::serialized(py, &record),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// Names of all stored schemas, ascending.
    fn list_schemas(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let handle = self.handle()?;
        runtime::wait(py, async move { handle.list_schemas().await })
    }

    /// Versions of `schema_name`, ascending by semver precedence (empty when unknown).
    fn list_versions(&self, py: Python<'_>, schema_name: String) -> PyResult<Vec<String>> {
        let handle = self.handle()?;
        let versions = runtime::wait(py, async move { handle.list_versions(&schema_name).await })?;
        Ok(versions.iter().map(ToString::to_string).collect())
    }

    /// Deletes `schema_name` at `version` and everything attached to it (`NotFound` when it
    /// does not exist).
    fn delete_schema(&self, py: Python<'_>, schema_name: String, version: String) -> PyResult<()> {
        let handle = self.handle()?;
        runtime::wait(py, async move {
            let version = ContractVersion::parse(&version)?;
            handle.delete_version(&schema_name, &version).await
        })
    }
}

/// PyCharter's PostgreSQL store: `PostgresMetadataStore("postgresql://user:pass@host/db")`.
#[pyclass(extends = Store, frozen, module = "pycharter_rs", name = "PostgresMetadataStore")]
pub(crate) struct PostgresStore;

#[pymethods]
impl PostgresStore {
    #[new]
    fn new(url: String) -> PyClassInitializer<Self> {
        let target = Target::Postgres(url);
        PyClassInitializer::from(Store::new("PostgresMetadataStore", target))
            .add_subclass(PostgresStore)
    }
}

/// The SQLite store: `SqliteMetadataStore("sqlite://pycharter.db")`.
#[pyclass(extends = Store, frozen, module = "pycharter_rs", name = "SqliteMetadataStore")]
pub(crate) struct SqliteStore;

#[pymethods]
impl SqliteStore {
    #[new]
    fn new(url: String) -> PyClassInitializer<Self> {
        let target = Target::Sqlite(url);
        PyClassInitializer::from(Store::new("SqliteMetadataStore", target))
            .add_subclass(SqliteStore)
    }
}

/// The in-memory store: one private database per object, kept across `connect()` calls.
/// Same rules as the others (it starts empty: `connect()` initializes it by default).
#[pyclass(extends = Store, frozen, module = "pycharter_rs", name = "InMemoryMetadataStore")]
pub(crate) struct MemoryStore;

#[pymethods]
impl MemoryStore {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        let target = Target::Memory(MemoryMetadataStore::uninitialized());
        PyClassInitializer::from(Store::new("InMemoryMetadataStore", target))
            .add_subclass(MemoryStore)
    }
}
