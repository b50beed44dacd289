//! Round trips and statements of the Postgres backend, counted by a protocol proxy
//! ([`pycharter_benches::proxy`]): validation on connect is **one** round trip, and storing
//! or reading a schema is one statement.
//!
//! `#[tokio::test]` runs on a current-thread runtime, which [`measure_postgres`] needs to
//! tell awaited messages from sqlx's background pings.

use pycharter_benches::round_trips::measure_postgres;

#[tokio::test]
async fn postgres_round_trips() {
    let report = measure_postgres().await;
    let table = report.to_markdown();

    let connect = report.get("connect()");
    assert_eq!(
        (connect.awaited.queries, connect.awaited.syncs, connect.awaited.parses),
        (1, 0, 0),
        "connect() to a valid database must validate with one simple query, one round trip:\n{table}"
    );
    assert_eq!(connect.total.statements(), 1, "{table}");

    for operation in ["store_schema", "get_schema latest"] {
        for run in ["first", "second"] {
            let m = report.get(&format!("{operation} ({run})"));
            assert_eq!(
                m.total.statements(),
                1,
                "{operation} ({run}): one statement\n{table}"
            );
        }
        // Once sqlx has the statement prepared: the statement's round trip, plus at most the
        // pool's liveness ping when the connection is taken from the pool.
        let warm = report.get(&format!("{operation} (second)"));
        assert_eq!(warm.total.parses, 0, "{operation}: prepared once\n{table}");
        assert!(warm.awaited.round_trips() <= 2, "{operation}:\n{table}");
    }

    let validate = report.get("validate()");
    assert_eq!(
        (validate.total.statements(), validate.awaited.queries),
        (1, 1),
        "validate() is one catalog query:\n{table}"
    );
}
