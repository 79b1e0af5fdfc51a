//! The parent process: start-up, forking every other process, reaping and respawning them,
//! signals, reload, shutdown, the pid file.

pub mod cli;
