//! Contract versions: semver with a byte-sortable key, so "latest" can be answered by an
//! index on any backend (B-tree order of the key == semver precedence).

use crate::error::{Error, Result};
use semver::{Prerelease, Version};
use std::fmt;
use std::str::FromStr;

/// Longest version string accepted; longer input is hostile, not a version.
pub const MAX_VERSION_LEN: usize = 128;

/// A validated semantic version of a data contract.
///
/// Build metadata (`1.0.0+build.5`) is **rejected**: semver gives `1.0.0+a` and `1.0.0+b`
/// the same precedence, so accepting both would make "the document of 1.0.0" ambiguous.
///
/// ```
/// use pycharter_core::ContractVersion;
/// let a: ContractVersion = "1.10.0".parse().unwrap();
/// let b: ContractVersion = "1.9.0".parse().unwrap();
/// assert!(a > b);
/// assert!(a.sort_key() > b.sort_key());
/// assert!("1.0.0+build".parse::<ContractVersion>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContractVersion(Version);

impl ContractVersion {
    /// Parses and validates a version string.
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidVersion {
            input: truncate_for_display(input),
            reason,
        };
        if input.len() > MAX_VERSION_LEN {
            return Err(invalid(format!("longer than {MAX_VERSION_LEN} bytes")));
        }
        let version = Version::parse(input).map_err(|e| invalid(semver_reason(input, &e)))?;
        if !version.build.is_empty() {
            return Err(invalid(
                "build metadata (+...) is not part of a contract version; drop it".into(),
            ));
        }
        Ok(ContractVersion(version))
    }

    /// The underlying `semver::Version`.
    pub fn as_semver(&self) -> &Version {
        &self.0
    }

    /// A string whose byte order equals semver precedence (for `ORDER BY ... DESC LIMIT 1`
    /// answered from an index; columns holding it must compare bytewise, e.g. `COLLATE "C"`).
    pub fn sort_key(&self) -> String {
        sort_key(&self.0)
    }
}

impl FromStr for ContractVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ContractVersion::parse(s)
    }
}

impl fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Compares with a version as text: `record.version == "1.2.0"`.
impl PartialEq<str> for ContractVersion {
    fn eq(&self, other: &str) -> bool {
        Version::parse(other).is_ok_and(|v| v == self.0)
    }
}

impl PartialEq<&str> for ContractVersion {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl From<ContractVersion> for Version {
    fn from(v: ContractVersion) -> Version {
        v.0
    }
}

impl serde::Serialize for ContractVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for ContractVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ContractVersion::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why `input` is not a semantic version, in words that name the fix. The semver crate
/// reports a missing part as e.g. "unexpected end of input while parsing minor version
/// number"; a person wants the form and an example built from what they typed.
pub(crate) fn semver_reason(input: &str, err: &semver::Error) -> String {
    if let Some(example) = completed(input) {
        return format!("expected MAJOR.MINOR.PATCH, e.g. {example}");
    }
    if let Some(rest) = input.strip_prefix(['v', 'V']) {
        if Version::parse(rest).is_ok() {
            return format!("a leading \"v\" is not part of a semantic version, e.g. {rest}");
        }
    }
    err.to_string()
}

/// `input` with its missing MINOR / PATCH filled in with zeros (`1.2` → `1.2.0`,
/// `1-rc.1` → `1.0.0-rc.1`), when what it has are numbers; None otherwise.
fn completed(input: &str) -> Option<String> {
    let without_build = input.split('+').next().unwrap_or(input);
    let (numbers, prerelease) = match without_build.split_once('-') {
        Some((numbers, pre)) => (numbers, Some(pre)),
        None => (without_build, None),
    };
    let parts: Vec<u64> = numbers
        .split('.')
        .map(|part| {
            let digits = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| part.parse().ok()).flatten()
        })
        .collect::<Option<_>>()?;
    if parts.len() >= 3 {
        return None;
    }
    let mut example: Vec<String> = parts.iter().map(u64::to_string).collect();
    example.resize(3, "0".to_string());
    let mut example = example.join(".");
    if let Some(pre) = prerelease {
        example.push('-');
        example.push_str(pre);
    }
    Some(example)
}

