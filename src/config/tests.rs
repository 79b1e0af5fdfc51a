//! Acceptance tests of the whole configuration module: loading real sample files, pgpool's
//! error wording at start-up, reload rules, include, PGPOOL SHOW/SET/RESET, and the generated
//! sample and reference files staying in step with the parameter table.

use std::path::{Path, PathBuf};

use super::*;

fn write_conf(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test config");
    p
}

fn load_text(text: &str) -> Result<(Config, Vec<String>), ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_conf(dir.path(), "pgpool.conf", text);
    Config::load(&p)
}

fn load_err(text: &str) -> String {
    match load_text(text) {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => {
            let mut s = e.to_string();
            if let Some(d) = e.detail() {
                s.push_str(&format!(" / DETAIL: {d}"));
            }
            if let Some(h) = e.hint() {
                s.push_str(&format!(" / HINT: {h}"));
            }
            s
        }
    }
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Uncomment every `#name = value` line of a sample file.
fn uncomment(text: &str) -> String {
    text.lines()
        .map(|l| {
            let rest = l.strip_prefix('#').unwrap_or(l);
            let is_setting = l.starts_with('#')
                && rest.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && rest
                    .split_whitespace()
                    .nth(1)
                    .is_some_and(|w| w == "=" || w.starts_with('='))
                && !rest.contains("  - ");
            if is_setting {
                rest.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn defaults_match_the_table() {
    let c = Config::defaults();
    assert_eq!(c.get_int("port"), 9999);
    assert_eq!(c.get_int("num_init_children"), 32);
    assert_eq!(c.get_int("unix_socket_permissions"), 0o777);
    assert_eq!(
        c.get_enum("backend_clustering_mode"),
        "streaming_replication"
    );
    assert_eq!(c.get_list("reset_query_list"), vec!["ABORT", "DISCARD ALL"]);
    assert_eq!(c.get_str("primary_routing_query_pattern_list"), "");
    assert!(c.get_bool("connection_cache"));
    assert_eq!(c.get_int("health_check_timeout0"), 20);
    assert_eq!(c.get_str("backend_flag3"), "ALLOW_TO_FAILOVER");
    assert!(c.backends().is_empty());
}

#[test]
fn debian_4_3_5_sample_loads() {
    let path = repo_file("tests/data/pgpool.conf.sample-4.3.5");
    let (c, diags) = Config::load(&path).expect("4.3.5 sample loads");
    assert!(diags.iter().all(|d| !d.starts_with("WARNING")), "{diags:?}");
    assert_eq!(
        c.get_enum("backend_clustering_mode"),
        "streaming_replication"
    );

    // Every setting uncommented (4.3 names included: socket_dir, delegate_IP). pgpool-II 4.3.5
    // itself refuses that file: its heartbeat destinations 1 and 2 have empty host names
    // (checked whether or not the watchdog is on).
    let text = std::fs::read_to_string(&path).expect("read sample");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_conf(dir.path(), "pgpool.conf", &uncomment(&text));
    let e = Config::load(&p).unwrap_err();
    assert_eq!(
        (e.message(), e.detail()),
        (
            "invalid watchdog configuration",
            Some("heartbeat_hostname1 is not defined")
        )
    );
    let hosts = "\nheartbeat_hostname1 = 'host1'\nheartbeat_hostname2 = 'host2'\n";
    let p = write_conf(dir.path(), "pgpool.conf", &(uncomment(&text) + hosts));
    let (c, diags) = Config::load(&p).unwrap_or_else(|e| panic!("{e} {:?}", e.detail()));
    assert!(diags.iter().all(|d| !d.starts_with("INFO")), "{diags:?}");
    assert_eq!(c.get_int("port"), 5433);
    assert_eq!(
        c.get_list("unix_socket_directories"),
        vec!["/var/run/postgresql"]
    );
    assert_eq!(c.backends().len(), 2);
    assert_eq!(c.backends()[1].hostname, "host2");
    assert_eq!(c.get_int("authentication_timeout"), 60);
    assert_eq!(c.get_int("memqcache_total_size"), 64 * 1024 * 1024);
    // The second reset_query_list line wins.
    assert_eq!(c.get_list("reset_query_list").len(), 3);
}

#[test]
fn our_sample_matches_the_table_and_loads() {
    let on_disk = std::fs::read_to_string(repo_file("conf/pgpool.conf.sample")).unwrap_or_default();
    assert!(
        on_disk == sample::render(),
        "conf/pgpool.conf.sample is stale: regenerate it with config::sample::render() \
         (PGRS_REGENERATE=1 cargo test --lib config::tests::regenerate)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_conf(dir.path(), "pgpool.conf", &on_disk);
    let (c, diags) = Config::load(&p).expect("sample loads");
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(c.get_int("port"), 9999);

    // Uncommented, it still loads and gives the defaults.
    let p = write_conf(dir.path(), "pgpool.conf", &uncomment(&on_disk));
    let (c, diags) = Config::load(&p).unwrap_or_else(|e| panic!("{e} {:?}", e.detail()));
    assert!(
        diags
            .iter()
            .all(|d| !d.starts_with("INFO") && !d.starts_with("WARNING")),
        "{diags:?}"
    );
    let d = Config::defaults();
    for p in PARAMS
        .iter()
        .filter(|p| !p.is_indexed() && !p.has(params::ALIAS))
    {
        // Unset strings come back as '' (shown the same).
        assert_eq!(c.show(p.name), d.show(p.name), "{}", p.name);
    }
    assert_eq!(c.backends().len(), 1);
}

#[test]
fn reference_doc_matches_the_table() {
    let on_disk = std::fs::read_to_string(repo_file("docs/configuration.md")).unwrap_or_default();
    assert!(
        on_disk == docs::render(),
        "docs/configuration.md is stale: regenerate it with config::docs::render() \
         (PGRS_REGENERATE=1 cargo test --lib config::tests::regenerate)"
    );
}

/// `PGRS_REGENERATE=1 cargo test --lib config::tests::regenerate` writes the generated files
/// after a change of the parameter table; otherwise this test only proves the renderers run.
#[test]
fn regenerate() {
    let (sample, docs) = (sample::render(), docs::render());
    assert!(sample.contains("num_init_children") && docs.contains("num_init_children"));
    if std::env::var_os("PGRS_REGENERATE").is_some() {
        std::fs::write(repo_file("conf/pgpool.conf.sample"), sample).expect("write sample");
        std::fs::write(repo_file("docs/configuration.md"), docs).expect("write docs");
    }
}

#[test]
fn invalid_values_fail_with_pgpool_wording() {
    assert_eq!(
        load_err("num_init_children = 0\n"),
        "0 is outside the valid range for parameter \"num_init_children\" (1 .. 2147483647)"
    );
    assert_eq!(
        load_err("wd_lifecheck_method = bogus\n"),
        "invalid value for parameter \"wd_lifecheck_method\": \"bogus\" / HINT: Available values: query, heartbeat, external."
    );
    assert_eq!(
        load_err("log_min_messages = bogus\n"),
        "invalid value for parameter \"log_min_messages\": \"bogus\" / HINT: Available values: debug5, debug4, debug3, debug2, debug1, info, notice, warning, error, log, fatal, panic."
    );
    assert_eq!(
        load_err("authentication_timeout = 10xyz\n"),
        "invalid value for parameter \"authentication_timeout\": \"10xyz\" / HINT: Valid units for this parameter are \"us\", \"ms\", \"s\", \"min\", \"h\", and \"d\"."
    );
    assert_eq!(
        load_err("port\n"),
        "invalid value for parameter \"port\": \"\n\""
    );
    assert_eq!(
        load_err("port"),
        "invalid value for parameter \"port\": \"\""
    );
    assert_eq!(
        load_err("backend_hostname = 'x'\n"),
        "parameter \"backend_hostname\" expects the index value"
    );
    assert_eq!(
        load_err("hostname_foo = 1\n"),
        "invalid index value for parameter \"hostname_foo\"  / DETAIL: index part contains the invalid non digit character"
    );
    assert_eq!(
        load_err("backend_port0 = 0\n"),
        "0 is outside the valid range for parameter \"backend_port0\" (1024 .. 65535)"
    );
    assert_eq!(
        load_err("health_check_period = '10s'\n"),
        "invalid value for parameter \"health_check_period\": \"10s\""
    );
    assert_eq!(
        load_err("port = 0x10\n"),
        "16 is outside the valid range for parameter \"port\" (1024 .. 65535)"
    );
    assert_eq!(
        load_err("backend_port0 = 5432\nrecovery_1st_stage_command = 'x'\n"),
        "invalid configuration, recovery_1st_stage_command and recovery_2nd_stage_command requires backend_data_directory to be set"
    );
    assert!(
        load_err("process_management_mode = dynamic\nmin_spare_children = 10\n")
            .contains("max_spare_children:10")
    );
}

#[test]
fn listen_addresses_needs_quotes_for_ip_addresses() {
    assert_eq!(
        load_err("listen_addresses = 127.0.0.1\n")
            .split(" / ")
            .nth(1),
        Some("DETAIL: parse error at line 1 '.0' token = 3")
    );
    let (c, _) = load_text("listen_addresses = '*'\n").expect("quoted star");
    assert_eq!(c.get_list("listen_addresses"), vec!["*"]);
    let (c, _) = load_text("listen_addresses = *\n").expect("bare star");
    assert_eq!(c.get_list("listen_addresses"), vec!["*"]);
    let (c, _) = load_text("listen_addresses = '127.0.0.1, ::1'\n").expect("quoted list");
    assert_eq!(c.get_list("listen_addresses"), vec!["127.0.0.1", "::1"]);
}

#[test]
fn unknown_keys_and_quirks() {
    let (c, diags) = load_text(
        "Log_Statement = on\nauthentication_timeout = 10 s\nlog_disconnections = garbage\n",
    )
    .expect("loads");
    assert_eq!(
        diags,
        vec![
            "INFO:  unrecognized configuration parameter \"Log_Statement\"".to_owned(),
            "INFO:  unrecognized configuration parameter \"s\"".to_owned(),
        ]
    );
    assert_eq!(c.get_int("authentication_timeout"), 10);
    assert!(c.get_bool("log_disconnections"));
}

#[test]
fn missing_main_file_gives_defaults_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("absent.conf");
    let (c, diags) = Config::load(&p).expect("defaults");
    assert_eq!(
        diags[0],
        format!(
            "WARNING:  could not open configuration file: \"{}\"",
            p.display()
        )
    );
    assert_eq!(
        diags[1],
        "DETAIL:  using default configuration parameter values"
    );
    assert_eq!(c.get_int("port"), 9999);
    assert_eq!(c.resolve("pool_passwd"), dir.path().join("pool_passwd"));
    assert_eq!(c.resolve("/etc/x"), PathBuf::from("/etc/x"));
}

#[test]
fn include_works_and_a_missing_include_is_fatal() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("conf.d")).expect("mkdir");
    write_conf(
        &dir.path().join("conf.d"),
        "extra.conf",
        "num_init_children = 7\n",
    );
    let p = write_conf(
        dir.path(),
        "pgpool.conf",
        "port = 5000\ninclude = 'conf.d/extra.conf'\n",
    );
    let (c, _) = Config::load(&p).expect("include");
    assert_eq!(c.get_int("num_init_children"), 7);
    assert_eq!(c.get_int("port"), 5000);

    let p = write_conf(dir.path(), "pgpool.conf", "include = 'nope.conf'\n");
    let e = Config::load(&p).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("syntax error in configuration file \"{}\"", p.display())
    );
}

#[test]
fn health_check_index_free_defaults_never_override_explicit_slots() {
    let (c, _) = load_text(
        "health_check_period0 = 5\nhealth_check_period = 10\nhealth_check_period1 = '1min'\n\
         backend_port0 = 5432\nbackend_port2 = 5433\nbackend_weight2 = 3\n",
    )
    .expect("loads");
    assert_eq!(c.get_int("health_check_period0"), 5);
    assert_eq!(c.get_int("health_check_period1"), 60);
    assert_eq!(c.get_int("health_check_period2"), 10);
    assert_eq!(c.get_int("health_check_period"), 10);
    assert_eq!(c.backends().len(), 3);
    assert_eq!(c.backends()[0].hostname, "/tmp");
    assert!(!c.backends()[1].in_use());
    assert_eq!(c.normalized_weight(2), 1.0);
    assert_eq!(c.normalized_weight(0), 0.0);
}

#[test]
fn reload_keeps_old_values_on_invalid_input_and_start_only_params() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_conf(
        dir.path(),
        "pgpool.conf",
        "port = 5000\nclient_idle_limit = 30\nbackend_port0 = 5432\nbackend_hostname0 = 'a'\nbackend_flag0 = 'ALWAYS_PRIMARY'\n",
    );
    let (c, _) = Config::load(&p).expect("load");
    write_conf(
        dir.path(),
        "pgpool.conf",
        "port = 6000\nclient_idle_limit = 'bogus'\nsr_check_period = 5\nbackend_port0 = 5440\n\
         backend_hostname0 = 'b'\nbackend_weight0 = 2\nbackend_flag0 = 'DISALLOW_TO_FAILOVER'\n",
    );
    let (r, diags) = c.reload().expect("reload");
    assert_eq!(r.get_int("port"), 5000);
    assert_eq!(r.get_int("client_idle_limit"), 30);
    assert_eq!(r.get_int("sr_check_period"), 5);
    assert_eq!(r.backends()[0].port, 5432);
    assert_eq!(r.backends()[0].hostname, "a");
    assert_eq!(r.backends()[0].weight, 2.0);
    assert_eq!(r.backends()[0].flag, "DISALLOW_TO_FAILOVER|ALWAYS_PRIMARY");
    assert!(
        diags.contains(
            &"LOG:  parameter \"port\" cannot be changed without restarting the server".to_owned()
        ),
        "{diags:?}"
    );
    assert!(
        diags.contains(
            &"WARNING:  invalid value for parameter \"client_idle_limit\": \"bogus\"".to_owned()
        ),
        "{diags:?}"
    );
    let at = diags
        .iter()
        .position(|d| {
            d == "LOG:  initializing pool configuration: backend weight for backend:0 changed \
                  from 0.000000 to 2.000000"
        })
        .unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(
        diags[at + 1],
        "DETAIL:  This change will be effective from next client session"
    );

    // A syntax error abandons the whole reload.
    write_conf(
        dir.path(),
        "pgpool.conf",
        "sr_check_period = 7\nlisten_addresses = 1.2.3.4\n",
    );
    assert!(c.reload().is_err());
}

#[test]
fn show_set_and_reset() {
    let (mut c, _) = load_text(
        "child_life_time = 300\nlog_file_mode = 0600\nbackend_weight0 = 0.5\nbackend_port0 = 5432\n\
         log_min_messages = DEBUG\nsr_check_password = 'x'\n",
    )
    .expect("loads");
    assert_eq!(c.show("child_life_time").as_deref(), Some("5min"));
    assert_eq!(c.show("log_file_mode").as_deref(), Some("384"));
    assert_eq!(c.show("unix_socket_permissions").as_deref(), Some("0777"));
    assert_eq!(c.show("memqcache_total_size").as_deref(), Some("64MB"));
    assert_eq!(c.show("log_rotation_size").as_deref(), Some("10MB"));
    assert_eq!(c.show("log_rotation_age").as_deref(), Some("1d"));
    assert_eq!(c.show("connect_timeout0").as_deref(), Some("10000"));
    assert_eq!(c.show("backend_weight0").as_deref(), Some("0"));
    assert_eq!(c.show("log_min_messages").as_deref(), Some("debug2"));
    assert_eq!(c.show("sr_check_password").as_deref(), Some("*****"));
    assert_eq!(c.show("connection_cache").as_deref(), Some("on"));
    assert_eq!(c.show("nope"), None);

    c.set_session("client_idle_limit", "350").expect("set");
    assert_eq!(c.show("client_idle_limit").as_deref(), Some("350s"));
    c.set_session("log_min_messages", "debug1").expect("set");
    assert_eq!(
        c.set_session("port", "1").unwrap_err().to_string(),
        "invalid Context, value for parameter \"port\" cannot be changed"
    );
    assert_eq!(
        c.set_session("nope", "1").unwrap_err().to_string(),
        "unrecognized configuration parameter \"nope\""
    );
    c.reset_session("client_idle_limit").expect("reset");
    assert_eq!(c.get_int("client_idle_limit"), 0);
    c.reset_all_session();
    assert_eq!(c.get_enum("log_min_messages"), "debug2");
}

#[test]
fn show_all_and_pool_status_rows() {
    let (c, _) = load_text("backend_port0 = 5432\nbackend_hostname0 = 'db'\n").expect("loads");
    let all = c.show_all();
    let names: Vec<&str> = all.iter().map(|r| r.item.as_str()).collect();
    assert_eq!(
        &names[..6],
        [
            "backend_hostname0",
            "backend_port0",
            "backend_weight0",
            "backend_data_directory0",
            "backend_application_name0",
            "backend_flag0"
        ]
    );
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("health_check_period"))
            .count(),
        2
    );
    assert_eq!(names.last(), Some(&"ssl"));
    assert!(!names.contains(&"delegate_IP") && !names.contains(&"fail_over_on_backend_error"));
    // Every visible plain parameter is listed exactly once.
    for p in PARAMS
        .iter()
        .filter(|p| !p.is_indexed() && !p.has(params::ALIAS))
    {
        assert_eq!(
            names.iter().filter(|n| **n == p.name).count(),
            1,
            "{}",
            p.name
        );
    }
    let rows = c.pool_status_rows(&PoolStatusRuntime::default());
    assert_eq!(rows.len(), 148 + 8);
    let get = |n: &str| rows.iter().find(|r| r.item == n).map(|r| r.value.as_str());
    assert_eq!(get("backend_clustering_mode"), Some("1"));
    assert_eq!(get("connection_cache"), Some("1"));
    assert_eq!(get("syslog_facility"), Some("LOCAL0"));
    assert_eq!(get("reset_query_list"), Some("ABORT;DISCARD ALL"));
    assert_eq!(get("unix_socket_permissions"), Some("0777"));
    assert_eq!(get("backend_weight0"), Some("0.000000"));
    assert_eq!(get("backend_status0"), Some("waiting"));
    assert_eq!(
        get("memqcache_cache_oiddir"),
        Some("/var/log/pgpool/oiddir")
    );

    let rows = c.show_rows("health_check").expect("group");
    assert_eq!(rows.len(), 16);
    assert_eq!(rows[8].item, "health_check_period0");
}

