//! Whether a record passes a filter.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::{Filter, Op};
use crate::index::field_path::lookup;
use crate::input::Record;

impl Filter {
    /// True when `record` passes the filter.
    pub fn matches(&self, record: &Record) -> bool {
        match self {
            Filter::Compare(path, op, value) => {
                let order = lookup(record, path).and_then(|field| compare(field, value));
                match op {
                    Op::Eq => order == Some(Ordering::Equal),
                    Op::Ne => order != Some(Ordering::Equal),
                    Op::Lt => order == Some(Ordering::Less),
                    Op::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
                    Op::Gt => order == Some(Ordering::Greater),
                    Op::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
                }
            }
            Filter::In(path, values) => lookup(record, path)
                .is_some_and(|field| values.iter().any(|v| compare(field, v) == Some(Ordering::Equal))),
            Filter::Exists(path) => lookup(record, path).is_some_and(|v| !v.is_null()),
            Filter::Not(inner) => !inner.matches(record),
            Filter::And(all) => all.iter().all(|f| f.matches(record)),
            Filter::Or(any) => any.iter().any(|f| f.matches(record)),
        }
    }
}

/// Orders two JSON values of the same kind: numbers by value, strings bytewise.
pub(super) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

fn compare_numbers(x: &Number, y: &Number) -> Option<Ordering> {
    match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
        (Some(a), Some(b), _, _) => Some(a.cmp(&b)),
        (_, _, Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
    }
}
