//! Which database a `db` command works on: the URL resolution rules, as a pure function of
//! the command line and the environment (so every rule is unit-tested without touching the
//! process environment).

use crate::args::{DATABASE_URL_ENV, GENERIC_DATABASE_URL_ENV};

/// The two environment variables that may name the database, as set (an empty value is
/// set: it is refused, not skipped).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Environment {
    /// `$PYCHARTER_DATABASE_URL`.
    pub pycharter: Option<String>,
    /// `$DATABASE_URL`.
    pub generic: Option<String>,
}

impl Environment {
    /// The variables of this process.
    pub fn read() -> Self {
        let var = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        Environment {
            pycharter: var(DATABASE_URL_ENV),
            generic: var(GENERIC_DATABASE_URL_ENV),
        }
    }
}

/// Where a URL was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The positional URL argument.
    Positional,
    /// `--database-url`.
    Flag,
    /// `$PYCHARTER_DATABASE_URL`.
    PycharterEnv,
    /// `$DATABASE_URL`.
    GenericEnv,
}

impl Source {
    /// What was blank, for the refusal's message.
    pub fn describe(self) -> String {
        match self {
            Source::Positional => "the URL argument is blank".into(),
            Source::Flag => "--database-url is blank".into(),
            Source::PycharterEnv => format!("${DATABASE_URL_ENV} is set but blank"),
            Source::GenericEnv => format!("${GENERIC_DATABASE_URL_ENV} is set but blank"),
        }
    }
}

/// What a `db` command works on.
#[derive(Debug, PartialEq, Eq)]
pub enum Database<'a> {
    /// This URL, named by the user.
    Url(&'a str),
    /// No URL given anywhere: [`crate::args::DEFAULT_DATABASE_URL`] (stderr says so).
    Default,
    /// No database: the migrations bundled in this binary.
    Bundled,
    /// A URL was given, empty or blank: refused, nothing is touched.
    Empty(Source),
}

/// Picks the database by precedence: the positional URL, else `--database-url`, else
/// `$PYCHARTER_DATABASE_URL`, else `$DATABASE_URL`; the first one *given* decides, and a
/// given but blank value is [`Database::Empty`] (a missing CI secret must not silently
/// become ./pycharter.db). Only when nothing is given anywhere: [`Database::Default`], or
/// for `history` (`lists_bundled`) what this binary ships, so it creates no file.
pub fn resolve_database<'a>(
    positional: Option<&'a str>,
    flag: Option<&'a str>,
    environment: &'a Environment,
    lists_bundled: bool,
) -> Database<'a> {
    let given = [
        (positional, Source::Positional),
        (flag, Source::Flag),
        (environment.pycharter.as_deref(), Source::PycharterEnv),
        (environment.generic.as_deref(), Source::GenericEnv),
    ]
    .into_iter()
    .find_map(|(value, source)| value.map(|url| (url, source)));
    match given {
        Some((url, source)) if url.trim().is_empty() => Database::Empty(source),
        Some((url, _)) => Database::Url(url),
        None if lists_bundled => Database::Bundled,
        None => Database::Default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POS: &str = "sqlite://positional.db";
    const FLAG: &str = "sqlite://flag.db";
    const PYCHARTER: &str = "sqlite://pycharter-env.db";
    const GENERIC: &str = "sqlite://database-url-env.db";

    fn env(pycharter: Option<&str>, generic: Option<&str>) -> Environment {
        Environment {
            pycharter: pycharter.map(String::from),
            generic: generic.map(String::from),
        }
    }

    #[test]
    fn nothing_given_anywhere_is_the_default_sqlite_file() {
        assert_eq!(
            resolve_database(None, None, &env(None, None), false),
            Database::Default
        );
    }

    #[test]
    fn precedence_is_positional_flag_pycharter_env_database_url_env() {
        let all = env(Some(PYCHARTER), Some(GENERIC));
        for lists_bundled in [false, true] {
            let resolve =
                |pos, flag, environment| resolve_database(pos, flag, environment, lists_bundled);
            assert_eq!(resolve(Some(POS), Some(FLAG), &all), Database::Url(POS));
            assert_eq!(resolve(None, Some(FLAG), &all), Database::Url(FLAG));
            assert_eq!(resolve(None, None, &all), Database::Url(PYCHARTER));
            assert_eq!(
                resolve(None, None, &env(None, Some(GENERIC))),
                Database::Url(GENERIC)
            );
        }
    }

    #[test]
    fn a_blank_url_given_anywhere_is_refused_not_defaulted() {
        let none = env(None, None);
        assert_eq!(
            resolve_database(Some(""), Some(FLAG), &none, false),
            Database::Empty(Source::Positional)
        );
        assert_eq!(
            resolve_database(None, Some("  "), &none, false),
            Database::Empty(Source::Flag)
        );
        // A missing CI secret: the variable is set, to nothing.
        assert_eq!(
            resolve_database(None, None, &env(Some(""), Some(GENERIC)), false),
            Database::Empty(Source::PycharterEnv)
        );
        assert_eq!(
            resolve_database(None, None, &env(None, Some(" \t")), true),
            Database::Empty(Source::GenericEnv)
        );
    }

    #[test]
    fn a_blank_source_below_a_given_url_does_not_matter() {
        assert_eq!(
            resolve_database(Some(POS), Some(""), &env(Some(""), Some("")), false),
            Database::Url(POS)
        );
    }

    #[test]
    fn history_with_nothing_given_lists_the_bundled_migrations() {
        assert_eq!(
            resolve_database(None, None, &env(None, None), true),
            Database::Bundled
        );
    }
}
