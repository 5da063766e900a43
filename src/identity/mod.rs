//! Identity resolution (OneID / ID-Mapping): the identifiers in one source row belong to one
//! person, so the people are the connected components of the graph whose nodes are identifiers
//! and whose edges join identifiers seen in the same row.
//!
//! Every step is a DataFusion query over the previous step's result — joins, aggregates and
//! window functions on integer node ids — so the same plan shape runs partitioned on one machine
//! or on a cluster; no step needs every identifier in one in-memory map:
//!
//! 1. **identifiers**: each source column is an identifier type; values go through
//!    `normalize_id(type, value)`; NULL, empty and placeholder values are skipped;
//! 2. **blocked values** (`BLOCK type IN (…)`, `BLOCK type MATCHING 'regex'`) link nothing;
//! 3. **nodes**: distinct (type, id) numbered in sorted order;
//! 4. **hubs**: an identifier linked directly to more identifiers of a type than
//!    `MAX PER GROUP` allows, or to `MAX GROUP SIZE` identifiers or more, links nothing (a shared
//!    device, a call-centre phone);
//! 5. **components**: min-label propagation with pointer jumping — each round a node takes the
//!    smallest label among itself and its neighbours, then the label of its label — until no
//!    label changes; the label of a component is its smallest node;
//! 6. **group guards**: a component still larger than `MAX GROUP SIZE`, or with more identifiers
//!    of a type than `MAX PER GROUP` allows, drops its identifiers of the lowest `PRIORITY`
//!    type (stronger links win) and components are computed again;
//! 7. **stable ids** ([`stable_ids`]): each previous group's `one_id` goes to the component that
//!    holds most of its identifiers; a component given several keeps the oldest (smallest) and
//!    records the others as merged into it; a component given none gets a new `one_id` (after
//!    every id ever issued) and, when it holds identifiers of an older group, records a split.

pub mod tables;

pub use tables::IDENTITY_SCHEMA;

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::parser::{Block, CreateIdentityGraph, quote_ident, quote_str};
use tagfusion_udfs::identity::normalize_id;

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

/// Rounds of label propagation before giving up (pointer jumping halves distances each round,
/// so real graphs converge in a handful).
const MAX_ROUNDS: usize = 100;

/// Intermediate tables of one resolution, registered under unique names, dropped at the end.
struct Work<'a> {
    ctx: &'a SessionContext,
    prefix: String,
    names: Vec<String>,
}

impl<'a> Work<'a> {
    fn new(ctx: &'a SessionContext) -> Self {
        Self {
            ctx,
            prefix: format!("__tf_idg_{}", uuid::Uuid::new_v4().simple()),
            names: Vec::new(),
        }
    }

    /// The registered name of work table `name`.
    fn t(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    /// Runs `sql` and keeps its rows as work table `name`.
    async fn put(&mut self, name: &str, sql: &str) -> Result<Vec<RecordBatch>> {
        let df = self.ctx.sql(sql).await?;
        let planned = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        // The batches' own schema: nullability can differ from the planned one.
        let schema = batches.first().map(|b| b.schema()).unwrap_or(planned);
        self.register(name, schema, batches.clone())?;
        Ok(batches)
    }

    fn register(
        &mut self,
        name: &str,
        schema: datafusion::arrow::datatypes::SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<()> {
        let table = self.t(name);
        let _ = self.ctx.deregister_table(table.as_str());
        // Spread over the session's partitions, so the next step scans in parallel.
        let n = self.ctx.state().config().target_partitions().max(1);
        let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); n.min(batches.len().max(1))];
        let slots = partitions.len();
        for (i, batch) in batches.into_iter().enumerate() {
            partitions[i % slots].push(batch);
        }
        self.ctx.register_table(
            table.as_str(),
            Arc::new(MemTable::try_new(schema, partitions)?),
        )?;
        self.names.push(table);
        Ok(())
    }

    async fn count(&self, sql: &str) -> Result<i64> {
        let batches = self.ctx.sql(sql).await?.collect().await?;
        Ok(first_int(&batches).unwrap_or(0))
    }
}

impl Drop for Work<'_> {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.ctx.deregister_table(name.as_str());
        }
    }
}

