//! Unit tests of the pool_hba.conf parser and matcher.

use std::net::IpAddr;
use std::path::Path;

use proptest::prelude::*;

use super::matching::{find_rule, in_network, ClientInfo};
use super::parse::{mask_from_prefix, parse_hba, tokenize_line, Address, ConnType, Method};

fn parse(text: &str) -> Vec<super::HbaRule> {
    parse_hba(text, Path::new("/nonexistent"), false, "pool_hba.conf").expect("parses")
}

fn client<'a>(addr: Option<&str>, tls: bool, user: &'a str, db: &'a str) -> ClientInfo<'a> {
    ClientInfo {
        addr: addr.map(|a| a.parse().unwrap()),
        tls,
        user,
        database: db,
    }
}

fn method(rules: &[super::HbaRule], c: &ClientInfo) -> Option<Method> {
    find_rule(rules, c).map(|r| r.method)
}

#[test]
fn tokenizer_quotes_commas_comments() {
    let f = tokenize_line(r#"host "my db",b  "a""b" 10.0.0.0/8 md5 # comment"#, 1).unwrap();
    assert_eq!(f.len(), 5);
    assert_eq!(f[1].len(), 2);
    assert_eq!(f[1][0].text, "my db");
    assert!(f[1][0].quoted);
    assert_eq!(f[1][1].text, "b");
    assert_eq!(f[2][0].text, "a\"b");
    let f = tokenize_line("local a, b all trust", 1).unwrap();
    assert_eq!(f[1].len(), 2, "a comma continues the field across blanks");
    assert!(tokenize_line("  # only a comment", 1).unwrap().is_empty());
    assert!(tokenize_line("local \"unterminated", 1).is_err());
}

#[test]
fn record_forms() {
    let r = parse(
        "local all all trust\n\
         host all all 127.0.0.1/32 md5\n\
         hostssl all all 10.0.0.0 255.0.0.0 scram-sha-256\n\
         hostnossl all all ::1/128 password\n\
         host all all samehost reject\n\
         host all all .example.com cert\n\
         host all all all pam pamservice=pgpool2\n\
         host all all all ldap ldapserver=h ldapprefix=\"cn=\" ldapsuffix=\",dc=x\"\n",
    );
    assert_eq!(r.len(), 8);
    assert_eq!(r[0].conn, ConnType::Local);
    assert_eq!(r[0].address, None);
    assert_eq!(
        r[2].address,
        Some(Address::Net {
            addr: "10.0.0.0".parse().unwrap(),
            mask: "255.0.0.0".parse().unwrap()
        })
    );
    assert_eq!(r[2].method, Method::ScramSha256);
    assert_eq!(r[4].address, Some(Address::SameHost));
    assert_eq!(r[5].address, Some(Address::HostName(".example.com".into())));
    assert_eq!(r[6].options.pamservice.as_deref(), Some("pgpool2"));
    assert_eq!(r[7].options.ldapprefix.as_deref(), Some("cn="));
}

#[test]
fn errors_reject_the_whole_file() {
    let bad = [
        "",
        "# nothing\n",
        "hots all all all trust\n",
        "host all all 127.0.0.1/33 trust\n",
        "host all all 127.0.0.1 trust\n",
        "host all all 127.0.0.1 255.0.0.0.1 trust\n",
        "host all all 127.0.0.1 ffff:: trust\n",
        "host all all name.example/24 trust\n",
        "host all all all gss\n",
        "host all all all trust foo=bar\n",
        "host all all all trust ldapserver=x\n",
        "host all all all ldap ldapserver=x\n",
        "host all all all ldap ldapbasedn=x ldapprefix=y\n",
        "host all all all ldap ldapbasedn=x ldapsearchattribute=a ldapsearchfilter=b\n",
        "host all all\n",
        "local all all trust\nhost all all bogus/8 trust\n",
    ];
    for text in bad {
        assert!(
            parse_hba(text, Path::new("/"), false, "f").is_err(),
            "should be refused: {text:?}"
        );
    }
    let e = parse_hba("", Path::new("/"), false, "x.conf").unwrap_err();
    assert_eq!(
        e.message,
        "configuration file \"x.conf\" contains no entries"
    );
}

#[test]
fn include_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users"), "alice, bob\n\"carol\"\n").unwrap();
    let r = parse_hba(
        "host all @users 127.0.0.1/32 trust\n",
        dir.path(),
        false,
        "f",
    )
    .unwrap();
    let names: Vec<_> = r[0].users.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert!(parse_hba("host all @missing all trust\n", dir.path(), false, "f").is_err());
}

