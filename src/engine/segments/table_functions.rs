//! The DSL's table functions, usable inside any query: `persona('customer', 'C00042')`,
//! `segment_profile('customer.vip' [, 'tag', …])`, `segment_overlap('customer.a', 'customer.b',
//! …)` and `segment_diff('customer.vip', TIMESTAMP '…', TIMESTAMP '…')`. Each returns exactly
//! what the engine method (and statement) of the same name returns.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DFSchema, DataFusionError, ScalarValue, plan_err};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::{ColumnarValue, Expr};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use super::persona::PERSONA_SCHEMA;
use super::profile::PROFILE_SCHEMA;
use super::sets::{OVERLAP_SCHEMA, diff_schema};
use crate::engine::{Engine, Output};
use crate::parser::QualifiedName;

/// One call of a table function, its arguments evaluated.
#[derive(Debug, Clone)]
enum Call {
    Persona {
        entity: String,
        key: ScalarValue,
    },
    SegmentProfile {
        segment: QualifiedName,
        by: Vec<String>,
    },
    SegmentOverlap {
        segments: Vec<QualifiedName>,
    },
    SegmentDiff {
        segment: QualifiedName,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

pub(in crate::engine) const NAMES: &[(&str, &str)] = &[
    ("persona", "persona('entity', key)"),
    (
        "segment_profile",
        "segment_profile('entity.segment' [, 'tag', …])",
    ),
    (
        "segment_overlap",
        "segment_overlap('entity.segment', 'entity.segment' [, …])",
    ),
    (
        "segment_diff",
        "segment_diff('entity.segment', TIMESTAMP 'from', TIMESTAMP 'to')",
    ),
];

/// Registers every table function on `ctx`, calling back into `engine`.
pub(in crate::engine) fn register(ctx: &SessionContext, engine: Weak<Engine>) {
    for (name, usage) in NAMES {
        ctx.register_udtf(
            name,
            Arc::new(EngineFunction {
                name,
                usage,
                engine: engine.clone(),
            }),
        );
    }
}

fn user_error(message: String) -> DataFusionError {
    DataFusionError::Plan(message)
}

/// Parses `'entity.name'` (either part may be double-quoted).
fn qualified(text: &str, usage: &str) -> datafusion::error::Result<QualifiedName> {
    let unquote = |s: &str| s.trim().trim_matches('"').to_string();
    match crate::parser::split_qualified(text) {
        Some((entity, name)) => Ok(QualifiedName {
            entity: unquote(entity),
            name: unquote(name),
        }),
        None => Err(user_error(format!(
            "'{text}' is not a segment name of the form 'entity.segment'; usage: {usage}"
        ))),
    }
}

#[derive(Debug)]
struct EngineFunction {
    name: &'static str,
    usage: &'static str,
    engine: Weak<Engine>,
}

impl EngineFunction {
    fn text(&self, v: &ScalarValue) -> datafusion::error::Result<String> {
        match v {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)) => Ok(s.clone()),
            other => Err(user_error(format!(
                "{} expects string arguments here, got {other}; usage: {}",
                self.name, self.usage
            ))),
        }
    }

