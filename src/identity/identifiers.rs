//! Steps 1 and 3: the sources' columns as identifier types, their values as normalised
//! identifiers (one row per source, row and type), and the distinct identifiers numbered as the
//! graph's nodes, linked by the rows they appear in.

use datafusion::prelude::SessionContext;

use super::Diagnose;
use super::work::Work;
use crate::error::{Error, Result};
use crate::parser::{Block, CreateIdentityGraph, quote_ident, quote_str};

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
        let names = source_columns(ctx, graph, i, source, diagnose).await?;
        check_columns(graph, i, &names)?;
        all.push(names);
    }
    check_rule_types(graph, &all)?;
    Ok(all)
}

/// The column names of source `i` (`source`), as planned.
async fn source_columns(
    ctx: &SessionContext,
    graph: &CreateIdentityGraph,
    i: usize,
    source: &str,
    diagnose: Diagnose<'_>,
) -> Result<Vec<String>> {
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
    Ok(df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect())
}

/// Source `i` links the identifiers of a row: two columns or more, each named once.
fn check_columns(graph: &CreateIdentityGraph, i: usize, names: &[String]) -> Result<()> {
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
    Ok(())
}

/// Every type the rules name (MAX PER GROUP, BLOCK, PRIORITY) is a column of some source.
fn check_rule_types(graph: &CreateIdentityGraph, types: &[Vec<String>]) -> Result<()> {
    let mut known: Vec<&str> = Vec::new();
    for name in types.iter().flatten() {
        if !known.contains(&name.as_str()) {
            known.push(name);
        }
    }
    let mentioned = graph
        .max_per_type
        .iter()
        .map(|(t, _)| t.as_str())
        .chain(graph.blocks.iter().map(Block::id_type))
        .chain(graph.priority.iter().map(String::as_str));
    for t in mentioned {
        if !known.contains(&t) {
            return Err(Error::unknown("identifier type", t, known.iter().copied()));
        }
    }
    Ok(())
}

/// Step 1: work table `occ(src, row, id_type, id)`, one row per source row and identifier type
/// whose value has a normal form. Returns the rows read per source.
pub(super) async fn read_identifiers(
    work: &mut Work<'_>,
    graph: &CreateIdentityGraph,
    types: &[Vec<String>],
) -> Result<Vec<i64>> {
    let mut source_rows = Vec::new();
    let mut parts = Vec::new();
    for (i, (source, columns)) in graph.sources.iter().zip(types).enumerate() {
        let name = format!("src{i}");
        work.put(
            &name,
            &format!("SELECT row_number() OVER () AS __tf_row, * FROM ({source}) AS __tf_s"),
        )
        .await?;
        source_rows.push(work.rows(&name).await?);
        parts.extend(identifier_queries(i, columns, &work.t(&name)));
    }
    work.put(
        "occ",
        &format!(
            "SELECT * FROM ({}) WHERE id IS NOT NULL",
            parts.join(" UNION ALL ")
        ),
    )
    .await?;
    if work.rows("occ").await? == 0 {
        return Err(Error::invalid(format!(
            "the sources of identity graph {} produced no identifiers (every value is NULL, \
             empty or a placeholder, or the sources have no rows)",
            graph.name
        )));
    }
    Ok(source_rows)
}

/// One query per column of source `src` (read from `table`): its normalised identifiers.
fn identifier_queries(src: usize, columns: &[String], table: &str) -> Vec<String> {
    columns
        .iter()
        .map(|column| {
            format!(
                "SELECT {src} AS src, __tf_row AS row, {t} AS id_type, \
                 normalize_id({t}, {c}) AS id FROM {table}",
                t = quote_str(column),
                c = quote_ident(column),
            )
        })
        .collect()
}

/// Step 3: work tables `nodes(node, id_type, id)`, the distinct identifiers not blocked
/// (`occ_ok`) numbered in sorted order, and `on_all(src, row, node, id_type)`, the rows each
/// node appears in.
pub(super) async fn number_nodes(work: &mut Work<'_>) -> Result<()> {
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
    Ok(())
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
            sources: vec!["SELECT 1".into()],
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_source_needs_two_distinct_columns() {
        let g = graph();
        assert!(check_columns(&g, 0, &names(&["phone", "email"])).is_ok());
        let one = check_columns(&g, 0, &names(&["phone"])).unwrap_err();
        assert!(
            one.to_string()
                .contains("source 1 of identity graph g has one column (phone)")
        );
        let twice = check_columns(&g, 1, &names(&["phone", "email", "phone"])).unwrap_err();
        assert!(
            twice
                .to_string()
                .contains("source 2 of identity graph g has two columns named phone")
        );
    }

    #[test]
    fn rules_name_only_source_columns() {
        let types = vec![names(&["phone", "email"]), names(&["email", "device"])];
        let mut g = graph();
        g.priority = names(&["device", "phone"]);
        g.max_per_type = vec![("email".into(), 3)];
        g.blocks = vec![Block::Values {
            id_type: "phone".into(),
            values: Vec::new(),
        }];
        assert!(check_rule_types(&g, &types).is_ok());
        g.priority.push("emial".into());
        let e = check_rule_types(&g, &types).unwrap_err();
        assert!(matches!(e, Error::Unknown { .. }), "{e}");
        assert!(e.to_string().contains("emial"), "{e}");
    }

    #[test]
    fn each_column_is_one_normalised_identifier_query() {
        let q = identifier_queries(2, &names(&["phone", "e mail"]), "t");
        assert_eq!(q.len(), 2);
        assert_eq!(
            q[0],
            "SELECT 2 AS src, __tf_row AS row, 'phone' AS id_type, \
             normalize_id('phone', \"phone\") AS id FROM t"
        );
        assert!(
            q[1].contains("normalize_id('e mail', \"e mail\")"),
            "{}",
            q[1]
        );
    }
}
