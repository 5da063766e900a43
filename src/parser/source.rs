//! Maps the parser's line/column positions back to byte offsets, to keep definitions as written.

use datafusion::sql::sqlparser::tokenizer::Location as SqlLocation;

use crate::error::Location;

pub(super) struct SourceText<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
}

impl<'a> SourceText<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, line_starts }
    }

    /// Byte offset of a 1-based line/column (columns count characters).
    fn offset(&self, at: SqlLocation) -> usize {
        if at.line == 0 {
            return self.text.len();
        }
        let Some(&line_start) = self.line_starts.get(at.line as usize - 1) else {
            return self.text.len();
        };
        let line = &self.text[line_start..];
        let col = at.column.saturating_sub(1) as usize;
        line_start
            + line
                .char_indices()
                .nth(col)
                .map(|(i, _)| i)
                .unwrap_or(line.len())
    }

    /// The text from `start` up to (not including) `end`, trimmed.
    pub fn slice(&self, start: SqlLocation, end: SqlLocation) -> &'a str {
        let (a, b) = (self.offset(start), self.offset(end));
        if a <= b { self.text[a..b].trim() } else { "" }
    }
}

/// Where `name` (an identifier, or `entity.name`) first appears as a name in `text`, a
/// statement that starts at `start` in its script. Names are compared as SQL does: unquoted
/// case-insensitively, quoted exactly. String literals and comments are not searched.
pub fn locate_name(text: &str, start: Location, name: &str) -> Option<Location> {
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

    let parts: Vec<&str> = match super::split_qualified(name) {
        Some((a, b)) => vec![a, b],
        None => vec![name],
    };
    let parts: Vec<&str> = parts.iter().map(|p| p.trim_matches('"')).collect();
    let tokens = Tokenizer::new(&super::DIALECT, text)
        .tokenize_with_location()
        .ok()?;
    let words: Vec<_> = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let is = |t: &Token, part: &str| match t {
        Token::Word(w) if w.quote_style.is_some() => w.value == part,
        Token::Word(w) => w.value.eq_ignore_ascii_case(part),
        _ => false,
    };
    let found = (0..words.len()).find(|&i| {
        parts.iter().enumerate().all(|(k, part)| {
            // entity.name: the words with a period between them.
            let at = i + 2 * k;
            at < words.len()
                && is(&words[at].token, part)
                && (k == 0 || words[at - 1].token == Token::Period)
        })
    })?;
    let at = words[found].span.start;
    Some(if at.line <= 1 {
        Location {
            line: start.line,
            column: start.column + at.column - 1,
        }
    } else {
        Location {
            line: start.line + at.line - 1,
            column: at.column,
        }
    })
}
