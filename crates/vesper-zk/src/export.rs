//! Formats other tools read: snarkjs's JSON (verification key, proof, public signals), and
//! iden3's binary `.r1cs` (the circuit) and `.wtns` (a full assignment), so that snarkjs can
//! verify Vesper's proofs and prove the same circuit itself.
//!
//! snarkjs JSON: numbers are decimal strings; a G1 point is `[x, y, "1"]`, a G2 point
//! `[[x.c0, x.c1], [y.c0, y.c1], ["1", "0"]]` (the same coefficient order as arkworks); the
//! curve is `"bn128"`. iden3 binaries: little-endian integers, field elements as 32 bytes
//! little-endian in standard (not Montgomery) form, wire 0 the constant one, then the public
//! inputs, then the private wires (arkworks' instance-then-witness order).

use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField, Zero};
use ark_groth16::{Proof, VerifyingKey};
use ark_relations::r1cs::{
    ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisMode,
};
use serde_json::{Value, json};

use crate::groth::Compiled;
use crate::inputs::InputValue;

fn g1(p: &G1Affine) -> Value {
    match p.xy() {
        None => json!(["0", "1", "0"]),
        Some((x, y)) => json!([x.to_string(), y.to_string(), "1"]),
    }
}

fn g2(p: &G2Affine) -> Value {
    match p.xy() {
        None => json!([["0", "0"], ["1", "0"], ["0", "0"]]),
        Some((x, y)) => json!([
            [x.c0.to_string(), x.c1.to_string()],
            [y.c0.to_string(), y.c1.to_string()],
            ["1", "0"]
        ]),
    }
}

/// `verification_key.json` as snarkjs writes it (without the optional `vk_alphabeta_12`).
pub fn vk_json(vk: &VerifyingKey<Bn254>) -> Value {
    json!({
        "protocol": "groth16",
        "curve": "bn128",
        "nPublic": vk.gamma_abc_g1.len() - 1,
        "vk_alpha_1": g1(&vk.alpha_g1),
        "vk_beta_2": g2(&vk.beta_g2),
        "vk_gamma_2": g2(&vk.gamma_g2),
        "vk_delta_2": g2(&vk.delta_g2),
        "IC": vk.gamma_abc_g1.iter().map(g1).collect::<Vec<_>>(),
    })
}

/// `proof.json` as snarkjs writes it.
pub fn proof_json(p: &Proof<Bn254>) -> Value {
    json!({"pi_a": g1(&p.a), "pi_b": g2(&p.b), "pi_c": g1(&p.c), "protocol": "groth16", "curve": "bn128"})
}

/// `public.json`: the public signals, decimal strings.
pub fn public_json(public: &[Fr]) -> Value {
    Value::Array(
        public
            .iter()
            .map(|f| Value::String(crate::field::to_decimal(f)))
            .collect(),
    )
}

/// Why a snarkjs JSON document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(String);

fn bad(what: &str) -> FormatError {
    FormatError(format!("malformed {what}"))
}

fn fq(v: &Value, what: &str) -> Result<Fq, FormatError> {
    let s = v.as_str().ok_or_else(|| bad(what))?;
    if s.is_empty() || s.len() > 78 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(what));
    }
    let f: Fq = s.parse().map_err(|_| bad(what))?;
    // Refuse values at or above the modulus rather than reducing them.
    (f.to_string() == s.trim_start_matches('0') || (s.bytes().all(|b| b == b'0') && f.is_zero()))
        .then_some(f)
        .ok_or_else(|| bad(what))
}

fn read_g1(v: &Value, what: &str) -> Result<G1Affine, FormatError> {
    let a = v
        .as_array()
        .filter(|a| a.len() == 3 || a.len() == 2)
        .ok_or_else(|| bad(what))?;
    if a.len() == 3 && a[2] != "1" {
        return Err(bad(what));
    }
    let p = G1Affine::new_unchecked(fq(&a[0], what)?, fq(&a[1], what)?);
    (p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve())
        .then_some(p)
        .ok_or_else(|| bad(what))
}

fn read_g2(v: &Value, what: &str) -> Result<G2Affine, FormatError> {
    let a = v
        .as_array()
        .filter(|a| a.len() == 3 || a.len() == 2)
        .ok_or_else(|| bad(what))?;
    if a.len() == 3 && a[2] != json!(["1", "0"]) {
        return Err(bad(what));
    }
    let c = |v: &Value| -> Result<Fq2, FormatError> {
        let p = v
            .as_array()
            .filter(|p| p.len() == 2)
            .ok_or_else(|| bad(what))?;
        Ok(Fq2::new(fq(&p[0], what)?, fq(&p[1], what)?))
    };
    let p = G2Affine::new_unchecked(c(&a[0])?, c(&a[1])?);
    (p.is_on_curve() && p.is_in_correct_subgroup_assuming_on_curve())
        .then_some(p)
        .ok_or_else(|| bad(what))
}

/// Read a snarkjs `verification_key.json` (BN254 Groth16).
pub fn vk_from_json(v: &Value) -> Result<VerifyingKey<Bn254>, FormatError> {
    if v["protocol"] != "groth16"
        || !["bn128", "bn254"].contains(&v["curve"].as_str().unwrap_or(""))
    {
        return Err(FormatError("not a BN254 Groth16 verification key".into()));
    }
    let ic = v["IC"]
        .as_array()
        .filter(|a| !a.is_empty() && a.len() <= 1024)
        .ok_or_else(|| bad("IC"))?;
    Ok(VerifyingKey {
        alpha_g1: read_g1(&v["vk_alpha_1"], "vk_alpha_1")?,
        beta_g2: read_g2(&v["vk_beta_2"], "vk_beta_2")?,
        gamma_g2: read_g2(&v["vk_gamma_2"], "vk_gamma_2")?,
        delta_g2: read_g2(&v["vk_delta_2"], "vk_delta_2")?,
        gamma_abc_g1: ic
            .iter()
            .map(|p| read_g1(p, "IC"))
            .collect::<Result<_, _>>()?,
    })
}