#[test]
fn aliases_set_the_new_name() {
    let (c, diags) = load_text(
        "delegate_IP = '10.0.0.1'\nfail_over_on_backend_error = off\nsocket_dir = '/run'\n",
    )
    .expect("loads");
    assert_eq!(c.get_str("delegate_ip"), "10.0.0.1");
    assert_eq!(c.get_list("unix_socket_directories"), vec!["/run"]);
    assert_eq!(diags.iter().filter(|d| d.starts_with("WARNING")).count(), 3);
    // the removed spelling only warns, in pgpool-II 4.3.5's words; the value has no effect
    assert!(c.get_bool("failover_on_backend_error"));
    let at = diags
        .iter()
        .position(|d| {
            d == "WARNING:  fail_over_on_backend_error is changed to failover_on_backend_error"
        })
        .unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(
        diags[at + 1..at + 3],
        [
            "DETAIL:  setting failover_on_backend_error has no effect",
            "HINT:  use failover_on_backend_error instead"
        ]
    );
}

#[test]
fn watchdog_needs_a_node_id_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_conf(
        dir.path(),
        "pgpool.conf",
        "use_watchdog = on\nwd_port0 = 9000\npgpool_port0 = 9999\n",
    );
    let e = Config::load(&p).unwrap_err();
    assert!(e.to_string().starts_with("Pgpool node id file"), "{e}");
    std::fs::write(dir.path().join("pgpool_node_id"), "0\n").expect("write");
    let (c, _) = Config::load(&p).expect("loads");
    assert_eq!(c.pgpool_node_id(), Some(0));
    std::fs::write(dir.path().join("pgpool_node_id"), "1\n").expect("write");
    let e = Config::load(&p).unwrap_err();
    assert_eq!(
        e.detail(),
        Some("no watchdog configuration for local pgpool node, pgpool node id: 1 ")
    );
}