fn first_int(batches: &[RecordBatch]) -> Option<i64> {
    let batch = batches.iter().find(|b| b.num_rows() > 0)?;
    let column = datafusion::arrow::compute::cast(
        batch.column(0),
        &datafusion::arrow::datatypes::DataType::Int64,
    )
    .ok()?;
    let ints = column.as_any().downcast_ref::<Int64Array>()?;
    (!ints.is_null(0)).then(|| ints.value(0))
}

/// How the caller explains a planning error (unknown names with suggestions).
pub type Diagnose<'a> = &'a (dyn Fn(datafusion::error::DataFusionError) -> Error + Sync);

/// The identifier types of each source (its column names), checked.
pub async fn source_types(
    ctx: &SessionContext,
    graph: &CreateIdentityGraph,
    diagnose: Diagnose<'_>,
) -> Result<Vec<Vec<String>>> {
    if graph.sources.is_empty() {
        return Err(Error::invalid(format!(
            "identity graph {} has no sources: add FROM (SELECT id_a, id_b FROM …)",
            graph.name
        )));
    }
    let mut all = Vec::new();
    for (i, source) in graph.sources.iter().enumerate() {
        let df = ctx
            .sql(&format!("SELECT * FROM ({source}) AS __tf_s"))
            .await
            .map_err(|e| {
                Error::invalid(format!(
                    "source {} of identity graph {}: {}",
                    i + 1,
                    graph.name,
                    diagnose(e)
                ))
            })?;
        let names: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        if names.len() < 2 {
            return Err(Error::invalid(format!(
                "source {} of identity graph {} has one column ({}): a source links the \
                 identifiers of a row, so it needs at least two identifier columns",
                i + 1,
                graph.name,
                names.join(", ")
            )));
        }
        for (j, name) in names.iter().enumerate() {
            if names[..j].contains(name) {
                return Err(Error::invalid(format!(
                    "source {} of identity graph {} has two columns named {name}: name each \
                     identifier type once (… AS phone, … AS phone2)",
                    i + 1,
                    graph.name
                )));
            }
        }
        all.push(names);
    }
    let known: Vec<String> = {
        let mut k: Vec<String> = Vec::new();
        for name in all.iter().flatten() {
            if !k.contains(name) {
                k.push(name.clone());
            }
        }
        k
    };
    let mentioned = graph
        .max_per_type
        .iter()
        .map(|(t, _)| t.as_str())
        .chain(graph.blocks.iter().map(Block::id_type))
        .chain(graph.priority.iter().map(String::as_str));
    for t in mentioned {
        if !known.iter().any(|k| k == t) {
            return Err(Error::unknown(
                "identifier type",
                t,
                known.iter().map(String::as_str),
            ));
        }
    }
    Ok(all)
}

