//! The audit log's Merkle tree, hashed as RFC 6962 / RFC 9162 §2.1 prescribe: a leaf is
//! SHA-256(0x00 ‖ data), an interior node SHA-256(0x01 ‖ left ‖ right), and a tree of n leaves
//! splits at the largest power of two below n. Every range the algorithms touch is then either
//! a perfect subtree aligned to its size, which storage keeps by (level, index), or splits into
//! such ranges; so roots and proofs cost O(log n) stored hashes.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// A perfect subtree: the 2^level leaves from index·2^level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subtree {
    pub level: u32,
    pub index: u64,
}

/// Storage was asked for a subtree it does not hold (the tree is smaller than asked, or the
/// store lost it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the log has no subtree at level {} index {}", .0.level, .0.index)]
pub struct MissingSubtree(pub Subtree);

/// Where the hashes of perfect subtrees come from.
pub trait Subtrees {
    fn subtree(&self, at: Subtree) -> Option<Hash>;
}

impl<S: Subtrees + ?Sized> Subtrees for &S {
    fn subtree(&self, at: Subtree) -> Option<Hash> {
        (**self).subtree(at)
    }
}

impl Subtrees for std::collections::HashMap<Subtree, Hash> {
    fn subtree(&self, at: Subtree) -> Option<Hash> {
        self.get(&at).copied()
    }
}

/// RFC 6962 leaf hash.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 6962 interior node hash.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH of leaves [start, start + n), n ≥ 1.
fn range_hash(start: u64, n: u64, store: &impl Subtrees) -> Result<Hash, MissingSubtree> {
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let at = Subtree {
            level: n.trailing_zeros(),
            index: start / n,
        };
        return store.subtree(at).ok_or(MissingSubtree(at));
    }
    let k = split(n);
    let left = range_hash(start, k, store)?;
    let right = range_hash(start + k, n - k, store)?;
    Ok(node_hash(&left, &right))
}

/// The root of the first `size` leaves.
pub fn root(size: u64, store: &impl Subtrees) -> Result<Hash, MissingSubtree> {
    if size == 0 {
        return Ok(empty_root());
    }
    range_hash(0, size, store)
}

/// The audit path of leaf `index` in the tree of `size` leaves (RFC 6962 §2.1.1), leaf side
/// first.
pub fn inclusion_proof(
    index: u64,
    size: u64,
    store: &impl Subtrees,
) -> Result<Vec<Hash>, MissingSubtree> {
    fn path(
        m: u64,
        start: u64,
        n: u64,
        store: &impl Subtrees,
        out: &mut Vec<Hash>,
    ) -> Result<(), MissingSubtree> {
        if n <= 1 {
            return Ok(());
        }
        let k = split(n);
        if m < k {
            path(m, start, k, store, out)?;
            out.push(range_hash(start + k, n - k, store)?);
        } else {
            path(m - k, start + k, n - k, store, out)?;
            out.push(range_hash(start, k, store)?);
        }
        Ok(())
    }
    let mut out = Vec::new();
    if index < size {
        path(index, 0, size, store, &mut out)?;
    }
    Ok(out)
}

