//! libpq's multi-host connection strings, which sqlx does not parse:
//! `postgres://app@db1:5432,db2:5432/meta?target_session_attrs=read-write`, or the same hosts
//! as `?host=db1,db2&port=5432,5432`. This module only splits such a URL into the host list,
//! the `target_session_attrs` and a single-host URL that sqlx can parse for everything else
//! (user, password, database, TLS, options); `connector` does the connecting.

use percent_encoding::percent_decode_str;
use std::fmt;

/// Which server of a multi-host URL a connection may use: libpq's `target_session_attrs`,
/// with libpq's meaning. Hosts are tried in the order the URL lists them.
///
/// ```
/// use pycharter_postgres::TargetSessionAttrs;
/// let attrs: TargetSessionAttrs = "read-write".parse().unwrap();
/// assert_eq!(attrs, TargetSessionAttrs::ReadWrite);
/// assert_eq!(attrs.to_string(), "read-write");
/// assert!("writable".parse::<TargetSessionAttrs>().is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TargetSessionAttrs {
    /// The first host that accepts a connection (libpq's default).
    #[default]
    Any,
    /// A server whose sessions accept writes (`transaction_read_only` is off).
    ReadWrite,
    /// A server whose sessions are read-only (`transaction_read_only` is on).
    ReadOnly,
    /// A server not in recovery (`pg_is_in_recovery()` is false).
    Primary,
    /// A server in recovery: a hot standby.
    Standby,
    /// A standby if any host is one, else the first host that accepts a connection.
    PreferStandby,
}

impl TargetSessionAttrs {
    /// Every value, as the URL spells it.
    pub const ALL: [TargetSessionAttrs; 6] = [
        TargetSessionAttrs::Any,
        TargetSessionAttrs::ReadWrite,
        TargetSessionAttrs::ReadOnly,
        TargetSessionAttrs::Primary,
        TargetSessionAttrs::Standby,
        TargetSessionAttrs::PreferStandby,
    ];

    /// The URL spelling (`read-write`, `prefer-standby`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSessionAttrs::Any => "any",
            TargetSessionAttrs::ReadWrite => "read-write",
            TargetSessionAttrs::ReadOnly => "read-only",
            TargetSessionAttrs::Primary => "primary",
            TargetSessionAttrs::Standby => "standby",
            TargetSessionAttrs::PreferStandby => "prefer-standby",
        }
    }
}

impl fmt::Display for TargetSessionAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TargetSessionAttrs {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        TargetSessionAttrs::ALL
            .into_iter()
            .find(|attrs| attrs.as_str() == value)
            .ok_or_else(|| {
                let all: Vec<&str> = TargetSessionAttrs::ALL.iter().map(|a| a.as_str()).collect();
                format!(
                    "target_session_attrs={value:?} is not one of {}",
                    all.join(", ")
                )
            })
    }
}

/// One host of the list: a name or address, or a Unix socket directory (starts with `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostSpec {
    pub(crate) host: String,
    /// None: sqlx's default (`PGPORT`, else 5432).
    pub(crate) port: Option<u16>,
}

impl HostSpec {
    /// `host:port` as messages show it (`[::1]:5432` for IPv6).
    pub(crate) fn label(&self, default_port: u16) -> String {
        let port = self.port.unwrap_or(default_port);
        if self.host.contains(':') && !self.host.starts_with('/') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

/// A URL split for sqlx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitUrl {
    /// What sqlx parses: the URL with a single host and without the parameters sqlx does not
    /// know (which it would log as "ignoring unrecognized connect parameter").
    pub(crate) single: String,
    /// The hosts in order; empty when the URL names at most one host, which sqlx then
    /// takes from `single` as it always did.
    pub(crate) hosts: Vec<HostSpec>,
    pub(crate) attrs: TargetSessionAttrs,
    /// The `migration_lock` parameter (this backend's, not libpq's), if given.
    pub(crate) migration_lock: Option<String>,
}

/// Query parameters this module consumes.
const HOST: &str = "host";
const PORT: &str = "port";
const ATTRS: &str = "target_session_attrs";
const MIGRATION_LOCK: &str = "migration_lock";

/// Splits `url` (a `postgres://` or `postgresql://` URL); the error is the reason it is
/// invalid (the caller adds the redacted URL).
pub(crate) fn split(url: &str) -> Result<SplitUrl, String> {
    let Some(scheme_end) = url.find("://") else {
        return Ok(SplitUrl {
            single: url.to_string(),
            hosts: Vec::new(),
            attrs: TargetSessionAttrs::Any,
            migration_lock: None,
        });
    };
    let (head, rest) = url.split_at(scheme_end + 3);
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_len);
    let (userinfo, host_list) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let (path, query, fragment) = split_path_query(after);

