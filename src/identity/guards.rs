//! Steps 2, 4 and 6, the guards against wrong links: blocked values link nothing, hubs
//! (identifiers linked to too many others) link nothing, and a group that still breaks a limit
//! drops its identifiers of the lowest `PRIORITY` type until it does not. Each guard adds the
//! identifiers it drops, with the reason, to the graph's `_rejected` table.

use std::collections::BTreeMap;

use datafusion::arrow::record_batch::RecordBatch;

use super::Stats;
use super::components::components;
use super::work::Work;
use crate::error::Result;
use crate::parser::{Block, CreateIdentityGraph, quote_str};
use tagfusion_udfs::identity::normalize_id;

/// Identifier types strongest first: PRIORITY, then the others in order of appearance.
pub(super) fn priority(graph: &CreateIdentityGraph, types: &[Vec<String>]) -> Vec<String> {
    let mut order = graph.priority.clone();
    for t in types.iter().flatten() {
        if !order.contains(t) {
            order.push(t.clone());
        }
    }
    order
}

/// `MAX PER GROUP` by type (the last limit given for a type wins).
pub(super) fn limits(graph: &CreateIdentityGraph) -> BTreeMap<&str, u64> {
    graph
        .max_per_type
        .iter()
        .map(|(t, n)| (t.as_str(), *n))
        .collect()
}

/// Step 2: work table `occ_ok`, the identifiers of `occ` no BLOCK rule matches. Returns the
/// query of the blocked identifiers with their reason, if there are BLOCK rules.
pub(super) async fn block_values(work: &mut Work<'_>, blocks: &[Block]) -> Result<Option<String>> {
    if blocks.is_empty() {
        work.put("occ_ok", &format!("SELECT * FROM {}", work.t("occ")))
            .await?;
        return Ok(None);
    }
    let (any, reason) = block_filter(blocks);
    work.put(
        "blocked",
        &format!(
            "SELECT DISTINCT id_type, id, {reason} AS reason FROM {} WHERE {any}",
            work.t("occ")
        ),
    )
    .await?;
    let rejected = format!("SELECT id_type, id, reason FROM {}", work.t("blocked"));
    work.put(
        "occ_ok",
        &format!("SELECT * FROM {} WHERE NOT ({any})", work.t("occ")),
    )
    .await?;
    Ok(Some(rejected))
}

/// The SQL condition an identifier `(id_type, id)` matches when some BLOCK rule blocks it, and
/// the SQL expression of the first matching rule's reason.
fn block_filter(blocks: &[Block]) -> (String, String) {
    let cases: Vec<(String, String)> = blocks.iter().map(block_case).collect();
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
    (any, reason)
}

