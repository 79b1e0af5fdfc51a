//! The PCP client library the `pcp_*` tools are built on (spec/pcp.md §3–§5): connecting over
//! TCP or a unix socket, the md5 salt handshake, one method per request with its reply parsed,
//! `N` notices skipped (shown in debug mode), an `E` turned into pgpool's error text. In debug
//! mode it keeps pgpool's protocol trace (letters and all) for the tool to print.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use super::wire::{self, Packet, Report};

/// The socket directory used when no host is given (pgpool's compile-time `UNIX_DOMAIN_PATH`).
pub const DEFAULT_SOCKET_DIR: &str = "/tmp";
/// The default PCP port.
pub const DEFAULT_PORT: u16 = 9898;
/// The longest user name the library sends (pgpool's `MAX_USER_PASSWD_LEN`).
pub const MAX_USER_LEN: usize = 128;

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

impl Endpoint {
    /// From the tools' `-h`/`-p`: a host starting with `/` is a socket directory; no host or
    /// an empty one is the default socket directory.
    pub fn from_host_port(host: Option<&str>, port: u16) -> Endpoint {
        match host {
            Some(h) if !h.is_empty() && !h.starts_with('/') => Endpoint::Tcp {
                host: h.to_string(),
                port,
            },
            Some(dir) if !dir.is_empty() => {
                Endpoint::Unix(PathBuf::from(dir).join(format!(".s.PGSQL.{port}")))
            }
            _ => Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET_DIR).join(format!(".s.PGSQL.{port}"))),
        }
    }
}

/// Why a request failed; `Display` is the text the tools print (pgpool's wording).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Could not connect (no trailing newline in the text).
    #[error("{0}")]
    Connect(String),
    /// The server sent `E`: `"<S>:  <M>\n"` + `"DETAIL:  <D>\n"`.
    #[error("{}", server_text(.0))]
    Server(Box<Report>),
    /// The reply was not what the request expects, or the connection broke.
    #[error("{0}")]
    Protocol(String),
}

fn server_text(r: &Report) -> String {
    let mut s = format!("{}:  {}\n", r.severity, r.message);
    if let Some(d) = &r.detail {
        s.push_str(&format!("DETAIL:  {d}\n"));
    }
    s
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// One backend node's `NodeInfo` (4.3 sends 12 fields, 4.6 adds `standby_delay_by_time`).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub hostname: String,
    pub port: i32,
    pub status: i32,
    pub quarantine: bool,
    pub pg_status: String,
    /// The normalised weight (0…RAND_MAX) divided by RAND_MAX.
    pub weight: f64,
    pub role: i32,
    pub pg_role: String,
    pub delay_by_time: bool,
    pub standby_delay: u64,
    pub replication_state: String,
    pub replication_sync_state: String,
    pub status_changed_time: i64,
}

const RAND_MAX: f64 = 2147483647.0;

impl NodeInfo {
    /// Parse the fields after `NodeInfo`.
    pub fn parse(f: &[String]) -> Option<NodeInfo> {
        let (by_time, rest) = match f.len() {
            12 => (false, &f[8..]),
            13 => (f[8] == "1", &f[9..]),
            _ => return None,
        };
        Some(NodeInfo {
            hostname: f[0].clone(),
            port: atoi(&f[1]) as i32,
            status: atoi(&f[2]) as i32,
            quarantine: atoi(&f[3]) != 0,
            pg_status: f[4].clone(),
            weight: f[5].trim().parse::<f64>().unwrap_or(0.0) / RAND_MAX,
            role: atoi(&f[6]) as i32,
            pg_role: f[7].clone(),
            delay_by_time: by_time,
            standby_delay: rest[0].trim().parse().unwrap_or(0),
            replication_state: rest[1].clone(),
            replication_sync_state: rest[2].clone(),
            status_changed_time: atoi(&rest[3]),
        })
    }
}

