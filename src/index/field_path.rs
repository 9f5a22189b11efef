//! Field paths, one rule for `--filter` and `--fields`: names separated by dots reach into
//! nested objects (`a.b` is field `b` of object `a`); a name in backticks is taken as written,
//! dots, commas and spaces included (`` `a.b` `` is the field named "a.b"; a backtick inside
//! one is doubled).

use serde_json::Value;

use crate::input::Record;

/// The names of the path written `text`.
pub fn parse(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let (mut name, mut quoted) = (String::new(), false);
    let mut chars = text.chars().peekable();
    loop {
        match chars.next() {
            Some('`') => {
                quoted = true;
                loop {
                    match chars.next() {
                        None => return Err(format!("unclosed backtick in {text}")),
                        Some('`') if chars.peek() == Some(&'`') => {
                            chars.next();
                            name.push('`');
                        }
                        Some('`') => break,
                        Some(c) => name.push(c),
                    }
                }
            }
            end @ (None | Some('.')) => {
                if name.is_empty() && !quoted {
                    return Err(format!("empty field name in {text:?} (a dotted key goes in backticks)"));
                }
                names.push(std::mem::take(&mut name));
                quoted = false;
                if end.is_none() {
                    return Ok(names);
                }
            }
            Some(c) => name.push(c),
        }
    }
}

/// Bytes at the start of `text` that belong to a path in a filter expression: letters, digits,
/// `_`, `-`, `.` and names in backticks.
pub fn scan(text: &str) -> Result<usize, String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'`' => {
                let close = text[i + 1..].find('`').ok_or("unclosed backtick")?;
                i += close + 2;
            }
            c if c.is_ascii_alphanumeric() || b"_.-".contains(&c) => i += 1,
            _ => break,
        }
    }
    Ok(i)
}

/// `path` written as [`parse`] reads it: names joined by dots, in backticks where needed.
pub fn show(path: &[String]) -> String {
    let name = |n: &String| match n.bytes().all(|c| c.is_ascii_alphanumeric() || b"_-".contains(&c)) {
        true if !n.is_empty() => n.clone(),
        _ => format!("`{}`", n.replace('`', "``")),
    };
    path.iter().map(name).collect::<Vec<_>>().join(".")
}

/// Splits a comma-separated list of paths (`--fields`), commas inside backticks kept.
pub fn split_list(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            '`' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The value at `path` in `record`, if there is one.
pub fn lookup<'a>(record: &'a Record, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(record.get(first)?, |value, key| value.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_split_and_backticks_quote() {
        let names = |t: &str| parse(t).unwrap();
        assert_eq!(names("a"), ["a"]);
        assert_eq!(names("a.b"), ["a", "b"]);
        assert_eq!(names("`a.b`"), ["a.b"]);
        assert_eq!(names("x.`a.b`.c"), ["x", "a.b", "c"]);
        assert_eq!(names("`a``b`"), ["a`b"]);
        assert_eq!(names("``"), [""]);
        for bad in ["", "a.", ".a", "a..b", "`a", "a.`b"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(scan("a.`b c`.d = 1"), Ok(9));
        assert_eq!(scan("`a``b` x"), Ok(6));
        assert!(scan("`a").is_err());
        assert_eq!(split_list("id,`a,b`,c.d"), ["id", "`a,b`", "c.d"]);
        for text in ["a", "a.b-c", "x.`a.b`.c", "`a``b`", "``", "`a b`"] {
            assert_eq!(show(&names(text)), text);
        }
    }
}