    fn time(&self, v: &ScalarValue) -> datafusion::error::Result<DateTime<Utc>> {
        let micros = match v.cast_to(&DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Microsecond,
            None,
        ))? {
            ScalarValue::TimestampMicrosecond(Some(us), _) => us,
            _ => return plan_err!("{} expects timestamps; usage: {}", self.name, self.usage),
        };
        DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| user_error(format!("timestamp out of range in {}", self.name)))
    }

    fn parse(&self, args: &[ScalarValue]) -> datafusion::error::Result<Call> {
        let wrong = || {
            user_error(format!(
                "{} got {} arguments; usage: {}",
                self.name,
                args.len(),
                self.usage
            ))
        };
        Ok(match self.name {
            "persona" => {
                let [entity, key] = args else {
                    return Err(wrong());
                };
                if key.is_null() {
                    return Err(user_error(format!(
                        "persona needs a key; usage: {}",
                        self.usage
                    )));
                }
                Call::Persona {
                    entity: self.text(entity)?,
                    key: key.clone(),
                }
            }
            "segment_profile" => {
                let Some((segment, by)) = args.split_first() else {
                    return Err(wrong());
                };
                Call::SegmentProfile {
                    segment: qualified(&self.text(segment)?, self.usage)?,
                    by: by.iter().map(|b| self.text(b)).collect::<Result<_, _>>()?,
                }
            }
            "segment_overlap" => Call::SegmentOverlap {
                segments: args
                    .iter()
                    .map(|a| qualified(&self.text(a)?, self.usage))
                    .collect::<Result<_, _>>()?,
            },
            _ => {
                let [segment, from, to] = args else {
                    return Err(wrong());
                };
                Call::SegmentDiff {
                    segment: qualified(&self.text(segment)?, self.usage)?,
                    from: self.time(from)?,
                    to: self.time(to)?,
                }
            }
        })
    }
}

/// Evaluates a constant argument expression (a literal, `TIMESTAMP '…'`, `'a' || 'b'`).
fn constant(expr: &Expr, session: &dyn Session) -> datafusion::error::Result<ScalarValue> {
    let physical = session.create_physical_expr(expr.clone(), &DFSchema::empty())?;
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )?;
    match physical.evaluate(&one_row)? {
        ColumnarValue::Scalar(s) => Ok(s),
        ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0),
    }
}

impl TableFunctionImpl for EngineFunction {
    fn call_with_args(
        &self,
        args: TableFunctionArgs,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let values: Vec<ScalarValue> = args
            .exprs()
            .iter()
            .map(|e| constant(e, args.session()))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                user_error(format!(
                    "{} takes constant arguments ({e}); usage: {}",
                    self.name, self.usage
                ))
            })?;
        let call = self.parse(&values)?;
        let engine = self
            .engine
            .upgrade()
            .ok_or_else(|| DataFusionError::Internal("the engine is gone".into()))?;
        let schema = match &call {
            Call::Persona { .. } => PERSONA_SCHEMA.clone(),
            Call::SegmentProfile { .. } => PROFILE_SCHEMA.clone(),
            Call::SegmentOverlap { .. } => OVERLAP_SCHEMA.clone(),
            Call::SegmentDiff { segment, .. } => {
                diff_schema(&engine.key_type(&segment.entity).map_err(external)?)
            }
        };
        Ok(Arc::new(CallTable {
            call,
            schema,
            engine: self.engine.clone(),
        }))
    }
}

fn external(e: crate::error::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The table of one call: runs it when scanned.
#[derive(Debug)]
struct CallTable {
    call: Call,
    schema: SchemaRef,
    engine: Weak<Engine>,
}

#[async_trait]
impl TableProvider for CallTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let engine = self
            .engine
            .upgrade()
            .ok_or_else(|| DataFusionError::Internal("the engine is gone".into()))?;
        let output: Output = match &self.call {
            Call::Persona { entity, key } => engine.persona(entity, key.clone()).await,
            Call::SegmentProfile { segment, by } => engine
                .segment_profile(segment, by)
                .await
                .and_then(|p| p.into_output()),
            Call::SegmentOverlap { segments } => engine.segment_overlap(segments).await,
            Call::SegmentDiff { segment, from, to } => {
                engine.segment_diff(segment, *from, *to).await
            }
        }
        .map_err(external)?;
        let batches = output.collect().await.map_err(external)?;
        // Same columns as declared, whatever types the engine's query produced (views…).
        let batches = batches
            .into_iter()
            .map(|b| {
                let columns = b
                    .columns()
                    .iter()
                    .zip(self.schema.fields())
                    .map(|(c, f)| cast(c, f.data_type()))
                    .collect::<Result<Vec<_>, _>>()?;
                RecordBatch::try_new(self.schema.clone(), columns)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MemorySourceConfig::try_new_exec(
            &[batches],
            self.schema.clone(),
            projection.cloned(),
        )?)
    }
}
