//! The `ldap` method (spec/auth.md §8.8): ask the client for its clear-text password, then
//! either bind as `ldapprefix + user + ldapsuffix` (simple bind mode) or search the user's DN
//! under `ldapbasedn` (optionally bound as `ldapbinddn`) and bind as that DN (search+bind mode).
//! Empty passwords are refused (pgpool-II accepts them: an unauthenticated bind, bug #8).
//! ldaps and StartTLS are not supported by this build and fail.

use std::time::Duration;

use ldap3::{LdapConn, LdapConnSettings, Scope, SearchEntry};

use crate::logger::Severity;
use crate::protocol::Conn;

use super::super::error::{AuthContext, AuthError};
use super::super::frontend::ask_clear_text;
use super::parse::HbaOptions;

/// Why the LDAP check failed (already logged); the caller sends pgpool's FATAL.
pub struct LdapFailed;

/// The parts of an `ldapurl` (`ldap://host:port/basedn?attribute?scope?filter`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LdapUrl {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub basedn: Option<String>,
    pub attribute: Option<String>,
    pub scope: Option<String>,
    pub filter: Option<String>,
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse an `ldapurl` option.
pub fn parse_ldap_url(url: &str) -> Option<LdapUrl> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "ldap" && scheme != "ldaps" {
        return None;
    }
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()?),
        None => (hostport.to_string(), 0),
    };
    let mut parts = path.split('?');
    let nonempty = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(unescape);
    Some(LdapUrl {
        scheme: scheme.to_string(),
        host,
        port,
        basedn: nonempty(parts.next()),
        attribute: nonempty(parts.next()),
        scope: nonempty(parts.next()),
        filter: nonempty(parts.next()),
    })
}

/// Effective settings of a rule (ldapurl parts filled in where the options are absent).
struct Settings {
    scheme: String,
    servers: Vec<String>,
    port: u16,
    basedn: Option<String>,
    attribute: Option<String>,
    filter: Option<String>,
    scope: Scope,
}

fn settings(o: &HbaOptions) -> Settings {
    let url = o
        .ldapurl
        .as_deref()
        .and_then(parse_ldap_url)
        .unwrap_or_default();
    let scheme = o
        .ldapscheme
        .clone()
        .or_else(|| (!url.scheme.is_empty()).then(|| url.scheme.clone()))
        .unwrap_or_else(|| "ldap".into());
    let servers: Vec<String> = o
        .ldapserver
        .clone()
        .or_else(|| (!url.host.is_empty()).then(|| url.host.clone()))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut port = if o.ldapport != 0 {
        o.ldapport
    } else {
        url.port
    };
    if port == 0 {
        port = if scheme == "ldaps" { 636 } else { 389 };
    }
    let scope = match url.scope.as_deref() {
        Some("base") => Scope::Base,
        Some("one") => Scope::OneLevel,
        _ => Scope::Subtree,
    };
    Settings {
        scheme,
        servers,
        port,
        basedn: o.ldapbasedn.clone().or(url.basedn),
        attribute: o.ldapsearchattribute.clone().or(url.attribute),
        filter: o.ldapsearchfilter.clone().or(url.filter),
        scope,
    }
}

fn connect(s: &Settings, tls: bool) -> Result<(LdapConn, String), String> {
    if s.scheme == "ldaps" || tls {
        return Err("LDAP over TLS (ldaps, ldaptls=1) is not supported by this build".into());
    }
    let mut last = String::from("no LDAP server");
    for host in &s.servers {
        let url = format!("{}://{}:{}", s.scheme, host, s.port);
        let settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(10));
        match LdapConn::with_settings(settings, &url) {
            Ok(c) => return Ok((c, host.clone())),
            Err(e) => last = format!("could not connect to \"{url}\": {e}"),
        }
    }
    Err(last)
}

