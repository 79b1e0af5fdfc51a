//! The shared memory region: one anonymous `MAP_SHARED` mapping made by the parent before the
//! first fork, laid out from the configuration (`num_init_children`, `max_pool`), holding plain
//! `#[repr(C)]` data indexed by numbers — backend descriptors, per-child `ProcessInfo`, the
//! per (child, pool slot, node) `ConnectionInfo` table and server-wide counters. Word-sized
//! fields are atomics; the only lock is the robust mutex of `lock.rs`.

pub mod hold;
pub mod lock;
pub mod requests;
pub mod text;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, AtomicU8};
use std::sync::OnceLock;

pub use hold::{Hold, HoldMode};
pub use lock::RobustMutex;
pub use requests::{HealthStats, NodeRequest, RequestKind};
pub use text::ShText;

/// pgpool's `MAX_NUM_BACKENDS`: backend slots 0..127.
pub const MAX_BACKENDS: usize = 128;

/// A backend node's status as pgpool stores it (spec/architecture.md §13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BackendStatus {
    Unused = 0,
    ConnectWait = 1,
    Up = 2,
    Down = 3,
}

impl BackendStatus {
    pub fn from_u8(v: u8) -> BackendStatus {
        match v {
            1 => BackendStatus::ConnectWait,
            2 => BackendStatus::Up,
            3 => BackendStatus::Down,
            _ => BackendStatus::Unused,
        }
    }
    /// "Valid" in pgpool's sense: usable for routing.
    pub fn is_valid(self) -> bool {
        matches!(self, BackendStatus::ConnectWait | BackendStatus::Up)
    }
    /// The word SHOW pool_nodes and pcp_node_info print.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendStatus::Unused => "unused",
            BackendStatus::ConnectWait => "waiting",
            BackendStatus::Up => "up",
            BackendStatus::Down => "down",
        }
    }
}

/// A backend node's role in `BackendInfo.role`. The numbers are pgpool's `SERVER_ROLE` values,
/// which pcp_node_info transmits as digits: main/replica in the modes without a primary,
/// primary/standby in streaming and logical replication (set by primary detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum BackendRole {
    Main = 0,
    Replica = 1,
    Primary = 2,
    Standby = 3,
}

impl BackendRole {
    pub fn from_u8(v: u8) -> BackendRole {
        match v {
            1 => BackendRole::Replica,
            2 => BackendRole::Primary,
            3 => BackendRole::Standby,
            _ => BackendRole::Main,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            BackendRole::Main => "main",
            BackendRole::Replica => "replica",
            BackendRole::Primary => "primary",
            BackendRole::Standby => "standby",
        }
    }
}

/// A child's state as SHOW pool_processes shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ChildStatus {
    WaitForConnect = 0,
    Connecting = 1,
    Idle = 2,
    IdleInTrans = 3,
    CommandExecute = 4,
}

impl ChildStatus {
    pub fn from_u8(v: u8) -> ChildStatus {
        match v {
            1 => ChildStatus::Connecting,
            2 => ChildStatus::Idle,
            3 => ChildStatus::IdleInTrans,
            4 => ChildStatus::CommandExecute,
            _ => ChildStatus::WaitForConnect,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ChildStatus::WaitForConnect => "Wait for connection",
            ChildStatus::Connecting => "Connecting",
            ChildStatus::Idle => "Idle",
            ChildStatus::IdleInTrans => "Idle in transaction",
            ChildStatus::CommandExecute => "Execute command",
        }
    }
}

/// Per-node statement and error counters (SHOW pool_backend_stats, select_cnt).
#[repr(C)]
#[derive(Default)]
pub struct NodeStats {
    pub select: AtomicU64,
    pub insert: AtomicU64,
    pub update: AtomicU64,
    pub delete: AtomicU64,
    pub ddl: AtomicU64,
    pub other: AtomicU64,
    pub panic: AtomicU64,
    pub fatal: AtomicU64,
    pub error: AtomicU64,
}