/// Read a snarkjs `proof.json`.
pub fn proof_from_json(v: &Value) -> Result<Proof<Bn254>, FormatError> {
    Ok(Proof {
        a: read_g1(&v["pi_a"], "pi_a")?,
        b: read_g2(&v["pi_b"], "pi_b")?,
        c: read_g1(&v["pi_c"], "pi_c")?,
    })
}

/// Read `public.json`: decimal strings below the scalar field's modulus.
pub fn public_from_json(v: &Value) -> Result<Vec<Fr>, FormatError> {
    let a = v
        .as_array()
        .filter(|a| a.len() <= 1024)
        .ok_or_else(|| bad("public signals"))?;
    a.iter()
        .map(|s| {
            s.as_str()
                .and_then(crate::field::parse)
                .ok_or_else(|| bad("public signal"))
        })
        .collect()
}

/// The scalar field's modulus, 32 bytes little-endian.
fn modulus() -> Vec<u8> {
    Fr::MODULUS.to_bytes_le()
}

fn section(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    out.extend(id.to_le_bytes());
    out.extend((body.len() as u64).to_le_bytes());
    out.extend(body);
}

fn fe(f: &Fr) -> Vec<u8> {
    let mut b = f.into_bigint().to_bytes_le();
    b.resize(32, 0);
    b
}

/// The circuit as an iden3 `.r1cs` file (with the wire-to-label map as identity).
pub fn r1cs(c: &Compiled) -> Vec<u8> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    let trace = Default::default();
    crate::circuit::Circuit {
        program: &c.program,
        values: None,
        binding: None,
        trace,
    }
    .generate_constraints(cs.clone())
    .expect("a compiled program synthesises");
    cs.finalize();
    let m = cs.to_matrices().expect("matrices of a finalized system");
    let n_wires = m.num_instance_variables + m.num_witness_variables;
    let mut hdr = Vec::with_capacity(64);
    hdr.extend(32u32.to_le_bytes());
    hdr.extend(modulus());
    hdr.extend((n_wires as u32).to_le_bytes());
    hdr.extend(0u32.to_le_bytes()); // outputs: Vesper's outputs are ordinary public inputs
    hdr.extend(((m.num_instance_variables - 1) as u32).to_le_bytes());
    hdr.extend((m.num_witness_variables as u32).to_le_bytes());
    hdr.extend((n_wires as u64).to_le_bytes());
    hdr.extend((m.num_constraints as u32).to_le_bytes());
    let mut cons = Vec::new();
    let lc = |out: &mut Vec<u8>, row: &[(Fr, usize)]| {
        let mut terms: Vec<&(Fr, usize)> = row.iter().filter(|(c, _)| !c.is_zero()).collect();
        terms.sort_by_key(|(_, w)| *w);
        out.extend((terms.len() as u32).to_le_bytes());
        for (coeff, wire) in terms {
            out.extend((*wire as u32).to_le_bytes());
            out.extend(fe(coeff));
        }
    };
    for i in 0..m.num_constraints {
        lc(&mut cons, &m.a[i]);
        lc(&mut cons, &m.b[i]);
        lc(&mut cons, &m.c[i]);
    }
    let map: Vec<u8> = (0..n_wires as u64).flat_map(|w| w.to_le_bytes()).collect();
    let mut out = b"r1cs".to_vec();
    out.extend(1u32.to_le_bytes());
    out.extend(3u32.to_le_bytes());
    section(&mut out, 1, &hdr);
    section(&mut out, 2, &cons);
    section(&mut out, 3, &map);
    out
}

/// A full assignment (one, public inputs, witnesses) as an iden3 `.wtns` file (version 2).
/// `Err` with the reason when the values do not satisfy the circuit.
pub fn wtns(c: &Compiled, values: &[InputValue], binding: Fr) -> Result<Vec<u8>, String> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    let trace = Default::default();
    crate::circuit::Circuit {
        program: &c.program,
        values: Some(values),
        binding: Some(binding),
        trace,
    }
    .generate_constraints(cs.clone())
    .map_err(|e| e.to_string())?;
    if !cs.is_satisfied().map_err(|e| e.to_string())? {
        return Err("the values do not satisfy the circuit".into());
    }
    cs.finalize();
    let inst = cs
        .borrow()
        .expect("a live system")
        .instance_assignment
        .clone();
    let wit = cs
        .borrow()
        .expect("a live system")
        .witness_assignment
        .clone();
    let mut hdr = 32u32.to_le_bytes().to_vec();
    hdr.extend(modulus());
    hdr.extend(((inst.len() + wit.len()) as u32).to_le_bytes());
    let body: Vec<u8> = inst.iter().chain(&wit).flat_map(fe).collect();
    let mut out = b"wtns".to_vec();
    out.extend(2u32.to_le_bytes());
    out.extend(2u32.to_le_bytes());
    section(&mut out, 1, &hdr);
    section(&mut out, 2, &body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modulus_is_written_little_endian() {
        assert_eq!(
            hex::encode(modulus()),
            "010000f093f5e1439170b97948e833285d588181b64550b829a031e1724e6430"
        );
    }
}
