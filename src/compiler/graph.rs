//! Dependency order of tags, and cycle detection with the cycle spelled out.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::TagDef;
use crate::error::{Error, Result};

/// Finds a dependency cycle among `deps` (tag → tags it reads), returned as the path
/// `a -> b -> a`.
pub fn find_cycle(deps: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        node: &str,
        deps: &BTreeMap<String, Vec<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = path.iter().position(|p| p == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_string(), Mark::Visiting);
        path.push(node.to_string());
        for next in deps.get(node).into_iter().flatten() {
            if deps.contains_key(next)
                && let Some(c) = visit(next, deps, marks, path)
            {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in deps.keys() {
        let mut path = Vec::new();
        if let Some(c) = visit(node, deps, &mut marks, &mut path) {
            return Some(c);
        }
    }
    None
}

/// Groups the expression tags among `selected` into levels: a tag's level is one more than the
/// highest level of the selected expression tags it reads (statistic tags and tags outside
/// `selected` are inputs at level 0). Within a level, tags keep their catalog order.
pub fn levels<'a>(tags: &'a [TagDef], selected: &BTreeSet<String>) -> Result<Vec<Vec<&'a TagDef>>> {
    let chosen: Vec<&TagDef> = tags.iter().filter(|t| selected.contains(&t.name)).collect();
    let deps: BTreeMap<String, Vec<String>> = chosen
        .iter()
        .map(|t| (t.name.clone(), t.depends_on.clone()))
        .collect();
    if let Some(cycle) = find_cycle(&deps) {
        let entity = chosen.first().map(|t| t.entity.as_str()).unwrap_or("");
        return Err(cycle_error(entity, &cycle));
    }
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    fn level_of<'b>(
        name: &'b str,
        by_name: &BTreeMap<&'b str, &'b TagDef>,
        level: &mut BTreeMap<&'b str, usize>,
    ) -> usize {
        if let Some(l) = level.get(name) {
            return *l;
        }
        let Some(tag) = by_name.get(name) else {
            return 0;
        };
        let l = if tag.body().is_query() {
            0
        } else {
            1 + tag
                .depends_on
                .iter()
                .map(|d| level_of(d.as_str(), by_name, level))
                .max()
                .unwrap_or(0)
        };
        level.insert(name, l);
        l
    }
    let by_name: BTreeMap<&str, &TagDef> = chosen.iter().map(|t| (t.name.as_str(), *t)).collect();
    let mut out: Vec<Vec<&TagDef>> = Vec::new();
    for t in &chosen {
        if t.body().is_query() {
            continue;
        }
        let l = level_of(&t.name, &by_name, &mut level);
        while out.len() < l {
            out.push(Vec::new());
        }
        out[l - 1].push(t);
    }
    Ok(out)
}

pub fn cycle_error(entity: &str, cycle: &[String]) -> Error {
    let path: Vec<String> = cycle.iter().map(|c| format!("{entity}.{c}")).collect();
    Error::invalid(format!(
        "tags depend on each other in a cycle: {}; change one definition so it does not read the other",
        path.join(" -> ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::Body;

    fn deps(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn finds_and_spells_cycles() {
        assert_eq!(
            find_cycle(&deps(&[("a", &["b"]), ("b", &["a"])])),
            Some(vec!["a".into(), "b".into(), "a".into()])
        );
        assert_eq!(
            find_cycle(&deps(&[("a", &["a"])])),
            Some(vec!["a".into(), "a".into()])
        );
        assert_eq!(
            find_cycle(&deps(&[("a", &["b"]), ("b", &["c"]), ("c", &[])])),
            None
        );
    }

    #[test]
    fn levels_follow_dependencies() {
        use crate::compiler::tests::tag;
        let tags = vec![
            tag("c", Body::Expression("b + 1".into()), None, &["b"]),
            tag("s", Body::Query("SELECT 1, 2".into()), None, &[]),
            tag("b", Body::Expression("s * 2".into()), None, &["s"]),
            tag("a", Body::Expression("x".into()), None, &[]),
        ];
        let all = tags.iter().map(|t| t.name.clone()).collect();
        let l = levels(&tags, &all).unwrap();
        let names: Vec<Vec<&str>> = l
            .iter()
            .map(|v| v.iter().map(|t| t.name.as_str()).collect())
            .collect();
        assert_eq!(names, vec![vec!["b", "a"], vec!["c"]]);
    }
}
