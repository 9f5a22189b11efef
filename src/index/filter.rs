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

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Number, Value};

use super::field_path::{self, lookup};
use crate::input::Record;

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

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Literal(Value),
    Op(Op),
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
}

impl Filter {
    /// Parses a filter expression.
    pub fn parse(expr: &str) -> Result<Filter, FilterError> {
        let tokens = tokenize(expr)?;
        let mut parser = Parser {
            expr,
            tokens,
            pos: 0,
            depth: 0,
        };
        let filter = parser.or()?;
        match parser.peek() {
            None => Ok(filter),
            Some(_) => Err(parser.error("expected `and`, `or` or the end")),
        }
    }

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
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
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

/// The tokens of `expr`, each with its byte offset.
///
/// Long on purpose: one match over the next character is the whole token grammar, read in one
/// place; split up, each arm would need the cursor and the error maker passed around.
fn tokenize(expr: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let error = |at: usize, message: &str| FilterError {
        expr: expr.into(),
        column: at + 1,
        message: message.into(),
    };
    let bytes = expr.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let two = expr.get(i..i + 2).unwrap_or("");
        let token = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => Token::Open,
            b')' => Token::Close,
            b'[' => Token::OpenList,
            b']' => Token::CloseList,
            b',' => Token::Comma,
            _ if ["==", "!=", "<=", ">="].contains(&two) => {
                i += 1;
                Token::Op(match two {
                    "==" => Op::Eq,
                    "!=" => Op::Ne,
                    "<=" => Op::Le,
                    _ => Op::Ge,
                })
            }
            b'=' => Token::Op(Op::Eq),
            b'<' => Token::Op(Op::Lt),
            b'>' => Token::Op(Op::Gt),
            b'"' => {
                let mut end = i + 1;
                while end < bytes.len() && bytes[end] != b'"' {
                    end += if bytes[end] == b'\\' { 2 } else { 1 };
                }
                let literal = expr.get(i..=end).ok_or_else(|| error(i, "unterminated string"))?;
                i = end;
                Token::Literal(serde_json::from_str(literal).map_err(|_| error(start, "invalid string"))?)
            }
            b'\'' => {
                let end = expr[i + 1..]
                    .find('\'')
                    .ok_or_else(|| error(i, "unterminated string"))?
                    + i
                    + 1;
                let text = expr[i + 1..end].to_string();
                i = end;
                Token::Literal(Value::String(text))
            }
            b'-' | b'+' | b'.' | b'0'..=b'9' => {
                let end = expr[i..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || "+-.".contains(ch)))
                    .map_or(expr.len(), |n| n + i);
                let number: Number = expr[i..end]
                    .trim_start_matches('+')
                    .parse()
                    .map_err(|_| error(start, "invalid number"))?;
                i = end - 1;
                Token::Literal(Value::Number(number))
            }
            _ if c.is_ascii_alphabetic() || c == b'_' || c == b'`' => {
                let end = i + field_path::scan(&expr[i..]).map_err(|m| error(i, &m))?;
                let word = &expr[i..end];
                i = end - 1;
                match word {
                    "true" => Token::Literal(Value::Bool(true)),
                    "false" => Token::Literal(Value::Bool(false)),
                    "null" => Token::Literal(Value::Null),
                    _ => Token::Word(word.to_string()),
                }
            }
            b'&' => return Err(error(i, "write `and` instead of `&&`")),
            b'|' => return Err(error(i, "write `or` instead of `||`")),
            _ => return Err(error(i, "unexpected character")),
        };
        tokens.push((start, token));
        i += 1;
    }
    Ok(tokens)
}

struct Parser<'a> {
    expr: &'a str,
    tokens: Vec<(usize, Token)>,
    pos: usize,
    /// How many `not`s and parentheses enclose the current position.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|t| &t.1)
    }

    fn error(&self, message: &str) -> FilterError {
        let column = self.tokens.get(self.pos).map_or(self.expr.len(), |t| t.0) + 1;
        FilterError {
            expr: self.expr.into(),
            column,
            message: message.into(),
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        let found = matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word));
        self.pos += found as usize;
        found
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), FilterError> {
        if self.peek() == Some(&token) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {what}")))
        }
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut any = vec![self.and()?];
        while self.keyword("or") {
            any.push(self.and()?);
        }
        Ok(if any.len() == 1 { any.remove(0) } else { Filter::Or(any) })
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut all = vec![self.unary()?];
        while self.keyword("and") {
            all.push(self.unary()?);
        }
        Ok(if all.len() == 1 {
            all.remove(0)
        } else {
            Filter::And(all)
        })
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        let not = self.keyword("not");
        let open = !not && self.peek() == Some(&Token::Open);
        if !not && !open {
            return self.condition();
        }
        if self.depth == MAX_DEPTH {
            self.pos -= not as usize;
            return Err(self.error(&format!("nested more than {MAX_DEPTH} deep")));
        }
        self.depth += 1;
        let inner = if not {
            Filter::Not(Box::new(self.unary()?))
        } else {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(Token::Close, "`)`")?;
            inner
        };
        self.depth -= 1;
        Ok(inner)
    }

    fn condition(&mut self) -> Result<Filter, FilterError> {
        let Some(Token::Word(field)) = self.peek().cloned() else {
            return Err(self.error("expected a field name, `not` or `(`"));
        };
        self.pos += 1;
        let path = field_path::parse(&field).map_err(|m| {
            self.pos -= 1;
            self.error(&m)
        })?;
        if self.keyword("exists") {
            return Ok(Filter::Exists(path));
        }
        if self.keyword("in") {
            self.expect(Token::OpenList, "`[`")?;
            let mut values = vec![self.value()?];
            while self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                values.push(self.value()?);
            }
            self.expect(Token::CloseList, "`,` or `]`")?;
            return Ok(Filter::In(path, values));
        }
        let Some(Token::Op(op)) = self.peek().cloned() else {
            return Err(self.error("expected an operator (= != < <= > >=), `in` or `exists`"));
        };
        self.pos += 1;
        Ok(Filter::Compare(path, op, self.value()?))
    }

    fn value(&mut self) -> Result<Value, FilterError> {
        let value = match self.peek() {
            Some(Token::Literal(v)) => v.clone(),
            Some(Token::Word(w))
                if !["and", "or", "not", "in", "exists"].contains(&w.to_ascii_lowercase().as_str()) =>
            {
                Value::String(w.clone())
            }
            _ => return Err(self.error("expected a value")),
        };
        self.pos += 1;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