/// One `ProcessInfo` row in 4.6 field order (4.3 has no `load_balance_node`: empty here).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcInfo {
    pub pid: String,
    pub start_time: String,
    pub client_connection_count: String,
    pub pool_id: String,
    pub backend_id: String,
    pub database: String,
    pub username: String,
    pub backend_connection_time: String,
    pub client_connection_time: String,
    pub client_disconnection_time: String,
    pub client_idle_duration: String,
    pub major: String,
    pub minor: String,
    pub pool_counter: String,
    pub backend_pid: String,
    pub connected: String,
    pub status: String,
    pub load_balance_node: String,
}

impl ProcInfo {
    pub fn parse(f: &[String]) -> Option<ProcInfo> {
        if f.len() != 17 && f.len() != 18 {
            return None;
        }
        Some(ProcInfo {
            pid: f[0].clone(),
            start_time: f[1].clone(),
            client_connection_count: f[2].clone(),
            pool_id: f[3].clone(),
            backend_id: f[4].clone(),
            database: f[5].clone(),
            username: f[6].clone(),
            backend_connection_time: f[7].clone(),
            client_connection_time: f[8].clone(),
            client_disconnection_time: f[9].clone(),
            client_idle_duration: f[10].clone(),
            major: f[11].clone(),
            minor: f[12].clone(),
            pool_counter: f[13].clone(),
            backend_pid: f[14].clone(),
            connected: f[15].clone(),
            status: f[16].clone(),
            load_balance_node: f.get(17).cloned().unwrap_or_default(),
        })
    }
}

/// One row of the configuration dump (`pcp_pool_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub name: String,
    pub value: String,
    pub desc: String,
}

/// C `atoi`: leading blanks, optional sign, digits; anything else ends the number (0 if none).
pub fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add((b - b'0') as i64);
    }
    if neg {
        -n
    } else {
        n
    }
}

/// An authenticated PCP connection.
pub struct Connection {
    stream: Box<dyn Stream>,
    /// Debug mode: the protocol trace not yet taken by the tool (`take_trace`).
    trace: Option<Vec<u8>>,
}

/// How pgpool's library names a request in its `send:` trace line: `(prefix, letter)`. It
/// names some requests with another letter than the one it sends (its own slips, kept because
/// scripts may read the trace).
fn trace_name(kind: u8) -> (&'static str, u8) {
    match kind {
        b'B' => ("DEBUG pcp_pool_status", b'B'),
        b'H' => ("DEBUG", b'L'),
        b'd' | b'O' => ("DEBUG", b'D'),
        b'J' | b'j' => ("DEBUG", b'E'),
        b't' => ("DEBUG", b'T'),
        k => ("DEBUG", k),
    }
}

const CC: &str = "CommandComplete";

