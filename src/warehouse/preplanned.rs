//! A physical plan optimised on its own and handed to delta-rs as an opaque leaf.
//!
//! delta-rs re-plans the input of a write under its own nodes (a metrics observer that does
//! not declare that it keeps the input order). DataFusion's sort enforcement then removes the
//! profile's `ORDER BY key` as "unnecessary", and the snapshot file loses the order that lets a
//! key lookup skip row groups and pages. Planning the input first and exposing it as a leaf
//! keeps the sort: the outer optimiser cannot see inside.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};

/// Runs a plan that was optimised already; a leaf to any planner above it.
#[derive(Debug)]
struct PreplannedExec {
    inner: Arc<dyn ExecutionPlan>,
}

impl DisplayAs for PreplannedExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PreplannedExec: {}", self.inner.name())
    }
}

impl ExecutionPlan for PreplannedExec {
    fn name(&self) -> &str {
        "PreplannedExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }
    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.inner.execute(partition, context)
    }
}

/// A table whose scan is a pre-planned physical plan.
#[derive(Debug)]
pub struct PreplannedTable {
    plan: Arc<dyn ExecutionPlan>,
}

impl PreplannedTable {
    pub fn new(plan: Arc<dyn ExecutionPlan>) -> Self {
        Self { plan }
    }
}

#[async_trait]
impl TableProvider for PreplannedTable {
    fn schema(&self) -> SchemaRef {
        self.plan.schema()
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
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let leaf: Arc<dyn ExecutionPlan> = Arc::new(PreplannedExec {
            inner: self.plan.clone(),
        });
        let Some(projection) = projection else {
            return Ok(leaf);
        };
        let schema = self.plan.schema();
        let exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = projection
            .iter()
            .map(|&i| {
                let name = schema.field(i).name().clone();
                (
                    Arc::new(Column::new(&name, i)) as Arc<dyn PhysicalExpr>,
                    name,
                )
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(exprs, leaf)?))
    }
}
