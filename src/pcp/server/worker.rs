//! One PCP worker: serves one accepted connection (spec/pcp.md §1–§5) until `X`, end of
//! stream or a FATAL error. It authenticates the peer against pcp.conf (re-read every time,
//! §3), then answers one request at a time; an ERROR leaves the connection usable, a FATAL ends
//! it. SIGTERM lets the current request finish; SIGUSR2 ends a graceful operation's wait.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;

use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::Pid;

use super::ops::{self, After};
use super::{info, PcpError, WAKEUP};
use crate::config::Config;
use crate::logger::Severity;
use crate::pcp::wire::{encode, read_packet, Report, WireError, MAX_REQUEST_LENGTH};
use crate::pglog;
use crate::shmem::shmem;

/// Longest user name a PCP `R` packet may carry (pgpool's MAX_USER_PASSWD_LEN).
const MAX_USER: usize = 128;

/// Set while blocked reading the next request: SIGTERM then ends the worker at once.
static IDLE: AtomicBool = AtomicBool::new(false);
static TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    match sig {
        libc::SIGTERM => {
            if IDLE.load(SeqCst) {
                // SAFETY: _exit is async-signal-safe; an idle worker holds nothing to flush.
                unsafe { libc::_exit(0) };
            }
            TERM.store(true, SeqCst);
        }
        libc::SIGUSR2 => WAKEUP.store(true, SeqCst),
        _ => {}
    }
}

fn install_signals() {
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [Signal::SIGTERM, Signal::SIGUSR2] {
        // SAFETY: the handler only touches atomics or calls _exit.
        let _ = unsafe { sigaction(s, &act) };
    }
    for s in [Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGPIPE] {
        crate::main_process::signals::ignore(s);
    }
}

/// The per-connection state.
pub struct Session<'a> {
    pub cfg: &'a Config,
    pub pcp_file: &'a Path,
    /// The salt of the last `M`, consumed by the next `R`.
    salt: Option<[u8; 4]>,
    authenticated: bool,
    /// Pid of the logging collector (`V` signals it).
    logger_pid: Option<i32>,
    /// Set by `A`.
    pub client_min_messages: String,
}

/// What one request produced.
pub enum Outcome {
    /// Reply bytes (possibly empty) and what to do after sending them.
    Reply(Vec<u8>, After),
    /// `X`: close without a reply.
    Close,
}

