//! sqllogictest runner: every `tests/slt/*.slt` file runs against a fresh engine on its own
//! warehouse, twice: in a temporary directory and on S3 (a moto server on loopback, started
//! here). `$DATA` is the fixture directory (`control substitution on`), `$WAREHOUSE` the file's
//! warehouse and `$OUT` a local directory for exports. Run one file with `cargo test --test sqllogictests -- NAME`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use tagfusion::{Engine, EngineOptions};

#[path = "support/s3.rs"]
#[allow(dead_code)]
mod s3;

struct TagFusionDb {
    engine: Arc<Engine>,
}

#[derive(Debug)]
struct DbError(String);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DbError {}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating()
        || matches!(t, DataType::Decimal128(_, _) | DataType::Decimal256(_, _))
    {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

#[async_trait::async_trait]
impl AsyncDB for TagFusionDb {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let err = |e: tagfusion::Error| DbError(e.root().to_string());
        let statements = self.engine.parse(sql).map_err(err)?;
        let mut last = DBOutput::StatementComplete(0);
        for statement in &statements {
            let output = self.engine.execute(statement).await.map_err(err)?;
            let schema = output.schema.clone();
            let batches = output.collect().await.map_err(err)?;
            if schema.fields().is_empty() {
                last = DBOutput::StatementComplete(0);
                continue;
            }
            let options = FormatOptions::default().with_null("NULL");
            let mut rows = Vec::new();
            for batch in &batches {
                let formatters: Vec<ArrayFormatter> = batch
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                    .collect::<Result<_, _>>()
                    .map_err(|e| DbError(e.to_string()))?;
                for row in 0..batch.num_rows() {
                    rows.push(
                        formatters
                            .iter()
                            .map(|f| {
                                let v = f.value(row).to_string();
                                if v.is_empty() {
                                    "(empty)".to_string()
                                } else {
                                    v
                                }
                            })
                            .collect(),
                    );
                }
            }
            let types = schema
                .fields()
                .iter()
                .map(|f| column_type(f.data_type()))
                .collect();
            last = DBOutput::Rows { types, rows };
        }
        Ok(last)
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "tagfusion"
    }
}

fn slt_files(filter: Option<&str>) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "slt"));
    if let Some(f) = filter {
        files.retain(|p| p.to_string_lossy().contains(f));
    }
    files.sort();
    files
}

/// Where a file's warehouse lives.
#[derive(Clone, Copy)]
enum Place {
    Local,
    S3,
}

const BUCKET: &str = "tagfusion-slt";

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    // Every file runs twice: on a local warehouse and on S3 (moto on loopback).
    let server = s3::S3Server::start();
    server.create_bucket(BUCKET);
    for (key, value) in s3::aws_env(&server.endpoint()) {
        // SAFETY: no other thread exists yet (the runtime starts below).
        unsafe { std::env::set_var(key, value) };
    }
    // The threads and stacks the binary runs statements on (deep expressions in parser.slt).
    let (passed, failed) =
        tagfusion::runtime::block_on(move || run_all(filter)).expect("tokio runtime");
    println!("\nsqllogictest: {passed} passed, {failed} failed");
    drop(server);
    if failed > 0 || passed == 0 {
        std::process::exit(1);
    }
}

async fn run_all(filter: Option<String>) -> (usize, usize) {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let (mut passed, mut failed) = (0, 0);
    for file in slt_files(filter.as_deref()) {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        for place in [Place::Local, Place::S3] {
            let dir = tempfile::tempdir().expect("temp dir");
            let (warehouse, label) = match place {
                Place::Local => (dir.path().join("warehouse").display().to_string(), "local"),
                Place::S3 => (
                    format!("s3://{BUCKET}/{}", name.trim_end_matches(".slt")),
                    "s3",
                ),
            };
            let wh = warehouse.clone();
            let mut runner = sqllogictest::Runner::new(move || {
                let wh = wh.clone();
                async move {
                    let engine = Engine::open(EngineOptions::new(wh))
                        .await
                        .map_err(|e| DbError(e.to_string()))?;
                    Ok(TagFusionDb { engine })
                }
            });
            runner.set_var("DATA".into(), data.display().to_string());
            runner.set_var("WAREHOUSE".into(), warehouse);
            runner.set_var("OUT".into(), dir.path().display().to_string());
            runner.with_column_validator(|_, _| true);
            let started = std::time::Instant::now();
            match runner.run_file_async(&file).await {
                Ok(()) => {
                    println!(
                        "test slt::{name} ({label}) ... ok ({:.1} s)",
                        started.elapsed().as_secs_f64()
                    );
                    passed += 1;
                }
                Err(e) => {
                    println!("test slt::{name} ({label}) ... FAILED\n{e}\n");
                    failed += 1;
                }
            }
        }
    }
    (passed, failed)
}