#[test]
fn first_match_wins_and_types() {
    let r = parse(
        "local all all trust\n\
         hostssl all all 127.0.0.1/32 cert\n\
         hostnossl all alice 127.0.0.1/32 md5\n\
         host sameuser all 10.0.0.0/8 password\n\
         host all all 10.0.0.0/8 reject\n\
         host all all ::1/128 scram-sha-256\n",
    );
    assert_eq!(
        method(&r, &client(None, false, "x", "y")),
        Some(Method::Trust)
    );
    assert_eq!(
        method(&r, &client(Some("127.0.0.1"), true, "alice", "d")),
        Some(Method::Cert)
    );
    assert_eq!(
        method(&r, &client(Some("127.0.0.1"), false, "alice", "d")),
        Some(Method::Md5)
    );
    assert_eq!(
        method(&r, &client(Some("127.0.0.1"), false, "bob", "d")),
        None
    );
    assert_eq!(
        method(&r, &client(Some("10.1.2.3"), false, "u", "u")),
        Some(Method::Password)
    );
    assert_eq!(
        method(&r, &client(Some("10.1.2.3"), false, "u", "v")),
        Some(Method::Reject)
    );
    assert_eq!(
        method(&r, &client(Some("::1"), false, "u", "v")),
        Some(Method::ScramSha256)
    );
    // no v4-mapped translation
    assert_eq!(
        method(&r, &client(Some("::ffff:10.1.2.3"), false, "u", "v")),
        None
    );
}

#[test]
fn keyword_quirks() {
    let r = parse(
        "host samerole,all all all md5\n\
         host all +grp,alice all password\n\
         host \"all\" \"all\" all reject\n\
         host all all all trust\n",
    );
    // samerole aborts the list before `all`; `+grp` aborts before `alice`
    assert_eq!(
        method(&r, &client(Some("1.2.3.4"), false, "alice", "db")),
        Some(Method::Trust)
    );
    // quoted "all" is a name
    assert_eq!(
        method(&r, &client(Some("1.2.3.4"), false, "all", "all")),
        Some(Method::Reject)
    );
}

#[test]
fn samehost_matches_loopback() {
    let r = parse("host all all samehost trust\n");
    assert_eq!(
        method(&r, &client(Some("127.0.0.1"), false, "u", "d")),
        Some(Method::Trust)
    );
    assert_eq!(
        method(&r, &client(Some("192.0.2.77"), false, "u", "d")),
        None
    );
    let r = parse("host all all samenet trust\n");
    assert_eq!(
        method(&r, &client(Some("127.1.2.3"), false, "u", "d")),
        Some(Method::Trust)
    );
}

#[test]
fn host_name_needs_forward_confirmation() {
    let r = parse("host all all localhost trust\n");
    // 127.0.0.1 reverse-resolves to localhost (from /etc/hosts), which resolves back to it
    assert_eq!(
        method(&r, &client(Some("127.0.0.1"), false, "u", "d")),
        Some(Method::Trust)
    );
    assert_eq!(
        method(&r, &client(Some("192.0.2.1"), false, "u", "d")),
        None
    );
}

