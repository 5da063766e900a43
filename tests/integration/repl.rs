//! The REPL through a pseudo-terminal (`expectrl`): the real binary with a terminal on stdin.

use std::time::Duration;

use expectrl::session::OsSession as Session;
use expectrl::{Expect, Regex};
use unicode_width::UnicodeWidthStr;

use super::Sandbox;

const PROMPT: &str = "tagfusion> ";

fn repl(s: &Sandbox, color: bool) -> Session {
    let mut cmd = s.cmd(&[]);
    cmd.env("TAGFUSION_HISTORY", s.path("history"));
    if color {
        cmd.env_remove("NO_COLOR");
    } else {
        cmd.env("NO_COLOR", "1");
    }
    let mut p = expectrl::Session::spawn(cmd).expect("spawn the REPL in a pty");
    p.set_expect_timeout(Some(Duration::from_secs(60)));
    p.expect(PROMPT).expect("prompt");
    p
}

/// The text printed up to and including `needle` (a regex).
fn until(p: &mut Session, needle: &str) -> String {
    let found = p
        .expect(Regex(needle))
        .unwrap_or_else(|e| panic!("waiting for {needle}: {e}"));
    String::from_utf8_lossy(found.before()).to_string()
        + &String::from_utf8_lossy(found.get(0).unwrap_or_default())
}

#[test]
fn multi_line_statements_meta_commands_errors_and_history() {
    let s = Sandbox::new();
    s.fixture(&["2026-07-01 00:00:00"]);
    let mut p = repl(&s, false);
    // A statement over two lines runs at the `;`.
    p.send_line("SELECT 40 +").expect("send");
    p.send_line("2 AS answer;").expect("send");
    let out = until(&mut p, "1 row");
    assert!(out.contains("42"), "{out}");
    // Meta commands know TagFusion's objects.
    p.send_line("\\tags spend").expect("send");
    let out = until(&mut p, "\\d+ rows?");
    assert!(
        out.contains("spend_30d") && out.contains("spend_rank"),
        "{out}"
    );
    p.send_line("\\d customer.gender").expect("send");
    let out = until(&mut p, "\\d+ rows?");
    assert!(out.contains("CASE sex WHEN 'F'"), "{out}");
    p.send_line("\\d customer").expect("send");
    let out = until(&mut p, "\\d+ rows?");
    assert!(out.contains("customer_id"), "{out}");
    p.send_line("\\segments").expect("send");
    until(&mut p, "0 rows");
    std::fs::write(s.path("script.sql"), "SELECT 'from a file' AS source;").expect("script");
    p.send_line(format!("\\i {}", s.path("script.sql").display()))
        .expect("send");
    until(&mut p, "from a file");
    // A slow statement shows a spinner with the elapsed time (a distinct count over 100M rows:
    // seconds even with the dependencies optimised, where a plain count(*) took under half a second).
    p.send_line("SELECT count(DISTINCT value % 1000003) AS d FROM generate_series(1, 100000000);")
        .expect("send");
    until(&mut p, "running… [0-9]+s");
    until(&mut p, "1000003");
    p.send_line("\\timing").expect("send");
    until(&mut p, "timing on");
    p.send_line("SELECT count(*) AS n FROM customer.profile;")
        .expect("send");
    let out = until(&mut p, "Time: [0-9.]+ ms");
    assert!(out.contains("│ 4 │") || out.contains("┆ 4 │"), "{out}");
    // An error prints like the CLI's, with a caret, and the session goes on.
    p.send_line("SELECT nope FROM customer.profile;")
        .expect("send");
    let out = until(&mut p, "\\^");
    assert!(
        out.contains("error: stdin:1:8: No field named nope"),
        "{out}"
    );
    p.send_line("\\format csv").expect("send");
    until(&mut p, "format csv");
    p.send_line("SELECT 'x' AS y;").expect("send");
    until(&mut p, "y\r?\nx");
    p.send_line("\\q").expect("send");
    p.expect(expectrl::Eof).expect("exits");
    let history = std::fs::read_to_string(s.path("history")).expect("history file");
    assert!(history.contains("SELECT 40 +"), "{history}");
    assert!(history.contains("\\tags spend"), "{history}");
}

