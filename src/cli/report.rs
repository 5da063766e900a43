//! Error reports: `error: <file>:<line>:<col>: <message>`, then the line with a caret.

use crate::cli::Script;
use crate::error::Error;

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
        let caret_at: String = line
            .chars()
            .take(at.column.saturating_sub(1) as usize)
            .map(|c| {
                if c == '\t' {
                    '\t'
                } else if is_wide(c) {
                    '\u{3000}'
                } else {
                    ' '
                }
            })
            .collect();
        out.push_str(&format!(
            "{pad} |\n{number} | {line}\n{pad} | {caret_at}^\n"
        ));
    }
    out
}

/// CJK characters take two columns in a terminal; an ideographic space keeps the caret aligned.
fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Location;

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
