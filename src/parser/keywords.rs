//! The words of the TAG DSL: one list for everything that shows them — the REPL's completion
//! and highlighting and the Flight SQL server's `SqlInfo` keywords — so they cannot drift apart
//! (the server's list had lost IDENTITY, GRAPH, BLOCK and PRIORITY).

/// Keywords and phrases of the DSL's statements and clauses, as the REPL completes them
/// (`IDENTITY GRAPH` completes as one), then tag kinds and statuses, which are written in
/// lower case.
pub const DSL_PHRASES: &[&str] = &[
    "ENTITY",
    "ENTITIES",
    "KEY",
    "TAG",
    "TAGS",
    "KIND",
    "CATEGORY",
    "CATEGORIES",
    "DESCRIPTION",
    "OWNER",
    "SENSITIVE",
    "DEFAULT",
    "REFRESH",
    "AS OF",
    "ALTER",
    "STATUS",
    "SEGMENT",
    "SEGMENTS",
    "PERSONA",
    "PROFILE",
    "IDENTITY GRAPH",
    "IDENTITY GRAPHS",
    "MAX GROUP SIZE",
    "MAX PER GROUP",
    "BLOCK",
    "MATCHING",
    "PRIORITY",
    "CASCADE",
    "FUNCTIONS",
    "FOR",
    "attribute",
    "statistic",
    "rule",
    "model",
    "draft",
    "approved",
    "offline",
];

/// Each upper-case word of [`DSL_PHRASES`] once (`IDENTITY GRAPH` gives IDENTITY and GRAPH):
/// what a client is told the DSL's keywords are.
pub fn dsl_words() -> impl Iterator<Item = &'static str> {
    let mut seen = std::collections::BTreeSet::new();
    DSL_PHRASES
        .iter()
        .filter(|p| p.chars().all(|c| !c.is_lowercase()))
        .flat_map(|p| p.split_whitespace())
        .filter(move |w| seen.insert(*w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_word_is_listed_once() {
        let words: Vec<&str> = dsl_words().collect();
        for w in [
            "ENTITY", "TAG", "SEGMENT", "IDENTITY", "GRAPH", "BLOCK", "PRIORITY", "PERSONA",
        ] {
            assert_eq!(words.iter().filter(|x| **x == w).count(), 1, "{w}");
        }
        assert!(!words.contains(&"model"));
    }
}
