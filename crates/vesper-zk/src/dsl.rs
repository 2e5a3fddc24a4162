//! The rule DSL (docs/DSL.md): JSON in, a checked program out.
//!
//! [`parse`] walks the JSON by hand, not through serde's derive, so that it can report
//! **every** error with its JSON path (`validation_rules[0].check.gte[1]`) instead of the first
//! one. The result, [`Program`], names each input by index and each rule by index; the
//! compiler (`circuit.rs`) and the input reader (`inputs.rs`) work on it only.

use serde_json::{Map, Value};

/// Inputs a program may declare, rules, expression nesting: limits on what a stranger's DSL
/// may ask the compiler to build.
pub const MAX_INPUTS: usize = 64;
pub const MAX_RULES: usize = 64;
pub const MAX_DEPTH: usize = 16;
pub const MAX_MERKLE_DEPTH: usize = 32;
pub const MAX_HASH_INPUTS: usize = 12;
/// Integers and scaled decimals live in [-2^62, 2^62).
pub const INT_BITS: u32 = 62;

/// One error in a DSL document: where (a JSON path) and what.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DslError {
    pub path: String,
    pub message: String,
}

/// The type of an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputType {
    /// A whole number in `[min, max]` (both within ±2^62).
    Integer {
        min: i64,
        max: i64,
    },
    /// A decimal with `scale` digits after the point, held as `value × 10^scale`.
    Decimal {
        scale: u32,
        min: i64,
        max: i64,
    },
    /// A calendar date `YYYY-MM-DD`, held as the number `YYYYMMDD`.
    Date,
    Bool,
    /// A string, held as SHA-256(UTF-8) reduced into the field.
    String,
    /// A field element (a Merkle root, a commitment): decimal or `0x` hex, below the modulus.
    Field,
    /// A Merkle authentication path of `depth` levels: `{"siblings": [field; depth], "index"}`.
    MerklePath {
        depth: usize,
    },
}

impl InputType {
    fn kind(&self) -> Kind {
        match self {
            InputType::Integer { .. } => Kind::Num(0),
            InputType::Decimal { scale, .. } => Kind::Num(*scale),
            InputType::Date => Kind::Date,
            InputType::Bool => Kind::Bool,
            InputType::String | InputType::Field => Kind::Field,
            InputType::MerklePath { .. } => Kind::Path,
        }
    }
}

/// What an expression denotes, for type checking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A number with this many decimal digits of scale (0: an integer).
    Num(u32),
    Date,
    Bool,
    Field,
    Path,
}

/// A declared input (private or public).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// Its path in the request, e.g. `private_inputs.user_data.date_of_birth`.
    pub path: String,
    pub ty: InputType,
    pub private: bool,
    /// `public_params` only: `"today"` for a date the gateway fills in when the request omits it.
    pub default_today: bool,
}

/// A value expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// A constant, already scaled to `scale`.
    Const {
        value: i128,
        scale: u32,
    },
    /// A date literal, as `YYYYMMDD`.
    Date(i64),
    Bool(bool),
    /// A string literal (hashed into the field like a `string` input).
    Str(String),
    Input(usize),
    Add(Vec<Expr>),
    Sub(Box<Expr>, Box<Expr>),
    Mul(Box<Expr>, Box<Expr>),
    /// Whole years from the first date to the second (by `YYYYMMDD` arithmetic: the
    /// anniversary counts from its day on).
    YearsBetween(Box<Expr>, Box<Expr>),
    /// circomlib-compatible Poseidon hash of 1 to 12 values.
    Poseidon(Vec<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A boolean check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    Cmp(CmpOp, Expr, Expr),
    Eq(Expr, Expr),
    Neq(Expr, Expr),
    Between(Expr, Expr, Expr),
    /// `value` is a leaf of the Merkle tree with root `root`, by the private path `path`.
    InSet {
        value: Expr,
        path: usize,
        root: Expr,
    },
    All(Vec<Check>),
    Any(Vec<Check>),
    Not(Box<Check>),
    /// Another rule's outcome (defined earlier in the list).
    Rule(usize),
    /// A `bool` input or literal.
    Truth(Expr),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub description: String,
    pub check: Check,
    /// Enforced rules must hold for a proof to exist; others only feed outputs.
    pub enforce: bool,
}