/// One backend node as every process sees it.
#[repr(C)]
pub struct BackendInfo {
    pub status: AtomicU8,
    pub quarantine: AtomicBool,
    /// A `BackendRole`.
    pub role: AtomicU8,
    pub port: AtomicI32,
    pub flag: AtomicU32,
    pub hostname: ShText<32>,
    /// Normalised weight (0..1) as f64 bits.
    pub weight: AtomicU64,
    pub status_changed_time: AtomicI64,
    pub standby_delay: AtomicI64,
    pub standby_delay_by_time: AtomicBool,
    pub replication_state: ShText<4>,
    pub replication_sync_state: ShText<4>,
    pub stats: NodeStats,
}

impl BackendInfo {
    pub fn status(&self) -> BackendStatus {
        BackendStatus::from_u8(self.status.load(Relaxed))
    }
    pub fn set_status(&self, s: BackendStatus) {
        self.status.store(s as u8, Relaxed);
        self.status_changed_time.store(now(), Relaxed);
    }
    pub fn weight(&self) -> f64 {
        f64::from_bits(self.weight.load(Relaxed))
    }
    pub fn role(&self) -> BackendRole {
        BackendRole::from_u8(self.role.load(Relaxed))
    }
    pub fn set_role(&self, r: BackendRole) {
        self.role.store(r as u8, Relaxed);
    }
}

/// Server-wide state at the start of the region.
#[repr(C)]
pub struct Header {
    pub num_backends: AtomicI32,
    /// Lowest-numbered valid node, −1 if none.
    pub main_node_id: AtomicI32,
    /// −2 not determined yet, −1 none.
    pub primary_node_id: AtomicI32,
    /// Children currently holding a client connection.
    pub conn_counter: AtomicI32,
    pub switching: AtomicBool,
    /// Set with a pushed request before SIGUSR1 reaches the main process (pgpool's
    /// `SIG_FAILOVER_INTERRUPT` flag).
    pub failover_requested: AtomicBool,
    /// An online recovery (PCP `O`) is running; one at a time.
    pub in_recovery: AtomicBool,
    /// pgpool's `InRecovery`: a `HoldMode` while new clients are held back, 0 otherwise
    /// (`hold.rs`).
    pub hold_mode: AtomicU8,
    /// Pid of the process that set `hold_mode`.
    pub hold_owner: AtomicI32,
    /// Pid of the pgpool main process (the creator of the region).
    pub main_pid: AtomicI32,
    pub start_time: AtomicI64,
    /// Serialises accept() among idle children when `serialize_accept` is on.
    pub accept_lock: RobustMutex,
    /// Protects multi-word updates of backend descriptors and requests.
    pub request_lock: RobustMutex,
    pub backends: [BackendInfo; MAX_BACKENDS],
    /// Node-operation requests for the main process (`requests.rs`).
    pub requests: requests::RequestQueue,
    /// Health-check statistics per node.
    pub health: [HealthStats; MAX_BACKENDS],
}

/// One client child's slot (`ProcessInfo[]`).
#[repr(C)]
pub struct ProcessInfo {
    pub pid: AtomicI32,
    pub start_time: AtomicI64,
    /// Served at least one client (enables child_life_time).
    pub connected: AtomicBool,
    /// Seconds idle in accept.
    pub wait_for_connect: AtomicI32,
    pub client_connection_count: AtomicI32,
    pub status: AtomicU8,
    pub need_to_restart: AtomicBool,
    pub exit_if_idle: AtomicBool,
    /// This child counted itself in `conn_counter`; the reaper undoes it if the child dies.
    pub counted: AtomicBool,
    pub pooled_connections: AtomicI32,
    /// Pool slot of the current session, −1 between sessions.
    pub current_pool: AtomicI32,
}

