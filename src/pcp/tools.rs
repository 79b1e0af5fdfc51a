//! The `pcp_*` command-line tools (spec/pcp.md §6): one shared front end (options, usage text,
//! password resolution, connection, exit codes with pgpool's quirks) and one request per tool.
//! Each `src/bin/pcp_*.rs` is `std::process::exit(tools::main(Tool::X))`.

mod format;
pub mod getopt;

use std::io::Write;

use getopt::{HasArg, Item, LongOpt};

use crate::pcp::client::{self, ClientError, Connection, Endpoint};

/// Every pcp tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    AttachNode,
    DetachNode,
    NodeCount,
    NodeInfo,
    HealthCheckStats,
    PoolStatus,
    ProcCount,
    ProcInfo,
    PromoteNode,
    RecoveryNode,
    StopPgpool,
    WatchdogInfo,
    ReloadConfig,
    LogRotate,
    InvalidateQueryCache,
}

/// The long options every tool accepts (pgpool shares one table between them).
const LONG: &[LongOpt] = &[
    ("help", HasArg::No, '?'),
    ("debug", HasArg::No, 'd'),
    ("scope", HasArg::Required, 's'),
    ("host", HasArg::Required, 'h'),
    ("port", HasArg::Required, 'p'),
    ("process-id", HasArg::Required, 'P'),
    ("username", HasArg::Required, 'U'),
    ("gracefully", HasArg::No, 'g'),
    ("mode", HasArg::Required, 'm'),
    ("all", HasArg::No, 'a'),
    ("switchover", HasArg::No, 's'),
    ("no-password", HasArg::No, 'w'),
    ("node-id", HasArg::Required, 'n'),
    ("watchdog-id", HasArg::Required, 'n'),
    ("password", HasArg::No, 'W'),
    ("verbose", HasArg::No, 'v'),
    ("version", HasArg::No, 'V'),
];