proptest! {
    #[test]
    fn cidr_v4_agrees_with_shift(c: u32, n: u32, prefix in 0u32..=32) {
        let mask = mask_from_prefix(IpAddr::V4(n.into()), prefix).unwrap();
        let expect = prefix == 0 || (c >> (32 - prefix)) == (n >> (32 - prefix));
        prop_assert_eq!(in_network(IpAddr::V4(c.into()), IpAddr::V4(n.into()), mask), expect);
    }

    #[test]
    fn cidr_v6_agrees_with_shift(c: u128, n: u128, prefix in 0u32..=128) {
        let mask = mask_from_prefix(IpAddr::V6(n.into()), prefix).unwrap();
        let expect = prefix == 0 || (c >> (128 - prefix)) == (n >> (128 - prefix));
        prop_assert_eq!(in_network(IpAddr::V6(c.into()), IpAddr::V6(n.into()), mask), expect);
    }

    #[test]
    fn families_never_mix(c: u32, n: u128, prefix in 0u32..=128) {
        let mask = mask_from_prefix(IpAddr::V6(n.into()), prefix).unwrap();
        prop_assert!(!in_network(IpAddr::V4(c.into()), IpAddr::V6(n.into()), mask));
    }

    #[test]
    fn tokenizer_never_panics(line in ".{0,200}") {
        let _ = tokenize_line(&line, 1);
        let _ = parse_hba(&line, Path::new("/nonexistent"), false, "f");
    }
}

mod dispatch {
    //! `client_authentication` outcomes that need no exchange with the client.

    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use super::super::methods::{client_authentication, HbaConn};
    use super::super::parse::Method;
    use super::{client, parse};
    use crate::auth::error::{AuthContext, AuthError};
    use crate::protocol::Conn;

    fn ctx(user: &str) -> AuthContext<'_> {
        AuthContext {
            user,
            pool_passwd: None,
            pool_key: None,
            allow_clear_text_frontend_auth: false,
            timeout: Some(Duration::from_secs(5)),
            frontend: None,
        }
    }

    fn run(rules: Option<&str>, conn: &HbaConn) -> (Result<Method, String>, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut c = Conn::new(ours.into());
        let rules = rules.map(parse);
        let r = client_authentication(&mut c, &ctx(conn.info.user), conn, rules.as_deref());
        let r = r.map(|f| f.method).map_err(|e| match e {
            AuthError::Refused(pe) => format!(
                "{} {}: {} / {}",
                pe.severity.as_str(),
                pe.sqlstate,
                pe.message,
                pe.detail.unwrap_or_default()
            ),
            other => format!("{other:?}"),
        });
        (r, theirs)
    }

    fn conn<'a>(addr: Option<&str>, tls: bool, user: &'a str, cn: Option<&'a str>) -> HbaConn<'a> {
        HbaConn {
            info: client(addr, tls, user, "db"),
            client_cert_cn: cn,
            num_backends: 2,
        }
    }

    #[test]
    fn reject_and_implicit_reject_have_pgpools_text() {
        let hba = "host all bob all reject\nhost all alice all trust\n";
        let want = |host: &str, user: &str, ssl: &str| {
            format!("FATAL XX000: client authentication failed / no pool_hba.conf entry for host \"{host}\", user \"{user}\", database \"db\", SSL {ssl}")
        };
        assert_eq!(
            run(Some(hba), &conn(Some("10.1.1.1"), false, "bob", None)).0,
            Err(want("10.1.1.1", "bob", "off"))
        );
        assert_eq!(
            run(Some(hba), &conn(Some("10.1.1.1"), true, "carol", None)).0,
            Err(want("10.1.1.1", "carol", "on"))
        );
        assert_eq!(
            run(Some(hba), &conn(None, false, "carol", None)).0,
            Err(want("[local]", "carol", "off"))
        );
        assert_eq!(
            run(Some(hba), &conn(Some("10.1.1.1"), false, "alice", None)).0,
            Ok(Method::Trust)
        );
        assert_eq!(
            run(None, &conn(Some("10.1.1.1"), false, "alice", None)).0,
            Err("FATAL XX000: client authentication failed / missing or erroneous pool_hba.conf file".into())
        );
    }

    #[test]
    fn cert_compares_the_cn_case_insensitively_and_needs_tls() {
        let hba = "host all all all cert\n";
        assert_eq!(
            run(
                Some(hba),
                &conn(Some("1.2.3.4"), true, "Alice", Some("alice"))
            )
            .0,
            Ok(Method::Cert)
        );
        let refused = Err(
            "ERROR XX000: CERT authentication failed / no valid certificate presented".to_string(),
        );
        assert_eq!(
            run(
                Some(hba),
                &conn(Some("1.2.3.4"), true, "bob", Some("alice"))
            )
            .0,
            refused
        );
        assert_eq!(
            run(
                Some(hba),
                &conn(Some("1.2.3.4"), false, "alice", Some("alice"))
            )
            .0,
            refused
        );
        assert_eq!(
            run(Some(hba), &conn(Some("1.2.3.4"), true, "alice", None)).0,
            refused
        );
    }

    #[test]
    fn md5_and_scram_pre_checks_need_an_entry() {
        let (r, _) = run(
            Some("host all all all md5\n"),
            &conn(Some("1.2.3.4"), false, "u", None),
        );
        assert_eq!(r, Err("FATAL XX000: md5 authentication failed / pool_passwd file does not contain an entry for \"u\"".into()));
        let (r, _) = run(
            Some("host all all all scram-sha-256\n"),
            &conn(Some("1.2.3.4"), false, "u", None),
        );
        assert_eq!(r, Err("FATAL XX000: SCRAM authentication failed / pool_passwd file does not contain an entry for \"u\"".into()));
    }
}