impl ProcessInfo {
    pub fn status(&self) -> ChildStatus {
        ChildStatus::from_u8(self.status.load(Relaxed))
    }
    pub fn set_status(&self, s: ChildStatus) {
        self.status.store(s as u8, Relaxed);
    }
    /// Zero the slot for a newly forked child.
    pub fn reset(&self, pid: i32) {
        self.pid.store(pid, Relaxed);
        self.start_time.store(now(), Relaxed);
        self.connected.store(false, Relaxed);
        self.wait_for_connect.store(0, Relaxed);
        self.client_connection_count.store(0, Relaxed);
        self.set_status(ChildStatus::WaitForConnect);
        self.need_to_restart.store(false, Relaxed);
        self.exit_if_idle.store(false, Relaxed);
        self.counted.store(false, Relaxed);
        self.pooled_connections.store(0, Relaxed);
        self.current_pool.store(-1, Relaxed);
    }
}

/// One backend connection of one pool slot of one child (`ConnectionInfo[][][]`).
#[repr(C)]
pub struct ConnectionInfo {
    pub database: ShText<8>,
    pub user: ShText<4>,
    pub major: AtomicI32,
    pub minor: AtomicI32,
    /// Backend pid and cancel key as received in BackendKeyData (host order).
    pub pid: AtomicI32,
    pub key: AtomicI32,
    pub counter: AtomicI32,
    pub create_time: AtomicI64,
    pub client_connection_time: AtomicI64,
    pub client_disconnection_time: AtomicI64,
    pub client_idle_duration: AtomicI32,
    pub load_balancing_node: AtomicI32,
    /// A client is using this slot.
    pub connected: AtomicBool,
    /// Another session ran pg_terminate_backend() on this backend through pgpool: its end is
    /// not a node failure (routing.md §3.1 step 8).
    pub swallow_termination: AtomicBool,
}

impl ConnectionInfo {
    pub fn clear(&self) {
        self.database.clear();
        self.user.clear();
        for a in [
            &self.major,
            &self.minor,
            &self.pid,
            &self.key,
            &self.counter,
        ] {
            a.store(0, Relaxed);
        }
        for a in [
            &self.create_time,
            &self.client_connection_time,
            &self.client_disconnection_time,
        ] {
            a.store(0, Relaxed);
        }
        self.client_idle_duration.store(0, Relaxed);
        self.load_balancing_node.store(0, Relaxed);
        self.connected.store(false, Relaxed);
        self.swallow_termination.store(false, Relaxed);
    }
}

/// The mapped region and its dimensions.
pub struct Shmem {
    base: *mut u8,
    len: usize,
    pub num_children: usize,
    pub max_pool: usize,
    processes_off: usize,
    connections_off: usize,
}

// SAFETY: the region holds only atomics, robust mutexes and atomic-word text; every access is
// through those types, so sharing references between threads/processes is sound.
unsafe impl Send for Shmem {}
// SAFETY: as above.
unsafe impl Sync for Shmem {}

static SHMEM: OnceLock<Shmem> = OnceLock::new();

fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Shmem {
    /// Map and initialise the region. Called once by the parent before any fork; afterwards
    /// `shmem()` returns it in every process.
    pub fn create(num_children: usize, max_pool: usize) -> std::io::Result<&'static Shmem> {
        let max_pool = max_pool.max(1);
        let header = align8(std::mem::size_of::<Header>());
        let procs = align8(std::mem::size_of::<ProcessInfo>() * num_children);
        let conns = std::mem::size_of::<ConnectionInfo>() * num_children * max_pool * MAX_BACKENDS;
        let len = header + procs + align8(conns) + 256;
        // SAFETY: an anonymous shared mapping with no address hint; the kernel zero-fills it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let sh = Shmem {
            base: base as *mut u8,
            len,
            num_children,
            max_pool,
            processes_off: header,
            connections_off: header + procs,
        };
        // All-zero bytes are a valid value of every type in the region (atomics, text); the
        // mutexes need their init call.
        let h = sh.base as *mut Header;
        // SAFETY: `h` points at the start of the fresh mapping, large enough for a Header.
        unsafe {
            RobustMutex::init(std::ptr::addr_of_mut!((*h).accept_lock));
            RobustMutex::init(std::ptr::addr_of_mut!((*h).request_lock));
        }
        sh.header().primary_node_id.store(-2, Relaxed);
        sh.header().main_node_id.store(-1, Relaxed);
        sh.header().start_time.store(now(), Relaxed);
        sh.header().requests.init();
        sh.header()
            .main_pid
            .store(std::process::id() as i32, Relaxed);
        for h in &sh.header().health {
            h.reset();
        }
        for i in 0..num_children {
            sh.process(i).current_pool.store(-1, Relaxed);
        }
        SHMEM
            .set(sh)
            .map_err(|_| std::io::Error::other("shared memory created twice"))?;
        Ok(shmem())
    }

    pub fn header(&self) -> &Header {
        // SAFETY: the region starts with a Header, initialised in `create`.
        unsafe { &*(self.base as *const Header) }
    }

    pub fn backend(&self, node: usize) -> &BackendInfo {
        &self.header().backends[node]
    }

    pub fn num_backends(&self) -> usize {
        self.header()
            .num_backends
            .load(Relaxed)
            .clamp(0, MAX_BACKENDS as i32) as usize
    }

    pub fn process(&self, child: usize) -> &ProcessInfo {
        assert!(child < self.num_children, "child index out of range");
        // SAFETY: the ProcessInfo array of `num_children` entries starts at `processes_off`.
        unsafe { &*((self.base.add(self.processes_off) as *const ProcessInfo).add(child)) }
    }

    pub fn connection(&self, child: usize, pool: usize, node: usize) -> &ConnectionInfo {
        assert!(child < self.num_children && pool < self.max_pool && node < MAX_BACKENDS);
        let idx = (child * self.max_pool + pool) * MAX_BACKENDS + node;
        // SAFETY: the ConnectionInfo table of num_children*max_pool*MAX_BACKENDS entries starts at
        // `connections_off`, and `idx` is in range (asserted above).
        unsafe { &*((self.base.add(self.connections_off) as *const ConnectionInfo).add(idx)) }
    }

    /// Size of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The child slot index that has `pid`, if any.
    pub fn child_by_pid(&self, pid: i32) -> Option<usize> {
        (0..self.num_children).find(|&i| self.process(i).pid.load(Relaxed) == pid)
    }
}

/// The region, in any process after the parent created it.
pub fn shmem() -> &'static Shmem {
    SHMEM
        .get()
        .expect("shared memory is created at start-up before any use")
}

/// The region if it exists (tools and tests may run without one).
pub fn try_shmem() -> Option<&'static Shmem> {
    SHMEM.get()
}

/// The region for unit tests: created on first use (3 children, 2 pool slots), shared by every
/// test of the process.
#[cfg(test)]
pub(crate) fn tests_region() -> &'static Shmem {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if try_shmem().is_none() {
            Shmem::create(3, 2).expect("mmap");
        }
    });
    shmem()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_round_trip_and_truncate() {
        let t: ShText<2> = ShText {
            words: Default::default(),
        };
        t.set("postgres");
        assert_eq!(t.get(), "postgres");
        t.set("a-much-longer-value-than-sixteen");
        assert_eq!(t.get(), "a-much-longer-v");
        t.clear();
        assert_eq!(t.get(), "");
    }

    #[test]
    fn region_is_shared_with_a_forked_child_and_the_lock_survives_a_dead_holder() {
        let sh = tests_region();
        sh.connection(2, 1, 5).pid.store(4242, Relaxed);
        assert_eq!(sh.connection(2, 1, 5).pid.load(Relaxed), 4242);
        assert_eq!(sh.header().primary_node_id.load(Relaxed), -2);
        // A child takes the lock and dies holding it; the parent must still get it.
        // SAFETY: the child only touches the shared region and exits without unwinding.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                let g = sh.header().request_lock.lock();
                std::mem::forget(g);
                sh.process(1).pid.store(77, Relaxed);
                // SAFETY: immediate exit of the forked test child.
                unsafe { libc::_exit(0) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                nix::sys::wait::waitpid(child, None).expect("wait");
            }
        }
        assert_eq!(sh.process(1).pid.load(Relaxed), 77);
        let g = sh.header().request_lock.lock();
        drop(g);
        assert!(sh.header().request_lock.try_lock().is_some());
    }
}
