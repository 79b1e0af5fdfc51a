//! The logging collector (`logging_collector = on`, spec/architecture.md §8): the main process
//! forks the logger process and points its own stdout/stderr at a pipe, so every later process
//! logs into it; the logger writes what arrives to `log_directory/log_filename` (strftime),
//! rotating by age, by size and on SIGUSR1, re-reading its settings on SIGHUP, and exiting only
//! when the pipe reaches end-of-file (every writer gone), so the last lines of a shutdown are
//! kept. Rotation follows pgpool's (PostgreSQL's syslogger) rules.

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write as _;
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::{ForkResult, Pid};

use super::clock::{unix_now, LocalTime};
use super::pipe::{Reassembler, CHUNK_MAX};
use super::settings::{CollectorSettings, LogSettings};
use super::subscriber::{COLLECTOR_SELF_QUEUE, IS_COLLECTOR_PROCESS, STDERR_IS_COLLECTOR_PIPE};
use super::Severity;
use crate::pglog;

static GOT_SIGHUP: AtomicBool = AtomicBool::new(false);
static ROTATION_REQUESTED: AtomicBool = AtomicBool::new(false);

/// The pipe's read end, kept open by the main process so a restarted logger reads the same
/// pipe the running processes write into (-1 before the first start).
static PIPE_READ: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_sighup(_: libc::c_int) {
    GOT_SIGHUP.store(true, Ordering::Relaxed);
}

extern "C" fn on_sigusr1(_: libc::c_int) {
    ROTATION_REQUESTED.store(true, Ordering::Relaxed);
}

/// Ask the collector loop of this process to rotate now (what SIGUSR1 does).
pub fn request_rotation() {
    ROTATION_REQUESTED.store(true, Ordering::Relaxed);
}

/// Ask the collector loop of this process to re-read its settings (what SIGHUP does).
pub fn request_reload() {
    GOT_SIGHUP.store(true, Ordering::Relaxed);
}

/// `log_directory/strftime(log_filename)` at `secs`.
pub fn logfile_name(cs: &CollectorSettings, secs: i64) -> PathBuf {
    cs.directory
        .join(super::clock::strftime_local(&cs.filename, secs))
}

/// Open a log file for appending (or truncating), giving a newly created file the mode
/// `log_file_mode` plus owner write, without execute bits (what pgpool's umask dance yields).
fn open_log_file(path: &Path, file_mode: u32, truncate: bool) -> std::io::Result<File> {
    let mode = (file_mode | 0o200) & 0o666;
    let existed = path.exists();
    let mut opts = OpenOptions::new();
    opts.create(true).mode(mode);
    if truncate {
        opts.write(true).truncate(true);
    } else {
        opts.append(true);
    }
    let f = opts.open(path)?;
    if !existed {
        // The process umask may have removed bits log_file_mode asks for.
        f.set_permissions(Permissions::from_mode(mode))?;
    }
    Ok(f)
}

/// Create the log directory (mode 0700) if missing; errors are left for the file open to report.
fn make_log_dir(dir: &Path) {
    let _ = std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Ok(())
            } else {
                Err(e)
            }
        });
}

/// The logger's state: the open file and when to rotate next.
pub(crate) struct Collector {
    settings: LogSettings,
    cs: CollectorSettings,
    file: File,
    file_size: u64,
    last_file_name: PathBuf,
    /// Unix time of the next time-based rotation (meaningful when rotation_age_min > 0).
    next_rotation: i64,
    rotation_disabled: bool,
}

impl Collector {
    /// Open the first file (always appending) named for `start_time`.
    pub(crate) fn open(settings: &LogSettings, start_time: i64) -> std::io::Result<Collector> {
        let cs = settings.collector.clone().unwrap_or_default();
        make_log_dir(&cs.directory);
        let name = logfile_name(&cs, start_time);
        let file = open_log_file(&name, cs.file_mode, false)?;
        Ok(Collector::with_file(settings, file, name))
    }

