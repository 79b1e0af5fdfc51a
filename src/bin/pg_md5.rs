//! `pg_md5` (spec/cli.md §2): print md5hex(password) for pcp.conf, or with `-m` write the
//! `user:md5<md5hex(password ‖ user)>` entry into the pool_passwd file of a pgpool.conf.
//! Messages, streams and exit codes follow pgpool-II 4.3.5's pg_md5.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use pgpool_rs::auth::passwords::md5_hex;
use pgpool_rs::pcp::tools::getopt::{getopt, HasArg, Item, LongOpt};

const MAX_INPUT: usize = 128;

const LONG: &[LongOpt] = &[
    ("help", HasArg::No, 'h'),
    ("prompt", HasArg::No, 'p'),
    ("md5auth", HasArg::No, 'm'),
    ("username", HasArg::Required, 'u'),
    ("config-file", HasArg::Required, 'f'),
    ("input-file", HasArg::Required, 'i'),
];

fn usage(argv0: &str) -> String {
    format!(
        "Usage:\n\n  {argv0} [OPTIONS]\n  {argv0} <PASSWORD>\n\n\
         \x20 --prompt, -p         Prompt password using standard input.\n\
         \x20 --md5auth, -m        Produce md5 authentication password.\n\
         \x20 --username, -u USER  When producing a md5 authentication password,\n\
         \x20                      create the pool_passwd entry for USER.\n\
         \x20 --config-file, -f CONFIG-FILE  Specify pgpool.conf.\n\
         \x20 --input-file, -i INPUT-FILE  Specify file containing username and password pairs.\n\
         \x20 --help, -h           This help menu.\n\n\
         Warning: At most 128 characters are allowed for input.\n\
         Warning: Plain password argument is deprecated for security concerns\n\
         \x20        and kept for compatibility. Please prefer using password\n\
         \x20        prompt or input file method.\n"
    )
}

struct Opts {
    prompt: bool,
    md5auth: bool,
    user: Option<String>,
    config: Option<String>,
    input: Option<String>,
}

fn main() {
    std::process::exit(run());
}

fn run() -> i32 {
    let mut argv = std::env::args();
    let argv0 = argv.next().unwrap_or_else(|| "pg_md5".into());
    let args: Vec<String> = argv.collect();
    let (items, positional) = getopt(&args, "hpmu:f:i:", LONG);
    let mut o = Opts {
        prompt: false,
        md5auth: false,
        user: None,
        config: None,
        input: None,
    };
    for item in items {
        match item {
            Item::Bad(msg) => {
                // pg_md5's quirk: the usage goes to stdout and the exit status is 0
                eprintln!("{argv0}: {msg}");
                print!("{}", usage(&argv0));
                return 0;
            }
            Item::Opt('h', _) => {
                print!("{}", usage(&argv0));
                return 0;
            }
            Item::Opt('p', _) => o.prompt = true,
            Item::Opt('m', _) => o.md5auth = true,
            Item::Opt('u', v) => {
                let v = v.unwrap_or_default();
                if v.len() > MAX_INPUT {
                    eprintln!("Error: input exceeds maximum username length!\n");
                    return 1;
                }
                o.user = Some(v);
            }
            Item::Opt('f', v) => o.config = v,
            Item::Opt('i', v) => o.input = v,
            Item::Opt(..) => {}
        }
    }
    if let Some(file) = o.input.clone() {
        return from_input_file(&o, &file);
    }
    let password = if o.prompt {
        match prompt_password() {
            Ok(p) => p,
            Err(msg) => {
                eprintln!("{msg}");
                return 1;
            }
        }
    } else {
        let Some(p) = positional.first() else {
            eprint!("{}", usage(&argv0));
            return 1;
        };
        if p.len() > MAX_INPUT {
            eprint!(
                "Error: Input exceeds maximum password length!\n\n{}",
                usage(&argv0)
            );
            return 1;
        }
        p.clone()
    };
    if o.md5auth {
        let user = o
            .user
            .clone()
            .unwrap_or_else(pgpool_rs::pcp::tools::os_user);
        let Some(path) = pool_passwd_path(&o) else {
            return 1;
        };
        if let Err(e) = set_entry(&path, &user, &password) {
            eprintln!("ERROR: could not update \"{}\": {e}", path.display());
            return 1;
        }
    } else {
        println!("{}", md5_hex(password.as_bytes()));
    }
    0
}

