//! Who is logging: the per-process identity the `log_line_prefix` escapes read (application
//! name, process name, session user/database, client application_name) and the per-process
//! line counter behind `%l`. Set after fork by each process; process-local (each pgpool
//! process is single-threaded, so a thread-local is the process's state, and it survives fork
//! in the forking thread).

use std::cell::RefCell;

#[derive(Debug, Clone)]
pub(crate) struct ProcessState {
    /// Fixed per process type (`main`, `child`, `health_check0`, ...).
    pub app_name: String,
    /// `MAIN`, `CHILD`, ...
    pub process_name: String,
    /// `Some` inside a client session.
    pub session: Option<Session>,
    /// Last line number handed out (the next line gets `line + 1`).
    pub line: u64,
    /// The pid `line` counts for: a forked process that never called `set_process` still
    /// restarts its numbering, as pgpool does.
    pub line_pid: i32,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    pub user: Option<String>,
    pub database: Option<String>,
    /// The client's `application_name`, once known.
    pub application_name: Option<String>,
}

impl Default for ProcessState {
    fn default() -> Self {
        ProcessState {
            app_name: "main".to_string(),
            process_name: "MAIN".to_string(),
            session: None,
            line: 0,
            line_pid: 0,
        }
    }
}

thread_local! {
    static STATE: RefCell<ProcessState> = RefCell::new(ProcessState::default());
}

/// Run `f` with this process's logging identity.
pub(crate) fn with_state<R>(f: impl FnOnce(&mut ProcessState) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Record the process type right after fork: `("main", "MAIN")`, `("child", "CHILD")`,
/// `("pcp_main", "PCP CHILD")`, `("health_check0", "HEALTH CHECK")`, `("logger", "LOGGER")`, ...
/// (spec/config.md §6.5, spec/architecture.md §1). Leaves any session and restarts `%l` at 1.
pub fn set_process(app_name: &str, process_name: &str) {
    with_state(|s| {
        s.app_name = app_name.to_string();
        s.process_name = process_name.to_string();
        s.session = None;
        s.line = 0;
        s.line_pid = nix::unistd::getpid().as_raw();
    });
}

/// Enter (`Some`) or leave (both `None`) a client session. Inside a session `%u`/`%d` show the
/// user and database (`[unknown]` when one is not known); outside they show `[No Connection]`.
/// Leaving a session also forgets the client's application_name.
pub fn set_session(user: Option<&str>, database: Option<&str>) {
    with_state(|s| {
        if user.is_none() && database.is_none() {
            s.session = None;
        } else {
            let app = s.session.take().and_then(|old| old.application_name);
            s.session = Some(Session {
                user: user.map(str::to_string),
                database: database.map(str::to_string),
                application_name: app,
            });
        }
    });
}

/// The client's `application_name` (from the startup packet or a later ParameterStatus):
/// `%a` shows it instead of the process's fixed name until the session ends. Opens a session
/// with unknown user/database if none is open.
pub fn set_application_name(name: &str) {
    with_state(|s| {
        s.session
            .get_or_insert_with(Session::default)
            .application_name = Some(name.to_string());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_lifecycle() {
        set_process("child", "CHILD");
        with_state(|s| assert!(s.session.is_none() && s.line == 0));
        set_application_name("psql");
        set_session(Some("alice"), Some("db"));
        with_state(|s| {
            let sess = s.session.as_ref().expect("in session");
            assert_eq!(sess.application_name.as_deref(), Some("psql"));
            assert_eq!(sess.user.as_deref(), Some("alice"));
        });
        set_session(None, None);
        with_state(|s| assert!(s.session.is_none()));
        with_state(|s| assert_eq!(s.app_name, "child"));
    }
}
