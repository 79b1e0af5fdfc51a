//! The health-check statistics as SHOW pool_health_check_stats and pcp_health_check_stats
//! print them (spec/failover.md §2.5, sql-commands.md §2.7): counters as integers, the two
//! averages with `%f` (`0.000000` when the node's period is 0, C's `-nan` for 0/0), times as
//! local `%F %T`, empty when never.

use std::sync::atomic::Ordering::Relaxed;

use crate::shmem::HealthStats;

fn time(t: i64) -> String {
    if t == 0 {
        String::new()
    } else {
        crate::commands::show::local_time(t)
    }
}

fn average(sum: u64, rounds: i64, period: i64) -> String {
    if period <= 0 {
        return "0.000000".into();
    }
    if rounds == 0 && sum == 0 {
        // 0.0 / 0.0 in C on x86-64: a NaN with the sign bit set
        return "-nan".into();
    }
    format!("{:.6}", sum as f64 / rounds as f64)
}

/// The 14 columns after `last_status_change`: total, success, fail, skip, retry counts,
/// average_retry_count, max_retry_count, max/min duration, average_duration and the four
/// `last_*` times. `period` is the node's `health_check_period`.
pub fn columns(st: &HealthStats, period: i64) -> Vec<String> {
    let total = st.total_count.load(Relaxed);
    let skip = st.skip_count.load(Relaxed);
    let retry = st.retry_count.load(Relaxed);
    let rounds = total as i64 - skip as i64;
    vec![
        total.to_string(),
        st.success_count.load(Relaxed).to_string(),
        st.fail_count.load(Relaxed).to_string(),
        skip.to_string(),
        retry.to_string(),
        average(retry, rounds, period),
        st.max_retry_count.load(Relaxed).to_string(),
        st.max_health_check_duration.load(Relaxed).to_string(),
        st.min_health_check_duration.load(Relaxed).to_string(),
        average(st.total_health_check_duration.load(Relaxed), rounds, period),
        time(st.last_health_check.load(Relaxed)),
        time(st.last_successful_health_check.load(Relaxed)),
        time(st.last_skip_health_check.load(Relaxed)),
        time(st.last_failed_health_check.load(Relaxed)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_follow_pgpools_printf() {
        let st = HealthStats::default();
        st.reset();
        assert_eq!(columns(&st, 0)[5], "0.000000");
        assert_eq!(columns(&st, 10)[5], "-nan");
        st.total_count.store(4, Relaxed);
        st.skip_count.store(1, Relaxed);
        st.retry_count.store(1, Relaxed);
        st.total_health_check_duration.store(10, Relaxed);
        let c = columns(&st, 10);
        assert_eq!(c[5], "0.333333");
        assert_eq!(c[9], "3.333333");
        assert_eq!(c[8], i32::MAX.to_string());
        assert_eq!(c[10], "");
    }
}
