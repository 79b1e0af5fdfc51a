//! The node-operation request queue in shared memory (spec/failover.md §1.2–§1.3, §4.4): a ring
//! of ten `{kind, details, nodes}` entries that health checks, children, the worker and PCP
//! workers push to, and that only the main process pops from (in its failover procedure). Pushed
//! and popped under the header's robust `request_lock`; the counters start at −1 as pgpool's do.
//! Also the per-node health-check statistics record (§2.5), which lives beside the queue in the
//! header.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicU8};

use super::{Shmem, MAX_BACKENDS};

/// pgpool's `MAX_REQUEST_QUEUE_SIZE`.
pub const REQUEST_QUEUE_SIZE: usize = 10;

/// `POOL_REQUEST_KIND` (the numbers are ours; nothing outside the process reads them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RequestKind {
    NodeUp = 1,
    NodeDown = 2,
    CloseIdle = 3,
    Promote = 4,
    Quarantine = 5,
}

impl RequestKind {
    fn from_u8(v: u8) -> Option<RequestKind> {
        Some(match v {
            1 => RequestKind::NodeUp,
            2 => RequestKind::NodeDown,
            3 => RequestKind::CloseIdle,
            4 => RequestKind::Promote,
            5 => RequestKind::Quarantine,
            _ => return None,
        })
    }
}

/// Request detail bits (spec/failover.md §1.2), pgpool's values.
pub mod details {
    /// Not a crash: allows a partial child restart in streaming mode.
    pub const SWITCHOVER: u8 = 0x01;
    /// Came from the watchdog: do not consult it again.
    pub const WATCHDOG: u8 = 0x02;
    /// No quorum/consensus needed (PCP, worker, recovery).
    pub const CONFIRMED: u8 = 0x04;
    /// A failback that only lifts a quarantine.
    pub const UPDATE: u8 = 0x08;
    /// A NODE_DOWN that is a switchover: detach the primary, promote `nodes[0]`.
    pub const PROMOTE: u8 = 0x10;
}

/// One queued request, as pushed and popped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRequest {
    pub kind: RequestKind,
    pub details: u8,
    pub nodes: Vec<usize>,
}

/// One ring entry in shared memory (plain words, read and written under `request_lock`).
#[repr(C)]
pub struct RequestSlot {
    kind: AtomicU8,
    details: AtomicU8,
    count: AtomicI32,
    nodes: [AtomicU8; MAX_BACKENDS],
}

/// The ring and its counters (`request_queue_head` / `_tail`, both −1 at start).
#[repr(C)]
pub struct RequestQueue {
    head: AtomicI64,
    tail: AtomicI64,
    slots: [RequestSlot; REQUEST_QUEUE_SIZE],
}

impl RequestQueue {
    /// Called once by the parent on the fresh (zeroed) region.
    pub(super) fn init(&self) {
        self.head.store(-1, Relaxed);
        self.tail.store(-1, Relaxed);
    }
}

/// Health-check statistics of one node (spec/failover.md §2.5). Written by that node's health
/// check process only; read by `SHOW pool_health_check_stats` and PCP `H`.
#[repr(C)]
#[derive(Default)]
pub struct HealthStats {
    pub total_count: AtomicU64,
    pub success_count: AtomicU64,
    pub fail_count: AtomicU64,
    pub skip_count: AtomicU64,
    pub retry_count: AtomicU64,
    pub max_retry_count: AtomicU32,
    /// Milliseconds, summed over non-skipped rounds.
    pub total_health_check_duration: AtomicU64,
    pub max_health_check_duration: AtomicI32,
    /// `i32::MAX` until the first round (pgpool's INT_MAX).
    pub min_health_check_duration: AtomicI32,
    pub last_health_check: AtomicI64,
    pub last_successful_health_check: AtomicI64,
    pub last_skip_health_check: AtomicI64,
    pub last_failed_health_check: AtomicI64,
}

impl HealthStats {
    /// Zero the record (min duration = INT_MAX), as at pgpool start.
    pub fn reset(&self) {
        for a in [
            &self.total_count,
            &self.success_count,
            &self.fail_count,
            &self.skip_count,
            &self.retry_count,
            &self.total_health_check_duration,
        ] {
            a.store(0, Relaxed);
        }
        self.max_retry_count.store(0, Relaxed);
        self.max_health_check_duration.store(0, Relaxed);
        self.min_health_check_duration.store(i32::MAX, Relaxed);
        for a in [
            &self.last_health_check,
            &self.last_successful_health_check,
            &self.last_skip_health_check,
            &self.last_failed_health_check,
        ] {
            a.store(0, Relaxed);
        }
    }
}

