//! pgpool.conf and the other configuration files: the lexer, the one parameter table, the typed
//! `Config` every process reads, reload rules, and the readers of pool_passwd and pcp.conf.
//!
//! CONTRACT (used by the rest of the crate):
//! - `Config::load(path)`: start context; any invalid value is an error (caller logs FATAL,
//!   exit 3); a missing main file warns and yields defaults (spec/config.md §1).
//! - `Config::reload(&self)`: reload context; re-reads `self.path()`, invalid values are
//!   WARNINGs and keep the old value, start-only params keep the old value (LOG line).
//! - typed getters by parameter name (panic on an unknown name or a wrong type: programmer
//!   error). Indexed names (`backend_port0`) and index-free health-check names work too.
//! - `backends()`: one `BackendConf` per slot 0..num_backends (port 0 = unused slot).
//! - `show(name)`: value as PGPOOL SHOW prints it; `set_session`/`reset_session` for
//!   PGPOOL SET/RESET.
//!
//! Diagnostics: `load`/`reload` return the lines to log, one per log line, each starting with
//! its severity as pgpool prints it (`"INFO:  unrecognized configuration parameter \"x\""`,
//! `"WARNING:  …"`, `"LOG:  …"`, `"DETAIL:  …"` right after the line it belongs to).
//! [`Config::load_with`] / [`Config::reload_with`] hand each structured diagnostic to a sink as
//! it arises, together with the configuration applied so far (so the caller can log it under
//! the log settings of that moment, as pgpool does), including those raised before a line
//! that makes the load fail.
//!
//! Reload starts from the current values and applies the file on top (so a line removed from
//! the file keeps its old value, as pgpool keeps removed backends). The reload rules of backend
//! slots (§5.2) look at the configuration before the reload and, for
//! `backend_data_directoryN`, at the node's status in shared memory (down or not).

pub mod docs;
pub mod error;
pub mod files;
pub mod lexer;
pub mod lookup;
pub mod params;
pub mod pcppass;
pub mod sample;
mod show;
pub mod validate;
pub mod value;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, Diag, Level};
pub use params::{Context, Group, Kind, Param, Unit, PARAMS};
pub use show::{PoolStatusRuntime, ShowRow};

use lookup::Target;
use params::{ALIAS, FREE_DEFAULT};

/// One backend slot (`backend_hostnameN`, `backend_portN`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackendConf {
    pub hostname: String,
    pub port: u16,
    pub weight: f64,
    pub data_directory: String,
    pub flag: String,
    pub application_name: String,
}

impl BackendConf {
    /// `DISALLOW_TO_FAILOVER` is among the flags.
    pub fn disallow_to_failover(&self) -> bool {
        self.flag.split('|').any(|f| f == "DISALLOW_TO_FAILOVER")
    }
    /// `ALWAYS_PRIMARY` is among the flags.
    pub fn always_primary(&self) -> bool {
        self.flag.split('|').any(|f| f == "ALWAYS_PRIMARY")
    }
    /// The slot is in use (port ≠ 0).
    pub fn in_use(&self) -> bool {
        self.port != 0
    }
}

/// A parameter value. Strings and lists are stored raw (`None` = unset, shown as empty).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Real(f64),
    Text(Option<String>),
    /// pgpool's internal code of the enum value.
    Enum(i32),
}

impl Value {
    /// The compiled-in default of a parameter.
    pub fn default_of(p: &Param) -> Value {
        match p.kind {
            Kind::Bool(b) => Value::Bool(b),
            Kind::Int { default, .. } => Value::Int(default),
            Kind::Real { default, .. } => Value::Real(default),
            Kind::Str(d) | Kind::List { default: d, .. } => Value::Text(d.map(str::to_owned)),
            Kind::Enum { default, values } => Value::Enum(
                values
                    .iter()
                    .find(|v| v.name == default)
                    .map_or(0, |v| v.code),
            ),
        }
    }
}