    let mut kept = Vec::new();
    let (mut query_hosts, mut query_ports, mut attrs) = (None, None, TargetSessionAttrs::Any);
    let mut migration_lock = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode_str(value).decode_utf8_lossy().into_owned();
        match key {
            HOST => query_hosts = Some(value),
            PORT => query_ports = Some(value),
            ATTRS => attrs = value.parse()?,
            MIGRATION_LOCK => migration_lock = Some(value),
            _ => kept.push(pair),
        }
    }

    let listed = host_list.contains(',')
        || query_hosts.as_deref().is_some_and(|h| h.contains(','))
        || query_ports.as_deref().is_some_and(|p| p.contains(','));
    if !listed {
        // One host: sqlx parses it as it always did; only our own parameter goes.
        let mut single = format!("{head}{authority}{path}");
        let mut params: Vec<String> = kept.iter().map(|p| p.to_string()).collect();
        for (key, value) in [(HOST, &query_hosts), (PORT, &query_ports)] {
            if let Some(value) = value {
                params.push(format!("{key}={}", encode(value)));
            }
        }
        if !params.is_empty() {
            single = format!("{single}?{}", params.join("&"));
        }
        single.push_str(fragment);
        return Ok(SplitUrl {
            single,
            hosts: Vec::new(),
            attrs,
            migration_lock,
        });
    }

    let mut hosts = match &query_hosts {
        // libpq: a later setting wins, and query parameters come after the authority.
        Some(list) => list
            .split(',')
            .map(|h| HostSpec {
                host: h.trim().to_string(),
                port: None,
            })
            .collect::<Vec<_>>(),
        None => host_list
            .split(',')
            .map(parse_host_port)
            .collect::<Result<_, _>>()?,
    };
    if let Some(empty) = hosts.iter().position(|h| h.host.is_empty()) {
        return Err(format!(
            "host {} of the host list is empty",
            empty.saturating_add(1)
        ));
    }
    if let Some(ports) = &query_ports {
        let ports: Vec<u16> = ports
            .split(',')
            .map(|p| {
                p.trim()
                    .parse::<u16>()
                    .map_err(|_| format!("port {p:?} is not a port number"))
            })
            .collect::<Result<_, _>>()?;
        match ports.len() {
            1 => hosts
                .iter_mut()
                .for_each(|h| h.port = h.port.or(Some(ports[0]))),
            n if n == hosts.len() => {
                for (host, port) in hosts.iter_mut().zip(ports) {
                    host.port = Some(port);
                }
            }
            n => {
                return Err(format!(
                    "port lists {n} ports for {} hosts (give one port for all, or one per host)",
                    hosts.len()
                ))
            }
        }
    }
    // sqlx parses everything but the hosts from a URL with a placeholder host; the connector
    // sets each candidate's host and port on those options.
    let mut single = format!("{head}{userinfo}localhost{path}");
    if !kept.is_empty() {
        single = format!("{single}?{}", kept.join("&"));
    }
    single.push_str(fragment);
    Ok(SplitUrl {
        single,
        hosts,
        attrs,
        migration_lock,
    })
}

