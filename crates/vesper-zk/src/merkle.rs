//! Poseidon Merkle trees of the shape `in_set` checks: leaves are field elements, a parent is
//! `Poseidon(left, right)`, empty leaves are 0. For building allow-lists and issuer trees (the
//! CLI and tests); the circuit only walks a given path.

use ark_bn254::Fr;

use crate::poseidon;

/// The root of a tree of `depth` levels over `leaves` (padded with zeros), and the siblings
/// of leaf `index` from the bottom up.
pub fn root_and_path(leaves: &[Fr], depth: usize, index: usize) -> (Fr, Vec<Fr>) {
    assert!(depth <= 32 && leaves.len() <= 1 << depth && index < 1 << depth);
    // The hash of an empty subtree at each height.
    let mut empty = vec![Fr::from(0u8)];
    for h in 0..depth {
        empty.push(poseidon::hash(&[empty[h], empty[h]]));
    }
    let mut level: Vec<Fr> = leaves.to_vec();
    let mut path = Vec::with_capacity(depth);
    let mut i = index;
    for h in 0..depth {
        let sibling = level.get(i ^ 1).copied().unwrap_or(empty[h]);
        path.push(sibling);
        level = level
            .chunks(2)
            .map(|pair| poseidon::hash(&[pair[0], *pair.get(1).unwrap_or(&empty[h])]))
            .collect();
        if level.is_empty() {
            level.push(empty[h + 1]);
        }
        i /= 2;
    }
    (level[0], path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_leads_back_to_the_root() {
        let leaves: Vec<Fr> = (1..=5u64).map(Fr::from).collect();
        for index in 0..8 {
            let (root, path) = root_and_path(&leaves, 3, index);
            let mut cur = leaves.get(index).copied().unwrap_or(Fr::from(0u8));
            for (h, sib) in path.iter().enumerate() {
                cur = if (index >> h) & 1 == 1 {
                    poseidon::hash(&[*sib, cur])
                } else {
                    poseidon::hash(&[cur, *sib])
                };
            }
            assert_eq!(cur, root, "leaf {index}");
        }
        // An empty tree's root is the empty-subtree hash at the top.
        let (r0, _) = root_and_path(&[], 2, 0);
        let z1 = poseidon::hash(&[Fr::from(0u8), Fr::from(0u8)]);
        assert_eq!(r0, poseidon::hash(&[z1, z1]));
    }
}
