//! `pg_enc`: encrypt a database password with the pool key into pgpool's `AES…` pool_passwd
//! form, print it or write it into pool_passwd (spec/cli.md §3; options, output, messages and
//! exit codes as pgpool-II 4.3.5's pg_enc, which reads its options with GNU getopt_long).

use std::io::{BufRead as _, Write};
use std::path::{Path, PathBuf};

use pgpool_rs::auth::passwords::{aes_encrypt, pool_key_path, read_pool_key_file};
use pgpool_rs::auth::pool_passwd_file::set_entry;
use pgpool_rs::pcp::tools::getopt::{getopt, HasArg, Item, LongOpt};

/// `eprintln!`/`eprint!` that ignore a failed write (stderr closed or a pipe whose reader left).
macro_rules! errln {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stderr(), $($t)*); }};
}
macro_rules! err {
    ($($t:tt)*) => {{ let _ = write!(std::io::stderr(), $($t)*); }};
}

const MAX_INPUT: usize = 128;
const DEFAULT_CONFIG: &str = "/etc/pgpool2/pgpool.conf";

/// glibc's stdio buffer for a pipe or a file (`st_blksize`).
const STDIO_BUFSIZ: usize = 4096;

const LONG: &[LongOpt] = &[
    ("help", HasArg::No, 'h'),
    ("prompt", HasArg::No, 'p'),
    ("prompt-for-key", HasArg::No, 'P'),
    ("update-pass", HasArg::No, 'm'),
    ("username", HasArg::Required, 'u'),
    ("key-file", HasArg::Required, 'k'),
    ("enc-key", HasArg::Required, 'K'),
    ("config-file", HasArg::Required, 'f'),
    ("input-file", HasArg::Required, 'i'),
];

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
    password: Option<String>,
}

/// The options in command-line order; Err(exit code) once `-h` or a bad option has printed
/// the usage (to stdout, exit 0: pg_enc's quirk).
fn parse(prog: &str, args: &[String], out: &mut dyn Write) -> Result<Opts, i32> {
    let (items, positional) = getopt(args, "hpPmu:k:K:f:i:", LONG);
    let mut o = Opts::default();
    for item in items {
        match item {
            Item::Bad(msg) => {
                errln!("{prog}: {msg}");
                let _ = write!(out, "{}", usage(prog));
                return Err(0);
            }
            Item::Opt('h', _) => {
                let _ = write!(out, "{}", usage(prog));
                return Err(0);
            }
            Item::Opt('p', _) => o.prompt = true,
            Item::Opt('P', _) => o.prompt_key = true,
            Item::Opt('m', _) => o.update = true,
            // pg_enc keeps at most 128 bytes of the user name, silently
            Item::Opt('u', v) => o.user = v.map(|u| truncate(u, MAX_INPUT)),
            Item::Opt('k', v) => o.key_file = v.map(PathBuf::from),
            Item::Opt('K', v) => o.key = v,
            Item::Opt('f', v) => o.config = v.map(PathBuf::from),
            Item::Opt('i', v) => o.input = v.map(PathBuf::from),
            Item::Opt(..) => {}
        }
    }
    o.password = positional.into_iter().next();
    Ok(o)
}

