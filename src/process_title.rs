//! The process title `ps` shows (`pgpool: wait for connection request`, `pgpool: user db
//! host(port) idle`, ...). Linux shows /proc/PID/cmdline, which is the memory that held argv:
//! we overwrite that area in place (its bounds come from /proc/self/stat), NUL-padded, the way
//! PostgreSQL and pgpool do. Titles longer than the area are cut.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

static AREA_START: AtomicUsize = AtomicUsize::new(0);
static AREA_LEN: AtomicUsize = AtomicUsize::new(0);

/// Find the argv area. Call once in the main process, before forking.
pub fn init() {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the parenthesised command name; arg_start and arg_end are fields 48 and 49.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field N is at index N - 3.
    let (Some(s), Some(e)) = (
        f.get(45).and_then(|v| v.parse::<usize>().ok()),
        f.get(46).and_then(|v| v.parse::<usize>().ok()),
    ) else {
        return;
    };
    if e > s {
        AREA_START.store(s, Relaxed);
        AREA_LEN.store(e - s, Relaxed);
    }
}

/// Set the title to `pgpool: <text>`.
pub fn set(text: &str) {
    let start = AREA_START.load(Relaxed);
    let len = AREA_LEN.load(Relaxed);
    if start == 0 || len < 2 {
        return;
    }
    let title = format!("pgpool: {text}");
    let n = title.len().min(len - 1);
    // SAFETY: [start, start+len) is this process's argv area as reported by the kernel; it is
    // writable process memory that nothing in Rust references (std copied argv at start-up).
    unsafe {
        let p = start as *mut u8;
        std::ptr::copy_nonoverlapping(title.as_ptr(), p, n);
        std::ptr::write_bytes(p.add(n), 0, len - n);
    }
}
