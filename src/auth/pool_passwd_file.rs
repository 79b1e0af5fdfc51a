//! Writing pool_passwd entries, as `pg_md5 -m` and `pg_enc -m` do (spec/config.md §7.2,
//! spec/cli.md §2–§3): the line of an existing user is replaced in place, otherwise
//! `user:value\n` is appended; the file is created if missing and rewritten with the same inode
//! (truncate + write), so running pgpool processes see the change at their next lookup. Also
//! where the tools find that file: the `pool_passwd` parameter of their configuration.

use std::io::Write as _;
use std::path::Path;

/// The user field of a pool_passwd line (backslash escapes removed), if it has one.
fn line_user(line: &str) -> Option<String> {
    let mut user = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => user.push(chars.next()?),
            ':' => return Some(user),
            c => user.push(c),
        }
    }
    None
}

/// Escape `:` and `\` in a user name.
fn escape_user(user: &str) -> String {
    let mut s = String::with_capacity(user.len());
    for c in user.chars() {
        if c == ':' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// The new text of pool_passwd with `user`'s entry set to `value`.
pub fn with_entry(text: &str, user: &str, value: &str) -> String {
    let new_line = format!("{}:{}", escape_user(user), value);
    let mut out = String::with_capacity(text.len() + new_line.len() + 1);
    let mut replaced = false;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if !replaced && line_user(body).as_deref() == Some(user) {
            out.push_str(&new_line);
            out.push('\n');
            replaced = true;
        } else {
            out.push_str(line);
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&new_line);
        out.push('\n');
    }
    out
}

/// Set `user`'s entry in the pool_passwd file at `path` (created if missing).
pub fn set_entry(path: &Path, user: &str, value: &str) -> std::io::Result<()> {
    let text = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let new = with_entry(&text, user, value);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(new.as_bytes())
}

/// The pool_passwd file named by the configuration `config` (relative to its directory;
/// `pool_passwd` when the parameter is empty). A missing configuration is an error here, unlike
/// for the server: pgpool's WARNING goes to stderr, and Err holds the message the tools end
/// with.
pub fn locate(config: &std::path::Path) -> Result<std::path::PathBuf, String> {
    use std::io::Write;
    let loaded = if config.is_file() {
        crate::config::Config::load(config).ok()
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "WARNING: pid {}: could not open configuration file: \"{}\"",
            std::process::id(),
            config.display()
        );
        None
    };
    let Some((cfg, _)) = loaded else {
        return Err("Unable to get configuration. Exiting...\n".into());
    };
    let name = cfg.get_str("pool_passwd");
    Ok(cfg.resolve(if name.is_empty() { "pool_passwd" } else { name }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_in_place_or_appends() {
        assert_eq!(with_entry("", "a", "x"), "a:x\n");
        assert_eq!(with_entry("b:1\na:2\nc:3\n", "a", "x"), "b:1\na:x\nc:3\n");
        assert_eq!(with_entry("b:1", "a", "x"), "b:1\na:x\n");
        assert_eq!(with_entry("a\\:b:1\n", "a:b", "x"), "a\\:b:x\n");
        assert_eq!(with_entry("ab:1\n", "a", "x"), "ab:1\na:x\n");
    }
}