/// `-i FILE`: one `username:password` per line.
fn from_input_file(o: &Opts, file: &str) -> i32 {
    println!("trying to read username:password pairs from file {file}");
    let text = match std::fs::read(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("could not open input file {file}: {e}");
            return 1;
        }
    };
    let path = if o.md5auth {
        match pool_passwd_path(o) {
            Some(p) => Some(p),
            None => return 1,
        }
    } else {
        None
    };
    for (i, line) in String::from_utf8_lossy(&text).lines().enumerate() {
        print!("LINE#{:02}: ", i + 1);
        if line.is_empty() {
            println!("BLANK LINE");
            continue;
        }
        let Some((user, password)) = line.split_once(':') else {
            println!("Invalid username:password pair");
            continue;
        };
        if user.len() > MAX_INPUT {
            println!("input exceeds maximum username length {MAX_INPUT}");
            continue;
        }
        if password.len() > MAX_INPUT {
            println!("input exceeds maximum password length {MAX_INPUT}");
            continue;
        }
        println!("USER: <{user}>");
        match &path {
            Some(p) => {
                if let Err(e) = set_entry(p, user, password) {
                    eprintln!("ERROR: could not update \"{}\": {e}", p.display());
                    return 1;
                }
            }
            None => println!("{}", md5_hex(password.as_bytes())),
        }
    }
    0
}

/// The pool_passwd file of the configuration (`-f`, default `/etc/pgpool2/pgpool.conf`).
fn pool_passwd_path(o: &Opts) -> Option<PathBuf> {
    let conf =
        o.config.clone().map(PathBuf::from).unwrap_or_else(|| {
            Path::new(pgpool_rs::main_process::cli::SYSCONFDIR).join("pgpool.conf")
        });
    let loaded = if conf.is_file() {
        pgpool_rs::config::Config::load(&conf).ok()
    } else {
        eprintln!(
            "WARNING: pid {}: could not open configuration file: \"{}\"",
            std::process::id(),
            conf.display()
        );
        None
    };
    let Some((cfg, _)) = loaded else {
        eprintln!("Unable to get configuration. Exiting...");
        return None;
    };
    let name = cfg.get_str("pool_passwd");
    Some(cfg.resolve(if name.is_empty() { "pool_passwd" } else { name }))
}

/// Replace the line of `user` in pool_passwd with its md5 entry, or append one; creates the file
/// if missing.
fn set_entry(path: &Path, user: &str, password: &str) -> std::io::Result<()> {
    let value = format!("md5{}", md5_hex(format!("{password}{user}").as_bytes()));
    pgpool_rs::auth::pool_passwd_file::set_entry(path, user, &value)
}

/// `-p`: `password: ` with echo off; stdin must be a terminal.
fn prompt_password() -> Result<String, String> {
    // SAFETY: isatty only inspects fd 0.
    if unsafe { libc::isatty(0) } == 0 {
        return Err("stdin is not tty".into());
    }
    print!("password: ");
    let _ = std::io::stdout().flush();
    // SAFETY: tcgetattr/tcsetattr on fd 0 (a terminal, checked above) with a termios we own.
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(0, &mut t);
        let saved = t;
        t.c_lflag &= !libc::ECHO;
        libc::tcsetattr(0, libc::TCSAFLUSH, &t);
        saved
    };
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe { libc::tcsetattr(0, libc::TCSAFLUSH, &saved) };
    println!();
    read.map_err(|e| e.to_string())?;
    let p = line.trim_end_matches(['\n', '\r']).to_string();
    if p.len() > MAX_INPUT {
        return Err("Error: Input exceeds maximum password length!".into());
    }
    Ok(p)
}
