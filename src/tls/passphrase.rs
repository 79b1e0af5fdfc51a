//! `ssl_passphrase_command` (spec/auth.md §5.4): expand `%p` and `%%`, run it through the shell,
//! and take the first line of its output as the passphrase of `ssl_key`.

use std::process::{Command, Stdio};

/// The prompt `%p` stands for.
const PROMPT: &str = "Enter PEM pass phrase:";

/// `%p` → the prompt, `%%` → `%`, any other `%x` copied as it is.
pub fn expand(cmd: &str) -> String {
    let mut out = String::with_capacity(cmd.len() + PROMPT.len());
    let mut chars = cmd.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.peek() {
                Some('p') => {
                    chars.next();
                    out.push_str(PROMPT);
                    continue;
                }
                Some('%') => {
                    chars.next();
                    out.push('%');
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

/// Run the command; its first output line without the trailing newline. Errors carry pgpool's
/// wording ("could not execute command", "command \"%s\" failed").
pub fn run(cmd: &str) -> Result<Vec<u8>, String> {
    let command = expand(cmd);
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(&command)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not execute command \"{command}\": {e}"))?;
    if !out.status.success() {
        return Err(format!("command \"{command}\" failed"));
    }
    let line = out.stdout.split(|&b| b == b'\n').next().unwrap_or(&[]);
    Ok(line.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_expand_as_pgpool() {
        assert_eq!(expand("echo %p"), "echo Enter PEM pass phrase:");
        assert_eq!(expand("a%%b%xc%"), "a%b%xc%");
    }

    #[test]
    fn first_line_is_the_passphrase_and_failures_are_errors() {
        assert_eq!(run("printf 'secret\\nmore\\n'").unwrap(), b"secret");
        assert!(run("exit 3").unwrap_err().contains("failed"));
    }
}