/// One BLOCK rule as a SQL condition and the SQL literal of its reason.
fn block_case(block: &Block) -> (String, String) {
    match block {
        Block::Values { id_type, values } => {
            // Normalised here: a value with no normal form (a placeholder) blocks nothing, and
            // never puts a NULL into the IN list.
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
    }
}

/// Step 4: work table `hubs(node, reason)`, the identifiers linked directly to more identifiers
/// than `MAX PER GROUP` or `MAX GROUP SIZE` allow. Returns the query of the hubs' identifiers
/// with their reason, if the graph has limits.
pub(super) async fn hubs(
    work: &mut Work<'_>,
    graph: &CreateIdentityGraph,
    limit_of: &BTreeMap<&str, u64>,
) -> Result<Option<String>> {
    let rules = hub_rules(limit_of, graph.max_group_size, &work.t("deg"));
    if rules.is_empty() {
        work.put(
            "hubs",
            "SELECT CAST(NULL AS BIGINT) AS node, CAST(NULL AS VARCHAR) AS reason WHERE false",
        )
        .await?;
        return Ok(None);
    }
    // Per node, how many other nodes of each type share a row with it.
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
    work.put(
        "hubs",
        &format!(
            "SELECT node, min(reason) AS reason FROM ({}) GROUP BY node",
            rules.join(" UNION ALL ")
        ),
    )
    .await?;
    Ok(Some(format!(
        "SELECT n.id_type, n.id, h.reason FROM {} h JOIN {} n ON n.node = h.node",
        work.t("hubs"),
        work.t("nodes")
    )))
}

/// The queries of the hubs over the degree table `deg(node, other_type, n)`: one for the
/// `MAX PER GROUP` limits, one for `MAX GROUP SIZE`; none without limits.
fn hub_rules(
    limit_of: &BTreeMap<&str, u64>,
    max_group_size: Option<u64>,
    deg: &str,
) -> Vec<String> {
    let mut rules: Vec<String> = Vec::new();
    if !limit_of.is_empty() {
        let cond = limit_of
            .iter()
            .map(|(t, n)| format!("(other_type = {} AND n > {n})", quote_str(t)))
            .collect::<Vec<_>>()
            .join(" OR ");
        rules.push(format!(
            "SELECT node, 'linked to ' || CAST(n AS VARCHAR) || ' ' || other_type || \
             ' identifiers (MAX PER GROUP ' || other_type || ' ' || \
             CASE {} END || ')' AS reason FROM {deg} WHERE {cond}",
            limit_of
                .iter()
                .map(|(t, n)| format!("WHEN other_type = {} THEN '{n}'", quote_str(t)))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    if let Some(max) = max_group_size {
        rules.push(format!(
            "SELECT node, 'linked to ' || CAST(sum(n) AS VARCHAR) || \
             ' identifiers (MAX GROUP SIZE {max})' AS reason FROM {deg} \
             GROUP BY node HAVING sum(n) + 1 > {max}"
        ));
    }
    rules
}

/// Steps 5 and 6: components (work table `comp`), computed again after each round in which the
/// groups breaking a limit drop their weakest type (work table `dropped(node, reason)`, which
/// starts as the hubs), at most once per type. Returns the query of the identifiers the group
/// guards dropped, with their reason.
pub(super) async fn guarded_components(
    work: &mut Work<'_>,
    graph: &CreateIdentityGraph,
    limit_of: &BTreeMap<&str, u64>,
    order: &[String],
    stats: &mut Stats,
) -> Result<String> {
    work.put(
        "dropped",
        &format!("SELECT node, reason FROM {}", work.t("hubs")),
    )
    .await?;
    let rank = rank_case(order);
    for guard_round in 0..=order.len() {
        components(work, stats).await?;
        let breaks = group_breaks(limit_of, graph.max_group_size, &work.t("comp"));
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
        if work.rows("breaking").await? == 0 {
            break;
        }
        drop_weakest(work, &rank).await?;
    }
    Ok(format!(
        "SELECT n.id_type, n.id, d.reason FROM {} d JOIN {} n ON n.node = d.node \
         WHERE d.node NOT IN (SELECT node FROM {})",
        work.t("dropped"),
        work.t("nodes"),
        work.t("hubs")
    ))
}

/// A SQL expression of an identifier's rank by `id_type`: 0 for the strongest type of `order`.
fn rank_case(order: &[String]) -> String {
    format!(
        "CASE {} END",
        order
            .iter()
            .enumerate()
            .map(|(i, t)| format!("WHEN id_type = {} THEN {i}", quote_str(t)))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// The queries of the groups of `comp(label, node, id_type)` that break a limit, with why: one
/// for `MAX GROUP SIZE`, one per `MAX PER GROUP` type; none without limits.
fn group_breaks(
    limit_of: &BTreeMap<&str, u64>,
    max_group_size: Option<u64>,
    comp: &str,
) -> Vec<String> {
    let mut breaks: Vec<String> = Vec::new();
    if let Some(max) = max_group_size {
        breaks.push(format!(
            "SELECT label, 'group of ' || CAST(count(*) AS VARCHAR) || \
             ' identifiers breaks MAX GROUP SIZE {max}' AS why FROM {comp} \
             GROUP BY label HAVING count(*) > {max}"
        ));
    }
    for (t, n) in limit_of {
        breaks.push(format!(
            "SELECT label, 'group with ' || CAST(count(*) AS VARCHAR) || ' {t} identifiers \
             breaks MAX PER GROUP {t} {n}' AS why FROM {comp} WHERE id_type = {q} \
             GROUP BY label HAVING count(*) > {n}",
            q = quote_str(t)
        ));
    }
    breaks
}

/// The weakest type of each breaking group gives way: its nodes join work table `dropped`.
async fn drop_weakest(work: &mut Work<'_>, rank_case: &str) -> Result<()> {
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
    Ok(())
}

/// Work table `rejected(id_type, id, reason)`: the identifiers of the guards' queries `parts`,
/// each with its first reason, sorted. Returns its rows (for [`Resolution::rejected`](super::Resolution::rejected)).
pub(super) async fn rejected(work: &mut Work<'_>, parts: &[String]) -> Result<Vec<RecordBatch>> {
    work.put(
        "rejected",
        &format!(
            "SELECT id_type, id, min(reason) AS reason FROM ({}) GROUP BY id_type, id \
             ORDER BY id_type, id",
            parts.join(" UNION ALL ")
        ),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> CreateIdentityGraph {
        CreateIdentityGraph {
            or_replace: false,
            name: "g".into(),
            description: None,
            max_group_size: None,
            max_per_type: Vec::new(),
            blocks: Vec::new(),
            priority: Vec::new(),
            sources: Vec::new(),
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn priority_puts_the_named_types_first_then_the_others_in_order_of_appearance() {
        let types = vec![
            names(&["phone", "email"]),
            names(&["email", "device", "phone"]),
        ];
        let mut g = graph();
        assert_eq!(priority(&g, &types), names(&["phone", "email", "device"]));
        g.priority = names(&["device"]);
        assert_eq!(priority(&g, &types), names(&["device", "phone", "email"]));
    }

    #[test]
    fn the_last_limit_of_a_type_wins() {
        let mut g = graph();
        g.max_per_type = vec![
            ("phone".into(), 2),
            ("email".into(), 3),
            ("phone".into(), 5),
        ];
        let limits = limits(&g);
        assert_eq!(
            limits.into_iter().collect::<Vec<_>>(),
            [("email", 3), ("phone", 5)]
        );
    }

    #[test]
    fn block_rules_become_one_condition_and_the_first_rules_reason() {
        let blocks = vec![
            Block::Matching {
                id_type: "email".into(),
                pattern: "^test@".into(),
            },
            Block::Values {
                id_type: "phone".into(),
                values: Vec::new(),
            },
        ];
        let (any, reason) = block_filter(&blocks);
        assert_eq!(
            any,
            "(id_type = 'email' AND regexp_like(id, '^test@')) OR false"
        );
        assert_eq!(
            reason,
            "CASE WHEN (id_type = 'email' AND regexp_like(id, '^test@')) \
             THEN 'blocked: matches ''^test@''' WHEN false THEN 'blocked value' END"
        );
    }

    #[test]
    fn blocked_values_are_normalised_and_placeholders_block_nothing() {
        let values = |values: &[&str]| Block::Values {
            id_type: "email".into(),
            values: names(values),
        };
        let (condition, _) = block_case(&values(&["", "n/a"]));
        assert_eq!(condition, "false");
        let (condition, _) = block_case(&values(&["n/a", " A@B.com "]));
        assert_eq!(condition, "(id_type = 'email' AND id IN ('a@b.com'))");
    }

    #[test]
    fn hub_and_group_rules_follow_the_limits() {
        let none = BTreeMap::new();
        assert!(hub_rules(&none, None, "deg").is_empty());
        assert!(group_breaks(&none, None, "comp").is_empty());
        let mut g = graph();
        g.max_per_type = vec![("phone".into(), 2), ("email".into(), 3)];
        let limits = limits(&g);
        let hubs = hub_rules(&limits, Some(10), "deg");
        assert_eq!(hubs.len(), 2);
        assert!(
            hubs[0].contains(
                "FROM deg WHERE (other_type = 'email' AND n > 3) OR (other_type = 'phone' AND n > 2)"
            ),
            "{}",
            hubs[0]
        );
        assert!(hubs[1].contains("HAVING sum(n) + 1 > 10"), "{}", hubs[1]);
        let breaks = group_breaks(&limits, Some(10), "comp");
        assert_eq!(breaks.len(), 3);
        assert!(breaks[0].contains("HAVING count(*) > 10"), "{}", breaks[0]);
        assert!(
            breaks[1].contains("WHERE id_type = 'email'"),
            "{}",
            breaks[1]
        );
        assert!(breaks[2].contains("MAX PER GROUP phone 2"), "{}", breaks[2]);
    }

    #[test]
    fn rank_counts_from_the_strongest_type() {
        assert_eq!(
            rank_case(&names(&["phone", "email"])),
            "CASE WHEN id_type = 'phone' THEN 0 WHEN id_type = 'email' THEN 1 END"
        );
    }
}
