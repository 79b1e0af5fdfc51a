//! The `pgpool` server binary: parses pgpool's options and runs the main process.
fn main() -> std::process::ExitCode {
    pgpool_rs::main_process::cli::run(std::env::args_os())
}
