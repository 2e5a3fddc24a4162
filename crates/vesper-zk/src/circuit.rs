//! A checked program as an R1CS circuit over BN254's scalar field.
//!
//! **Public inputs**, in this order (a verifier passes them so): each public parameter in the
//! program's order (one field element each: numbers and dates as integers, bools as 0/1,
//! strings hashed, fields as they are); then each output by name (0/1); then `binding`, a
//! field element the prover chooses to tie the proof to a context (a request, a nonce), which
//! the circuit constrains so that it cannot be changed after proving.
//!
//! **Numbers** (integers, scaled decimals, `YYYYMMDD` dates) are checked at allocation against
//! their declared range, and the compiler tracks a bound on every expression's magnitude, so
//! that a comparison decomposes the difference into just enough bits (never wrapping around
//! the modulus; expressions whose bound passes 2^120 are refused at compile time).

use std::cell::RefCell;
use std::rc::Rc;

use ark_bn254::Fr;
use ark_ff::{BigInteger, Field, PrimeField};
use ark_r1cs_std::fields::fp::FpVar;
use ark_r1cs_std::prelude::*;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};

use crate::dsl::{Check, CmpOp, Expr, InputType, Output, Program};
use crate::field;
use crate::inputs::InputValue;
use crate::poseidon;

/// Largest magnitude bound an expression may have (bits).
pub const MAX_BOUND_BITS: u32 = 120;
const DATE_MIN: i128 = 10000101;
const DATE_MAX: i128 = 99991231;

/// What a synthesis found out, for the caller (the prover reads it after `prove`).
#[derive(Debug, Default)]
pub struct Trace {
    /// Each rule's outcome, when values were given.
    pub rules: Vec<Option<bool>>,
    /// The public inputs, in order, when values were given.
    pub public: Vec<Fr>,
    /// The rule whose comparison could exceed the bound limit (a compile error).
    pub too_large: Option<String>,
}

/// The circuit of `program`; `values` is `None` for key generation.
pub struct Circuit<'a> {
    pub program: &'a Program,
    pub values: Option<&'a [InputValue]>,
    pub binding: Option<Fr>,
    pub trace: Rc<RefCell<Trace>>,
}

/// An allocated input.
#[derive(Clone)]
enum Var {
    Num {
        v: FpVar<Fr>,
        bound: u128,
    },
    Bool(Boolean<Fr>),
    Field(FpVar<Fr>),
    Path {
        siblings: Vec<FpVar<Fr>>,
        bits: Vec<Boolean<Fr>>,
    },
}

/// An evaluated expression: a field value and, for numbers, a bound on its magnitude.
struct Val {
    v: FpVar<Fr>,
    bound: u128,
}

fn bits_for(bound: u128) -> u32 {
    128 - bound.leading_zeros()
}

fn too_large() -> SynthesisError {
    SynthesisError::Unsatisfiable
}

impl<'a> Circuit<'a> {
    fn value(&self, i: usize) -> Result<&'a InputValue, SynthesisError> {
        self.values
            .map(|v| &v[i])
            .ok_or(SynthesisError::AssignmentMissing)
    }
}

/// `x` in `[0, 2^bits)`: allocate its bits and constrain their sum. Returns the bits.
fn range(
    cs: &ConstraintSystemRef<Fr>,
    x: &FpVar<Fr>,
    bits: u32,
) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    let value = x.value().ok();
    let le: Vec<Boolean<Fr>> = (0..bits)
        .map(|i| {
            Boolean::new_witness(cs.clone(), || {
                let v = value.ok_or(SynthesisError::AssignmentMissing)?;
                Ok(v.into_bigint().get_bit(i as usize))
            })
        })
        .collect::<Result<_, _>>()?;
    Boolean::le_bits_to_fp(&le)?.enforce_equal(x)?;
    Ok(le)
}

