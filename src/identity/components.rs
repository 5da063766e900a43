//! Step 5: the connected components of the identifiers not dropped, by min-label propagation
//! with pointer jumping — each round a node takes the smallest label among itself and its
//! neighbours, then the label of its label — until no label changes; the label of a component
//! is its smallest node.

use super::Stats;
use super::work::Work;
use crate::error::{Error, Result};

/// Rounds of label propagation before giving up (pointer jumping halves distances each round,
/// so real graphs converge in a handful).
const MAX_ROUNDS: usize = 100;

/// Connected components of the nodes not dropped, linked by the rows they share: work table
/// `comp(label, node, id_type)`.
pub(super) async fn components(work: &mut Work<'_>, stats: &mut Stats) -> Result<()> {
    links(work).await?;
    propagate_labels(work, stats).await?;
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

/// Work tables `kept(src, row, node, id_type)`, the rows of the nodes not dropped, and
/// `adj(node, nbr)`, their links: a star per row, every identifier to the row's smallest, in
/// both directions.
async fn links(work: &mut Work<'_>) -> Result<()> {
    work.put(
        "kept",
        &format!(
            "SELECT src, row, node, id_type FROM {on} WHERE node NOT IN (SELECT node FROM {dropped})",
            on = work.t("on_all"),
            dropped = work.t("dropped")
        ),
    )
    .await?;
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
    Ok(())
}

/// Work table `labels(node, label)`: each kept node's component label, propagated over `adj`
/// until no label changes (at most [`MAX_ROUNDS`] rounds, counted in `stats.rounds`).
async fn propagate_labels(work: &mut Work<'_>, stats: &mut Stats) -> Result<()> {
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
    for _ in 0..MAX_ROUNDS {
        stats.rounds += 1;
        if label_round(work).await? == 0 {
            return Ok(());
        }
    }
    Err(Error::invalid(format!(
        "identity resolution did not converge in {MAX_ROUNDS} rounds"
    )))
}

/// One round: each node takes the smallest label of itself and its neighbours (`step`), then
/// the label of that label (`jumped`), which becomes `labels`. Returns how many labels changed.
async fn label_round(work: &mut Work<'_>) -> Result<i64> {
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
    Ok(changed)
}