    fn with_file(settings: &LogSettings, file: File, name: PathBuf) -> Collector {
        let cs = settings.collector.clone().unwrap_or_default();
        let file_size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut c = Collector {
            settings: settings.clone(),
            cs,
            file,
            file_size,
            last_file_name: name,
            next_rotation: 0,
            rotation_disabled: false,
        };
        c.set_next_rotation_time(unix_now());
        c
    }

    /// The next multiple of log_rotation_age, counted from local midnight-aligned epochs.
    fn set_next_rotation_time(&mut self, now: i64) {
        let age = self.cs.rotation_age_min;
        if age <= 0 {
            return;
        }
        let interval = age.saturating_mul(60);
        let off = LocalTime::from_unix(now).utc_offset;
        let local = now + off;
        self.next_rotation = local - local.rem_euclid(interval) + interval - off;
    }

    pub(crate) fn write(&mut self, data: &[u8]) {
        match self.file.write_all(data) {
            Ok(()) => self.file_size += data.len() as u64,
            Err(e) => {
                // Reporting through the log would come straight back here: use the
                // logger's own stderr (the original terminal, or /dev/null after a restart).
                let msg = format!("could not write to log file: {e}\n");
                // SAFETY: writes msg.len() bytes from a valid buffer to fd 2.
                let _ = unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
            }
        }
    }

    /// Switch files. A time-based rotation names the file after the planned rotation time and
    /// truncates when log_truncate_on_rotation is on and the name changed; every other
    /// rotation appends.
    pub(crate) fn rotate(&mut self, time_based: bool) {
        let fntime = if time_based {
            self.next_rotation
        } else {
            unix_now()
        };
        let name = logfile_name(&self.cs, fntime);
        let truncate = self.cs.truncate_on_rotation && time_based && name != self.last_file_name;
        match open_log_file(&name, self.cs.file_mode, truncate) {
            Ok(f) => {
                self.file_size = if truncate {
                    0
                } else {
                    f.metadata().map(|m| m.len()).unwrap_or(0)
                };
                self.file = f;
                self.last_file_name = name;
            }
            Err(e) => {
                pglog!(
                    Severity::Log,
                    "could not open log file \"{}\": {}",
                    name.display(),
                    e
                );
                // Out of descriptors is passing: keep the old file and retry later.
                let transient = matches!(e.raw_os_error(), Some(libc::ENFILE | libc::EMFILE));
                if !transient {
                    pglog!(
                        Severity::Log,
                        "disabling automatic rotation (use SIGHUP to re-enable)"
                    );
                    self.rotation_disabled = true;
                }
                return;
            }
        }
        self.set_next_rotation_time(unix_now());
    }

    /// New settings at SIGHUP: a changed directory or file name forces a rotation, a changed
    /// age reschedules, and a rotation disabled by an error is re-enabled.
    fn reload(&mut self, new: LogSettings) -> bool {
        let mut rotate = false;
        let new_cs = new.collector.clone().unwrap_or_else(|| self.cs.clone());
        if new_cs.directory != self.cs.directory {
            make_log_dir(&new_cs.directory);
            rotate = true;
        }
        if new_cs.filename != self.cs.filename {
            rotate = true;
        }
        let age_changed = new_cs.rotation_age_min != self.cs.rotation_age_min;
        self.cs = new_cs;
        self.settings = new;
        if age_changed {
            self.set_next_rotation_time(unix_now());
        }
        if self.rotation_disabled {
            self.rotation_disabled = false;
            rotate = true;
        }
        rotate
    }

    /// Size-based rotation is due: checked when new output arrives, so a full file is
    /// rotated before it grows further and never reopened while nothing is written.
    fn size_exceeded(&self) -> bool {
        self.cs.rotation_size_kb > 0
            && !self.rotation_disabled
            && self.file_size >= (self.cs.rotation_size_kb as u64).saturating_mul(1024)
    }

    fn drain_self_queue(&mut self) {
        let pending = match COLLECTOR_SELF_QUEUE.lock() {
            Ok(mut q) if !q.is_empty() => std::mem::take(&mut *q),
            _ => return,
        };
        self.write(&pending);
    }