/// Where a value is being applied from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Start,
    Reload,
}

/// The loaded configuration. Cheap enough to clone; reload builds a new one.
#[derive(Debug, Clone)]
pub struct Config {
    path: PathBuf,
    /// Per [`PARAMS`] index: the value (for an indexed family, its index-free value).
    values: Vec<Value>,
    /// Per [`PARAMS`] index: the slot values of an indexed family (empty for plain parameters).
    slots: Vec<Vec<Value>>,
    /// Per [`PARAMS`] index: which slots were set explicitly (health-check defaults skip them).
    explicit: Vec<Vec<bool>>,
    /// Per [`PARAMS`] index: the value `PGPOOL RESET` returns to (captured at start-up only).
    reset: Vec<Value>,
    backends: Vec<BackendConf>,
    pgpool_node_id: Option<i32>,
}

impl Config {
    /// Built-in defaults; `path()` is `pgpool.conf` in the current directory.
    pub fn defaults() -> Config {
        let values: Vec<Value> = PARAMS.iter().map(Value::default_of).collect();
        let slots = PARAMS
            .iter()
            .map(|p| vec![Value::default_of(p); p.array as usize])
            .collect();
        let explicit = PARAMS
            .iter()
            .map(|p| vec![false; p.array as usize])
            .collect();
        Config {
            path: PathBuf::from("pgpool.conf"),
            reset: values.clone(),
            values,
            slots,
            explicit,
            backends: Vec::new(),
            pgpool_node_id: None,
        }
    }

