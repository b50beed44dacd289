//! The `pycharter-test-postgres` binary, where the Python tests get their databases: one
//! fresh, empty, connectable database per `database` line, and an exit when its input ends.
//! (Being an integration test also makes `cargo test --workspace` build the binary, so
//! scripts/test-python.sh finds it without compiling anything.)

use sqlx::{Connection, PgConnection, Row};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[tokio::test]
async fn serves_fresh_empty_databases_until_its_input_ends() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_pycharter-test-postgres"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut input = server.stdin.take().expect("piped stdin");
    let mut output = BufReader::new(server.stdout.take().expect("piped stdout"));
    let mut ask = |command: &str| {
        writeln!(input, "{command}").expect("write a command");
        input.flush().expect("flush");
        let mut answer = String::new();
        output.read_line(&mut answer).expect("read an answer");
        answer.trim().to_string()
    };

    let first = ask("database");
    let second = ask("database");
    let unknown = ask("tables please");
    let admin = ask("admin");

    assert_ne!(first, second, "each database is a new one");
    for url in [&first, &second] {
        let mut conn = PgConnection::connect(url).await.expect("the URL connects");
        let row = sqlx::query(
            "SELECT current_database() AS name, \
             (SELECT count(*) FROM pg_tables WHERE schemaname = 'public') AS tables",
        )
        .fetch_one(&mut conn)
        .await
        .expect("query");
        let name: String = row.get("name");
        let tables: i64 = row.get("tables");
        assert!(url.ends_with(&format!("/{name}")), "{url} names {name}");
        assert_eq!(tables, 0, "fresh and empty");
        conn.close().await.expect("close");
    }
    assert!(unknown.starts_with("error: unknown command"), "{unknown}");
    assert!(admin.ends_with("/postgres"), "{admin}");

    drop(input);
    let status = server.wait().expect("the binary exits");
    assert!(status.success(), "exits cleanly at end of input: {status}");
}