const SCOPE_HELP: &str = "  -s, --scope=SCOPE      SCOPE can be \"cluster\", or \"local\"\n                         cluster scope do operations on all Pgpool-II nodes\n                         part of the watchdog cluster\n";
const NODE_HELP: &str = "  -n, --node-id=NODEID   ID of a backend node\n";

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::AttachNode => "pcp_attach_node",
            Tool::DetachNode => "pcp_detach_node",
            Tool::NodeCount => "pcp_node_count",
            Tool::NodeInfo => "pcp_node_info",
            Tool::HealthCheckStats => "pcp_health_check_stats",
            Tool::PoolStatus => "pcp_pool_status",
            Tool::ProcCount => "pcp_proc_count",
            Tool::ProcInfo => "pcp_proc_info",
            Tool::PromoteNode => "pcp_promote_node",
            Tool::RecoveryNode => "pcp_recovery_node",
            Tool::StopPgpool => "pcp_stop_pgpool",
            Tool::WatchdogInfo => "pcp_watchdog_info",
            Tool::ReloadConfig => "pcp_reload_config",
            Tool::LogRotate => "pcp_log_rotate",
            Tool::InvalidateQueryCache => "pcp_invalidate_query_cache",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Tool::AttachNode => "attach a node from pgpool-II",
            Tool::DetachNode => "detach a node from pgpool-II",
            Tool::NodeCount => "display the total number of nodes under pgpool-II's control",
            Tool::NodeInfo => "display a pgpool-II node's information",
            Tool::HealthCheckStats => "display a pgpool-II health check stats data",
            Tool::PoolStatus => "display pgpool configuration and status",
            Tool::ProcCount => "display the list of pgpool-II child process PIDs",
            Tool::ProcInfo => "display a pgpool-II child process' information",
            Tool::PromoteNode => "promote a node as new main from pgpool-II",
            Tool::RecoveryNode => "recover a node",
            Tool::StopPgpool => "terminate pgpool-II",
            Tool::WatchdogInfo => "display a pgpool-II watchdog's information",
            Tool::ReloadConfig => "reload a pgpool-II config file",
            Tool::LogRotate => "rotate the Pgpool-II's log file",
            Tool::InvalidateQueryCache => "invalidate query cache",
        }
    }

    /// The getopt string.
    fn short_options(self) -> &'static str {
        match self {
            Tool::AttachNode | Tool::HealthCheckStats | Tool::RecoveryNode => "n:h:p:U:wWvd",
            Tool::WatchdogInfo => "n:h:p:U:wWvd",
            Tool::DetachNode => "n:h:p:U:gwWvd",
            Tool::NodeCount | Tool::PoolStatus | Tool::ProcCount => "h:p:U:wWvd",
            Tool::NodeInfo => "n:h:p:U:awWvd",
            Tool::ProcInfo => "h:p:P:U:awWvd",
            Tool::PromoteNode => "n:h:p:U:gswWvd",
            Tool::StopPgpool => "m:h:p:U:s:wWvda",
            Tool::ReloadConfig | Tool::LogRotate | Tool::InvalidateQueryCache => "h:p:U:s:wWvd",
        }
    }

    /// What the usage line shows after `[OPTION...] `.
    fn usage_argument(self) -> &'static str {
        match self {
            Tool::AttachNode
            | Tool::DetachNode
            | Tool::HealthCheckStats
            | Tool::PromoteNode
            | Tool::RecoveryNode => "[node-id]",
            Tool::ProcInfo => "[process-id]",
            Tool::WatchdogInfo => "[watchdog-id]",
            _ => "",
        }
    }

    fn tool_help(self) -> String {
        match self {
            Tool::AttachNode | Tool::HealthCheckStats | Tool::RecoveryNode => NODE_HELP.into(),
            Tool::NodeInfo => format!(
                "{NODE_HELP}  -a, --all              display all backend nodes information\n"
            ),
            Tool::DetachNode => {
                format!("{NODE_HELP}  -g, --gracefully       promote gracefully (optional)\n")
            }
            Tool::PromoteNode => format!(
                "{NODE_HELP}  -g, --gracefully       promote gracefully (optional)\n  -s, --switchover       switchover primary to specified node (optional)\n"
            ),
            Tool::ProcInfo => "  -P, --process-id=PID   PID of the child process to get information for (optional)\n  -a, --all              display all child processes and their available connection slots\n".into(),
            Tool::StopPgpool => format!(
                "  -m, --mode=MODE        MODE can be \"smart\", \"fast\", or \"immediate\"\n{SCOPE_HELP}"
            ),
            Tool::ReloadConfig | Tool::LogRotate => SCOPE_HELP.into(),
            Tool::WatchdogInfo => "  -n, --watchdog-id=ID   ID of a other pgpool to get information for\n                         ID 0 for the local watchdog\n                         If omitted then get information of all watchdog nodes\n".into(),
            _ => String::new(),
        }
    }

    /// The usage text `--help` prints (on stderr).
    pub fn usage(self) -> String {
        format!(
            "{name} - {desc}\nUsage:\n{name} [OPTION...] {arg}\nOptions:\n  -U, --username=NAME    username for PCP authentication\n  -h, --host=HOSTNAME    pgpool-II host\n  -p, --port=PORT        PCP port number\n  -w, --no-password      never prompt for password\n  -W, --password         force password prompt (should happen automatically)\n{extra}  -d, --debug            enable debug message (optional)\n  -v, --verbose          output verbose messages\n  -?, --help             print this help\n\n",
            name = self.name(),
            desc = self.description(),
            arg = self.usage_argument(),
            extra = self.tool_help()
        )
    }

    fn takes_node_id(self) -> bool {
        matches!(
            self,
            Tool::AttachNode
                | Tool::DetachNode
                | Tool::NodeInfo
                | Tool::HealthCheckStats
                | Tool::PromoteNode
                | Tool::RecoveryNode
        )
    }

    fn needs_node_id(self) -> bool {
        self.takes_node_id() && self != Tool::NodeInfo
    }

    fn has_scope(self) -> bool {
        matches!(
            self,
            Tool::StopPgpool | Tool::ReloadConfig | Tool::LogRotate
        )
    }
}