    /// Load `path` in start context (see the module contract).
    pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let mut lines = Vec::new();
        let cfg = Config::load_with(path, &mut |_, d| lines.extend(d.lines()))?;
        Ok((cfg, lines))
    }

    /// [`Config::load`] delivering each diagnostic to `sink` as it arises, with the
    /// configuration applied so far: also those raised before a line that makes the load fail.
    pub fn load_with(path: &Path, sink: &mut DiagSink<'_>) -> Result<Config, ConfigError> {
        let path = absolute(path);
        let mut cfg = Config::defaults();
        cfg.path = path.clone();
        let mut pass = Pass::new(Mode::Start, None, &|_| false);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(_) => {
                sink(&cfg, &lexer::could_not_open(&path));
                let r = validate::post_process(&mut cfg, None, Mode::Start, &mut pass.diags);
                pass.flush(&cfg, sink);
                r?;
                return Ok(cfg);
            }
        };
        let items = match lexer::parse_text(&text, &path, 0) {
            Ok(items) => items,
            Err(f) => {
                // a missing include's WARNING, before the syntax error that names it
                for w in &f.warnings {
                    sink(&cfg, w);
                }
                return Err(f.error);
            }
        };
        for item in &items {
            let r = cfg.apply_line(&item.key, &item.value, &mut pass);
            pass.flush(&cfg, sink);
            r?;
        }
        cfg.finish_free_defaults();
        let r = validate::post_process(&mut cfg, None, Mode::Start, &mut pass.diags);
        pass.flush(&cfg, sink);
        r?;
        cfg.reset = cfg.values.clone();
        Ok(cfg)
    }

    /// Re-read the file in reload context. Returns the new config and the WARNING/LOG lines.
    /// A syntax error abandons the whole reload (the error is returned; log it as WARNING).
    pub fn reload(&self) -> Result<(Config, Vec<String>), ConfigError> {
        let mut lines = Vec::new();
        let cfg = self.reload_with(&mut |_, d| lines.extend(d.lines()))?;
        Ok((cfg, lines))
    }

    /// [`Config::reload`] delivering each diagnostic to `sink` as it arises, with the
    /// configuration applied so far. Which backend nodes are down (a reload may change their
    /// data directory, spec/config.md §5.2) is read from shared memory.
    pub fn reload_with(&self, sink: &mut DiagSink<'_>) -> Result<Config, ConfigError> {
        self.reload_using(sink, &node_down_in_shared_memory)
    }

    /// [`Config::reload_with`] with `node_down(n)` saying whether backend `n` is down.
    pub fn reload_using(
        &self,
        sink: &mut DiagSink<'_>,
        node_down: &dyn Fn(usize) -> bool,
    ) -> Result<Config, ConfigError> {
        let mut cfg = self.clone();
        let text = std::fs::read(&self.path).map_err(|_| {
            ConfigError::invalid(format!(
                "could not open configuration file: \"{}\"",
                self.path.display()
            ))
        })?;
        let items = match lexer::parse_text(&text, &self.path, 0) {
            Ok(items) => items,
            Err(f) => {
                for w in &f.warnings {
                    sink(self, w);
                }
                return Err(f.error);
            }
        };
        let mut pass = Pass::new(Mode::Reload, Some(self), node_down);
        for item in &items {
            if let Err(e) = cfg.apply_line(&item.key, &item.value, &mut pass) {
                pass.diags.push(e.to_diag(Level::Warning));
            }
            pass.flush(&cfg, sink);
        }
        pass.restart_needed(&cfg);
        cfg.finish_free_defaults();
        if let Err(e) = validate::post_process(&mut cfg, Some(self), Mode::Reload, &mut pass.diags)
        {
            pass.diags.push(e.to_diag(Level::Warning));
        }
        pass.flush(&cfg, sink);
        Ok(cfg)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory holding pgpool.conf.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or_else(|| Path::new("/"))
    }

    /// Resolve a path parameter relative to the directory of pgpool.conf.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir().join(p)
        }
    }

    /// The local pgpool node id (read from `pgpool_node_id` when `use_watchdog` is on).
    pub fn pgpool_node_id(&self) -> Option<i32> {
        self.pgpool_node_id
    }

    /// Apply one `key = value` line on its own, as a line of a file loaded (`Mode::Start`) or
    /// reloaded (`Mode::Reload`, against the values before it; no node is down). Errors are
    /// pgpool's; in reload mode a caller turns them into WARNINGs. Unknown keys give an INFO
    /// diagnostic.
    pub fn apply(
        &mut self,
        key: &str,
        text: &str,
        mode: Mode,
        diags: &mut Vec<Diag>,
    ) -> Result<(), ConfigError> {
        let old = (mode == Mode::Reload).then(|| self.clone());
        let mut pass = Pass::new(mode, old.as_ref(), &|_| false);
        let r = self.apply_line(key, text, &mut pass);
        pass.restart_needed(self);
        diags.append(&mut pass.diags);
        r
    }

    /// Apply one line of a load or reload pass.
    fn apply_line(
        &mut self,
        key: &str,
        text: &str,
        pass: &mut Pass<'_>,
    ) -> Result<(), ConfigError> {
        let Some(target) = lookup::resolve(key)? else {
            pass.diags.push(Diag::new(
                Level::Info,
                format!("unrecognized configuration parameter \"{key}\""),
            ));
            return Ok(());
        };
        let p = target.param();
        if p.has(ALIAS) {
            match p.alias_target() {
                Some(new) => {
                    pass.diags.push(Diag::new(
                        Level::Warning,
                        format!(
                            "configuration parameter \"{key}\" is deprecated, use \"{new}\" instead"
                        ),
                    ));
                    self.apply_target(target, key, text, pass)?;
                    return self.apply_line(new, text, pass);
                }
                None => {
                    if let Some(d) = params::removed_name_warning(p.name) {
                        pass.diags.push(d);
                    }
                }
            }
        }
        self.apply_target(target, key, text, pass)
    }

    fn apply_target(
        &mut self,
        target: Target,
        key: &str,
        text: &str,
        pass: &mut Pass<'_>,
    ) -> Result<(), ConfigError> {
        let p = target.param();
        let i = target.param_index();
        let free_form = matches!(target, Target::Indexed(_, None));
        let new = parse_value(p, key, text, free_form)?;
        validate::check_redirect_list(p.name, text, &mut pass.diags)?;
        if pass.mode == Mode::Reload && p.context == Context::Start {
            pass.note_start_only(key, target, new);
            return Ok(());
        }
        match target {
            Target::Scalar(_) | Target::Indexed(_, None) => self.values[i] = new,
            Target::Indexed(_, Some(s)) => {
                let new = match pass.old {
                    Some(old) => {
                        let current = &self.slots[i][s];
                        match validate::backend_reload_rule(
                            old,
                            p.name,
                            s,
                            current,
                            new,
                            pass.node_down,
                            &mut pass.diags,
                        ) {
                            Some(v) => v,
                            None => return Ok(()),
                        }
                    }
                    None => new,
                };
                self.slots[i][s] = new;
                self.explicit[i][s] = true;
            }
        }
        Ok(())
    }

    /// The stored value a key resolves to.
    fn target_value(&self, target: Target) -> &Value {
        match target {
            Target::Scalar(i) | Target::Indexed(i, None) => &self.values[i],
            Target::Indexed(i, Some(s)) => &self.slots[i][s],
        }
    }

    /// Copy each health-check index-free value into the slots not set explicitly.
    fn finish_free_defaults(&mut self) {
        for (i, p) in PARAMS.iter().enumerate() {
            if p.has(FREE_DEFAULT) {
                for s in 0..p.array as usize {
                    if !self.explicit[i][s] {
                        self.slots[i][s] = self.values[i].clone();
                    }
                }
            }
        }
    }

    /// The stored value of a name (plain, indexed with index, or index-free form).
    /// Panics on an unknown name: a programmer error.
    pub fn value(&self, name: &str) -> &Value {
        match lookup::resolve(name) {
            Ok(Some(Target::Scalar(i))) | Ok(Some(Target::Indexed(i, None))) => &self.values[i],
            Ok(Some(Target::Indexed(i, Some(s)))) => &self.slots[i][s],
            _ => panic!("unknown configuration parameter {name:?}"),
        }
    }

    /// The value of slot `idx` of an indexed family (`value_at("backend_port", 0)`).
    pub fn value_at(&self, base: &str, idx: usize) -> &Value {
        match lookup::param_index(base) {
            Some(i) if PARAMS[i].is_indexed() && idx < self.slots[i].len() => &self.slots[i][idx],
            _ => panic!("unknown indexed parameter {base:?}[{idx}]"),
        }
    }

    pub fn get_bool(&self, name: &str) -> bool {
        match self.value(name) {
            Value::Bool(b) => *b,
            other => panic!("parameter {name:?} is not a bool: {other:?}"),
        }
    }

    pub fn get_int(&self, name: &str) -> i64 {
        match self.value(name) {
            Value::Int(v) => *v,
            other => panic!("parameter {name:?} is not an int: {other:?}"),
        }
    }

    pub fn get_real(&self, name: &str) -> f64 {
        match self.value(name) {
            Value::Real(v) => *v,
            Value::Int(v) => *v as f64,
            other => panic!("parameter {name:?} is not a number: {other:?}"),
        }
    }

    /// String and list parameters as stored (unset = empty).
    pub fn get_str(&self, name: &str) -> &str {
        match self.value(name) {
            Value::Text(s) => s.as_deref().unwrap_or(""),
            other => panic!("parameter {name:?} is not a string: {other:?}"),
        }
    }

    /// List parameters, split and trimmed as pgpool does.
    pub fn get_list(&self, name: &str) -> Vec<String> {
        let raw = self.get_str(name);
        let p = lookup::resolve(name)
            .ok()
            .flatten()
            .map(Target::param)
            .unwrap_or_else(|| panic!("unknown configuration parameter {name:?}"));
        match p.kind {
            Kind::List {
                sep: ';',
                regex: true,
                ..
            } => value::split_escaped_semicolons(raw),
            Kind::List { sep, .. } => value::split_list(raw, sep),
            _ => value::split_list(raw, ','),
        }
    }

    /// Enum parameters: the canonical (table) name of the value. `check_temp_table` may be the
    /// legacy `on` (= catalog) or `off` (= none).
    pub fn get_enum(&self, name: &str) -> &str {
        let p = lookup::resolve(name)
            .ok()
            .flatten()
            .map(Target::param)
            .unwrap_or_else(|| panic!("unknown configuration parameter {name:?}"));
        match (p.kind, self.value(name)) {
            (Kind::Enum { values, .. }, Value::Enum(code)) => value::enum_name(values, *code),
            _ => panic!("parameter {name:?} is not an enum"),
        }
    }

    /// pgpool's internal code of an enum parameter (what `SHOW pool_status` prints).
    pub fn get_enum_code(&self, name: &str) -> i32 {
        match self.value(name) {
            Value::Enum(c) => *c,
            other => panic!("parameter {name:?} is not an enum: {other:?}"),
        }
    }

    pub fn backends(&self) -> &[BackendConf] {
        &self.backends
    }

    /// Normalised load-balance weight of backend `i`: weight / Σ weights of used slots (0 when
    /// every weight is 0 or the slot is unused).
    pub fn normalized_weight(&self, i: usize) -> f64 {
        let total: f64 = self
            .backends
            .iter()
            .filter(|b| b.in_use())
            .map(|b| b.weight)
            .sum();
        match self.backends.get(i) {
            Some(b) if b.in_use() && total > 0.0 => b.weight / total,
            _ => 0.0,
        }
    }

    /// The value as `PGPOOL SHOW name` prints it; None for an unknown parameter (or an indexed
    /// base name without index, which is shown as several rows: see [`Config::show_rows`]).
    pub fn show(&self, name: &str) -> Option<String> {
        show::show_one(self, name)
    }

    /// `PGPOOL SHOW name` as rows when it names an indexed family or a group
    /// (`backend`, `watchdog`, `heartbeat`, `health_check`); None otherwise.
    pub fn show_rows(&self, name: &str) -> Option<Vec<ShowRow>> {
        show::show_rows(self, name)
    }

    /// `PGPOOL SHOW ALL`: (item, value, description) rows in pgpool's order.
    pub fn show_all(&self) -> Vec<ShowRow> {
        show::show_all(self)
    }

    /// `SHOW pool_status` / `pcp_pool_status` rows; run-time values come from `rt`.
    pub fn pool_status_rows(&self, rt: &PoolStatusRuntime) -> Vec<ShowRow> {
        show::pool_status_rows(self, rt)
    }

    /// `PGPOOL SET name = value` (session context only).
    pub fn set_session(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let i = self.session_param(name)?;
        let v = parse_value(&PARAMS[i], name, value, false)?;
        self.values[i] = v;
        Ok(())
    }

    /// `PGPOOL RESET name` / `PGPOOL SET name TO DEFAULT`: back to the start-up value.
    pub fn reset_session(&mut self, name: &str) -> Result<(), ConfigError> {
        let i = self.session_param(name)?;
        self.values[i] = self.reset[i].clone();
        Ok(())
    }

    /// `PGPOOL RESET ALL` (also what a child does when a session ends).
    pub fn reset_all_session(&mut self) {
        for (i, p) in PARAMS.iter().enumerate() {
            if p.context == Context::Session {
                self.values[i] = self.reset[i].clone();
            }
        }
    }

    fn session_param(&self, name: &str) -> Result<usize, ConfigError> {
        match lookup::resolve(name) {
            Ok(Some(Target::Scalar(i))) if PARAMS[i].context == Context::Session => Ok(i),
            Ok(Some(_)) => Err(ConfigError::invalid(format!(
                "invalid Context, value for parameter \"{name}\" cannot be changed"
            ))),
            Ok(None) => Err(ConfigError::invalid(format!(
                "unrecognized configuration parameter \"{name}\""
            ))),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn set_backends(&mut self, b: Vec<BackendConf>) {
        self.backends = b;
    }

    pub(crate) fn set_node_id(&mut self, id: Option<i32>) {
        self.pgpool_node_id = id;
    }

    pub(crate) fn set_value(&mut self, name: &str, v: Value) {
        if let Some(i) = lookup::param_index(name) {
            self.values[i] = v;
        }
    }
}

/// Receives each diagnostic of a load or reload as it arises, with the configuration as applied
/// up to that point: pgpool logs each line's messages under the log settings in force when it
/// applies the line (an INFO before `log_min_messages = info` is not logged, one after it is).
pub type DiagSink<'a> = dyn FnMut(&Config, &Diag) + 'a;

/// The state of one load or reload while its lines are applied.
struct Pass<'a> {
    mode: Mode,
    /// Reload: the configuration before this reload (what "an unused slot" refers to).
    old: Option<&'a Config>,
    /// Whether backend node `n` is down (reload rule of `backend_data_directoryN`).
    node_down: &'a dyn Fn(usize) -> bool,
    /// Diagnostics not yet delivered to the sink.
    diags: Vec<Diag>,
    /// Reload: the start-only parameters the file sets, with the key and value of their last
    /// line, in the order of their first line.
    start_only: Vec<(String, Target, Value)>,
}

