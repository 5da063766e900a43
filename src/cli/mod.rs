//! The `tagfusion` command line (SPEC §4): `run`, scripts on stdin, `demo`, output formats and
//! error reports with file, line and column.

//! Arguments are parsed here; the engine is opened here and handed to the front end that
//! runs: scripts (this module), the REPL, the server, the demo, reports. Front ends share
//! [`crate::print`] and [`crate::diagnostic`] and never import each other.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::diagnostic::{Script, render_error};
use crate::engine::{Engine, EngineOptions};
use crate::error::{Error, Result};
use crate::print::{Format, PrintOptions, print_output};
use crate::units::{parse_duration, parse_size};

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
    /// What long-running work logs to stderr: a level (error, warn, info, debug, trace) or a
    /// filter such as `tagfusion=debug,deltalake=info` [default: RUST_LOG, else tagfusion=info]
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
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
    /// Serve the warehouse over Arrow Flight SQL (BI tools, ADBC/JDBC/ODBC drivers, notebooks)
    Serve(ServeArgs),
    /// Manage the users file of `tagfusion serve`
    #[command(subcommand)]
    User(UserCommand),
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

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub addr: std::net::SocketAddr,
    /// Users file (TOML, Argon2 hashes; see `tagfusion user add`). Without it the server only
    /// listens on loopback and every client is admin
    #[arg(long, env = "TAGFUSION_USERS")]
    pub users: Option<PathBuf>,
    /// TLS certificate (PEM); needs --tls-key
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); needs --tls-cert
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How long a login stays valid (e.g. 8h, 30m, 90s)
    #[arg(long, default_value = "8h", value_parser = parse_duration)]
    pub token_ttl: std::time::Duration,
    /// Statements running at once (a result being streamed counts); further ones wait
    #[arg(long, default_value_t = 16)]
    pub max_concurrent: usize,
    /// How long a statement waits for a free slot before the server answers "busy"
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub queue_wait: std::time::Duration,
    /// Longest a statement may run, streaming its results included (0 = no limit)
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub query_timeout: std::time::Duration,
    /// Segment-profile groups smaller than this are suppressed for viewers (k-anonymity)
    #[arg(long, default_value_t = 10)]
    pub min_group_size: u64,
    /// Draft tags read as NULL for analysts and viewers (only approved and offline tags show)
    #[arg(long)]
    pub hide_draft_tags: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user or change their role and password (the password is read from standard input)
    Add {
        name: String,
        /// admin, analyst or viewer
        #[arg(long)]
        role: crate::access::Role,
        /// The users file to write
        #[arg(long, env = "TAGFUSION_USERS", default_value = "tagfusion-users.toml")]
        users: PathBuf,
    },
    /// Remove a user
    Remove {
        name: String,
        #[arg(long, env = "TAGFUSION_USERS", default_value = "tagfusion-users.toml")]
        users: PathBuf,
    },
    /// List users and their roles
    List {
        #[arg(long, env = "TAGFUSION_USERS", default_value = "tagfusion-users.toml")]
        users: PathBuf,
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

impl GlobalOptions {
    /// How scripts and the demo print: every row, as a table on a terminal and csv otherwise.
    pub fn print_options(&self) -> PrintOptions {
        PrintOptions::all(self.format.unwrap_or(if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Csv
        }))
    }

    pub async fn open_engine(&self) -> Result<Arc<Engine>> {
        let mut options = EngineOptions::new(&self.warehouse);
        options.progress = std::io::stderr().is_terminal();
        options.memory_limit = self.memory_limit;
        Engine::open(options).await
    }
}

/// Entry point of the binary; returns the process exit code.
/// delta-rs aborts a failed multipart upload inside `catch_unwind`, and object_store's
/// `BufWriter` panics by design when the upload is already past its shutdown (a connection lost
/// while completing it). The write then fails with the storage error, which is what the user
/// sees; the caught panic's message is kept off stderr. Every other panic prints as usual.
fn hide_caught_upload_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str));
        let caught = message == Some("Already shut down")
            && info.location().is_some_and(|l| {
                l.file().contains("object_store") && l.file().ends_with("buffered.rs")
            });
        if !caught {
            default(info);
        }
    }));
}

/// Logs of long-running work (the server's background tasks, warnings while opening a
/// warehouse) go through `tracing` to stderr: `--log-level`, else `RUST_LOG`, else `info` for
/// TagFusion and nothing from its libraries (delta-rs logs expected conditions, such as a table
/// not created yet, as errors).
fn init_logging(level: Option<&str>) -> Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(level) => EnvFilter::try_new(level)
            .map_err(|e| Error::invalid(format!("--log-level {level}: {e}")))?,
        None => {
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("tagfusion=info"))
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .try_init();
    Ok(())
}

