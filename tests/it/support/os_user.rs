//! The OS user PostgreSQL runs as. PostgreSQL refuses to run as root, so when the tests run as
//! root the servers (initdb, pg_ctl, pg_basebackup) run as an unprivileged user: `postgres`
//! (created by Debian's postgresql-common) or whatever `PGRS_TEST_OS_USER` names. As any other
//! user the tests run the servers as themselves.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

pub struct OsUser {
    pub name: String,
    home: std::path::PathBuf,
    uid: u32,
    gid: u32,
    /// true when we are root and must switch to `uid`/`gid` for server commands
    switch: bool,
}

pub fn os_user() -> &'static OsUser {
    static USER: OnceLock<OsUser> = OnceLock::new();
    USER.get_or_init(|| {
        let me = nix::unistd::geteuid();
        if !me.is_root() {
            let (name, home) = match nix::unistd::User::from_uid(me) {
                Ok(Some(u)) => (u.name, u.dir),
                _ => (me.to_string(), "/".into()),
            };
            return OsUser { name, home, uid: me.as_raw(), gid: nix::unistd::getegid().as_raw(), switch: false };
        }
        let name = std::env::var("PGRS_TEST_OS_USER").unwrap_or_else(|_| "postgres".to_string());
        match nix::unistd::User::from_name(&name) {
            Ok(Some(u)) if !u.uid.is_root() => {
                OsUser { name, home: u.dir, uid: u.uid.as_raw(), gid: u.gid.as_raw(), switch: true }
            }
            _ => panic!(
                "running as root, but OS user '{name}' (to run PostgreSQL as) does not exist or is root; \
                 install postgresql-15 (its postgresql-common creates 'postgres', see .ci/run) \
                 or set PGRS_TEST_OS_USER to an unprivileged user"
            ),
        }
    })
}

impl OsUser {
    /// `program` run as this user, from `/` (the caller's cwd may be unreadable to the user), with
    /// the user's HOME and none of the caller's `PG*` variables (a stray PGDATA or PGPORT would
    /// redirect pg_ctl).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir("/")
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name);
        if self.switch {
            // std drops supplementary groups (setgroups(0)) before setuid when uid is set as root
            cmd.uid(self.uid).gid(self.gid);
        }
        cmd
    }

    /// Hand `path` (not recursively) to this user.
    pub fn chown(&self, path: &Path) {
        if self.switch {
            std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
                .unwrap_or_else(|e| panic!("chown {} to {}: {e}", path.display(), self.name));
        }
    }
}