impl<'a> Session<'a> {
    pub fn new(cfg: &'a Config, pcp_file: &'a Path, logger_pid: Option<i32>) -> Session<'a> {
        Session {
            cfg,
            pcp_file,
            salt: None,
            authenticated: false,
            logger_pid,
            client_min_messages: "notice".into(),
        }
    }

    /// Answer one request.
    pub fn handle(&mut self, kind: u8, payload: &[u8]) -> Result<Outcome, PcpError> {
        let reply = |b: Vec<u8>| Ok(Outcome::Reply(b, After::Nothing));
        match kind {
            b'M' => {
                let salt: [u8; 4] = rand::random();
                self.salt = Some(salt);
                return reply(encode(b'm', &salt));
            }
            b'R' => {
                return self
                    .authenticate(payload)
                    .and_then(|_| reply(encode(b'r', b"AuthenticationOK\0")))
            }
            b'X' => return Ok(Outcome::Close),
            _ if !self.authenticated => {
                return Err(PcpError::fatal(
                    "authentication failed for new PCP connection",
                    Some("connection not authorized".into()),
                ))
            }
            _ => {}
        }
        let sh = shmem();
        let cfg = self.cfg;
        match kind {
            b'L' => reply(info::node_count(sh)),
            b'I' => reply(info::node_info(cfg, sh, payload)?),
            b'H' => reply(info::health_stats(cfg, sh, payload)?),
            b'N' => reply(info::proc_count(sh)),
            b'P' => reply(info::proc_info(cfg, sh, payload)?),
            b'B' => reply(info::pool_status(cfg, sh)),
            b'W' => Err(info::watchdog_info()),
            b'C' => reply(ops::attach(payload)?),
            b'D' => reply(ops::detach(cfg, sh, payload, false)?),
            b'd' => reply(ops::detach(cfg, sh, payload, true)?),
            b'J' => reply(ops::promote(cfg, sh, payload, false)?),
            b'j' => reply(ops::promote(cfg, sh, payload, true)?),
            b'O' => reply(super::recovery::recover(cfg, sh, payload)?),
            b'T' | b't' => ops::stop(sh, payload).map(|(b, a)| Outcome::Reply(b, a)),
            b'Z' => {
                let (b, a) = ops::reload();
                Ok(Outcome::Reply(b, a))
            }
            b'V' => ops::log_rotate(cfg).map(|(b, a)| Outcome::Reply(b, a)),
            b'G' => Err(ops::invalidate_query_cache()),
            b'A' => {
                // No notices are sent to PCP clients yet, so the level is only remembered.
                let (b, level) = ops::set_parameter(payload)?;
                self.client_min_messages = level;
                reply(b)
            }
            b'F' => reply(Vec::new()),
            other => Err(PcpError::fatal(
                "PCP processing request",
                Some(format!("unknown PCP packet type \"{}\"", other as char)),
            )),
        }
    }

    /// `R`: check `<user>\0<md5 response>\0` against pcp.conf and the salt of the last `M`.
    fn authenticate(&mut self, payload: &[u8]) -> Result<(), PcpError> {
        let Some(salt) = self.salt.take() else {
            self.authenticated = false;
            return Err(PcpError::fatal(
                "authentication failed",
                Some("username and/or password does not match".into()),
            ));
        };
        let read_fail = || {
            PcpError::fatal(
                "failed to authenticate PCP user",
                Some("error while reading authentication packet".into()),
            )
        };
        let nul = payload
            .iter()
            .take(MAX_USER)
            .position(|&b| b == 0)
            .ok_or_else(read_fail)?;
        let user = String::from_utf8_lossy(&payload[..nul]).into_owned();
        let rest = &payload[nul + 1..];
        let response = info::text(rest);
        let file = self.pcp_file.display().to_string();
        let text = std::fs::read(self.pcp_file).map_err(|e| {
            let reason = e
                .raw_os_error()
                .map(|c| nix::errno::Errno::from_raw(c).desc().to_string())
                .unwrap_or_else(|| e.to_string());
            PcpError::fatal(
                "failed to authenticate PCP user",
                Some(format!("could not open {file}. reason: {reason}")),
            )
        })?;
        // the first line of `user` whose stored md5 answers the salt wins; pgpool checks only
        // the lines it reads on the way
        let ok = crate::config::files::pcp_conf_login(&text, &file, &user, |md5| {
            crate::pcp::wire::auth_response(md5, &user, &salt) == response
        })
        .map_err(|e| PcpError::fatal("failed to authenticate PCP user", Some(e.to_string())))?;
        if !ok {
            self.authenticated = false;
            return Err(PcpError::fatal(
                format!("authentication failed for user \"{user}\""),
                Some("username and/or password does not match".into()),
            ));
        }
        self.authenticated = true;
        pglog!(
            Severity::Debug1,
            "PCP: successfully authenticated user \"{}\"",
            user
        );
        Ok(())
    }

    /// Carry out what a reply asked for once it was sent.
    fn after(&self, after: After) {
        let target = match after {
            After::Nothing => return,
            After::SignalMain(sig) => (shmem().header().main_pid.load(SeqCst), sig),
            After::SignalLogger(sig) => (self.logger_pid.unwrap_or(0), sig),
        };
        if target.0 > 0 {
            let _ = kill(Pid::from_raw(target.0), target.1);
        }
    }
}

/// The stream a worker serves (TCP or Unix).
pub enum Conn {
    Tcp(std::net::TcpStream),
    Unix(UnixStream),
}

