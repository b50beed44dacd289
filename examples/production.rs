// examples/production.rs: DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DATABASE \
//     cargo run --example production
//
// The production pattern, as PyCharter recommends it: the deploy step migrates, the
// application only checks. Two processes in production; one program here, in their order.

use pycharter_core::{ConnectOptions, Error, SchemaManager, UpgradeOptions};
use pycharter_postgres::PostgresMetadataStore;
use std::process::ExitCode;

/// The deploy step (a CI job, an init container, a release hook). The CLI does the same:
/// `pycharter db upgrade "$DATABASE_URL"`.
async fn deploy(url: &str) -> Result<(), Error> {
    let touch_nothing = ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: false,
        ..ConnectOptions::default()
    };
    let store = PostgresMetadataStore::connect(url, touch_nothing).await?;
    let report = store.upgrade(UpgradeOptions::default()).await?;
    println!("deploy: {}", report.message);
    Ok(())
}

/// The application: never migrates; refuses to start unless the schema is this build's.
async fn connect_app(url: &str) -> Result<PostgresMetadataStore, Error> {
    let validate_only = ConnectOptions {
        auto_initialize: false,
        validate_schema_on_connect: true,
        ..ConnectOptions::default()
    };
    PostgresMetadataStore::connect(url, validate_only).await
}

#[tokio::main]
async fn main() -> ExitCode {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("set DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/DATABASE");
        return ExitCode::FAILURE;
    };
    // On an empty (or older) database the application refuses to start, naming the fix:
    // `Schema not initialized in postgres://app:***@db/contracts — run: pycharter db init …`.
    match connect_app(&url).await {
        Ok(_) => println!("app: the schema is already this build's"),
        Err(err) if err.is_schema_state() => println!("app, before the deploy step: {err}"),
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    }
    let started = async {
        deploy(&url).await?;
        connect_app(&url).await
    };
    match started.await {
        Ok(store) => {
            println!("app: connected to {}", store.target());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}
