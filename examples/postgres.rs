// examples/postgres.rs: DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DATABASE \
//     cargo run --example postgres
//
// PostgreSQL with the default options, as PyCharter's: `connect` creates the tables when the
// database is empty (and migrates an older one), then refuses to start unless the schema is
// this build's. The database itself must exist (the error says how to create it).

use pycharter_core::prelude::*;
use pycharter_postgres::{sqlx, validate_schema, PostgresMetadataStore};
use serde_json::json;
use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("set DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DATABASE");
        return ExitCode::FAILURE;
    };
    match run(&url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Typed, with the fix and without the password, e.g. `Database "contracts"
            // does not exist on postgres://app:***@db:5432/contracts — create it, e.g. …`.
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str) -> Result<(), Box<dyn Error>> {
    let store = PostgresMetadataStore::new(url).await?;

    // Hand it to application code as the trait.
    let contracts: Arc<dyn MetadataStore> = Arc::new(store.clone());
    let schema = json!({"type": "object", "required": ["id"]});
    contracts.store_schema("orders", "1.0.0", &schema).await?;
    let latest = contracts.get_schema("orders", None).await?;
    let latest = latest.expect("stored above");
    println!("orders {} is schema {}", latest.version, latest.id);

    // The pool is sqlx's, re-exported (`pycharter_postgres::sqlx`, `PgPool`): PyCharter's
    // `validate_schema(pool)` and queries of your own need no sqlx dependency.
    let pool = store.pool();
    println!("{}", validate_schema(pool).await?.message);
    let count = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM schemas");
    println!("{} schema version(s) stored", count.fetch_one(pool).await?);
    Ok(())
}