/// `lo <= x <= hi` for constants, with `x` of any value: `x - lo` and `hi - x` both fit in
/// `bits(hi - lo)` bits.
fn in_bounds(
    cs: &ConstraintSystemRef<Fr>,
    x: &FpVar<Fr>,
    lo: i128,
    hi: i128,
) -> Result<(), SynthesisError> {
    let bits = bits_for((hi - lo) as u128).max(1);
    range(cs, &(x - field::from_i128(lo)), bits)?;
    range(cs, &(FpVar::Constant(field::from_i128(hi)) - x), bits)?;
    Ok(())
}

/// `a >= b` for values whose magnitudes are below `2^k` with `k = bits(bound_a + bound_b)`:
/// `a - b + 2^k` lies in `[0, 2^(k+1))`, and its top bit says whether `a - b >= 0`.
fn is_ge(cs: &ConstraintSystemRef<Fr>, a: &Val, b: &Val) -> Result<Boolean<Fr>, SynthesisError> {
    let k = bits_for(a.bound + b.bound);
    if k >= MAX_BOUND_BITS {
        return Err(too_large());
    }
    let shifted = &a.v - &b.v + field::from_i128(1i128 << k);
    let bits = range(cs, &shifted, k + 1)?;
    Ok(bits[k as usize].clone())
}

