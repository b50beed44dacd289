//! The write guard every backend puts in front of its store operations, so an uninitialized,
//! outdated, newer or damaged schema yields the matching typed error, never a raw SQL error.

use crate::error::{Error, Result};
use crate::validate::{SchemaInfo, SchemaState};
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};

const UNKNOWN: u8 = 0;
const VALID: u8 = 1;
const READ_ONLY: u8 = 2;

/// Remembers whether the schema was found valid, so the common path costs one atomic load.
///
/// Only good states are cached: a bad state is re-validated on the next call, so a user who
/// fixes the database (`pycharter db upgrade`) does not have to restart the application.
///
/// ```
/// # tokio_test_shim::block_on(async {
/// use pycharter_core::{spec, validate::validate_catalog, CatalogSnapshot, Error, SchemaGate};
/// let gate = SchemaGate::default();
/// let uninitialized = validate_catalog(&CatalogSnapshot::default(), &spec::bundle_logical("m"), "memory://");
/// let err = gate.ensure(true, || async { Ok(uninitialized.clone()) }).await.unwrap_err();
/// assert!(matches!(err, Error::NotInitialized { .. }));
/// # });
/// # mod tokio_test_shim { pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #   tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f) } }
/// ```
#[derive(Debug, Default)]
pub struct SchemaGate {
    state: AtomicU8,
}

impl SchemaGate {
    /// A gate that will validate before the first operation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a validation result (backends call this after `validate`/`initialize`).
    pub fn record(&self, info: &SchemaInfo) {
        let state = match info.state {
            // Ahead and compatible: this build reads and writes as on its own layout.
            SchemaState::Valid | SchemaState::NewerCompatible => VALID,
            SchemaState::Newer => READ_ONLY,
            _ => UNKNOWN,
        };
        self.state.store(state, Ordering::Release);
    }

    /// Forgets what was recorded (after a migration command, say).
    pub fn reset(&self) {
        self.state.store(UNKNOWN, Ordering::Release);
    }

    /// Admits an operation (`write`: it changes data) or returns the schema's typed error.
    /// `validate` runs only when no good state is cached.
    pub async fn ensure<F, Fut>(&self, write: bool, validate: F) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SchemaInfo>>,
    {
        match self.state.load(Ordering::Acquire) {
            VALID => return Ok(()),
            READ_ONLY if !write => return Ok(()),
            _ => {}
        }
        let info = validate().await?;
        self.record(&info);
        match info.state {
            SchemaState::Newer if !write => Ok(()),
            _ => info.ensure_valid(),
        }
    }

    /// Turns a failed operation's database error into the schema's typed error when the
    /// schema is what broke (a table dropped behind our back, say); other errors pass through.
    pub async fn explain<F, Fut>(&self, error: Error, validate: F) -> Error
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SchemaInfo>>,
    {
        if !matches!(error, Error::Database { .. }) {
            return error;
        }
        self.reset();
        match validate().await {
            Ok(info) => {
                self.record(&info);
                info.to_error().unwrap_or(error)
            }
            Err(_) => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CatalogSnapshot;
    use crate::spec::bundle_logical;
    use crate::validate::validate_catalog;
    use std::sync::atomic::AtomicUsize;

    fn info(state: SchemaState) -> SchemaInfo {
        let mut info = validate_catalog(&CatalogSnapshot::default(), &bundle_logical("m"), "m://");
        info.state = state;
        info.valid = matches!(state, SchemaState::Valid | SchemaState::NewerCompatible);
        info
    }

    #[tokio::test]
    async fn valid_state_is_cached_and_bad_state_is_not() {
        let gate = SchemaGate::new();
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            gate.ensure(true, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(info(SchemaState::Valid))
            })
            .await
            .unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let gate = SchemaGate::new();
        for _ in 0..2 {
            let err = gate
                .ensure(false, || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(info(SchemaState::Outdated))
                })
                .await
                .unwrap_err();
            assert!(matches!(err, Error::SchemaOutdated { .. }));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn newer_schema_allows_reads_and_refuses_writes() {
        let gate = SchemaGate::new();
        gate.ensure(false, || async { Ok(info(SchemaState::Newer)) })
            .await
            .unwrap();
        let err = gate
            .ensure(true, || async { Ok(info(SchemaState::Newer)) })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::SchemaNewer { .. }));
    }

    #[tokio::test]
    async fn newer_compatible_schema_admits_reads_and_writes_and_is_cached() {
        let gate = SchemaGate::new();
        let calls = AtomicUsize::new(0);
        for write in [true, false, true] {
            gate.ensure(write, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(info(SchemaState::NewerCompatible))
            })
            .await
            .expect("a compatible newer schema admits reads and writes");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn explain_maps_database_errors_to_schema_errors() {
        let gate = SchemaGate::new();
        let raw = Error::Database {
            target: "m://".into(),
            reason: "no such table: schemas".into(),
        };
        let err = gate
            .explain(raw.clone(), || async {
                Ok(info(SchemaState::MissingTables))
            })
            .await;
        assert!(matches!(err, Error::MissingTables { .. }), "{err}");
        let still_raw = gate
            .explain(raw.clone(), || async { Ok(info(SchemaState::Valid)) })
            .await;
        assert_eq!(still_raw, raw);
        let conflict = Error::InvalidDocument { reason: "x".into() };
        let err = gate
            .explain(conflict.clone(), || async { panic!("must not validate") })
            .await;
        assert_eq!(err, conflict);
    }
}
