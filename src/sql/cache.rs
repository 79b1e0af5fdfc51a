//! The per-process cache of analyses. Children are single-threaded, so it is a thread-local.
//! Analyses that do not depend on literal values are kept under the text's normalized key
//! (`key.rs`) and shared by every text with that key; literal-dependent ones (SET, COPY,
//! pg_terminate_backend …) only under their exact text. Each table is bounded in entries and
//! bytes and simply emptied when full; texts longer than `MAX_TEXT` are never cached.

use std::cell::RefCell;
use std::hash::Hash;
use std::rc::Rc;

use super::key::normalize_key;
use super::Analysis;
use crate::fasthash::FnvMap;

const MAX_ENTRIES: usize = 1024;
const MAX_BYTES: usize = 1 << 20;
const MAX_TEXT: usize = 8 * 1024;

struct Table<K> {
    map: FnvMap<K, Rc<Analysis>>,
    bytes: usize,
}

impl<K: Hash + Eq> Table<K> {
    fn new() -> Self {
        Table {
            map: FnvMap::default(),
            bytes: 0,
        }
    }

    fn insert(&mut self, key: K, len: usize, analysis: Rc<Analysis>) {
        if self.map.len() >= MAX_ENTRIES || self.bytes + len > MAX_BYTES {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += len;
        self.map.insert(key, analysis);
    }
}

struct Cache {
    /// By normalized key: analyses valid for every text with that key.
    shared: Table<Vec<u8>>,
    /// By exact text: literal-dependent analyses.
    exact: Table<String>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache {
        shared: Table::new(),
        exact: Table::new(),
    });
}

/// The cached analysis of `sql`, or `analyze(sql)` (then cached).
pub(super) fn get_or_insert(sql: &str, analyze: impl FnOnce(&str) -> Analysis) -> Rc<Analysis> {
    if sql.len() > MAX_TEXT {
        return Rc::new(analyze(sql));
    }
    let Some(key) = normalize_key(sql) else {
        return Rc::new(analyze(sql));
    };
    let hit = CACHE.with(|c| {
        let c = c.borrow();
        c.shared
            .map
            .get(&key)
            .or_else(|| c.exact.map.get(sql))
            .cloned()
    });
    if let Some(hit) = hit {
        return hit;
    }
    let analysis = Rc::new(analyze(sql));
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if analysis.literal_dependent {
            c.exact.insert(sql.to_owned(), sql.len(), analysis.clone());
        } else {
            let len = key.len();
            c.shared.insert(key, len, analysis.clone());
        }
    });
    analysis
}
