//! What the pcp tools print on stdout, byte for byte as pgpool-II 4.3.5's tools do
//! (spec/pcp.md §6.4): plain one-line-per-record forms and the `-v` labelled forms.

use crate::pcp::client::{NodeInfo, ProcInfo, StatusRow};

/// pgpool's `format_titles`: each title left-justified to the longest one, ` : `, the value;
/// then one empty line after the record.
pub fn titled(titles: &[&str], values: &[String]) -> String {
    let width = titles.iter().map(|t| t.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (t, v) in titles.iter().zip(values) {
        out.push_str(&format!("{t:<width$} : {v}\n"));
    }
    out.push('\n');
    out
}

pub fn node_count(n: i64, verbose: bool) -> String {
    if verbose {
        format!("Node Count\n____________\n {n}\n")
    } else {
        format!("{n}\n")
    }
}

/// Local time `YYYY-MM-DD HH:MM:SS` of a Unix time.
pub fn local_time(t: i64) -> String {
    // SAFETY: localtime_r writes into the zeroed `tm` we own; the time_t lives on our stack.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let tt = t as libc::time_t;
        libc::localtime_r(&tt, &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

fn status_name(n: &NodeInfo) -> &'static str {
    match n.status {
        0 => "unused",
        1 => "waiting",
        2 => "up",
        3 if n.quarantine => "quarantine",
        3 => "down",
        _ => "unknown",
    }
}

fn role_name(role: i32) -> &'static str {
    match role {
        0 => "main",
        1 => "replica",
        2 => "primary",
        3 => "standby",
        _ => "unknown",
    }
}

fn delay(n: &NodeInfo, verbose: bool) -> String {
    if !n.delay_by_time {
        return n.standby_delay.to_string();
    }
    let secs = n.standby_delay as f64 / 1_000_000.0;
    match (verbose, secs < 2.0) {
        (false, _) => format!("{secs:.6}"),
        (true, true) => format!("{secs:.6} second"),
        (true, false) => format!("{secs:.6} seconds"),
    }
}

fn none_if_empty(s: &str) -> &str {
    if s.is_empty() {
        "none"
    } else {
        s
    }
}

const NODE_TITLES: [&str; 12] = [
    "Hostname",
    "Port",
    "Status",
    "Weight",
    "Status Name",
    "Backend Status Name",
    "Role",
    "Backend Role",
    "Replication Delay",
    "Replication State",
    "Replication Sync State",
    "Last Status Change",
];

/// `pcp_node_info`: nodes with an empty hostname only with `all`.
pub fn node_info(nodes: &[NodeInfo], verbose: bool, all: bool) -> String {
    let mut out = String::new();
    for n in nodes.iter().filter(|n| all || !n.hostname.is_empty()) {
        let values = [
            n.hostname.clone(),
            n.port.to_string(),
            n.status.to_string(),
            format!("{:.6}", n.weight),
            status_name(n).to_string(),
            n.pg_status.clone(),
            role_name(n.role).to_string(),
            n.pg_role.clone(),
            delay(n, verbose),
            none_if_empty(&n.replication_state).to_string(),
            none_if_empty(&n.replication_sync_state).to_string(),
            local_time(n.status_changed_time),
        ];
        if verbose {
            out.push_str(&titled(&NODE_TITLES, &values));
        } else {
            out.push_str(&values.join(" "));
            out.push('\n');
        }
    }
    if out.is_empty() {
        out.push_str("No node information available\n\n");
    }
    out
}

const HEALTH_TITLES: [&str; 20] = [
    "Node Id",
    "Host Name",
    "Port",
    "Status",
    "Role",
    "Last Status Change",
    "Total Count",
    "Success Count",
    "Fail Count",
    "Skip Count",
    "Retry Count",
    "Average Retry Count",
    "Max Retry Count",
    "Max Health Check Duration",
    "Minimum Health Check Duration",
    "Average Health Check Duration",
    "Last Health Check",
    "Last Successful Health Check",
    "Last Skip Health Check",
    "Last Failed Health Check",
];

pub fn health_check_stats(fields: &[String], verbose: bool) -> String {
    let f = &fields[..fields.len().min(20)];
    if verbose {
        titled(&HEALTH_TITLES, f)
    } else {
        format!("{}\n", f.join(" "))
    }
}

pub fn proc_count(pids: &[String], verbose: bool) -> String {
    if verbose {
        let mut out = String::from("No \t | \t PID\n_____________________\n");
        for (i, p) in pids.iter().enumerate() {
            out.push_str(&format!("{i} \t | \t {p}\n"));
        }
        out.push_str(&format!("\nTotal Processes:{}\n", pids.len()));
        out
    } else {
        let mut out: String = pids.iter().map(|p| format!("{p} ")).collect();
        out.push('\n');
        out
    }
}

const PROC_TITLES: [&str; 16] = [
    "Database",
    "Username",
    "Start time",
    "Client connection count",
    "Major",
    "Minor",
    "Backend connection time",
    "Client connection time",
    "Client idle duration",
    "Client disconnection time",
    "Pool Counter",
    "Backend PID",
    "Connected",
    "PID",
    "Backend ID",
    "Status",
];

/// `pcp_proc_info` (4.3 field list): rows without a database only with `all`.
pub fn proc_info(rows: &[ProcInfo], verbose: bool, all: bool) -> String {
    let mut out = String::new();
    for p in rows.iter().filter(|p| all || !p.database.is_empty()) {
        let values = [
            p.database.clone(),
            p.username.clone(),
            p.start_time.clone(),
            p.client_connection_count.clone(),
            p.major.clone(),
            p.minor.clone(),
            p.backend_connection_time.clone(),
            p.client_connection_time.clone(),
            p.client_idle_duration.clone(),
            p.client_disconnection_time.clone(),
            p.pool_counter.clone(),
            p.backend_pid.clone(),
            p.connected.clone(),
            p.pid.clone(),
            p.backend_id.clone(),
            p.status.clone(),
        ];
        if verbose {
            out.push_str(&titled(&PROC_TITLES, &values));
        } else {
            out.push_str(&values.join(" "));
            out.push('\n');
        }
    }
    if out.is_empty() {
        out.push_str("No process information available\n\n");
    }
    out
}

pub fn pool_status(rows: &[StatusRow], verbose: bool) -> String {
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        if verbose {
            out.push_str(&format!(
                "Name [{i:3}]:\t{}\nValue:      \t{}\nDescription:\t{}\n\n",
                r.name, r.value, r.desc
            ));
        } else {
            out.push_str(&format!(
                "name : {}\nvalue: {}\ndesc : {}\n\n",
                r.name, r.value, r.desc
            ));
        }
    }
    out
}

