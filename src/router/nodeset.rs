//! A set of backend node ids (0..128) as a bit mask: destination sets and usable-node sets.

/// Node ids 0..128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct NodeSet(pub u128);

impl NodeSet {
    pub const EMPTY: NodeSet = NodeSet(0);

    pub fn single(node: usize) -> NodeSet {
        NodeSet(1u128 << node)
    }
    pub fn contains(self, node: usize) -> bool {
        node < 128 && self.0 & (1u128 << node) != 0
    }
    pub fn insert(&mut self, node: usize) {
        self.0 |= 1u128 << node;
    }
    pub fn remove(&mut self, node: usize) {
        self.0 &= !(1u128 << node);
    }
    pub fn union(self, other: NodeSet) -> NodeSet {
        NodeSet(self.0 | other.0)
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    /// The lowest node id (the virtual main node of a destination set).
    pub fn first(self) -> Option<usize> {
        (self.0 != 0).then(|| self.0.trailing_zeros() as usize)
    }
    pub fn iter(self) -> impl Iterator<Item = usize> {
        let mut m = self.0;
        std::iter::from_fn(move || {
            (m != 0).then(|| {
                let n = m.trailing_zeros() as usize;
                m &= m - 1;
                n
            })
        })
    }
}