#[test]
fn ctrl_c_cancels_the_running_statement_and_ctrl_d_exits() {
    let s = Sandbox::new();
    let mut p = repl(&s, false);
    p.get_process_mut()
        .set_window_size(80, 24)
        .expect("window size");
    p.send_line("SELECT count(*) FROM generate_series(1, 50000000000);")
        .expect("send");
    // The spinner shows after half a second.
    let mut before = until(&mut p, "running… [0-9]+s");
    std::thread::sleep(Duration::from_millis(1200));
    before += &until(&mut p, "running… [0-9]+s");
    p.send("\x03").expect("ctrl-c");
    let after = until(&mut p, "cancelled");
    // What a terminal shows once the statement is cancelled: the spinner's line is gone. A
    // terminal echoes `^C` where the cursor is (Linux's default `echoctl`; this pty does not
    // echo, so the emulated screen gets it where the key was pressed). indicatif's padded line
    // used to leave the cursor in the last column, the echo wrapped, the clear hit the wrong
    // line and `⠐ running… 1s` stayed on screen.
    let mut screen = vt100::Parser::new(24, 80, 0);
    screen.process(before.as_bytes());
    screen.process(b"^C");
    screen.process(after.as_bytes());
    let text = screen.screen().contents();
    assert!(!text.contains("running…"), "{text}");
    assert!(text.contains("cancelled"), "{text}");
    p.expect(PROMPT).expect("prompt again");
    p.send_line("SELECT 6 * 7 AS n;").expect("send");
    let out = until(&mut p, "1 row");
    assert!(out.contains("42"), "{out}");
    // Ctrl-D must reach the line editor, not the terminal's cooked mode between prompts.
    p.expect(PROMPT).expect("prompt before ctrl-d");
    p.send("\x04").expect("ctrl-d");
    p.expect(expectrl::Eof).expect("exits on ctrl-d");
}

#[test]
fn completion_wide_characters_and_highlighting() {
    let s = Sandbox::new();
    s.fixture(&["2026-07-01 00:00:00"]);
    let mut p = repl(&s, true);
    // Keywords are highlighted as they are typed.
    p.send("SELECT").expect("send");
    p.expect("\x1b[1;34mSELECT").expect("highlighted keyword");
    // Tab completes names from the live catalog.
    p.send(" spend_3\t").expect("tab");
    p.expect("spend_30d").expect("completed tag");
    p.send(" FROM customer.prof\t").expect("tab");
    p.expect("customer.profile").expect("completed table");
    // Finish the completed statement on a second line.
    p.send_line("").expect("newline");
    p.send_line(";").expect("end");
    until(&mut p, "4 rows");
    // Tables line up with wide characters; numbers are right-aligned; NULLs are visible.
    p.send_line(
        "SELECT '上海' AS 城市, 7 AS n UNION ALL SELECT 'Shanghai', 1234 UNION ALL SELECT NULL, NULL;",
    )
    .expect("send");
    let out = until(&mut p, "3 rows");
    let table: Vec<&str> = out
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| {
            l.starts_with('┌')
                || l.starts_with('│')
                || l.starts_with('├')
                || l.starts_with('└')
                || l.starts_with('╞')
        })
        .collect();
    assert!(table.len() >= 6, "{out}");
    let width = table[0].width();
    assert!(table.iter().all(|l| l.width() == width), "{out}");
    assert!(out.contains("NULL"), "{out}");
    assert!(table.iter().any(|l| l.contains("┆    7 │")), "{out}");
    p.send_line("\\q").expect("quit");
    p.expect(expectrl::Eof).expect("exits");
}
