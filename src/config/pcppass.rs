//! The client-side password file of the `pcp_*` tools (spec/config.md §7.5): `$PCPPASSFILE` or
//! `~/.pcppass`, lines `host:port:user:password`, a field of just `*` matching anything, `\`
//! making the next character plain (`\:`, `\\`, `\*`), the password ending at the first
//! unescaped `:`; first matching line wins; ignored unless a regular file without group/other
//! permissions.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// The file the tools read: `$PCPPASSFILE`, else `$HOME/.pcppass`.
pub fn pcppass_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PCPPASSFILE") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pcppass"))
}

/// If the field at the start of `rest` matches `value`, what follows the field's `:`. A field
/// of exactly `*` matches anything; otherwise the field is compared character by character,
/// a `\` making the next character plain (`\*` is a literal star, `\:` a colon).
fn match_field<'a>(rest: &'a str, value: &str) -> Option<&'a str> {
    if let Some(after) = rest.strip_prefix("*:") {
        return Some(after);
    }
    let mut want = value.chars();
    let mut it = rest.char_indices();
    while let Some((i, c)) = it.next() {
        let (c, escaped) = match c {
            '\\' => (it.next()?.1, true),
            c => (c, false),
        };
        if c == ':' && !escaped {
            return want.next().is_none().then(|| &rest[i + 1..]);
        }
        if want.next() != Some(c) {
            return None;
        }
    }
    None
}

/// The password field: up to the first unescaped `:` (or the end), `\` escapes removed.
fn password_field(rest: &str) -> String {
    let mut out = String::new();
    let mut it = rest.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            ':' => break,
            '\\' if it.peek().is_some() => out.extend(it.next()),
            c => out.push(c),
        }
    }
    out
}

/// The password of the first line of `text` matching host, port and user (lines end at `\n`
/// only: a `\r` before it belongs to the password, as in pgpool).
pub fn lookup_in(text: &str, host: &str, port: &str, user: &str) -> Option<String> {
    text.split('\n').find_map(|line| {
        let rest = match_field(line, host)?;
        let rest = match_field(rest, port)?;
        let rest = match_field(rest, user)?;
        Some(password_field(rest))
    })
}

/// Look the password up in the tools' `.pcppass`. `host` is the `-h` value (`localhost` is
/// matched when it is absent, empty or the default socket directory). Problems with the file are
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
        None | Some("") | Some(crate::pcp::client::DEFAULT_SOCKET_DIR) => "localhost",
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

    #[test]
    fn the_password_ends_at_the_first_unescaped_colon() {
        let get = |text: &str| lookup_in(text, "h", "9898", "admin");
        assert_eq!(get("*:*:admin:secret:").as_deref(), Some("secret"));
        assert_eq!(get("*:*:admin:secret:junk\n").as_deref(), Some("secret"));
        assert_eq!(get("*:*:admin:sec\\:ret:x").as_deref(), Some("sec:ret"));
        assert_eq!(get("*:*:admin:sec\\ret").as_deref(), Some("secret"));
        assert_eq!(get("*:*:admin:a\\\\b").as_deref(), Some("a\\b"));
        assert_eq!(get("*:*:admin:").as_deref(), Some(""));
        assert_eq!(get("*:*:admin"), None, "no password field");
        // the line ends at \n only
        assert_eq!(get("*:*:admin:secret\r\n").as_deref(), Some("secret\r"));
    }

    #[test]
    fn an_escaped_star_is_a_literal_star() {
        let text = "\\*:*:admin:literal\n*:\\*:admin:port\n*:*:admin:any\n";
        assert_eq!(
            lookup_in(text, "h", "9898", "admin").as_deref(),
            Some("any")
        );
        assert_eq!(
            lookup_in(text, "*", "9898", "admin").as_deref(),
            Some("literal")
        );
        assert_eq!(lookup_in(text, "h", "*", "admin").as_deref(), Some("port"));
        // only a field of exactly `*` is a wildcard
        assert_eq!(lookup_in("h*:*:admin:x\n", "host", "1", "admin"), None);
        assert_eq!(lookup_in("* :*:admin:x\n", "h", "1", "admin"), None);
        assert_eq!(
            lookup_in("*:*:adm\\in:x\n", "h", "1", "admin").as_deref(),
            Some("x")
        );
    }
}
