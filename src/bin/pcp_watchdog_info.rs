//! `pcp_watchdog_info` (spec/pcp.md §6): a thin main over `pgpool_rs::pcp::tools`.

fn main() {
    std::process::exit(pgpool_rs::pcp::tools::main(
        pgpool_rs::pcp::tools::Tool::WatchdogInfo,
    ));
}
