//! Compile, set up, prove and verify: Groth16 over BN254 (ark-groth16).
//!
//! **Image id**: SHA-256 of `"vesper-zk/v1\0"`, the canonical JSON of the DSL document (keys
//! sorted, no spaces), a zero byte, and the verifying key (arkworks' compressed encoding),
//! in lowercase hex. It names one circuit with one set of keys, as RISC Zero's image id names
//! one guest program.
//!
//! **Trusted setup.** [`setup`] draws its randomness from the operating system (`OsRng`)
//! and keeps nothing: the toxic waste (τ, α, β, γ, δ) lives only in ark-groth16's stack
//! frames during the call, which does not zeroize them. Whoever runs the setup could forge
//! proofs for that circuit if they kept it; a tenant who does not trust the gateway's setup
//! brings keys made elsewhere for the same circuit ([`check_keys`]).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use ark_bn254::{Bn254, Fr};
use ark_ff::UniformRand;
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, ProvingKey, VerifyingKey};
use ark_relations::r1cs::{
    ConstraintMatrices, ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, SynthesisError,
    SynthesisMode,
};
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use ark_snark::SNARK;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::circuit::{Circuit, Trace};
use crate::dsl::{self, DslError, InputType, Program};
use crate::inputs::InputValue;

/// Why a document does not compile.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("the DSL document has {} error(s)", .0.len())]
    Dsl(Vec<DslError>),
    #[error("rule {0}: an expression's magnitude can exceed 2^{bits}", bits = crate::circuit::MAX_BOUND_BITS)]
    TooLarge(String),
    #[error("constraint synthesis failed: {0}")]
    Synthesis(String),
}

/// A compiled program: its circuit's shape, before keys.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub program: Program,
    /// The canonical JSON of the source document.
    pub canonical: String,
    pub constraints: usize,
    /// Names of the public inputs, in the order a verifier passes them.
    pub public_inputs: Vec<String>,
    pub witnesses: usize,
    /// The R1CS matrices (after inlining), kept so that a proof synthesises the circuit once,
    /// for its witness alone ([`prove`]).
    pub matrices: Arc<ConstraintMatrices<Fr>>,
}

/// Parse, check and size a DSL document.
pub fn compile(doc: &Value) -> Result<Compiled, CompileError> {
    let program = dsl::parse(doc).map_err(CompileError::Dsl)?;
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_mode(SynthesisMode::Setup);
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    let trace = Rc::new(RefCell::new(Trace::default()));
    let circuit = Circuit {
        program: &program,
        values: None,
        binding: None,
        trace: trace.clone(),
    };
    if let Err(e) = circuit.generate_constraints(cs.clone()) {
        return Err(match trace.borrow().too_large.clone() {
            Some(rule) => CompileError::TooLarge(rule),
            None => CompileError::Synthesis(e.to_string()),
        });
    }
    cs.finalize();
    let mut public_inputs: Vec<String> = program
        .public_inputs()
        .map(|(_, i)| i.path.clone())
        .collect();
    public_inputs.extend(program.outputs.iter().map(|(n, _)| format!("outputs.{n}")));
    public_inputs.push("binding".into());
    let matrices = cs
        .to_matrices()
        .ok_or_else(|| CompileError::Synthesis("no matrices after setup synthesis".into()))?;
    Ok(Compiled {
        canonical: canonical_json(doc),
        constraints: cs.num_constraints(),
        witnesses: cs.num_witness_variables(),
        matrices: Arc::new(matrices),
        public_inputs,
        program,
    })
}

/// Proving and verifying keys of one compiled program.
#[derive(Clone)]
pub struct Keys {
    pub pk: ProvingKey<Bn254>,
    pub pvk: PreparedVerifyingKey<Bn254>,
}

impl Keys {
    pub fn new(pk: ProvingKey<Bn254>) -> Keys {
        let pvk = prepare(&pk.vk);
        Keys { pk, pvk }
    }
    pub fn vk(&self) -> &VerifyingKey<Bn254> {
        &self.pvk.vk
    }
    /// The proving key (which holds the verifying key) in arkworks' compressed encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.pk
            .serialize_compressed(&mut out)
            .expect("serialising to a Vec cannot fail");
        out
    }
    /// Read [`Keys::to_bytes`]'s encoding back (points checked on the curve and subgroup).
    pub fn from_bytes(bytes: &[u8]) -> Option<Keys> {
        ProvingKey::<Bn254>::deserialize_compressed(bytes)
            .ok()
            .map(Keys::new)
    }
}

/// Prepare a verifying key for verification.
pub fn prepare(vk: &VerifyingKey<Bn254>) -> PreparedVerifyingKey<Bn254> {
    Groth16::<Bn254>::process_vk(vk).expect("processing a verifying key cannot fail")
}

/// A proof in arkworks' compressed encoding (128 bytes): the `proof` hex of `/api/prove`.
pub fn proof_bytes(p: &Proof<Bn254>) -> Vec<u8> {
    let mut out = Vec::new();
    p.serialize_compressed(&mut out)
        .expect("serialising to a Vec cannot fail");
    out
}