impl ConstraintSynthesizer<Fr> for Circuit<'_> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let p = self.program;
        let mut vars = Vec::with_capacity(p.inputs.len());
        let mut trace = Trace::default();
        // Inputs: private ones as witnesses, public ones as instance variables, in order.
        for (i, input) in p.inputs.iter().enumerate() {
            let mode = if input.private {
                AllocationMode::Witness
            } else {
                AllocationMode::Input
            };
            let num = |cs: &ConstraintSystemRef<Fr>| {
                FpVar::new_variable(
                    cs.clone(),
                    || {
                        self.value(i)?
                            .as_field()
                            .ok_or(SynthesisError::AssignmentMissing)
                    },
                    mode,
                )
            };
            let var = match &input.ty {
                InputType::Integer { min, max } | InputType::Decimal { min, max, .. } => {
                    let v = num(&cs)?;
                    in_bounds(&cs, &v, *min as i128, *max as i128)?;
                    Var::Num {
                        v,
                        bound: (*min as i128)
                            .unsigned_abs()
                            .max((*max as i128).unsigned_abs()),
                    }
                }
                InputType::Date => {
                    let v = num(&cs)?;
                    in_bounds(&cs, &v, DATE_MIN, DATE_MAX)?;
                    Var::Num {
                        v,
                        bound: DATE_MAX as u128,
                    }
                }
                InputType::Bool => Var::Bool(Boolean::new_variable(
                    cs.clone(),
                    || match self.value(i)? {
                        InputValue::Num(x) => Ok(*x != 0),
                        _ => Err(SynthesisError::AssignmentMissing),
                    },
                    mode,
                )?),
                InputType::String | InputType::Field => Var::Field(num(&cs)?),
                InputType::MerklePath { depth } => {
                    let path = self.values.map(|v| &v[i]);
                    let siblings = (0..*depth)
                        .map(|d| {
                            FpVar::new_witness(cs.clone(), || match path {
                                Some(InputValue::Path { siblings, .. }) => Ok(siblings[d]),
                                _ => Err(SynthesisError::AssignmentMissing),
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let bits = (0..*depth)
                        .map(|d| {
                            Boolean::new_witness(cs.clone(), || match path {
                                Some(InputValue::Path { index, .. }) => Ok((index >> d) & 1 == 1),
                                _ => Err(SynthesisError::AssignmentMissing),
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Var::Path { siblings, bits }
                }
            };
            if !input.private
                && let Some(v) = self.values
            {
                trace
                    .public
                    .push(v[i].as_field().expect("public inputs are single values"));
            }
            vars.push(var);
        }
        // Rules, in order (a rule may refer to earlier ones).
        let mut outcomes: Vec<Boolean<Fr>> = Vec::with_capacity(p.rules.len());
        for rule in &p.rules {
            let b = check(&cs, &vars, &outcomes, &rule.check).inspect_err(|_| {
                self.trace.borrow_mut().too_large = Some(rule.name.clone());
            })?;
            trace.rules.push(b.value().ok());
            outcomes.push(b);
        }
        let enforced: Vec<Boolean<Fr>> = p
            .rules
            .iter()
            .zip(&outcomes)
            .filter(|(r, _)| r.enforce)
            .map(|(_, b)| b.clone())
            .collect();
        for b in &enforced {
            b.enforce_equal(&Boolean::TRUE)?;
        }
        // Outputs, as public inputs equal to what they name.
        for (_, out) in &p.outputs {
            let value = match out {
                Output::AllRules => Boolean::TRUE,
                Output::Rule(i) => outcomes[*i].clone(),
            };
            let o = Boolean::new_input(cs.clone(), || value.value())?;
            o.enforce_equal(&value)?;
            if let Ok(v) = o.value() {
                trace.public.push(Fr::from(v as u8));
            }
        }
        // The binding: squared into a witness, so that its instance variable is constrained.
        let binding = FpVar::new_input(cs.clone(), || {
            self.binding.ok_or(SynthesisError::AssignmentMissing)
        })?;
        let sq = FpVar::new_witness(cs.clone(), || Ok(binding.value()?.square()))?;
        (&binding * &binding).enforce_equal(&sq)?;
        if let Some(b) = self.binding {
            trace.public.push(b);
        }
        *self.trace.borrow_mut() = trace;
        Ok(())
    }
}

fn check(
    cs: &ConstraintSystemRef<Fr>,
    vars: &[Var],
    rules: &[Boolean<Fr>],
    c: &Check,
) -> Result<Boolean<Fr>, SynthesisError> {
    Ok(match c {
        Check::Cmp(op, a, b) => {
            let (a, b) = (expr(cs, vars, a)?, expr(cs, vars, b)?);
            match op {
                CmpOp::Gte => is_ge(cs, &a, &b)?,
                CmpOp::Lte => is_ge(cs, &b, &a)?,
                CmpOp::Gt => !is_ge(cs, &b, &a)?,
                CmpOp::Lt => !is_ge(cs, &a, &b)?,
            }
        }
        Check::Eq(a, b) => expr(cs, vars, a)?.v.is_eq(&expr(cs, vars, b)?.v)?,
        Check::Neq(a, b) => expr(cs, vars, a)?.v.is_neq(&expr(cs, vars, b)?.v)?,
        Check::Between(x, lo, hi) => {
            let (x, lo, hi) = (expr(cs, vars, x)?, expr(cs, vars, lo)?, expr(cs, vars, hi)?);
            is_ge(cs, &x, &lo)? & is_ge(cs, &hi, &x)?
        }
        Check::InSet { value, path, root } => {
            let Var::Path { siblings, bits } = &vars[*path] else {
                unreachable!("the DSL checked the path's type")
            };
            let mut cur = expr(cs, vars, value)?.v;
            for (sib, bit) in siblings.iter().zip(bits) {
                let left = bit.select(sib, &cur)?;
                let right = bit.select(&cur, sib)?;
                cur = poseidon::hash_var(&[left, right])?;
            }
            cur.is_eq(&expr(cs, vars, root)?.v)?
        }
        Check::All(cs_) => Boolean::kary_and(
            &cs_.iter()
                .map(|c| check(cs, vars, rules, c))
                .collect::<Result<Vec<_>, _>>()?,
        )?,
        Check::Any(cs_) => Boolean::kary_or(
            &cs_.iter()
                .map(|c| check(cs, vars, rules, c))
                .collect::<Result<Vec<_>, _>>()?,
        )?,
        Check::Not(c) => !check(cs, vars, rules, c)?,
        Check::Rule(i) => rules[*i].clone(),
        Check::Truth(e) => match e {
            Expr::Bool(b) => Boolean::constant(*b),
            Expr::Input(i) => match &vars[*i] {
                Var::Bool(b) => b.clone(),
                _ => unreachable!("the DSL checked the kind"),
            },
            _ => unreachable!("the DSL checked the kind"),
        },
    })
}

fn expr(cs: &ConstraintSystemRef<Fr>, vars: &[Var], e: &Expr) -> Result<Val, SynthesisError> {
    let konst = |v: i128| Val {
        v: FpVar::Constant(field::from_i128(v)),
        bound: v.unsigned_abs(),
    };
    Ok(match e {
        Expr::Const { value, .. } => konst(*value),
        Expr::Date(d) => konst(*d as i128),
        Expr::Bool(b) => konst(*b as i128),
        Expr::Str(s) => Val {
            v: FpVar::Constant(field::from_string(s)),
            bound: u128::MAX,
        },
        Expr::Input(i) => match &vars[*i] {
            Var::Num { v, bound } => Val {
                v: v.clone(),
                bound: *bound,
            },
            Var::Bool(b) => Val {
                v: b.clone().into(),
                bound: 1,
            },
            Var::Field(v) => Val {
                v: v.clone(),
                bound: u128::MAX,
            },
            Var::Path { .. } => unreachable!("the DSL checked the kind"),
        },
        Expr::Add(es) => {
            let mut acc = Val {
                v: FpVar::Constant(Fr::from(0u8)),
                bound: 0,
            };
            for e in es {
                let x = expr(cs, vars, e)?;
                acc = Val {
                    v: acc.v + x.v,
                    bound: acc.bound.saturating_add(x.bound),
                };
            }
            acc
        }
        Expr::Sub(a, b) => {
            let (a, b) = (expr(cs, vars, a)?, expr(cs, vars, b)?);
            Val {
                v: a.v - b.v,
                bound: a.bound.saturating_add(b.bound),
            }
        }
        Expr::Mul(a, b) => {
            let (a, b) = (expr(cs, vars, a)?, expr(cs, vars, b)?);
            Val {
                v: a.v * b.v,
                bound: a.bound.saturating_mul(b.bound),
            }
        }
        Expr::YearsBetween(from, to) => {
            // diff = 10000 q + r with 0 <= r <= 9999: q = floor(diff / 10000), whole years.
            let diff = expr(cs, vars, to)?.v - expr(cs, vars, from)?.v;
            let span = DATE_MAX - DATE_MIN;
            let d = diff.value().ok().map(|f| signed(&f));
            let q = FpVar::new_witness(cs.clone(), || {
                Ok(field::from_i128(
                    d.ok_or(SynthesisError::AssignmentMissing)?
                        .div_euclid(10_000),
                ))
            })?;
            let r = FpVar::new_witness(cs.clone(), || {
                Ok(field::from_i128(
                    d.ok_or(SynthesisError::AssignmentMissing)?
                        .rem_euclid(10_000),
                ))
            })?;
            (&q * Fr::from(10_000u32) + &r).enforce_equal(&diff)?;
            in_bounds(cs, &r, 0, 9_999)?;
            let qmax = span / 10_000 + 1;
            in_bounds(cs, &q, -qmax, qmax)?;
            Val {
                v: q,
                bound: qmax as u128,
            }
        }
        Expr::Poseidon(es) => {
            let xs = es
                .iter()
                .map(|e| expr(cs, vars, e).map(|x| x.v))
                .collect::<Result<Vec<_>, _>>()?;
            Val {
                v: poseidon::hash_var(&xs)?,
                bound: u128::MAX,
            }
        }
    })
}

/// A field element read as a signed integer (values above (p-1)/2 are negative).
fn signed(f: &Fr) -> i128 {
    let neg = -*f;
    let small = |x: &Fr| -> Option<i128> {
        let b = x.into_bigint();
        let limbs = b.as_ref();
        (limbs[2] == 0 && limbs[3] == 0 && limbs[1] < (1 << 62))
            .then(|| ((limbs[1] as i128) << 64) | limbs[0] as i128)
    };
    match small(f) {
        Some(v) => v,
        None => -small(&neg).unwrap_or(0),
    }
}
