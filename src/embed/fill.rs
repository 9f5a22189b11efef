//! [`LinesWithVectors`]: JSONL lines with a vector made from the text of every line that has text and no
//! vector; other lines pass unchanged, in order.

use std::collections::VecDeque;

use anyhow::{anyhow, bail, Result};
use indicatif::ProgressBar;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::{Embedder, TextError};
use crate::input::{json_type, parse_object, two_fields, LineSource};
use crate::progress;

/// Texts sent to the provider together (it may split them further). Large, so a local model can
/// sort many texts by length into batches with little padding: 176 texts/s end to end on the dev
/// texts, against 124 with rounds of 256.
const TEXTS_PER_ROUND: usize = 2048;
/// Lines held back at most while texts are gathered.
const LINES_PER_ROUND: usize = 4 * TEXTS_PER_ROUND;

/// Opens the provider when a line first needs it.
pub type Opener<'a> = Box<dyn FnOnce() -> Result<Box<dyn Embedder>> + 'a>;

/// Lines of `source`, each line that lacks `vector_field` but has a string `text_field` given
/// the vector of its text (appended as the line's last field).
pub struct LinesWithVectors<'a, S> {
    source: S,
    text_field: String,
    vector_field: String,
    opener: Option<Opener<'a>>,
    embedder: Option<Box<dyn Embedder>>,
    ready: VecDeque<(u64, String)>,
    dimensions: Option<usize>,
    /// The `embed` counter, made when the first text is embedded, so input without texts shows
    /// none.
    bar: Option<ProgressBar>,
}

/// A line waiting for its vector.
struct Waiting {
    line: u64,
    text: String,
    /// The line, less the vector field if it was null, ready to take one more field.
    object: String,
}

impl<'a, S: LineSource> LinesWithVectors<'a, S> {
    /// Fills `source`'s lines with `embedder`'s vectors.
    pub fn new(source: S, embedder: Box<dyn Embedder>, text_field: &str, vector_field: &str) -> Self {
        Self::with(source, Some(embedder), None, text_field, vector_field)
    }

    /// Like [`LinesWithVectors::new`], but the provider is opened only when a line needs it.
    pub fn lazy(source: S, opener: Opener<'a>, text_field: &str, vector_field: &str) -> Self {
        Self::with(source, None, Some(opener), text_field, vector_field)
    }

    fn with(
        source: S,
        embedder: Option<Box<dyn Embedder>>,
        opener: Option<Opener<'a>>,
        text_field: &str,
        vector_field: &str,
    ) -> Self {
        LinesWithVectors {
            source,
            text_field: text_field.into(),
            vector_field: vector_field.into(),
            opener,
            embedder,
            ready: VecDeque::new(),
            dimensions: None,
            bar: None,
        }
    }

    /// The provider, if it was opened (to read its [`Embedder::info`]).
    pub fn embedder(&self) -> Option<&dyn Embedder> {
        self.embedder.as_deref()
    }

    /// Reads lines until `TEXTS_PER_ROUND` texts wait (or the input ends or pauses), embeds them and
    /// queues every line read, in order. A line that passes unchanged while no text waits is
    /// queued at once, so input that needs no embedding streams through without being held.
    fn fill(&mut self) -> Result<()> {
        let mut lines: Vec<(u64, String, Option<usize>)> = Vec::new();
        let mut waiting = Vec::new();
        while waiting.len() < TEXTS_PER_ROUND && lines.len() < LINES_PER_ROUND {
            // Texts that came before a pause are embedded (and answered) before waiting on.
            if !waiting.is_empty() && !self.source.ready() {
                break;
            }
            let Some((line, text)) = self.source.next_line()? else {
                break;
            };
            match self.wants_vector(line, &text)? {
                Some(w) => {
                    lines.push((line, String::new(), Some(waiting.len())));
                    waiting.push(w);
                }
                None if waiting.is_empty() => {
                    self.ready.push_back((line, text));
                    return Ok(());
                }
                None => lines.push((line, text, None)),
            }
        }
        let vectors = self.embed(&waiting)?;
        for (line, text, slot) in lines {
            let text = match slot {
                None => text,
                Some(i) => with_vector(&waiting[i].object, &self.vector_field, &vectors[i]),
            };
            self.ready.push_back((line, text));
        }
        if let Some(bar) = &self.bar {
            bar.inc(waiting.len() as u64);
        }
        Ok(())
    }

