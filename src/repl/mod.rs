//! The interactive REPL: `tagfusion` with a terminal on stdin.
//!
//! - [`helper`]: completion from the live catalog, highlighting, multi-line input to `;`;
//! - [`commands`]: meta commands (`\?`, `\tags`, `\d`, `\timing`, `\format`, `\i`, `\q`);
//!
//! Results print through [`crate::print`], tables cut after 40 rows.
//!
//! Statements run on the same engine as scripts; Ctrl-C cancels the running one (its plan is
//! dropped) and the session goes on; errors print like the CLI's, caret included.

pub mod commands;
pub mod helper;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{CompletionType, Config, Editor};

use crate::diagnostic::{Script, render_error};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::print::{Format, PrintOptions, print_output};
use commands::Action;
use helper::{Names, ReplHelper};

/// Rows a table shows before it is cut (the rest is counted).
const MAX_ROWS: usize = 40;

/// The history file: `TAGFUSION_HISTORY`, else `~/.tagfusion_history`.
fn history_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("TAGFUSION_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".tagfusion_history"))
}

/// Names for completion from the catalog and the session.
async fn completion_names(engine: &Engine) -> Names {
    let catalog = engine.catalog();
    let mut words: Vec<String> = Vec::new();
    for (entity, def) in &catalog.entities {
        words.push(entity.clone());
        words.push(format!("{entity}.profile"));
        words.push(format!("{entity}.profile_history"));
        words.push(def.key.clone());
        for t in catalog.tags_of(entity) {
            words.push(t.name.clone());
            words.push(format!("{entity}.{}", t.name));
        }
        for s in catalog.segments_of(entity) {
            words.push(format!("{entity}.{}", s.name));
        }
    }
    let ctx = engine.context();
    for (catalog_name, schema) in engine.schema_names() {
        if let Some(provider) = ctx.catalog(&catalog_name).and_then(|c| c.schema(&schema)) {
            for table in provider.table_names() {
                if schema == "public" {
                    words.push(table.clone());
                }
                words.push(format!("{schema}.{table}"));
                if let Ok(Some(t)) = provider.table(&table).await {
                    words.extend(t.schema().fields().iter().map(|f| f.name().clone()));
                }
            }
        }
    }
    let state = ctx.state();
    words.extend(state.scalar_functions().keys().cloned());
    words.extend(state.aggregate_functions().keys().cloned());
    words.extend(state.window_functions().keys().cloned());
    words.sort();
    words.dedup();
    Names { words }
}

/// A spinner with the elapsed time on stderr, shown only when a statement takes longer than
/// half a second (REFRESH draws its own progress bars).
struct Spinner {
    bar: indicatif::ProgressBar,
    show: tokio::task::JoinHandle<()>,
}

impl Spinner {
    fn start() -> Self {
        let bar = indicatif::ProgressBar::hidden();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} running… {elapsed}")
        {
            bar.set_style(style);
        }
        let shown = bar.clone();
        let show = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if std::io::stderr().is_terminal() {
                shown.set_draw_target(indicatif::ProgressDrawTarget::term_like(Box::new(Narrow(
                    console::Term::stderr(),
                ))));
                shown.enable_steady_tick(std::time::Duration::from_millis(120));
            }
        });
        Self { bar, show }
    }

    fn clear(&self) {
        self.show.abort();
        self.bar.finish_and_clear();
    }
}

/// The terminal, a few columns narrower than it is. indicatif pads its line to the full
/// width and leaves the cursor in the last column; the `^C` the terminal echoes on Ctrl-C then
/// wrapped to a new line, and clearing the spinner cleared that line instead, leaving
/// `⠐ running… 3s` on screen. With the margin the echo stays on the spinner's line.
#[derive(Debug)]
struct Narrow(console::Term);

