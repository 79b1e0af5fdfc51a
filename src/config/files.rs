//! Readers for the small credential files next to pgpool.conf: `pool_passwd` (spec/config.md
//! §7.2: user → stored password, classified by prefix) and `pcp.conf` (§7.4: PCP user → md5 of
//! the password). pool_hba.conf and .pcppass are not read here yet.

use std::path::Path;

use super::error::ConfigError;

/// The form of a password stored in pool_passwd, decided by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordKind {
    /// `md5` + 32 hex digits = "md5" + md5hex(password + username).
    Md5,
    /// `AES` + base64 of the AES-256-CBC encrypted password.
    Aes,
    /// `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`.
    Scram,
    /// `TEXT` + clear-text password.
    Text,
    /// Anything else: clear text.
    Plain,
}

/// Classify a stored password (also used for `*_password` parameters).
pub fn password_kind(stored: &str) -> PasswordKind {
    if stored.len() == 35
        && stored.starts_with("md5")
        && stored[3..].bytes().all(|b| b.is_ascii_hexdigit())
    {
        PasswordKind::Md5
    } else if stored.starts_with("AES") {
        PasswordKind::Aes
    } else if stored.starts_with("SCRAM-SHA-256$") {
        PasswordKind::Scram
    } else if stored.starts_with("TEXT") {
        PasswordKind::Text
    } else {
        PasswordKind::Plain
    }
}

/// One pool_passwd line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPasswdEntry {
    pub user: String,
    /// The stored value, prefix included (`md5…`, `AES…`, `TEXT…`, or plain).
    pub password: String,
}

impl PoolPasswdEntry {
    pub fn kind(&self) -> PasswordKind {
        password_kind(&self.password)
    }
    /// The clear-text password for `TEXT` and plain entries (AES needs the key: see auth).
    pub fn clear_text(&self) -> Option<&str> {
        match self.kind() {
            PasswordKind::Text => self.password.get(4..),
            PasswordKind::Plain => Some(&self.password),
            _ => None,
        }
    }
}

/// Read one `:`-terminated field where a backslash escapes the next character.
fn field(s: &[u8]) -> (Vec<u8>, Option<&[u8]>) {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' if i + 1 < s.len() => {
                out.push(s[i + 1]);
                i += 2;
            }
            b':' => return (out, Some(&s[i + 1..])),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    (out, None)
}

/// Parse pool_passwd text: `user:password[:ignored…]` per line; lines without `:` are skipped
/// (there is no comment syntax; a `#…` line simply never matches a real user).
pub fn parse_pool_passwd(text: &[u8]) -> Vec<PoolPasswdEntry> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let (user, rest) = field(line);
        let Some(rest) = rest else { continue };
        let (password, _) = field(rest);
        out.push(PoolPasswdEntry {
            user: String::from_utf8_lossy(&user).into_owned(),
            password: String::from_utf8_lossy(&password).into_owned(),
        });
    }
    out
}

/// Read pool_passwd from disk.
pub fn read_pool_passwd(path: &Path) -> std::io::Result<Vec<PoolPasswdEntry>> {
    Ok(parse_pool_passwd(&std::fs::read(path)?))
}

/// pool_passwd held open the way pgpool holds it (spec/auth.md §7.1): every lookup reads the
/// same file again from its start, so an entry rewritten in place counts at once and a file
/// replaced by rename only after a reload (which reopens it). No open/stat/close per connection.
#[derive(Debug, Default)]
pub struct PoolPasswdReader {
    open: Option<(std::path::PathBuf, std::fs::File)>,
}

impl PoolPasswdReader {
    /// The password stored for `user` in the file at `path` (opened now if not yet, or if the
    /// path changed).
    pub fn lookup(&mut self, path: &Path, user: &str) -> Option<String> {
        if self.open.as_ref().is_none_or(|(p, _)| p != path) {
            self.open = std::fs::File::open(path)
                .ok()
                .map(|f| (path.to_path_buf(), f));
        }
        let (_, file) = self.open.as_ref()?;
        let text = read_from_start(file).ok()?;
        find_user(&parse_pool_passwd(&text), user).map(|e| e.password.clone())
    }

    /// Forget the open file (after a reload): the next lookup opens the path again.
    pub fn reopen(&mut self) {
        self.open = None;
    }
}

