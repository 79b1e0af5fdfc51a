//! The `pgpool` command line (spec/cli.md §1): start, `stop`, `reload`, help and version.
use std::ffi::OsString;
use std::process::ExitCode;

pub fn run(_args: impl IntoIterator<Item = OsString>) -> ExitCode {
    ExitCode::from(1)
}
