//! The filter grammar (in the parent module's documentation): tokens into a [`Filter`], by
//! recursive descent, with `not` and parentheses kept within [`MAX_DEPTH`].

use serde_json::Value;

use super::lexer::{tokenize, Token};
use super::{Filter, FilterError, MAX_DEPTH};
use crate::index::field_path;

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