/// The parsed command line.
#[derive(Debug, Clone, Default)]
struct Options {
    host: Option<String>,
    port: u16,
    user: Option<String>,
    /// Prompt for the password: `-W` on, `-w` off, the last one given wins (default off, as
    /// since 4.5).
    prompt: bool,
    verbose: bool,
    debug: bool,
    all: bool,
    gracefully: bool,
    switchover: bool,
    node_id: Option<i64>,
    pid: Option<i64>,
    mode: u8,
    scope: u8,
}

/// How parsing ended when it did not yield options: the exit code (text already written).
type Exit = i32;

fn parse(tool: Tool, argv0: &str, args: &[String], err: &mut dyn Write) -> Result<Options, Exit> {
    let prog = tool.name();
    let mut o = Options {
        port: client::DEFAULT_PORT,
        mode: b's',
        scope: b'l',
        ..Options::default()
    };
    let try_line = format!("Try \"{prog} --help\" for more information.\n\n");
    let invalid_argument = |err: &mut dyn Write, arg: Option<&str>| {
        let _ = writeln!(
            err,
            "Invalid argument \"{}\", Try \"{prog} --help\" for more information.",
            arg.unwrap_or("(null)")
        );
        1
    };
    let (items, positional) = getopt::getopt(args, tool.short_options(), LONG);
    for item in items {
        let (c, arg) = match item {
            Item::Bad(msg) => {
                let _ = write!(err, "{argv0}: {msg}\n{try_line}");
                return Err(1);
            }
            Item::Opt(c, arg) => (c, arg),
        };
        let a = arg.as_deref();
        match c {
            'a' => o.all = true,
            'd' => o.debug = true,
            'v' => o.verbose = true,
            'w' => o.prompt = false,
            'W' => o.prompt = true,
            'h' => o.host = arg,
            'U' => o.user = arg,
            'p' => {
                let p = client::atoi(a.unwrap_or(""));
                if !(1025..=65535).contains(&p) {
                    let _ = writeln!(
                        err,
                        "{prog}: Invalid port number \"{}\", must be between 1024 and 65535",
                        a.unwrap_or("(null)")
                    );
                    return Err(0);
                }
                o.port = p as u16;
            }
            'n' => {
                let id = client::atoi(a.unwrap_or(""));
                check_node_id(tool, id, a, err)?;
                o.node_id = Some(id);
            }
            'P' => {
                let pid = client::atoi(a.unwrap_or(""));
                if pid <= 0 {
                    let _ = writeln!(
                        err,
                        "{prog}: Invalid process-id \"{}\", must be greater than 0",
                        a.unwrap_or("(null)")
                    );
                    return Err(0);
                }
                o.pid = Some(pid);
            }
            // (pgpool's tools take `--gracefully` whatever the tool; only detach and promote use
            // it, and only they have `-g`)
            'g' => o.gracefully = true,
            's' if tool == Tool::PromoteNode => o.switchover = true,
            's' if tool.has_scope() => {
                o.scope = match a {
                    Some("c" | "cluster") => b'c',
                    Some("l" | "local") => b'l',
                    _ => {
                        let _ = writeln!(
                            err,
                            "{prog}: Invalid command scope \"{}\", must be either \"cluster\" or \"local\" ",
                            a.unwrap_or("(null)")
                        );
                        return Err(1);
                    }
                }
            }
            'm' if tool == Tool::StopPgpool => {
                o.mode = match a {
                    Some("s" | "smart") => b's',
                    Some("f" | "fast") => b'f',
                    Some("i" | "immediate") => b'i',
                    _ => {
                        let _ = writeln!(
                            err,
                            "{prog}: Invalid shutdown mode \"{}\", must be either \"smart\" \"immediate\" or \"fast\" ",
                            a.unwrap_or("(null)")
                        );
                        return Err(1);
                    }
                }
            }
            's' | 'm' => return Err(invalid_argument(err, a)),
            _ => {
                // '?' / 'V': --help or --version anywhere but first
                let _ = write!(err, "{try_line}");
                return Err(1);
            }
        }
    }
    let mut rest = positional.into_iter();
    let first_takes = match tool {
        Tool::ProcInfo => o.pid.is_none(),
        Tool::WatchdogInfo => o.node_id.is_none(),
        t => t.takes_node_id() && o.node_id.is_none(),
    };
    if first_takes {
        if let Some(p) = rest.next() {
            let v = client::atoi(&p);
            if tool == Tool::ProcInfo {
                if v <= 0 {
                    let _ = writeln!(
                        err,
                        "{prog}: Invalid process-id \"(null)\", must be greater than 0"
                    );
                    return Err(0);
                }
                o.pid = Some(v);
            } else {
                check_node_id(tool, v, None, err)?;
                o.node_id = Some(v);
            }
        }
    }
    for extra in rest {
        let _ = writeln!(
            err,
            "{prog}: Warning: extra command-line argument \"{extra}\" ignored"
        );
    }
    if tool.needs_node_id() && o.node_id.is_none() {
        let _ = write!(err, "{prog}: missing node-id\n{try_line}");
        return Err(1);
    }
    Ok(o)
}

