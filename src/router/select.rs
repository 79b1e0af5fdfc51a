//! The choice of a load-balance node (routing.md §5.2, §8): redirect-list suggestions with their
//! weights and exclusions, the cumulative weighted pick over usable nodes, the replication-delay
//! threshold test and the least-delayed-standby fallback of `prefer_lower_delay_standby`.

use rand::{Rng, RngCore};

use super::redirect::{self, Target};
use super::{Mode, NodeSet, NodeView, Router};

/// What the redirect lists suggest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suggested {
    None,
    Standby,
    Node(usize),
}

/// The node the session falls back to: the primary, or the lowest usable node when the primary
/// is not usable (the "virtual main node" with no statement in progress).
pub fn home(view: &NodeView<'_>) -> usize {
    if view.usable.contains(view.primary) {
        view.primary
    } else {
        view.usable.first().unwrap_or(view.primary)
    }
}

fn weight(view: &NodeView<'_>, node: usize) -> f64 {
    view.weights.get(node).copied().unwrap_or(0.0)
}

fn delay(view: &NodeView<'_>, node: usize) -> i64 {
    if node == view.primary {
        return 0;
    }
    view.delays.get(node).copied().unwrap_or(0)
}

/// Cumulative weighted pick among `candidates` (all with weight > 0); `None` when empty.
fn weighted_pick(view: &NodeView<'_>, candidates: NodeSet, rng: &mut dyn RngCore) -> Option<usize> {
    let total: f64 = candidates.iter().map(|n| weight(view, n)).sum();
    if candidates.is_empty() || total <= 0.0 {
        return None;
    }
    let x = rng.gen::<f64>() * total;
    let mut cum = 0.0;
    let mut last = None;
    for n in candidates.iter() {
        cum += weight(view, n);
        last = Some(n);
        if x < cum {
            return Some(n);
        }
    }
    last
}

impl Router {
    /// §8.1: is `node` over `delay_threshold_by_time` / `delay_threshold`? [FAITHFUL] both
    /// thresholds are compared with the same stored number. Streaming mode only.
    pub fn delay_exceeded(&self, view: &NodeView<'_>, node: usize) -> bool {
        if self.mode != Mode::Streaming {
            return false;
        }
        let d = delay(view, node);
        (self.delay_threshold_by_time > 0 && d > self.delay_threshold_by_time.saturating_mul(1000))
            || (self.delay_threshold > 0 && d > self.delay_threshold)
    }

    /// §8.2: the least-delayed usable standbys with weight > 0, chosen among by weight; the
    /// primary when there is none under the limit.
    fn least_delayed_standby(&self, view: &NodeView<'_>, rng: &mut dyn RngCore) -> usize {
        let mut limit = if self.delay_threshold_by_time > 0 {
            self.delay_threshold_by_time.saturating_mul(1000)
        } else {
            self.delay_threshold
        };
        let mut set = NodeSet::EMPTY;
        for n in view.usable.iter() {
            if n == view.primary || weight(view, n) <= 0.0 {
                continue;
            }
            let d = delay(view, n);
            if d == limit {
                set.insert(n);
            } else if d < limit {
                limit = d;
                set = NodeSet::single(n);
            }
        }
        weighted_pick(view, set, rng).unwrap_or_else(|| home(view))
    }

    /// Resolve a redirect target and apply the acceptance rule (standby, or a usable node).
    fn accept(&self, view: &NodeView<'_>, t: Target) -> Option<Suggested> {
        let node = match t {
            Target::Standby => return Some(Suggested::Standby),
            Target::Primary => view.primary,
            Target::Node(n) if n >= 0 && (n as usize) < view.weights.len() => n as usize,
            // Not a configured node (`weights` has one entry per configured node): the
            // virtual main node.
            Target::Node(_) => home(view),
        };
        view.usable.contains(node).then_some(Suggested::Node(node))
    }

    /// routing.md §5.2: the load-balance node of a new session (or of one statement with
    /// `statement_level_load_balance`).
    pub fn select_load_balancing_node(
        &self,
        view: &NodeView<'_>,
        user: &str,
        database: &str,
        application_name: &str,
        rng: &mut dyn RngCore,
    ) -> usize {
        if self.mode == Mode::Raw || !self.load_balance {
            return home(view);
        }
        // In (0, 1]: a weight of 1 always honours a redirect, a weight of 0 never does.
        let r = 1.0 - rng.gen::<f64>();
        let mut suggested = Suggested::None;
        let mut w = 0.0;
        if self.mode.is_sl() {
            // Later lists override earlier ones: user < database < application name. The
            // weight of the last matching list is used even when its node was not accepted
            // and an earlier list's node stays suggested [FAITHFUL].
            let app = (!application_name.is_empty()).then_some(application_name);
            let lists = [
                (&self.user_redirect, Some(user)),
                (&self.db_redirect, Some(database)),
                (&self.app_redirect, app),
            ];
            for (list, name) in lists {
                let Some(name) = name else { continue };
                if let Some(e) = redirect::first_match(list, name) {
                    w = e.weight;
                    if let Some(s) = self.accept(view, e.target) {
                        suggested = s;
                    }
                }
            }
        }

        let mut exclude = None;
        let mut exclude_primary = false;
        match suggested {
            Suggested::Node(s) => {
                if self.prefer_lower_delay && s != view.primary && self.delay_exceeded(view, s) {
                    return self.least_delayed_standby(view, rng);
                }
                if r <= w {
                    return s;
                }
                exclude = Some(s);
            }
            Suggested::Standby => {
                if r > w {
                    return home(view);
                }
                exclude_primary = true;
            }
            Suggested::None => {}
        }

        let mut candidates = NodeSet::EMPTY;
        for n in view.usable.iter() {
            if weight(view, n) > 0.0
                && exclude != Some(n)
                && !(exclude_primary && n == view.primary)
            {
                candidates.insert(n);
            }
        }
        let selected = weighted_pick(view, candidates, rng).unwrap_or_else(|| home(view));
        if self.prefer_lower_delay && self.delay_exceeded(view, selected) {
            return self.least_delayed_standby(view, rng);
        }
        selected
    }
}