/// A named public output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// `true`: every enforced rule held (the seed's `compliance_result`).
    AllRules,
    /// The outcome of a rule (usually one with `"enforce": false`).
    Rule(usize),
}

/// A checked DSL document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    pub use_case: String,
    pub description: String,
    pub version: String,
    /// Private inputs first, then public parameters, each sorted by path (so the order does
    /// not depend on how a JSON library orders keys).
    pub inputs: Vec<Input>,
    pub rules: Vec<Rule>,
    /// Outputs by name, sorted by name.
    pub outputs: Vec<(String, Output)>,
}

impl Program {
    pub fn input(&self, path: &str) -> Option<usize> {
        self.inputs.iter().position(|i| i.path == path)
    }
    pub fn public_inputs(&self) -> impl Iterator<Item = (usize, &Input)> {
        self.inputs.iter().enumerate().filter(|(_, i)| !i.private)
    }
}

/// Parse and check a DSL document. `Err` holds every error found, each with its path.
pub fn parse(doc: &Value) -> Result<Program, Vec<DslError>> {
    let mut p = Parser::default();
    let prog = p.program(doc);
    if p.errors.is_empty() {
        Ok(prog.expect("no errors means a program"))
    } else {
        Err(p.errors)
    }
}

#[derive(Default)]
struct Parser {
    errors: Vec<DslError>,
    inputs: Vec<Input>,
    rule_names: Vec<String>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Parser {
    fn err(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(DslError {
            path: path.to_owned(),
            message: message.into(),
        });
    }

    fn program(&mut self, doc: &Value) -> Option<Program> {
        let Some(obj) = doc.as_object() else {
            self.err("", "a DSL document is a JSON object");
            return None;
        };
        const KEYS: [&str; 7] = [
            "use_case",
            "description",
            "version",
            "private_inputs",
            "public_params",
            "validation_rules",
            "outputs",
        ];
        for k in obj.keys() {
            if !KEYS.contains(&k.as_str()) {
                self.err(
                    k,
                    format!("unknown field (expected one of {})", KEYS.join(", ")),
                );
            }
        }
        let use_case = self.string_field(obj, "", "use_case", true);
        if !use_case.is_empty() && !valid_ident(&use_case) {
            self.err(
                "use_case",
                "1-64 characters of [A-Za-z0-9_], starting with a letter",
            );
        }
        let description = self.string_field(obj, "", "description", false);
        let version = self.string_field(obj, "", "version", true);
        for (section, private) in [("private_inputs", true), ("public_params", false)] {
            match obj.get(section) {
                Some(Value::Object(m)) => self.declarations(m, section, private),
                Some(_) => self.err(section, "an object of input declarations"),
                None if private => self.err(section, "missing"),
                None => {}
            }
        }
        // Canonical order, whatever order the JSON library keeps keys in: private inputs,
        // then public ones, each by path. Rules are read after this and refer to it.
        self.inputs
            .sort_by(|a, b| (!a.private, &a.path).cmp(&(!b.private, &b.path)));
        if self.inputs.len() > MAX_INPUTS {
            self.err("", format!("at most {MAX_INPUTS} inputs"));
        }
        let mut rules = Vec::new();
        match obj.get("validation_rules") {
            Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_RULES => {
                for (i, r) in a.iter().enumerate() {
                    if let Some(r) = self.rule(r, &format!("validation_rules[{i}]")) {
                        rules.push(r);
                    }
                }
            }
            Some(_) => self.err(
                "validation_rules",
                format!("a list of 1 to {MAX_RULES} rules"),
            ),
            None => self.err("validation_rules", "missing"),
        }
        let outputs = self.outputs(obj.get("outputs"));
        if !self.errors.is_empty() {
            return None;
        }
        Some(Program {
            use_case,
            description,
            version,
            inputs: std::mem::take(&mut self.inputs),
            rules,
            outputs,
        })
    }

    fn string_field(
        &mut self,
        obj: &Map<String, Value>,
        base: &str,
        key: &str,
        required: bool,
    ) -> String {
        let path = join(base, key);
        match obj.get(key) {
            Some(Value::String(s)) if s.len() <= 1024 => s.clone(),
            Some(Value::String(_)) => {
                self.err(&path, "at most 1024 characters");
                String::new()
            }
            Some(_) => {
                self.err(&path, "a string");
                String::new()
            }
            None if required => {
                self.err(&path, "missing");
                String::new()
            }
            None => String::new(),
        }
    }

    /// Input declarations: nested objects are groups (`user_data.date_of_birth`); an object
    /// with a `type` is a declaration.
    fn declarations(&mut self, m: &Map<String, Value>, base: &str, private: bool) {
        for (k, v) in m {
            let path = join(base, k);
            if !valid_ident(k) {
                self.err(
                    &path,
                    "names are 1-64 characters of [A-Za-z0-9_], starting with a letter",
                );
                continue;
            }
            let Some(o) = v.as_object() else {
                self.err(&path, "a declaration `{\"type\": ...}` or a group of them");
                continue;
            };
            if path.matches('.').count() > 4 {
                self.err(&path, "groups nest at most 4 deep");
                continue;
            }
            if o.contains_key("type") {
                if let Some(ty) = self.input_type(o, &path, private) {
                    let default_today = match o.get("default") {
                        None => false,
                        Some(Value::String(s))
                            if s == "today" && ty == InputType::Date && !private =>
                        {
                            true
                        }
                        Some(_) => {
                            self.err(
                                &join(&path, "default"),
                                "only a public date may have a default, and it is \"today\"",
                            );
                            false
                        }
                    };
                    self.inputs.push(Input {
                        path,
                        ty,
                        private,
                        default_today,
                    });
                }
            } else {
                self.declarations(o, &path, private);
            }
        }
    }

    fn input_type(
        &mut self,
        o: &Map<String, Value>,
        path: &str,
        private: bool,
    ) -> Option<InputType> {
        let allowed: &[&str] = match o.get("type").and_then(Value::as_str) {
            Some("integer") => &["type", "min", "max", "description"],
            Some("decimal") => &["type", "scale", "min", "max", "description"],
            Some("date" | "bool" | "string" | "field") => &["type", "default", "description"],
            Some("merkle_path") => &["type", "depth", "description"],
            _ => {
                self.err(
                    &join(path, "type"),
                    "one of integer, decimal, date, bool, string, field, merkle_path",
                );
                return None;
            }
        };
        for k in o.keys() {
            if !allowed.contains(&k.as_str()) {
                self.err(&join(path, k), "unknown field for this type");
            }
        }
        let limit = (1i64 << INT_BITS) - 1;
        let bound = |this: &mut Self, key: &str, dflt: i64| -> i64 {
            match o.get(key) {
                None => dflt,
                Some(v) => match v.as_i64() {
                    Some(x) if (-limit..=limit).contains(&x) => x,
                    _ => {
                        this.err(
                            &join(path, key),
                            format!("an integer within ±(2^{INT_BITS} - 1)"),
                        );
                        dflt
                    }
                },
            }
        };
        let ty = match o["type"].as_str().expect("matched above") {
            "integer" => {
                let (min, max) = (bound(self, "min", -limit), bound(self, "max", limit));
                InputType::Integer { min, max }
            }
            "decimal" => {
                let scale = match o.get("scale").and_then(Value::as_u64) {
                    Some(s) if (1..=9).contains(&s) => s as u32,
                    _ => {
                        self.err(&join(path, "scale"), "digits after the point, 1 to 9");
                        2
                    }
                };
                let (min, max) = (bound(self, "min", -limit), bound(self, "max", limit));
                InputType::Decimal { scale, min, max }
            }
            "date" => InputType::Date,
            "bool" => InputType::Bool,
            "string" => InputType::String,
            "field" => InputType::Field,
            "merkle_path" => {
                if !private {
                    self.err(path, "a Merkle path is a private input");
                }
                match o.get("depth").and_then(Value::as_u64) {
                    Some(d) if (1..=MAX_MERKLE_DEPTH as u64).contains(&d) => {
                        InputType::MerklePath { depth: d as usize }
                    }
                    _ => {
                        self.err(
                            &join(path, "depth"),
                            format!("levels of the tree, 1 to {MAX_MERKLE_DEPTH}"),
                        );
                        return None;
                    }
                }
            }
            _ => unreachable!(),
        };
        if let InputType::Integer { min, max } | InputType::Decimal { min, max, .. } = ty
            && min > max
        {
            self.err(path, "min is above max");
        }
        Some(ty)
    }

    fn rule(&mut self, v: &Value, path: &str) -> Option<Rule> {
        let Some(o) = v.as_object() else {
            self.err(path, "a rule `{\"name\", \"check\"}`");
            return None;
        };
        for k in o.keys() {
            if !["name", "description", "check", "enforce"].contains(&k.as_str()) {
                self.err(
                    &join(path, k),
                    "unknown field (name, description, check, enforce)",
                );
            }
        }
        let name = self.string_field(o, path, "name", true);
        if !name.is_empty() {
            if !valid_ident(&name) {
                self.err(
                    &join(path, "name"),
                    "1-64 characters of [A-Za-z0-9_], starting with a letter",
                );
            } else if self.rule_names.contains(&name) {
                self.err(&join(path, "name"), format!("another rule is named {name}"));
            }
        }
        let description = self.string_field(o, path, "description", false);
        let enforce = match o.get("enforce") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                self.err(&join(path, "enforce"), "true or false");
                true
            }
        };
        let check = match o.get("check") {
            Some(c) => self.check(c, &join(path, "check"), 0),
            None => {
                self.err(&join(path, "check"), "missing");
                None
            }
        };
        self.rule_names.push(name.clone());
        Some(Rule {
            name,
            description,
            check: check?,
            enforce,
        })
    }

    /// The one key of an operator object, and its argument.
    fn op<'a>(&mut self, v: &'a Value, path: &str) -> Option<(&'a str, &'a Value)> {
        match v.as_object() {
            Some(o) if o.len() == 1 => o.iter().next().map(|(k, v)| (k.as_str(), v)),
            _ => {
                self.err(path, "an object with exactly one operator key");
                None
            }
        }
    }

    fn args<'a>(
        &mut self,
        v: &'a Value,
        path: &str,
        n: std::ops::RangeInclusive<usize>,
    ) -> Option<&'a Vec<Value>> {
        match v.as_array() {
            Some(a) if n.contains(&a.len()) => Some(a),
            _ => {
                let want = if n.start() == n.end() {
                    format!("{}", n.start())
                } else {
                    format!("{} to {}", n.start(), n.end())
                };
                self.err(path, format!("a list of {want} operands"));
                None
            }
        }
    }

    fn check(&mut self, v: &Value, path: &str, depth: usize) -> Option<Check> {
        if depth > MAX_DEPTH {
            self.err(path, format!("nested deeper than {MAX_DEPTH}"));
            return None;
        }
        let (op, arg) = self.op(v, path)?;
        let here = join(path, op);
        let cmp = |op| match op {
            "gt" => Some(CmpOp::Gt),
            "gte" => Some(CmpOp::Gte),
            "lt" => Some(CmpOp::Lt),
            "lte" => Some(CmpOp::Lte),
            _ => None,
        };
        Some(match op {
            "gt" | "gte" | "lt" | "lte" | "eq" | "neq" => {
                let a = self.args(arg, &here, 2..=2)?;
                let (l, lk) = self.expr(&a[0], &format!("{here}[0]"), depth + 1)?;
                let (r, rk) = self.expr(&a[1], &format!("{here}[1]"), depth + 1)?;
                let (l, r) = self.unify(l, lk, r, rk, &here, op.starts_with('e') || op == "neq")?;
                match cmp(op) {
                    Some(c) => Check::Cmp(c, l, r),
                    None if op == "eq" => Check::Eq(l, r),
                    None => Check::Neq(l, r),
                }
            }
            "between" => {
                let a = self.args(arg, &here, 3..=3)?;
                let (x, xk) = self.expr(&a[0], &format!("{here}[0]"), depth + 1)?;
                let (lo, lk) = self.expr(&a[1], &format!("{here}[1]"), depth + 1)?;
                let (hi, hk) = self.expr(&a[2], &format!("{here}[2]"), depth + 1)?;
                let (x1, lo) = self.unify(x.clone(), xk, lo, lk, &here, false)?;
                let (x2, hi) = self.unify(x, xk, hi, hk, &here, false)?;
                debug_assert_eq!(x1, x2);
                Check::Between(x1, lo, hi)
            }
            "in_set" => {
                let Some(o) = arg.as_object() else {
                    self.err(&here, "`{\"value\", \"path\", \"root\"}`");
                    return None;
                };
                for k in o.keys() {
                    if !["value", "path", "root"].contains(&k.as_str()) {
                        self.err(&join(&here, k), "unknown field (value, path, root)");
                    }
                }
                let value = self.operand(o.get("value"), &join(&here, "value"), depth, |k| {
                    k != Kind::Path && k != Kind::Bool
                })?;
                let root = self.operand(o.get("root"), &join(&here, "root"), depth, |k| {
                    k == Kind::Field
                })?;
                let path_expr = self.operand(o.get("path"), &join(&here, "path"), depth, |k| {
                    k == Kind::Path
                })?;
                let Expr::Input(path) = path_expr else {
                    self.err(&join(&here, "path"), "a reference to a merkle_path input");
                    return None;
                };
                Check::InSet { value, path, root }
            }
            "all" | "any" => {
                let a = self.args(arg, &here, 1..=MAX_RULES)?;
                let cs: Vec<Check> = a
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| self.check(c, &format!("{here}[{i}]"), depth + 1))
                    .collect();
                if cs.len() != a.len() {
                    return None;
                }
                if op == "all" {
                    Check::All(cs)
                } else {
                    Check::Any(cs)
                }
            }
            "not" => Check::Not(Box::new(self.check(arg, &here, depth + 1)?)),
            "rule" => match arg
                .as_str()
                .and_then(|n| self.rule_names.iter().position(|r| r == n))
            {
                Some(i) => Check::Rule(i),
                None => {
                    self.err(&here, "the name of an earlier rule");
                    return None;
                }
            },
            "ref" | "bool" => {
                let (e, k) = self.expr(v, path, depth + 1)?;
                if k != Kind::Bool {
                    self.err(path, "a check needs a bool value here");
                    return None;
                }
                Check::Truth(e)
            }
            other => {
                self.err(&here, format!("unknown check `{other}` (gt, gte, lt, lte, eq, neq, between, in_set, all, any, not, rule, ref)"));
                return None;
            }
        })
    }

    fn operand(
        &mut self,
        v: Option<&Value>,
        path: &str,
        depth: usize,
        ok: impl Fn(Kind) -> bool,
    ) -> Option<Expr> {
        let Some(v) = v else {
            self.err(path, "missing");
            return None;
        };
        let (e, k) = self.expr(v, path, depth + 1)?;
        if !ok(k) {
            self.err(path, format!("not allowed here (a {k:?} value)"));
            return None;
        }
        Some(e)
    }

    /// Bring two operands to one kind: numbers to the larger scale (constants and integers
    /// are multiplied up); `eq_like` also allows equal bools and fields.
    fn unify(
        &mut self,
        l: Expr,
        lk: Kind,
        r: Expr,
        rk: Kind,
        path: &str,
        eq_like: bool,
    ) -> Option<(Expr, Expr)> {
        match (lk, rk) {
            (Kind::Num(a), Kind::Num(b)) => {
                let s = a.max(b);
                Some((rescale(l, s - a), rescale(r, s - b)))
            }
            (Kind::Date, Kind::Date) => Some((l, r)),
            (Kind::Bool, Kind::Bool) | (Kind::Field, Kind::Field) if eq_like => Some((l, r)),
            _ => {
                self.err(path, format!("cannot compare a {lk:?} with a {rk:?}"));
                None
            }
        }
    }

    /// A value expression and its kind.
    fn expr(&mut self, v: &Value, path: &str, depth: usize) -> Option<(Expr, Kind)> {
        if depth > MAX_DEPTH {
            self.err(path, format!("nested deeper than {MAX_DEPTH}"));
            return None;
        }
        match v {
            Value::Bool(b) => return Some((Expr::Bool(*b), Kind::Bool)),
            Value::Number(n) => {
                return match parse_decimal(&n.to_string()) {
                    Some((value, scale)) => Some((Expr::Const { value, scale }, Kind::Num(scale))),
                    None => {
                        self.err(path, "a number within ±2^62 with at most 9 decimals");
                        None
                    }
                };
            }
            Value::Object(_) => {}
            _ => {
                self.err(path, "a number, true/false, or an operator object");
                return None;
            }
        }
        let (op, arg) = self.op(v, path)?;
        let here = join(path, op);
        match op {
            "ref" => {
                let Some(name) = arg.as_str() else {
                    self.err(
                        &here,
                        "an input path such as private_inputs.user_data.date_of_birth",
                    );
                    return None;
                };
                match self.inputs.iter().position(|i| i.path == name) {
                    Some(i) => Some((Expr::Input(i), self.inputs[i].ty.kind())),
                    None => {
                        self.err(&here, format!("no input is declared at {name}"));
                        None
                    }
                }
            }
            "date" => match arg.as_str().and_then(parse_date) {
                Some(d) => Some((Expr::Date(d), Kind::Date)),
                None => {
                    self.err(&here, "a date YYYY-MM-DD");
                    None
                }
            },
            "string" => match arg.as_str() {
                Some(s) if s.len() <= 1024 => Some((Expr::Str(s.to_owned()), Kind::Field)),
                _ => {
                    self.err(&here, "a string of at most 1024 bytes");
                    None
                }
            },
            "add" | "sub" | "mul" => {
                let n = if op == "add" {
                    2..=MAX_HASH_INPUTS
                } else {
                    2..=2
                };
                let a = self.args(arg, &here, n)?;
                let mut terms = Vec::new();
                for (i, x) in a.iter().enumerate() {
                    let (e, k) = self.expr(x, &format!("{here}[{i}]"), depth + 1)?;
                    let Kind::Num(s) = k else {
                        self.err(&format!("{here}[{i}]"), "arithmetic is on numbers");
                        return None;
                    };
                    terms.push((e, s));
                }
                if op == "mul" {
                    let ((a, sa), (b, sb)) = (terms[0].clone(), terms[1].clone());
                    return Some((Expr::Mul(Box::new(a), Box::new(b)), Kind::Num(sa + sb)));
                }
                let s = terms.iter().map(|t| t.1).max().unwrap_or(0);
                let mut es: Vec<Expr> = terms.into_iter().map(|(e, k)| rescale(e, s - k)).collect();
                if op == "add" {
                    Some((Expr::Add(es), Kind::Num(s)))
                } else {
                    let b = es.pop().expect("two");
                    let a = es.pop().expect("two");
                    Some((Expr::Sub(Box::new(a), Box::new(b)), Kind::Num(s)))
                }
            }
            "years_between" => {
                let a = self.args(arg, &here, 2..=2)?;
                let (from, fk) = self.expr(&a[0], &format!("{here}[0]"), depth + 1)?;
                let (to, tk) = self.expr(&a[1], &format!("{here}[1]"), depth + 1)?;
                if fk != Kind::Date || tk != Kind::Date {
                    self.err(&here, "two dates");
                    return None;
                }
                Some((
                    Expr::YearsBetween(Box::new(from), Box::new(to)),
                    Kind::Num(0),
                ))
            }
            "poseidon" => {
                let a = self.args(arg, &here, 1..=MAX_HASH_INPUTS)?;
                let mut es = Vec::new();
                for (i, x) in a.iter().enumerate() {
                    let (e, k) = self.expr(x, &format!("{here}[{i}]"), depth + 1)?;
                    if k == Kind::Path {
                        self.err(&format!("{here}[{i}]"), "a Merkle path cannot be hashed");
                        return None;
                    }
                    es.push(e);
                }
                Some((Expr::Poseidon(es), Kind::Field))
            }
            other => {
                self.err(&here, format!("unknown value operator `{other}` (ref, date, string, add, sub, mul, years_between, poseidon)"));
                None
            }
        }
    }

    fn outputs(&mut self, v: Option<&Value>) -> Vec<(String, Output)> {
        let Some(v) = v else {
            return vec![("compliance_result".to_owned(), Output::AllRules)];
        };
        let Some(m) = v.as_object() else {
            self.err("outputs", "an object of named outputs");
            return Vec::new();
        };
        if m.is_empty() || m.len() > 16 {
            self.err("outputs", "1 to 16 outputs");
        }
        let mut out = Vec::new();
        for (name, spec) in m {
            let path = join("outputs", name);
            if !valid_ident(name) {
                self.err(&path, "names are 1-64 characters of [A-Za-z0-9_]");
                continue;
            }
            match spec {
                Value::Bool(true) => out.push((name.clone(), Output::AllRules)),
                Value::Object(o) if o.len() == 1 && o.contains_key("rule") => {
                    match o["rule"]
                        .as_str()
                        .and_then(|n| self.rule_names.iter().position(|r| r == n))
                    {
                        Some(i) => out.push((name.clone(), Output::Rule(i))),
                        None => self.err(&join(&path, "rule"), "the name of a rule"),
                    }
                }
                _ => self.err(&path, "true (every enforced rule held) or {\"rule\": NAME}"),
            }
        }
        out
    }
}

