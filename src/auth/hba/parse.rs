//! Reading pool_hba.conf into rules (spec/config.md §7.1, spec/auth.md §6.1): the pg_hba.conf
//! tokenizer (blanks, commas, double quotes, `#` comments, `@file` inclusion) and the checks of
//! each record. A file either parses completely or is refused with the first error.

use std::net::IpAddr;
use std::path::Path;

use crate::logger::Severity;

/// Longest line accepted (pgpool: `authentication file line too long`).
const MAX_LINE: usize = 8191;
/// Longest token accepted.
const MAX_TOKEN: usize = 255;

/// One token of a field; a quoted keyword (`"all"`) is not a keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub quoted: bool,
}

impl Token {
    /// The unquoted keyword `word`.
    pub fn is_keyword(&self, word: &str) -> bool {
        !self.quoted && self.text == word
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnType {
    Local,
    Host,
    HostSsl,
    HostNoSsl,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    All,
    SameHost,
    SameNet,
    /// Address and mask of the same family.
    Net {
        addr: IpAddr,
        mask: IpAddr,
    },
    /// A host name (a leading `.` matches as a suffix).
    HostName(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Trust,
    Reject,
    Md5,
    ScramSha256,
    Password,
    Cert,
    Pam,
    Ldap,
}

impl Method {
    fn from_keyword(s: &str) -> Option<Method> {
        Some(match s {
            "trust" => Method::Trust,
            "reject" => Method::Reject,
            "md5" => Method::Md5,
            "scram-sha-256" => Method::ScramSha256,
            "password" => Method::Password,
            "cert" => Method::Cert,
            "pam" => Method::Pam,
            "ldap" => Method::Ldap,
            _ => return None,
        })
    }
}

/// The `name=value` options of a rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HbaOptions {
    pub pamservice: Option<String>,
    pub pam_use_hostname: bool,
    pub backend_use_passwd: bool,
    pub ldapurl: Option<String>,
    pub ldaptls: bool,
    pub ldapscheme: Option<String>,
    pub ldapserver: Option<String>,
    pub ldapport: u16,
    pub ldapbinddn: Option<String>,
    pub ldapbindpasswd: Option<String>,
    pub ldapsearchattribute: Option<String>,
    pub ldapsearchfilter: Option<String>,
    pub ldapbasedn: Option<String>,
    pub ldapprefix: Option<String>,
    pub ldapsuffix: Option<String>,
}

/// One record of pool_hba.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HbaRule {
    /// 1-based line number, for logs.
    pub line: usize,
    pub conn: ConnType,
    pub databases: Vec<Token>,
    pub users: Vec<Token>,
    /// `None` for `local`.
    pub address: Option<Address>,
    pub method: Method,
    pub options: HbaOptions,
}

/// Why a file was refused; `message` is pgpool's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HbaError {
    pub message: String,
    pub line: usize,
}

fn err(line: usize, message: impl Into<String>) -> HbaError {
    HbaError {
        message: message.into(),
        line,
    }
}

/// Split one line into fields, each a list of tokens. Commas continue a field across blanks;
/// `#` outside quotes ends the line; `""` inside quotes is a literal quote.
pub fn tokenize_line(line: &str, lineno: usize) -> Result<Vec<Vec<Token>>, HbaError> {
    if line.len() > MAX_LINE {
        return Err(err(lineno, "authentication file line too long"));
    }
    let mut fields: Vec<Vec<Token>> = Vec::new();
    let mut field: Vec<Token> = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    loop {
        // skip blanks
        while i < chars.len() && matches!(chars[i], ' ' | '\t' | '\r' | '\n') {
            i += 1;
        }
        if i >= chars.len() || chars[i] == '#' {
            break;
        }
        let mut text = String::new();
        let mut quoted = false;
        let mut in_quote = false;
        let mut comma = false;
        while i < chars.len() {
            let c = chars[i];
            if in_quote {
                if c == '"' {
                    if chars.get(i + 1) == Some(&'"') {
                        text.push('"');
                        i += 2;
                        continue;
                    }
                    in_quote = false;
                } else {
                    text.push(c);
                }
                i += 1;
                continue;
            }
            match c {
                ' ' | '\t' | '\r' | '\n' | '#' => break,
                ',' => {
                    comma = true;
                    i += 1;
                    break;
                }
                '"' => {
                    in_quote = true;
                    quoted = true;
                }
                _ => text.push(c),
            }
            i += 1;
        }
        if in_quote {
            return Err(err(lineno, "unterminated quoted string"));
        }
        if text.len() > MAX_TOKEN {
            return Err(err(
                lineno,
                format!("authentication file token too long, skipping: \"{text}\""),
            ));
        }
        field.push(Token { text, quoted });
        if !comma {
            fields.push(std::mem::take(&mut field));
        }
    }
    if !field.is_empty() {
        fields.push(field);
    }
    Ok(fields)
}

