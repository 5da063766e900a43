//! The statements of the TAG DSL (SPEC §2). Definitions keep their source text: it is what the
//! catalog stores and what the compiler plans.

use std::fmt;
use std::str::FromStr;

use crate::error::Location;

/// One statement of a script, with where it starts and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedStatement {
    pub statement: Statement,
    pub location: Location,
    pub text: String,
}

impl ParsedStatement {
    /// `e` with where in the script it happened: at the name it is about (an unknown tag,
    /// column, table, …) when the statement contains it, else at the statement's start. An
    /// error that already knows its place keeps it.
    pub fn place(&self, e: crate::error::Error) -> crate::error::Error {
        if e.location().is_some() {
            return e;
        }
        let at = e
            .subject()
            .and_then(|name| super::locate_name(&self.text, self.location, &name))
            .unwrap_or(self.location);
        e.at(at)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// Any statement DataFusion understands, passed through unchanged.
    Sql(Box<datafusion::sql::parser::Statement>),
    CreateEntity(CreateEntity),
    CreateTag(CreateTag),
    RefreshEntity {
        entity: String,
        as_of: Option<String>,
    },
    RefreshTag(QualifiedName),
    /// `EXPLAIN REFRESH ENTITY e [AS OF …]`: the scans and the plan a refresh would run.
    ExplainRefresh {
        entity: String,
        as_of: Option<String>,
    },
    ShowEntities,
    /// `SHOW CATEGORIES [FOR entity]`: the category tree with tag counts per node.
    ShowCategories {
        entity: Option<String>,
    },
    ShowTags(ShowTags),
    /// `SHOW FUNCTIONS [LIKE 'pattern']`: one row per function with its kind, origin, syntax
    /// and description (DataFusion's own SHOW FUNCTIONS lists only fixed-signature functions).
    ShowFunctions {
        like: Option<String>,
    },
    DescribeTag(QualifiedName),
    DescribeEntity(String),
    AlterTag {
        name: QualifiedName,
        change: AlterTag,
    },
    DropTag {
        name: QualifiedName,
        cascade: bool,
    },
    CreateSegment(CreateSegment),
    ShowSegments {
        entity: Option<String>,
    },
    DescribeSegment(QualifiedName),
    DropSegment {
        name: QualifiedName,
        cascade: bool,
    },
    DropEntity {
        name: String,
        cascade: bool,
    },
    /// `PERSONA customer 'C00042'`: one key's tags by category.
    Persona {
        entity: String,
        key: KeyLiteral,
    },
    /// `PROFILE SEGMENT customer.vip [BY tag, …]`: the segment against the population.
    ProfileSegment {
        segment: QualifiedName,
        by: Vec<String>,
    },
    CreateIdentityGraph(CreateIdentityGraph),
    RefreshIdentityGraph(String),
    DropIdentityGraph(String),
    ShowIdentityGraphs,
    DescribeIdentityGraph(String),
}

/// `CREATE [OR REPLACE] IDENTITY GRAPH name [DESCRIPTION '…'] [MAX GROUP SIZE n]
/// [MAX PER GROUP (type n, …)] [BLOCK type IN ('v', …) | BLOCK type MATCHING 'regex']…
/// [PRIORITY (type, …)] FROM (query), (query)…`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CreateIdentityGraph {
    pub or_replace: bool,
    pub name: String,
    pub description: Option<String>,
    /// Identifiers per group at most.
    pub max_group_size: Option<u64>,
    /// Identifiers of one type per group at most, e.g. `email 3`.
    pub max_per_type: Vec<(String, u64)>,
    pub blocks: Vec<Block>,
    /// Identifier types, strongest first: weaker links give way first when a group breaks a
    /// limit. Default: the order types first appear in the sources.
    pub priority: Vec<String>,
    /// Each source query as written (inside its parentheses).
    pub sources: Vec<String>,
}

/// Identifier values that never link: a list, or a regular expression over the normalised id.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Values {
        id_type: String,
        values: Vec<String>,
    },
    Matching {
        id_type: String,
        pattern: String,
    },
}

impl Block {
    pub fn id_type(&self) -> &str {
        match self {
            Block::Values { id_type, .. } | Block::Matching { id_type, .. } => id_type,
        }
    }
}

/// An entity key written as a literal: `'C00042'` or `42`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLiteral {
    Text(String),
    Integer(i64),
}

impl fmt::Display for KeyLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyLiteral::Text(s) => write!(f, "'{s}'"),
            KeyLiteral::Integer(n) => write!(f, "{n}"),
        }
    }
}

/// `entity.name`
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedName {
    pub entity: String,
    pub name: String,
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.entity, self.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateEntity {
    pub or_replace: bool,
    pub name: String,
    pub key: String,
    pub source: EntitySource,
    pub description: Option<String>,
}

/// Where an entity's keys (one row per key) and attribute columns come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntitySource {
    Table(String),
    Query(String),
}

impl EntitySource {
    /// The source as a relation in a FROM clause.
    pub fn as_relation(&self) -> String {
        match self {
            EntitySource::Table(t) => t.clone(),
            EntitySource::Query(q) => format!("({q})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateTag {
    pub or_replace: bool,
    pub name: QualifiedName,
    pub kind: Option<TagKind>,
    pub category: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub sensitive: bool,
    /// Expression text of the DEFAULT clause.
    pub default: Option<String>,
    pub body: Body,
}

/// A tag's definition: an expression over the entity's row and tags, or a `(key, value)` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Expression(String),
    Query(String),
}

impl Body {
    pub fn text(&self) -> &str {
        match self {
            Body::Expression(t) | Body::Query(t) => t,
        }
    }
    pub fn is_query(&self) -> bool {
        matches!(self, Body::Query(_))
    }
    /// The definition as written after `AS`.
    pub fn as_written(&self) -> String {
        match self {
            Body::Expression(t) => t.clone(),
            Body::Query(q) => format!("({q})"),
        }
    }
}

/// `CREATE [OR REPLACE] SEGMENT entity.name [DESCRIPTION '…'] AS <boolean expression>`
#[derive(Debug, Clone, PartialEq)]
pub struct CreateSegment {
    pub or_replace: bool,
    pub name: QualifiedName,
    pub description: Option<String>,
    /// The boolean expression as written.
    pub definition: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShowTags {
    pub entity: Option<String>,
    pub category: Option<String>,
    pub like: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterTag {
    Status(TagStatus),
    Category(String),
    Description(String),
    Owner(String),
}

macro_rules! word_enum {
    ($name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s.to_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!(
                        concat!("unknown ", $what, " '{}'; expected one of: {}"),
                        other,
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

word_enum!(TagKind, "tag kind", {
    Attribute => "attribute",
    Statistic => "statistic",
    Rule => "rule",
    Model => "model",
});

word_enum!(TagStatus, "tag status", {
    Draft => "draft",
    Approved => "approved",
    Offline => "offline",
});
