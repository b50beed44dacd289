//! Login roles for least-privilege tests: a role of its own per test database, with only the
//! rights the test grants it.

use crate::system::random_u64;
use crate::TestDatabase;
use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection as _, Executor as _};

/// A login role on the test server and the URL of a test database as that role.
#[derive(Clone, PartialEq, Eq)]
pub struct TestRole {
    /// Role name (`<database>_app`).
    pub name: String,
    /// URL of the database, logged in as this role (password included).
    pub url: String,
}

// Hand-written: the URL holds the role's password.
impl std::fmt::Debug for TestRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRole")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Creates the login role `<database>_app` with a random password, which may connect to
/// `database` and nothing else yet: `CREATE` on schema `public` is revoked from `PUBLIC` in
/// that database (PostgreSQL 15's default; older servers granted it to everyone). Then runs
/// `grants` there as the superuser (statements naming the role), and returns the role.
///
/// # Panics
///
/// When a statement fails: the test cannot run without its role.
pub async fn login_role(database: &TestDatabase, grants: &[String]) -> TestRole {
    let name = format!("{}_app", database.name);
    let password = format!("pw{:016x}", random_u64());
    let mut admin = PgConnection::connect(&database.url)
        .await
        .expect("connect as the test superuser");
    // Generated names and passwords only: nothing here comes from outside the harness.
    let setup = [
        format!("CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'"),
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_string(),
    ];
    for statement in setup.iter().chain(grants) {
        admin
            .execute(AssertSqlSafe(statement.as_str()))
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    admin.close().await.expect("close the admin connection");
    let mut url = url::Url::parse(&database.url).expect("the test database URL parses");
    url.set_username(&name).expect("a URL with a host");
    url.set_password(Some(&password))
        .expect("a URL with a host");
    TestRole {
        name,
        url: url.to_string(),
    }
}
