//! The CLI over verified TLS on a real server (certificates generated at test time): the
//! URL's `sslmode=verify-full&sslrootcert=…` reach the driver, `db init` and `db check`
//! work, and a wrong CA fails as `tls` with the "cannot run" exit code.

mod common;

use common::*;
use pycharter_test_postgres::tls::{Certificates, ServerCertificate, TlsServer};

#[test]
fn db_check_over_verified_tls() {
    let certs = Certificates::generate();
    let server = TlsServer::start(&certs, ServerCertificate::Valid);
    let verified = server.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", certs.ca().display()),
    );
    assert_code(&run(&["db", "init", &verified]), 0);
    let out = run(&["db", "check", &verified, "--json"]);
    assert_code(&out, 0);
    assert_eq!(json(&out)["valid"], true);

    let wrong_ca = server.url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            certs.other_ca().display()
        ),
    );
    let out = run(&["db", "check", &wrong_ca, "--json"]);
    assert_code(&out, 2);
    assert_eq!(json(&out)["kind"], "tls");
    let err = stderr(&out);
    assert!(err.contains("(wrong CA)"), "{err}");
    assert!(!err.contains(server.password()), "{err}");
}
