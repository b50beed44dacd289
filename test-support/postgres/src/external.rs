//! The external server named by `PYCHARTER_TEST_DATABASE_URL`.

use std::str::FromStr as _;

use sqlx::postgres::PgConnectOptions;

use super::{TestServer, TEST_DATABASE_URL_ENV};

pub(super) fn external_server(raw: &str) -> TestServer {
    let invalid = |why: String| -> ! {
        panic!(
            "{TEST_DATABASE_URL_ENV} is not a valid PostgreSQL URL ({why}); expected \
             postgres://user:password@host:port/postgres"
        )
    };
    let mut url = url::Url::parse(raw).unwrap_or_else(|error| invalid(error.to_string()));
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        invalid(format!("scheme is {:?}", url.scheme()));
    }
    let options =
        PgConnectOptions::from_str(raw).unwrap_or_else(|error| invalid(error.to_string()));
    let password = url
        .password()
        .map(percent_decode)
        .transpose()
        .unwrap_or_else(|why| invalid(why))
        .unwrap_or_default();
    url.set_path("/postgres");
    url.set_fragment(None);
    TestServer {
        host: options.get_host().to_owned(),
        port: options.get_port(),
        user: options.get_username().to_owned(),
        password,
        admin_url: url.to_string(),
        base_url: url,
        bin_dir: None,
        data_dir: None,
    }
}

/// Decodes `%XX` escapes (URL user-info encoding; `+` stays `+`).
pub(super) fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "password is not UTF-8 after percent-decoding".to_owned())
}