#[test]
fn every_parameter_default_is_valid() {
    for p in PARAMS {
        // Indexed ports default to 0 = "slot unused", which cannot be written explicitly.
        if matches!(p.kind, Kind::Int { default: 0, min, .. } if min > 0) && p.is_indexed() {
            continue;
        }
        let text = sample::default_text(p);
        let text = text.trim_matches('\'');
        parse_value(p, p.name, text, p.has(params::FREE_DEFAULT))
            .unwrap_or_else(|e| panic!("{}: {e}", p.name));
    }
    // spec/config.md §4's 180, plus pgpool-rs's child_scheduling_policy
    assert_eq!(
        PARAMS.iter().filter(|p| p.name != "socket_dir").count(),
        181
    );
}

/// spec/config.md §5.2 (verified with pgpool-II 4.3.5): a reload changes the data directory of
/// a backend that was unused before it or that is down, never of one that is up; host name and
/// port only of a slot unused before the reload, whatever the order of the lines.
#[test]
fn reload_changes_the_data_directory_of_unused_or_down_nodes_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_conf(
        dir.path(),
        "pgpool.conf",
        "backend_hostname0 = 'h0'\nbackend_port0 = 5432\nbackend_data_directory0 = '/d0'\n\
         backend_hostname1 = 'h1'\nbackend_port1 = 5433\nbackend_data_directory1 = '/d1'\n",
    );
    let (c, _) = Config::load(&p).expect("load");
    write_conf(
        dir.path(),
        "pgpool.conf",
        "backend_hostname0 = 'h0'\nbackend_port0 = 5432\nbackend_data_directory0 = '/d0'\n\
         backend_hostname1 = 'h1'\nbackend_port1 = 5433\nbackend_data_directory1 = '/d1'\n\
         backend_data_directory0 = '/new0'\nbackend_data_directory1 = '/new1'\n\
         backend_hostname1 = 'other'\nbackend_port1 = 6000\nbackend_application_name1 = 'app'\n\
         backend_port2 = 5434\nbackend_data_directory2 = '/d2'\nbackend_hostname2 = 'h2'\n",
    );
    let mut lines = Vec::new();
    let down = |n: usize| n == 1;
    let r = c
        .reload_using(&mut |_, d| lines.extend(d.lines()), &down)
        .expect("reload");
    assert_eq!(r.backends()[0].data_directory, "/d0", "node 0 is up");
    assert_eq!(r.backends()[1].data_directory, "/new1", "node 1 is down");
    assert_eq!(r.backends()[1].hostname, "h1");
    assert_eq!(r.backends()[1].port, 5433);
    assert_eq!(r.backends()[1].application_name, "app");
    // a node added by this reload, its port before its directory and host
    assert_eq!(r.backends()[2].port, 5434);
    assert_eq!(r.backends()[2].data_directory, "/d2");
    assert_eq!(r.backends()[2].hostname, "h2");
    assert!(lines.is_empty(), "refusals are silent: {lines:?}");
    // without shared memory (a tool, this test) no node is down
    let (r, _) = c.reload().expect("reload");
    assert_eq!(r.backends()[1].data_directory, "/d1");
}

