//! Maps the parser's line/column positions back to byte offsets, to keep definitions as written.

use datafusion::sql::sqlparser::tokenizer::Location as SqlLocation;

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
