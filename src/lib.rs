//! TagFusion: a customer-profiling (客户画像) engine. A TAG DSL on Apache DataFusion, compiled
//! to DataFusion plans, with entity profiles kept as Delta Lake tables.
//!
//! - [`parser`]: SQL + the TAG DSL, with locations;
//! - [`catalog`]: entities, tags, sources, snapshots, stored in the warehouse;
//! - [`compiler`]: tag definitions → one profile query, in dependency order;
//! - [`warehouse`]: Delta tables under a directory or an S3 prefix;
//! - [`identity`]: identity resolution (OneID) as DataFusion queries;
//! - [`storage`]: S3 stores for sources, exports and the warehouse, and their errors;
//! - [`engine`]: the session every front end talks to;
//! - [`cli`]: arguments; opens the engine and hands it to a front end; `tagfusion run`;
//! - [`print`] and [`diagnostic`]: results and error reports, shared by the front ends;
//! - [`report`]: self-contained HTML reports (segment size history and profile);
//! - [`demo`]: the synthetic retail data set and the guided demo;
//! - [`runtime`]: the threads statements run on (deep expressions need deep stacks);
//! - [`failpoint`]: places where tests make a debug build fail or die between commits.

pub mod access;
pub mod catalog;
pub mod cli;
pub mod compiler;
pub mod demo;
pub mod diagnostic;
pub mod engine;
pub mod error;
pub mod failpoint;
pub mod identity;
pub mod parser;
pub mod print;
pub mod repl;
pub mod report;
pub mod runtime;
pub mod server;
pub mod storage;
pub mod units;
pub mod warehouse;

pub use engine::{Engine, EngineOptions, Output};
pub use error::{Error, Result};