/// What pgpool-II 4.3.5 logs while applying pgpool.conf comes before the error that stops the
/// load, each message with the configuration applied up to it (for the log settings of that
/// moment); at reload too.
#[test]
fn diagnostics_before_an_error_reach_the_sink_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_conf(
        dir.path(),
        "pgpool.conf",
        "no_such_a = 1\nlog_min_messages = info\nno_such_b = 1\nnum_init_children = 0\n",
    );
    let mut seen = Vec::new();
    let e = Config::load_with(&p, &mut |c, d| {
        seen.push((c.get_enum("log_min_messages").to_owned(), d.message.clone()))
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "0 is outside the valid range for parameter \"num_init_children\" (1 .. 2147483647)"
    );
    assert_eq!(
        seen,
        [
            (
                "warning".to_owned(),
                "unrecognized configuration parameter \"no_such_a\"".to_owned()
            ),
            (
                "info".to_owned(),
                "unrecognized configuration parameter \"no_such_b\"".to_owned()
            ),
        ]
    );

    // a missing include: its WARNING, then the syntax error (at start and at reload)
    let missing = format!(
        "WARNING:  could not open configuration file: \"{}\"",
        dir.path().join("absent.conf").display()
    );
    write_conf(dir.path(), "pgpool.conf", "include = 'absent.conf'\n");
    let mut lines = Vec::new();
    let e = Config::load_with(&p, &mut |_, d| lines.extend(d.lines())).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("syntax error in configuration file"));
    assert_eq!(
        lines,
        [
            missing.clone(),
            "DETAIL:  using default configuration parameter values".to_owned()
        ]
    );
    write_conf(dir.path(), "pgpool.conf", "port = 5000\n");
    let (c, _) = Config::load(&p).expect("load");
    write_conf(dir.path(), "pgpool.conf", "include = 'absent.conf'\n");
    let mut lines = Vec::new();
    assert!(c.reload_with(&mut |_, d| lines.extend(d.lines())).is_err());
    assert_eq!(lines[0], missing);
}

