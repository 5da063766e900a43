//! Arrow types as the warehouse stores them. Delta Lake has one string type, signed integers,
//! and microsecond timestamps; tag values are normalised to those so every snapshot of a tag has
//! the same type and other Delta readers see ordinary columns.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The type of `snapshot_at` and other warehouse timestamps.
pub fn snapshot_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// A snapshot time as a value of [`snapshot_type`].
pub fn snapshot_literal(at: chrono::DateTime<chrono::Utc>) -> datafusion::common::ScalarValue {
    datafusion::common::ScalarValue::TimestampMicrosecond(
        Some(at.timestamp_micros()),
        Some("UTC".into()),
    )
}

/// The Delta-storable type closest to `t`.
pub fn delta_compatible(t: &DataType) -> DataType {
    use DataType::*;
    match t {
        Utf8View | LargeUtf8 => Utf8,
        BinaryView | LargeBinary | FixedSizeBinary(_) => Binary,
        UInt8 | UInt16 => Int32,
        UInt32 | UInt64 => Int64,
        Int8 => Int8,
        Float16 => Float32,
        Null => Utf8,
        Timestamp(_, _) => snapshot_type(),
        Date64 => Date32,
        Dictionary(_, value) => delta_compatible(value),
        List(f) | LargeList(f) | ListView(f) | LargeListView(f) | FixedSizeList(f, _) => List(
            Arc::new(Field::new("element", delta_compatible(f.data_type()), true)),
        ),
        Struct(fields) => Struct(
            fields
                .iter()
                .map(|f| Arc::new(Field::new(f.name(), delta_compatible(f.data_type()), true)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub fn delta_compatible_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), delta_compatible(f.data_type()), true))
            .collect::<Vec<_>>(),
    ))
}
