//! Why a filter lets no record through: a field no record has, or a value no record has for
//! it, with the closest value a record has when the field has few distinct values.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde_json::Value;

use super::eval::compare;
use super::{Filter, Op};
use crate::index::field_path::{lookup, show};
use crate::input::Record;

/// Distinct values of a field beyond which none is suggested.
const MAX_DISTINCT: usize = 64;

/// What the records say about one `field = value` (or `field in [..]`, or a test that needs the
/// field) of a filter, gathered record by record ([`FilterHint::observe`]).
struct Condition<'a> {
    path: &'a [String],
    values: &'a [Value],
    has_field: bool,
    has_value: bool,
    /// The field's distinct string values, up to one past [`MAX_DISTINCT`].
    seen: BTreeSet<String>,
}

/// Gathers, over the records a filter let none of through, what explains it ([`Self::message`]).
pub struct FilterHint<'a> {
    conditions: Vec<Condition<'a>>,
    fields: BTreeSet<String>,
}

impl<'a> FilterHint<'a> {
    /// Looks for the fields and values that the conditions of `filter` outside a `not` name.
    pub fn new(filter: &'a Filter) -> FilterHint<'a> {
        let mut conditions = Vec::new();
        collect(filter, &mut conditions);
        FilterHint {
            conditions,
            fields: BTreeSet::new(),
        }
    }

    /// Takes note of one record.
    pub fn observe(&mut self, record: &Record) {
        for name in record.keys() {
            if !self.fields.contains(name) {
                self.fields.insert(name.clone());
            }
        }
        for c in &mut self.conditions {
            let Some(field) = lookup(record, c.path) else { continue };
            c.has_field = true;
            c.has_value |= c.values.iter().any(|v| compare(field, v) == Some(Ordering::Equal));
            if let (Value::String(s), true) = (field, c.seen.len() <= MAX_DISTINCT) {
                c.seen.insert(s.clone());
            }
        }
    }

    /// The first condition that no record meets, said in a sentence (`no record has source =
    /// "fortun"; did you mean "fortune"?`), if any.
    pub fn message(&self) -> Option<String> {
        if let Some(c) = self.conditions.iter().find(|c| !c.has_field) {
            let name = show(c.path);
            let fields: Vec<&str> = self.fields.iter().map(String::as_str).collect();
            let close = closest(&[&name], fields.iter().copied());
            let guess = close.map_or(String::new(), |f| format!("did you mean {f:?}? "));
            return Some(format!(
                "no record has a field {name:?}; {guess}fields: {}",
                fields.join(", ")
            ));
        }
        let c = self.conditions.iter().find(|c| !c.values.is_empty() && !c.has_value)?;
        let shown: Vec<String> = c.values.iter().map(Value::to_string).collect();
        let mut message = match shown.as_slice() {
            [one] => format!("no record has {} = {one}", show(c.path)),
            many => format!("no record has {} in [{}]", show(c.path), many.join(", ")),
        };
        let asked: Vec<&str> = c.values.iter().filter_map(Value::as_str).collect();
        let few = c.seen.len() <= MAX_DISTINCT;
        if let Some(close) = closest(&asked, c.seen.iter().map(String::as_str)).filter(|_| few) {
            message += &format!("; did you mean {close:?}?");
        }
        Some(message)
    }
}

/// The one of `seen` nearest one of `asked` (case aside), when it is a few edits away.
fn closest<'s>(asked: &[&str], seen: impl Iterator<Item = &'s str>) -> Option<&'s str> {
    let pairs = seen.flat_map(|s| asked.iter().map(move |a| (*a, s)));
    let (distance, close) = pairs
        .map(|(a, s)| (strsim::levenshtein(&a.to_lowercase(), &s.to_lowercase()), s))
        .min()?;
    (distance <= 1.max(close.chars().count() / 3)).then_some(close)
}

/// The conditions of `filter` that must hold for a record to pass (those outside any `not`).
fn collect<'a>(filter: &'a Filter, out: &mut Vec<Condition<'a>>) {
    let (path, values): (_, &[Value]) = match filter {
        Filter::Compare(path, Op::Eq, value) => (path, std::slice::from_ref(value)),
        Filter::Compare(_, Op::Ne, _) | Filter::Not(_) => return,
        Filter::Compare(path, _, _) | Filter::Exists(path) => (path, &[]),
        Filter::In(path, values) => (path, values),
        Filter::And(all) | Filter::Or(all) => return all.iter().for_each(|f| collect(f, out)),
    };
    out.push(Condition {
        path,
        values,
        has_field: false,
        has_value: false,
        seen: BTreeSet::new(),
    });
}