    /// Milliseconds to wait in poll: until the next time-based rotation, at most one second
    /// (so a signal that lands just before poll is seen within a second).
    fn poll_timeout_ms(&self, now: i64) -> u16 {
        if self.cs.rotation_age_min > 0 && !self.rotation_disabled {
            let secs = (self.next_rotation - now).clamp(0, 1);
            (secs * 1000) as u16
        } else {
            1000
        }
    }

    fn run(
        &mut self,
        read_fd: BorrowedFd<'_>,
        reload: &mut dyn FnMut() -> Option<LogSettings>,
    ) -> std::io::Result<()> {
        let mut input = Reassembler::default();
        let mut buf = vec![0u8; 2 * CHUNK_MAX];
        loop {
            let mut rotation_requested = ROTATION_REQUESTED.swap(false, Ordering::Relaxed);
            if GOT_SIGHUP.swap(false, Ordering::Relaxed) {
                if let Some(new) = reload() {
                    super::apply(&new);
                    rotation_requested |= self.reload(new);
                }
            }
            let now = unix_now();
            let mut time_based = false;
            if self.cs.rotation_age_min > 0 && !self.rotation_disabled && now >= self.next_rotation
            {
                rotation_requested = true;
                time_based = true;
            }
            if rotation_requested {
                self.rotate(time_based);
            }
            self.drain_self_queue();

            let mut fds = [PollFd::new(read_fd, PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, self.poll_timeout_ms(now)) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
            match nix::unistd::read(read_fd.as_raw_fd(), &mut buf) {
                Ok(0) => {
                    // End of file: every process holding the write end is gone.
                    let mut out = Vec::new();
                    input.flush(&mut |b| out.extend_from_slice(b));
                    self.write(&out);
                    pglog!(Severity::Debug1, "logger shutting down");
                    self.drain_self_queue();
                    return Ok(());
                }
                Ok(n) => {
                    let mut out = Vec::new();
                    input.feed(&buf[..n], &mut |b| out.extend_from_slice(b));
                    if !out.is_empty() {
                        if self.size_exceeded() {
                            self.rotate(false);
                        }
                        self.write(&out);
                    }
                }
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(e) => {
                    pglog!(Severity::Log, "could not read from logger pipe: {}", e);
                }
            }
        }
    }
}

/// Run the collector on `read_fd` until end-of-file: write what arrives to
/// `log_directory/log_filename` per `settings.collector` (defaults when `None`), rotating as
/// configured and on [`request_rotation`] (SIGUSR1 in the logger process), and calling
/// `reload` after [`request_reload`] (SIGHUP). Installs no signal handlers itself.
pub fn collector_loop(
    read_fd: BorrowedFd<'_>,
    settings: &LogSettings,
    mut reload: impl FnMut() -> Option<LogSettings>,
) -> std::io::Result<()> {
    let mut c = Collector::open(settings, unix_now())?;
    c.run(read_fd, &mut reload)
}

fn install_logger_signals() -> nix::Result<()> {
    let flags = SaFlags::empty();
    let mask = SigSet::empty();
    let hup = SigAction::new(SigHandler::Handler(on_sighup), flags, mask);
    let usr1 = SigAction::new(SigHandler::Handler(on_sigusr1), flags, mask);
    let ign = SigAction::new(SigHandler::SigIgn, flags, mask);
    let dfl = SigAction::new(SigHandler::SigDfl, flags, mask);
    // SAFETY: the handlers only store to atomics (async-signal-safe); the others are
    // SIG_IGN/SIG_DFL. The logger process is single-threaded.
    unsafe {
        signal::sigaction(Signal::SIGHUP, &hup)?;
        signal::sigaction(Signal::SIGUSR1, &usr1)?;
        // Exit only at pipe EOF, so the dying words of every other process are kept.
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGQUIT,
            Signal::SIGALRM,
            Signal::SIGPIPE,
            Signal::SIGUSR2,
        ] {
            signal::sigaction(s, &ign)?;
        }
        signal::sigaction(Signal::SIGCHLD, &dfl)?;
    }
    signal::sigprocmask(
        signal::SigmaskHow::SIG_SETMASK,
        Some(&SigSet::empty()),
        None,
    )
}

