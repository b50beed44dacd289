//! # pycharter_rs
//!
//! PyCharter's documented Python API — `PostgresMetadataStore(url).connect()`,
//! `get_schema_info()`, `initialize_schema(conn)`, `validate_schema(conn)`, the typed store
//! methods — over the pycharter-rs crates. No rule is written here: validation, the schema
//! gate, immutability, "latest" and every error message are core's; this crate converts
//! arguments, runs the core future without the GIL, and converts the result back.
//!
//! ```python
//! from pycharter_rs import PostgresMetadataStore
//!
//! store = PostgresMetadataStore("postgresql://user:pass@localhost/pycharter")
//! store.connect()  # auto_initialize=True by default
//! store.store_schema("orders", {"type": "object"}, "1.0.0")
//! print(store.get_schema_info()["valid"])
//! ```
//!
//! Modules: `store` (the classes), `functions` (the module functions), `errors` (the
//! exception hierarchy), `convert` (Python ⇄ JSON), `runtime` (the tokio runtime and the
//! GIL), `wait` (`wait_for_schema`), `backend` (which crate a URL opens).

#![warn(missing_docs)]

mod backend;
mod convert;
mod errors;
mod functions;
mod runtime;
mod store;
mod wait;

use pyo3::prelude::*;

/// The `pycharter_rs` Python module.
#[pymodule]
fn pycharter_rs(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<store::Store>()?;
    module.add_class::<store::PostgresStore>()?;
    module.add_class::<store::SqliteStore>()?;
    module.add_class::<store::MemoryStore>()?;
    module.add_function(wrap_pyfunction!(functions::initialize_schema, module)?)?;
    module.add_function(wrap_pyfunction!(functions::validate_schema, module)?)?;
    errors::register(module)?;
    module.add("SCHEMA_VERSION", pycharter_core::SCHEMA_VERSION)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
