//! rustyline helper: completion from the live catalog, syntax highlighting, and multi-line
//! input that ends at `;`.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::parser::keywords;

/// Standard SQL keywords completed and highlighted; the TAG DSL's come from
/// [`crate::parser::keywords`], the one list the server's SqlInfo uses too.
pub const SQL_KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT",
    "RIGHT",
    "FULL",
    "INNER",
    "OUTER",
    "CROSS",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "UNION",
    "ALL",
    "WITH",
    "OVER",
    "PARTITION",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "CAST",
    "INTERVAL",
    "TIMESTAMP",
    "DATE",
    "TRUE",
    "FALSE",
    "EXISTS",
    "FILTER",
    "EXPLAIN",
    "ANALYZE",
    "COPY",
    "TO",
    "CREATE",
    "OR",
    "REPLACE",
    "EXTERNAL",
    "TABLE",
    "VIEW",
    "DROP",
    "SHOW",
    "DESCRIBE",
    "SET",
    "STORED",
    "LOCATION",
    "OPTIONS",
    "VALUES",
    "INSERT",
    "INTO",
];

/// Whether `word` is highlighted as a keyword: SQL's or the DSL's (each word of its phrases).
fn is_keyword(word: &str) -> bool {
    SQL_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
        || keywords::dsl_words().any(|k| k.eq_ignore_ascii_case(word))
}

/// The names completion offers, refreshed after every statement.
#[derive(Debug, Default, Clone)]
pub struct Names {
    /// Tables, `entity.tag`, `entity.segment`, entities, functions, columns.
    pub words: Vec<String>,
}

pub struct ReplHelper {
    pub names: Arc<RwLock<Names>>,
    pub color: bool,
}

/// Where the word being completed starts: after whitespace or punctuation, keeping `.`.
fn word_start(line: &str, pos: usize) -> usize {
    line[..pos]
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || *c == '.' || *c == '\\'))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = word_start(line, pos);
        let prefix = &line[start..pos];
        if prefix.is_empty() {
            return Ok((start, Vec::new()));
        }
        let lower = prefix.to_lowercase();
        let mut out: Vec<Pair> = Vec::new();
        let mut push = |word: &str, upper: bool| {
            let candidate = if upper && prefix.chars().next().is_some_and(char::is_lowercase) {
                word.to_lowercase()
            } else {
                word.to_string()
            };
            if candidate.to_lowercase().starts_with(&lower)
                && !out.iter().any(|p| p.replacement == candidate)
            {
                out.push(Pair {
                    display: candidate.clone(),
                    replacement: candidate,
                });
            }
        };
        if prefix.starts_with('\\') {
            for c in super::commands::NAMES {
                push(c, false);
            }
        } else {
            if let Ok(names) = self.names.read() {
                for w in &names.words {
                    push(w, false);
                }
            }
            for k in SQL_KEYWORDS.iter().chain(keywords::DSL_PHRASES) {
                push(k, true);
            }
        }
        out.sort_by(|a, b| {
            a.replacement
                .len()
                .cmp(&b.replacement.len())
                .then(a.replacement.cmp(&b.replacement))
        });
        Ok((start, out))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

/// Whether the input is complete: a meta command, or SQL ending with `;` outside quotes and
/// comments.
pub fn is_complete(input: &str) -> bool {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.starts_with('\\') {
        return true;
    }
    let mut in_single = false;
    let mut in_double = false;
    let mut last_significant = ' ';
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single => in_double = !in_double,
            '-' if !in_single && !in_double && chars.peek() == Some(&'-') => {
                // A line comment: skip to the end of the line.
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                continue;
            }
            _ => {}
        }
        if !c.is_whitespace() {
            last_significant = c;
        }
    }
    !in_single && !in_double && last_significant == ';'
}

impl Validator for ReplHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if is_complete(ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

/// ANSI colours: keywords bold blue, strings green, numbers yellow, comments grey.
pub fn highlight_sql(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i = (i + 1).min(chars.len());
            out.push_str("\x1b[32m");
            out.extend(&chars[start..i]);
            out.push_str("\x1b[0m");
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            let start = i;
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            out.push_str("\x1b[90m");
            out.extend(&chars[start..i]);
            out.push_str("\x1b[0m");
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // `customer.profile`: a name after a dot is never a keyword.
            let qualified = start > 0 && chars[start - 1] == '.';
            if !qualified && is_keyword(&word) {
                out.push_str("\x1b[1;34m");
                out.push_str(&word);
                out.push_str("\x1b[0m");
            } else {
                out.push_str(&word);
            }
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            out.push_str("\x1b[33m");
            out.extend(&chars[start..i]);
            out.push_str("\x1b[0m");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.color && !line.trim_start().starts_with('\\') {
            Cow::Owned(highlight_sql(line))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_a_semicolon_outside_quotes_and_comments() {
        assert!(!is_complete("SELECT 1"));
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1;  \n"));
        assert!(!is_complete("SELECT ';"));
        assert!(is_complete("SELECT ';';"));
        assert!(!is_complete("SELECT 1 -- done;"));
        assert!(is_complete("SELECT 1 -- one\n;"));
        assert!(is_complete("\\tags"));
        assert!(is_complete(""));
    }

    #[test]
    fn dsl_words_are_highlighted() {
        for word in ["IDENTITY", "graph", "PRIORITY", "persona", "SELECT"] {
            assert!(is_keyword(word), "{word}");
        }
        assert!(!is_keyword("customer"));
    }

    #[test]
    fn highlighting_keeps_the_text() {
        let h = highlight_sql("SELECT '中文', 42 FROM t -- c");
        let plain: String = {
            let mut s = String::new();
            let mut esc = false;
            for c in h.chars() {
                if c == '\x1b' {
                    esc = true;
                } else if esc {
                    if c == 'm' {
                        esc = false;
                    }
                } else {
                    s.push(c);
                }
            }
            s
        };
        assert_eq!(plain, "SELECT '中文', 42 FROM t -- c");
        assert!(h.contains("\x1b[1;34mSELECT"));
        assert!(highlight_sql("customer.profile").contains("customer.profile"));
    }
}