/// Point fds 1 and 2 at /dev/null (a restarted logger inherited the pipe as its stderr, which
/// would keep its own input open forever).
fn stdio_to_devnull() {
    if let Ok(null) = OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
        let _ = nix::unistd::dup2(null.as_raw_fd(), 2);
    }
}

/// Start (or restart) the logger process. In the main process: create the pipe on the first
/// call, create the log directory, open the first log file (to fail early if it cannot be
/// written), fork, and on the first call redirect this process's stdout/stderr into the pipe
/// so every process forked afterwards logs through the collector. `reload` runs in the logger
/// process on SIGHUP and returns the new settings (None keeps the old ones).
pub fn start_collector(
    settings: &LogSettings,
    reload: impl FnMut() -> Option<LogSettings>,
) -> nix::Result<Pid> {
    let mut write_end: Option<OwnedFd> = None;
    if PIPE_READ.load(Ordering::Relaxed) < 0 {
        let (r, w) = nix::unistd::pipe()?;
        PIPE_READ.store(r.into_raw_fd(), Ordering::Relaxed);
        write_end = Some(w);
    }
    let read_raw: RawFd = PIPE_READ.load(Ordering::Relaxed);
    let start = unix_now();
    let collector = Collector::open(settings, start).map_err(|e| {
        let cs = settings.collector.clone().unwrap_or_default();
        pglog!(
            Severity::Log,
            "could not open log file \"{}\": {}",
            logfile_name(&cs, start).display(),
            e
        );
        e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
    })?;
    let redirected = STDERR_IS_COLLECTOR_PIPE.load(Ordering::Relaxed);

    // SAFETY: the main process forks the logger before any other child and runs no other
    // threads (design.md §1), so the child's copy of every lock and allocator is consistent.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Child => {
            IS_COLLECTOR_PROCESS.store(true, Ordering::Relaxed);
            super::set_process("logger", "LOGGER");
            if redirected {
                stdio_to_devnull();
            }
            // Our copy of the write end would keep the pipe from ever reaching EOF.
            drop(write_end);
            if let Err(e) = install_logger_signals() {
                pglog!(
                    Severity::Warning,
                    "could not set up logger signal handlers: {}",
                    e
                );
            }
            let mut collector = collector;
            let mut reload = reload;
            // SAFETY: read_raw is the pipe's read end, open in this process (inherited
            // across fork) and used only through this borrow until exit.
            let read_fd = unsafe { BorrowedFd::borrow_raw(read_raw) };
            let code = match collector.run(read_fd, &mut reload) {
                Ok(()) => 0,
                Err(e) => {
                    pglog!(Severity::Fatal, "logger failed: {}", e);
                    collector.drain_self_queue();
                    1
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            drop(collector);
            if let Some(w) = write_end {
                if !redirected {
                    let dir = settings
                        .collector
                        .as_ref()
                        .map(|c| c.directory.display().to_string())
                        .unwrap_or_default();
                    pglog!(
                        Severity::Log,
                        hint = format!("Future log output will appear in directory \"{dir}\".");
                        "redirecting log output to logging collector process"
                    );
                    nix::unistd::dup2(w.as_raw_fd(), 1)?;
                    nix::unistd::dup2(w.as_raw_fd(), 2)?;
                    STDERR_IS_COLLECTOR_PIPE.store(true, Ordering::Relaxed);
                }
                drop(w);
            }
            Ok(child)
        }
    }
}

