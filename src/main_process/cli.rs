//! The `pgpool` command line (spec/cli.md §1): option letters and long names as pgpool's getopt
//! string `a:df:k:F:hm:nDCxv`, the three modes (start, `stop`, `reload`), usage and version
//! text, and the exit codes. Start hands over to `super::start`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command};

/// Build-time default configuration directory (Debian's layout).
pub const SYSCONFDIR: &str = "/etc/pgpool2";

/// How `pgpool stop` asks the server to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    Smart,
    Fast,
    Immediate,
}

impl StopMode {
    pub fn signal(self) -> nix::sys::signal::Signal {
        use nix::sys::signal::Signal;
        match self {
            StopMode::Smart => Signal::SIGTERM,
            StopMode::Fast => Signal::SIGINT,
            StopMode::Immediate => Signal::SIGQUIT,
        }
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Start,
    Stop(StopMode),
    Reload,
}

/// Parsed options, paths already absolute.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub config_file: PathBuf,
    pub pcp_file: PathBuf,
    pub hba_file: PathBuf,
    pub key_file: Option<PathBuf>,
    pub foreground: bool,
    pub discard_status: bool,
    pub clear_oidmaps: bool,
    pub debug: bool,
    pub debug_assertions: bool,
}

fn command() -> Command {
    let path = |short: char, long: &'static str| {
        Arg::new(long)
            .short(short)
            .long(long)
            .num_args(1)
            .action(ArgAction::Set)
    };
    let flag = |short: char, long: &'static str| {
        Arg::new(long)
            .short(short)
            .long(long)
            .action(ArgAction::SetTrue)
    };
    Command::new("pgpool")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(path('a', "hba-file"))
        .arg(path('f', "config-file"))
        .arg(path('F', "pcp-file"))
        .arg(path('k', "key-file"))
        .arg(path('m', "mode"))
        .arg(flag('n', "dont-detach"))
        .arg(flag('D', "discard-status"))
        .arg(flag('C', "clear-oidmaps"))
        .arg(flag('d', "debug"))
        .arg(flag('x', "debug-assertions"))
        .arg(flag('h', "help"))
        .arg(flag('v', "version"))
        .arg(
            Arg::new("command")
                .num_args(0..)
                .action(ArgAction::Append)
                .value_parser(clap::value_parser!(OsString)),
        )
}

/// The usage text pgpool prints (to stderr).
pub fn usage() -> String {
    format!(
        "pgpool-II version {ver},
  A generic connection pool/replication/load balance server for PostgreSQL

Usage:
  pgpool [ -c] [ -f CONFIG_FILE ] [ -F PCP_CONFIG_FILE ] [ -a HBA_CONFIG_FILE ]
         [ -n ] [ -D ] [ -d ]
  pgpool [ -f CONFIG_FILE ] [ -F PCP_CONFIG_FILE ] [ -a HBA_CONFIG_FILE ]
         [ -m SHUTDOWN-MODE ] stop
  pgpool [ -f CONFIG_FILE ] [ -F PCP_CONFIG_FILE ] [ -a HBA_CONFIG_FILE ] reload

Common options:
  -a, --hba-file=HBA_CONFIG_FILE
                      Set the path to the pool_hba.conf configuration file
                      (default: {sys}/pool_hba.conf)
  -f, --config-file=CONFIG_FILE
                      Set the path to the pgpool.conf configuration file
                      (default: {sys}/pgpool.conf)
  -k, --key-file=KEY_FILE
                      Set the path to the pgpool key file
                      (default: {home}/.pgpoolkey)
                      can be over ridden by PGPOOLKEYFILE environment variable
  -F, --pcp-file=PCP_CONFIG_FILE
                      Set the path to the pcp.conf configuration file
                      (default: {sys}/pcp.conf)
  -h, --help          Print this help

Start options:
  -C, --clear-oidmaps Clear query cache oidmaps when memqcache_method is memcached
                      (If shmem, discards whenever pgpool starts.)
  -n, --dont-detach   Don't run in daemon mode, does not detach control tty
  -x, --debug-assertions   Turns on various assertion checks, This is a debugging aid
  -D, --discard-status Discard pgpool_status file and do not restore previous status
  -d, --debug         Debug mode

Stop options:
  -m, --mode=SHUTDOWN-MODE
                      Can be \"smart\", \"fast\", or \"immediate\"

Shutdown modes are:
  smart       quit after all clients have disconnected
  fast        quit directly, with proper shutdown
  immediate   the same mode as fast
",
        ver = crate::version_string(),
        sys = SYSCONFDIR,
        home = std::env::var("HOME").unwrap_or_else(|_| "USER-HOME-DIR".into()),
    )
}