/// The range checks on a node / watchdog id (exit 0, the value shown is `(null)` for a
/// positional argument, as pgpool's tools print it).
fn check_node_id(tool: Tool, id: i64, arg: Option<&str>, err: &mut dyn Write) -> Result<(), Exit> {
    let shown = arg.unwrap_or("(null)");
    let prog = tool.name();
    if tool == Tool::WatchdogInfo {
        if id < 0 {
            let _ = writeln!(
                err,
                "{prog}: Invalid watchdog-id \"{shown}\", must be a positive number or zero for a local watchdog node"
            );
            return Err(0);
        }
    } else if !(0..=128).contains(&id) {
        let _ = writeln!(
            err,
            "{prog}: Invalid node-id \"{shown}\", must be between 0 and 128"
        );
        return Err(0);
    }
    Ok(())
}

/// Read a password from the terminal without echo, prompting on it. Without a terminal, as
/// pgpool's prompt does: the prompt on stderr, a line from stdin, then a newline on stderr.
fn prompt_password(prompt: &str, err: &mut dyn Write) -> Option<String> {
    use std::io::BufRead;
    let tty = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    {
        Ok(tty) => tty,
        Err(_) => {
            let _ = write!(err, "{prompt}");
            let _ = err.flush();
            let mut line = String::new();
            let _ = std::io::stdin().lock().read_line(&mut line);
            let _ = writeln!(err);
            return Some(line.trim_end_matches(['\n', '\r']).to_string());
        }
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&tty);
    let mut w = &tty;
    let _ = write!(w, "{prompt}");
    let _ = w.flush();
    // SAFETY: tcgetattr/tcsetattr on the open terminal fd with a zeroed termios we own.
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            None
        } else {
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            libc::tcsetattr(fd, libc::TCSAFLUSH, &t);
            Some(saved)
        }
    };
    let mut line = String::new();
    let _ = std::io::BufReader::new(&tty).read_line(&mut line);
    if let Some(t) = saved {
        // SAFETY: restores the settings read above on the same fd.
        unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &t) };
    }
    let _ = writeln!(w);
    Some(line.trim_end_matches(['\n', '\r']).to_string())
}

/// The name of the OS user running the tool (the default PCP and pool_passwd user).
pub fn os_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default()
}

/// Run `tool` as a program: arguments from the environment, stdout/stderr; returns the exit code.
/// Standard output is buffered as C's stdio buffers it — by line on a terminal, else whole
/// blocks written when full and at exit — so output and debug trace land between the error
/// lines (unbuffered stderr) where pgpool's tools put them when both go to one file.
pub fn main(tool: Tool) -> i32 {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_else(|| tool.name().to_string());
    let args: Vec<String> = args.collect();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    if std::io::IsTerminal::is_terminal(&stdout) {
        run(tool, &argv0, &args, &mut stdout.lock(), &mut err)
    } else {
        let mut out = std::io::BufWriter::with_capacity(STDIO_BUFSIZ, stdout.lock());
        let code = run(tool, &argv0, &args, &mut out, &mut err);
        let _ = out.flush();
        code
    }
}

/// glibc's stdio buffer for a pipe or a file (`st_blksize`).
const STDIO_BUFSIZ: usize = 4096;

