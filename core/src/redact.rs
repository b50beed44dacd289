//! Passwords never leave the process: every URL shown to a user goes through [`redact_url`].

/// The URL with its password replaced by `***` (also for URLs that do not parse).
///
/// ```
/// use pycharter_core::redact_url;
/// assert_eq!(redact_url("postgres://app:s3cret@db:5432/meta"), "postgres://app:***@db:5432/meta");
/// assert_eq!(redact_url("sqlite://pycharter.db"), "sqlite://pycharter.db");
/// assert!(!redact_url("postgres://u:p@ss:w@rd@h/db").contains("ss:w"));
/// ```
pub fn redact_url(raw: &str) -> String {
    // Split by hand rather than with a URL parser: malformed URLs must be redacted too, and
    // a parser that rejects them would leave nothing safe to print.
    let Some(scheme_end) = raw.find("://") else {
        return raw.to_string();
    };
    let authority_start = scheme_end + 3;
    let rest = &raw[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let Some(at) = authority.rfind('@') else {
        return redact_query_password(raw);
    };
    let userinfo = &authority[..at];
    let user = match userinfo.find(':') {
        Some(colon) => format!("{}:***", &userinfo[..colon]),
        None => userinfo.to_string(),
    };
    let redacted = format!("{}{}{}", &raw[..authority_start], user, &rest[at..]);
    redact_query_password(&redacted)
}

/// `?password=...` is accepted by libpq-style URLs too.
fn redact_query_password(url: &str) -> String {
    let Some(q) = url.find('?') else {
        return url.to_string();
    };
    let (head, query) = url.split_at(q + 1);
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{head}{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_every_password_form() {
        let cases = [
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("postgresql://u@h/db", "postgresql://u@h/db"),
            (
                "postgres://u:pw@h/db?password=pw2&sslmode=require",
                "postgres://u:***@h/db?password=***&sslmode=require",
            ),
            ("postgres://u:p%40ss@h", "postgres://u:***@h"),
            ("not a url", "not a url"),
            ("postgres://u:pw@@h:bad/db", "postgres://u:***@h:bad/db"),
        ];
        for (raw, want) in cases {
            assert_eq!(redact_url(raw), want, "{raw}");
        }
    }
}
