//! A prove request's values (`private_inputs`, `public_params`) read against a program's
//! declarations: every value typed, in range, and turned into what the circuit takes. Every
//! error names its JSON path, like the DSL's. A public date declared with `"default":
//! "today"` that the request omits is filled in with the caller's `today` (the gateway's
//! clock), and is then a public input like any other.

use ark_bn254::Fr;
use serde_json::Value;

use crate::dsl::{DslError, Input, InputType, Program, parse_date, parse_decimal};
use crate::field;

/// One input's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputValue {
    /// An integer, a scaled decimal, a date (`YYYYMMDD`) or a bool (0/1).
    Num(i128),
    /// A field element (`field` or a hashed `string`).
    Field(Fr),
    /// A Merkle path: the siblings from the leaf up, and the leaf's index.
    Path { siblings: Vec<Fr>, index: u64 },
}

impl InputValue {
    /// The value as one field element (a public input's encoding); `None` for a path.
    pub fn as_field(&self) -> Option<Fr> {
        match self {
            InputValue::Num(v) => Some(field::from_i128(*v)),
            InputValue::Field(f) => Some(*f),
            InputValue::Path { .. } => None,
        }
    }
}

/// Read the request's values for `program`. `today` is `YYYYMMDD`.
pub fn read(
    program: &Program,
    private_inputs: &Value,
    public_params: &Value,
    today: i64,
) -> Result<Vec<InputValue>, Vec<DslError>> {
    let mut errors = Vec::new();
    let mut values = Vec::with_capacity(program.inputs.len());
    for section in ["private_inputs", "public_params"] {
        let given = if section == "private_inputs" {
            private_inputs
        } else {
            public_params
        };
        if !given.is_object() && !given.is_null() {
            errors.push(DslError {
                path: section.into(),
                message: "an object".into(),
            });
        }
        check_unknown(program, given, section, &mut errors);
    }
    for input in &program.inputs {
        let (root, rest) = input.path.split_once('.').expect("paths have a section");
        let given = if root == "private_inputs" {
            private_inputs
        } else {
            public_params
        };
        let found = rest.split('.').try_fold(given, |v, k| v.get(k));
        match (found, input.default_today) {
            (None | Some(Value::Null), true) => values.push(InputValue::Num(today as i128)),
            (None, false) => {
                errors.push(DslError {
                    path: input.path.clone(),
                    message: "missing".into(),
                });
                values.push(InputValue::Num(0));
            }
            (Some(v), _) => match value(input, v) {
                Ok(x) => values.push(x),
                Err(message) => {
                    errors.push(DslError {
                        path: input.path.clone(),
                        message,
                    });
                    values.push(InputValue::Num(0));
                }
            },
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

/// Keys in the request that no declaration names (a typo would otherwise go unnoticed).
fn check_unknown(program: &Program, v: &Value, path: &str, errors: &mut Vec<DslError>) {
    let Some(obj) = v.as_object() else { return };
    for (k, child) in obj {
        let p = format!("{path}.{k}");
        let declared = program.inputs.iter().any(|i| i.path == p);
        let group = program
            .inputs
            .iter()
            .any(|i| i.path.starts_with(&format!("{p}.")));
        if group {
            check_unknown(program, child, &p, errors);
        } else if !declared {
            errors.push(DslError {
                path: p,
                message: "not declared by this program".into(),
            });
        }
    }
}

fn value(input: &Input, v: &Value) -> Result<InputValue, String> {
    match &input.ty {
        InputType::Integer { min, max } => {
            let x = v.as_i64().ok_or("an integer")?;
            in_range(x as i128, *min, *max, 0)
        }
        InputType::Decimal { scale, min, max } => {
            let text = match v {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => return Err("a decimal number (or its text)".into()),
            };
            let (x, s) = parse_decimal(&text).ok_or("a decimal number within ±2^62")?;
            if s > *scale {
                return Err(format!("at most {scale} digits after the point"));
            }
            in_range(x * 10i128.pow(scale - s), *min, *max, *scale)
        }
        InputType::Date => {
            let s = v.as_str().ok_or("a date YYYY-MM-DD")?;
            parse_date(s)
                .map(|d| InputValue::Num(d as i128))
                .ok_or_else(|| "a date YYYY-MM-DD".into())
        }
        InputType::Bool => v
            .as_bool()
            .map(|b| InputValue::Num(b as i128))
            .ok_or_else(|| "true or false".into()),
        InputType::String => match v.as_str() {
            Some(s) if s.len() <= 4096 => Ok(InputValue::Field(field::from_string(s))),
            _ => Err("a string of at most 4096 bytes".into()),
        },
        InputType::Field => field_value(v),
        InputType::MerklePath { depth } => {
            let o = v.as_object().ok_or("{\"siblings\": [...], \"index\": n}")?;
            let sib = o
                .get("siblings")
                .and_then(Value::as_array)
                .ok_or("siblings: a list")?;
            if sib.len() != *depth {
                return Err(format!("{depth} siblings"));
            }
            let siblings = sib
                .iter()
                .map(|s| match field_value(s) {
                    Ok(InputValue::Field(f)) => Ok(f),
                    _ => Err("siblings are field elements (decimal or 0x hex)".to_owned()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let index = o
                .get("index")
                .and_then(Value::as_u64)
                .ok_or("index: a whole number")?;
            if *depth < 64 && index >= 1u64 << depth {
                return Err(format!("index below 2^{depth}"));
            }
            if o.len() != 2 {
                return Err("only siblings and index".into());
            }
            Ok(InputValue::Path { siblings, index })
        }
    }
}

fn field_value(v: &Value) -> Result<InputValue, String> {
    let f = match v {
        Value::String(s) => field::parse(s),
        Value::Number(n) => n.as_u64().map(Fr::from),
        _ => None,
    };
    f.map(InputValue::Field).ok_or_else(|| {
        "a field element: decimal or 0x-hex text below the BN254 scalar modulus".into()
    })
}

fn in_range(x: i128, min: i64, max: i64, scale: u32) -> Result<InputValue, String> {
    if x < min as i128 || x > max as i128 {
        let show = |v: i64| {
            if scale == 0 {
                v.to_string()
            } else {
                format!("{}", v as f64 / 10f64.powi(scale as i32))
            }
        };
        return Err(format!("out of range [{}, {}]", show(min), show(max)));
    }
    Ok(InputValue::Num(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn age() -> Program {
        crate::dsl::parse(
            &serde_json::from_str(include_str!("../../../templates/age_verification.json"))
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn reads_the_seed_example_and_fills_in_today() {
        let p = age();
        let v = read(
            &p,
            &json!({"user_data": {"date_of_birth": "1990-01-01"}}),
            &json!({"min_age": 18}),
            20261201,
        )
        .unwrap();
        assert_eq!(
            v,
            vec![
                InputValue::Num(19900101),
                InputValue::Num(18),
                InputValue::Num(20261201)
            ]
        );
        // An explicit today wins.
        let v = read(
            &p,
            &json!({"user_data": {"date_of_birth": "1990-01-01"}}),
            &json!({"min_age": 18, "today": "2000-01-01"}),
            20261201,
        )
        .unwrap();
        assert_eq!(v[2], InputValue::Num(20000101));
    }

    #[test]
    fn every_bad_value_is_named() {
        let p = age();
        let errs = read(
            &p,
            &json!({"user_data": {"date_of_birth": "1990-02-30", "name": "x"}}),
            &json!({"min_age": 200}),
            20261201,
        )
        .unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "private_inputs.user_data.name",
                "private_inputs.user_data.date_of_birth",
                "public_params.min_age"
            ]
        );
    }
}