impl indicatif::TermLike for Narrow {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(4).max(16)
    }
    fn height(&self) -> u16 {
        self.0.size().0
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.0.write_line(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.0.write_str(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.0.clear_line()
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.flush()
    }
}

struct Session {
    engine: Arc<Engine>,
    format: Format,
    timing: bool,
}

impl Session {
    /// Parses and runs `text` (one or more statements). Errors are printed; the session goes on.
    async fn run(&mut self, name: &str, text: &str) {
        let script = Script {
            name: name.to_string(),
            text: text.to_string(),
        };
        let statements = match self.engine.parse(text) {
            Ok(s) => s,
            Err(e) => {
                eprint!("{}", render_error(&e, Some(&script)));
                return;
            }
        };
        for statement in &statements {
            let started = Instant::now();
            let engine = self.engine.clone();
            let format = self.format;
            let spinner = Spinner::start();
            let work = async {
                let output = engine.execute(statement).await?;
                let options = PrintOptions {
                    format,
                    max_rows: Some(MAX_ROWS),
                };
                if format == Format::Table {
                    // The whole table is rendered before the spinner's line is cleared.
                    let mut text = Vec::new();
                    print_output(output, &options, &mut text).await?;
                    spinner.clear();
                    std::io::stdout()
                        .write_all(&text)
                        .map_err(|e| Error::io("cannot write the output", e))?;
                } else {
                    spinner.clear();
                    let mut out = std::io::stdout().lock();
                    print_output(output, &options, &mut out).await?;
                }
                Ok::<(), Error>(())
            };
            let result = tokio::select! {
                r = work => r,
                _ = tokio::signal::ctrl_c() => {
                    spinner.clear();
                    println!("cancelled");
                    let _ = std::io::stdout().flush();
                    return;
                }
            };
            spinner.clear();
            if let Err(e) = result {
                eprint!("{}", render_error(&statement.place(e), Some(&script)));
                return;
            }
            if self.timing {
                println!("Time: {:.3} ms", started.elapsed().as_secs_f64() * 1e3);
            }
            let _ = std::io::stdout().flush();
        }
    }
}

/// Runs the REPL until `\q` or Ctrl-D.
pub async fn run(engine: Arc<Engine>, warehouse: &str, format: Format) -> Result<()> {
    let names = Arc::new(RwLock::new(completion_names(&engine).await));
    let config = Config::builder()
        .history_ignore_space(true)
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .max_history_size(10_000)
        .map_err(|e| Error::invalid(format!("REPL: {e}")))?
        .build();
    let mut editor: Editor<ReplHelper, FileHistory> =
        Editor::with_config(config).map_err(|e| Error::invalid(format!("REPL: {e}")))?;
    editor.set_helper(Some(ReplHelper {
        names: names.clone(),
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }));
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "TagFusion {} — warehouse {}. Statements end with ';'. \\? for help, \\q to quit.",
        env!("CARGO_PKG_VERSION"),
        warehouse
    );
    let mut session = Session {
        engine: engine.clone(),
        format,
        timing: false,
    };
    loop {
        let line = tokio::task::block_in_place(|| editor.readline("tagfusion> "));
        match line {
            Ok(input) => {
                let input = input.trim();
                if input.is_empty() {
                    continue;
                }
                let _ = editor.add_history_entry(input);
                if let Some(h) = &history {
                    let _ = editor.append_history(h);
                }
                if input.starts_with('\\') {
                    match commands::interpret(&engine, input).await {
                        Action::Quit => break,
                        Action::Print(text) => println!("{text}"),
                        Action::SetFormat(f) => {
                            session.format = f;
                            println!("format {}", format!("{f:?}").to_lowercase());
                        }
                        Action::ToggleTiming => {
                            session.timing = !session.timing;
                            println!("timing {}", if session.timing { "on" } else { "off" });
                        }
                        Action::Run(sql) => session.run("command", &sql).await,
                        Action::Include(path) => match std::fs::read_to_string(&path) {
                            Ok(text) => session.run(&path, &text).await,
                            Err(e) => eprintln!("error: cannot read {path}: {e}"),
                        },
                    }
                } else {
                    session.run("stdin", input).await;
                }
                // DDL may have added tags, segments or tables: refresh completion.
                let fresh = completion_names(&engine).await;
                if let Ok(mut n) = names.write() {
                    *n = fresh;
                }
            }
            Err(ReadlineError::Interrupted) => {
                // Ctrl-C at the prompt clears the line.
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::invalid(format!("REPL: {e}"))),
        }
    }
    engine.flush_usage().await
}
