//! Error reports, shared by every front end: `error: <file>:<line>:<col>: <message>`, then
//! the line with a caret.

use crate::error::Error;

/// A named piece of SQL: a file, `-c` text, standard input, a REPL line or a client's query.
pub struct Script {
    pub name: String,
    pub text: String,
}

pub fn render_error(e: &Error, script: Option<&Script>) -> String {
    let message = e.root().to_string();
    let (Some(script), Some(at)) = (script, e.location()) else {
        return format!("error: {message}\n");
    };
    let mut out = format!(
        "error: {}:{}:{}: {message}\n",
        script.name, at.line, at.column
    );
    if let Some(line) = script.text.lines().nth(at.line.saturating_sub(1) as usize) {
        let number = at.line.to_string();
        let pad = " ".repeat(number.len());
        let (line, column) = window(line, at.column.saturating_sub(1) as usize);
        // The caret goes under the column as a terminal shows it: CJK characters take two
        // cells, combining marks none (unicode-width), tabs stay tabs.
        let caret_at: String = line
            .chars()
            .take(column)
            .map(|c| match c {
                '\t' => "\t".to_string(),
                c => " ".repeat(unicode_width::UnicodeWidthChar::width(c).unwrap_or(0)),
            })
            .collect();
        out.push_str(&format!(
            "{pad} |\n{number} | {line}\n{pad} | {caret_at}^\n"
        ));
    }
    out
}

/// Characters of a long line shown on either side of the caret.
const CONTEXT: usize = 60;

/// The part of a long line around character `column` (0-based), cut with `…`, and where the
/// column is in it. Generated SQL puts thousands of conditions on one line: the report (and a
/// server's error status, whose size gRPC limits) shows where, not all of it.
fn window(line: &str, column: usize) -> (String, usize) {
    let count = line.chars().count();
    if count <= 2 * CONTEXT + 20 {
        return (line.to_string(), column);
    }
    let start = column.saturating_sub(CONTEXT);
    let end = (column + CONTEXT).min(count);
    let mut text: String = line.chars().skip(start).take(end - start).collect();
    let mut at = column - start;
    if start > 0 {
        text.insert(0, '…');
        at += 1;
    }
    if end < count {
        text.push('…');
    }
    (text, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let line = format!("{}ERR{}", "a ".repeat(5_000), " b".repeat(5_000));
        let script = Script {
            name: "q".into(),
            text: line,
        };
        let e = Error::Parse {
            message: "bad".into(),
            location: Location {
                line: 1,
                column: 10_001,
            },
        };
        let text = render_error(&e, Some(&script));
        assert!(text.len() < 400, "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let caret = lines[3].chars().count() - 1;
        assert_eq!(lines[2].chars().nth(caret), Some('E'), "{text}");
        assert!(
            lines[2].starts_with("1 | …") && lines[2].ends_with('…'),
            "{text}"
        );
    }

    #[test]
    fn caret_sits_under_wide_characters_as_a_terminal_shows_them() {
        let script = Script {
            name: "a.sql".into(),
            text: "SELECT '客户' AS x, nope".into(),
        };
        let e = Error::Parse {
            message: "bad".into(),
            location: Location {
                line: 1,
                column: 19,
            },
        };
        let text = render_error(&e, Some(&script));
        let caret = text.lines().nth(3).expect("caret line");
        // "SELECT '" is 8 cells, 客户 4, "' AS x, " 8: the caret in cell 21 after "  | ".
        assert_eq!(caret, format!("  | {}^", " ".repeat(20)), "{text}");
    }

    #[test]
    fn caret_sits_under_the_column() {
        let script = Script {
            name: "a.sql".into(),
            text: "SELECT 1;\nSELEC 2;".into(),
        };
        let e = Error::Parse {
            message: "Expected: an SQL statement".into(),
            location: Location { line: 2, column: 1 },
        };
        assert_eq!(
            render_error(&e, Some(&script)),
            "error: a.sql:2:1: Expected: an SQL statement\n  |\n2 | SELEC 2;\n  | ^\n"
        );
    }
}
