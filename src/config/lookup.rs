//! Finding the parameter a configuration key names (spec/config.md §3.8): exact match for plain
//! parameters, prefix match (longest base name first) for indexed families, with pgpool's errors
//! for a missing, non-numeric or out-of-range index. Lookups use tables built once; no
//! allocation per call.

use std::sync::OnceLock;

use super::error::ConfigError;
use super::params::{Param, FREE_DEFAULT, PARAMS};

/// What a key refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A plain parameter: its index in [`PARAMS`].
    Scalar(usize),
    /// An indexed parameter: its index in [`PARAMS`] and the slot, or `None` for the index-free
    /// form (health-check family only).
    Indexed(usize, Option<usize>),
}

impl Target {
    pub fn param_index(self) -> usize {
        match self {
            Target::Scalar(i) | Target::Indexed(i, _) => i,
        }
    }
    pub fn param(self) -> &'static Param {
        &PARAMS[self.param_index()]
    }
}

struct Tables {
    /// Plain parameter names, sorted, with their index.
    scalars: Vec<(&'static str, usize)>,
    /// Indexed parameters, longest base name first.
    indexed: Vec<usize>,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let mut scalars: Vec<(&'static str, usize)> = PARAMS
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_indexed())
            .map(|(i, p)| (p.name, i))
            .collect();
        scalars.sort_unstable();
        let mut indexed: Vec<usize> = (0..PARAMS.len())
            .filter(|&i| PARAMS[i].is_indexed())
            .collect();
        indexed.sort_by_key(|&i| std::cmp::Reverse(PARAMS[i].name.len()));
        Tables { scalars, indexed }
    })
}

/// The index in [`PARAMS`] of a parameter declared with exactly this name (plain or base name).
pub fn param_index(name: &str) -> Option<usize> {
    let t = tables();
    if let Ok(pos) = t.scalars.binary_search_by(|(n, _)| (*n).cmp(name)) {
        return Some(t.scalars[pos].1);
    }
    t.indexed.iter().copied().find(|&i| PARAMS[i].name == name)
}

/// Resolve a key as pgpool does when applying a pgpool.conf line. `Ok(None)` = unknown key.
pub fn resolve(key: &str) -> Result<Option<Target>, ConfigError> {
    let t = tables();
    if let Ok(pos) = t.scalars.binary_search_by(|(n, _)| (*n).cmp(key)) {
        return Ok(Some(Target::Scalar(t.scalars[pos].1)));
    }
    for &i in &t.indexed {
        let p = &PARAMS[i];
        let Some(rest) = key.strip_prefix(p.name) else {
            continue;
        };
        if rest.is_empty() {
            if p.has(FREE_DEFAULT) {
                return Ok(Some(Target::Indexed(i, None)));
            }
            return Err(ConfigError::invalid(format!(
                "parameter \"{}\" expects the index value",
                p.name
            )));
        }
        if !rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::invalid(format!(
                "invalid index value for parameter \"{key}\" "
            ))
            .with_detail(Some(
                "index part contains the invalid non digit character".into(),
            )));
        }
        let max = p.array as usize;
        // pgpool reads the index with atoi(): leading zeros are decimal, and the number it
        // prints is strtol's (saturated) value cut to an int
        let idx = rest.parse::<i64>().unwrap_or(i64::MAX);
        if idx >= max as i64 {
            return Err(ConfigError::invalid(format!(
                "{} index outside the valid range for parameter \"{key}\" (0 .. {max})",
                idx as i32
            )));
        }
        return Ok(Some(Target::Indexed(i, Some(idx as usize))));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_prefix_and_errors() {
        let port = param_index("port").expect("port");
        assert_eq!(resolve("port"), Ok(Some(Target::Scalar(port))));
        let bp = param_index("backend_port").expect("backend_port");
        assert_eq!(
            resolve("backend_port12"),
            Ok(Some(Target::Indexed(bp, Some(12))))
        );
        let hc = param_index("health_check_period").expect("hc");
        assert_eq!(
            resolve("health_check_period"),
            Ok(Some(Target::Indexed(hc, None)))
        );
        assert_eq!(resolve("nonsense"), Ok(None));
        assert_eq!(resolve("Log_Statement"), Ok(None));
        assert_eq!(
            resolve("backend_hostname").unwrap_err().to_string(),
            "parameter \"backend_hostname\" expects the index value"
        );
        let e = resolve("hostname_foo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid index value for parameter \"hostname_foo\" "
        );
        assert_eq!(
            e.detail(),
            Some("index part contains the invalid non digit character")
        );
        assert!(resolve("backend_port128").is_err());
        assert!(resolve("heartbeat_port255").is_ok());
        assert!(resolve("heartbeat_port256").is_err());
        // A plain parameter longer than an indexed base that it starts with wins.
        assert!(matches!(
            resolve("health_check_test"),
            Ok(Some(Target::Scalar(_)))
        ));
    }
}
