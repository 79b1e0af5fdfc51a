//! `failover_command`, `failback_command` and `follow_primary_command` (spec/failover.md §6):
//! expanding the `%` escapes of a template for one node and running the result with
//! `/bin/sh -c`, synchronously, logging `execute command: …` first. The exit status is only
//! reported back, as pgpool ignores it.

use crate::config::BackendConf;
use crate::logger::Severity;
use crate::pglog;

/// The node ids one expansion talks about (−1/−2 = no node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandArgs {
    /// The node the command is run for (`%d %h %p %D`).
    pub node: i32,
    /// `%m %H %r %R`.
    pub new_main: i32,
    /// `%M`.
    pub old_main: i32,
    /// `%P %N %S`.
    pub old_primary: i32,
}

fn slot(backends: &[BackendConf], id: i32) -> Option<&BackendConf> {
    usize::try_from(id).ok().and_then(|i| backends.get(i))
}

/// Expand `template` (unknown `%x` pairs and a trailing `%` are dropped; look-ups of a node
/// outside the configured slots give `""` where pgpool prints the two quote characters).
pub fn expand(template: &str, a: &CommandArgs, backends: &[BackendConf]) -> String {
    let node = slot(backends, a.node);
    let new_main = slot(backends, a.new_main);
    let old_primary = slot(backends, a.old_primary);
    let quoted = |b: Option<&BackendConf>, f: fn(&BackendConf) -> String| {
        b.map_or_else(|| "\"\"".to_string(), f)
    };
    let mut out = String::with_capacity(template.len() + 64);
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else { break };
        match e {
            'd' => out.push_str(&format!(" {}", a.node)),
            'h' => out.push_str(&node.map(|b| b.hostname.clone()).unwrap_or_default()),
            'p' => out.push_str(&format!(" {}", node.map_or(0, |b| b.port))),
            'D' => out.push_str(&node.map(|b| b.data_directory.clone()).unwrap_or_default()),
            'm' => out.push_str(&format!(" {}", a.new_main)),
            'H' => out.push_str(&quoted(new_main, |b| b.hostname.clone())),
            'r' => out.push_str(&quoted(new_main, |b| b.port.to_string())),
            'R' => out.push_str(&quoted(new_main, |b| b.data_directory.clone())),
            'M' => out.push_str(&a.old_main.to_string()),
            'P' => out.push_str(&a.old_primary.to_string()),
            'N' => out.push_str(&quoted(old_primary, |b| b.hostname.clone())),
            'S' => out.push_str(&quoted(old_primary, |b| b.port.to_string())),
            '%' => out.push('%'),
            _ => {}
        }
    }
    out
}

/// Expand and run `template` for one node; None when the template expands to nothing.
pub fn execute(template: &str, a: &CommandArgs, backends: &[BackendConf]) -> Option<i32> {
    let cmd = expand(template, a, backends);
    if cmd.is_empty() {
        return None;
    }
    pglog!(Severity::Log, "execute command: {}", cmd);
    match std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd)
        .stdin(std::process::Stdio::null())
        .status()
    {
        Ok(st) => Some(st.code().unwrap_or(-1)),
        Err(e) => {
            pglog!(
                Severity::Warning,
                "failed to execute command \"{}\": {}",
                cmd,
                e
            );
            Some(-1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: u16, dir: &str) -> BackendConf {
        BackendConf {
            hostname: host.into(),
            port,
            data_directory: dir.into(),
            ..Default::default()
        }
    }

    #[test]
    fn expansion_matches_pgpools_examples() {
        let b = vec![
            node("host0", 5432, "/data"),
            node("host1", 5432, "/data"),
            node("host2", 5432, "/data"),
        ];
        let t = "/etc/pgpool/failover.sh %d %h %p %D %m %H %M %P %r %R %N %S";
        let a = CommandArgs {
            node: 1,
            new_main: 0,
            old_main: 0,
            old_primary: 0,
        };
        assert_eq!(
            expand(t, &a, &b),
            "/etc/pgpool/failover.sh  1 host1  5432 /data  0 host0 0 0 5432 /data host0 5432"
        );
        let a = CommandArgs {
            node: 0,
            new_main: -1,
            old_main: 0,
            old_primary: 0,
        };
        assert_eq!(expand("%m %H %r %R", &a, &b), " -1 \"\" \"\" \"\"");
        assert_eq!(expand("a%%b%xc%", &a, &b), "a%bc");
    }
}
