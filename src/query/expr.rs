//! Expressions compiled against one measurement: names resolved to the
//! tags and fields a point is read into, regular expressions compiled
//! once, aggregate calls numbered. Evaluated per point (conditions, raw
//! columns) or per window (aggregate columns).

use std::sync::Arc;

use regex::Regex;

use crate::influxql::ast::{BinOp, Cast, Expr};
use crate::schema::ColumnKind;

use super::value::{arithmetic, compare, Value};

/// A compiled expression.
#[derive(Debug)]
pub enum Node {
    /// The value of the n-th tag the query reads (`""` when the point has
    /// none).
    Tag(usize),
    /// The value of the n-th field the query reads (null when absent).
    Field(usize),
    /// The value of the n-th aggregate call in a window.
    Call(usize),
    Lit(Value),
    Arith(BinOp, Box<Node>, Box<Node>),
    Cmp(BinOp, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Match {
        node: Box<Node>,
        re: Regex,
        negate: bool,
    },
}

/// The tags and fields a statement reads, by unescaped name.
#[derive(Debug, Default)]
pub struct Inputs {
    pub tags: Vec<String>,
    pub fields: Vec<String>,
}

impl Inputs {
    pub fn tag(&mut self, name: &str) -> usize {
        index_of(&mut self.tags, name)
    }

    pub fn field(&mut self, name: &str) -> usize {
        index_of(&mut self.fields, name)
    }
}

fn index_of(list: &mut Vec<String>, name: &str) -> usize {
    match list.iter().position(|n| n == name) {
        Some(i) => i,
        None => {
            list.push(name.to_owned());
            list.len() - 1
        }
    }
}

/// What a name of the measurement is.
pub type Kind<'k> = &'k dyn Fn(&str) -> Option<ColumnKind>;

/// Resolves a name to a tag or field leaf: an explicit `::tag` or
/// `::field` (or a field type) decides; otherwise the measurement's
/// schema; a name it does not know reads as an absent tag (`""`), as
/// `influxd` matches a key no series has.
pub fn var(name: &str, cast: Option<Cast>, kind: Kind<'_>, inputs: &mut Inputs) -> Node {
    let is_tag = match cast {
        Some(Cast::Tag) => true,
        Some(_) => false,
        None => kind(name) != Some(ColumnKind::Field),
    };
    if is_tag {
        Node::Tag(inputs.tag(name))
    } else {
        Node::Field(inputs.field(name))
    }
}

/// Compiles a condition or a raw column (no calls allowed).
pub fn compile(e: &Expr, kind: Kind<'_>, inputs: &mut Inputs) -> Result<Node, String> {
    compile_with(e, kind, inputs, &mut |call, _| Err(format!("aggregate function not allowed here: {call}")))
}

/// Compiles with `on_call` deciding what a call becomes.
pub fn compile_with(
    e: &Expr,
    kind: Kind<'_>,
    inputs: &mut Inputs,
    on_call: &mut dyn FnMut(&Expr, &mut Inputs) -> Result<Node, String>,
) -> Result<Node, String> {
    Ok(match e {
        Expr::Var { name, cast } => var(name, *cast, kind, inputs),
        Expr::Paren(inner) => compile_with(inner, kind, inputs, on_call)?,
        Expr::Integer(n) => Node::Lit(Value::Integer(*n)),
        Expr::Number(x) => Node::Lit(Value::Float(*x)),
        Expr::Str(s) => Node::Lit(Value::String(s.as_str().into())),
        Expr::Bool(b) => Node::Lit(Value::Boolean(*b)),
        Expr::Duration(d) => Node::Lit(Value::Integer(*d)),
        Expr::Wildcard => return Err("wildcard is not allowed here".into()),
        Expr::Regex(r) => return Err(format!("regular expression /{r}/ is only allowed after =~ or !~")),
        Expr::Call { .. } => on_call(e, inputs)?,
        Expr::Binary { op, lhs, rhs } => {
            let l = Box::new(compile_with(lhs, kind, inputs, on_call)?);
            match op {
                BinOp::EqRegex | BinOp::NotEqRegex => {
                    let Expr::Regex(pattern) = &**rhs else {
                        return Err(format!("expected a regular expression after {}", op.symbol()));
                    };
                    let re = regex(pattern)?;
                    return Ok(Node::Match { node: l, re, negate: *op == BinOp::NotEqRegex });
                }
                _ => {}
            }
            let r = Box::new(compile_with(rhs, kind, inputs, on_call)?);
            match op {
                BinOp::And => Node::And(l, r),
                BinOp::Or => Node::Or(l, r),
                BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => Node::Arith(*op, l, r),
                _ => Node::Cmp(*op, l, r),
            }
        }
    })
}

/// Compiles a regular expression as Go's RE2 reads it: there `\<` and
/// `\>` are the characters `<` and `>`, where Rust's `regex` would read
/// word boundaries.
pub fn regex(pattern: &str) -> Result<Regex, String> {
    let mut go = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(x @ ('<' | '>')) => go.push(x),
                Some(x) => {
                    go.push('\\');
                    go.push(x);
                }
                None => go.push('\\'),
            }
        } else {
            go.push(c);
        }
    }
    Regex::new(&go).map_err(|e| format!("invalid regular expression /{pattern}/: {e}"))
}

