//! The `pgpool` command line (spec/cli.md §1): option letters and long names as pgpool's getopt
//! string `a:df:k:F:hm:nDCxv`, read the way the `getopt_long` bundled with pgpool reads them
//! (in order, up to the first word; a repeated option's last value wins; `-h`, `-v` and a bad
//! option or stop mode end the parse where they stand), the three modes (start, `stop`,
//! `reload`), usage and version text, and the exit codes. Start hands over to `super::start`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::pcp::tools::getopt::{getopt_bundled, HasArg, Item, LongOpt};

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

/// pgpool's long options and the short option each stands for.
const LONG: &[LongOpt] = &[
    ("hba-file", HasArg::Required, 'a'),
    ("debug", HasArg::No, 'd'),
    ("config-file", HasArg::Required, 'f'),
    ("key-file", HasArg::Required, 'k'),
    ("pcp-file", HasArg::Required, 'F'),
    ("help", HasArg::No, 'h'),
    ("mode", HasArg::Required, 'm'),
    ("dont-detach", HasArg::No, 'n'),
    ("discard-status", HasArg::No, 'D'),
    ("clear-oidmaps", HasArg::No, 'C'),
    ("debug-assertions", HasArg::No, 'x'),
    ("version", HasArg::No, 'v'),
];

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
    let mut args = args.into_iter().map(|a| {
        a.into_string()
            .unwrap_or_else(|a| a.to_string_lossy().into_owned())
    });
    let argv0 = args.next().unwrap_or_else(|| "pgpool".into());
    let args: Vec<String> = args.collect();
    let (items, words) = getopt_bundled(&args, "a:df:k:F:hm:nDCxv", LONG);
    let mut stop_mode = StopMode::Smart;
    let (mut config_file, mut pcp_file, mut hba_file, mut key_file) = (None, None, None, None);
    let (mut foreground, mut discard_status, mut clear_oidmaps) = (false, false, false);
    let (mut debug, mut debug_assertions) = (false, false);
    for item in items {
        let (opt, value) = match item {
            Item::Opt(opt, value) => (opt, value.map(PathBuf::from)),
            Item::Bad(msg) => {
                eprintln!("{argv0}: {msg}");
                eprint!("{}", usage());
                return Parsed::Exit(1);
            }
        };
        match opt {
            'a' => hba_file = value,
            'f' => config_file = value,
            'F' => pcp_file = value,
            'k' => key_file = value,
            'n' => foreground = true,
            'D' => discard_status = true,
            'C' => clear_oidmaps = true,
            'd' => debug = true,
            'x' => debug_assertions = true,
            'h' => {
                eprint!("{}", usage());
                return Parsed::Exit(0);
            }
            'v' => {
                eprintln!("pgpool-II version {}", crate::version_string());
                return Parsed::Exit(0);
            }
            'm' => {
                let first = value.as_deref().and_then(|v| v.to_str()?.chars().next());
                stop_mode = match first {
                    Some('s') => StopMode::Smart,
                    Some('f') => StopMode::Fast,
                    Some('i') => StopMode::Immediate,
                    _ => {
                        eprint!("{}", usage());
                        return Parsed::Exit(1);
                    }
                };
            }
            // what that getopt hands back for a lone `-` or a `:` in a cluster
            _ => {
                eprint!("{}", usage());
                return Parsed::Exit(1);
            }
        }
    }
    let mode = match words.as_slice() {
        [] => Mode::Start,
        [w] if w == "stop" => Mode::Stop(stop_mode),
        [w] if w == "reload" => Mode::Reload,
        _ => {
            eprint!("{}", usage());
            return Parsed::Exit(1);
        }
    };
    let file = |given: Option<PathBuf>, default: &str| {
        absolute(&given.unwrap_or_else(|| Path::new(SYSCONFDIR).join(default)))
    };
    let key_file = key_file
        .or_else(|| std::env::var_os("PGPOOLKEYFILE").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpoolkey")))
        .map(|p| absolute(&p));
    Parsed::Run(Box::new(Options {
        mode,
        config_file: file(config_file, "pgpool.conf"),
        pcp_file: file(pcp_file, "pcp.conf"),
        hba_file: file(hba_file, "pool_hba.conf"),
        key_file,
        foreground,
        discard_status,
        clear_oidmaps,
        debug,
        debug_assertions,
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
        // no permutation: an option after the word is a second word
        assert!(matches!(p(&["stop", "-v"]), Parsed::Exit(1)));
        assert!(matches!(p(&["-"]), Parsed::Exit(1)));
        assert!(matches!(p(&["-n:"]), Parsed::Exit(1)));
        // -h, -v and a bad stop mode act where they stand
        assert!(matches!(p(&["-v", "-c"]), Parsed::Exit(0)));
        assert!(matches!(p(&["-c", "-v"]), Parsed::Exit(1)));
        assert!(matches!(p(&["-m", "x", "-v"]), Parsed::Exit(1)));
        assert!(matches!(p(&["-v", "-m", "x"]), Parsed::Exit(0)));
    }

    #[test]
    fn a_repeated_option_is_accepted_and_the_last_one_wins() {
        let Parsed::Run(o) = p(&[
            "-n", "-n", "-d", "-d", "-f", "/a", "-f", "/b", "-m", "smart",
        ]) else {
            panic!("expected run")
        };
        assert!(o.foreground && o.debug);
        assert_eq!(o.config_file, PathBuf::from("/b"));
        let Parsed::Run(o) = p(&["-m", "smart", "--mode=fast", "stop"]) else {
            panic!("expected run")
        };
        assert_eq!(o.mode, Mode::Stop(StopMode::Fast));
        let Parsed::Run(o) = p(&["--debug=1", "--", "reload"]) else {
            panic!("expected run")
        };
        assert!(o.debug && o.mode == Mode::Reload);
    }
}
