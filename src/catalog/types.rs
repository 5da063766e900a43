//! The catalog's typed words: how an entity's source and a tag's definition are written, a
//! tag's value type, and how a refresh ended. Each is stored as the same string the catalog
//! tables have always held (`table`, `query`, `Int64`, `ok`, …), so existing warehouses open
//! unchanged; the tag kind and status are the parser's [`TagKind`](crate::parser::TagKind) and
//! [`TagStatus`](crate::parser::TagStatus), stored the same way.

use std::fmt;
use std::str::FromStr;

use datafusion::arrow::datatypes::DataType;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serialises a type through its `Display`/`FromStr` strings.
macro_rules! serde_as_str {
    ($name:ty) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// How an entity's rows are given: a table's name, or a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Table,
    Query,
}

/// How a tag is defined after `AS`: an expression over other tags, or a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefinitionKind {
    Expression,
    Query,
}

/// How a refresh (of an entity or an identity graph) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    #[default]
    Ok,
    Failed,
}

impl RunStatus {
    pub fn of<T, E>(result: &Result<T, E>) -> Self {
        if result.is_ok() {
            RunStatus::Ok
        } else {
            RunStatus::Failed
        }
    }
}

/// A tag's value type: an Arrow type, written as Arrow writes it (`Int64`, `Utf8`,
/// `List(Utf8)`, `Timestamp(Microsecond, Some("UTC"))`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueType(DataType);

impl ValueType {
    pub fn new(data_type: DataType) -> Self {
        ValueType(data_type)
    }
    pub fn data_type(&self) -> &DataType {
        &self.0
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ValueType {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        DataType::from_str(text)
            .map(ValueType)
            .map_err(|e| format!("the catalog holds an unreadable type '{text}': {e}"))
    }
}

serde_as_str!(ValueType);
serde_as_str!(crate::parser::TagKind);
serde_as_str!(crate::parser::TagStatus);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{TagKind, TagStatus};

    /// The strings the catalog tables hold: a warehouse written before these types existed
    /// reads the same.
    #[test]
    fn words_are_stored_as_before() {
        let json = |v: &dyn erased::Json| v.json();
        assert_eq!(json(&SourceKind::Table), "\"table\"");
        assert_eq!(json(&SourceKind::Query), "\"query\"");
        assert_eq!(json(&DefinitionKind::Expression), "\"expression\"");
        assert_eq!(json(&RunStatus::Failed), "\"failed\"");
        assert_eq!(json(&TagKind::Statistic), "\"statistic\"");
        assert_eq!(json(&TagStatus::Approved), "\"approved\"");
        assert_eq!(json(&ValueType::new(DataType::Int64)), "\"Int64\"");
        let list: ValueType = serde_json::from_str("\"List(Utf8)\"").unwrap();
        assert_eq!(list.to_string(), "List(Utf8)");
        let ts: ValueType = serde_json::from_str(r#""Timestamp(µs, \"UTC\")""#)
            .or_else(|_| serde_json::from_str(r#""Timestamp(Microsecond, Some(\"UTC\"))""#))
            .unwrap();
        assert!(matches!(ts.data_type(), DataType::Timestamp(_, Some(_))));
        let status: TagStatus = serde_json::from_str("\"offline\"").unwrap();
        assert_eq!(status, TagStatus::Offline);
        assert!(serde_json::from_str::<TagKind>("\"nonsense\"").is_err());
    }

    mod erased {
        pub trait Json {
            fn json(&self) -> String;
        }
        impl<T: serde::Serialize> Json for T {
            fn json(&self) -> String {
                serde_json::to_string(self).unwrap()
            }
        }
    }
}
