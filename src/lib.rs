//! pgpool-rs: pgpool-II rebuilt in Rust. The library holds everything; the binaries under
//! `src/bin/` are thin `main` functions. See `docs/architecture.md` for the map.

pub mod auth;
pub mod aux_signals;
pub mod backend;
pub mod child;
pub mod commands;
pub mod config;
pub mod failover;
pub mod fasthash;
pub mod health;
pub mod logger;
pub mod main_process;
pub mod pcp;
pub mod pool;
pub mod process_title;
pub mod protocol;
pub mod router;
pub mod session;
pub mod shmem;
pub mod sql;
pub mod tls;
pub mod worker;

/// The pgpool-II version whose behaviour we follow, as `pgpool -v` and `SHOW pool_version` print it.
pub const PGPOOL_VERSION: &str = "4.6.0";
/// The release code name pgpool prints beside the version.
pub const PGPOOL_CODENAME: &str = "chirikoboshi";

/// `4.6.0 (chirikoboshi)`: the version string in pgpool's format.
pub fn version_string() -> String {
    format!("{PGPOOL_VERSION} ({PGPOOL_CODENAME})")
}

/// Exit codes shared by every pgpool process (spec/architecture.md §2.3).
pub mod exit_code {
    /// Intentional exit: the parent does not restart the process.
    pub const NO_RESTART: i32 = 0;
    /// Recyclable exit: the parent forks a replacement.
    pub const RESTART: i32 = 1;
    /// Unrecoverable start-up failure: the parent shuts the whole server down.
    pub const FATAL: i32 = 3;
}