/// The whole content of a regular file, read with pread(2) from offset 0: one call when the
/// file fits the buffer (a short read of a regular file means its end).
fn read_from_start(file: &std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    loop {
        let n = file.read_at(&mut buf[len..], len as u64)?;
        len += n;
        if n == 0 || len < buf.len() {
            buf.truncate(len);
            return Ok(buf);
        }
        buf.resize(buf.len() * 2, 0);
    }
}

/// The first entry for `user` with a password (spec/auth.md §7.2: a line of that user with an
/// empty password field is skipped and the search goes on; first match wins, as in pgpool).
pub fn find_user<'a>(entries: &'a [PoolPasswdEntry], user: &str) -> Option<&'a PoolPasswdEntry> {
    entries
        .iter()
        .find(|e| e.user == user && !e.password.is_empty())
}

/// Longest user name, and longest `user:password` line part, pcp.conf may hold (pgpool's
/// `MAX_USER_PASSWD_LEN`).
const PCP_MAX: usize = 128;

/// Check a PCP login against pcp.conf text (`file` names it in errors) the way pgpool reads
/// the file: lines in order, empty and `#` lines skipped, nothing trimmed; each line's user
/// field (up to the first `:`) is compared with `user`, and `matches` is asked about the
/// password field of each line of that user, the first `true` winning. Only what the walk
/// reaches is checked: a line without `:` or with a user field over 128 bytes is an error when
/// reached, and the length limit of the password (the line up to its end must fit in 128
/// bytes) is checked only on `user`'s own lines. So a bad line after the matching one, or
/// another user's over-long password, does not lock anybody out.
pub fn pcp_conf_login(
    text: &[u8],
    file: &str,
    user: &str,
    mut matches: impl FnMut(&str) -> bool,
) -> Result<bool, ConfigError> {
    for line in text.split(|&b| b == b'\n') {
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let user_len = match line.iter().position(|&b| b == b':') {
            Some(n) if n <= PCP_MAX => n,
            _ => {
                return Err(ConfigError::invalid(format!(
                    "username read from file \"{file}\" is larger than maximum allowed username length [{PCP_MAX}]"
                )))
            }
        };
        if &line[..user_len] != user.as_bytes() {
            continue;
        }
        let rest = &line[user_len + 1..];
        let pass = &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())];
        if user_len + 1 + pass.len() > PCP_MAX {
            return Err(ConfigError::invalid(format!(
                "password read from file \"{file}\" is larger than maximum allowed password length [{PCP_MAX}]"
            )));
        }
        if matches(&String::from_utf8_lossy(pass)) {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_passwd_reader_sees_in_place_rewrites_and_renames_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pool_passwd");
        std::fs::write(&path, "alice:TEXTone\n").unwrap();
        let mut r = PoolPasswdReader::default();
        assert_eq!(r.lookup(&path, "alice").as_deref(), Some("TEXTone"));
        assert_eq!(r.lookup(&path, "bob"), None);
        // truncate and rewrite, same inode (what pg_md5 -m does), longer than the read buffer
        let long = format!("{}alice:TEXTtwo\n", "x:y\n".repeat(5000));
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, long.as_bytes()))
            .unwrap();
        assert_eq!(r.lookup(&path, "alice").as_deref(), Some("TEXTtwo"));
        // replaced by rename: the open file is still the old one until a reload reopens
        let tmp = dir.path().join("new");
        std::fs::write(&tmp, "alice:TEXTthree\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(r.lookup(&path, "alice").as_deref(), Some("TEXTtwo"));
        r.reopen();
        assert_eq!(r.lookup(&path, "alice").as_deref(), Some("TEXTthree"));
        // a missing file is no entry, and is looked for again next time
        let gone = dir.path().join("missing");
        assert_eq!(r.lookup(&gone, "alice"), None);
        std::fs::write(&gone, "alice:TEXTfour\n").unwrap();
        assert_eq!(r.lookup(&gone, "alice").as_deref(), Some("TEXTfour"));
    }

    #[test]
    fn pool_passwd_forms_and_escapes() {
        let text = b"alice:md5a3556571e93b0d20722ba62be61e8c2d\nbob:TEXTsecret:x:y\n\
            c\\:d:AESV7IMV7YNworqqZU1Z46Wgw==\nnocolon\ne:plain\\:pw\n#x:y\nf:md5short";
        let e = parse_pool_passwd(text);
        assert_eq!(e.len(), 6);
        assert_eq!(e[0].kind(), PasswordKind::Md5);
        assert_eq!(
            (e[1].user.as_str(), e[1].clear_text()),
            ("bob", Some("secret"))
        );
        assert_eq!(
            (e[2].user.as_str(), e[2].kind()),
            ("c:d", PasswordKind::Aes)
        );
        assert_eq!(e[3].clear_text(), Some("plain:pw"));
        assert_eq!(e[5].kind(), PasswordKind::Plain);
        assert_eq!(
            password_kind("SCRAM-SHA-256$4096:abc$x:y"),
            PasswordKind::Scram
        );
        assert_eq!(
            find_user(&e, "bob").map(|x| x.password.as_str()),
            Some("TEXTsecret")
        );
    }

    #[test]
    fn a_line_with_an_empty_password_is_skipped_by_the_lookup() {
        let e = parse_pool_passwd(b"alice:\nalice:secret\n");
        assert_eq!(
            find_user(&e, "alice").map(|x| x.password.as_str()),
            Some("secret")
        );
        assert_eq!(find_user(&parse_pool_passwd(b"alice:\n"), "alice"), None);
        assert_eq!(
            find_user(&parse_pool_passwd(b"alice::x\nbob:pw\n"), "alice"),
            None
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pool_passwd");
        std::fs::write(&path, "alice:\nalice:TEXTsecret\n").expect("write");
        let mut reader = PoolPasswdReader::default();
        assert_eq!(reader.lookup(&path, "alice").as_deref(), Some("TEXTsecret"));
    }

    #[test]
    fn pcp_conf_lines() {
        let text = b"# comment\n\npostgres:e8a48653851e28c69d0506508fb27fc5\n";
        let mut seen = Vec::new();
        let ok = pcp_conf_login(text, "pcp.conf", "postgres", |p| {
            seen.push(p.to_string());
            true
        });
        assert!(ok.expect("parses"));
        assert_eq!(seen, ["e8a48653851e28c69d0506508fb27fc5"]);
        assert!(!pcp_conf_login(text, "pcp.conf", "other", |_| true).expect("parses"));
        let err = pcp_conf_login(b"nocolon\n", "pcp.conf", "postgres", |_| true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "username read from file \"pcp.conf\" is larger than maximum allowed username length [128]"
        );
    }

    #[test]
    fn pcp_conf_is_walked_line_by_line_up_to_the_matching_one() {
        let admin = "admin:0192023a7bbd73250516f069df18b500\n";
        let long_pw = format!("other:{}\n", "x".repeat(200));
        let ok = |_: &str| true;
        // a bad line after the matching one is never reached
        for bad in [
            "nocolon\n",
            long_pw.as_str(),
            &format!("{}:x\n", "u".repeat(129)),
        ] {
            let text = format!("{admin}{bad}");
            assert_eq!(
                pcp_conf_login(text.as_bytes(), "f", "admin", ok).ok(),
                Some(true),
                "{bad:?}"
            );
        }
        // another user's over-long password is skipped, even before the matching line
        let text = format!("{long_pw}{admin}");
        assert_eq!(
            pcp_conf_login(text.as_bytes(), "f", "admin", ok).ok(),
            Some(true)
        );
        // a line without ':' before it is reached, and is an error
        let text = format!("nocolon\n{admin}");
        assert!(pcp_conf_login(text.as_bytes(), "f", "admin", ok).is_err());
        // the second line of the user is tried when the first does not match
        let text = format!("admin:first\n{admin}");
        let mut tried = Vec::new();
        let r = pcp_conf_login(text.as_bytes(), "f", "admin", |p| {
            tried.push(p.to_string());
            p != "first"
        });
        assert_eq!(r.ok(), Some(true));
        assert_eq!(tried, ["first", "0192023a7bbd73250516f069df18b500"]);
        // the user's own over-long line: user + ':' + password must fit in 128 bytes
        let fits = format!("admin:{}\n", "p".repeat(122));
        assert!(pcp_conf_login(fits.as_bytes(), "f", "admin", ok).is_ok());
        let over = format!("admin:{}\n", "p".repeat(123));
        assert_eq!(
            pcp_conf_login(over.as_bytes(), "f", "admin", ok)
                .unwrap_err()
                .to_string(),
            "password read from file \"f\" is larger than maximum allowed password length [128]"
        );
    }
}
