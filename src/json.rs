//! Reading a JSON line strictly. serde_json alone keeps the last of two equal keys in an object
//! and reads an integer beyond 64 bits as a float, both silently; here both are errors that
//! name the field (`m.tags[2]`), so what a record holds is what its line says.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `text` as one JSON value, refusing a key twice in one object and an integer that
/// fits neither i64 nor u64.
pub fn parse(text: &str) -> Result<Value, String> {
    let state = State::default();
    let mut json = serde_json::Deserializer::from_str(text);
    let value = Strict(&state)
        .deserialize(&mut json)
        .and_then(|v| json.end().map(|()| v));
    if let Some(problem) = state.problem.take() {
        return Err(problem);
    }
    let value = value.map_err(|e| format!("invalid JSON: {e}"))?;
    let suspects = state.suspects.into_inner();
    if !suspects.is_empty() {
        check_integers(text, &suspects)?;
    }
    Ok(value)
}

/// A step into a value: an object's key or an array's index.
enum Step {
    Key(String),
    Index(usize),
}

/// What the parse has seen so far.
#[derive(Default)]
struct State {
    /// Where the parse is now.
    path: RefCell<Vec<Step>>,
    /// The paths of the numbers read as floats whose value is an integer outside 64 bits: each
    /// is either a float literal (`1e20`) or an integer too large to keep, in document order.
    suspects: RefCell<Vec<String>>,
    /// The error found, which ends the parse.
    problem: RefCell<Option<String>>,
}

impl State {
    fn here(&self) -> String {
        let mut text = String::new();
        for step in self.path.borrow().iter() {
            match step {
                Step::Key(key) if text.is_empty() => text.push_str(key),
                Step::Key(key) => {
                    text.push('.');
                    text.push_str(key);
                }
                Step::Index(i) => text.push_str(&format!("[{i}]")),
            }
        }
        text
    }

    fn fail<E: serde::de::Error>(&self, problem: String) -> E {
        *self.problem.borrow_mut() = Some(problem);
        E::custom("see the problem")
    }
}

/// Smallest and (one past the) largest integer that 64 bits hold, as floats: an integer
/// literal beyond them arrives as a float at or past these.
const I64_MIN: f64 = -9_223_372_036_854_775_808.0;
const U64_END: f64 = 18_446_744_073_709_551_616.0;

fn outside_64_bits(x: f64) -> bool {
    x.fract() == 0.0 && (x <= I64_MIN || x >= U64_END)
}

/// Builds a [`Value`] as serde_json does, checking as it goes.
#[derive(Clone, Copy)]
struct Strict<'a>(&'a State);

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Value, E> {
        if outside_64_bits(x) {
            self.0.suspects.borrow_mut().push(self.0.here());
        }
        Number::from_f64(x)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        self.0.path.borrow_mut().push(Step::Index(0));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
            if let Some(Step::Index(i)) = self.0.path.borrow_mut().last_mut() {
                *i += 1;
            }
        }
        self.0.path.borrow_mut().pop();
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let inside = self.0.here();
                let place = if inside.is_empty() {
                    String::new()
                } else {
                    format!(" in {inside}")
                };
                return Err(self.0.fail(format!("duplicate key {key:?}{place}")));
            }
            self.0.path.borrow_mut().push(Step::Key(key.clone()));
            let value = map.next_value_seed(self)?;
            self.0.path.borrow_mut().pop();
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Finds which of the `suspects` are integer literals, by reading the numbers of `text` in
/// order: those that arrived as floats outside 64 bits are the suspects, one for one.
fn check_integers(text: &str, suspects: &[String]) -> Result<(), String> {
    let arrived_as_suspect = |token: &&str| {
        if token.contains(['.', 'e', 'E']) {
            token.parse().is_ok_and(outside_64_bits)
        } else {
            token.parse::<i64>().is_err() && token.parse::<u64>().is_err()
        }
    };
    let tokens = numbers(text).filter(arrived_as_suspect);
    for (token, path) in tokens.zip(suspects) {
        if !token.contains(['.', 'e', 'E']) {
            return Err(format!(
                "{path} = {token}: an integer must fit in 64 bits; write a larger one as a string"
            ));
        }
    }
    Ok(())
}

/// The number literals of valid JSON `text`, in order.
fn numbers(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    i += 1;
                    while bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    while i < bytes.len() && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                        i += 1;
                    }
                    return Some(&text[start..i]);
                }
                _ => i += 1,
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#"{"a": [1, -2, 3.5, 1e20, -9223372036854775808, 18446744073709551615], "b": {"c": null, "d": true}, "e": "x\"1e99\\"}"#,
            r#"[{"a": 1}, {"a": 1}]"#,
            "-0",
        ] {
            assert_eq!(
                parse(text).unwrap(),
                serde_json::from_str::<Value>(text).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn names_the_field_of_each_problem() {
        for (text, problem) in [
            (r#"{"a": 1, "a": 2}"#, r#"duplicate key "a""#),
            (r#"{"a": [{"b": 1, "b": 1}]}"#, r#"duplicate key "b" in a[0]"#),
            (
                r#"{"a": 1e20, "b": [0, 100000000000000000000]}"#,
                "b[1] = 100000000000000000000: an integer",
            ),
            (
                r#"{"s": "-99999999999999999999", "n": -9223372036854775809}"#,
                "n = -9223372036854775809:",
            ),
            ("[1, 2", "invalid JSON: EOF"),
        ] {
            let found = parse(text).unwrap_err();
            assert!(found.starts_with(problem), "{text}: {found}");
        }
    }
}
