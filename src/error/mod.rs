//! The one error type of the crate. Messages are written for the person at the keyboard: they say
//! what is wrong and, where we can tell, what to do about it.

mod storage;

use std::fmt;

/// A position in a script: 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub line: u64,
    pub column: u64,
}

impl From<datafusion::sql::sqlparser::tokenizer::Location> for Location {
    fn from(at: datafusion::sql::sqlparser::tokenizer::Location) -> Self {
        Location {
            line: at.line,
            column: at.column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text could not be parsed; `location` points at the offending token.
    #[error("{message}")]
    Parse { message: String, location: Location },

    /// A name that does not exist, with the closest existing name when there is one. `detail`
    /// follows the name (" in the definition of tag 'customer.x'"), or is empty.
    #[error("unknown {what} '{name}'{detail}{}", did_you_mean(.suggestion))]
    Unknown {
        what: &'static str,
        name: String,
        detail: String,
        suggestion: Option<String>,
    },

    /// A definition or statement that is well-formed but not allowed.
    #[error("{0}")]
    Invalid(String),

    /// The acting user's role does not allow the statement.
    #[error("{0}")]
    Forbidden(String),

    /// An error from DataFusion while planning or running a query.
    #[error("{}", datafusion_message(.0))]
    DataFusion(#[from] datafusion::error::DataFusionError),

    /// An error from the Delta Lake warehouse.
    #[error("{}", delta_message(.0))]
    Delta(#[from] deltalake::DeltaTableError),

    /// An error from object storage (S3) outside a query or a Delta operation.
    #[error("{}", storage_message(.0))]
    Storage(#[from] object_store::Error),

    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },

    /// An error that happened while running one statement of a script, with where it started.
    #[error("{source}")]
    At {
        location: Location,
        source: Box<Error>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::DataFusion(e.into())
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean '{s}'?"),
        None => String::new(),
    }
}

/// The message of an error and of every error that caused it, joined by ": ".
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

fn delta_message(e: &deltalake::DeltaTableError) -> String {
    let text = with_causes(e);
    // delta-rs says both "concurrent transaction" and "Concurrent transaction failed.".
    if text.to_ascii_lowercase().contains("concurrent transaction") {
        // Delta's optimistic concurrency: another process committed to the same table first.
        return "another process committed to the same warehouse table first; this statement's \
                change was not committed: run it again"
            .to_string();
    }
    storage::explain(&text).unwrap_or_else(|| format!("warehouse: {e}"))
}

fn storage_message(e: &object_store::Error) -> String {
    storage::explain(&with_causes(e)).unwrap_or_else(|| format!("storage: {e}"))
}

fn datafusion_message(e: &datafusion::error::DataFusionError) -> String {
    storage::explain(&with_causes(e)).unwrap_or_else(|| clean_datafusion_message(e))
}

/// DataFusion prefixes its messages with the error kind ("Error during planning: …"); users
/// want the message.
fn clean_datafusion_message(e: &datafusion::error::DataFusionError) -> String {
    // "Optimizer rule … failed, caused by …": the innermost cause is what the user can act on.
    let text = e.find_root().strip_backtrace();
    let mut text = text.as_str();
    for prefix in [
        "Error during planning: ",
        "Execution error: ",
        "SQL error: ",
        "Schema error: ",
        "Arrow error: ",
        "Parser error: ",
        "External error: ",
        "This feature is not implemented: ",
    ] {
        while let Some(rest) = text.strip_prefix(prefix) {
            text = rest;
        }
    }
    text.to_string()
}

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    /// An unknown name, suggesting the closest of `candidates` when it is close enough.
    pub fn unknown<'a>(
        what: &'static str,
        name: &str,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        Error::Unknown {
            what,
            name: name.to_string(),
            detail: String::new(),
            suggestion: closest(name, candidates),
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Attaches the location of the statement this error happened in, keeping a more precise
    /// location if the error already has one.
    pub fn at(self, location: Location) -> Self {
        match self {
            Error::At { .. } | Error::Parse { .. } => self,
            other => Error::At {
                location,
                source: Box::new(other),
            },
        }
    }

    /// Where in the script the error happened, if known.
    pub fn location(&self) -> Option<Location> {
        match self {
            Error::Parse { location, .. } | Error::At { location, .. } => Some(*location),
            _ => None,
        }
    }

    /// The name this error is about, as it would appear in the statement: an unknown tag,
    /// column, table, entity, segment or function, from TagFusion's checks or from DataFusion's
    /// planning errors. Front ends point at it ([`crate::parser::locate_name`]).
    pub fn subject(&self) -> Option<String> {
        match self.root() {
            Error::Unknown { name, .. } => Some(name.clone()),
            Error::DataFusion(e) => datafusion_subject(e),
            _ => None,
        }
    }

    /// Whether the error is the memory limit (`--memory-limit`) reached with nothing left to
    /// spill, whether DataFusion reports it directly or Delta's writer carries it as text.
    pub fn is_resources_exhausted(&self) -> bool {
        use datafusion::error::DataFusionError as D;
        match self.root() {
            Error::DataFusion(e) => match e.find_root() {
                D::ResourcesExhausted(_) => true,
                D::External(inner) => inner
                    .downcast_ref::<Error>()
                    .is_some_and(Error::is_resources_exhausted),
                other => other.to_string().contains(RESOURCES_EXHAUSTED),
            },
            Error::Delta(e) => e.to_string().contains(RESOURCES_EXHAUSTED),
            _ => false,
        }
    }

    /// The innermost error, without location wrappers.
    pub fn root(&self) -> &Error {
        match self {
            Error::At { source, .. } => source.root(),
            other => other,
        }
    }
}

/// How DataFusion's memory-limit errors begin, also when another crate wraps them as text.
const RESOURCES_EXHAUSTED: &str = "Resources exhausted";

/// The identifier a DataFusion planning error names: a column not found, a table not found,
/// an unknown function.
fn datafusion_subject(e: &datafusion::error::DataFusionError) -> Option<String> {
    use datafusion::common::SchemaError;
    use datafusion::error::DataFusionError;
    if let DataFusionError::SchemaError(schema_error, _) = e.find_root()
        && let SchemaError::FieldNotFound { field, .. } = schema_error.as_ref()
    {
        return Some(field.name.clone());
    }
    let text = e.find_root().strip_backtrace();
    for (before, after) in [
        ("table '", "' not found"),
        ("Invalid function '", "'"),
        ("No field named ", "."),
    ] {
        if let Some(rest) = text.split(before).nth(1)
            && let Some(name) = rest.split(after).next()
            && !name.is_empty()
        {
            let name = name.rsplit('.').next().unwrap_or(name).trim_matches('"');
            return Some(name.to_string());
        }
    }
    None
}

/// The candidate closest to `name` (Jaro-Winkler), if it is plausibly a typo of it.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            closest("ordrs_30d", ["orders_30d", "gender"]),
            Some("orders_30d".into())
        );
        assert_eq!(closest("zzz", ["orders_30d", "gender"]), None);
    }

    #[test]
    fn delta_conflicts_say_run_it_again_whatever_the_case() {
        for text in [
            "Concurrent transaction failed.",
            "a concurrent transaction won",
        ] {
            let e = deltalake::DeltaTableError::Generic(text.to_string());
            assert!(
                delta_message(&e).starts_with("another process committed"),
                "{text}"
            );
        }
    }

    #[test]
    fn unknown_message_says_did_you_mean() {
        let e = Error::unknown("tag", "customer.gendr", ["customer.gender"]);
        assert_eq!(
            e.to_string(),
            "unknown tag 'customer.gendr'; did you mean 'customer.gender'?"
        );
    }
}