/// Identifier types strongest first: PRIORITY, then the others in order of appearance.
fn priority(graph: &CreateIdentityGraph, types: &[Vec<String>]) -> Vec<String> {
    let mut order = graph.priority.clone();
    for t in types.iter().flatten() {
        if !order.contains(t) {
            order.push(t.clone());
        }
    }
    order
}

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
    let order = priority(graph, &types);
    let mut work = Work::new(ctx);
    let mut stats = Stats::default();

    // 1. Identifiers, one row per (source, row, type).
    let mut parts = Vec::new();
    for (i, (source, columns)) in graph.sources.iter().zip(&types).enumerate() {
        let name = format!("src{i}");
        work.put(
            &name,
            &format!("SELECT row_number() OVER () AS __tf_row, * FROM ({source}) AS __tf_s"),
        )
        .await?;
        stats.source_rows.push(
            work.count(&format!("SELECT count(*) FROM {}", work.t(&name)))
                .await?,
        );
        for column in columns {
            parts.push(format!(
                "SELECT {i} AS src, __tf_row AS row, {t} AS id_type, \
                 normalize_id({t}, {c}) AS id FROM {table}",
                t = quote_str(column),
                c = quote_ident(column),
                table = work.t(&name)
            ));
        }
    }
    work.put(
        "occ",
        &format!(
            "SELECT * FROM ({}) WHERE id IS NOT NULL",
            parts.join(" UNION ALL ")
        ),
    )
    .await?;
    if work
        .count(&format!("SELECT count(*) FROM {}", work.t("occ")))
        .await?
        == 0
    {
        return Err(Error::invalid(format!(
            "the sources of identity graph {} produced no identifiers (every value is NULL, \
             empty or a placeholder, or the sources have no rows)",
            graph.name
        )));
    }

    // 2. Blocked values.
    let mut rejected_parts: Vec<String> = Vec::new();
    if !graph.blocks.is_empty() {
        let cases: Vec<(String, String)> = graph
            .blocks
            .iter()
            .map(|b| match b {
                Block::Values { id_type, values } => {
                    // Normalised here: a value with no normal form (a placeholder) blocks
                    // nothing, and never puts a NULL into the IN list.
                    let list: Vec<String> = values
                        .iter()
                        .filter_map(|v| normalize_id(id_type, v))
                        .map(|v| quote_str(&v))
                        .collect();
                    let condition = if list.is_empty() {
                        "false".to_string()
                    } else {
                        format!(
                            "(id_type = {} AND id IN ({}))",
                            quote_str(id_type),
                            list.join(", ")
                        )
                    };
                    (condition, quote_str("blocked value"))
                }
                Block::Matching { id_type, pattern } => (
                    format!(
                        "(id_type = {} AND regexp_like(id, {}))",
                        quote_str(id_type),
                        quote_str(pattern)
                    ),
                    quote_str(&format!("blocked: matches '{pattern}'")),
                ),
            })
            .collect();
        let any = cases
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>()
            .join(" OR ");
        let reason = format!(
            "CASE {} END",
            cases
                .iter()
                .map(|(c, r)| format!("WHEN {c} THEN {r}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        work.put(
            "blocked",
            &format!(
                "SELECT DISTINCT id_type, id, {reason} AS reason FROM {} WHERE {any}",
                work.t("occ")
            ),
        )
        .await?;
        rejected_parts.push(format!(
            "SELECT id_type, id, reason FROM {}",
            work.t("blocked")
        ));
        work.put(
            "occ_ok",
            &format!("SELECT * FROM {} WHERE NOT ({any})", work.t("occ")),
        )
        .await?;
    } else {
        work.put("occ_ok", &format!("SELECT * FROM {}", work.t("occ")))
            .await?;
    }

    // 3. Nodes.
    work.put(
        "nodes",
        &format!(
            "SELECT row_number() OVER (ORDER BY id_type, id) AS node, id_type, id \
             FROM (SELECT DISTINCT id_type, id FROM {})",
            work.t("occ_ok")
        ),
    )
    .await?;
    work.put(
        "on_all",
        &format!(
            "SELECT o.src, o.row, n.node, n.id_type FROM {occ} o \
             JOIN {nodes} n ON o.id_type = n.id_type AND o.id = n.id",
            occ = work.t("occ_ok"),
            nodes = work.t("nodes")
        ),
    )
    .await?;

    // 4. Hubs.
    let limit_of: BTreeMap<&str, u64> = graph
        .max_per_type
        .iter()
        .map(|(t, n)| (t.as_str(), *n))
        .collect();
    let mut hub_rules: Vec<String> = Vec::new();
    if !limit_of.is_empty() {
        let cond = limit_of
            .iter()
            .map(|(t, n)| format!("(other_type = {} AND n > {n})", quote_str(t)))
            .collect::<Vec<_>>()
            .join(" OR ");
        hub_rules.push(format!(
            "SELECT node, 'linked to ' || CAST(n AS VARCHAR) || ' ' || other_type || \
             ' identifiers (MAX PER GROUP ' || other_type || ' ' || \
             CASE {} END || ')' AS reason FROM {{deg}} WHERE {cond}",
            limit_of
                .iter()
                .map(|(t, n)| format!("WHEN other_type = {} THEN '{n}'", quote_str(t)))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if let Some(max) = graph.max_group_size {
        hub_rules.push(format!(
            "SELECT node, 'linked to ' || CAST(sum(n) AS VARCHAR) || \
             ' identifiers (MAX GROUP SIZE {max})' AS reason FROM {{deg}} \
             GROUP BY node HAVING sum(n) + 1 > {max}"
        ));
    }
    if hub_rules.is_empty() {
        work.put(
            "hubs",
            "SELECT CAST(NULL AS BIGINT) AS node, CAST(NULL AS VARCHAR) AS reason WHERE false",
        )
        .await?;
    } else {
        work.put(
            "deg",
            &format!(
                "SELECT node, other_type, count(*) AS n FROM (\
                   SELECT DISTINCT a.node AS node, b.node AS other, b.id_type AS other_type \
                   FROM {on} a JOIN {on} b ON a.src = b.src AND a.row = b.row AND a.node <> b.node) \
                 GROUP BY node, other_type",
                on = work.t("on_all")
            ),
        )
        .await?;
        let deg = work.t("deg");
        let rules: Vec<String> = hub_rules.iter().map(|r| r.replace("{deg}", &deg)).collect();
        work.put(
            "hubs",
            &format!(
                "SELECT node, min(reason) AS reason FROM ({}) GROUP BY node",
                rules.join(" UNION ALL ")
            ),
        )
        .await?;
        rejected_parts.push(format!(
            "SELECT n.id_type, n.id, h.reason FROM {} h JOIN {} n ON n.node = h.node",
            work.t("hubs"),
            work.t("nodes")
        ));
    }
    work.put(
        "dropped",
        &format!("SELECT node, reason FROM {}", work.t("hubs")),
    )
    .await?;

    // 5 and 6. Components, then group guards until no group breaks them.
    let rank_case = format!(
        "CASE {} END",
        order
            .iter()
            .enumerate()
            .map(|(i, t)| format!("WHEN id_type = {} THEN {i}", quote_str(t)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for guard_round in 0..=order.len() {
        components(&mut work, &mut stats).await?;
        let mut breaks: Vec<String> = Vec::new();
        if let Some(max) = graph.max_group_size {
            breaks.push(format!(
                "SELECT label, 'group of ' || CAST(count(*) AS VARCHAR) || \
                 ' identifiers breaks MAX GROUP SIZE {max}' AS why FROM {comp} \
                 GROUP BY label HAVING count(*) > {max}",
                comp = work.t("comp")
            ));
        }
        for (t, n) in &limit_of {
            breaks.push(format!(
                "SELECT label, 'group with ' || CAST(count(*) AS VARCHAR) || ' {t} identifiers \
                 breaks MAX PER GROUP {t} {n}' AS why FROM {comp} WHERE id_type = {q} \
                 GROUP BY label HAVING count(*) > {n}",
                comp = work.t("comp"),
                q = quote_str(t)
            ));
        }
        if breaks.is_empty() || guard_round == order.len() {
            break;
        }
        work.put(
            "breaking",
            &format!(
                "SELECT label, min(why) AS why FROM ({}) GROUP BY label",
                breaks.join(" UNION ALL ")
            ),
        )
        .await?;
        if work
            .count(&format!("SELECT count(*) FROM {}", work.t("breaking")))
            .await?
            == 0
        {
            break;
        }
        // The weakest type of each breaking group gives way.
        work.put(
            "dropped",
            &format!(
                "SELECT node, reason FROM {dropped} UNION ALL \
                 SELECT c.node, b.why || ': its ' || c.id_type || \
                        ' links were dropped (lowest PRIORITY in the group)' AS reason \
                 FROM (SELECT label, node, id_type, {rank_case} AS rank FROM {comp}) c \
                 JOIN {breaking} b ON b.label = c.label \
                 JOIN (SELECT label, max({rank_case}) AS weakest FROM {comp} GROUP BY label) w \
                   ON w.label = c.label AND w.weakest = c.rank",
                dropped = work.t("dropped"),
                comp = work.t("comp"),
                breaking = work.t("breaking"),
            ),
        )
        .await?;
    }
    rejected_parts.push(format!(
        "SELECT n.id_type, n.id, d.reason FROM {} d JOIN {} n ON n.node = d.node \
         WHERE d.node NOT IN (SELECT node FROM {})",
        work.t("dropped"),
        work.t("nodes"),
        work.t("hubs")
    ));
    let rejected = work
        .put(
            "rejected",
            &format!(
                "SELECT id_type, id, min(reason) AS reason FROM ({}) GROUP BY id_type, id \
                 ORDER BY id_type, id",
                rejected_parts.join(" UNION ALL ")
            ),
        )
        .await?;
    stats.rejected = rejected.iter().map(|b| b.num_rows() as i64).sum();

    // 7. Stable ids.
    let (mapping, changes) = stable_ids(&mut work, previous, max_issued, &mut stats).await?;
    Ok(Resolution {
        mapping,
        rejected,
        changes,
        stats,
    })
}

/// Connected components of the nodes not dropped, linked by the rows they share: work table
/// `comp(label, node, id_type)`.
async fn components(work: &mut Work<'_>, stats: &mut Stats) -> Result<()> {
    work.put(
        "kept",
        &format!(
            "SELECT src, row, node, id_type FROM {on} WHERE node NOT IN (SELECT node FROM {dropped})",
            on = work.t("on_all"),
            dropped = work.t("dropped")
        ),
    )
    .await?;
    // A star per row: every identifier to the row's smallest; both directions.
    work.put(
        "adj",
        &format!(
            "WITH e AS (SELECT DISTINCT k.node AS a, f.first AS b FROM {kept} k \
               JOIN (SELECT src, row, min(node) AS first FROM {kept} GROUP BY src, row) f \
               ON k.src = f.src AND k.row = f.row WHERE k.node <> f.first) \
             SELECT a AS node, b AS nbr FROM e UNION ALL SELECT b AS node, a AS nbr FROM e",
            kept = work.t("kept")
        ),
    )
    .await?;
    work.put(
        "labels",
        &format!(
            "SELECT n.node, least(n.node, coalesce(min(a.nbr), n.node)) AS label \
             FROM (SELECT DISTINCT node FROM {kept}) n LEFT JOIN {adj} a ON a.node = n.node \
             GROUP BY n.node",
            kept = work.t("kept"),
            adj = work.t("adj")
        ),
    )
    .await?;
    let mut converged = false;
    for _ in 0..MAX_ROUNDS {
        stats.rounds += 1;
        work.put(
            "step",
            &format!(
                "SELECT node, min(label) AS label FROM (\
                   SELECT node, label FROM {labels} \
                   UNION ALL SELECT a.node, l.label FROM {adj} a JOIN {labels} l ON l.node = a.nbr) \
                 GROUP BY node",
                labels = work.t("labels"),
                adj = work.t("adj")
            ),
        )
        .await?;
        work.put(
            "jumped",
            &format!(
                "SELECT s.node, least(s.label, p.label) AS label FROM {step} s \
                 JOIN {step} p ON p.node = s.label",
                step = work.t("step")
            ),
        )
        .await?;
        let changed = work
            .count(&format!(
                "SELECT count(*) FROM {jumped} j JOIN {labels} l ON l.node = j.node \
                 WHERE j.label <> l.label",
                jumped = work.t("jumped"),
                labels = work.t("labels")
            ))
            .await?;
        work.put(
            "labels",
            &format!("SELECT node, label FROM {}", work.t("jumped")),
        )
        .await?;
        if changed == 0 {
            converged = true;
            break;
        }
    }
    if !converged {
        return Err(Error::invalid(format!(
            "identity resolution did not converge in {MAX_ROUNDS} rounds"
        )));
    }
    work.put(
        "comp",
        &format!(
            "SELECT l.label, l.node, n.id_type FROM {labels} l JOIN {nodes} n ON n.node = l.node",
            labels = work.t("labels"),
            nodes = work.t("nodes")
        ),
    )
    .await?;
    Ok(())
}

/// One id per component, stable across refreshes (see the module documentation). Returns the
/// mapping and the merge/split events.
async fn stable_ids(
    work: &mut Work<'_>,
    previous: Option<Arc<dyn TableProvider>>,
    max_issued: i64,
    stats: &mut Stats,
) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
    let prev = work.t("prev");
    match previous {
        Some(provider) => {
            let _ = work.ctx.deregister_table(prev.as_str());
            work.ctx.register_table(prev.as_str(), provider)?;
            work.names.push(prev.clone());
        }
        None => {
            work.put(
                "prev",
                "SELECT CAST(NULL AS VARCHAR) AS id_type, CAST(NULL AS VARCHAR) AS id, \
                 CAST(NULL AS BIGINT) AS one_id WHERE false",
            )
            .await?;
        }
    }
    work.put(
        "cur",
        &format!(
            "SELECT c.label, n.id_type, n.id FROM {comp} c JOIN {nodes} n ON n.node = c.node",
            comp = work.t("comp"),
            nodes = work.t("nodes")
        ),
    )
    .await?;
    // How many identifiers of each previous group each component holds.
    work.put(
        "held",
        &format!(
            "SELECT p.one_id AS prev, c.label, count(*) AS n FROM {cur} c \
             JOIN {prev} p ON p.id_type = c.id_type AND p.id = c.id GROUP BY p.one_id, c.label",
            cur = work.t("cur")
        ),
    )
    .await?;
    // Each previous group's heir: the component holding most of it (ties: smallest label).
    work.put(
        "heir",
        &format!(
            "SELECT prev, label FROM (SELECT prev, label, row_number() OVER \
               (PARTITION BY prev ORDER BY n DESC, label) AS r FROM {held}) WHERE r = 1",
            held = work.t("held")
        ),
    )
    .await?;
    work.put(
        "kept_ids",
        &format!(
            "SELECT label, min(prev) AS one_id FROM {} GROUP BY label",
            work.t("heir")
        ),
    )
    .await?;
    let base = work
        .count(&format!(
            "SELECT greatest({max_issued}, coalesce(max(one_id), 0)) FROM {prev}"
        ))
        .await?;
    work.put(
        "new_ids",
        &format!(
            "SELECT label, {base} + row_number() OVER (ORDER BY label) AS one_id FROM \
             (SELECT DISTINCT label FROM {cur}) WHERE label NOT IN (SELECT label FROM {kept})",
            cur = work.t("cur"),
            kept = work.t("kept_ids")
        ),
    )
    .await?;
    let mapping = work
        .put(
            "mapping",
            &format!(
                "SELECT c.id_type, c.id, i.one_id FROM {cur} c JOIN \
                 (SELECT label, one_id FROM {kept} UNION ALL SELECT label, one_id FROM {new}) i \
                 ON i.label = c.label ORDER BY c.id_type, c.id",
                cur = work.t("cur"),
                kept = work.t("kept_ids"),
                new = work.t("new_ids")
            ),
        )
        .await?;
    let changes = work
        .put(
            "changes",
            &format!(
                "SELECT 'merged' AS event, k.one_id, h.prev AS other_one_id FROM {heir} h \
                   JOIN {kept} k ON k.label = h.label WHERE h.prev <> k.one_id \
                 UNION ALL \
                 SELECT 'split' AS event, min(h.prev) AS one_id, n.one_id AS other_one_id \
                   FROM {held} h JOIN {new} n ON n.label = h.label GROUP BY n.one_id \
                 ORDER BY event, one_id, other_one_id",
                heir = work.t("heir"),
                held = work.t("held"),
                kept = work.t("kept_ids"),
                new = work.t("new_ids")
            ),
        )
        .await?;
    let t = |name: &str| work.t(name);
    stats.identifiers = work
        .count(&format!("SELECT count(*) FROM {}", t("mapping")))
        .await?;
    stats.groups = work
        .count(&format!(
            "SELECT count(DISTINCT one_id) FROM {}",
            t("mapping")
        ))
        .await?;
    stats.largest_group = work
        .count(&format!(
            "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM {} GROUP BY one_id)",
            t("mapping")
        ))
        .await?;
    stats.merges = work
        .count(&format!(
            "SELECT count(*) FROM {} WHERE event = 'merged'",
            t("changes")
        ))
        .await?;
    stats.splits = work
        .count(&format!(
            "SELECT count(*) FROM {} WHERE event = 'split'",
            t("changes")
        ))
        .await?;
    stats.new_groups = work
        .count(&format!("SELECT count(*) FROM {}", t("new_ids")))
        .await?
        - stats.splits;
    stats.max_one_id = work
        .count(&format!(
            "SELECT greatest({base}, coalesce(max(one_id), 0)) FROM {}",
            t("new_ids")
        ))
        .await?;
    Ok((mapping, changes))
}