impl<'a> Pass<'a> {
    fn new(mode: Mode, old: Option<&'a Config>, node_down: &'a dyn Fn(usize) -> bool) -> Self {
        Pass {
            mode,
            old,
            node_down,
            diags: Vec::new(),
            start_only: Vec::new(),
        }
    }

    fn flush(&mut self, cfg: &Config, sink: &mut DiagSink<'_>) {
        for d in self.diags.drain(..) {
            sink(cfg, &d);
        }
    }

    fn note_start_only(&mut self, key: &str, target: Target, value: Value) {
        match self.start_only.iter_mut().find(|(_, t, _)| *t == target) {
            Some(e) => *e = (key.to_owned(), target, value),
            None => self.start_only.push((key.to_owned(), target, value)),
        }
    }

    /// A LOG line for each start-only parameter whose value in the file (its last line) differs
    /// from the running one: the reload keeps the running value.
    fn restart_needed(&mut self, cfg: &Config) {
        for (key, target, value) in std::mem::take(&mut self.start_only) {
            if *cfg.target_value(target) != value {
                self.diags.push(Diag::new(
                    Level::Log,
                    format!("parameter \"{key}\" cannot be changed without restarting the server"),
                ));
            }
        }
    }
}

/// Whether backend `node` is down in shared memory; false where there is none (tools, tests).
fn node_down_in_shared_memory(node: usize) -> bool {
    crate::shmem::try_shmem().is_some_and(|sh| {
        node < crate::shmem::MAX_BACKENDS
            && sh.backend(node).status() == crate::shmem::BackendStatus::Down
    })
}

/// Make a path absolute against the current directory (pgpool does this before daemonizing).
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Parse the text of a value for parameter `p`, named `key` in messages.
pub fn parse_value(
    p: &Param,
    key: &str,
    text: &str,
    free_form: bool,
) -> Result<Value, ConfigError> {
    Ok(match p.kind {
        Kind::Bool(_) => Value::Bool(value::parse_bool_lenient(text)),
        Kind::Int { min, max, unit, .. } => {
            let unit = if free_form { Unit::None } else { unit };
            Value::Int(value::parse_int(
                key,
                text,
                unit,
                min,
                max,
                max > i32::MAX as i64,
            )?)
        }
        Kind::Real { min, max, .. } => Value::Real(value::parse_real(key, text, min, max)?),
        Kind::Str(_) | Kind::List { .. } => {
            validate::check_string(p.name, key, text)?;
            Value::Text(Some(text.to_owned()))
        }
        Kind::Enum { values, .. } => Value::Enum(value::parse_enum(key, text, values)?),
    })
}

#[cfg(test)]
mod tests;