/// `pcp_watchdog_info` from the server's JSON; `None` if a required key is missing.
pub fn watchdog_info(json: &str, verbose: bool) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let int = |o: &serde_json::Value, k: &str| o.get(k).and_then(|x| x.as_i64());
    let text = |o: &serde_json::Value, k: &str| o.get(k).and_then(|x| x.as_str()).map(String::from);
    let node_count = int(&v, "NodeCount")?;
    let nodes = v.get("WatchdogNodes")?.as_array()?;
    if nodes.len() as i64 != node_count {
        return None;
    }
    let remote = int(&v, "RemoteNodeCount")?;
    let member_remote = int(&v, "MemberRemoteNodeCount").unwrap_or(-1);
    let quorum_needed = int(&v, "NodesRequireForQuorum").unwrap_or(-1);
    let quorum = int(&v, "QuorumStatus")?;
    let alive = int(&v, "AliveNodeCount")?;
    let escalated = if int(&v, "Escalated")? != 0 {
        "YES"
    } else {
        "NO"
    };
    let leader_name = text(&v, "LeaderNodeName")?;
    let leader_host = text(&v, "LeaderHostName")?;
    struct Node {
        name: String,
        host: String,
        vip: String,
        wd_port: i64,
        pgpool_port: i64,
        state: i64,
        state_name: String,
        priority: i64,
        membership: i64,
        membership_string: String,
    }
    let mut parsed = Vec::new();
    for n in nodes {
        int(n, "ID")?;
        parsed.push(Node {
            name: text(n, "NodeName")?,
            host: text(n, "HostName")?,
            vip: text(n, "DelegateIP")?,
            wd_port: int(n, "WdPort")?,
            pgpool_port: int(n, "PgpoolPort")?,
            state: int(n, "State")?,
            state_name: text(n, "StateName")?,
            priority: int(n, "Priority")?,
            membership: int(n, "Membership").unwrap_or(0),
            membership_string: text(n, "MembershipString")
                .unwrap_or_else(|| "NOT-Available".into()),
        });
    }
    let mut out = String::new();
    if verbose {
        let quorum_text = match quorum {
            0 => "QUORUM IS ON THE EDGE",
            1 => "QUORUM EXIST",
            -1 => "QUORUM ABSENT",
            -2 => "NO LEADER NODE",
            _ => "UNKNOWN",
        };
        out.push_str(&format!(
            "Watchdog Cluster Information \n\
             Total Nodes              : {}\n\
             Remote Nodes             : {remote}\n\
             Member Remote Nodes      : {member_remote}\n\
             Alive Remote Nodes       : {alive}\n\
             Nodes required for quorum: {quorum_needed}\n\
             Quorum state             : {quorum_text}\n\
             Local node escalation    : {escalated}\n\
             Leader Node Name         : {leader_name}\n\
             Leader Host Name         : {leader_host}\n\n\
             Watchdog Node Information \n",
            remote + 1
        ));
        for n in &parsed {
            out.push_str(&format!(
                "Node Name         : {}\n\
                 Host Name         : {}\n\
                 Delegate IP       : {}\n\
                 Pgpool port       : {}\n\
                 Watchdog port     : {}\n\
                 Node priority     : {}\n\
                 Status            : {}\n\
                 Status Name       : {}\n\
                 Membership Status : {}\n\n",
                n.name,
                n.host,
                n.vip,
                n.pgpool_port,
                n.wd_port,
                n.priority,
                n.state,
                n.state_name,
                n.membership_string
            ));
        }
    } else {
        out.push_str(&format!(
            "{} {} {escalated} {leader_name} {leader_host}\n\n",
            remote + 1,
            member_remote + 1
        ));
        for n in &parsed {
            out.push_str(&format!(
                "{} {} {} {} {} {} {} {}\n",
                n.name,
                n.host,
                n.pgpool_port,
                n.wd_port,
                n.state,
                n.state_name,
                n.membership,
                n.membership_string
            ));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn node_info_lines_match_435() {
        let f = s(&[
            "127.0.0.1",
            "15433",
            "2",
            "0",
            "up",
            "715827882.000000",
            "3",
            "standby",
            "0",
            "streaming",
            "async",
            "0",
        ]);
        let mut n = NodeInfo::parse(&f).expect("node");
        n.status_changed_time = 0;
        let line = node_info(std::slice::from_ref(&n), false, false);
        let time = local_time(0);
        assert_eq!(
            line,
            format!("127.0.0.1 15433 2 0.333333 up up standby standby 0 streaming async {time}\n")
        );
        let v = node_info(std::slice::from_ref(&n), true, false);
        assert!(
            v.starts_with("Hostname               : 127.0.0.1\nPort                   : 15433\n")
        );
        assert!(v.ends_with(&format!("Last Status Change     : {time}\n\n")));
        n.hostname.clear();
        assert_eq!(
            node_info(&[n], false, false),
            "No node information available\n\n"
        );
    }

    #[test]
    fn small_formats() {
        assert_eq!(node_count(3, false), "3\n");
        assert_eq!(node_count(2, true), "Node Count\n____________\n 2\n");
        let pids = s(&["10", "11"]);
        assert_eq!(proc_count(&pids, false), "10 11 \n");
        assert_eq!(
            proc_count(&pids, true),
            "No \t | \t PID\n_____________________\n0 \t | \t 10\n1 \t | \t 11\n\nTotal Processes:2\n"
        );
        let rows = [StatusRow {
            name: "port".into(),
            value: "19999".into(),
            desc: "pgpool accepting port number".into(),
        }];
        assert_eq!(
            pool_status(&rows, false),
            "name : port\nvalue: 19999\ndesc : pgpool accepting port number\n\n"
        );
        assert_eq!(
            pool_status(&rows, true),
            "Name [  0]:\tport\nValue:      \t19999\nDescription:\tpgpool accepting port number\n\n"
        );
    }

    #[test]
    fn proc_info_line_matches_435() {
        let f = s(&[
            "21154",
            "2026-11-24 01:40:33",
            "0",
            "0",
            "0",
            "bench",
            "postgres",
            "2026-11-24 02:04:57",
            "2026-11-24 02:04:57",
            "",
            "0",
            "3",
            "0",
            "1",
            "28745",
            "1",
            "Execute command",
        ]);
        let p = ProcInfo::parse(&f).expect("proc");
        assert_eq!(
            proc_info(std::slice::from_ref(&p), false, false),
            "bench postgres 2026-11-24 01:40:33 0 3 0 2026-11-24 02:04:57 2026-11-24 02:04:57 0  1 28745 1 21154 0 Execute command\n"
        );
        let v = proc_info(&[p], true, false);
        assert!(v.starts_with("Database                  : bench\n"));
        assert!(v.contains("Client disconnection time : \n"));
    }

    #[test]
    fn watchdog_json() {
        let json = r#"{"RemoteNodeCount":1,"MemberRemoteNodeCount":1,"NodesRequireForQuorum":1,
            "QuorumStatus":1,"AliveNodeCount":1,"Escalated":1,"LeaderNodeName":"a:1 Linux a",
            "LeaderHostName":"a","NodeCount":1,"WatchdogNodes":[{"ID":0,"State":4,"Membership":0,
            "MembershipString":"MEMBER","NodeName":"a:1 Linux a","HostName":"a","StateName":"LEADER",
            "DelegateIP":"","WdPort":9000,"PgpoolPort":9999,"Priority":1}]}"#;
        assert_eq!(
            watchdog_info(json, false).expect("plain"),
            "2 2 YES a:1 Linux a a\n\na:1 Linux a a 9999 9000 4 LEADER 0 MEMBER\n"
        );
        let v = watchdog_info(json, true).expect("verbose");
        assert!(v.starts_with("Watchdog Cluster Information \nTotal Nodes              : 2\n"));
        assert!(v.ends_with("Membership Status : MEMBER\n\n"));
        assert!(watchdog_info("{}", false).is_none());
    }
}