/// spec/config.md §5.1 step 5, as pgpool-II 4.3.5 does it: with `wd_lifecheck_method =
/// heartbeat` (the default), every heartbeat slot with a port except the local node's (0
/// without the watchdog) needs a host name, whether or not the watchdog is on. Only an empty
/// value counts as missing.
#[test]
fn heartbeat_destinations_need_a_host_name_without_the_watchdog_too() {
    let err = load_err("heartbeat_port1 = 9694\n");
    assert_eq!(
        err,
        "invalid watchdog configuration / DETAIL: heartbeat_hostname1 is not defined"
    );
    assert_eq!(
        load_err("heartbeat_port3 = 9694\nheartbeat_port2 = 9694\nheartbeat_hostname3 = ''\n"),
        "invalid watchdog configuration / DETAIL: heartbeat_hostname2 is not defined"
    );
    for ok in [
        "heartbeat_port0 = 9694\n",
        "heartbeat_port1 = 9694\nheartbeat_hostname1 = ' '\n",
        "heartbeat_port1 = 9694\nheartbeat_hostname1 = ';'\n",
        "heartbeat_port1 = 9694\nwd_lifecheck_method = query\n",
    ] {
        load_text(ok).unwrap_or_else(|e| panic!("{ok:?}: {e} {:?}", e.detail()));
    }
}

