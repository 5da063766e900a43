//! Step 7: one `one_id` per component, stable across refreshes. Each previous group's `one_id`
//! goes to its heir, the component that holds most of its identifiers; a component given several
//! keeps the oldest (smallest) and records the others as merged into it; a component given none
//! gets a new `one_id` (after every id ever issued) and, when it holds identifiers of an older
//! group, records a split.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;

use super::Stats;
use super::work::Work;
use crate::error::Result;

/// One id per component of work table `comp`, stable across refreshes (see the module
/// documentation). `previous` is the last mapping and `max_issued` the largest one_id ever
/// issued. Returns the mapping and the merge/split events.
pub(super) async fn stable_ids(
    work: &mut Work<'_>,
    previous: Option<Arc<dyn TableProvider>>,
    max_issued: i64,
    stats: &mut Stats,
) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
    previous_mapping(work, previous).await?;
    current_groups(work).await?;
    heirs(work).await?;
    let base = new_ids(work, max_issued).await?;
    let (mapping, changes) = mapping_and_changes(work).await?;
    count(work, base, stats).await?;
    Ok((mapping, changes))
}

/// Work table `prev(id_type, id, one_id)`: the last mapping, or none.
async fn previous_mapping(
    work: &mut Work<'_>,
    previous: Option<Arc<dyn TableProvider>>,
) -> Result<()> {
    match previous {
        Some(provider) => work.adopt("prev", provider),
        None => {
            work.put(
                "prev",
                "SELECT CAST(NULL AS VARCHAR) AS id_type, CAST(NULL AS VARCHAR) AS id, \
                 CAST(NULL AS BIGINT) AS one_id WHERE false",
            )
            .await?;
            Ok(())
        }
    }
}

/// Work table `cur(label, id_type, id)`: the identifiers of each component.
async fn current_groups(work: &mut Work<'_>) -> Result<()> {
    work.put(
        "cur",
        &format!(
            "SELECT c.label, n.id_type, n.id FROM {comp} c JOIN {nodes} n ON n.node = c.node",
            comp = work.t("comp"),
            nodes = work.t("nodes")
        ),
    )
    .await?;
    Ok(())
}

/// Work tables `held(prev, label, n)`, how many identifiers of each previous group each
/// component holds; `heir(prev, label)`, the component holding most of each previous group
/// (ties: smallest label); and `kept_ids(label, one_id)`, the oldest one_id each heir keeps.
async fn heirs(work: &mut Work<'_>) -> Result<()> {
    work.put(
        "held",
        &format!(
            "SELECT p.one_id AS prev, c.label, count(*) AS n FROM {cur} c \
             JOIN {prev} p ON p.id_type = c.id_type AND p.id = c.id GROUP BY p.one_id, c.label",
            cur = work.t("cur"),
            prev = work.t("prev")
        ),
    )
    .await?;
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
    Ok(())
}

/// Work table `new_ids(label, one_id)`: the components that inherit no one_id, numbered after
/// every id ever issued. Returns that base (the largest id issued before this refresh).
async fn new_ids(work: &mut Work<'_>, max_issued: i64) -> Result<i64> {
    let base = work
        .count(&format!(
            "SELECT greatest({max_issued}, coalesce(max(one_id), 0)) FROM {prev}",
            prev = work.t("prev")
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
    Ok(base)
}

/// Work tables `mapping(id_type, id, one_id)` and `changes(event, one_id, other_one_id)` (a
/// previous group that is not its heir's one_id merged into it; a new group holding
/// identifiers of older groups split off the smallest of them). Returns both, sorted.
async fn mapping_and_changes(work: &mut Work<'_>) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
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
    Ok((mapping, changes))
}

/// The refresh's figures from work tables `mapping`, `changes` and `new_ids`; `base` is the
/// largest id issued before.
async fn count(work: &Work<'_>, base: i64, stats: &mut Stats) -> Result<()> {
    let t = |name: &str| work.t(name);
    stats.identifiers = work.rows("mapping").await?;
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
    stats.new_groups = work.rows("new_ids").await? - stats.splits;
    stats.max_one_id = work
        .count(&format!(
            "SELECT greatest({base}, coalesce(max(one_id), 0)) FROM {}",
            t("new_ids")
        ))
        .await?;
    Ok(())
}
