//! Two roles on a real server: `pycharter db grants` prints the application role's rights
//! (applied here to a fresh role, which can then check and write but not migrate), and a
//! migration run as that role fails with `insufficient_privilege`, naming the deploy role —
//! never a raw SQL error, never "run db check".

mod common;

use common::*;
use pycharter_test_postgres::roles::login_role;

#[test]
fn grants_print_the_statements_core_derives_and_json_carries_them() {
    let db = pg_database();
    let role = "app";
    let out = run(&["db", "grants", "--role", role, &db.url]);
    assert_code(&out, 0);
    let text = stdout(&out);
    let mut lines = text.lines();
    assert!(lines.next().expect("a header").starts_with("-- "), "{text}");
    let printed: Vec<&str> = lines.collect();
    let expected = pycharter_postgres::application_grants(
        role,
        Some(&db.name),
        pycharter_postgres::DEFAULT_NAMESPACE,
    );
    assert_eq!(printed, expected);
    assert!(
        !text.contains(&db.url),
        "the URL's password stays out of the output"
    );

    let value = json(&run(&[
        "db",
        "grants",
        "--role",
        role,
        "--namespace",
        "contracts",
        "--json",
    ]));
    assert_eq!(value["role"], role);
    assert!(value["database"].is_null(), "no URL, no CONNECT: {value}");
    assert_eq!(value["namespace"], "contracts");
    let statements = value["statements"].as_array().expect("statements");
    assert_eq!(
        statements[0],
        r#"GRANT USAGE ON SCHEMA "contracts" TO "app";"#
    );

    let out = run(&["db", "grants", "--role", role, "sqlite://meta.db", "--json"]);
    assert_code(&out, 1);
    assert_eq!(json(&out)["kind"], "invalid_request");
    assert!(
        stderr(&out).contains("only PostgreSQL has roles"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_printed_grants_let_the_application_role_check_but_not_migrate() {
    let db = pg_database();
    assert_code(&run(&["db", "upgrade", &db.url, "--to", VERSIONS[0]]), 0);
    let role = format!("{}_app", db.name);
    let printed = stdout(&run(&["db", "grants", "--role", &role, &db.url]));
    let statements: Vec<String> = printed
        .lines()
        .filter(|line| !line.starts_with("--"))
        .map(String::from)
        .collect();
    let app = block_on(login_role(&db, &statements));

    // Checking is reading: the role may.
    let out = run(&["db", "check", &app.url, "--json"]);
    assert_code(&out, 1);
    assert_eq!(json(&out)["pending"][0], VERSIONS[1]);

    // Migrating is the deploy role's job.
    let out = run(&["db", "upgrade", &app.url]);
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("error: role {role:?} may not create tables in (or use) schema public on postgres://{role}:***@")),
        "{err}"
    );
    assert!(
        err.trim_end().ends_with(
            "run migrations with the deploy role: pycharter db upgrade <migration-role URL>"
        ),
        "{err}"
    );
    assert!(
        !err.contains("db check") && !err.contains("SQLSTATE"),
        "{err}"
    );
    let out = run(&["db", "upgrade", &app.url, "--json"]);
    assert_code(&out, 1);
    assert_eq!(json(&out)["kind"], "insufficient_privilege");
    assert_eq!(pg_versions(&db.url), [VERSIONS[0]]);

    // The deploy role migrates; then the application role's check passes.
    assert_code(&run(&["db", "upgrade", &db.url]), 0);
    assert_code(&run(&["db", "check", &app.url]), 0);
}