/// An ldapurl that names a base DN (or a search attribute or filter) is search+bind mode and
/// conflicts with ldapprefix/ldapsuffix; one without stands for the server only (as pgpool-II
/// 4.3.5, which parses the URL into those options when it reads the line).
#[test]
fn ldapurl_modes() {
    const CONFLICT: &str = "cannot use ldapbasedn, ldapbinddn, ldapbindpasswd, ldapsearchattribute, ldapsearchfilter, or ldapurl together with ldapprefix";
    for line in [
        "host all all all ldap ldapurl=\"ldap://h/dc=x\" ldapprefix=\"uid=\"\n",
        "host all all all ldap ldapprefix=\"uid=\" ldapurl=\"ldap://h/dc=x\"\n",
        "host all all all ldap ldapsuffix=\",dc=x\" ldapurl=\"ldap://h/dc=x\"\n",
        "host all all all ldap ldapurl=\"ldap://h/?uid\" ldapprefix=\"uid=\"\n",
    ] {
        let e = parse_hba(line, Path::new("/"), false, "f").unwrap_err();
        assert_eq!(e.message, CONFLICT, "{line:?}");
        assert_eq!(e.line, 1);
    }
    let e = parse_hba(
        "host all all all ldap ldapurl=\"ldap://h\"\n",
        Path::new("/"),
        false,
        "f",
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "authentication method \"ldap\" requires argument \"ldapbasedn\", \"ldapprefix\", or \"ldapsuffix\" to be set"
    );
    for (line, message) in [
        (
            "host all all all ldap ldapurl=\"ldap://h/dc=x?uid?sub?(cn=y)\"\n",
            "cannot use ldapsearchattribute together with ldapsearchfilter",
        ),
        (
            "host all all all ldap ldapurl=\"nonsense\"\n",
            "could not parse LDAP URL \"nonsense\"",
        ),
        (
            "host all all all trust ldapurl=\"ldap://h/dc=x\"\n",
            "authentication option \"ldapurl\" is only valid for authentication methods ldap",
        ),
    ] {
        let e = parse_hba(line, Path::new("/"), false, "f").unwrap_err();
        assert_eq!(e.message, message, "{line:?}");
    }
    for good in [
        "host all all all ldap ldapurl=\"ldap://h\" ldapprefix=\"uid=\"\n",
        "host all all all ldap ldapurl=\"ldap://h/dc=x\" ldapsearchfilter=\"(uid=$username)\"\n",
        "host all all all ldap ldapurl=\"ldap://h/dc=x?uid?sub\"\n",
        "host all all all ldap ldapurl=\"ldap://h/dc=x\" ldapbasedn=\"dc=y\"\n",
    ] {
        assert!(
            parse_hba(good, Path::new("/"), false, "f").is_ok(),
            "{good:?}"
        );
    }
}