/// Encodes `version` so that bytewise comparison of keys is semver precedence.
///
/// Layout: three 20-digit numbers, then `~` for a release (sorts after every pre-release),
/// or `-` followed by the pre-release identifiers separated by `!` (lower than any identifier
/// byte, so fewer identifiers sort first). Numeric identifiers are `0` + 2-digit length +
/// digits (numeric order, and below alphanumerics); alphanumeric ones are `1` + the text.
fn sort_key(version: &Version) -> String {
    let mut key = format!(
        "{:020}.{:020}.{:020}",
        version.major, version.minor, version.patch
    );
    if version.pre.is_empty() {
        key.push('~');
    } else {
        key.push('-');
        push_prerelease(&mut key, &version.pre);
    }
    key
}

fn push_prerelease(key: &mut String, pre: &Prerelease) {
    for (i, ident) in pre.as_str().split('.').enumerate() {
        if i > 0 {
            key.push('!');
        }
        if !ident.is_empty() && ident.bytes().all(|b| b.is_ascii_digit()) {
            key.push('0');
            key.push_str(&format!("{:02}", ident.len()));
            key.push_str(ident);
        } else {
            key.push('1');
            key.push_str(ident);
        }
    }
}

/// Shortens hostile input before it is echoed in an error message.
pub(crate) fn truncate_for_display(input: &str) -> String {
    const SHOWN: usize = 64;
    if input.chars().count() <= SHOWN {
        input.to_string()
    } else {
        let head: String = input.chars().take(SHOWN).collect();
        format!("{head}… ({} bytes)", input.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("1.10.0", "1.9.0")]
    #[case("1.0.0", "1.0.0-rc.1")]
    #[case("1.0.0-rc.1", "1.0.0-beta.11")]
    #[case("1.0.0-beta.11", "1.0.0-beta.2")]
    #[case("1.0.0-beta", "1.0.0-alpha.1")]
    #[case("1.0.0-alpha.1", "1.0.0-alpha")]
    #[case("1.0.0-alpha.beta", "1.0.0-alpha.1")]
    #[case("1.0.0-alpha-b", "1.0.0-alpha")]
    #[case("1.0.0-alphab", "1.0.0-alpha.z")]
    #[case("2.0.0", "1.999999.999999")]
    #[case("10.0.0", "9.0.0")]
    fn sort_key_follows_semver_precedence(#[case] higher: &str, #[case] lower: &str) {
        let (h, l) = (
            ContractVersion::parse(higher).unwrap(),
            ContractVersion::parse(lower).unwrap(),
        );
        assert!(h > l, "semver: {higher} > {lower}");
        assert!(h.sort_key() > l.sort_key(), "key: {higher} > {lower}");
    }

    #[rstest]
    #[case("1.0")]
    #[case("v1.0.0")]
    #[case("01.0.0")]
    #[case("")]
    #[case("1.0.0+build.1")]
    #[case("1.0.0\0")]
    fn rejects_invalid_versions(#[case] input: &str) {
        assert!(matches!(
            ContractVersion::parse(input),
            Err(Error::InvalidVersion { .. })
        ));
    }

    #[rstest]
    #[case("1.2", "1.2.0")]
    #[case("1", "1.0.0")]
    #[case("1.2-rc.1", "1.2.0-rc.1")]
    #[case("01.2", "1.2.0")]
    fn a_missing_part_names_the_form_and_an_example(#[case] input: &str, #[case] example: &str) {
        let err = ContractVersion::parse(input).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Invalid version {input:?}: expected MAJOR.MINOR.PATCH, e.g. {example} \
                 — use a semantic version such as 1.2.3 or 1.2.3-rc.1"
            )
        );
    }

    #[test]
    fn a_leading_v_is_named() {
        let err = ContractVersion::parse("v1.2.3").unwrap_err();
        assert!(
            err.to_string()
                .contains("a leading \"v\" is not part of a semantic version, e.g. 1.2.3"),
            "{err}"
        );
    }

    #[test]
    fn rejects_overlong_versions_with_truncated_echo() {
        let long = format!("1.0.0-{}", "a".repeat(500));
        let err = ContractVersion::parse(&long).unwrap_err();
        assert!(err.to_string().len() < 400, "{err}");
    }
}