/// What parsing decided: run with options, or exit now with a code (help, version, usage).
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Options>),
    Exit(u8),
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Parse argv as pgpool does. Help/version/usage text is printed here.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Parsed {
    let m = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(_) => {
            eprint!("{}", usage());
            return Parsed::Exit(1);
        }
    };
    if m.get_flag("help") {
        eprint!("{}", usage());
        return Parsed::Exit(0);
    }
    if m.get_flag("version") {
        eprintln!("pgpool-II version {}", crate::version_string());
        return Parsed::Exit(0);
    }
    let stop_mode = match m.get_one::<String>("mode").map(|s| s.chars().next()) {
        None => StopMode::Smart,
        Some(Some('s')) => StopMode::Smart,
        Some(Some('f')) => StopMode::Fast,
        Some(Some('i')) => StopMode::Immediate,
        Some(_) => {
            eprint!("{}", usage());
            return Parsed::Exit(1);
        }
    };
    let words: Vec<&OsString> = m
        .get_many::<OsString>("command")
        .map(|v| v.collect())
        .unwrap_or_default();
    let mode = match words.as_slice() {
        [] => Mode::Start,
        [w] if w.as_os_str() == "stop" => Mode::Stop(stop_mode),
        [w] if w.as_os_str() == "reload" => Mode::Reload,
        _ => {
            eprint!("{}", usage());
            return Parsed::Exit(1);
        }
    };
    let file = |name: &str, default: &str| {
        absolute(
            &m.get_one::<String>(name)
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(SYSCONFDIR).join(default)),
        )
    };
    let key_file = m
        .get_one::<String>("key-file")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("PGPOOLKEYFILE").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpoolkey")))
        .map(|p| absolute(&p));
    Parsed::Run(Box::new(Options {
        mode,
        config_file: file("config-file", "pgpool.conf"),
        pcp_file: file("pcp-file", "pcp.conf"),
        hba_file: file("hba-file", "pool_hba.conf"),
        key_file,
        foreground: m.get_flag("dont-detach"),
        discard_status: m.get_flag("discard-status"),
        clear_oidmaps: m.get_flag("clear-oidmaps"),
        debug: m.get_flag("debug"),
        debug_assertions: m.get_flag("debug-assertions"),
    }))
}

/// Entry point of the `pgpool` binary.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    match parse(args) {
        Parsed::Exit(code) => ExitCode::from(code),
        Parsed::Run(opts) => ExitCode::from(super::run(&opts) as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Parsed {
        parse(
            std::iter::once("pgpool")
                .chain(args.iter().copied())
                .map(OsString::from),
        )
    }

    #[test]
    fn modes_and_options_parse_like_pgpool() {
        let Parsed::Run(o) = p(&["-n", "-f", "/x/pgpool.conf", "-F", "/x/pcp.conf", "-D"]) else {
            panic!("expected run")
        };
        assert_eq!(o.mode, Mode::Start);
        assert!(o.foreground && o.discard_status);
        assert_eq!(o.config_file, PathBuf::from("/x/pgpool.conf"));
        let Parsed::Run(o) = p(&["-m", "fast", "stop"]) else {
            panic!()
        };
        assert_eq!(o.mode, Mode::Stop(StopMode::Fast));
        let Parsed::Run(o) = p(&["--mode=im", "stop"]) else {
            panic!()
        };
        assert_eq!(o.mode, Mode::Stop(StopMode::Immediate));
        let Parsed::Run(o) = p(&["reload"]) else {
            panic!()
        };
        assert_eq!(o.mode, Mode::Reload);
        let Parsed::Run(o) = p(&["-nd", "--config-file=rel.conf"]) else {
            panic!()
        };
        assert!(o.config_file.is_absolute() && o.debug);
    }

    #[test]
    fn bad_words_and_options_are_usage_errors() {
        assert!(matches!(p(&["status"]), Parsed::Exit(1)));
        assert!(matches!(p(&["stop", "reload"]), Parsed::Exit(1)));
        assert!(matches!(p(&["-c"]), Parsed::Exit(1)));
        assert!(matches!(p(&["-m", "x", "stop"]), Parsed::Exit(1)));
        assert!(matches!(p(&["-h"]), Parsed::Exit(0)));
        assert!(matches!(p(&["-v"]), Parsed::Exit(0)));
    }
}
