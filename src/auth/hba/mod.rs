//! pool_hba.conf client authentication (spec/auth.md §6, §8; `enable_pool_hba = on`): the file
//! parser (`parse`), the choice of a client's rule (`matching`), the method exchanges run with
//! the client before any backend is contacted (`methods`, with PAM in `pam` and LDAP in `ldap`), and here the rules currently in
//! force: loaded by the main process at start (children inherit them) and again by every
//! process on reload, replaced only when the whole new file parses.

pub mod ldap;
pub mod matching;
pub mod methods;
pub mod pam;
pub mod parse;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::logger::Severity;

pub use matching::{find_rule, ClientInfo};
pub use methods::{client_authentication, FrontendAuth, HbaConn};
pub use parse::{parse_hba, HbaError, HbaRule, Method};

static HBA_PATH: OnceLock<PathBuf> = OnceLock::new();
static RULES: Mutex<Option<Arc<Vec<HbaRule>>>> = Mutex::new(None);

/// Read and parse `path`; every problem is logged with pgpool's wording.
pub fn load_file(path: &Path, ssl: bool) -> Option<Vec<HbaRule>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            crate::pglog!(Severity::Log, detail = e; "could not open configuration file \"{}\"", path.display());
            return None;
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    match parse_hba(&text, dir, ssl, &path.display().to_string()) {
        Ok(rules) => Some(rules),
        Err(e) => {
            if e.line > 0 {
                crate::pglog!(Severity::Log, context = format!("line {} of configuration file \"{}\"", e.line, path.display()); "{}", e.message);
            } else {
                crate::pglog!(Severity::Log, "{}", e.message);
            }
            None
        }
    }
}

fn set_rules(rules: Option<Arc<Vec<HbaRule>>>) {
    *RULES.lock().unwrap_or_else(|p| p.into_inner()) = rules;
}

/// Remember the pool_hba.conf path (`-a`) and, when `enabled`, load it (main process, at
/// start, before forking). A broken file leaves no rules: every client is then refused.
pub fn init(path: PathBuf, enabled: bool, ssl: bool) {
    let _ = HBA_PATH.set(path.clone());
    if enabled {
        set_rules(load_file(&path, ssl).map(Arc::new));
    }
}

/// On reload: load the file again when `enabled`; keep the previous rules if it is broken.
pub fn reload(enabled: bool, ssl: bool) {
    if !enabled {
        return;
    }
    let Some(path) = HBA_PATH.get() else { return };
    if let Some(rules) = load_file(path, ssl) {
        set_rules(Some(Arc::new(rules)));
    } else {
        crate::pglog!(
            Severity::Log,
            "pool_hba.conf reload failed, the previous rules are kept"
        );
    }
}

/// The rules in force, `None` when the file was missing or broken at start.
pub fn rules() -> Option<Arc<Vec<HbaRule>>> {
    RULES.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

#[cfg(test)]
mod tests;