fn bind(conn: &mut LdapConn, dn: &str, password: &str) -> Result<(), String> {
    conn.simple_bind(dn, password)
        .map_err(|e| e.to_string())?
        .success()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Run the LDAP check (§8.8 steps 1–8). Returns the client's password on success.
pub fn ldap_authenticate_client(
    client: &mut Conn,
    ctx: &AuthContext,
    o: &HbaOptions,
) -> Result<Result<String, LdapFailed>, AuthError> {
    let s = settings(o);
    let user = ctx.user;
    if s.servers.is_empty() {
        if s.basedn.is_none() {
            crate::pglog!(
                Severity::Log,
                "LDAP server not specified, and no ldapbasedn"
            );
        } else {
            crate::pglog!(
                Severity::Log,
                "LDAP server not specified (DNS SRV discovery is not supported)"
            );
        }
        return Ok(Err(LdapFailed));
    }
    let password = ask_clear_text(client, ctx)?;
    if password.is_empty() {
        crate::pglog!(
            Severity::Log,
            "empty password returned by client for LDAP authentication of user \"{}\"",
            user
        );
        return Ok(Err(LdapFailed));
    }
    let fail = |server: &str, why: String| {
        crate::pglog!(
            Severity::Log,
            "LDAP login failed for user \"{}\" on server \"{}\": {}",
            user,
            server,
            why
        );
        Ok(Err(LdapFailed))
    };
    let (mut conn, server) = match connect(&s, o.ldaptls) {
        Ok(c) => c,
        Err(e) => {
            let first = s.servers.first().cloned().unwrap_or_default();
            return fail(&first, e);
        }
    };
    let dn = if let Some(base) = &s.basedn {
        if user.contains(['*', '(', ')', '\\', '/']) {
            crate::pglog!(
                Severity::Log,
                "invalid character in user name for LDAP authentication"
            );
            return Ok(Err(LdapFailed));
        }
        let binddn = o.ldapbinddn.as_deref().unwrap_or("");
        let bindpw = o.ldapbindpasswd.as_deref().unwrap_or("");
        if let Err(e) = bind(&mut conn, binddn, bindpw) {
            crate::pglog!(
                Severity::Log,
                "could not perform initial LDAP bind for ldapbinddn \"{}\" on server \"{}\": {}",
                binddn,
                server,
                e
            );
            return Ok(Err(LdapFailed));
        }
        let filter = match (&s.filter, &s.attribute) {
            (Some(f), _) => f.replace("$username", user),
            (None, Some(a)) => format!("({a}={user})"),
            (None, None) => format!("(uid={user})"),
        };
        let found = conn
            .search(base, s.scope, &filter, vec!["1.1"])
            .map_err(|e| e.to_string())
            .and_then(|r| r.success().map_err(|e| e.to_string()));
        let entries = match found {
            Ok((entries, _)) => entries,
            Err(e) => {
                crate::pglog!(
                    Severity::Log,
                    "could not search LDAP for filter \"{}\" on server \"{}\": {}",
                    filter,
                    server,
                    e
                );
                return Ok(Err(LdapFailed));
            }
        };
        if entries.len() != 1 {
            if entries.is_empty() {
                crate::pglog!(Severity::Log, detail = format!("LDAP search for filter \"{filter}\" on server \"{server}\" returned no entries."); "LDAP user \"{}\" does not exist", user);
            } else {
                crate::pglog!(Severity::Log, detail = format!("LDAP search for filter \"{filter}\" on server \"{server}\" returned {} entries.", entries.len()); "LDAP user \"{}\" is not unique", user);
            }
            return Ok(Err(LdapFailed));
        }
        let dn = SearchEntry::construct(entries.into_iter().next().expect("one entry")).dn;
        let _ = conn.unbind();
        conn = match connect(&s, o.ldaptls) {
            Ok((c, _)) => c,
            Err(e) => return fail(&server, e),
        };
        dn
    } else {
        format!(
            "{}{}{}",
            o.ldapprefix.as_deref().unwrap_or(""),
            user,
            o.ldapsuffix.as_deref().unwrap_or("")
        )
    };
    let result = bind(&mut conn, &dn, &password);
    let _ = conn.unbind();
    match result {
        Ok(()) => Ok(Ok(password)),
        Err(e) => fail(&server, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldap_urls() {
        let u =
            parse_ldap_url("ldap://h.example:1389/dc=x,dc=y?cn?sub?(objectClass=person)").unwrap();
        assert_eq!(u.host, "h.example");
        assert_eq!(u.port, 1389);
        assert_eq!(u.basedn.as_deref(), Some("dc=x,dc=y"));
        assert_eq!(u.attribute.as_deref(), Some("cn"));
        assert_eq!(u.scope.as_deref(), Some("sub"));
        assert_eq!(u.filter.as_deref(), Some("(objectClass=person)"));
        let u = parse_ldap_url("ldaps://h/dc=a%20b").unwrap();
        assert_eq!((u.port, u.basedn.as_deref()), (0, Some("dc=a b")));
        assert!(parse_ldap_url("http://h/").is_none());
    }
}
