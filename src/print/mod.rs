//! Printing results, shared by every front end: table, csv (with header), json (an array per
//! statement) and ndjson.

use std::io::Write;

use clap::ValueEnum;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches;
use futures::StreamExt;

use crate::engine::Output;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
}

fn write_err(e: std::io::Error) -> Error {
    Error::io("cannot write the output", e)
}

/// CSV has no nested values: list, struct and map columns are written as their display text
/// (`[服饰, 食品]`), as the table format shows them.
fn flatten_nested(batch: &RecordBatch) -> Result<RecordBatch> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: StringArray = (0..column.len())
                .map(|i| (!column.is_null(i)).then(|| formatter.value(i).to_string()))
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Prints one statement's rows. Statements without columns (DDL) print nothing. Rows stream:
/// csv and ndjson are written batch by batch; table and json need the whole result.
pub async fn print_output(mut output: Output, format: Format, out: &mut impl Write) -> Result<()> {
    if !output.has_columns() {
        while let Some(batch) = output.stream.next().await {
            batch?;
        }
        return Ok(());
    }
    let schema = output.schema.clone();
    match format {
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            let mut wrote = false;
            while let Some(batch) = output.stream.next().await {
                writer.write(&flatten_nested(&batch?)?)?;
                wrote = true;
            }
            if !wrote {
                writer.write(&flatten_nested(&RecordBatch::new_empty(schema))?)?;
            }
        }
        Format::Ndjson => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut *out);
            while let Some(batch) = output.stream.next().await {
                writer.write(&batch?)?;
            }
            writer.finish()?;
        }
        Format::Json => {
            let batches = output.collect().await?;
            let mut writer = datafusion::arrow::json::ArrayWriter::new(Vec::new());
            for b in &batches {
                writer.write(b)?;
            }
            writer.finish()?;
            let bytes = writer.into_inner();
            out.write_all(if bytes.is_empty() { b"[]" } else { &bytes })
                .map_err(write_err)?;
            out.write_all(b"\n").map_err(write_err)?;
        }
        Format::Table => {
            let mut batches = output.collect().await?;
            if batches.is_empty() {
                batches.push(RecordBatch::new_empty(schema));
            }
            let text = pretty_format_batches(&batches)?;
            writeln!(out, "{text}").map_err(write_err)?;
        }
    }
    out.flush().map_err(write_err)
}