/// Values pgpool-II 4.3.5 refuses at start (checked against the binary): log destinations and
/// backend flags are neither trimmed nor case-folded, and the redirect preference lists are
/// checked when applied.
#[test]
fn values_pgpool_4_3_5_refuses_at_start_are_refused() {
    let dest = "invalid configuration for \"log_destination\" / DETAIL: unknown destination :";
    assert_eq!(
        load_err("log_destination = 'STDERR'\n"),
        format!("{dest}STDERR")
    );
    assert_eq!(
        load_err("log_destination = 'stderr, syslog'\n"),
        format!("{dest} syslog")
    );
    assert_eq!(
        load_err("log_destination = ''\n"),
        "invalid value \"\" for log_destination"
    );
    for ok in [
        "'stderr,syslog'",
        "'stderr,,syslog'",
        "',stderr'",
        "'syslog'",
    ] {
        load_text(&format!("log_destination = {ok}\n")).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }

    let flag = "invalid configuration for key \"backend_flag0\" / DETAIL: ";
    assert_eq!(
        load_err("backend_flag0 = 'ALWAYS_PRIMARY | DISALLOW_TO_FAILOVER'\n"),
        format!("{flag}unknown backend flag:ALWAYS_PRIMARY ")
    );
    assert_eq!(
        load_err("backend_flag0 = 'always_primary'\n"),
        format!("{flag}unknown backend flag:always_primary")
    );
    // words are checked in order: the conflict is found before the unknown word after it
    assert_eq!(
        load_err("backend_flag0 = 'DISALLOW_TO_FAILOVER|ALLOW_TO_FAILOVER|FOO'\n"),
        format!("{flag}cannot set ALLOW_TO_FAILOVER and DISALLOW_TO_FAILOVER at the same time")
    );
    for ok in ["''", "'|'", "'ALWAYS_PRIMARY||ALLOW_TO_FAILOVER'"] {
        load_text(&format!("backend_flag0 = {ok}\n")).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }

    let db = "invalid configuration for key \"database_redirect_preference_list\" / DETAIL: ";
    let app = "invalid configuration for key \"app_name_redirect_preference_list\" / DETAIL: ";
    for (value, detail) in [
        ("postgres:foo", "wrong redirect db node spec: \"foo\""),
        ("postgres:128", "wrong redirect db node spec: \"128\""),
        (
            "postgres: primary",
            "wrong redirect db node spec: \" primary\"",
        ),
        ("a:1 ", "wrong redirect db node spec: \"1 \""),
        ("a:(0.5)", "wrong redirect db node spec: \"\""),
        ("a:1)", "wrong redirect db node spec: \"1)\""),
        ("a:b:c", "wrong redirect db node spec: \"b:c\""),
        ("a:-1", "wrong redirect db node spec: \"-1\""),
        ("*:zz", "wrong redirect db node spec: \"zz\""),
        (":1", "wrong redirect dbname regular expression: \"\""),
        (
            "(ab:primary",
            "wrong redirect dbname regular expression: \"(ab\"",
        ),
        // POSIX refuses a repetition of nothing (the regex crate would take it after `^`)
        ("*:1", "wrong redirect dbname regular expression: \"*\""),
        (
            "*_test:1",
            "wrong redirect dbname regular expression: \"*_test\"",
        ),
        ("^+a:1", "wrong redirect dbname regular expression: \"^+a\""),
        (
            "a|?b:1",
            "wrong redirect dbname regular expression: \"a|?b\"",
        ),
        ("{1}:1", "wrong redirect dbname regular expression: \"{1}\""),
    ] {
        assert_eq!(
            load_err(&format!("database_redirect_preference_list = '{value}'\n")),
            format!("{db}{detail}"),
            "{value}"
        );
    }
    assert_eq!(
        load_err("app_name_redirect_preference_list = '[a-:1'\n"),
        format!("{app}wrong redirect app name regular expression: \"[a-\"")
    );
    for ok in [
        "postgres:primary",
        "postgres:PRIMARY,test:Standby",
        "postgres:127,x:0001",
        "a:1(0.3),b:2",
        "a:1(x)",
        "a:1(",
        "postgres",
        "x:1, y:2",
        "a:1,,b:2",
        "a**:1,[*]:1,\\*:1,x{2}:1,(|a):1,[^]*]x:1",
        "",
    ] {
        load_text(&format!("database_redirect_preference_list = '{ok}'\n"))
            .unwrap_or_else(|e| panic!("{ok}: {e} {:?}", e.detail()));
    }

    // an invalid pattern is first reported as such (a WARNING), at reload as at start
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_conf(dir.path(), "pgpool.conf", "port = 5000\n");
    let (c, _) = Config::load(&p).expect("load");
    write_conf(
        dir.path(),
        "pgpool.conf",
        "app_name_redirect_preference_list = 'psql:1'\n\
         app_name_redirect_preference_list = '(x:1'\n",
    );
    let (r, lines) = c.reload().expect("reload");
    assert_eq!(
        lines,
        [
            "WARNING:  failed to add regex pattern, invalid regex pattern: \"(x\" (^(x$)",
            "WARNING:  invalid configuration for key \"app_name_redirect_preference_list\"",
            "DETAIL:  wrong redirect app name regular expression: \"(x\"",
        ]
    );
    assert_eq!(r.get_str("app_name_redirect_preference_list"), "psql:1");
}