/// Run `tool` with `args` (without argv[0]), writing what the real tool writes.
pub fn run(
    tool: Tool,
    argv0: &str,
    args: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match args.first().map(String::as_str) {
        Some("--help" | "-?") => {
            let _ = write!(err, "{}", tool.usage());
            return 0;
        }
        Some("--version" | "-V") => {
            let _ = writeln!(err, "{} (pgpool-II) 4.3.5", tool.name());
            return 0;
        }
        _ => {}
    }
    let o = match parse(tool, argv0, args, err) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let user = o.user.clone().unwrap_or_else(os_user);
    let mut password = if o.prompt {
        prompt_password("Password: ", err)
    } else {
        None
    };
    if password.as_deref().unwrap_or("").is_empty() {
        let mut warnings = Vec::new();
        password = crate::config::pcppass::lookup(o.host.as_deref(), o.port, &user, &mut warnings);
        if o.debug {
            for w in warnings {
                let _ = writeln!(out, "{w}");
            }
        }
    }
    let endpoint = Endpoint::from_host_port(o.host.as_deref(), o.port);
    let mut conn = match Connection::connect(&endpoint, o.debug) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 1;
        }
    };
    if let Err(e) = conn.authenticate(&user, password.as_deref().unwrap_or("")) {
        // (no `X` after a refused login)
        let _ = out.write_all(&conn.close());
        let _ = writeln!(err, "{e}");
        return 1;
    }
    let result = request(tool, &o, &mut conn);
    let _ = out.write_all(&conn.take_trace());
    match result {
        Ok(text) => {
            let _ = write!(out, "{text}");
        }
        Err(e) => {
            let _ = writeln!(err, "{e}");
        }
    }
    let _ = out.write_all(&conn.disconnect());
    0
}

