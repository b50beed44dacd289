//! The CLI against a real primary and streaming standby: a multi-host URL that lists the
//! standby first reaches the primary with `target_session_attrs=read-write`; pointed at the
//! standby alone, `check`, `current` and `history` work and say it is a standby, while a
//! migration is refused with the typed error (exit 2) and changes nothing.

mod common;

use common::*;
use pycharter_test_postgres::replication::{PairOptions, ReplicaPair};

#[test]
fn db_commands_through_a_standby_first_url_reach_the_primary() {
    let pair = ReplicaPair::start(PairOptions::default());
    block_on(pair.create_database("meta"));
    let hosts = [pair.standby().host_port(), pair.primary().host_port()];
    let url = pair.url(&hosts, "meta", "?target_session_attrs=read-write");

    let out = run(&["db", "check", &url]);
    assert_code(&out, 1);
    assert!(
        stdout(&out).contains("pycharter db init"),
        "{}",
        stdout(&out)
    );

    assert_code(&run(&["db", "init", &url]), 0);
    let out = run(&["db", "check", &url]);
    assert_code(&out, 0);
    assert!(!stdout(&out).contains(pair.password()));
    let info = json(&run(&["db", "check", &url, "--json"]));
    assert_eq!(info["valid"], true);
    assert_eq!(info["server_role"], "primary");
    let primary_url = pair.node_url(pair.primary(), "meta");
    assert_eq!(pg_versions(&primary_url).len(), postgres_migrations().len());
}

#[test]
fn on_a_standby_reads_work_and_say_so_and_migrations_are_refused() {
    let pair = ReplicaPair::start(PairOptions::default());
    block_on(pair.create_database("meta"));
    let primary = pair.node_url(pair.primary(), "meta");
    assert_code(&run(&["db", "init", &primary]), 0);
    block_on(pair.wait_replayed());
    let standby = pair.node_url(pair.standby(), "meta");

    let out = run(&["db", "check", &standby]);
    assert_code(&out, 0);
    assert!(
        stdout(&out).contains("read-only standby"),
        "{}",
        stdout(&out)
    );
    let info = json(&run(&["db", "check", &standby, "--json"]));
    assert_eq!(info["server_role"], "standby");
    assert_eq!(info["valid"], true);
    let out = run(&["db", "current", &standby]);
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("{}\n", pycharter_core::SCHEMA_VERSION),
        "stdout stays what scripts capture"
    );
    assert!(
        stderr(&out).contains("is a read-only standby"),
        "{}",
        stderr(&out)
    );
    let current = json(&run(&["db", "current", &standby, "--json"]));
    assert_eq!(current["server_role"], "standby");
    let out = run(&["db", "history", &standby]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("1.1.0"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("is a read-only standby"),
        "{}",
        stderr(&out)
    );
    let out = run(&["db", "current", &primary]);
    assert!(
        stderr(&out).is_empty(),
        "no note on the primary: {}",
        stderr(&out)
    );

    for args in [
        vec!["db", "downgrade", standby.as_str(), "--to", "1.0.0"],
        vec!["db", "init", standby.as_str(), "--force"],
    ] {
        let out = run(&args);
        assert_code(&out, 2);
        let err = stderr(&out);
        assert!(err.contains("is a read-only standby"), "{err}");
        assert!(err.contains("target_session_attrs=read-write"), "{err}");
        assert!(!err.contains(pair.password()), "{err}");
        let mut json_args = args.clone();
        json_args.push("--json");
        assert_eq!(json(&run(&json_args))["kind"], "read_only_server");
    }
    assert_eq!(pg_versions(&primary).len(), postgres_migrations().len());
}
