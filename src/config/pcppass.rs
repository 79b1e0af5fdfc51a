//! The client-side password file of the `pcp_*` tools (spec/config.md §7.5): `$PCPPASSFILE` or
//! `~/.pcppass`, lines `host:port:user:password`, `*` matching anything, `\` escaping `:` and
//! `\`, first matching line wins; ignored unless a regular file without group/other permissions.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// The file the tools read: `$PCPPASSFILE`, else `$HOME/.pcppass`.
pub fn pcppass_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PCPPASSFILE") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pcppass"))
}

/// Split one line into its unescaped fields (a `\` before any character keeps that character).
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.last_mut().expect("non-empty").push(n);
                }
            }
            ':' if out.len() < 4 => out.push(String::new()),
            c => out.last_mut().expect("non-empty").push(c),
        }
    }
    out
}

/// The password of the first line of `text` matching host, port and user.
pub fn lookup_in(text: &str, host: &str, port: &str, user: &str) -> Option<String> {
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let f = fields(line);
        if f.len() < 4 {
            continue;
        }
        let matches = |pat: &str, v: &str| pat == "*" || pat == v;
        if matches(&f[0], host) && matches(&f[1], port) && matches(&f[2], user) {
            return Some(f[3].clone());
        }
    }
    None
}

/// Look the password up in the tools' `.pcppass`. `host` is the `-h` value (`localhost` is
/// matched when it is absent or the default socket directory). Problems with the file are
/// returned as warnings (the tools print them in debug mode only).
pub fn lookup(
    host: Option<&str>,
    port: u16,
    user: &str,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let path = pcppass_path()?;
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() {
        warnings.push(format!(
            "WARNING: password file \"{}\" is not a plain file",
            path.display()
        ));
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        warnings.push(format!(
            "WARNING: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
            path.display()
        ));
        return None;
    }
    let text = std::fs::read(&path).ok()?;
    let host = match host {
        None | Some(crate::pcp::client::DEFAULT_SOCKET_DIR) => "localhost",
        Some(h) => h,
    };
    lookup_in(
        &String::from_utf8_lossy(&text),
        host,
        &port.to_string(),
        user,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_escapes_and_first_match() {
        let text = "db1:9898:admin:one\n*:*:admin:two\nlocalhost:9*:x:y\n\\*:1:u:p\\:q\n";
        assert_eq!(
            lookup_in(text, "db1", "9898", "admin").as_deref(),
            Some("one")
        );
        assert_eq!(lookup_in(text, "db2", "1", "admin").as_deref(), Some("two"));
        assert_eq!(lookup_in(text, "localhost", "9898", "x"), None);
        assert_eq!(lookup_in(text, "*", "1", "u").as_deref(), Some("p:q"));
        assert_eq!(lookup_in("short:line\n", "short", "line", ""), None);
    }
}
