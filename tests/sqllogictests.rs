//! sqllogictest runner: every `tests/slt/*.slt` file runs against a fresh engine on its own
//! temporary warehouse. `$DATA` is the fixture directory (`control substitution on`), and
//! `$WAREHOUSE` the file's warehouse. Run one file with `cargo test --test sqllogictests -- NAME`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use tagfusion::{Engine, EngineOptions};

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

#[tokio::main]
async fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let (mut passed, mut failed) = (0, 0);
    for file in slt_files(filter.as_deref()) {
        let dir = tempfile::tempdir().expect("temp dir");
        let warehouse = dir.path().join("warehouse").display().to_string();
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
        runner.with_column_validator(|_, _| true);
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        match runner.run_file_async(&file).await {
            Ok(()) => {
                println!("test slt::{name} ... ok");
                passed += 1;
            }
            Err(e) => {
                println!("test slt::{name} ... FAILED\n{e}\n");
                failed += 1;
            }
        }
    }
    println!("\nsqllogictest: {passed} passed, {failed} failed");
    if failed > 0 || passed == 0 {
        std::process::exit(1);
    }
}
