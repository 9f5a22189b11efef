//! Metadata filters for `query --filter`: comparisons of record fields combined with
//! `and`, `or`, `not` and parentheses.
//!
//! ```text
//! expr       := and ("or" and)*
//! and        := unary ("and" unary)*
//! unary      := "not" unary | "(" expr ")" | condition
//! condition  := field op value | field "in" "[" value ("," value)* "]" | field "exists"
//! op         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
//! value      := "string" | 'string' | number | true | false | null | bare-word (a string)
//! field      := name ("." name)*        (dots reach into nested objects; `a.b` in backticks
//!                                         is one name: see [`super::field_path`])
//! ```
//!
//! A chain of `and`s or `or`s is one node, however long; `not` and parentheses may nest at most
//! [`MAX_DEPTH`] deep, so neither parsing nor matching can exhaust the stack.
//!
//! `lexer` cuts an expression into tokens, `parser` reads the grammar above into a [`Filter`]
//! ([`Filter::parse`]), `eval` tells whether a record passes it ([`Filter::matches`]), `hint`
//! why none does ([`FilterHint`]).

use std::fmt;

use serde_json::Value;

mod eval;
mod hint;
mod lexer;
mod parser;

pub use hint::FilterHint;

/// A parsed filter expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `field op value`.
    Compare(Vec<String>, Op, Value),
    /// `field in [values]`.
    In(Vec<String>, Vec<Value>),
    /// `field exists`.
    Exists(Vec<String>),
    /// `not expr`.
    Not(Box<Filter>),
    /// `a and b and ...`: all pass.
    And(Vec<Filter>),
    /// `a or b or ...`: one passes.
    Or(Vec<Filter>),
}

/// How deep `not` and parentheses may nest.
pub const MAX_DEPTH: usize = 100;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=` or `==`.
    Eq,
    /// `!=`: also true when the field is missing.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// A malformed filter, with the 1-based column where it went wrong.
#[derive(Debug)]
pub struct FilterError {
    /// The expression as given.
    pub expr: String,
    /// 1-based column of the problem.
    pub column: usize,
    /// What was expected or found.
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "--filter: {} at column {}\n  {}\n  {:>width$}",
            self.message,
            self.column,
            self.expr,
            "^",
            width = self.column
        )
    }
}

impl std::error::Error for FilterError {}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::Filter;
    use crate::input::Record;

    fn record(value: Value) -> Record {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn evaluates_every_form() {
        let r = record(json!({"source": "fortune", "year": 2021, "score": 0.5, "tags": {"lang": "en"}, "none": null}));
        for (expr, expected) in [
            ("source = fortune", true),
            ("source == \"fortune\" and year >= 2020", true),
            ("source != 'fortune' or year < 2000", false),
            ("year in [2019, 2021.0]", true),
            ("source in [\"a\", b]", false),
            ("tags.lang = en", true),
            ("missing != 1", true),
            ("missing = 1 or missing < 1", false),
            ("year exists and not none exists", true),
            ("not (score > 0.4 and score <= 0.5)", false),
            ("NOT source = x AND (year > 2030 OR year = 2021)", true),
            ("year = \"2021\"", false),
            ("score >= -1e3", true),
        ] {
            assert_eq!(Filter::parse(expr).unwrap().matches(&r), expected, "{expr}");
        }
    }

    #[test]
    fn reports_the_column_of_the_problem() {
        for (expr, column, message) in [
            ("year >=", 8, "expected a value"),
            ("year 2020", 6, "expected an operator"),
            ("(a = 1", 7, "expected `)`"),
            ("a = 1 b = 2", 7, "expected `and`, `or` or the end"),
            ("a in [1, 2", 11, "expected `,` or `]`"),
            ("a = \"open", 5, "unterminated string"),
            ("a = 1.2.3", 5, "invalid number"),
            ("a ~ 1", 3, "unexpected character"),
            ("", 1, "expected a field name"),
        ] {
            let e = Filter::parse(expr).unwrap_err();
            assert_eq!(
                (e.column, e.message.starts_with(message)),
                (column, true),
                "{expr}: {e}"
            );
        }
    }
}