/// `(path, query without '?', fragment with '#')` of what follows the authority.
fn split_path_query(after: &str) -> (&str, &str, &str) {
    let (before_fragment, fragment) = match after.find('#') {
        Some(i) => after.split_at(i),
        None => (after, ""),
    };
    match before_fragment.find('?') {
        Some(i) => (&before_fragment[..i], &before_fragment[i + 1..], fragment),
        None => (before_fragment, "", fragment),
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, percent-decoded (a socket directory is written
/// `%2Fvar%2Frun%2Fpostgresql`).
fn parse_host_port(entry: &str) -> Result<HostSpec, String> {
    let entry = entry.trim();
    let (host, port) = if let Some(v6) = entry.strip_prefix('[') {
        let close = v6
            .find(']')
            .ok_or_else(|| format!("host {entry:?} opens '[' without closing it"))?;
        let port = v6[close + 1..].strip_prefix(':');
        (&v6[..close], port)
    } else {
        match entry.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("port {p:?} of host {host:?} is not a port number"))?,
        ),
        None => None,
    };
    Ok(HostSpec {
        host: percent_decode_str(host).decode_utf8_lossy().into_owned(),
        port,
    })
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(host: &str, port: Option<u16>) -> HostSpec {
        HostSpec {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn authority_host_lists_keep_their_order_and_ports() {
        let s = split("postgres://app:pw@db2:5433,db1,[::1]:6000/meta?sslmode=require&target_session_attrs=read-write").unwrap();
        assert_eq!(
            s.hosts,
            vec![
                host("db2", Some(5433)),
                host("db1", None),
                host("::1", Some(6000))
            ]
        );
        assert_eq!(s.attrs, TargetSessionAttrs::ReadWrite);
        assert_eq!(s.single, "postgres://app:pw@localhost/meta?sslmode=require");
        assert_eq!(s.hosts[2].label(5432), "[::1]:6000");
    }

    #[test]
    fn query_host_and_port_lists_pair_up() {
        let s =
            split("postgresql://app@/meta?host=a,b&port=1,2&target_session_attrs=standby").unwrap();
        assert_eq!(s.hosts, vec![host("a", Some(1)), host("b", Some(2))]);
        assert_eq!(s.attrs, TargetSessionAttrs::Standby);
        let one_port = split("postgres://u@a,b/db?port=7").unwrap();
        assert_eq!(one_port.hosts, vec![host("a", Some(7)), host("b", Some(7))]);
        let err = split("postgres://u@/db?host=a,b&port=1,2,3").unwrap_err();
        assert!(err.contains("3 ports for 2 hosts"), "{err}");
    }

    #[test]
    fn a_single_host_url_reaches_sqlx_as_it_was_minus_our_parameter() {
        let s =
            split("postgres://u:pw@h:5/db?sslmode=disable&target_session_attrs=primary").unwrap();
        assert!(s.hosts.is_empty());
        assert_eq!(s.single, "postgres://u:pw@h:5/db?sslmode=disable");
        assert_eq!(s.attrs, TargetSessionAttrs::Primary);
        let plain = "postgres://u:pw@h/db";
        assert_eq!(split(plain).unwrap().single, plain);
        let socket = split("postgres://u@/db?host=%2Ftmp%2Fs").unwrap();
        assert_eq!(socket.single, "postgres://u@/db?host=%2Ftmp%2Fs");
    }

    #[test]
    fn every_libpq_value_parses_and_others_are_refused() {
        for attrs in TargetSessionAttrs::ALL {
            let url = format!("postgres://h1,h2/db?target_session_attrs={attrs}");
            assert_eq!(split(&url).unwrap().attrs, attrs);
        }
        let err = split("postgres://h/db?target_session_attrs=master").unwrap_err();
        assert!(err.contains("read-write"), "{err}");
        assert!(split("postgres://h1,,h2/db").unwrap_err().contains("empty"));
        assert!(split("postgres://h1:x,h2/db").is_err());
    }
}