/// Multiply a number expression up by `10^k` (k more decimal digits).
fn rescale(e: Expr, k: u32) -> Expr {
    if k == 0 {
        return e;
    }
    let f = 10i128.pow(k);
    match e {
        Expr::Const { value, scale } => Expr::Const {
            value: value * f,
            scale: scale + k,
        },
        other => Expr::Mul(
            Box::new(other),
            Box::new(Expr::Const { value: f, scale: k }),
        ),
    }
}

/// `"123.45"` → (12345, 2); at most 9 decimals and ±2^62 once scaled.
pub fn parse_decimal(s: &str) -> Option<(i128, u32)> {
    if s.contains(['e', 'E']) || s.is_empty() || s.len() > 40 {
        return None;
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let frac = frac.trim_end_matches('0');
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 9
    {
        return None;
    }
    let digits: i128 = format!("{int}{frac}").parse().ok()?;
    let v = if neg { -digits } else { digits };
    (v.unsigned_abs() < (1u128 << INT_BITS)).then_some((v, frac.len() as u32))
}

/// The civil date (proleptic Gregorian, UTC) `days` after 1970-01-01, as `YYYYMMDD`
/// (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    y * 10_000 + m * 100 + d
}

/// `YYYY-MM-DD` (a real calendar date, years 1000-9999) → `YYYYMMDD`.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = &s[r];
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    ((1000..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days[(m - 1) as usize])
        .then_some(y * 10_000 + m * 100 + d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::templates::TEMPLATES;

    #[test]
    fn every_template_parses() {
        for (name, text) in TEMPLATES {
            let p = parse(&serde_json::from_str(text).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(p.use_case, name);
        }
    }

    #[test]
    fn inputs_are_in_canonical_order() {
        let p = parse(&serde_json::from_str(TEMPLATES[4].1).unwrap()).unwrap();
        let paths: Vec<&str> = p.inputs.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "private_inputs.credential.date_of_birth",
                "private_inputs.credential.path",
                "private_inputs.credential.salt",
                "private_inputs.credential.subject_id",
                "public_params.issuer_root",
                "public_params.min_age",
                "public_params.today",
            ]
        );
    }

    #[test]
    fn every_error_is_reported_with_its_path() {
        let doc = json!({
            "use_case": "9bad",
            "version": "1",
            "private_inputs": {"a": {"type": "integer", "max": "x"}, "b": {"type": "blob"}},
            "public_params": {"d": {"type": "date", "default": "yesterday"}},
            "validation_rules": [
                {"name": "r1", "check": {"gte": [{"ref": "private_inputs.a"}, {"ref": "public_params.nope"}]}},
                {"name": "r1", "check": {"gte": [{"ref": "private_inputs.a"}, {"ref": "public_params.d"}]}},
                {"name": "r3", "check": {"frob": 1}, "extra": true}
            ],
            "outputs": {"x": {"rule": "missing"}}
        });
        let errs = parse(&doc).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "use_case",
                "private_inputs.a.max",
                "private_inputs.b.type",
                "public_params.d.default",
                "validation_rules[0].check.gte[1].ref",
                "validation_rules[1].name",
                "validation_rules[1].check.gte",
                "validation_rules[2].extra",
                "validation_rules[2].check.frob",
                "outputs.x.rule",
            ],
            "{errs:#?}"
        );
    }

    #[test]
    fn decimals_and_dates() {
        assert_eq!(parse_decimal("123.45"), Some((12345, 2)));
        assert_eq!(parse_decimal("-0.5"), Some((-5, 1)));
        assert_eq!(parse_decimal("10.0"), Some((10, 0)));
        assert_eq!(parse_decimal("1e3"), None);
        assert_eq!(parse_decimal("1.0000000001"), None);
        assert_eq!(parse_date("1990-01-01"), Some(19900101));
        assert_eq!(parse_date("2000-02-29"), Some(20000229));
        assert_eq!(parse_date("1900-02-29"), None);
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("24-01-01"), None);
        assert_eq!(civil_from_days(0), 19700101);
        assert_eq!(civil_from_days(11_016), 20000229);
        assert_eq!(civil_from_days(20_788), 20261201);
    }

    #[test]
    fn numbers_of_different_scales_are_brought_to_one() {
        let doc = json!({
            "use_case": "u", "version": "1",
            "private_inputs": {"income": {"type": "decimal", "scale": 2}},
            "validation_rules": [{"name": "r", "check": {"gte": [{"ref": "private_inputs.income"}, 50000]}}]
        });
        let p = parse(&doc).unwrap();
        assert_eq!(
            p.rules[0].check,
            Check::Cmp(
                CmpOp::Gte,
                Expr::Input(0),
                Expr::Const {
                    value: 5_000_000,
                    scale: 2
                }
            )
        );
        assert_eq!(
            p.outputs,
            vec![("compliance_result".to_owned(), Output::AllRules)]
        );
    }
}