/// The raw pipe read end kept by the main process, if the collector was started (children
/// other than the logger may close it).
pub fn collector_pipe_read_fd() -> Option<RawFd> {
    let fd = PIPE_READ.load(Ordering::Relaxed);
    (fd >= 0).then_some(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn settings(dir: &Path, filename: &str, size_kb: i64, truncate: bool) -> LogSettings {
        LogSettings {
            collector: Some(CollectorSettings {
                directory: dir.to_path_buf(),
                filename: filename.to_string(),
                file_mode: 0o640,
                rotation_age_min: 0,
                rotation_size_kb: size_kb,
                truncate_on_rotation: truncate,
            }),
            ..LogSettings::default()
        }
    }

    fn files(dir: &Path) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| {
                let e = e.expect("entry");
                let name = e.file_name().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(e.path()).expect("read");
                (name, text)
            })
            .collect();
        v.sort();
        v
    }

    fn write_all(fd: &OwnedFd, data: &[u8]) {
        let mut f = File::from(fd.try_clone().expect("dup"));
        f.write_all(data).expect("write");
    }

    #[test]
    fn loop_writes_records_and_stops_at_eof() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logdir = dir.path().join("logs"); // created by the collector
        let s = settings(&logdir, "pgpool-%Y.log", 0, false);
        let (r, w) = nix::unistd::pipe().expect("pipe");
        let writer = std::thread::spawn(move || {
            let mut chunks = Vec::new();
            super::super::pipe::encode_chunks(b"a: LOG:  one\n", 7, |c| chunks.push(c.to_vec()));
            for c in &chunks {
                write_all(&w, c);
            }
            write_all(&w, b"raw output\n");
            drop(w);
        });
        collector_loop(r.as_fd(), &s, || None).expect("loop");
        writer.join().expect("writer");
        let f = files(&logdir);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].1, "a: LOG:  one\nraw output\n");
        assert!(f[0].0.starts_with("pgpool-") && f[0].0.ends_with(".log"));
        let mode = std::fs::metadata(logdir.join(&f[0].0))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    #[test]
    fn size_rotation_opens_a_second_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        // %s (seconds since the epoch) gives each second its own name.
        let s = settings(dir.path(), "pgpool-%s.log", 1, false);
        let (r, w) = nix::unistd::pipe().expect("pipe");
        let writer = std::thread::spawn(move || {
            write_all(&w, &vec![b'x'; 1500]);
            write_all(&w, b"\n");
            std::thread::sleep(std::time::Duration::from_millis(1100));
            write_all(&w, b"after\n");
            drop(w);
        });
        collector_loop(r.as_fd(), &s, || None).expect("loop");
        writer.join().expect("writer");
        let f = files(dir.path());
        assert_eq!(
            f.len(),
            2,
            "{:?}",
            f.iter().map(|x| &x.0).collect::<Vec<_>>()
        );
        assert_eq!(f[0].1.len(), 1501);
        assert_eq!(f[1].1, "after\n");
    }

    #[test]
    fn time_rotation_truncates_only_when_asked() {
        for truncate in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let s = settings(dir.path(), "pgpool-%s.log", 0, truncate);
            let cs = s.collector.clone().expect("collector");
            let mut c = Collector::open(&s, 1_000).expect("open");
            c.write(b"first\n");
            // A file left over from an earlier run under the next rotation's name.
            let next = logfile_name(&cs, 2_000);
            std::fs::write(&next, "old contents\n").expect("seed");
            c.next_rotation = 2_000;
            c.rotate(true);
            c.write(b"second\n");
            let text = std::fs::read_to_string(&next).expect("read");
            if truncate {
                assert_eq!(text, "second\n");
            } else {
                assert_eq!(text, "old contents\nsecond\n");
            }
            let before = std::fs::read_to_string(logfile_name(&cs, 1_000)).expect("read");
            assert_eq!(before, "first\n");
        }
    }

    #[test]
    fn next_rotation_is_aligned_to_local_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = settings(dir.path(), "x.log", 0, false);
        if let Some(c) = s.collector.as_mut() {
            c.rotation_age_min = 60;
        }
        let mut c = Collector::open(&s, unix_now()).expect("open");
        let now = 1_700_000_123;
        c.set_next_rotation_time(now);
        let off = LocalTime::from_unix(now).utc_offset;
        assert!(c.next_rotation > now && c.next_rotation <= now + 3600);
        assert_eq!((c.next_rotation + off).rem_euclid(3600), 0);
    }

    #[test]
    fn reload_with_new_directory_forces_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = settings(&dir.path().join("a"), "x.log", 0, false);
        let mut c = Collector::open(&s, unix_now()).expect("open");
        assert!(!c.reload(s.clone()));
        let s2 = settings(&dir.path().join("b"), "x.log", 0, false);
        assert!(c.reload(s2));
        c.rotate(false);
        c.write(b"in b\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("b/x.log")).expect("read"),
            "in b\n"
        );
    }
}