/// The tool's request and what it prints on success.
fn request(tool: Tool, o: &Options, conn: &mut Connection) -> Result<String, ClientError> {
    let node = o.node_id.unwrap_or(0);
    let done = || format!("{} -- Command Successful\n", tool.name());
    Ok(match tool {
        Tool::NodeCount => format::node_count(conn.node_count()?, o.verbose),
        Tool::NodeInfo => format::node_info(&conn.node_info(o.node_id)?, o.verbose, o.all),
        Tool::HealthCheckStats => {
            format::health_check_stats(&conn.health_check_stats(node)?, o.verbose)
        }
        Tool::ProcCount => format::proc_count(&conn.proc_count()?, o.verbose),
        Tool::ProcInfo => format::proc_info(&conn.proc_info(o.pid)?, o.verbose, o.all),
        Tool::PoolStatus => format::pool_status(&conn.pool_status()?, o.verbose),
        Tool::WatchdogInfo => {
            let json = conn.watchdog_info(o.node_id)?;
            format::watchdog_info(&json, o.verbose).ok_or_else(|| {
                ClientError::Protocol("ERROR: invalid json data in watchdog info".into())
            })?
        }
        Tool::AttachNode => {
            conn.attach_node(node)?;
            done()
        }
        Tool::DetachNode => {
            conn.detach_node(node, o.gracefully)?;
            done()
        }
        Tool::PromoteNode => {
            conn.promote_node(node, o.gracefully, o.switchover)?;
            done()
        }
        Tool::RecoveryNode => {
            conn.recovery_node(node)?;
            done()
        }
        Tool::StopPgpool => {
            conn.stop_pgpool(o.mode, o.scope == b'c')?;
            done()
        }
        Tool::ReloadConfig => {
            conn.reload_config(o.scope)?;
            done()
        }
        Tool::LogRotate => {
            conn.log_rotate(o.scope)?;
            done()
        }
        Tool::InvalidateQueryCache => {
            conn.invalidate_query_cache()?;
            done()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_str(tool: Tool, args: &[&str]) -> (i32, String, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(tool, tool.name(), &args, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).expect("utf-8"),
            String::from_utf8(err).expect("utf-8"),
        )
    }

    #[test]
    fn usage_and_validation_quirks() {
        let (code, _, err) = run_str(Tool::NodeInfo, &["--help"]);
        assert_eq!(code, 0);
        assert!(err.starts_with(
            "pcp_node_info - display a pgpool-II node's information\nUsage:\npcp_node_info [OPTION...] \nOptions:\n"
        ));
        assert!(err.ends_with("  -?, --help             print this help\n\n"));
        assert_eq!(
            run_str(Tool::NodeInfo, &["-w", "-n", "200"]),
            (
                0,
                String::new(),
                "pcp_node_info: Invalid node-id \"200\", must be between 0 and 128\n".into()
            )
        );
        assert_eq!(
            run_str(Tool::NodeInfo, &["-w", "200"]).2,
            "pcp_node_info: Invalid node-id \"(null)\", must be between 0 and 128\n"
        );
        assert_eq!(
            run_str(Tool::AttachNode, &["-w"]),
            (
                1,
                String::new(),
                "pcp_attach_node: missing node-id\nTry \"pcp_attach_node --help\" for more information.\n\n".into()
            )
        );
        assert_eq!(
            run_str(Tool::NodeCount, &["-w", "--mode=f"]),
            (
                1,
                String::new(),
                "Invalid argument \"f\", Try \"pcp_node_count --help\" for more information.\n"
                    .into()
            )
        );
        assert_eq!(run_str(Tool::StopPgpool, &["-w", "-m", "fa"]).0, 1);
        assert_eq!(run_str(Tool::NodeCount, &["-w", "-p", "1024"]).0, 0);
        let (code, _, err) = run_str(Tool::NodeCount, &["-x"]);
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "pcp_node_count: invalid option -- 'x'\nTry \"pcp_node_count --help\" for more information.\n\n"
        );
    }

    fn parsed(tool: Tool, args: &[&str]) -> Result<Options, (i32, String)> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut err = Vec::new();
        parse(tool, tool.name(), &args, &mut err)
            .map_err(|code| (code, String::from_utf8(err).expect("utf-8")))
    }

    #[test]
    fn every_tool_takes_gracefully_and_only_detach_and_promote_take_g() {
        for tool in [
            Tool::AttachNode,
            Tool::DetachNode,
            Tool::NodeCount,
            Tool::NodeInfo,
            Tool::HealthCheckStats,
            Tool::PoolStatus,
            Tool::ProcCount,
            Tool::ProcInfo,
            Tool::PromoteNode,
            Tool::RecoveryNode,
            Tool::StopPgpool,
            Tool::WatchdogInfo,
            Tool::ReloadConfig,
            Tool::LogRotate,
            Tool::InvalidateQueryCache,
        ] {
            let o = parsed(tool, &["-w", "--gracefully", "1"])
                .unwrap_or_else(|e| panic!("{tool:?}: {e:?}"));
            assert!(o.gracefully, "{tool:?}");
        }
        assert!(parsed(Tool::DetachNode, &["-g", "1"]).is_ok());
        assert_eq!(
            parsed(Tool::AttachNode, &["-g", "1"]).map(|_| ()),
            Err((
                1,
                "pcp_attach_node: invalid option -- 'g'\nTry \"pcp_attach_node --help\" for more information.\n\n"
                    .into()
            ))
        );
    }

    #[test]
    fn the_last_of_w_and_capital_w_wins() {
        let prompt = |args: &[&str]| parsed(Tool::NodeCount, args).map(|o| o.prompt).ok();
        assert_eq!(prompt(&[]), Some(false));
        assert_eq!(prompt(&["-W"]), Some(true));
        assert_eq!(prompt(&["-w", "-W"]), Some(true));
        assert_eq!(prompt(&["-W", "-w"]), Some(false));
        assert_eq!(prompt(&["--no-password", "--password"]), Some(true));
        assert_eq!(prompt(&["-W", "-w", "-W", "-w"]), Some(false));
    }

    #[test]
    fn no_server_is_exit_1() {
        let (code, _, err) = run_str(
            Tool::NodeCount,
            &["-w", "-h", "/nonexistent-dir", "-p", "9999"],
        );
        assert_eq!(code, 1);
        assert_eq!(
            err,
            "ERROR: connection to socket \"/nonexistent-dir/.s.PGSQL.9999\" failed with error \"No such file or directory\"\n"
        );
    }
}
