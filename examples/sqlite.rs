// examples/sqlite.rs: cargo run --example sqlite
// (DATABASE_URL=sqlite://PATH chooses the file; the default is ./pycharter-example.db)
//
// The embedded backend: one file, no server. The default options create the file and its
// tables, then check them.

use pycharter_core::prelude::*;
use pycharter_sqlite::{sqlx, SqliteMetadataStore};
use serde_json::json;
use std::error::Error;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let url = std::env::var("DATABASE_URL");
    let url = url.unwrap_or_else(|_| "sqlite://pycharter-example.db".into());
    match run(&url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str) -> Result<(), Box<dyn Error>> {
    let store = SqliteMetadataStore::new(url).await?;

    let schema = json!({"type": "object", "properties": {"id": {"type": "integer"}}});
    let id = store.store_schema("orders", "1.0.0", &schema).await?;
    let rules = json!({"id": "int"});
    store
        .store_coercion_rules("orders", "1.0.0", &rules)
        .await?;
    println!("orders 1.0.0 is schema {id} in {}", store.target());

    // What `pycharter db check` reports, from the library.
    println!("{}", store.validate().await?.message);

    // The pool is sqlx's, re-exported: queries of your own need no sqlx dependency.
    let count = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM schemas");
    let versions = count.fetch_one(store.pool()).await?;
    println!("{versions} schema version(s) in the file");
    Ok(())
}
