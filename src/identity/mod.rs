//! Identity resolution (OneID / ID-Mapping): the identifiers in one source row belong to one
//! person, so the people are the connected components of the graph whose nodes are identifiers
//! and whose edges join identifiers seen in the same row.
//!
//! Every step is a DataFusion query over the previous step's result — joins, aggregates and
//! window functions on integer node ids — so the same plan shape runs partitioned on one machine
//! or on a cluster; no step needs every identifier in one in-memory map:
//!
//! 1. **identifiers** ([`identifiers`]): each source column is an identifier type; values go
//!    through `normalize_id(type, value)`; NULL, empty and placeholder values are skipped;
//! 2. **blocked values** ([`guards`]): `BLOCK type IN (…)`, `BLOCK type MATCHING 'regex'` link
//!    nothing;
//! 3. **nodes** ([`identifiers`]): distinct (type, id) numbered in sorted order;
//! 4. **hubs** ([`guards`]): an identifier linked directly to more identifiers of a type than
//!    `MAX PER GROUP` allows, or to `MAX GROUP SIZE` identifiers or more, links nothing (a shared
//!    device, a call-centre phone);
//! 5. **components** ([`components`]): min-label propagation with pointer jumping — each round a
//!    node takes the smallest label among itself and its neighbours, then the label of its label
//!    — until no label changes; the label of a component is its smallest node;
//! 6. **group guards** ([`guards`]): a component still larger than `MAX GROUP SIZE`, or with more
//!    identifiers of a type than `MAX PER GROUP` allows, drops its identifiers of the lowest
//!    `PRIORITY` type (stronger links win) and components are computed again;
//! 7. **stable ids** ([`stable_ids`]): each previous group's `one_id` goes to the component that
//!    holds most of its identifiers; a component given several keeps the oldest (smallest) and
//!    records the others as merged into it; a component given none gets a new `one_id` (after
//!    every id ever issued) and, when it holds identifiers of an older group, records a split.
//!
//! Each step's result is a work table of the session ([`work`]); [`resolve`] runs the steps in
//! order. The warehouse tables the result is written to are in [`tables`].

mod components;
mod guards;
mod identifiers;
mod stable_ids;
pub mod tables;
mod work;

pub use identifiers::source_types;
pub use tables::IDENTITY_SCHEMA;

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::parser::CreateIdentityGraph;
use work::Work;

/// What a refresh produced.
pub struct Resolution {
    /// `(id_type, id, one_id)`, sorted by type and id.
    pub mapping: Vec<RecordBatch>,
    /// `(id_type, id, reason)`: identifiers that broke a guard.
    pub rejected: Vec<RecordBatch>,
    /// `(event, one_id, other_one_id)`: `merged` (other absorbed into one_id) and `split`
    /// (other split off one_id).
    pub changes: Vec<RecordBatch>,
    pub stats: Stats,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub source_rows: Vec<i64>,
    pub identifiers: i64,
    pub groups: i64,
    pub largest_group: i64,
    pub new_groups: i64,
    pub merges: i64,
    pub splits: i64,
    pub rejected: i64,
    pub max_one_id: i64,
    pub rounds: usize,
}

/// How the caller explains a planning error (unknown names with suggestions).
pub type Diagnose<'a> = &'a (dyn Fn(datafusion::error::DataFusionError) -> Error + Sync);

/// Resolves `graph` over its sources. `previous` is the last mapping (for stable ids) and
/// `max_issued` the largest one_id ever issued.
pub async fn resolve(
    ctx: &SessionContext,
    graph: &CreateIdentityGraph,
    previous: Option<Arc<dyn TableProvider>>,
    max_issued: i64,
    diagnose: Diagnose<'_>,
) -> Result<Resolution> {
    let types = source_types(ctx, graph, diagnose).await?;
    let order = guards::priority(graph, &types);
    let limit_of = guards::limits(graph);
    let mut work = Work::new(ctx);
    let mut stats = Stats::default();
    // The queries of the identifiers each guard rejects, with the reason.
    let mut rejected_by: Vec<String> = Vec::new();

    stats.source_rows = identifiers::read_identifiers(&mut work, graph, &types).await?;
    rejected_by.extend(guards::block_values(&mut work, &graph.blocks).await?);
    identifiers::number_nodes(&mut work).await?;
    rejected_by.extend(guards::hubs(&mut work, graph, &limit_of).await?);
    rejected_by
        .push(guards::guarded_components(&mut work, graph, &limit_of, &order, &mut stats).await?);
    let rejected = guards::rejected(&mut work, &rejected_by).await?;
    stats.rejected = rejected.iter().map(|b| b.num_rows() as i64).sum();
    let (mapping, changes) =
        stable_ids::stable_ids(&mut work, previous, max_issued, &mut stats).await?;
    Ok(Resolution {
        mapping,
        rejected,
        changes,
        stats,
    })
}