impl std::io::Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            Conn::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Send `e` as an `E` packet and log it (ERROR or FATAL, pgpool's wording).
fn report(conn: &mut Conn, e: &PcpError) {
    let sev = if e.fatal {
        Severity::Fatal
    } else {
        Severity::Error
    };
    match &e.detail {
        Some(d) => pglog!(sev, detail = d; "{}", e.message),
        None => pglog!(sev, "{}", e.message),
    }
    let r = Report {
        severity: sev.as_str().to_string(),
        message: e.message.clone(),
        detail: e.detail.clone(),
        hint: None,
        file: "pcp_worker.c".into(),
        line: 0,
    };
    let _ = conn.write_all(&encode(b'E', &r.payload()));
}

/// Entry point of a forked worker; returns its exit code.
pub fn run(cfg: &Config, pcp_file: &Path, logger_pid: Option<i32>, mut conn: Conn) -> i32 {
    crate::logger::set_process("pcp_child", "PCP");
    install_signals();
    // (the title stays the PCP main process's, as in pgpool)
    let mut session = Session::new(cfg, pcp_file, logger_pid);
    loop {
        if TERM.load(SeqCst) {
            return 0;
        }
        IDLE.store(true, SeqCst);
        let packet = read_packet(&mut conn, Some(MAX_REQUEST_LENGTH));
        IDLE.store(false, SeqCst);
        let packet = match packet {
            Ok(p) => p,
            Err(WireError::BadLength(n)) => {
                report(
                    &mut conn,
                    &PcpError::fatal(
                        "invalid PCP packet",
                        Some(format!("incorrect packet length ({n})")),
                    ),
                );
                return 0;
            }
            Err(_) => return 0,
        };
        match session.handle(packet.kind, &packet.payload) {
            Ok(Outcome::Close) => return 0,
            Ok(Outcome::Reply(bytes, after)) => {
                if !bytes.is_empty() && conn.write_all(&bytes).is_err() {
                    return 0;
                }
                session.after(after);
            }
            Err(e) => {
                report(&mut conn, &e);
                if e.fatal {
                    return 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcp::wire::{auth_response, read_packet, split_strings, strings_payload};

    fn reply(o: Result<Outcome, PcpError>) -> crate::pcp::wire::Packet {
        match o {
            Ok(Outcome::Reply(b, _)) => read_packet(&mut &b[..], None).expect("packet"),
            Ok(Outcome::Close) => panic!("closed"),
            Err(e) => panic!("error {e:?}"),
        }
    }

    #[test]
    fn authentication_then_requests() {
        crate::shmem::tests_region();
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pcp.conf");
        let h1 = crate::auth::passwords::md5_hex(b"secret");
        std::fs::write(&file, format!("# comment\nadmin:{h1}\n")).expect("write");
        let cfg = Config::defaults();
        let mut s = Session::new(&cfg, &file, None);

        let e = s
            .handle(b'L', b"")
            .err()
            .expect("refused before authentication");
        assert!(e.fatal);
        assert_eq!(e.message, "authentication failed for new PCP connection");
        let e = s.handle(b'R', b"admin\0x\0").err().expect("R without M");
        assert_eq!(
            (e.fatal, e.message.as_str()),
            (true, "authentication failed")
        );

        let salt = reply(s.handle(b'M', b""));
        assert_eq!((salt.kind, salt.payload.len()), (b'm', 4));
        let bad = strings_payload(&["admin", &auth_response(&h1, "admin", b"zzzz")]);
        let e = s.handle(b'R', &bad).err().expect("wrong answer");
        assert_eq!(e.message, "authentication failed for user \"admin\"");

        let salt = reply(s.handle(b'M', b"")).payload;
        let good = strings_payload(&["admin", &auth_response(&h1, "admin", &salt)]);
        let ok = reply(s.handle(b'R', &good));
        assert_eq!(
            (ok.kind, ok.payload.as_slice()),
            (b'r', &b"AuthenticationOK\0"[..])
        );
        // the salt was used up: a second R needs a new M
        assert!(s.handle(b'R', &good).is_err());
        s.authenticated = true;

        let l = reply(s.handle(b'L', b""));
        assert_eq!(l.kind, b'l');
        assert_eq!(split_strings(&l.payload)[0], "CommandComplete");
        let e = s.handle(b'I', b"99\0").err().expect("bad node");
        assert_eq!(
            (e.fatal, e.detail.as_deref()),
            (false, Some("invalid node ID : 99"))
        );
        let e = s.handle(b'W', b"-1\0").err().expect("no watchdog");
        assert_eq!(e.detail.as_deref(), Some("watchdog is not enabled"));
        let e = s.handle(b'J', b"200 \0n").err().expect("no such node");
        assert_eq!(
            (e.fatal, e.detail.as_deref()),
            (false, Some("node id 200 is not valid"))
        );
        let e = s.handle(b'T', b"x").err().expect("bad mode");
        assert_eq!(e.detail.as_deref(), Some("invalid shutdown mode \"x\""));
        let e = s.handle(b'V', b"l").err().expect("no collector");
        assert_eq!(e.detail.as_deref(), Some("logging_collector is disabled"));
        let e = s.handle(b'q', b"").err().expect("unknown");
        assert!(e.fatal);
        assert_eq!(e.detail.as_deref(), Some("unknown PCP packet type \"q\""));
        assert!(matches!(s.handle(b'X', b""), Ok(Outcome::Close)));

        std::fs::write(&file, format!("{}:{h1}\n", "u".repeat(129))).expect("write");
        let salt = reply(s.handle(b'M', b"")).payload;
        let e = s
            .handle(
                b'R',
                &strings_payload(&["admin", &auth_response(&h1, "admin", &salt)]),
            )
            .err()
            .expect("bad file");
        assert_eq!(e.message, "failed to authenticate PCP user");
        std::fs::remove_file(&file).expect("rm");
        reply(s.handle(b'M', b""));
        let e = s.handle(b'R', &good).err().expect("no file");
        assert_eq!(
            e.detail,
            Some(format!(
                "could not open {}. reason: No such file or directory",
                file.display()
            ))
        );
    }
}