impl Shmem {
    fn queue(&self) -> &RequestQueue {
        &self.header().requests
    }

    /// Push a request (pgpool's `register_node_operation_request` minus the wake-up of the main
    /// process, which the caller does). False when the ring is full: the request is dropped, as
    /// pgpool drops it.
    pub fn push_request(&self, req: &NodeRequest) -> bool {
        let q = self.queue();
        let _g = self.header().request_lock.lock();
        let (head, tail) = (q.head.load(Relaxed), q.tail.load(Relaxed));
        if tail - REQUEST_QUEUE_SIZE as i64 == head {
            return false;
        }
        let tail = tail + 1;
        let slot = &q.slots[tail.rem_euclid(REQUEST_QUEUE_SIZE as i64) as usize];
        slot.kind.store(req.kind as u8, Relaxed);
        slot.details.store(req.details, Relaxed);
        let nodes: Vec<usize> = req
            .nodes
            .iter()
            .copied()
            .filter(|&n| n < MAX_BACKENDS)
            .collect();
        slot.count.store(nodes.len() as i32, Relaxed);
        for (i, n) in nodes.iter().enumerate() {
            slot.nodes[i].store(*n as u8, Relaxed);
        }
        q.tail.store(tail, Relaxed);
        true
    }

    /// Pop the oldest request, if any (main process only).
    pub fn pop_request(&self) -> Option<NodeRequest> {
        let q = self.queue();
        let _g = self.header().request_lock.lock();
        let (head, tail) = (q.head.load(Relaxed), q.tail.load(Relaxed));
        if head == tail {
            return None;
        }
        let head = head + 1;
        q.head.store(head, Relaxed);
        let slot = &q.slots[head.rem_euclid(REQUEST_QUEUE_SIZE as i64) as usize];
        let count = (slot.count.load(Relaxed).max(0) as usize).min(MAX_BACKENDS);
        Some(NodeRequest {
            kind: RequestKind::from_u8(slot.kind.load(Relaxed))?,
            details: slot.details.load(Relaxed),
            nodes: (0..count)
                .map(|i| slot.nodes[i].load(Relaxed) as usize)
                .collect(),
        })
    }

    /// Requests queued and not popped yet.
    pub fn pending_requests(&self) -> usize {
        let q = self.queue();
        let _g = self.header().request_lock.lock();
        (q.tail.load(Relaxed) - q.head.load(Relaxed)).max(0) as usize
    }

    /// The kind of the oldest queued request (PCP's "… is in progress" refusals look at it).
    pub fn head_request_kind(&self) -> Option<RequestKind> {
        let q = self.queue();
        let _g = self.header().request_lock.lock();
        let (head, tail) = (q.head.load(Relaxed), q.tail.load(Relaxed));
        if head == tail {
            return None;
        }
        let slot = &q.slots[(head + 1).rem_euclid(REQUEST_QUEUE_SIZE as i64) as usize];
        RequestKind::from_u8(slot.kind.load(Relaxed))
    }

    /// Health-check statistics of `node`.
    pub fn health(&self, node: usize) -> &HealthStats {
        &self.header().health[node]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_is_fifo_holds_ten_and_drops_the_eleventh() {
        let sh = crate::shmem::tests_region();
        while sh.pop_request().is_some() {}
        assert_eq!(sh.pending_requests(), 0);
        for i in 0..REQUEST_QUEUE_SIZE {
            let r = NodeRequest {
                kind: RequestKind::NodeDown,
                details: details::CONFIRMED,
                nodes: vec![i, 127],
            };
            assert!(sh.push_request(&r), "push {i}");
        }
        let extra = NodeRequest {
            kind: RequestKind::NodeUp,
            details: 0,
            nodes: vec![1],
        };
        assert!(!sh.push_request(&extra), "the eleventh is refused");
        assert_eq!(sh.pending_requests(), 10);
        assert_eq!(sh.head_request_kind(), Some(RequestKind::NodeDown));
        for i in 0..REQUEST_QUEUE_SIZE {
            let r = sh.pop_request().expect("queued");
            assert_eq!(r.nodes, vec![i, 127]);
            assert_eq!(r.details, details::CONFIRMED);
        }
        assert_eq!(sh.pop_request(), None);
        // The ring wraps: a push after ten pops lands in slot 0 again and comes back out.
        assert!(sh.push_request(&extra));
        assert_eq!(sh.pop_request(), Some(extra));
    }

    #[test]
    fn health_stats_start_with_min_duration_int_max() {
        let sh = crate::shmem::tests_region();
        assert_eq!(
            sh.health(3).min_health_check_duration.load(Relaxed),
            i32::MAX
        );
    }
}