/// Replace `@file` tokens by every token of that file (relative to `dir`, recursively).
fn expand_includes(
    field: Vec<Token>,
    dir: &Path,
    lineno: usize,
    depth: usize,
) -> Result<Vec<Token>, HbaError> {
    let mut out = Vec::with_capacity(field.len());
    for t in field {
        match t.text.strip_prefix('@') {
            Some(name) if !t.quoted && !name.is_empty() => {
                if depth > 10 {
                    return Err(err(
                        lineno,
                        "could not open secondary authentication file: nesting too deep",
                    ));
                }
                let path = dir.join(name);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    err(
                        lineno,
                        format!(
                            "could not open secondary authentication file \"@{name}\" as \"{}\": {e}",
                            path.display()
                        ),
                    )
                })?;
                let sub_dir = path.parent().unwrap_or(dir).to_path_buf();
                for (n, line) in text.lines().enumerate() {
                    for f in tokenize_line(line, n + 1)? {
                        out.extend(expand_includes(f, &sub_dir, lineno, depth + 1)?);
                    }
                }
            }
            _ => out.push(t),
        }
    }
    Ok(out)
}

/// A single-token field.
fn single<'a>(field: &'a [Token], lineno: usize, what: &str) -> Result<&'a Token, HbaError> {
    match field {
        [t] => Ok(t),
        _ => Err(err(lineno, format!("multiple values specified for {what}"))),
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// The netmask of `prefix` bits for `addr`'s family.
pub fn mask_from_prefix(addr: IpAddr, prefix: u32) -> Option<IpAddr> {
    match addr {
        IpAddr::V4(_) if prefix <= 32 => {
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            Some(IpAddr::V4(m.into()))
        }
        IpAddr::V6(_) if prefix <= 128 => {
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            Some(IpAddr::V6(m.into()))
        }
        _ => None,
    }
}

/// Parse the address field(s) starting at `fields[i]`; returns the address and how many fields
/// it used.
fn parse_address(
    fields: &[Vec<Token>],
    i: usize,
    lineno: usize,
) -> Result<(Address, usize), HbaError> {
    let tok = single(
        fields
            .get(i)
            .ok_or_else(|| err(lineno, "end-of-line before IP address specification"))?,
        lineno,
        "host address",
    )?;
    let s = tok.text.as_str();
    if tok.is_keyword("all") {
        return Ok((Address::All, 1));
    }
    if tok.is_keyword("samehost") {
        return Ok((Address::SameHost, 1));
    }
    if tok.is_keyword("samenet") {
        return Ok((Address::SameNet, 1));
    }
    if let Some((a, p)) = s.split_once('/') {
        let addr = parse_ip(a).ok_or_else(|| {
            err(
                lineno,
                format!("specifying both host name and CIDR mask is invalid: \"{s}\""),
            )
        })?;
        let mask = p
            .parse::<u32>()
            .ok()
            .and_then(|p| mask_from_prefix(addr, p))
            .ok_or_else(|| err(lineno, format!("invalid CIDR mask in address \"{s}\"")))?;
        return Ok((Address::Net { addr, mask }, 1));
    }
    if let Some(addr) = parse_ip(s) {
        let mtok = single(
            fields
                .get(i + 1)
                .ok_or_else(|| err(lineno, "end-of-line before netmask specification"))?,
            lineno,
            "netmask",
        )?;
        let mask = parse_ip(&mtok.text)
            .ok_or_else(|| err(lineno, format!("invalid IP mask \"{}\"", mtok.text)))?;
        if mask.is_ipv4() != addr.is_ipv4() {
            return Err(err(
                lineno,
                "IP address and mask do not match in pool_hba.conf file",
            ));
        }
        return Ok((Address::Net { addr, mask }, 2));
    }
    let valid_host = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    if !valid_host {
        return Err(err(lineno, format!("invalid IP address \"{s}\"")));
    }
    Ok((Address::HostName(s.to_ascii_lowercase()), 1))
}

fn set_option(
    o: &mut HbaOptions,
    method: Method,
    name: &str,
    value: &str,
    lineno: usize,
) -> Result<(), HbaError> {
    let ldap_only = |o: &mut Option<String>| -> Result<(), HbaError> {
        if method != Method::Ldap {
            return Err(err(
                lineno,
                format!("authentication option \"{name}\" is only valid for authentication methods ldap"),
            ));
        }
        *o = Some(value.to_string());
        Ok(())
    };
    let flag = value == "1";
    match name {
        "pamservice" => {
            if method != Method::Pam {
                crate::pglog!(
                    Severity::Log,
                    "pamservice option is only valid for pam authentication method"
                );
            }
            o.pamservice = Some(value.to_string());
        }
        "pam_use_hostname" => {
            if method != Method::Pam {
                crate::pglog!(
                    Severity::Log,
                    "pam_use_hostname option is only valid for pam authentication method"
                );
            }
            o.pam_use_hostname = flag;
        }
        "backend_use_passwd" => {
            if method != Method::Ldap {
                return Err(err(
                    lineno,
                    "authentication option \"backend_use_passwd\" is only valid for authentication methods ldap",
                ));
            }
            o.backend_use_passwd = flag;
        }
        "ldaptls" => {
            if method != Method::Ldap {
                return Err(err(lineno, "authentication option \"ldaptls\" is only valid for authentication methods ldap"));
            }
            o.ldaptls = flag;
        }
        "ldapport" => {
            if method != Method::Ldap {
                return Err(err(lineno, "authentication option \"ldapport\" is only valid for authentication methods ldap"));
            }
            o.ldapport = value
                .parse()
                .map_err(|_| err(lineno, format!("invalid LDAP port number: \"{value}\"")))?;
        }
        "ldapscheme" => {
            if value != "ldap" && value != "ldaps" {
                return Err(err(
                    lineno,
                    format!("invalid ldapscheme value: \"{value}\""),
                ));
            }
            ldap_only(&mut o.ldapscheme)?
        }
        "ldapurl" => {
            ldap_only(&mut o.ldapurl)?;
            if super::ldap::parse_ldap_url(value).is_none() {
                return Err(err(lineno, format!("could not parse LDAP URL \"{value}\"")));
            }
        }
        "ldapserver" => ldap_only(&mut o.ldapserver)?,
        "ldapbinddn" => ldap_only(&mut o.ldapbinddn)?,
        "ldapbindpasswd" => ldap_only(&mut o.ldapbindpasswd)?,
        "ldapsearchattribute" => ldap_only(&mut o.ldapsearchattribute)?,
        "ldapsearchfilter" => ldap_only(&mut o.ldapsearchfilter)?,
        "ldapbasedn" => ldap_only(&mut o.ldapbasedn)?,
        "ldapprefix" => ldap_only(&mut o.ldapprefix)?,
        "ldapsuffix" => ldap_only(&mut o.ldapsuffix)?,
        _ => {
            return Err(err(
                lineno,
                format!("unrecognized authentication option name: \"{name}\""),
            ))
        }
    }
    Ok(())
}

/// The LDAP mode checks of a complete ldap rule. An `ldapurl` counts with the parts it names
/// (base DN, search attribute, filter), as in pgpool-II, which copies them into those options.
fn check_ldap(o: &HbaOptions, lineno: usize) -> Result<(), HbaError> {
    let url = o
        .ldapurl
        .as_deref()
        .and_then(super::ldap::parse_ldap_url)
        .unwrap_or_default();
    let attribute = o.ldapsearchattribute.is_some() || url.attribute.is_some();
    let filter = o.ldapsearchfilter.is_some() || url.filter.is_some();
    let search = o.ldapbasedn.is_some()
        || url.basedn.is_some()
        || o.ldapbinddn.is_some()
        || o.ldapbindpasswd.is_some()
        || attribute
        || filter;
    let simple = o.ldapprefix.is_some() || o.ldapsuffix.is_some();
    if search && simple {
        return Err(err(lineno, "cannot use ldapbasedn, ldapbinddn, ldapbindpasswd, ldapsearchattribute, ldapsearchfilter, or ldapurl together with ldapprefix"));
    }
    if !search && !simple {
        return Err(err(lineno, "authentication method \"ldap\" requires argument \"ldapbasedn\", \"ldapprefix\", or \"ldapsuffix\" to be set"));
    }
    if attribute && filter {
        return Err(err(
            lineno,
            "cannot use ldapsearchattribute together with ldapsearchfilter",
        ));
    }
    Ok(())
}

/// Parse one tokenized line into a rule.
fn parse_record(
    fields: Vec<Vec<Token>>,
    dir: &Path,
    lineno: usize,
    ssl: bool,
) -> Result<HbaRule, HbaError> {
    let first = single(&fields[0], lineno, "connection type")?;
    let conn = match first.text.as_str() {
        "local" => ConnType::Local,
        "host" => ConnType::Host,
        "hostssl" => ConnType::HostSsl,
        "hostnossl" => ConnType::HostNoSsl,
        other => return Err(err(lineno, format!("invalid connection type \"{other}\""))),
    };
    if conn == ConnType::HostSsl && !ssl {
        crate::pglog!(Severity::Log, hint = "Set ssl = on in pgpool.conf"; "hostssl record cannot match because SSL is disabled");
    }
    let databases = expand_includes(
        fields
            .get(1)
            .cloned()
            .ok_or_else(|| err(lineno, "end-of-line before database specification"))?,
        dir,
        lineno,
        0,
    )?;
    let users = expand_includes(
        fields
            .get(2)
            .cloned()
            .ok_or_else(|| err(lineno, "end-of-line before role specification"))?,
        dir,
        lineno,
        0,
    )?;
    let mut i = 3;
    let address = if conn == ConnType::Local {
        None
    } else {
        let (a, used) = parse_address(&fields, i, lineno)?;
        i += used;
        Some(a)
    };
    let mtok = single(
        fields
            .get(i)
            .ok_or_else(|| err(lineno, "end-of-line before authentication method"))?,
        lineno,
        "authentication type",
    )?;
    let method = Method::from_keyword(&mtok.text).ok_or_else(|| {
        err(
            lineno,
            format!("invalid authentication method \"{}\"", mtok.text),
        )
    })?;
    let mut options = HbaOptions::default();
    for f in &fields[i + 1..] {
        for t in f {
            let (name, value) = t.text.split_once('=').ok_or_else(|| {
                err(
                    lineno,
                    format!("authentication option not in name=value format: {}", t.text),
                )
            })?;
            set_option(&mut options, method, name, value, lineno)?;
        }
    }
    if method == Method::Ldap {
        check_ldap(&options, lineno)?;
    }
    Ok(HbaRule {
        line: lineno,
        conn,
        databases,
        users,
        address,
        method,
        options,
    })
}

/// Parse the text of pool_hba.conf. `dir` resolves `@file` tokens; `ssl` is the `ssl`
/// parameter (for the hostssl warning). At least one rule is required.
pub fn parse_hba(text: &str, dir: &Path, ssl: bool, file: &str) -> Result<Vec<HbaRule>, HbaError> {
    let mut rules = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let fields = tokenize_line(line, n + 1)?;
        if fields.is_empty() {
            continue;
        }
        rules.push(parse_record(fields, dir, n + 1, ssl)?);
    }
    if rules.is_empty() {
        return Err(err(
            0,
            format!("configuration file \"{file}\" contains no entries"),
        ));
    }
    Ok(rules)
}
