//! The `tagfusion` command line (SPEC §4): `run`, scripts on stdin, `demo`, output formats and
//! error reports with file, line and column.

mod format;
mod report;

pub use format::{Format, print_output};
pub use report::render_error;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::engine::{Engine, EngineOptions};
use crate::error::{Error, Result};

#[derive(Debug, Parser)]
#[command(
    name = "tagfusion",
    version,
    about = "Customer profiling (客户画像) in SQL: tags, segments and personas on Apache DataFusion"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalOptions {
    /// Warehouse directory (Delta tables of catalog and profiles)
    #[arg(
        long,
        global = true,
        env = "TAGFUSION_WAREHOUSE",
        default_value = "./tagfusion-warehouse"
    )]
    pub warehouse: String,
    /// Output format [default: table on a terminal, csv otherwise]
    #[arg(long, global = true, value_enum)]
    pub format: Option<Format>,
    /// Memory for query execution (e.g. 4G, 512M); beyond it, work spills to disk
    #[arg(long, global = true, env = "TAGFUSION_MEMORY_LIMIT", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
}

/// `4G`, `512M`, `64K` or plain bytes.
fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let t = text.trim().to_uppercase();
    let t = t.strip_suffix('B').unwrap_or(&t);
    let (number, unit) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1usize << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a size; write e.g. 4G or 512M"))?;
    if value <= 0.0 {
        return Err(format!("'{text}' is not a positive size"));
    }
    Ok((value * unit as f64) as usize)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run SQL scripts and statements in order, stopping at the first error
    Run {
        /// Script files (`-` for standard input)
        files: Vec<PathBuf>,
        /// A statement to run (repeatable; runs after the files)
        #[arg(short = 'c', long = "command", value_name = "SQL")]
        commands: Vec<String>,
    },
    /// Write a self-contained HTML report
    #[command(subcommand)]
    Report(ReportCommand),
    /// Generate demo data, run the industry's tag template and show the results
    Demo {
        /// Number of customers (clients) to generate
        #[arg(long, default_value_t = 100_000)]
        customers: usize,
        /// Which industry's data and template
        #[arg(long, value_enum, default_value_t = crate::demo::Industry::Retail)]
        industry: crate::demo::Industry,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// A segment's size per snapshot and its profile against the population, with TGI
    Segment {
        /// The segment, written entity.segment (e.g. customer.high_value)
        segment: String,
        /// The HTML file to write
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        /// Profile these tags (comma-separated) instead of every low-cardinality tag
        #[arg(long, value_delimiter = ',')]
        by: Vec<String>,
    },
}

/// A named piece of SQL to run: a file, `-c` text or standard input.
pub struct Script {
    pub name: String,
    pub text: String,
}

impl GlobalOptions {
    pub fn format(&self) -> Format {
        self.format.unwrap_or(if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Csv
        })
    }

    pub async fn open_engine(&self) -> Result<Arc<Engine>> {
        let mut options = EngineOptions::new(&self.warehouse);
        options.progress = std::io::stderr().is_terminal();
        options.memory_limit = self.memory_limit;
        Engine::open(options).await
    }
}

/// Entry point of the binary; returns the process exit code.
pub async fn main() -> i32 {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match &cli.command {
        Some(Command::Run { .. }) => {
            let sub = matches
                .subcommand_matches("run")
                .cloned()
                .unwrap_or_default();
            match scripts_in_order(&sub) {
                Ok(scripts) => run(&cli.global, scripts).await,
                Err(e) => Err((e, None)),
            }
        }
        Some(Command::Report(ReportCommand::Segment {
            segment,
            output,
            by,
        })) => report_segment(&cli.global, segment, by, output)
            .await
            .map_err(|e| (e, None)),
        Some(Command::Demo {
            customers,
            industry,
        }) => crate::demo::run(&cli.global, *industry, *customers)
            .await
            .map_err(|e| (e, None)),
        None => {
            if std::io::stdin().is_terminal() {
                eprintln!(
                    "tagfusion: the interactive REPL is not part of this build yet; run a script \
                     with `tagfusion run FILE.sql`, pipe one on standard input, or try `tagfusion demo`"
                );
                return 2;
            }
            match read_stdin() {
                Ok(script) => run(&cli.global, vec![script]).await,
                Err(e) => Err((e, None)),
            }
        }
    };
    match result {
        Ok(()) => 0,
        Err((e, script)) => {
            eprint!("{}", render_error(&e, script.as_ref()));
            1
        }
    }
}

async fn report_segment(
    global: &GlobalOptions,
    segment: &str,
    by: &[String],
    output: &std::path::Path,
) -> Result<()> {
    let engine = global.open_engine().await?;
    crate::report::segment_report(&engine, segment, by, output).await?;
    eprintln!("wrote {}", output.display());
    Ok(())
}

fn read_stdin() -> Result<Script> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Error::io("cannot read standard input", e))?;
    Ok(Script {
        name: "<stdin>".into(),
        text,
    })
}

/// Files and `-c` statements in the order they were given on the command line.
fn scripts_in_order(m: &ArgMatches) -> Result<Vec<Script>> {
    let mut items: Vec<(usize, Script)> = Vec::new();
    if let (Some(values), Some(indices)) = (m.get_many::<PathBuf>("files"), m.indices_of("files")) {
        for (path, index) in values.zip(indices) {
            let script = if path.as_os_str() == "-" {
                read_stdin()?
            } else {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
                Script {
                    name: path.display().to_string(),
                    text,
                }
            };
            items.push((index, script));
        }
    }
    if let (Some(values), Some(indices)) =
        (m.get_many::<String>("commands"), m.indices_of("commands"))
    {
        for (n, (text, index)) in values.zip(indices).enumerate() {
            items.push((
                index,
                Script {
                    name: format!("-c#{}", n + 1),
                    text: text.clone(),
                },
            ));
        }
    }
    items.sort_by_key(|(i, _)| *i);
    Ok(items.into_iter().map(|(_, s)| s).collect())
}

/// Runs scripts in order: each is parsed whole before any of it runs, so a syntax error runs
/// nothing of that script.
pub async fn run(
    global: &GlobalOptions,
    scripts: Vec<Script>,
) -> std::result::Result<(), (Error, Option<Script>)> {
    let engine = global.open_engine().await.map_err(|e| (e, None))?;
    let result = run_scripts(&engine, global.format(), scripts).await;
    // Tag reads are counted in memory; keep them even when a statement failed.
    let flushed = engine.flush_usage().await;
    result?;
    flushed.map_err(|e| (e, None))
}

async fn run_scripts(
    engine: &Engine,
    format: Format,
    scripts: Vec<Script>,
) -> std::result::Result<(), (Error, Option<Script>)> {
    let mut stdout = std::io::stdout().lock();
    for script in scripts {
        let statements = match engine.parse(&script.text) {
            Ok(s) => s,
            Err(e) => return Err((e, Some(script))),
        };
        for statement in &statements {
            let result = async {
                let output = engine.execute(statement).await?;
                print_output(output, format, &mut stdout).await
            }
            .await;
            if let Err(e) = result {
                return Err((e.at(statement.location), Some(script)));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(super::parse_size("4G"), Ok(4 << 30));
        assert_eq!(super::parse_size("512mb"), Ok(512 << 20));
        assert_eq!(super::parse_size("1.5K"), Ok(1536));
        assert!(super::parse_size("lots").is_err());
    }
}
