//! Meta commands (`\?`): shortcuts for TagFusion's objects and REPL settings.

use crate::engine::Engine;
use crate::parser::{quote_ident, quote_str};
use crate::print::Format;

/// Every meta command, for completion.
pub const NAMES: &[&str] = &[
    "\\?",
    "\\help",
    "\\entities",
    "\\tags",
    "\\segments",
    "\\d",
    "\\timing",
    "\\format",
    "\\i",
    "\\q",
    "\\quit",
];

pub const HELP: &str = "\
Statements end with ';' (they may span lines). Ctrl-C cancels a running statement, Ctrl-D exits.
  \\entities            entities with their key, source, tags and last refresh
  \\tags [pattern]      tags (all entities; pattern matches the name, e.g. \\tags spend)
  \\segments            segments with their definitions
  \\d NAME              describe an entity, entity.tag, entity.segment or a table
  \\timing              show how long each statement takes (on/off)
  \\format table|csv|json|ndjson   how results print
  \\i FILE              run a script file
  \\q                   quit
SQL and the TAG DSL: SHOW TAGS FOR customer; DESCRIBE TAG customer.rfm_class;
PERSONA customer 'C000042'; PROFILE SEGMENT customer.high_value BY city;";

/// What a meta command asks the REPL to do.
pub enum Action {
    /// Run this SQL / DSL text.
    Run(String),
    Print(String),
    SetFormat(Format),
    ToggleTiming,
    /// Run a script file.
    Include(String),
    Quit,
}

/// Interprets `\command args`.
pub async fn interpret(engine: &Engine, line: &str) -> Action {
    let line = line.trim().trim_end_matches(';');
    let (command, arg) = match line.split_once(char::is_whitespace) {
        Some((c, a)) => (c, a.trim()),
        None => (line, ""),
    };
    match command {
        "\\?" | "\\help" | "\\h" => Action::Print(HELP.to_string()),
        "\\q" | "\\quit" | "\\exit" => Action::Quit,
        "\\entities" => Action::Run("SHOW ENTITIES".into()),
        "\\tags" if arg.is_empty() => Action::Run("SHOW TAGS".into()),
        "\\tags" => Action::Run(format!("SHOW TAGS LIKE {}", quote_str(&format!("%{arg}%")))),
        "\\segments" => Action::Run("SHOW SEGMENTS".into()),
        "\\timing" => Action::ToggleTiming,
        "\\format" => match arg.to_ascii_lowercase().as_str() {
            "table" => Action::SetFormat(Format::Table),
            "csv" => Action::SetFormat(Format::Csv),
            "json" => Action::SetFormat(Format::Json),
            "ndjson" => Action::SetFormat(Format::Ndjson),
            _ => Action::Print("usage: \\format table|csv|json|ndjson".into()),
        },
        "\\i" | "\\include" if !arg.is_empty() => Action::Include(arg.to_string()),
        "\\d" if !arg.is_empty() => Action::Run(describe(engine, arg).await),
        "\\d" => Action::Run("SHOW TABLES".into()),
        _ => Action::Print(format!("unknown command {command}; \\? lists them")),
    }
}

/// `\d NAME`: the statement describing an entity, a tag, a segment or else a table.
async fn describe(engine: &Engine, name: &str) -> String {
    let catalog = engine.catalog();
    if catalog.entities.contains_key(name) {
        return format!("DESCRIBE ENTITY {}", quote_ident(name));
    }
    if let Some((entity, object)) = name.split_once('.')
        && catalog.entities.contains_key(entity)
    {
        let qualified = format!("{}.{}", quote_ident(entity), quote_ident(object));
        if catalog.segments_of(entity).iter().any(|s| s.name == object) {
            return format!("DESCRIBE SEGMENT {qualified}");
        }
        if catalog.tags_of(entity).iter().any(|t| t.name == object) {
            return format!("DESCRIBE TAG {qualified}");
        }
    }
    format!("DESCRIBE {name}")
}
