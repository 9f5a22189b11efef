//! The tokens of a filter expression: the whole token grammar is one match in [`tokenize`].

use serde_json::{Number, Value};

use super::{FilterError, Op};
use crate::index::field_path;

/// One token of a filter expression.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Token {
    Word(String),
    Literal(Value),
    Op(Op),
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
}

/// The tokens of `expr`, each with its byte offset.
///
/// Long on purpose: one match over the next character is the whole token grammar, read in one
/// place; split up, each arm would need the cursor and the error maker passed around.
pub(super) fn tokenize(expr: &str) -> Result<Vec<(usize, Token)>, FilterError> {
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
