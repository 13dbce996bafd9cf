//! Differential tests against `ct-merkle`, an independent RFC 6962 implementation.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use portcullis_translog::tree::{
    ProofError, TreeHead, check_consistency, check_inclusion, prove_consistency, prove_inclusion, stored_hash_count,
    tree_hash,
};
use portcullis_translog::{Hash, leaf_hash};
use sha2_v011::Sha256;

use crate::common::{MemLog, Rng, entry};

fn concat(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|hash| *hash.as_bytes()).collect()
}

/// Sizes checked: power-of-two edges, the spec's 70,000, and random ones.
fn checked_sizes() -> Vec<u64> {
    let mut sizes = vec![
        1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 255, 256, 257, 511, 512, 513, 1000, 4095, 4096, 4097, 65535, 65536, 65537,
        70000,
    ];
    let mut rng = Rng::new(0x5eed);
    for _ in 0..12 {
        sizes.push(1 + rng.below(70000));
    }
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

#[test]
fn roots_and_proofs_match_ct_merkle() {
    let sizes = checked_sizes();
    let max = *sizes.last().unwrap();
    let mut reference: MemoryBackedTree<Sha256, Vec<u8>> = MemoryBackedTree::new();
    let mut log = MemLog::default();
    let mut rng = Rng::new(42);
    let mut checked = 0;
    for &size in &sizes {
        // Grow both trees to `size`, in uneven batches so the batch append path is exercised.
        while log.size() < size {
            let batch_len = (1 + rng.below(300)).min(size - log.size());
            let batch: Vec<Vec<u8>> = (log.size()..log.size() + batch_len).map(entry).collect();
            for item in &batch {
                reference.push(item.clone());
            }
            log.append(&batch);
        }
        assert_eq!(log.hashes.len() as u64, stored_hash_count(size));
        let root = tree_hash(size, &log.hashes).unwrap();
        assert_eq!(root.as_bytes().as_slice(), reference.root().as_bytes().as_slice(), "root at size {size}");

        let mut leaves = vec![0, size - 1, size / 2, rng.below(size)];
        leaves.dedup();
        for leaf_idx in leaves {
            let proof = prove_inclusion(size, leaf_idx, &log.hashes).unwrap();
            let expected = reference.prove_inclusion(leaf_idx as usize);
            assert_eq!(concat(&proof), expected.as_bytes(), "inclusion {leaf_idx} in {size}");
            let leaf = leaf_hash(&entry(leaf_idx));
            assert_eq!(check_inclusion(&proof, size, &root, leaf_idx, &leaf), Ok(()));
            let wrong = leaf_hash(b"forged");
            assert_eq!(check_inclusion(&proof, size, &root, leaf_idx, &wrong), Err(ProofError::RootMismatch));
            checked += 1;
        }

        let mut olds = vec![1, size, size / 2, size.saturating_sub(1).max(1), 1 + rng.below(size)];
        olds.extend([255u64, 256, 257, 511, 512, 65535, 65536].iter().copied().filter(|&old| old <= size));
        olds.retain(|&old| old >= 1);
        olds.sort_unstable();
        olds.dedup();
        let new = TreeHead { size, root };
        for old_size in olds {
            let proof = prove_consistency(size, old_size, &log.hashes).unwrap();
            let expected = reference.prove_consistency((size - old_size) as usize);
            assert_eq!(concat(&proof), expected.as_bytes(), "consistency {old_size} -> {size}");
            let old = TreeHead { size: old_size, root: tree_hash(old_size, &log.hashes).unwrap() };
            assert_eq!(check_consistency(&proof, &old, &new), Ok(()));
            checked += 1;
        }
    }
    assert_eq!(log.size(), max);
    assert!(checked > 150, "only {checked} proofs checked");
}

#[test]
fn empty_tree_matches_ct_merkle() {
    let reference: MemoryBackedTree<Sha256, Vec<u8>> = MemoryBackedTree::new();
    let empty: Vec<Hash> = Vec::new();
    assert_eq!(tree_hash(0, &empty).unwrap().as_bytes().as_slice(), reference.root().as_bytes().as_slice());
}

#[test]
fn proof_edge_cases_are_typed_errors() {
    let log = MemLog::with_entries((0..10).map(entry));
    let root = log.root();
    let empty = Hash::empty_tree();
    let some = leaf_hash(b"x");

    // Inclusion: (proof, tree_size, leaf_idx, expected)
    let proof_3 = prove_inclusion(10, 3, &log.hashes).unwrap();
    let mut too_long = proof_3.clone();
    too_long.push(some);
    let too_short = &proof_3[..proof_3.len() - 1];
    let inclusion_cases: Vec<(&[Hash], u64, u64, Result<(), ProofError>)> = vec![
        (&proof_3, 10, 3, Ok(())),
        (&[], 0, 0, Err(ProofError::LeafOutOfRange { leaf_idx: 0, tree_size: 0 })),
        (&proof_3, 10, 10, Err(ProofError::LeafOutOfRange { leaf_idx: 10, tree_size: 10 })),
        (&too_long, 10, 3, Err(ProofError::WrongLength(too_long.len()))),
        (too_short, 10, 3, Err(ProofError::WrongLength(too_short.len()))),
        (&proof_3, u64::MAX, 3, Err(ProofError::WrongLength(proof_3.len()))),
        (&proof_3, 10, 4, Err(ProofError::RootMismatch)),
    ];
    for (proof, tree_size, leaf_idx, expect) in inclusion_cases {
        let leaf = leaf_hash(&entry(3));
        assert_eq!(
            check_inclusion(proof, tree_size, &root, leaf_idx, &leaf),
            expect,
            "inclusion of 3 as {leaf_idx} in {tree_size}"
        );
    }
    let single = MemLog::with_entries([entry(0)]);
    assert_eq!(check_inclusion(&[], 1, &single.root(), 0, &leaf_hash(&entry(0))), Ok(()));

    // Consistency: (proof, old, new, expected)
    let head = |size: u64| TreeHead { size, root: tree_hash(size, &log.hashes).unwrap() };
    let proof_4_10 = prove_consistency(10, 4, &log.hashes).unwrap();
    let proof_3_10 = prove_consistency(10, 3, &log.hashes).unwrap();
    let consistency_cases: Vec<(Vec<Hash>, TreeHead, TreeHead, Result<(), ProofError>)> = vec![
        (vec![], TreeHead { size: 0, root: empty }, head(10), Ok(())),
        (vec![], TreeHead { size: 0, root: empty }, TreeHead { size: 0, root: empty }, Ok(())),
        (vec![some], TreeHead { size: 0, root: empty }, head(10), Err(ProofError::WrongLength(1))),
        (vec![], TreeHead { size: 0, root: some }, head(10), Err(ProofError::BadEmptyRoot)),
        (vec![], head(10), head(10), Ok(())),
        (vec![some], head(10), head(10), Err(ProofError::WrongLength(1))),
        (vec![], head(10), TreeHead { size: 10, root: some }, Err(ProofError::SameSizeDifferentRoot(10))),
        (vec![], head(10), head(4), Err(ProofError::OldSizeLarger { old_size: 10, new_size: 4 })),
        (proof_4_10.clone(), head(4), head(10), Ok(())),
        (proof_3_10.clone(), head(3), head(10), Ok(())),
        (vec![], head(3), head(10), Err(ProofError::WrongLength(0))),
        (proof_3_10.clone(), TreeHead { size: 3, root: some }, head(10), Err(ProofError::OldRootMismatch)),
        (proof_3_10.clone(), head(3), TreeHead { size: 10, root: some }, Err(ProofError::RootMismatch)),
        (
            proof_4_10.clone(),
            head(4),
            TreeHead { size: u64::MAX, root },
            Err(ProofError::WrongLength(proof_4_10.len())),
        ),
        (proof_3_10[1..].to_vec(), head(3), head(10), Err(ProofError::WrongLength(proof_3_10.len() - 1))),
    ];
    for (proof, old, new, expect) in consistency_cases {
        assert_eq!(check_consistency(&proof, &old, &new), expect, "{} -> {}", old.size, new.size);
    }

    // Generation edge cases.
    assert!(prove_inclusion(0, 0, &log.hashes).is_err());
    assert!(prove_inclusion(10, 10, &log.hashes).is_err());
    assert_eq!(prove_consistency(10, 0, &log.hashes).unwrap(), vec![]);
    assert_eq!(prove_consistency(10, 10, &log.hashes).unwrap(), vec![]);
    assert!(prove_consistency(4, 10, &log.hashes).is_err());
    assert!(prove_inclusion(u64::MAX, 0, &log.hashes).is_err());
    assert!(tree_hash(11, &log.hashes).is_err(), "missing stored hashes are an error");
}