/// `s` cut to at most `max` bytes (at a character boundary).
fn truncate(mut s: String, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

/// Read a line from the terminal with echo off.
fn prompt(text: &str, out: &mut dyn Write) -> Result<String, String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    if !std::io::IsTerminal::is_terminal(&stdin) {
        return Err("stdin is not tty".into());
    }
    let _ = write!(out, "{text}");
    let _ = out.flush();
    let saved = tcgetattr(&stdin).map_err(|e| e.to_string())?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, &quiet);
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSAFLUSH, &saved);
    let _ = writeln!(out);
    r.map_err(|e| e.to_string())?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Encrypt `password`: print it, or with `-m` write `user:AES…` into pool_passwd (an empty
/// `user` is the OS user).
fn emit(
    o: &Opts,
    key: &str,
    user: &str,
    password: &str,
    out: &mut dyn Write,
) -> Result<(), String> {
    let b64 = aes_encrypt(password, key);
    if o.update {
        let config = o.config.clone().unwrap_or_else(|| DEFAULT_CONFIG.into());
        let path = pgpool_rs::auth::pool_passwd_file::locate(Path::new(&config))?;
        let user = if user.is_empty() {
            pgpool_rs::pcp::tools::os_user()
        } else {
            user.to_string()
        };
        set_entry(&path, &user, &format!("AES{b64}"))
            .map_err(|e| format!("could not write \"{}\": {e}", path.display()))
    } else {
        let _ = write!(out, "\n{b64}\npool_passwd string: AES{b64}\n");
        Ok(())
    }
}

/// `-i FILE`: one `username:password` per line (split at the first `:`, nothing trimmed but
/// the newline); a bad line is reported on stderr and skipped, a blank one skipped silently.
fn from_input_file(o: &Opts, key: &str, input: &Path, out: &mut dyn Write) -> i32 {
    let _ = writeln!(
        out,
        "trying to read username:password pairs from file {}",
        input.display()
    );
    let text = match std::fs::read(input) {
        Ok(t) => t,
        Err(e) => {
            let _ = out.flush();
            errln!(
                "failed to open input_file \"{}\" ({})\n",
                input.display(),
                pgpool_rs::main_process::files::strerror(&e)
            );
            return 1;
        }
    };
    let text = String::from_utf8_lossy(&text);
    let lines = text.strip_suffix('\n').unwrap_or(&text);
    for (n, line) in lines.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let (user, pw) = match line.split_once(':') {
            Some((user, pw)) if !pw.is_empty() => (user, pw),
            _ => {
                errln!("LINE#{:02}: invalid username:password pair", n + 1);
                continue;
            }
        };
        if user.len() > MAX_INPUT {
            errln!(
                "LINE#{:02}: input exceeds maximum username length {MAX_INPUT}",
                n + 1
            );
            continue;
        }
        if pw.len() > MAX_INPUT {
            errln!(
                "LINE#{:02}: input exceeds maximum password length {MAX_INPUT}",
                n + 1
            );
            continue;
        }
        if let Err(e) = emit(o, key, user, pw, out) {
            errln!("{e}");
            return 1;
        }
    }
    0
}

fn run(prog: &str, args: &[String], out: &mut dyn Write) -> i32 {
    let o = match parse(prog, args, out) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let key = if o.prompt_key {
        match prompt("encryption key: ", out) {
            Ok(k) => Some(k),
            Err(e) => {
                errln!("{e}");
                return 1;
            }
        }
    } else if let Some(k) = &o.key {
        Some(k.clone())
    } else {
        pool_key_path(o.key_file.as_deref()).and_then(|p| {
            let _ = writeln!(out, "trying to read key from file {}", p.display());
            read_pool_key_file(&p)
        })
    };
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        errln!("encryption key not provided");
        return 1;
    };
    if let Some(input) = &o.input {
        return from_input_file(&o, &key, input, out);
    }
    let password = match (&o.password, o.prompt) {
        (Some(p), false) => p.clone(),
        _ => match prompt("db password: ", out) {
            Ok(p) => p,
            Err(e) => {
                errln!("{e}");
                return 1;
            }
        },
    };
    if password.len() > MAX_INPUT {
        errln!(
            "Error: Input exceeds maximum password length given:{} max allowed:{MAX_INPUT}!\n",
            password.len()
        );
        err!("{}", usage(prog));
        return 1;
    }
    let user = o
        .user
        .clone()
        .unwrap_or_else(pgpool_rs::pcp::tools::os_user);
    match emit(&o, &key, &user, &password, out) {
        Ok(()) => 0,
        Err(e) => {
            errln!("{e}");
            1
        }
    }
}

/// Standard output is buffered as C's stdio buffers it (by line on a terminal, else in blocks
/// written when full and at exit), and a failed write (a reader that went away) is ignored.
fn main() {
    let mut args = std::env::args();
    let prog = args.next().unwrap_or_else(|| "pg_enc".into());
    let rest: Vec<String> = args.collect();
    let stdout = std::io::stdout();
    let code = if std::io::IsTerminal::is_terminal(&stdout) {
        run(&prog, &rest, &mut stdout.lock())
    } else {
        let mut out = std::io::BufWriter::with_capacity(STDIO_BUFSIZ, stdout.lock());
        let code = run(&prog, &rest, &mut out);
        let _ = out.flush();
        code
    };
    std::process::exit(code);
}
