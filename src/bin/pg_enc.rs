//! `pg_enc`: encrypt a database password with the pool key into pgpool's `AES…` pool_passwd
//! form, print it or write it into pool_passwd (spec/cli.md §3; output as pgpool-II 4.3.5's
//! pg_enc).

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};

use pgpool_rs::auth::passwords::{aes_encrypt, pool_key_path, read_pool_key_file};
use pgpool_rs::auth::pool_passwd_file::set_entry;
use pgpool_rs::config::Config;

const MAX_INPUT: usize = 128;
const DEFAULT_CONFIG: &str = "/etc/pgpool2/pgpool.conf";

fn usage(prog: &str) -> String {
    let home = std::env::var("HOME").unwrap_or_default();
    format!(
        "pgpool-II version 4.3.5 (tamahomeboshi),\n  password encryption utility for Pgpool\n\n\
Usage:\n  {prog} [OPTIONS] <PASSWORD>\n  -k, --key-file=KEY_FILE\n                       Set the path to the encryption key file.\n                       Default: {home}/.pgpoolkey\n                       Can be overridden by the PGPOOLKEYFILE environment variable.\n  -K, --enc-key=ENCRYPTION_KEY\n                       Encryption key to be used for encrypting database passwords.\n  -f, --config-file=CONFIG_FILE\n                       Specifies the pgpool.conf file.\n  -i, --input-file=INPUT-FILE\n                       Specify file containing username and password pairs.\n  -p, --prompt         Prompt for database password using standard input.\n  -P, --prompt-for-key Prompt for encryption key using standard input.\n  -m, --update-pass    Create encrypted password entry in the pool_passwd file.\n  -u, --username       The username for the pool_password entry.\n  -h, --help           Print this help.\n\n"
    )
}

#[derive(Default)]
struct Opts {
    key_file: Option<PathBuf>,
    key: Option<String>,
    config: Option<PathBuf>,
    input: Option<PathBuf>,
    prompt: bool,
    prompt_key: bool,
    update: bool,
    user: Option<String>,
    help: bool,
    password: Option<String>,
}

/// getopt_long-style parsing; `Err(option)` for an unknown option or a missing argument.
fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut i = 0;
    let mut positional = Vec::new();
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let (name, inline): (String, Option<String>) = if let Some(l) = a.strip_prefix("--") {
            match l.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (l.to_string(), None),
            }
        } else if a.len() > 1 && a.starts_with('-') {
            let rest = &a[2..];
            (
                a[1..2].to_string(),
                (!rest.is_empty()).then(|| rest.to_string()),
            )
        } else {
            positional.push(a.clone());
            continue;
        };
        let takes = matches!(
            name.as_str(),
            "k" | "key-file"
                | "K"
                | "enc-key"
                | "f"
                | "config-file"
                | "i"
                | "input-file"
                | "u"
                | "username"
        );
        let value = if takes {
            match inline {
                Some(v) => Some(v),
                None if i < args.len() => {
                    i += 1;
                    Some(args[i - 1].clone())
                }
                None => return Err(name),
            }
        } else {
            None
        };
        match name.as_str() {
            "k" | "key-file" => o.key_file = value.map(PathBuf::from),
            "K" | "enc-key" => o.key = value,
            "f" | "config-file" => o.config = value.map(PathBuf::from),
            "i" | "input-file" => o.input = value.map(PathBuf::from),
            "u" | "username" => o.user = value,
            "p" | "prompt" => o.prompt = true,
            "P" | "prompt-for-key" => o.prompt_key = true,
            "m" | "update-pass" => o.update = true,
            "h" | "help" => o.help = true,
            _ => return Err(name),
        }
    }
    o.password = positional.into_iter().next();
    Ok(o)
}

/// Read a line from the terminal with echo off.
fn prompt(text: &str) -> Result<String, String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    if !std::io::IsTerminal::is_terminal(&stdin) {
        return Err("stdin is not tty".into());
    }
    print!("{text}");
    let _ = std::io::stdout().flush();
    let saved = tcgetattr(&stdin).map_err(|e| e.to_string())?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, &quiet);
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, &saved);
    println!();
    r.map_err(|e| e.to_string())?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn pool_passwd_path(config: &Path) -> Result<PathBuf, String> {
    let (cfg, _) =
        Config::load(config).map_err(|_| "Unable to get configuration. Exiting...".to_string())?;
    let pp = cfg.get_str("pool_passwd");
    if pp.is_empty() {
        return Err("pool_passwd is not set in the configuration".into());
    }
    Ok(cfg.resolve(pp))
}

fn emit(o: &Opts, key: &str, user: &str, password: &str) -> Result<(), String> {
    let b64 = aes_encrypt(password, key);
    if o.update {
        let config = o.config.clone().unwrap_or_else(|| DEFAULT_CONFIG.into());
        let path = pool_passwd_path(&config)?;
        set_entry(&path, user, &format!("AES{b64}"))
            .map_err(|e| format!("could not write \"{}\": {e}", path.display()))
    } else {
        println!("\n{b64}\npool_passwd string: AES{b64}");
        Ok(())
    }
}

fn run(prog: &str, args: &[String]) -> i32 {
    let o = match parse(args) {
        Ok(o) => o,
        Err(opt) => {
            eprintln!("{prog}: invalid option -- '{opt}'");
            print!("{}", usage(prog));
            return 0;
        }
    };
    if o.help {
        print!("{}", usage(prog));
        return 0;
    }
    let key = if o.prompt_key {
        match prompt("encryption key: ") {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        }
    } else if let Some(k) = &o.key {
        Some(k.clone())
    } else {
        pool_key_path(o.key_file.as_deref()).and_then(|p| {
            println!("trying to read key from file {}", p.display());
            read_pool_key_file(&p)
        })
    };
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        eprintln!("encryption key not provided");
        return 1;
    };
    if let Some(input) = &o.input {
        println!(
            "trying to read username:password pairs from file {}",
            input.display()
        );
        let text = match std::fs::read_to_string(input) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("failed to open input file \"{}\": {e}", input.display());
                return 1;
            }
        };
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let Some((user, pw)) = line.split_once(':') else {
                eprintln!("LINE#{:02}: invalid username:password pair", n + 1);
                continue;
            };
            if user.len() > MAX_INPUT || pw.len() > MAX_INPUT {
                eprintln!("LINE#{:02}: input exceeds maximum length", n + 1);
                continue;
            }
            if let Err(e) = emit(&o, &key, user, pw) {
                eprintln!("{e}");
                return 1;
            }
        }
        return 0;
    }
    let password = match (&o.password, o.prompt) {
        (Some(p), false) => p.clone(),
        _ => match prompt("db password: ") {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        },
    };
    if password.len() > MAX_INPUT {
        eprintln!(
            "Error: Input exceeds maximum password length given:{} max allowed:{MAX_INPUT}!\n",
            password.len()
        );
        eprint!("{}", usage(prog));
        return 1;
    }
    let user = o
        .user
        .clone()
        .unwrap_or_else(pgpool_rs::pcp::tools::os_user);
    if user.len() > MAX_INPUT {
        eprintln!("Error: input exceeds maximum username length!\n");
        return 1;
    }
    match emit(&o, &key, &user, &password) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn main() {
    let mut args = std::env::args();
    let prog = args.next().unwrap_or_else(|| "pg_enc".into());
    let rest: Vec<String> = args.collect();
    std::process::exit(run(&prog, &rest));
}