    /// The line's text and object when it has text and no vector; `None` for lines that pass
    /// unchanged (the reader after this one reports anything wrong with them).
    fn wants_vector(&self, line: u64, text: &str) -> Result<Option<Waiting>> {
        // A line that never names the text field has no text. (A key may be spelled with
        // escapes, so a line with a backslash is always read.)
        if !text.contains(self.text_field.as_str()) && !text.contains('\\') {
            return Ok(None);
        }
        // Most lines have a vector: look at the two fields only, without parsing the numbers.
        let names = (self.vector_field.as_str(), self.text_field.as_str());
        let Ok((vector, content)) = two_fields::<Option<IgnoredAny>, Value>(text, names) else {
            return Ok(None);
        };
        let content = match (vector, content) {
            (Some(Some(_)), _) | (_, None | Some(Value::Null)) => return Ok(None),
            (_, Some(Value::String(s))) => s,
            (_, Some(other)) => bail!(
                "{}:{line}: {} must be a string to be embedded, not {}",
                self.source.name(),
                self.text_field,
                json_type(&other)
            ),
        };
        let object = if vector.is_some() {
            // `"vector": null`: drop it, so the vector appended is the only one.
            let name = self.source.name();
            let mut object = parse_object(text).map_err(|e| anyhow::anyhow!("{name}:{line}: {e}"))?;
            object.remove(&self.vector_field);
            serde_json::to_string(&object)?
        } else {
            text.to_string()
        };
        Ok(Some(Waiting {
            line,
            text: content,
            object,
        }))
    }

    /// The vectors of the waiting texts, checked for count and length.
    fn embed(&mut self, waiting: &[Waiting]) -> Result<Vec<Vec<f32>>> {
        let Some(first) = waiting.first() else {
            return Ok(Vec::new());
        };
        let name = self.source.name().to_string();
        if self.embedder.is_none() {
            let opener = self.opener.take().expect("an embedder or a way to open one");
            let embedder = opener().map_err(|e| {
                anyhow!(
                    "{name}:{}: no {} to take, and its text cannot be embedded: {e:#}",
                    first.line,
                    self.vector_field
                )
            })?;
            self.embedder = Some(embedder);
        }
        // Shown once a provider is there to do the work, never for input without texts.
        self.bar
            .get_or_insert_with(|| progress::counter("embed", "texts"))
            .tick();
        let texts: Vec<String> = waiting.iter().map(|w| w.text.clone()).collect();
        let embedder = self.embedder.as_mut().expect("opened above");
        let vectors = embedder
            .embed(&texts)
            .map_err(|e| match e.downcast_ref::<TextError>() {
                Some(t) if t.index < waiting.len() => anyhow!("{name}:{}: {t}", waiting[t.index].line),
                _ => {
                    let last = waiting.last().map_or(first.line, |w| w.line);
                    anyhow!("{name}:{}-{last}: embedding failed: {e:#}", first.line)
                }
            })?;
        if vectors.len() != texts.len() {
            bail!(
                "{name}:{}: the provider gave {} vectors for {} texts",
                first.line,
                vectors.len(),
                texts.len()
            );
        }
        for (w, v) in waiting.iter().zip(&vectors) {
            let expected = *self.dimensions.get_or_insert(v.len());
            if v.len() != expected || v.iter().any(|x| !x.is_finite()) {
                bail!(
                    "{name}:{}: the provider gave a vector of {} numbers (expected {expected}, all finite)",
                    w.line,
                    v.len()
                );
            }
        }
        Ok(vectors)
    }
}

impl<S: LineSource> LineSource for LinesWithVectors<'_, S> {
    fn next_line(&mut self) -> Result<Option<(u64, String)>> {
        if self.ready.is_empty() {
            self.fill()?;
        }
        let next = self.ready.pop_front();
        if let (None, Some(bar)) = (&next, &self.bar) {
            bar.finish_and_clear();
        }
        Ok(next)
    }

    fn name(&self) -> &str {
        self.source.name()
    }

    fn ready(&self) -> bool {
        !self.ready.is_empty() || self.source.ready()
    }
}

/// `object` (a JSON object's text) with `field: vector` appended. float32 values are written in
/// their shortest form, which reads back to the same bits.
fn with_vector(object: &str, field: &str, vector: &[f32]) -> String {
    let body = object.trim_end();
    let body = body.strip_suffix('}').expect("a JSON object ends with }").trim_end();
    let comma = if body.ends_with('{') { "" } else { "," };
    let field = serde_json::to_string(field).expect("a string serializes");
    let vector = serde_json::to_string(vector).expect("numbers serialize");
    format!("{body}{comma}{field}:{vector}}}")
}

#[cfg(test)]
mod tests {
    use super::with_vector;

    #[test]
    fn vector_is_appended_as_last_field() {
        assert_eq!(
            with_vector(r#"{"id":1} "#, "v", &[0.5, -1.0]),
            r#"{"id":1,"v":[0.5,-1.0]}"#
        );
        assert_eq!(with_vector("{ }", "v", &[0.1]), r#"{"v":[0.1]}"#);
    }
}
