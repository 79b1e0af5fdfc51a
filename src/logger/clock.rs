//! Local wall-clock time for log lines and log file names: broken-down local time with
//! milliseconds (`%t`, `%m` of `log_line_prefix`), `strftime(3)` over a Unix timestamp
//! (`log_filename`), and the local UTC offset (aligning time-based rotation to local midnight).
//! Everything goes through libc's `localtime_r`/`strftime` so the TZ rules are the C library's,
//! exactly as pgpool's.

use std::ffi::CString;
use std::time::{SystemTime, UNIX_EPOCH};

/// A local time broken down to milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
    /// Seconds east of UTC in effect at this instant.
    pub utc_offset: i64,
}

impl LocalTime {
    /// The current local time.
    pub fn now() -> LocalTime {
        LocalTime::from_system_time(SystemTime::now())
    }

    /// `t` as local time (times before 1970 clamp to the epoch).
    pub fn from_system_time(t: SystemTime) -> LocalTime {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let mut lt = LocalTime::from_unix(secs);
        lt.millis = d.subsec_millis();
        lt
    }

    /// Whole seconds since the epoch as local time (milliseconds 0).
    pub fn from_unix(secs: i64) -> LocalTime {
        let tm = local_tm(secs);
        LocalTime {
            year: tm.tm_year + 1900,
            month: (tm.tm_mon + 1) as u32,
            day: tm.tm_mday as u32,
            hour: tm.tm_hour as u32,
            minute: tm.tm_min as u32,
            second: tm.tm_sec as u32,
            millis: 0,
            utc_offset: tm.tm_gmtoff,
        }
    }

    /// `YYYY-MM-DD HH:MM:SS` (the `%t` escape).
    pub fn format_seconds(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `YYYY-MM-DD HH:MM:SS.mmm` (the `%m` escape).
    pub fn format_millis(&self) -> String {
        format!("{}.{:03}", self.format_seconds(), self.millis)
    }
}

/// Initialise the C library's time-zone state once (call before the first fork so every
/// process shares it and no child reads /etc/localtime again).
pub fn tzset() {
    extern "C" {
        // POSIX <time.h>; not bound by the libc crate.
        fn tzset();
    }
    // SAFETY: tzset takes no arguments, only reads TZ and the zone files and updates libc's
    // own globals; the process is single-threaded at this point (init, before any fork).
    unsafe { tzset() }
}

/// Seconds since the epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn local_tm(secs: i64) -> libc::tm {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct (tm_zone is a nullable
    // pointer); localtime_r writes only into the struct we pass and reads `t`.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call; localtime_r is the
    // re-entrant variant and keeps no reference to them.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        // Out-of-range time: fall back to the epoch rather than garbage.
        let zero: libc::time_t = 0;
        // SAFETY: as above.
        unsafe { libc::localtime_r(&zero, &mut tm) };
    }
    tm
}

/// `strftime(3)` of `pattern` at `secs` (local time). A pattern whose expansion is empty or
/// exceeds 1024 bytes yields an empty string, as C's strftime does on overflow; a pattern
/// containing NUL is cut at the NUL.
pub fn strftime_local(pattern: &str, secs: i64) -> String {
    let pat = match CString::new(pattern) {
        Ok(c) => c,
        Err(e) => {
            let cut = e.nul_position();
            CString::new(&pattern.as_bytes()[..cut]).unwrap_or_default()
        }
    };
    let tm = local_tm(secs);
    let mut buf = vec![0u8; 1024];
    // SAFETY: buf is writable for buf.len() bytes, pat is NUL-terminated, tm is initialised;
    // strftime writes at most buf.len() bytes including the terminating NUL and returns the
    // count excluding it (0 on overflow).
    let n = unsafe {
        libc::strftime(
            buf.as_mut_ptr().cast::<libc::c_char>(),
            buf.len(),
            pat.as_ptr(),
            &tm,
        )
    };
    buf.truncate(n);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_have_pgpool_shape() {
        let t = LocalTime {
            year: 2026,
            month: 11,
            day: 24,
            hour: 0,
            minute: 27,
            second: 50,
            millis: 14,
            utc_offset: 0,
        };
        assert_eq!(t.format_seconds(), "2026-11-24 00:27:50");
        assert_eq!(t.format_millis(), "2026-11-24 00:27:50.014");
    }

    #[test]
    fn strftime_matches_broken_down_time() {
        let secs = 1_700_000_000;
        let lt = LocalTime::from_unix(secs);
        let s = strftime_local("pgpool-%Y-%m-%d_%H%M%S.log", secs);
        let want = format!(
            "pgpool-{:04}-{:02}-{:02}_{:02}{:02}{:02}.log",
            lt.year, lt.month, lt.day, lt.hour, lt.minute, lt.second
        );
        assert_eq!(s, want);
        assert_eq!(strftime_local("", secs), "");
        assert_eq!(strftime_local("a\0b", secs), "a");
    }
}