fn circuit<'a>(
    c: &'a Compiled,
    values: Option<&'a [InputValue]>,
    binding: Option<Fr>,
) -> (Circuit<'a>, Rc<RefCell<Trace>>) {
    let trace = Rc::new(RefCell::new(Trace::default()));
    (
        Circuit {
            program: &c.program,
            values,
            binding,
            trace: trace.clone(),
        },
        trace,
    )
}

/// Make keys with fresh randomness from the operating system (see the module docs).
pub fn setup(c: &Compiled) -> Result<Keys, CompileError> {
    let (circ, _) = circuit(c, None, None);
    let (pk, vk) = Groth16::<Bn254>::circuit_specific_setup(circ, &mut rand::rngs::OsRng)
        .map_err(|e| CompileError::Synthesis(e.to_string()))?;
    let _ = vk;
    Ok(Keys::new(pk))
}

/// SHA-256 of the canonical document: names the circuit (before keys).
pub fn circuit_id(c: &Compiled) -> String {
    hex::encode(Sha256::digest(c.canonical.as_bytes()))
}

/// Whether a proving key made elsewhere has this circuit's shape: its verifying key takes
/// this many public inputs, and its queries have one entry per variable, witness and
/// evaluation-domain point. A structural check: it cannot tell keys for another circuit of
/// the same shape, which only a proof made with them can.
pub fn check_proving_key(c: &Compiled, pk: &ProvingKey<Bn254>) -> bool {
    let instance = c.public_inputs.len() + 1;
    let variables = instance + c.witnesses;
    let domain = (c.constraints + instance).next_power_of_two();
    pk.vk.gamma_abc_g1.len() == instance
        && pk.a_query.len() == variables
        && pk.b_g1_query.len() == variables
        && pk.b_g2_query.len() == variables
        && pk.l_query.len() == c.witnesses
        && pk.h_query.len() == domain - 1
}

/// The image id of a compiled program with its verifying key.
pub fn image_id(c: &Compiled, vk: &VerifyingKey<Bn254>) -> String {
    let mut vk_bytes = Vec::new();
    vk.serialize_compressed(&mut vk_bytes)
        .expect("serialising to a Vec cannot fail");
    let mut h = Sha256::new();
    h.update(b"vesper-zk/v1\0");
    h.update(c.canonical.as_bytes());
    h.update([0u8]);
    h.update(&vk_bytes);
    hex::encode(h.finalize())
}

/// Why no proof was made.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// An enforced rule does not hold for these inputs: no proof exists.
    #[error("rule {0} does not hold")]
    RuleFailed(String),
    #[error("proving failed: {0}")]
    Synthesis(String),
}

/// A proof and what it proves.
#[derive(Clone, Debug)]
pub struct Proven {
    pub proof: Proof<Bn254>,
    /// The public inputs, in order.
    pub public: Vec<Fr>,
    /// Each named output's value.
    pub outputs: Vec<(String, bool)>,
}

/// Circuits of this many constraints or more are proved on every core (ark-groth16's
/// `parallel`, rayon's global pool, shared by the proofs a process makes at once). A smaller
/// one gains little time from a second core (`age_verification`, 214 constraints: 11.5 ms p50
/// on one core, 8.5 ms on two) and spends CPU handing work between threads, which a node
/// proving several at once needs (16 % fewer proofs per second with 2 workers;
/// docs/PERFORMANCE.md): it is proved on the calling thread's own one-thread pool.
pub const PARALLEL_FROM_CONSTRAINTS: usize = 1024;

thread_local! {
    /// One proving thread per calling thread, for the small circuits (`None`: no thread could
    /// be started, and the proof runs on rayon's global pool).
    static SOLO: Option<rayon::ThreadPool> = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(|_| "zk-prove".into())
        .build()
        .ok();
}

