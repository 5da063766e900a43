//! The source tables and views the warehouse remembers.
//!
//! `CREATE EXTERNAL TABLE` and `CREATE VIEW` are stored in `_catalog/sources` (relative file
//! locations made absolute) and replayed when an engine opens, so entity and tag definitions
//! that read them keep working in the next process. `DROP TABLE|VIEW` forgets them.

use chrono::Utc;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{ObjectType, Statement as SQLStatement, Value};

use crate::catalog::{SourceDef, store};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::parser::quote_str;
use crate::storage;

pub(in crate::engine) enum SourceChange {
    Define { name: String, sql: String },
    Forget(Vec<String>),
}

/// Makes a local relative location absolute, leaving URLs alone.
fn absolute_location(location: &str) -> String {
    if location.contains("://") || std::path::Path::new(location).is_absolute() {
        return location.to_string();
    }
    match std::env::current_dir() {
        Ok(dir) => {
            let joined = dir.join(location);
            let mut text = joined.to_string_lossy().to_string();
            if location.ends_with('/') && !text.ends_with('/') {
                text.push('/');
            }
            text
        }
        Err(_) => location.to_string(),
    }
}

/// Replaces the value of option `key` in `sql` with [`storage::REDACTED`]: credentials
/// given in OPTIONS serve this session and are never written to the catalog.
fn redact(sql: &str, key: &str, secret: &str) -> String {
    let literal = quote_str(secret);
    let after_key = sql
        .to_ascii_lowercase()
        .find(&key.to_ascii_lowercase())
        .unwrap_or(0);
    match sql[after_key..].find(&literal) {
        Some(at) => {
            let start = after_key + at;
            format!(
                "{}{}{}",
                &sql[..start],
                quote_str(storage::REDACTED),
                &sql[start + literal.len()..]
            )
        }
        // Written another way (unquoted, double-quoted, escaped): wherever the text holds it.
        None if !secret.is_empty() => sql.replace(secret, &quote_str(storage::REDACTED)),
        None => sql.to_string(),
    }
}

/// A stored source definition as it is replayed: redacted credentials are left out, so the
/// table's bucket uses the AWS environment of this process.
fn without_redacted(statement: &mut DFStatement) {
    if let DFStatement::CreateExternalTable(c) = statement {
        c.options
            .retain(|(_, v)| !matches!(v, Value::SingleQuotedString(s) if s == storage::REDACTED));
    }
}

pub(in crate::engine) fn source_change(
    statement: &DFStatement,
    text: &str,
) -> Option<SourceChange> {
    match statement {
        DFStatement::CreateExternalTable(c) if !c.temporary => {
            let mut sql = text.to_string();
            for location in &c.locations {
                let abs = absolute_location(location);
                if abs != *location {
                    sql = sql.replacen(&format!("'{location}'"), &format!("'{abs}'"), 1);
                }
            }
            for (key, value) in &c.options {
                if storage::is_secret_option(key) {
                    let secret = match value {
                        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                        other => other.to_string(),
                    };
                    sql = redact(&sql, key, &secret);
                }
            }
            Some(SourceChange::Define {
                name: c.name.to_string(),
                sql,
            })
        }
        DFStatement::Statement(s) => match s.as_ref() {
            SQLStatement::CreateView(view) if !view.temporary => Some(SourceChange::Define {
                name: view.name.to_string(),
                sql: text.to_string(),
            }),
            SQLStatement::Drop {
                object_type: ObjectType::Table | ObjectType::View,
                names,
                ..
            } => Some(SourceChange::Forget(
                names.iter().map(|n| n.to_string()).collect(),
            )),
            _ => None,
        },
        _ => None,
    }
}

impl Engine {
    pub(in crate::engine) async fn remember_source(&self, change: SourceChange) -> Result<()> {
        // The caller holds the write lock (a statement that defines or drops a source).
        let mut catalog = self.catalog_to_change();
        let mut sources = catalog.sources.clone();
        match change {
            SourceChange::Define { name, sql } => {
                sources.retain(|s| s.name != name);
                sources.push(SourceDef {
                    name,
                    sql,
                    created_at: Utc::now(),
                });
            }
            SourceChange::Forget(names) => {
                let before = sources.len();
                sources.retain(|s| !names.contains(&s.name));
                if sources.len() == before {
                    return Ok(());
                }
            }
        }
        store::save_sources(&self.warehouse, &sources).await?;
        catalog.sources = sources;
        self.commit_catalog(catalog, None).await
    }

    /// Re-creates the remembered tables and views. A source that cannot be restored (its files
    /// are gone) is reported and skipped: the rest of the warehouse stays usable.
    pub(in crate::engine) async fn restore_sources(
        &self,
        only: Option<&[String]>,
    ) -> Vec<(String, Error)> {
        let sources = self.catalog().sources.clone();
        let mut failed = Vec::new();
        for source in sources {
            if only.is_some_and(|names| !names.contains(&source.name)) {
                continue;
            }
            let result: Result<()> = async {
                for statement in crate::parser::parse(&source.sql)? {
                    if let crate::parser::Statement::Sql(s) = &statement.statement {
                        let mut s = *s.clone();
                        without_redacted(&mut s);
                        let plan = self.ctx.state().statement_to_plan(s).await?;
                        self.ctx.execute_logical_plan(plan).await?.collect().await?;
                    }
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                failed.push((source.name, e));
            }
        }
        failed
    }
}
