use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Executor as _};

use super::external::percent_decode;
use super::{fresh_database, test_server, TEST_DATABASE_URL_ENV};

async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect(url).await
}

#[tokio::test]
async fn server_starts_and_answers_on_a_fresh_database() {
    let db = fresh_database().await;
    let mut connection = connect(&db.url)
        .await
        .expect("connect to the fresh database");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut connection)
        .await
        .expect("SELECT 1");
    assert_eq!(one, 1);
    let current: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut connection)
        .await
        .expect("current_database()");
    assert_eq!(current, db.name);
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut connection)
    .await
    .expect("count tables");
    assert_eq!(tables, 0, "a fresh database is empty");
    connection.close().await.expect("close");
}

#[tokio::test]
async fn two_fresh_databases_are_distinct_and_reachable() {
    let a = fresh_database().await;
    let b = fresh_database().await;
    assert_ne!(a.name, b.name);
    assert_ne!(a.url, b.url);

    let mut conn_a = connect(&a.url).await.expect("connect to a");
    let mut conn_b = connect(&b.url).await.expect("connect to b");
    conn_a
        .execute("CREATE TABLE only_in_a (x int)")
        .await
        .expect("create table in a");
    let in_b: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'",
    )
    .fetch_one(&mut conn_b)
    .await
    .expect("query b");
    assert_eq!(in_b, 0, "databases are isolated");
    let name_b: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut conn_b)
        .await
        .expect("current_database() on b");
    assert_eq!(name_b, b.name);
}

#[tokio::test]
async fn wrong_password_is_rejected() {
    let db = fresh_database().await;
    let server = test_server();
    let wrong = server.password().to_owned() + "-wrong";
    let mut url = url::Url::parse(&db.url).expect("parse db url");
    url.set_password(Some(&wrong)).expect("set password");
    let error = connect(url.as_str())
        .await
        .expect_err("connecting with a wrong password must fail");
    let code = error
        .as_database_error()
        .and_then(|e| e.code().map(|c| c.into_owned()));
    // 28P01 invalid_password; 28000 invalid_authorization_specification.
    assert!(
        matches!(code.as_deref(), Some("28P01") | Some("28000")),
        "expected an authentication error, got {error:?}"
    );
    // The right password still works.
    connect(&db.url).await.expect("correct password connects");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_fresh_databases() {
    let handles: Vec<_> = (0..8).map(|_| tokio::spawn(fresh_database())).collect();
    let mut names = std::collections::HashSet::new();
    for handle in handles {
        let db = handle.await.expect("task");
        assert!(names.insert(db.name));
    }
    assert_eq!(names.len(), 8);
}

#[test]
fn accessors_are_consistent() {
    let server = test_server();
    let url = url::Url::parse(&server.url_for("some_db")).expect("parse");
    assert_eq!(url.path(), "/some_db");
    assert_eq!(url.port(), Some(server.port()));
    assert_eq!(url.username(), server.user());
    let admin = url::Url::parse(server.admin_url()).expect("parse admin url");
    assert_eq!(admin.path(), "/postgres");
    assert_eq!(
        admin.password().map(percent_decode),
        Some(Ok(server.password().to_owned()))
    );
    assert!(!format!("{server:?}").contains(server.password()) || server.password().is_empty());
    if std::env::var_os(TEST_DATABASE_URL_ENV).is_none() {
        assert_eq!(server.host(), "127.0.0.1");
        assert!(server.bin_dir().is_some_and(|d| d.join("pg_ctl").exists()));
        assert!(server
            .data_dir()
            .is_some_and(|d| d.join("PG_VERSION").exists()));
    }
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("a%40b%2Fc+d").as_deref(), Ok("a@b/c+d"));
    assert!(percent_decode("bad%4").is_err());
}
