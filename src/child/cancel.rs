//! CancelRequest forwarding (spec/architecture.md §3.5.1): find the (child, pool slot) whose
//! shared rows hold the pid/key pgpool handed out, then send each valid node a CancelRequest
//! with that node's own backend pid/key over a new connection, one second apart. Also the
//! cancel of a session's own running query when its client is found gone.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::logger::Severity;
use crate::pglog;
use crate::protocol::startup::cancel_request_packet;

use super::Child;

pub fn forward(child: &Child, pid: i32, key: i32) {
    if child.settings.log_client_messages {
        crate::session::client_log::cancel(pid);
    }
    let sh = child.sh;
    let nodes = sh.num_backends();
    let found = (0..sh.num_children).find_map(|c| {
        (0..sh.max_pool).find_map(|p| {
            (0..nodes)
                .any(|n| {
                    let ci = sh.connection(c, p, n);
                    ci.pid.load(Relaxed) == pid && ci.key.load(Relaxed) == key && pid != 0
                })
                .then_some((c, p))
        })
    });
    let Some((c, p)) = found else {
        pglog!(Severity::Log, "invalid cancel key: pid:{} key:{}", pid, key);
        return;
    };
    let targets: Vec<usize> = (0..nodes)
        .filter(|&n| child.snapshot.is_valid(n) && sh.connection(c, p, n).pid.load(Relaxed) != 0)
        .collect();
    for (i, &n) in targets.iter().enumerate() {
        let ci = sh.connection(c, p, n);
        let (node_pid, node_key) = (ci.pid.load(Relaxed), ci.key.load(Relaxed));
        pglog!(
            Severity::Log,
            detail = format!("canceling backend pid:{node_pid} key: {node_key}");
            "forwarding cancel request to backend"
        );
        if !cancel_backend(child, n, node_pid, node_key) {
            return;
        }
        if i + 1 < targets.len() {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// Send node `n` a CancelRequest for its backend `pid`/`key` over a new connection. False when
/// the connection could not be made (logged).
pub fn cancel_backend(child: &Child, n: usize, pid: i32, key: i32) -> bool {
    let fd = match crate::backend::connect(child.sh, n, child.settings.connect_timeout_ms) {
        Ok(fd) => fd,
        Err(e) => {
            pglog!(Severity::Log, detail = e; "Could not create socket for sending cancel request for backend {}", n);
            return false;
        }
    };
    let pkt = cancel_request_packet(pid as u32, key as u32);
    let _ = crate::protocol::conn::write_all_fd(std::os::fd::AsRawFd::as_raw_fd(&fd), &pkt);
    true
}
