//! Poseidon over BN254 with circomlib's parameters (x^5, widths 2 to 13), so that a Merkle
//! root or a commitment can be computed by third parties with circomlibjs or `poseidon-lite`:
//! natively with `light-poseidon`, and in the circuit by the same permutation over `FpVar`s
//! with the same constants (checked against each other and against circomlib's vector).

use ark_bn254::Fr;
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::prelude::*;
use ark_relations::r1cs::SynthesisError;
use light_poseidon::parameters::bn254_x5::get_poseidon_parameters;
use light_poseidon::{Poseidon, PoseidonHasher, PoseidonParameters};

/// Most inputs of one hash (circomlib's widths go to 13).
pub const MAX_INPUTS: usize = 12;

fn params(n: usize) -> PoseidonParameters<Fr> {
    assert!((1..=MAX_INPUTS).contains(&n), "1 to {MAX_INPUTS} inputs");
    get_poseidon_parameters::<Fr>((n + 1) as u8).expect("widths 2 to 13 exist")
}

/// circomlib `Poseidon(n)` of `inputs`.
pub fn hash(inputs: &[Fr]) -> Fr {
    Poseidon::<Fr>::new_circom(inputs.len())
        .and_then(|mut p| p.hash(inputs))
        .expect("1 to 12 inputs")
}

/// The same hash in the circuit: state `[0, inputs…]`, `full/2` full rounds, the partial
/// rounds, `full/2` full rounds (add round constants, S-box x^5, MDS), output `state[0]`.
pub fn hash_var(inputs: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    let p = params(inputs.len());
    let mut state: Vec<FpVar<Fr>> = std::iter::once(FpVar::Constant(Fr::from(0u8)))
        .chain(inputs.iter().cloned())
        .collect();
    let half = p.full_rounds / 2;
    for round in 0..p.full_rounds + p.partial_rounds {
        for (i, s) in state.iter_mut().enumerate() {
            *s += p.ark[round * p.width + i];
        }
        let full = round < half || round >= half + p.partial_rounds;
        let n = if full { state.len() } else { 1 };
        for s in state.iter_mut().take(n) {
            let x2 = s.square()?;
            let x4 = x2.square()?;
            *s = x4 * &*s;
        }
        state = (0..p.width)
            .map(|i| {
                state
                    .iter()
                    .zip(&p.mds[i])
                    .fold(FpVar::Constant(Fr::from(0u8)), |acc, (s, m)| acc + s * *m)
            })
            .collect();
    }
    Ok(state.swap_remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::r1cs::ConstraintSystem;

    #[test]
    fn matches_circomlib() {
        // circomlib's test vector: Poseidon([1, 2]).
        let h = hash(&[Fr::from(1u8), Fr::from(2u8)]);
        assert_eq!(
            crate::field::to_decimal(&h),
            "7853200120776062878684798364095072458815029376092732009249414926327459813530"
        );
    }

    #[test]
    fn the_gadget_computes_the_native_hash() {
        for n in [1usize, 2, 3, 5, 12] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let xs: Vec<Fr> = (0..n).map(|i| Fr::from(1000 + i as u64)).collect();
            let vars: Vec<FpVar<Fr>> = xs
                .iter()
                .map(|x| FpVar::new_witness(cs.clone(), || Ok(*x)).unwrap())
                .collect();
            let h = hash_var(&vars).unwrap();
            assert_eq!(h.value().unwrap(), hash(&xs), "width {}", n + 1);
            assert!(cs.is_satisfied().unwrap());
        }
    }
}
