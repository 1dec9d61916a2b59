//! Values of an InfluxQL result: what a column holds in one row, with the
//! arithmetic and comparisons `influxd` applies to them.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::rows::StoredValue;

/// One value of a result row. Strings are shared, not copied: a tag's
/// value is one allocation per series, however many rows show it (and a
/// result outlives the scan that read it).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    #[default]
    Null,
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    String(Arc<str>),
    Boolean(bool),
}

impl Value {
    pub fn from_stored(v: &StoredValue<'_>) -> Value {
        match *v {
            StoredValue::Float(x) => Value::Float(x),
            StoredValue::Integer(x) => Value::Integer(x),
            StoredValue::UInteger(x) => Value::Unsigned(x),
            StoredValue::String(s) => Value::String(String::from_utf8_lossy(s).into()),
            StoredValue::Boolean(b) => Value::Boolean(b),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as a float, for numbers.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(x) => Some(x),
            // Precision lost past 2^53, as in influxd's float conversions.
            Value::Integer(x) => Some(x as f64),
            Value::Unsigned(x) => Some(x as f64),
            _ => None,
        }
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Value::Float(_) | Value::Integer(_) | Value::Unsigned(_))
    }

    /// The order of values of one column: numbers by value (across types),
    /// strings by bytes, false before true; nulls first. Used for sorting
    /// (median, percentile, distinct, mode) and for min and max.
    pub fn order(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Integer(a), Value::Integer(b)) => a.cmp(b),
            (Value::Unsigned(a), Value::Unsigned(b)) => a.cmp(b),
            (Value::String(a), Value::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Value::Boolean(a), Value::Boolean(b)) => a.cmp(b),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                _ => a.rank().cmp(&b.rank()),
            },
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Boolean(_) => 1,
            Value::Float(_) | Value::Integer(_) | Value::Unsigned(_) => 2,
            Value::String(_) => 3,
        }
    }
}

/// Arithmetic of two values as `influxd` does it: integers stay integers
/// (`/` always gives a float), a float on either side gives a float, a
/// null or a non-number on either side gives null. Integer overflow wraps
/// (Go's arithmetic); division by zero gives 0 as `influxd` answers it.
pub fn arithmetic(op: crate::influxql::ast::BinOp, a: &Value, b: &Value) -> Value {
    use crate::influxql::ast::BinOp::*;
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => {
            let (x, y) = (*x, *y);
            match op {
                Add => Value::Integer(x.wrapping_add(y)),
                Sub => Value::Integer(x.wrapping_sub(y)),
                Mul => Value::Integer(x.wrapping_mul(y)),
                Div if y == 0 => Value::Float(0.0),
                Div => Value::Float(x as f64 / y as f64),
                Mod if y == 0 => Value::Integer(0),
                Mod => Value::Integer(x.wrapping_rem(y)),
                _ => Value::Null,
            }
        }
        (Value::Unsigned(x), Value::Unsigned(y)) => {
            let (x, y) = (*x, *y);
            match op {
                Add => Value::Unsigned(x.wrapping_add(y)),
                Sub => Value::Unsigned(x.wrapping_sub(y)),
                Mul => Value::Unsigned(x.wrapping_mul(y)),
                Div if y == 0 => Value::Float(0.0),
                Div => Value::Float(x as f64 / y as f64),
                Mod if y == 0 => Value::Unsigned(0),
                Mod => Value::Unsigned(x % y),
                _ => Value::Null,
            }
        }
        _ => {
            let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
                return Value::Null;
            };
            match op {
                Add => Value::Float(x + y),
                Sub => Value::Float(x - y),
                Mul => Value::Float(x * y),
                Div if y == 0.0 => Value::Float(0.0),
                Div => Value::Float(x / y),
                Mod if y == 0.0 => Value::Float(0.0),
                Mod => Value::Float(x % y),
                _ => Value::Null,
            }
        }
    }
}

/// A comparison of two values (`= != < <= > >=`); `None` when they do not
/// compare (a null, or a number against a string): the condition is then
/// false, whatever the operator.
pub fn compare(op: crate::influxql::ast::BinOp, a: &Value, b: &Value) -> Option<bool> {
    use crate::influxql::ast::BinOp::*;
    let ord = match (a, b) {
        (Value::Null, _) | (_, Value::Null) => return None,
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Boolean(x), Value::Boolean(y)) => {
            // Booleans compare for equality only.
            return match op {
                Eq => Some(x == y),
                NotEq => Some(x != y),
                _ => None,
            };
        }
        (Value::Integer(x), Value::Integer(y)) => x.cmp(y),
        (Value::Unsigned(x), Value::Unsigned(y)) => x.cmp(y),
        _ => {
            let (x, y) = (a.as_f64()?, b.as_f64()?);
            x.partial_cmp(&y)?
        }
    };
    Some(match op {
        Eq => ord == Ordering::Equal,
        NotEq => ord != Ordering::Equal,
        Lt => ord == Ordering::Less,
        LtEq => ord != Ordering::Greater,
        Gt => ord == Ordering::Greater,
        GtEq => ord != Ordering::Less,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::influxql::ast::BinOp;

    #[test]
    fn integers_stay_integers_but_division_gives_a_float() {
        assert_eq!(arithmetic(BinOp::Add, &Value::Integer(2), &Value::Integer(3)), Value::Integer(5));
        assert_eq!(arithmetic(BinOp::Div, &Value::Integer(3), &Value::Integer(2)), Value::Float(1.5));
        assert_eq!(arithmetic(BinOp::Mul, &Value::Integer(2), &Value::Float(0.5)), Value::Float(1.0));
        assert_eq!(arithmetic(BinOp::Add, &Value::Null, &Value::Integer(1)), Value::Null);
        assert_eq!(arithmetic(BinOp::Add, &Value::String("a".into()), &Value::Integer(1)), Value::Null);
    }

    #[test]
    fn comparisons_across_number_types_and_nulls() {
        assert_eq!(compare(BinOp::Lt, &Value::Integer(1), &Value::Float(1.5)), Some(true));
        assert_eq!(compare(BinOp::NotEq, &Value::Null, &Value::Integer(1)), None);
        assert_eq!(compare(BinOp::Eq, &Value::String("a".into()), &Value::String("a".into())), Some(true));
        assert_eq!(compare(BinOp::Lt, &Value::Boolean(false), &Value::Boolean(true)), None);
        assert_eq!(compare(BinOp::Eq, &Value::Integer(1), &Value::String("1".into())), None);
    }
}