impl Connection {
    /// Connect to `endpoint` (no authentication yet). `debug` keeps the protocol trace.
    pub fn connect(endpoint: &Endpoint, debug: bool) -> Result<Connection, ClientError> {
        let stream: Box<dyn Stream> = match endpoint {
            Endpoint::Tcp { host, port } => {
                use std::net::ToSocketAddrs;
                let addr = (host.as_str(), *port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| {
                        ClientError::Connect(
                            "ERROR: could not retrieve hostname. gethostbyname failed with error \"Success\""
                                .to_string(),
                        )
                    })?;
                let s = TcpStream::connect(addr).map_err(|e| {
                    ClientError::Connect(format!(
                        "ERROR: connection to host \"{host}\" failed with error \"{}\"",
                        strerror(&e)
                    ))
                })?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
            Endpoint::Unix(path) => Box::new(UnixStream::connect(path).map_err(|e| {
                ClientError::Connect(format!(
                    "ERROR: connection to socket \"{}\" failed with error \"{}\"",
                    path.display(),
                    strerror(&e)
                ))
            })?),
        };
        Ok(Connection {
            stream,
            trace: debug.then(Vec::new),
        })
    }

    /// The debug trace written since the last call (empty unless in debug mode).
    pub fn take_trace(&mut self) -> Vec<u8> {
        self.trace.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn trace(&mut self, line: std::fmt::Arguments) {
        if let Some(t) = self.trace.as_mut() {
            let _ = t.write_fmt(line);
            t.push(b'\n');
        }
    }

    /// The salt handshake: `M` → `m`, `R user response` → `r`. `password` is the clear text
    /// (pcp.conf stores its md5, which is what the answer is built from).
    pub fn authenticate(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        if user.len() >= MAX_USER_LEN {
            return Err(ClientError::Protocol(
                "ERROR: PCP authorization failed. username too long.".into(),
            ));
        }
        // (pgpool's library traces neither of the two authentication requests)
        self.send_quiet(b'M', &[])?;
        let salt = self.reply(b'm')?.payload;
        if salt.len() < 4 {
            return Err(bad_packet());
        }
        let h1 = crate::auth::passwords::md5_hex(password.as_bytes());
        let answer = wire::auth_response(&h1, user, &salt[..4]);
        self.send_quiet(b'R', &wire::strings_payload(&[user, answer.as_str()]))?;
        self.reply(b'r')?;
        Ok(())
    }

    fn send(&mut self, kind: u8, payload: &[u8]) -> Result<(), ClientError> {
        let (prefix, shown) = trace_name(kind);
        self.trace(format_args!(
            "{prefix}: send: tos=\"{}\", len={}",
            shown as char,
            payload.len() + 4
        ));
        self.send_quiet(kind, payload)
    }

    fn send_quiet(&mut self, kind: u8, payload: &[u8]) -> Result<(), ClientError> {
        wire::write_packet(&mut self.stream, kind, payload)
            .and_then(|_| self.stream.flush())
            .map_err(|_| ClientError::Protocol("ERROR: unable to send data to backend".into()))
    }

    /// The next packet that is not a notice; an `E` becomes `ClientError::Server`, any kind other
    /// than `want` a protocol error.
    fn reply(&mut self, want: u8) -> Result<Packet, ClientError> {
        loop {
            let p = wire::read_packet(&mut self.stream, None).map_err(|_| {
                ClientError::Protocol("ERROR: unable to read data from socket.".into())
            })?;
            self.trace(format_args!(
                "DEBUG: recv: tos=\"{}\", len={}",
                p.kind as char,
                p.payload.len() + 4
            ));
            match p.kind {
                b'N' => {
                    let r = Report::parse(&p.payload);
                    self.trace(format_args!("BACKEND {}:  {}", r.severity, r.message));
                    if let Some(d) = r.detail {
                        self.trace(format_args!("DETAIL:  {d}"));
                    }
                }
                b'E' => return Err(ClientError::Server(Box::new(Report::parse(&p.payload)))),
                k if k == want => return Ok(p),
                _ => return Err(bad_packet()),
            }
        }
    }

    /// Send a request and read replies of kind `want` until `CommandComplete`; returns the
    /// fields of each data packet (the `ArraySize` header included when the reply has one).
    fn array_request(
        &mut self,
        kind: u8,
        payload: &[u8],
        want: u8,
    ) -> Result<Vec<Vec<String>>, ClientError> {
        self.send(kind, payload)?;
        let mut rows = Vec::new();
        loop {
            let p = self.reply(want)?;
            let f = wire::split_strings(&p.payload);
            if f.first().map(String::as_str) == Some(CC) {
                return Ok(rows);
            }
            rows.push(f);
        }
    }

    /// A request answered by one `CommandComplete` packet; returns the fields after it.
    fn single(&mut self, kind: u8, payload: &[u8], want: u8) -> Result<Vec<String>, ClientError> {
        self.send(kind, payload)?;
        let f = wire::split_strings(&self.reply(want)?.payload);
        match f.split_first() {
            Some((cc, rest)) if cc == CC => Ok(rest.to_vec()),
            _ => Err(bad_packet()),
        }
    }

    /// `L`: the number of backend slots.
    pub fn node_count(&mut self) -> Result<i64, ClientError> {
        let f = self.single(b'L', &[], b'l')?;
        f.first().map(|s| atoi(s)).ok_or_else(bad_packet)
    }

    /// `I`: one node, or all of them for `None`.
    pub fn node_info(&mut self, node: Option<i64>) -> Result<Vec<NodeInfo>, ClientError> {
        let id = node.unwrap_or(-1).to_string();
        let rows = self.array_request(b'I', &wire::strings_payload(&[id]), b'i')?;
        rows.iter()
            .filter(|r| r.first().map(String::as_str) == Some("NodeInfo"))
            .map(|r| NodeInfo::parse(&r[1..]).ok_or_else(bad_packet))
            .collect()
    }

    /// `H`: the 20 health-check statistics fields of one node.
    pub fn health_check_stats(&mut self, node: i64) -> Result<Vec<String>, ClientError> {
        let f = self.single(b'H', &wire::strings_payload(&[node.to_string()]), b'h')?;
        if f.len() < 20 {
            return Err(bad_packet());
        }
        Ok(f)
    }

    /// `N`: the pids of the child processes.
    pub fn proc_count(&mut self) -> Result<Vec<String>, ClientError> {
        let f = self.single(b'N', &[], b'n')?;
        let (count, pids) = f.split_first().ok_or_else(bad_packet)?;
        let n = atoi(count).max(0) as usize;
        Ok(pids.iter().take(n).cloned().collect())
    }

    /// `P`: pool rows of one child (`Some(pid)`) or all of them.
    pub fn proc_info(&mut self, pid: Option<i64>) -> Result<Vec<ProcInfo>, ClientError> {
        let id = pid.unwrap_or(0).to_string();
        let rows = self.array_request(b'P', &wire::strings_payload(&[id]), b'p')?;
        rows.iter()
            .filter(|r| r.first().map(String::as_str) == Some("ProcessInfo"))
            .map(|r| ProcInfo::parse(&r[1..]).ok_or_else(bad_packet))
            .collect()
    }

    /// `B`: the configuration dump.
    pub fn pool_status(&mut self) -> Result<Vec<StatusRow>, ClientError> {
        let rows = self.array_request(b'B', &[], b'b')?;
        Ok(rows
            .iter()
            .filter(|r| r.first().map(String::as_str) == Some("ProcessConfig"))
            .map(|r| StatusRow {
                name: r.get(1).cloned().unwrap_or_default(),
                value: r.get(2).cloned().unwrap_or_default(),
                desc: r.get(3).cloned().unwrap_or_default(),
            })
            .collect())
    }

    /// `C`: attach a node.
    pub fn attach_node(&mut self, node: i64) -> Result<(), ClientError> {
        self.single(b'C', &wire::strings_payload(&[node.to_string()]), b'c')
            .map(drop)
    }

    /// `D` / `d` (graceful): detach a node.
    pub fn detach_node(&mut self, node: i64, graceful: bool) -> Result<(), ClientError> {
        let kind = if graceful { b'd' } else { b'D' };
        self.single(kind, &wire::strings_payload(&[node.to_string()]), b'd')
            .map(drop)
    }

    /// `J` / `j` (graceful): promote a node; `switchover` detaches the current primary.
    pub fn promote_node(
        &mut self,
        node: i64,
        graceful: bool,
        switchover: bool,
    ) -> Result<(), ClientError> {
        let kind = if graceful { b'j' } else { b'J' };
        let mut payload = format!("{node} ").into_bytes();
        payload.push(0);
        payload.push(if switchover { b's' } else { b'n' });
        self.single(kind, &payload, b'd').map(drop)
    }

    /// `O`: online recovery of a node (may take minutes).
    pub fn recovery_node(&mut self, node: i64) -> Result<(), ClientError> {
        self.single(b'O', &wire::strings_payload(&[node.to_string()]), b'c')
            .map(drop)
    }

    /// `T` / `t` (cluster): stop pgpool; `mode` is `s`, `f` or `i`.
    pub fn stop_pgpool(&mut self, mode: u8, cluster: bool) -> Result<(), ClientError> {
        let kind = if cluster { b't' } else { b'T' };
        self.single(kind, &[mode], b't').map(drop)
    }

    /// `Z`: reload the configuration (`c` cluster, `l` local).
    pub fn reload_config(&mut self, scope: u8) -> Result<(), ClientError> {
        self.single(b'Z', &[scope], b'z').map(drop)
    }

    /// `V`: rotate the log file (`c` cluster, `l` local).
    pub fn log_rotate(&mut self, scope: u8) -> Result<(), ClientError> {
        self.single(b'V', &[scope], b'v').map(drop)
    }

    /// `G`: invalidate the query cache.
    pub fn invalidate_query_cache(&mut self) -> Result<(), ClientError> {
        self.single(b'G', &[], b'g').map(drop)
    }

    /// `W`: the watchdog JSON of one pgpool node, or all for `None`.
    pub fn watchdog_info(&mut self, id: Option<i64>) -> Result<String, ClientError> {
        let id = id.unwrap_or(-1).to_string();
        let f = self.single(b'W', &wire::strings_payload(&[id]), b'w')?;
        f.into_iter().next().ok_or_else(bad_packet)
    }

    /// `X`: say goodbye (no reply); errors are ignored. Returns the rest of the trace.
    pub fn disconnect(mut self) -> Vec<u8> {
        let _ = self.send(b'X', &[]);
        self.take_trace()
    }

    /// Close without a word (after a failed authentication pgpool's tools send no `X`).
    /// Returns the rest of the trace.
    pub fn close(mut self) -> Vec<u8> {
        self.take_trace()
    }
}

fn bad_packet() -> ClientError {
    ClientError::Protocol("ERROR: invalid PCP packet type from server".into())
}

/// The C library's text for an I/O error (`strerror(errno)`).
fn strerror(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        // SAFETY: strerror returns a pointer to a static NUL-terminated string for any errno.
        Some(n) => unsafe { std::ffi::CStr::from_ptr(libc::strerror(n)) }
            .to_string_lossy()
            .into_owned(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn endpoints_follow_the_host_option() {
        assert_eq!(
            Endpoint::from_host_port(None, 9898),
            Endpoint::Unix("/tmp/.s.PGSQL.9898".into())
        );
        assert_eq!(
            Endpoint::from_host_port(Some("/run/x"), 1),
            Endpoint::Unix("/run/x/.s.PGSQL.1".into())
        );
        assert_eq!(
            Endpoint::from_host_port(Some(""), 9898),
            Endpoint::Unix("/tmp/.s.PGSQL.9898".into()),
            "an empty host is the default socket, as in pgpool"
        );
        assert_eq!(
            Endpoint::from_host_port(Some("db1"), 2),
            Endpoint::Tcp {
                host: "db1".into(),
                port: 2
            }
        );
    }

    #[test]
    fn node_info_of_43_and_46() {
        let f43 = s(&[
            "/tmp",
            "5432",
            "2",
            "0",
            "unknown",
            "2147483647.000000",
            "2",
            "unknown",
            "0",
            "",
            "",
            "1795480220",
        ]);
        let n = NodeInfo::parse(&f43).expect("4.3 node info");
        assert_eq!(n.port, 5432);
        assert_eq!(n.weight, 1.0);
        assert!(!n.delay_by_time);
        assert_eq!(n.status_changed_time, 1795480220);
        let mut f46 = f43.clone();
        f46.insert(8, "1".into());
        f46[9] = "1500000".into();
        let n = NodeInfo::parse(&f46).expect("4.6 node info");
        assert!(n.delay_by_time);
        assert_eq!(n.standby_delay, 1_500_000);
        assert!(NodeInfo::parse(&f43[..5]).is_none());
    }

    #[test]
    fn server_errors_read_like_pgpools() {
        let r = Report {
            severity: "ERROR".into(),
            message: "informing node info failed".into(),
            detail: Some("invalid node ID : 9".into()),
            ..Report::default()
        };
        assert_eq!(
            ClientError::Server(Box::new(r)).to_string(),
            "ERROR:  informing node info failed\nDETAIL:  invalid node ID : 9\n"
        );
    }

    #[test]
    fn atoi_is_cs() {
        assert_eq!(atoi(" 12x"), 12);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(""), 0);
    }
}
