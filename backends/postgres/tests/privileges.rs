//! Least privilege on a real server: a role that may not change the layout gets
//! `InsufficientPrivilege` naming the deploy role when it tries (upgrade, or connect's
//! auto-initialize on an outdated database), and `application_grants` are exactly enough for
//! every store operation — the store part of the conformance suite runs through such a role.

mod common;

use async_trait::async_trait;
use common::{manual, version_rows};
use pycharter_conformance::{BackendHarness, Damage, HeldLock};
use pycharter_core::prelude::*;
use pycharter_core::{BundledMigration, ConnectOptions, Error, Privilege, Result, UpgradeOptions};
use pycharter_postgres::{application_grants, PostgresMetadataStore, DEFAULT_NAMESPACE};
use pycharter_test_postgres::roles::{login_role, TestRole};
use pycharter_test_postgres::{fresh_database, TestDatabase};
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection as _};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

const DEPLOY_FIX: &str =
    "run migrations with the deploy role: pycharter db upgrade <migration-role URL>";

/// A database migrated by its owner to `to` (None: this build's newest), and an application
/// role with exactly `application_grants` on it.
async fn app_role_on(to: Option<&str>) -> (TestDatabase, TestRole) {
    let db = fresh_database().await;
    let owner = PostgresMetadataStore::connect(&db.url, manual())
        .await
        .expect("connect as the owner");
    owner
        .upgrade(UpgradeOptions {
            to: to.map(|v| semver::Version::parse(v).expect("a version")),
            dry_run: false,
        })
        .await
        .expect("migrate as the owner");
    owner.close().await;
    let role = format!("{}_app", db.name);
    let grants = application_grants(&role, Some(&db.name), DEFAULT_NAMESPACE);
    let app = login_role(&db, &grants).await;
    assert_eq!(app.name, role);
    (db, app)
}

fn assert_deploy_fix(err: &Error, role: &str) {
    assert!(
        matches!(err, Error::InsufficientPrivilege { role: r, privilege: Privilege::Migrate, .. } if r == role),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "role {role:?} may not create tables in (or use) schema public on postgres://{role}:***@"
        )),
        "{message}"
    );
    assert!(message.ends_with(DEPLOY_FIX), "{message}");
    assert!(!message.contains("db check"), "{message}");
    assert!(!message.contains("SQLSTATE"), "{message}");
}

#[tokio::test]
async fn upgrade_as_the_application_role_names_the_deploy_role_and_changes_nothing() {
    let (db, app) = app_role_on(Some("1.0.0")).await;
    let store = PostgresMetadataStore::connect(&app.url, manual())
        .await
        .expect("the application role connects");
    let err = store
        .upgrade(UpgradeOptions::default())
        .await
        .expect_err("the application role may not migrate");
    assert_deploy_fix(&err, &app.name);
    store.close().await;
    assert_eq!(version_rows(&db.url).await, ["1.0.0"]);
}

#[tokio::test]
async fn connect_with_auto_initialize_as_the_application_role_on_an_outdated_database_names_the_deploy_role(
) {
    let (db, app) = app_role_on(Some("1.0.0")).await;
    let err = PostgresMetadataStore::connect(&app.url, ConnectOptions::default())
        .await
        .expect_err("auto-initialize needs the deploy role");
    assert_deploy_fix(&err, &app.name);
    assert_eq!(version_rows(&db.url).await, ["1.0.0"]);
}

#[tokio::test]
async fn connect_with_the_defaults_as_the_application_role_on_a_current_database_works() {
    let (_db, app) = app_role_on(None).await;
    let store = PostgresMetadataStore::connect(&app.url, ConnectOptions::default())
        .await
        .expect("nothing to migrate: the application role suffices");
    store
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .expect("write");
    store.close().await;
}

#[tokio::test]
async fn a_role_without_the_data_grants_is_told_to_grant_them() {
    let db = fresh_database().await;
    PostgresMetadataStore::new(&db.url)
        .await
        .expect("initialize as the owner")
        .close()
        .await;
    let role = format!("{}_app", db.name);
    // Only what validation needs: reads work, writes are refused.
    let grants = [
        format!("GRANT USAGE ON SCHEMA public TO \"{role}\""),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{role}\""),
    ];
    let app = login_role(&db, &grants).await;
    let store = PostgresMetadataStore::connect(&app.url, ConnectOptions::default())
        .await
        .expect("validation needs only SELECT");
    let err = store
        .store_schema("orders", "1.0.0", &json!({"type": "object"}))
        .await
        .expect_err("no INSERT right");
    assert!(
        matches!(&err, Error::InsufficientPrivilege { privilege: Privilege::Data, right, .. } if right == "read or write table schemas"),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "grant the role its rights: pycharter db grants --role {role} postgres://{role}:***@"
        )),
        "{message}"
    );
    store.close().await;
}

/// The store part of the conformance suite through an application role with exactly
/// `application_grants`: each database is migrated by its owner, then opened as the role with
/// validation only (never auto-initialize). Inspection behind the library's back
/// (`row_count`, `objects`) runs as the owner.
#[derive(Default)]
struct ApplicationRoleHarness {
    /// Owner URL by application-role URL.
    owners: Mutex<HashMap<String, String>>,
}

impl ApplicationRoleHarness {
    fn owner(&self, database: &str) -> String {
        self.owners.lock().expect("owners")[database].clone()
    }

    async fn owner_connection(&self, database: &str) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.owner(database))
            .await
            .expect("connect as the owner")
    }
}

#[async_trait]
impl BackendHarness for ApplicationRoleHarness {
    type Store = PostgresMetadataStore;

    async fn new_database(&self) -> String {
        let (db, app) = app_role_on(None).await;
        self.owners
            .lock()
            .expect("owners")
            .insert(app.url.clone(), db.url);
        app.url
    }

    async fn open(&self, database: &str, options: ConnectOptions) -> Result<Self::Store> {
        let options = ConnectOptions {
            auto_initialize: false,
            ..options
        };
        PostgresMetadataStore::connect(database, options).await
    }

    async fn damage(&self, _database: &str, damage: Damage<'_>) {
        panic!("the store cases damage nothing (asked for {damage:?})")
    }

    async fn row_count(&self, database: &str) -> u64 {
        let counts: Vec<String> = ArtifactKind::ALL
            .iter()
            .map(|kind| format!("(SELECT count(*) FROM {})", kind.table()))
            .collect();
        let sql = format!("SELECT {}", counts.join(" + "));
        let mut conn = self.owner_connection(database).await;
        let rows: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .expect("count rows");
        u64::try_from(rows).expect("a count is not negative")
    }

    async fn objects(&self, database: &str) -> BTreeSet<String> {
        let mut conn = self.owner_connection(database).await;
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
             UNION ALL SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("read the catalog");
        names.into_iter().collect()
    }

    async fn hold_migration_lock(&self, _database: &str) -> HeldLock {
        panic!("the store cases take no migration lock")
    }

    async fn open_with_migrations(
        &self,
        _database: &str,
        _options: ConnectOptions,
        _migrations: Vec<BundledMigration>,
    ) -> Result<Self::Store> {
        panic!("the store cases open no other build")
    }
}

/// Every store case, as the application role.
mod through_the_application_role {
    use super::ApplicationRoleHarness;

    pycharter_conformance::conformance_suite!(@store ApplicationRoleHarness::default());
}
