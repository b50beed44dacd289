//! Command-line parsing with clap's errors made safe: redacted, and as JSON under `--json`.

use crate::args::{Cli, DATABASE_URL_ENV, GENERIC_DATABASE_URL_ENV};
use crate::backend::safe_display;
use crate::failure::EXIT_CANNOT_RUN;
use crate::output::to_json;
use clap::Parser;
use serde_json::json;

/// Parses the process arguments. On `--help`, `--version` or a usage error, prints what clap
/// prints and returns the exit code (0 for help and version, 2 for usage errors).
pub fn parse() -> Result<Cli, u8> {
    let raw: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    Cli::try_parse_from(&raw).map_err(|err| report(&err, &raw))
}

fn report(err: &clap::Error, raw: &[String]) -> u8 {
    let code = u8::try_from(err.exit_code()).unwrap_or(EXIT_CANNOT_RUN);
    let secrets = secrets(raw);
    let json = err.use_stderr() && raw.iter().any(|a| a == "--json");
    if secrets.is_empty() && !json {
        // Nothing to hide: let clap print, with its colours.
        if err.print().is_err() {
            return EXIT_CANNOT_RUN;
        }
        return code;
    }
    let text = redact(&err.render().to_string(), &secrets);
    if err.use_stderr() {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    if json {
        let message = text
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ");
        print!("{}", to_json(&json!({"error": message, "kind": "usage"})));
    }
    code
}

/// Arguments (and the URL variables) that would print differently once redacted: clap may
/// echo any of them, e.g. `unexpected argument 'postgres://u:pw@h/db'`.
fn secrets(raw: &[String]) -> Vec<(String, String)> {
    raw.iter()
        .cloned()
        .chain(std::env::var(DATABASE_URL_ENV).ok())
        .chain(std::env::var(GENERIC_DATABASE_URL_ENV).ok())
        .filter_map(|arg| {
            let shown = safe_display(&arg);
            (shown != arg).then_some((arg, shown))
        })
        .collect()
}

fn redact(text: &str, secrets: &[(String, String)]) -> String {
    secrets.iter().fold(text.to_string(), |text, (raw, shown)| {
        text.replace(raw, shown)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_messages_are_redacted() {
        let raw = vec![
            "pycharter".to_string(),
            "db".into(),
            "check".into(),
            "sqlite://first.db".into(),
            "postgres://u:hunter2@h/db".into(),
        ];
        let err = Cli::try_parse_from(&raw).unwrap_err();
        let text = redact(&err.render().to_string(), &secrets(&raw));
        assert!(text.contains("postgres://u:***@h/db"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