/// The proof that the tree of `old_size` leaves is a prefix of the tree of `new_size`
/// (RFC 6962 §2.1.2).
pub fn consistency_proof(
    old_size: u64,
    new_size: u64,
    store: &impl Subtrees,
) -> Result<Vec<Hash>, MissingSubtree> {
    fn subproof(
        m: u64,
        start: u64,
        n: u64,
        complete: bool,
        store: &impl Subtrees,
        out: &mut Vec<Hash>,
    ) -> Result<(), MissingSubtree> {
        if m == n {
            if !complete {
                out.push(range_hash(start, n, store)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            subproof(m, start, k, complete, store, out)?;
            out.push(range_hash(start + k, n - k, store)?);
        } else {
            subproof(m - k, start + k, n - k, false, store, out)?;
            out.push(range_hash(start, k, store)?);
        }
        Ok(())
    }
    let mut out = Vec::new();
    if 0 < old_size && old_size < new_size {
        subproof(old_size, 0, new_size, true, store, &mut out)?;
    }
    Ok(out)
}

/// The subtrees a computation reads: `compute` is run against a store that answers every
/// question, and the questions are its answer. A store fetches these in one query, then runs
/// the computation for real.
pub fn subtrees_read<T>(
    compute: impl FnOnce(&dyn Subtrees) -> Result<T, MissingSubtree>,
) -> Vec<Subtree> {
    struct Recorder(std::cell::RefCell<Vec<Subtree>>);
    impl Subtrees for Recorder {
        fn subtree(&self, at: Subtree) -> Option<Hash> {
            self.0.borrow_mut().push(at);
            Some([0; 32])
        }
    }
    let recorder = Recorder(std::cell::RefCell::new(Vec::new()));
    let _ = compute(&recorder);
    let mut read = recorder.0.into_inner();
    read.sort();
    read.dedup();
    read
}

/// The perfect subtrees that appending `leaves` (their leaf hashes) to a tree of `size`
/// leaves completes, level 0 included, each with its hash; `store` holds the old tree's.
pub fn appended_subtrees(
    size: u64,
    leaves: &[Hash],
    store: &impl Subtrees,
) -> Result<Vec<(Subtree, Hash)>, MissingSubtree> {
    let mut made: std::collections::HashMap<Subtree, Hash> = std::collections::HashMap::new();
    let mut order = Vec::new();
    let new_size = size + leaves.len() as u64;
    for (i, leaf) in leaves.iter().enumerate() {
        let at = Subtree {
            level: 0,
            index: size + i as u64,
        };
        made.insert(at, *leaf);
        order.push(at);
    }
    let mut level = 1;
    while (1u64 << level) <= new_size {
        let width = 1u64 << level;
        // Subtrees of this level that end within the new tree but not within the old one.
        let first = size / width;
        let last = new_size / width;
        for index in first..last {
            if (index + 1) * width <= size {
                continue;
            }
            let child = |i: u64| {
                let at = Subtree {
                    level: level - 1,
                    index: i,
                };
                made.get(&at)
                    .copied()
                    .or_else(|| store.subtree(at))
                    .ok_or(MissingSubtree(at))
            };
            let hash = node_hash(&child(2 * index)?, &child(2 * index + 1)?);
            let at = Subtree { level, index };
            made.insert(at, hash);
            order.push(at);
        }
        level += 1;
    }
    Ok(order
        .into_iter()
        .filter_map(|at| made.get(&at).map(|h| (at, *h)))
        .collect())
}

/// Whether `proof` shows leaf `leaf` at `index` in the tree of `size` leaves with `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Whether `proof` shows the tree of `old_size` leaves with `old_root` to be a prefix of the
/// tree of `new_size` leaves with `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if old_size.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old_size - 1, new_size - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Every subtree of a tree of `n` leaves, built leaf by leaf as the log grows.
    fn grown(leaves: &[Hash]) -> HashMap<Subtree, Hash> {
        let mut store = HashMap::new();
        for (i, leaf) in leaves.iter().enumerate() {
            for (at, h) in appended_subtrees(i as u64, &[*leaf], &store).unwrap() {
                store.insert(at, h);
            }
        }
        store
    }

    /// MTH by the RFC's definition, straight from the leaves.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn the_empty_tree_and_one_leaf_hash_as_rfc_6962_says() {
        // SHA-256 of the empty string, and of 0x00 alone (the empty leaf).
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn roots_built_in_any_batches_match_the_definition() {
        let all = leaves(70);
        let store = grown(&all);
        for n in 0..=70 {
            assert_eq!(
                root(n as u64, &store).unwrap(),
                reference_root(&all[..n]),
                "{n}"
            );
        }
        // Appending in uneven batches makes the same subtrees.
        let mut batched = HashMap::new();
        let mut size = 0;
        for batch in [1usize, 2, 5, 8, 13, 41] {
            let part = &all[size..size + batch];
            for (at, h) in appended_subtrees(size as u64, part, &batched).unwrap() {
                batched.insert(at, h);
            }
            size += batch;
        }
        assert_eq!(batched, store);
    }

    #[test]
    fn every_inclusion_and_consistency_proof_verifies_and_a_changed_one_does_not() {
        let all = leaves(37);
        let store = grown(&all);
        for size in 1..=37u64 {
            let r = root(size, &store).unwrap();
            for index in 0..size {
                let proof = inclusion_proof(index, size, &store).unwrap();
                assert!(verify_inclusion(
                    &all[index as usize],
                    index,
                    size,
                    &proof,
                    &r
                ));
                assert!(!verify_inclusion(
                    &leaf_hash(b"other"),
                    index,
                    size,
                    &proof,
                    &r
                ));
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0] = leaf_hash(first);
                    assert!(!verify_inclusion(
                        &all[index as usize],
                        index,
                        size,
                        &bad,
                        &r
                    ));
                }
            }
            for old in 1..=size {
                let proof = consistency_proof(old, size, &store).unwrap();
                let old_root = root(old, &store).unwrap();
                assert!(
                    verify_consistency(old, size, &old_root, &r, &proof),
                    "{old} → {size}"
                );
                if old < size {
                    assert!(!verify_consistency(old, size, &leaf_hash(b"x"), &r, &proof));
                }
            }
        }
    }

    #[test]
    fn a_computation_names_the_subtrees_it_reads() {
        let read = subtrees_read(|s| root(6, &s));
        assert_eq!(
            read,
            [
                Subtree { level: 1, index: 2 },
                Subtree { level: 2, index: 0 },
            ]
        );
        let store = grown(&leaves(3));
        assert!(matches!(root(4, &store), Err(MissingSubtree(_))));
    }
}