/// Prove that `values` satisfy the program. A failing enforced rule is reported by name, and
/// no proof is returned.
pub fn prove(
    c: &Compiled,
    keys: &Keys,
    values: &[InputValue],
    binding: Fr,
) -> Result<Proven, ProveError> {
    let synth = |e: SynthesisError| ProveError::Synthesis(e.to_string());
    // The circuit is synthesised once, for its witness alone (no constraints built): the
    // matrices were kept at compile time. Which rules hold comes from the trace; whether every
    // constraint holds is checked against the matrices (the prover itself would make a proof
    // that does not verify, or panic in debug builds).
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: false,
    });
    let (circ, trace) = circuit(c, Some(values), Some(binding));
    circ.generate_constraints(cs.clone()).map_err(synth)?;
    let trace = trace.take();
    for (rule, outcome) in c.program.rules.iter().zip(&trace.rules) {
        if rule.enforce && *outcome != Some(true) {
            return Err(ProveError::RuleFailed(rule.name.clone()));
        }
    }
    let m = &*c.matrices;
    let assignment: Vec<Fr> = {
        let cs = cs
            .borrow()
            .ok_or(ProveError::Synthesis("no constraint system".into()))?;
        let mut a = cs.instance_assignment.clone();
        a.extend_from_slice(&cs.witness_assignment);
        a
    };
    if assignment.len() != m.num_instance_variables + m.num_witness_variables {
        return Err(ProveError::Synthesis(format!(
            "the witness has {} variables where the circuit has {}",
            assignment.len(),
            m.num_instance_variables + m.num_witness_variables
        )));
    }
    if let Some(at) = unsatisfied(m, &assignment) {
        return Err(ProveError::Synthesis(format!(
            "constraint {at} does not hold"
        )));
    }
    let mut rng = rand::rngs::OsRng;
    let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
    let create = || {
        Groth16::<Bn254>::create_proof_with_reduction_and_matrices(
            &keys.pk,
            r,
            s,
            m,
            m.num_instance_variables,
            m.num_constraints,
            &assignment,
        )
    };
    let proof = if m.num_constraints < PARALLEL_FROM_CONSTRAINTS {
        SOLO.with(|pool| match pool {
            Some(pool) => pool.install(create),
            None => create(),
        })
    } else {
        create()
    }
    .map_err(synth)?;
    let n_params = c.program.public_inputs().count();
    let outputs = c
        .program
        .outputs
        .iter()
        .zip(&trace.public[n_params..])
        .map(|((name, _), v)| (name.clone(), *v == Fr::from(1u8)))
        .collect();
    Ok(Proven {
        proof,
        public: trace.public,
        outputs,
    })
}

/// The first constraint `⟨A,z⟩·⟨B,z⟩ = ⟨C,z⟩` that `z` does not satisfy.
fn unsatisfied(m: &ConstraintMatrices<Fr>, z: &[Fr]) -> Option<usize> {
    let row = |r: &[(Fr, usize)]| r.iter().map(|(k, i)| *k * z[*i]).sum::<Fr>();
    (0..m.num_constraints).find(|&i| row(&m.a[i]) * row(&m.b[i]) != row(&m.c[i]))
}

/// Whether `proof` proves `public` for these keys (a wrong number of public inputs is `false`).
pub fn verify(pvk: &PreparedVerifyingKey<Bn254>, public: &[Fr], proof: &Proof<Bn254>) -> bool {
    public.len() + 1 == pvk.vk.gamma_abc_g1.len()
        && Groth16::<Bn254>::verify_with_processed_vk(pvk, public, proof).unwrap_or(false)
}

/// Read [`proof_bytes`]'s encoding (points checked on the curve and subgroup).
pub fn proof_from_bytes(bytes: &[u8]) -> Option<Proof<Bn254>> {
    Proof::<Bn254>::deserialize_compressed(bytes).ok()
}

/// The `binding` public input that ties a proof to one HTTP request at a proof gate
/// (docs/DSL.md §10): SHA-256 of `"vesper/v1/proof-gate\0"` and the method, the path with its
/// query, the timestamp (unix seconds, decimal), the nonce and the image id, separated by
/// `\n`, read as a big-endian number reduced modulo p.
pub fn gate_binding(method: &str, path: &str, timestamp: u64, nonce: &str, image_id: &str) -> Fr {
    use ark_ff::PrimeField;
    let text = format!("{method}\n{path}\n{timestamp}\n{nonce}\n{image_id}");
    let digest = Sha256::new()
        .chain_update(b"vesper/v1/proof-gate\0")
        .chain_update(text.as_bytes())
        .finalize();
    Fr::from_be_bytes_mod_order(&digest)
}

/// JSON with object keys sorted and no insignificant whitespace.
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), canonical_json(&m[*k])))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The type of each public input, for readers of `public_inputs` (the CLI and the docs).
pub fn public_input_types(c: &Compiled) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = c
        .program
        .public_inputs()
        .map(|(_, i)| match i.ty {
            InputType::Integer { .. } => "integer",
            InputType::Decimal { .. } => "decimal (scaled)",
            InputType::Date => "date (YYYYMMDD)",
            InputType::Bool => "bool",
            InputType::String => "string (SHA-256 mod p)",
            InputType::Field | InputType::MerklePath { .. } => "field",
        })
        .collect();
    out.extend(c.program.outputs.iter().map(|_| "bool"));
    out.push("field");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One constraint, `x · x = y`, over `z = (1, y, x)`.
    fn square() -> ConstraintMatrices<Fr> {
        let one = Fr::from(1u8);
        ConstraintMatrices {
            num_instance_variables: 2,
            num_witness_variables: 1,
            num_constraints: 1,
            a_num_non_zero: 1,
            b_num_non_zero: 1,
            c_num_non_zero: 1,
            a: vec![vec![(one, 2)]],
            b: vec![vec![(one, 2)]],
            c: vec![vec![(one, 1)]],
        }
    }

    #[test]
    fn unsatisfied_names_the_first_failing_constraint() {
        let m = square();
        let z = |y: u8, x: u8| [Fr::from(1u8), Fr::from(y), Fr::from(x)];
        assert_eq!(unsatisfied(&m, &z(9, 3)), None);
        assert_eq!(unsatisfied(&m, &z(9, 4)), Some(0));
    }
}
