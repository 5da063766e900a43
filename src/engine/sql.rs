//! Plain SQL statements: planned by DataFusion, checked against the acting role, counted for
//! tag usage, audited when they export a segment, and executed as a stream.

use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;

use super::ddl::sources::source_change;
use super::{Engine, Output};
use crate::error::{Error, Result};

impl Engine {
    /// Runs a statement DataFusion understands.
    pub(in crate::engine) async fn execute_sql(
        &self,
        statement: &DFStatement,
        text: &str,
        params: Option<Vec<ScalarValue>>,
    ) -> Result<Output> {
        let change = source_change(statement, text);
        let _guard = match change {
            Some(_) => Some(self.write_lock.lock().await),
            None => None,
        };
        let plan = self.plan_sql(statement).await?;
        crate::access::authorize_plan(&plan)?;
        let plan = match params {
            // Values are cast to the types the query gives their placeholders (drivers send
            // 64-bit integers and strings whatever the column is).
            Some(values) => {
                let types = plan.get_parameter_types().map_err(|e| self.diagnose(e))?;
                let values = values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| match types.get(&format!("${}", i + 1)) {
                        Some(Some(t)) if v.data_type() != *t => v.cast_to(t),
                        _ => Ok(v),
                    })
                    .collect::<datafusion::error::Result<Vec<_>>>()
                    .map_err(|e| self.diagnose(e))?;
                plan.with_param_values(ParamValues::from(values))
                    .map_err(|e| self.diagnose(e))?
            }
            None => plan,
        };
        self.record_query_usage(&plan).await;
        for segment in self.exported_segments(&plan).await {
            let target = match statement {
                DFStatement::CopyTo(copy) => Some(copy.target.clone()),
                _ => None,
            };
            self.audit("export", &segment, target).await?;
        }
        let df = self
            .ctx
            .execute_logical_plan(plan)
            .await
            .map_err(|e| self.diagnose(e))?;
        let output = Output::from_stream(df.execute_stream().await?);
        if let Some(change) = change {
            self.remember_source(change).await?;
        }
        Ok(output)
    }

    /// The logical plan of a SQL statement, `?` placeholders numbered `$1, $2, …` (the style
    /// ADBC/ODBC clients prepare with; DataFusion binds positional parameters by number).
    pub(in crate::engine) async fn plan_sql(&self, statement: &DFStatement) -> Result<LogicalPlan> {
        let mut statement = statement.clone();
        number_placeholders(&mut statement);
        self.ctx
            .state()
            .statement_to_plan(statement)
            .await
            .map_err(|e| self.diagnose(e))
    }

    /// Rewrites DataFusion's "not found" errors into ones that suggest a close name.
    pub(in crate::engine) fn diagnose(&self, e: datafusion::error::DataFusionError) -> Error {
        let text = e.strip_backtrace();
        if let Some(rest) = text.split("table '").nth(1)
            && let Some(name) = rest
                .split("' not found")
                .next()
                .filter(|_| rest.contains("' not found"))
        {
            let short = name.strip_prefix("datafusion.public.").unwrap_or(name);
            let short = short.strip_prefix("datafusion.").unwrap_or(short);
            let names = self.table_names();
            return Error::unknown("table", short, names.iter().map(String::as_str));
        }
        Error::DataFusion(e)
    }
}

/// Rewrites every `?` placeholder to `$1, $2, …` in order of appearance.
fn number_placeholders(statement: &mut DFStatement) {
    use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Value, visit_expressions_mut};
    use std::ops::ControlFlow;
    let DFStatement::Statement(inner) = statement else {
        return;
    };
    let mut next = 0;
    let _ = visit_expressions_mut(inner.as_mut(), |expr| {
        if let SqlExpr::Value(v) = expr
            && let Value::Placeholder(p) = &mut v.value
            && p == "?"
        {
            next += 1;
            *p = format!("${next}");
        }
        ControlFlow::<()>::Continue(())
    });
}
