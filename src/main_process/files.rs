//! The main process's own files: the pid file (`"<pid>\0"`, mode 0600, fsync'd) and the
//! `pgpool_status` file that carries node states across restarts (spec/config.md §7.6, §7.7).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::logger::Severity;
use crate::pglog;
use crate::shmem::{BackendStatus, Shmem};

/// Why a pid file that exists could not give a pid.
#[derive(Debug)]
pub enum PidFileError {
    /// The file is empty.
    Eof,
    /// Reading it failed (e.g. it is a directory).
    Read(std::io::Error),
}

impl PidFileError {
    /// pgpool's FATAL for it (message, detail): the detail of an empty file is the `Success`
    /// of pgpool's `strerror(errno)` with no error set.
    pub fn report(&self, path: &Path) -> (String, String) {
        match self {
            PidFileError::Eof => (
                format!("EOF detected while reading pid file \"{}\"", path.display()),
                "Success".into(),
            ),
            PidFileError::Read(e) => (
                format!("could not read pid file \"{}\"", path.display()),
                strerror(e),
            ),
        }
    }
}

/// The C library's text for `e` ("No such file or directory"), without Rust's "(os error N)".
pub fn strerror(e: &std::io::Error) -> String {
    e.raw_os_error().map_or_else(
        || e.to_string(),
        |code| nix::errno::Errno::from_raw(code).desc().to_owned(),
    )
}

/// Read the pid in a pid file: Ok(None) when the file cannot be opened (missing), an error
/// when it is empty or unreadable, else `atoi` of its content (leading blanks, an optional
/// sign, digits) when that is a positive pid. A content giving no positive pid is taken as no
/// pid, where pgpool would signal pid 0 (its own process group) or a group.
pub fn read_pid(path: &Path) -> Result<Option<i32>, PidFileError> {
    let Ok(mut file) = fs::File::open(path) else {
        return Ok(None);
    };
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut raw).map_err(PidFileError::Read)?;
    if raw.is_empty() {
        return Err(PidFileError::Eof);
    }
    let text = raw.trim_ascii_start();
    let text = text.strip_prefix(b"+").unwrap_or(text);
    let digits: String = text
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|&b| b as char)
        .collect();
    Ok(digits.parse().ok().filter(|&p| p > 0))
}

/// Write the pid file: decimal pid and one NUL byte, mode 0600, fsync'd. An error says which
/// step failed (`open`, `write`, `fsync`), for pgpool's `could not <step> pid file "<path>"`.
pub fn write_pid(path: &Path, pid: i32) -> Result<(), (&'static str, std::io::Error)> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ("open", e))?;
    f.write_all(format!("{pid}\0").as_bytes())
        .map_err(|e| ("write", e))?;
    f.sync_all().map_err(|e| ("fsync", e))
}