/// Where a node's leaves get their values.
pub trait Env {
    /// The tag's value; `None` when the point has no such tag.
    fn tag(&self, i: usize) -> Option<&str>;
    /// The tag's value as a value (null when absent), shared.
    fn tag_value(&self, i: usize) -> Value {
        self.tag(i).map_or(Value::Null, |t| Value::String(t.into()))
    }
    fn field(&self, i: usize) -> &Value;
    fn call(&self, i: usize) -> &Value;
}

static NULL: Value = Value::Null;

pub fn eval(n: &Node, env: &dyn Env) -> Value {
    match n {
        // A column of a tag the point lacks is null.
        Node::Tag(i) => env.tag_value(*i),
        Node::Field(i) => env.field(*i).clone(),
        Node::Call(i) => env.call(*i).clone(),
        Node::Lit(v) => v.clone(),
        Node::Arith(op, l, r) => arithmetic(*op, &eval(l, env), &eval(r, env)),
        Node::Cmp(op, l, r) => Value::Boolean(compare(*op, &operand(l, env), &operand(r, env)).unwrap_or(false)),
        Node::And(l, r) => Value::Boolean(truth(l, env) && truth(r, env)),
        Node::Or(l, r) => Value::Boolean(truth(l, env) || truth(r, env)),
        Node::Match { node, re, negate } => match &**node {
            // Tags match as strings, an absent one as "".
            Node::Tag(i) => Value::Boolean(re.is_match(env.tag(*i).unwrap_or("")) != *negate),
            other => match eval(other, env) {
                Value::String(s) => Value::Boolean(re.is_match(&s) != *negate),
                _ => Value::Boolean(false),
            },
        },
    }
}

/// A side of a comparison: in a condition, a tag the point lacks compares
/// as `""` (influxd matches `host = ''` to series without `host`).
fn operand(n: &Node, env: &dyn Env) -> Value {
    match n {
        Node::Tag(i) => match env.tag_value(*i) {
            Value::Null => Value::String("".into()),
            v => v,
        },
        other => eval(other, env),
    }
}

/// Whether a condition holds (only a true boolean does).
pub fn truth(n: &Node, env: &dyn Env) -> bool {
    // Tag comparisons are the common case: compared without a copy.
    if let Node::Cmp(op @ (BinOp::Eq | BinOp::NotEq), l, r) = n {
        if let (Node::Tag(i), Node::Lit(Value::String(s))) | (Node::Lit(Value::String(s)), Node::Tag(i)) = (&**l, &**r)
        {
            return (env.tag(*i).unwrap_or("") == &**s) == (*op == BinOp::Eq);
        }
    }
    matches!(eval(n, env), Value::Boolean(true))
}

/// An environment without calls (conditions and raw columns).
#[derive(Debug)]
pub struct PointEnv<'a> {
    pub tags: &'a [Option<Arc<str>>],
    pub fields: &'a [Value],
}

impl Env for PointEnv<'_> {
    fn tag(&self, i: usize) -> Option<&str> {
        self.tags.get(i)?.as_deref()
    }
    fn tag_value(&self, i: usize) -> Value {
        self.tags.get(i).and_then(Clone::clone).map_or(Value::Null, Value::String)
    }
    fn field(&self, i: usize) -> &Value {
        self.fields.get(i).unwrap_or(&NULL)
    }
    fn call(&self, _: usize) -> &Value {
        &NULL
    }
}

/// Whether a node reads any field (outside calls).
pub fn reads_field(n: &Node) -> bool {
    match n {
        Node::Field(_) => true,
        Node::Tag(_) | Node::Call(_) | Node::Lit(_) => false,
        Node::Arith(_, l, r) | Node::Cmp(_, l, r) | Node::And(l, r) | Node::Or(l, r) => {
            reads_field(l) || reads_field(r)
        }
        Node::Match { node, .. } => reads_field(node),
    }
}
