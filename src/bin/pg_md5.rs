//! `pg_md5` (spec/cli.md §2): print md5hex(password) for pcp.conf, or with `-m` write the
//! `user:md5<md5hex(password ‖ user)>` entry into the pool_passwd file of a pgpool.conf.
//! Messages, streams and exit codes follow pgpool-II 4.3.5's pg_md5.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use pgpool_rs::auth::passwords::md5_hex;
use pgpool_rs::pcp::tools::getopt::{getopt, HasArg, Item, LongOpt};

/// `eprintln!`/`eprint!` that ignore a failed write (stderr closed or a pipe whose reader left).
macro_rules! errln {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stderr(), $($t)*); }};
}
macro_rules! err {
    ($($t:tt)*) => {{ let _ = write!(std::io::stderr(), $($t)*); }};
}

const MAX_INPUT: usize = 128;

/// pg_md5 reads `-i` input with `fgets` into a buffer of this size: a longer line is taken as
/// several lines of at most `LINE_BUF - 1` bytes each.
const LINE_BUF: usize = 2 * MAX_INPUT + 2;

/// glibc's stdio buffer for a pipe or a file (`st_blksize`).
const STDIO_BUFSIZ: usize = 4096;

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

/// Standard output is buffered as C's stdio buffers it (by line on a terminal, else in blocks
/// written when full and at exit), and a failed write (a reader that went away) is ignored.
fn main() {
    let stdout = std::io::stdout();
    let code = if std::io::IsTerminal::is_terminal(&stdout) {
        run(&mut stdout.lock())
    } else {
        let mut out = std::io::BufWriter::with_capacity(STDIO_BUFSIZ, stdout.lock());
        let code = run(&mut out);
        let _ = out.flush();
        code
    };
    std::process::exit(code);
}

fn run(out: &mut dyn Write) -> i32 {
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
                errln!("{argv0}: {msg}");
                let _ = write!(out, "{}", usage(&argv0));
                return 0;
            }
            Item::Opt('h', _) => {
                let _ = write!(out, "{}", usage(&argv0));
                return 0;
            }
            Item::Opt('p', _) => o.prompt = true,
            Item::Opt('m', _) => o.md5auth = true,
            Item::Opt('u', v) => {
                let v = v.unwrap_or_default();
                if v.len() > MAX_INPUT {
                    errln!("Error: input exceeds maximum username length!\n");
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
        return from_input_file(&o, &file, out);
    }
    let password = if o.prompt {
        match prompt_password(out) {
            Ok(p) => p,
            Err(msg) => {
                errln!("{msg}");
                return 1;
            }
        }
    } else {
        let Some(p) = positional.first() else {
            err!("{}", usage(&argv0));
            return 1;
        };
        if p.len() > MAX_INPUT {
            err!(
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
            errln!("ERROR: could not update \"{}\": {e}", path.display());
            return 1;
        }
    } else {
        let _ = writeln!(out, "{}", md5_hex(password.as_bytes()));
    }
    0
}

/// `-i FILE`: one `username:password` per line (pieces of at most `LINE_BUF - 1` bytes, see
/// there), split at the first `:`. With `-m` each good line updates pool_passwd (an empty user
/// name is the OS user), the configuration read when the first one is reached.
fn from_input_file(o: &Opts, file: &str, out: &mut dyn Write) -> i32 {
    let _ = writeln!(
        out,
        "trying to read username:password pairs from file {file}"
    );
    let text = match std::fs::read(file) {
        Ok(t) => t,
        Err(e) => {
            let _ = out.flush();
            errln!(
                "failed to open input_file \"{file}\" ({})\n",
                pgpool_rs::main_process::files::strerror(&e)
            );
            return 1;
        }
    };
    for (i, piece) in fgets_pieces(&text, LINE_BUF).enumerate() {
        let piece = piece.strip_suffix(b"\n").unwrap_or(piece);
        let line = String::from_utf8_lossy(piece);
        let _ = write!(out, "LINE#{:02}: ", i + 1);
        if line.is_empty() {
            let _ = writeln!(out, "BLANK LINE");
            continue;
        }
        let (user, password) = match line.split_once(':') {
            Some((user, password)) if !password.is_empty() => (user, password),
            _ => {
                let _ = writeln!(out, "Invalid username:password pair");
                continue;
            }
        };
        if user.len() > MAX_INPUT {
            let _ = writeln!(out, "input exceeds maximum username length {MAX_INPUT}\n");
            continue;
        }
        if password.len() > MAX_INPUT {
            let _ = writeln!(out, "input exceeds maximum password length {MAX_INPUT}");
            continue;
        }
        let _ = writeln!(out, "USER: <{user}>");
        if !o.md5auth {
            let _ = writeln!(out, "{}", md5_hex(password.as_bytes()));
            continue;
        }
        let _ = out.flush();
        let Some(path) = pool_passwd_path(o) else {
            return 1;
        };
        let user = if user.is_empty() {
            pgpool_rs::pcp::tools::os_user()
        } else {
            user.to_string()
        };
        if let Err(e) = set_entry(&path, &user, password) {
            errln!("ERROR: could not update \"{}\": {e}", path.display());
            return 1;
        }
    }
    0
}

/// `text` cut as successive `fgets(buf, size)` calls return it: each piece ends after a
/// newline or at `size - 1` bytes, whichever comes first.
fn fgets_pieces(text: &[u8], size: usize) -> impl Iterator<Item = &[u8]> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let max = rest.len().min(size - 1);
        let end = rest[..max]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(max, |n| n + 1);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}

/// The pool_passwd file of the configuration (`-f`, default `/etc/pgpool2/pgpool.conf`).
fn pool_passwd_path(o: &Opts) -> Option<PathBuf> {
    let conf =
        o.config.clone().map(PathBuf::from).unwrap_or_else(|| {
            Path::new(pgpool_rs::main_process::cli::SYSCONFDIR).join("pgpool.conf")
        });
    pgpool_rs::auth::pool_passwd_file::locate(&conf)
        .map_err(|e| errln!("{e}"))
        .ok()
}

/// Replace the line of `user` in pool_passwd with its md5 entry, or append one; creates the file
/// if missing.
fn set_entry(path: &Path, user: &str, password: &str) -> std::io::Result<()> {
    let value = format!("md5{}", md5_hex(format!("{password}{user}").as_bytes()));
    pgpool_rs::auth::pool_passwd_file::set_entry(path, user, &value)
}

/// `-p`: `password: ` with echo off; stdin must be a terminal.
fn prompt_password(out: &mut dyn Write) -> Result<String, String> {
    // SAFETY: isatty only inspects fd 0.
    if unsafe { libc::isatty(0) } == 0 {
        return Err("stdin is not tty".into());
    }
    let _ = write!(out, "password: ");
    let _ = out.flush();
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
    let _ = writeln!(out);
    read.map_err(|e| e.to_string())?;
    let p = line.trim_end_matches(['\n', '\r']).to_string();
    if p.len() > MAX_INPUT {
        return Err("Error: Input exceeds maximum password length!".into());
    }
    Ok(p)
}
