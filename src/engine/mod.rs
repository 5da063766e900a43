//! The engine: one session that owns the parser, the catalog, the compiler and the warehouse.
//! Every front end (scripts, the REPL, the Flight SQL server) parses and executes through it.

mod balance;
mod commit;
mod ddl;
mod identity;
mod keys;
mod output;
mod record;
mod refresh;
mod registry;
mod reload;
mod scratch;
mod segments;
mod session;
mod sql;

pub use output::Output;
pub use segments::{ProfileRow, SegmentProfile};

use std::sync::Arc;

use arc_swap::ArcSwap;
use datafusion::prelude::SessionContext;
use tokio::sync::Mutex;

use crate::access::{self, audit::AuditLog, mask::MaskSensitive, usage::UsageCounter};
use crate::catalog::{Catalog, store};
use crate::error::Result;
use crate::parser::{self, ParsedStatement, Statement};
use crate::warehouse::Warehouse;

/// How to open an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Warehouse directory or URL.
    pub warehouse: String,
    /// Show progress bars for long work (refresh); front ends set this on a terminal.
    pub progress: bool,
    /// Memory for query execution in bytes; past it, sorts, joins and aggregations spill to
    /// disk. `None` leaves memory unbounded (DataFusion's default).
    pub memory_limit: Option<usize>,
    /// Who acts: recorded in `tagfusion.audit` (the OS user for the CLI).
    pub user: String,
}

impl EngineOptions {
    pub fn new(warehouse: impl Into<String>) -> Self {
        Self {
            warehouse: warehouse.into(),
            progress: false,
            memory_limit: None,
            user: access::audit::os_user(),
        }
    }
}

pub struct Engine {
    ctx: SessionContext,
    warehouse: Warehouse,
    /// The catalog: readers take a snapshot, writers (one at a time, under `write_lock`) swap
    /// in a new one after saving it.
    catalog: Arc<ArcSwap<Catalog>>,
    /// Serialises statements that change the warehouse, so each sees the one before it.
    write_lock: Mutex<()>,
    progress: bool,
    user: String,
    usage: UsageCounter,
    audit_log: AuditLog,
    /// Catalog table versions last loaded (see `reload`).
    seen_versions: Mutex<Vec<Option<u64>>>,
}

impl Engine {
    /// Opens the warehouse (creating it if needed) and restores its catalog and tables.
    pub async fn open(options: EngineOptions) -> Result<Arc<Self>> {
        let warehouse = Warehouse::open(&options.warehouse).await?;
        let ctx = session::build(options.memory_limit)?;
        let catalog = store::load(&warehouse, &ctx).await?;
        let catalog = Arc::new(ArcSwap::from_pointee(catalog));
        ctx.add_analyzer_rule(Arc::new(MaskSensitive::new(catalog.clone())));
        let engine = Arc::new_cyclic(|engine| {
            segments::table_functions::register(&ctx, engine.clone());
            Self {
                ctx,
                warehouse,
                catalog,
                write_lock: Mutex::new(()),
                progress: options.progress,
                user: options.user,
                usage: UsageCounter::default(),
                seen_versions: Mutex::new(Vec::new()),
                audit_log: AuditLog::default(),
            }
        });
        let failed = engine.restore_sources(None).await;
        engine.register_all_tables().await?;
        // Views over profiles or segments need those registered first: a second pass.
        if !failed.is_empty() {
            let names: Vec<String> = failed.into_iter().map(|(name, _)| name).collect();
            for (name, e) in engine.restore_sources(Some(&names)).await {
                tracing::warn!("table '{name}' could not be restored: {e}");
            }
        }
        engine.mark_catalog_seen().await?;
        Ok(engine)
    }

    /// The DataFusion session (for front ends that plan on their own, e.g. prepared statements).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Every (catalog, schema) of the session: what the REPL completes and the server lists.
    pub fn schema_names(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for catalog in self.ctx.catalog_names() {
            if let Some(c) = self.ctx.catalog(&catalog) {
                for schema in c.schema_names() {
                    out.push((catalog.clone(), schema));
                }
            }
        }
        out
    }

    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// The user this engine acts for (audit records name them).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The key type of an entity's profile (for table functions, planned synchronously).
    pub(crate) fn key_type(&self, entity: &str) -> Result<datafusion::arrow::datatypes::DataType> {
        let missing = || {
            crate::error::Error::invalid(format!(
                "entity {entity} has no snapshot yet; run REFRESH ENTITY {entity} first"
            ))
        };
        let key = self.catalog().entity(entity)?.key.clone();
        let schema = self.schema(entity)?;
        // The entity's schema is in memory: looking a table up does not wait on anything.
        let profile = futures::executor::block_on(schema.table("profile"))?.ok_or_else(missing)?;
        Ok(profile
            .schema()
            .field_with_name(&key)
            .map_err(datafusion::error::DataFusionError::from)?
            .data_type()
            .clone())
    }

    /// The catalog as it is now: a snapshot that later changes do not touch (cheap: no copy).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// A copy of the catalog for a statement to change; the caller holds the write lock and
    /// hands the changed copy to `commit_catalog` after saving it.
    fn catalog_to_change(&self) -> Catalog {
        Catalog::clone(&self.catalog.load())
    }

    /// Parses a script.
    pub fn parse(&self, sql: &str) -> Result<Vec<ParsedStatement>> {
        parser::parse(sql)
    }

    /// Parses and runs a script, statement by statement, stopping at the first error.
    /// Results are collected; use [`Engine::execute`] to stream them.
    pub async fn run_script(&self, sql: &str) -> Result<Vec<Output>> {
        let mut outputs = Vec::new();
        for statement in self.parse(sql)? {
            outputs.push(self.execute(&statement).await?);
        }
        Ok(outputs)
    }

