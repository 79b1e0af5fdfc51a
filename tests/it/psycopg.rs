//! psycopg 3 (the Python driver, a real client the issue names) through the daemon in
//! streaming-replication mode: server-side prepared statements and pipeline mode, including an
//! error inside a pipeline and reads after a write in a pipelined transaction. The Python side is
//! `tests/it/clients/psycopg_pipeline.py`; `.ci/run` installs psycopg. A missing psycopg fails
//! the test (it is never skipped).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::cluster::{shared_sr_cluster, SUPERUSER};
use crate::support::daemon::Daemon;
use crate::support::sr::weights;
use crate::support::{output_within, tail, HOST};

#[test]
fn psycopg_prepared_statements_and_pipeline_mode_route_and_recover() {
    let cluster = shared_sr_cluster();
    // weights 0:1:0: node 1 is every session's load-balance node
    let d = Daemon::start_streaming(cluster, &weights(&[0, 1, 0]));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/clients/psycopg_pipeline.py");
    let conninfo = format!(
        "host={HOST} port={} user={SUPERUSER} dbname=postgres sslmode=disable",
        d.port()
    );
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg(&conninfo)
        .arg(cluster.port(0).to_string())
        .arg(cluster.port(1).to_string())
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/nonexistent/pgpass");
    let (out, finished) = output_within(&mut cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        finished && out.status.success() && stdout.trim_end().ends_with("done"),
        "psycopg script failed ({}, finished: {finished}):\n{stdout}\n{stderr}\n--- daemon log ---\n{}",
        out.status,
        tail(&d.log(), 30)
    );
}
