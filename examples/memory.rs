// examples/memory.rs: cargo run --example memory
//
// The in-memory backend: the rules of the real backends without a database, what unit tests
// use. Stores versions of a contract, attaches ownership, and shows two refusals.

use pycharter_core::prelude::*;
use pycharter_core::Result;
use pycharter_memory::MemoryMetadataStore;
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    // Application code takes the trait; any backend fits.
    let store: Arc<dyn MetadataStore> = Arc::new(MemoryMetadataStore::new());

    // "Latest" is semver precedence: 1.10.0 is newer than 1.9.0.
    for version in ["1.9.0", "1.10.0"] {
        let schema = json!({"type": "object", "title": format!("orders {version}")});
        store.store_schema("orders", version, &schema).await?;
    }
    let latest = store.get_schema("orders", None).await?;
    let latest = latest.expect("stored above");
    println!(
        "latest orders schema: {} (id {})",
        latest.version, latest.id
    );

    // A record's version is typed: pass it back as is to attach the other kinds.
    let owner = json!({"owner": "team-orders"});
    store
        .store_ownership("orders", &latest.version, &owner)
        .await?;
    let found = store.get_ownership("orders", &latest.version).await?;
    println!(
        "owned by {}",
        found.expect("stored above").document["owner"]
    );

    // Versions are immutable: another document under 1.10.0 is refused, naming the fix.
    let other = json!({"type": "array"});
    let refused = store.store_schema("orders", "1.10.0", &other).await;
    println!("{}", refused.expect_err("versions are immutable"));

    // Input errors say what is wrong: `1.2` lacks its patch number.
    let refused = store.store_schema("orders", "1.2", &other).await;
    println!("{}", refused.expect_err("not a semantic version"));
    Ok(())
}