    /// Runs a script and collects every result's rows.
    pub async fn query(
        &self,
        sql: &str,
    ) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>> {
        let mut batches = Vec::new();
        for output in self.run_script(sql).await? {
            batches.extend(output.collect().await?);
        }
        Ok(batches)
    }

    /// Runs one parsed statement. Errors carry the statement's location.
    pub async fn execute(&self, statement: &ParsedStatement) -> Result<Output> {
        self.execute_inner(statement)
            .await
            .map_err(|e| statement.place(e))
    }

    /// Runs one SQL statement with values for its parameters (`$1`, `$2`, … or `?`).
    pub async fn execute_with_params(
        &self,
        statement: &ParsedStatement,
        params: Vec<datafusion::common::ScalarValue>,
    ) -> Result<Output> {
        let run = async {
            access::authorize(&statement.statement)?;
            match &statement.statement {
                Statement::Sql(sql) => self.execute_sql(sql, &statement.text, Some(params)).await,
                _ => Err(crate::error::Error::invalid(
                    "parameters can only be bound to SQL statements, not to TAG DSL statements",
                )),
            }
        };
        run.await.map_err(|e| statement.place(e))
    }

    /// What a prepared statement returns and takes, without running it: the result schema (empty
    /// when only running tells, e.g. for DSL statements) and the parameter schema (`$1`, …).
    pub async fn describe_statement(
        &self,
        statement: &ParsedStatement,
    ) -> Result<(
        datafusion::arrow::datatypes::Schema,
        datafusion::arrow::datatypes::Schema,
    )> {
        use datafusion::arrow::datatypes::{Field, Schema};
        let describe = async {
            access::authorize(&statement.statement)?;
            let Statement::Sql(sql) = &statement.statement else {
                return Ok((Schema::empty(), Schema::empty()));
            };
            let plan = self.plan_sql(sql).await?;
            access::authorize_plan(&plan)?;
            let mut params: Vec<(usize, Field)> = plan
                .get_parameter_types()?
                .into_iter()
                .map(|(name, t)| {
                    let n = name
                        .trim_start_matches('$')
                        .parse::<usize>()
                        .unwrap_or(usize::MAX);
                    let t = t.unwrap_or(datafusion::arrow::datatypes::DataType::Utf8);
                    (n, Field::new(name, t, true))
                })
                .collect();
            params.sort_by_key(|(n, _)| *n);
            let dataset = match plan {
                datafusion::logical_expr::LogicalPlan::Ddl(_)
                | datafusion::logical_expr::LogicalPlan::Statement(_) => Schema::empty(),
                plan => plan.schema().as_arrow().clone(),
            };
            Ok((
                dataset,
                Schema::new(params.into_iter().map(|(_, f)| f).collect::<Vec<_>>()),
            ))
        };
        describe
            .await
            .map_err(|e: crate::error::Error| statement.place(e))
    }

    /// Appends an audit record as the acting user (front ends: failed logins).
    pub async fn record_audit(
        &self,
        action: &str,
        object: &str,
        detail: Option<String>,
    ) -> Result<()> {
        self.audit(action, object, detail).await
    }

    async fn execute_inner(&self, statement: &ParsedStatement) -> Result<Output> {
        access::authorize(&statement.statement)?;
        match &statement.statement {
            Statement::Sql(sql) => self.execute_sql(sql, &statement.text, None).await,
            Statement::CreateEntity(c) => self.create_entity(c).await,
            Statement::CreateTag(c) => self.create_tag(c).await,
            Statement::RefreshEntity { entity, as_of } => {
                self.refresh_entity(entity, as_of.as_deref()).await
            }
            Statement::RefreshTag(name) => self.refresh_tag(name).await,
            Statement::ExplainRefresh { entity, as_of } => {
                self.explain_refresh(entity, as_of.as_deref()).await
            }
            Statement::ShowEntities => self.show_entities().await,
            Statement::ShowCategories { entity } => self.show_categories(entity.as_deref()).await,
            Statement::ShowFunctions { like } => self.show_functions(like.as_deref()).await,
            Statement::ShowTags(show) => self.show_tags(show).await,
            Statement::DescribeTag(name) => self.describe_tag(name).await,
            Statement::DescribeEntity(name) => self.describe_entity(name).await,
            Statement::AlterTag { name, change } => self.alter_tag(name, change).await,
            Statement::DropTag { name, cascade } => self.drop_tag(name, *cascade).await,
            Statement::DropEntity { name, cascade } => self.drop_entity(name, *cascade).await,
            Statement::CreateSegment(c) => self.create_segment(c).await,
            Statement::ShowSegments { entity } => self.show_segments(entity.as_deref()).await,
            Statement::DescribeSegment(name) => self.describe_segment(name).await,
            Statement::DropSegment { name, cascade } => self.drop_segment(name, *cascade).await,
            Statement::Persona { entity, key } => self.persona(entity, key.into()).await,
            Statement::ProfileSegment { segment, by } => {
                self.segment_profile(segment, by).await?.into_output()
            }
            Statement::CreateIdentityGraph(c) => {
                self.create_identity_graph(c, &statement.text).await
            }
            Statement::RefreshIdentityGraph(name) => self.refresh_identity_graph(name).await,
            Statement::DropIdentityGraph(name) => self.drop_identity_graph(name).await,
            Statement::ShowIdentityGraphs => self.show_identity_graphs().await,
            Statement::DescribeIdentityGraph(name) => self.describe_identity_graph(name).await,
        }
    }
}
