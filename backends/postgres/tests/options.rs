//! Connect options: the namespace (Postgres schema) the tables live in, the statement
//! timeout, and the free functions `initialize_schema` / `validate_schema` over a plain pool
//! (PyCharter's names for them).

mod common;

use pycharter_core::{ConnectOptions, MetadataStoreExt, SchemaManager, SchemaState};
use pycharter_postgres::{initialize_schema, validate_schema, PostgresMetadataStore};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn namespace_holds_every_table_even_with_an_awkward_name() {
    let url = common::fresh_url().await;
    let namespace = "Tenant \"A\" b";
    let options = ConnectOptions {
        namespace: Some(namespace.into()),
        ..ConnectOptions::default()
    };
    let store = PostgresMetadataStore::connect(&url, options)
        .await
        .expect("connect creates the namespace");
    store
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .expect("store");

    let tables = common::tables_in(&url, namespace).await;
    for table in ["schemas", "ownership", "pycharter_schema_version"] {
        assert!(tables.contains(&table.to_string()), "{tables:?}");
    }
    assert!(common::indexes_in(&url, namespace)
        .await
        .contains(&"idx_schemas_name_sort_key".to_string()));
    assert_eq!(
        common::tables_in(&url, "public").await,
        Vec::<String>::new()
    );

    // The default namespace of the same database is a separate, uninitialized schema.
    let public = PostgresMetadataStore::connect(&url, common::manual())
        .await
        .expect("connect");
    assert_eq!(
        public.validate().await.expect("validate").state,
        SchemaState::Uninitialized
    );
    assert!(store
        .get_schema("orders", Some("1.0.0"))
        .await
        .expect("get")
        .is_some());
}

#[tokio::test]
async fn statement_timeout_applies_to_every_pooled_connection() {
    let url = common::fresh_url().await;
    let options = ConnectOptions {
        statement_timeout: Some(Duration::from_millis(150)),
        ..ConnectOptions::default()
    };
    let store = PostgresMetadataStore::connect(&url, options)
        .await
        .expect("connect");
    let setting: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(store.pool())
        .await
        .expect("SHOW");
    assert_eq!(setting, "150ms");
    let err = sqlx::query("SELECT pg_sleep(2)")
        .execute(store.pool())
        .await
        .expect_err("cancelled by the statement timeout");
    let code = err
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("57014"), "{err}");
}

#[tokio::test]
async fn free_functions_initialize_and_validate_a_plain_pool() {
    let url = common::fresh_url().await;
    let pool = sqlx::PgPool::connect(&url).await.expect("pool");
    let before = validate_schema(&pool).await.expect("validate");
    assert_eq!(before.state, SchemaState::Uninitialized);
    let db_name = url::Url::parse(&url)
        .expect("url")
        .path()
        .trim_start_matches('/')
        .to_string();
    assert!(
        before.database.starts_with("postgres://"),
        "{}",
        before.database
    );
    assert!(before.database.ends_with(&db_name), "{}", before.database);

    let report = initialize_schema(&pool).await.expect("initialize");
    assert_eq!(
        report.steps.len(),
        PostgresMetadataStore::migrations().len()
    );
    let again = initialize_schema(&pool).await.expect("idempotent");
    assert!(again.steps.is_empty());
    let after = validate_schema(&pool).await.expect("validate");
    assert!(after.valid, "{}", after.message);
    let parsed = url::Url::parse(&url).expect("url");
    let password = parsed.password().expect("the test server uses passwords");
    assert!(!after.database.contains(password), "{}", after.database);
}