/// The status each configured node starts with, from `pgpool_status` (§7.7). `configured[i]`
/// says whether slot i has a backend. Returns None when the file is missing.
pub fn read_status(path: &Path, configured: &[bool]) -> Option<Vec<BackendStatus>> {
    let raw = match fs::read(path) {
        Ok(r) => r,
        Err(_) => {
            pglog!(
                Severity::Log,
                "Backend status file {} does not exist",
                path.display()
            );
            return None;
        }
    };
    let mut st = vec![BackendStatus::Unused; configured.len()];
    let legacy = raw.len() >= 4 * crate::shmem::MAX_BACKENDS && {
        let vals: Vec<i32> = raw
            .chunks_exact(4)
            .take(crate::shmem::MAX_BACKENDS)
            .map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let ok = configured
            .iter()
            .enumerate()
            .all(|(i, &c)| !c || (1..=3).contains(&vals[i]));
        if ok {
            for (i, s) in st.iter_mut().enumerate() {
                *s = BackendStatus::from_u8(vals[i] as u8);
                if configured[i] && *s == BackendStatus::Down {
                    log_down(i);
                }
            }
        }
        ok
    };
    if !legacy {
        let text = String::from_utf8_lossy(&raw);
        for (i, line) in text.lines().enumerate().take(st.len()) {
            let l = line.to_ascii_lowercase();
            st[i] = if l.starts_with("up") {
                BackendStatus::Up
            } else if l.starts_with("down") {
                log_down(i);
                BackendStatus::Down
            } else if l.starts_with("unused") {
                BackendStatus::Unused
            } else {
                pglog!(
                    Severity::Warning,
                    "invalid data in status file, ignoring..."
                );
                continue;
            };
        }
    }
    // a node the file says is up starts as up, as in pgpool (only a node without a line
    // there starts as waiting)
    for (i, s) in st.iter_mut().enumerate() {
        if !configured[i] {
            *s = BackendStatus::Unused;
        }
    }
    if !st.iter().any(|s| s.is_valid()) {
        // A file with no live node is bogus: everything configured starts as waiting.
        for (i, s) in st.iter_mut().enumerate() {
            *s = if configured[i] {
                BackendStatus::ConnectWait
            } else {
                BackendStatus::Unused
            };
        }
    }
    Some(st)
}

/// pgpool's LOG for each node the status file records as down (the "th" is pgpool's).
fn log_down(node: usize) {
    pglog!(
        Severity::Log,
        "reading status file: {} th backend is set to down status",
        node
    );
}

/// Rewrite `pgpool_status` from shared memory, unless every node is down.
pub fn write_status(path: &Path, sh: &Shmem) {
    let n = sh.num_backends();
    let states: Vec<BackendStatus> = (0..n).map(|i| sh.backend(i).status()).collect();
    if !states.is_empty() && states.iter().all(|s| *s == BackendStatus::Down) {
        pglog!(
            Severity::Warning,
            "All the DB nodes are in down status and skip writing status file."
        );
        return;
    }
    let mut text = String::new();
    for s in states {
        text.push_str(match s {
            BackendStatus::Up | BackendStatus::ConnectWait => "up\n",
            BackendStatus::Down => "down\n",
            BackendStatus::Unused => "unused\n",
        });
    }
    let res = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|_| f.sync_all()));
    if let Err(e) = res {
        pglog!(Severity::Warning, detail = strerror(&e); "could not write status file \"{}\"", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_file_text_and_bogus_forms() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("pgpool_status");
        fs::write(&p, "up\ndown\n").expect("write");
        let st = read_status(&p, &[true, true, true]).expect("read");
        assert_eq!(
            st,
            vec![
                BackendStatus::Up,
                BackendStatus::Down,
                BackendStatus::Unused
            ]
        );
        fs::write(&p, "down\ndown\n").expect("write");
        let st = read_status(&p, &[true, true]).expect("read");
        assert_eq!(
            st,
            vec![BackendStatus::ConnectWait, BackendStatus::ConnectWait]
        );
        assert!(read_status(&dir.path().join("nope"), &[true]).is_none());
    }

    #[test]
    fn pid_file_is_pid_and_nul() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("pgpool.pid");
        write_pid(&p, 4321).expect("write");
        assert_eq!(fs::read(&p).expect("read"), b"4321\0");
        assert_eq!(read_pid(&p).expect("read"), Some(4321));
        fs::write(&p, "99\n").expect("write");
        assert_eq!(read_pid(&p).expect("read"), Some(99));
        fs::write(&p, " \t+12x").expect("write");
        assert_eq!(read_pid(&p).expect("read"), Some(12));
        fs::write(&p, "abc").expect("write");
        assert_eq!(read_pid(&p).expect("read"), None);
        fs::write(&p, "").expect("write");
        assert!(matches!(read_pid(&p), Err(PidFileError::Eof)));
        assert!(matches!(read_pid(dir.path()), Err(PidFileError::Read(_))));
        assert_eq!(read_pid(&dir.path().join("nope")).expect("missing"), None);
    }
}