pub async fn main() -> i32 {
    hide_caught_upload_panics();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Err(e) = init_logging(cli.global.log_level.as_deref()) {
        eprint!("{}", render_error(&e, None));
        return 2;
    }
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
        Some(Command::Serve(args)) => serve(&cli.global, args).await.map_err(|e| (e, None)),
        Some(Command::User(command)) => user(command).map_err(|e| (e, None)),
        Some(Command::Demo {
            customers,
            industry,
        }) => demo(&cli.global, *industry, *customers)
            .await
            .map_err(|e| (e, None)),
        None => {
            if std::io::stdin().is_terminal() {
                return match repl(&cli.global).await {
                    Ok(()) => 0,
                    Err(e) => {
                        eprint!("{}", render_error(&e, None));
                        1
                    }
                };
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

async fn repl(global: &GlobalOptions) -> Result<()> {
    let engine = global.open_engine().await?;
    let format = global.format.unwrap_or(Format::Table);
    crate::repl::run(engine, &global.warehouse, format).await
}

async fn demo(
    global: &GlobalOptions,
    industry: crate::demo::Industry,
    customers: usize,
) -> Result<()> {
    if customers == 0 {
        return Err(Error::invalid("--customers must be at least 1"));
    }
    let engine = global.open_engine().await?;
    crate::demo::run(
        engine,
        &global.warehouse,
        global.print_options(),
        industry,
        customers,
    )
    .await
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
    let result = run_scripts(&engine, &global.print_options(), scripts).await;
    // Tag reads are counted in memory; keep them even when a statement failed.
    let flushed = engine.flush_usage().await;
    result?;
    flushed.map_err(|e| (e, None))
}

async fn run_scripts(
    engine: &Engine,
    print: &PrintOptions,
    scripts: Vec<Script>,
) -> std::result::Result<(), (Error, Option<Script>)> {
    let mut stdout = std::io::stdout().lock();
    // Results are separated so a reader can split them: a blank line between two csv or ndjson
    // blocks (a csv row is never blank: a lone empty field is written `""`), a line per json
    // array; statements without columns print nothing and need no separator.
    let mut printed = false;
    for script in scripts {
        let statements = match engine.parse(&script.text) {
            Ok(s) => s,
            Err(e) => return Err((e, Some(script))),
        };
        for statement in &statements {
            let result = async {
                let output = engine.execute(statement).await?;
                if output.has_columns() {
                    if printed && matches!(print.format, Format::Csv | Format::Ndjson) {
                        writeln!(stdout).map_err(|e| Error::io("cannot write the output", e))?;
                    }
                    printed = true;
                }
                print_output(output, print, &mut stdout).await
            }
            .await;
            if let Err(e) = result {
                return Err((statement.place(e), Some(script)));
            }
        }
    }
    Ok(())
}

async fn serve(global: &GlobalOptions, args: &ServeArgs) -> Result<()> {
    let engine = global.open_engine().await?;
    let options = crate::server::ServeOptions {
        addr: args.addr,
        users: args.users.clone(),
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        token_ttl: args.token_ttl,
        min_group_size: args.min_group_size,
        hide_drafts: args.hide_draft_tags,
        limits: crate::server::service::Limits {
            max_concurrent: args.max_concurrent,
            queue_wait: args.queue_wait,
            query_timeout: (!args.query_timeout.is_zero()).then_some(args.query_timeout),
        },
    };
    crate::server::serve(engine, options).await
}

fn user(command: &UserCommand) -> Result<()> {
    use crate::server::users::UsersFile;
    match command {
        UserCommand::Add { name, role, users } => {
            let password = read_password(name)?;
            let mut file = UsersFile::load_or_new(users)?;
            file.add(name, *role, &password)?;
            file.save(users)?;
            eprintln!("{name} ({role}) written to {}", users.display());
        }
        UserCommand::Remove { name, users } => {
            let mut file = UsersFile::load(users)?;
            if file.users.remove(name).is_none() {
                return Err(Error::unknown(
                    "user",
                    name,
                    file.users.keys().map(String::as_str),
                ));
            }
            file.save(users)?;
        }
        UserCommand::List { users } => {
            for (name, entry) in UsersFile::load(users)?.users {
                println!("{name}\t{}", entry.role);
            }
        }
    }
    Ok(())
}

/// The new password: typed twice without echo on a terminal, else the first line of stdin.
fn read_password(name: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))
            .map_err(|e| Error::io("cannot read the password", e))?;
        let again = rpassword::prompt_password("again: ")
            .map_err(|e| Error::io("cannot read the password", e))?;
        if first != again {
            return Err(Error::invalid("the passwords differ; nothing was written"));
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::io("cannot read the password from standard input", e))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
