//! Result tables for people, the same in the CLI and the REPL: wide (CJK) characters aligned
//! by display width, numbers right-aligned, NULL shown, the number of rows below, and long
//! results cut after `max_rows` with a note of how many there were.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::StreamExt;

use crate::engine::Output;
use crate::error::Result;

/// Renders an output as a table (all rows when `max_rows` is `None`); returns the text (empty
/// for statements without rows) and the number of rows.
pub async fn render(mut output: Output, max_rows: Option<usize>) -> Result<(String, usize)> {
    let max_rows = max_rows.unwrap_or(usize::MAX);
    if !output.has_columns() {
        while let Some(batch) = output.stream.next().await {
            batch?;
        }
        return Ok((String::new(), 0));
    }
    let schema = output.schema.clone();
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(schema.fields().iter().map(|f| Cell::new(f.name())));
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = 0usize;
    while let Some(batch) = output.stream.next().await {
        let batch = batch?;
        if rows < max_rows {
            let columns: Vec<ArrayFormatter> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<std::result::Result<_, _>>()?;
            for row in 0..batch.num_rows().min(max_rows - rows) {
                table.add_row(columns.iter().map(|c| Cell::new(c.value(row))));
            }
        }
        rows += batch.num_rows();
    }
    for (i, field) in schema.fields().iter().enumerate() {
        if field.data_type().is_numeric()
            && let Some(column) = table.column_mut(i)
        {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut text = table.to_string();
    text.push('\n');
    if rows > max_rows {
        text.push_str(&format!(
            "{rows} rows ({max_rows} shown; add LIMIT or use \\format csv for all)\n"
        ));
    } else {
        text.push_str(&format!("{rows} row{}\n", if rows == 1 { "" } else { "s" }));
    }
    Ok((text, rows))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use unicode_width::UnicodeWidthStr;

    use super::*;

    #[tokio::test]
    async fn wide_characters_line_up_and_numbers_align_right() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("城市", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("上海"),
                    Some("Shanghai"),
                    None,
                ])) as ArrayRef,
                Arc::new(Int64Array::from(vec![Some(7), Some(1234), None])),
            ],
        )
        .expect("batch");
        let (text, rows) = render(
            Output::from_batches(schema.clone(), vec![batch.clone()]),
            Some(2),
        )
        .await
        .expect("render");
        assert_eq!(rows, 3);
        let lines: Vec<&str> = text.lines().filter(|l| !l.contains("rows")).collect();
        let width = lines[0].width();
        assert!(lines.iter().all(|l| l.width() == width), "{text}");
        assert!(text.contains("┆    7 │"), "{text}");
        assert!(text.contains("3 rows (2 shown"), "{text}");
        assert!(
            !text.contains("NULL"),
            "the NULL row is past the cut: {text}"
        );
        let (all, _) = render(Output::from_batches(schema, vec![batch]), None)
            .await
            .expect("render");
        assert!(all.contains("NULL") && all.ends_with("3 rows\n"), "{all}");
    }
}