/// Messages worded as pgpool-II 4.3.5 words them (each checked against the binary).
#[test]
fn messages_are_worded_as_pgpool_4_3_5() {
    assert_eq!(
        load_err("backend_port200 = 5432\n"),
        "200 index outside the valid range for parameter \"backend_port200\" (0 .. 128)"
    );
    assert_eq!(
        load_err("backend_port0200 = 5432\n"),
        "200 index outside the valid range for parameter \"backend_port0200\" (0 .. 128)"
    );
    assert_eq!(
        load_err("heartbeat_port300 = 1\n"),
        "300 index outside the valid range for parameter \"heartbeat_port300\" (0 .. 256)"
    );
    assert_eq!(
        load_err("backend_port99999999999 = 1\n"),
        "1215752191 index outside the valid range for parameter \"backend_port99999999999\" (0 .. 128)"
    );

    // include nesting: the file named as the include line writes it, without a DETAIL
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 1..=11 {
        write_conf(
            dir.path(),
            &format!("f{i}.conf"),
            &format!("include = 'f{}.conf'\n", i + 1),
        );
    }
    let p = write_conf(dir.path(), "pgpool.conf", "include = 'f1.conf'\n");
    let e = Config::load(&p).unwrap_err();
    assert_eq!(
        (e.to_string().as_str(), e.detail()),
        (
            "could not open configuration file \"f11.conf\": maximum nesting depth exceeded",
            None
        )
    );

    // pgpool_node_id
    let p = write_conf(
        dir.path(),
        "pgpool.conf",
        "use_watchdog = on\nwd_port0 = 9000\nwd_port1 = 9000\n",
    );
    let id = dir.path().join("pgpool_node_id");
    let node_id_err = |content: Option<&str>| {
        match content {
            Some(c) => std::fs::write(&id, c).expect("write pgpool_node_id"),
            None => {
                let _ = std::fs::remove_file(&id);
            }
        }
        let e = Config::load(&p).unwrap_err();
        format!("{} / {}", e, e.detail().unwrap_or("-"))
    };
    let shown = id.display();
    assert_eq!(
        node_id_err(None),
        format!(
            "Pgpool node id file {shown} does not exist / \
             If watchdog is enable, pgpool_node_id file is required"
        )
    );
    assert_eq!(
        node_id_err(Some("")),
        format!(
            "pgpool_node_id file is empty / \
             If watchdog is enable, we need to specify pgpool node id in {shown} file"
        )
    );
    assert_eq!(
        node_id_err(Some("1 \n")),
        format!(
            "pgpool_node_id is not a numeric value / Please specify a numeric value in {shown} file"
        )
    );
    assert_eq!(
        node_id_err(Some("12345678901\n")),
        "Invalid pgpool node id \"12345678\", must be between 0 and 127 / -"
    );

    // weight changes at reload: once per changed line, unused slots too, raw values
    let p = write_conf(
        dir.path(),
        "pgpool.conf",
        "backend_hostname0 = 'h0'\nbackend_port0 = 5432\nbackend_weight0 = 1\n\
         backend_hostname1 = 'h1'\nbackend_port1 = 5433\nbackend_weight1 = 1\n",
    );
    let (c, _) = Config::load(&p).expect("load");
    write_conf(
        dir.path(),
        "pgpool.conf",
        "backend_hostname0 = 'h0'\nbackend_port0 = 5432\nbackend_weight0 = 1\n\
         backend_hostname1 = 'h1'\nbackend_port1 = 5433\nbackend_weight1 = 1\n\
         backend_weight1 = 3\nbackend_weight5 = 2\n",
    );
    let (_, lines) = c.reload().expect("reload");
    let weight = |n: usize, from: &str, to: &str| {
        format!(
            "LOG:  initializing pool configuration: backend weight for backend:{n} changed from \
             {from} to {to}"
        )
    };
    let detail = "DETAIL:  This change will be effective from next client session".to_owned();
    assert_eq!(
        lines,
        [
            weight(1, "1.000000", "3.000000"),
            detail.clone(),
            weight(5, "0.000000", "2.000000"),
            detail
        ]
    );
}

/// Our own LOG for a start-only parameter a reload cannot change (docs/differences.md) is
/// logged once, when the file's last value for it differs from the running one.
#[test]
fn start_only_change_is_logged_once_for_the_files_last_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_conf(
        dir.path(),
        "pgpool.conf",
        "backend_clustering_mode = 'raw'\nbackend_clustering_mode = 'native_replication'\n",
    );
    let (c, _) = Config::load(&p).expect("load");
    let (_, lines) = c.reload().expect("reload");
    assert!(lines.is_empty(), "{lines:?}");
    write_conf(
        dir.path(),
        "pgpool.conf",
        "port = 6000\nbackend_clustering_mode = 'raw'\nport = 6001\n",
    );
    let (r, lines) = c.reload().expect("reload");
    assert_eq!(
        lines,
        [
            "LOG:  parameter \"port\" cannot be changed without restarting the server",
            "LOG:  parameter \"backend_clustering_mode\" cannot be changed without restarting the server",
        ]
    );
    assert_eq!(r.get_int("port"), 9999);
}
