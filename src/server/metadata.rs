//! What the server tells BI tools about itself and the warehouse: GetSqlInfo, GetXdbcTypeInfo,
//! catalogs, schemas, tables (with their schemas), table types and primary keys.

use std::sync::{Arc, LazyLock};

use arrow_flight::sql::metadata::{
    GetCatalogsBuilder, GetDbSchemasBuilder, GetTablesBuilder, SqlInfoData, SqlInfoDataBuilder,
    XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    CommandGetPrimaryKeys, Nullable, Searchable, SqlInfo, SqlNullOrdering,
    SqlOuterJoinsSupportLevel, XdbcDataType,
};
use datafusion::arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::TableType;

use crate::engine::Engine;
use crate::error::Result;

/// Everything GetSqlInfo answers, built once.
pub static SQL_INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "TagFusion");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    b.append(SqlInfo::FlightSqlServerReadOnly, false);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    // No transactions: every statement commits on its own.
    b.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    b.append(SqlInfo::FlightSqlServerCancel, false);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, false);
    b.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    b.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, true);
    b.append(SqlInfo::SqlDdlTable, true);
    // Unquoted identifiers are folded to lower case; quoted ones keep their case.
    b.append(SqlInfo::SqlIdentifierCase, 3i32);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(SqlInfo::SqlQuotedIdentifierCase, 0i32);
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(
        SqlInfo::SqlNullOrdering,
        SqlNullOrdering::SqlNullsSortedHigh as i32,
    );
    // The TAG DSL's keywords, on top of the SQL ones the driver knows.
    let dsl: Vec<&str> = crate::parser::keywords::dsl_words().collect();
    b.append(SqlInfo::SqlKeywords, dsl.as_slice());
    b.append(
        SqlInfo::SqlNumericFunctions,
        &[
            "abs", "ceil", "floor", "round", "power", "sqrt", "ln", "log10", "exp", "mod", "pi",
            "random", "trunc",
        ][..],
    );
    b.append(
        SqlInfo::SqlStringFunctions,
        &[
            "concat",
            "lower",
            "upper",
            "substr",
            "trim",
            "length",
            "replace",
            "lpad",
            "rpad",
            "split_part",
            "starts_with",
            "strpos",
            "mask_phone",
            "mask_email",
            "mask_id",
        ][..],
    );
    b.append(
        SqlInfo::SqlSystemFunctions,
        &["as_of", "arrow_typeof", "version"][..],
    );
    b.append(
        SqlInfo::SqlDatetimeFunctions,
        &[
            "now",
            "date_trunc",
            "date_part",
            "extract",
            "to_timestamp",
            "days_since",
            "days_between",
        ][..],
    );
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlExtraNameCharacters, "");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    b.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    // Bitmask of SqlSupportedGroupBy: unrelated (bit 0) and beyond select (bit 1).
    b.append(SqlInfo::SqlSupportedGroupBy, 0b11i32);
    b.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    b.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    // Bitmask of SupportedSqlGrammar: minimum and core.
    b.append(SqlInfo::SqlSupportedGrammar, 0b11i32);
    b.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    b.append(
        SqlInfo::SqlOuterJoinsSupportLevel,
        SqlOuterJoinsSupportLevel::SqlFullOuterJoins as i32,
    );
    b.append(SqlInfo::SqlSchemaTerm, "schema");
    b.append(SqlInfo::SqlProcedureTerm, "procedure");
    b.append(SqlInfo::SqlCatalogTerm, "catalog");
    b.append(SqlInfo::SqlCatalogAtStart, true);
    b.append(SqlInfo::SqlSchemasSupportedActions, 0i32);
    b.append(SqlInfo::SqlCatalogsSupportedActions, 0i32);
    b.append(SqlInfo::SqlSupportedPositionedCommands, 0i32);
    b.append(SqlInfo::SqlSelectForUpdateSupported, false);
    b.append(SqlInfo::SqlStoredProceduresSupported, false);
    // Bitmask of SqlSupportedSubqueries: comparisons, EXISTS, IN (bits 0–2).
    b.append(SqlInfo::SqlSupportedSubqueries, 0b111i32);
    b.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    // Bitmask of SqlSupportedUnions: UNION and UNION ALL.
    b.append(SqlInfo::SqlSupportedUnions, 0b11i32);
    b.append(SqlInfo::SqlMaxBinaryLiteralLength, 0i64);
    b.append(SqlInfo::SqlMaxCharLiteralLength, 0i64);
    b.append(SqlInfo::SqlMaxColumnNameLength, 0i64);
    b.append(SqlInfo::SqlMaxColumnsInGroupBy, 0i64);
    b.append(SqlInfo::SqlMaxColumnsInIndex, 0i64);
    b.append(SqlInfo::SqlMaxColumnsInOrderBy, 0i64);
    b.append(SqlInfo::SqlMaxColumnsInSelect, 0i64);
    b.append(SqlInfo::SqlMaxColumnsInTable, 0i64);
    b.append(SqlInfo::SqlMaxConnections, 0i64);
    b.append(SqlInfo::SqlMaxCursorNameLength, 0i64);
    b.append(SqlInfo::SqlMaxIndexLength, 0i64);
    b.append(SqlInfo::SqlDbSchemaNameLength, 0i64);
    b.append(SqlInfo::SqlMaxProcedureNameLength, 0i64);
    b.append(SqlInfo::SqlMaxCatalogNameLength, 0i64);
    b.append(SqlInfo::SqlMaxRowSize, 0i64);
    b.append(SqlInfo::SqlMaxRowSizeIncludesBlobs, true);
    b.append(SqlInfo::SqlMaxStatementLength, 0i64);
    b.append(SqlInfo::SqlMaxStatements, 0i64);
    b.append(SqlInfo::SqlMaxTableNameLength, 0i64);
    b.append(SqlInfo::SqlMaxTablesInSelect, 0i64);
    b.append(SqlInfo::SqlMaxUsernameLength, 0i64);
    b.append(SqlInfo::SqlDefaultTransactionIsolation, 0i64);
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.append(SqlInfo::SqlSupportedTransactionsIsolationLevels, 0i32);
    b.append(SqlInfo::SqlDataDefinitionCausesTransactionCommit, false);
    b.append(SqlInfo::SqlDataDefinitionsInTransactionsIgnored, true);
    // Bitmask of SqlSupportedResultSetType: forward only.
    b.append(SqlInfo::SqlSupportedResultSetTypes, 0b10i32);
    b.append(SqlInfo::SqlBatchUpdatesSupported, false);
    b.append(SqlInfo::SqlSavepointsSupported, false);
    b.append(SqlInfo::SqlNamedParametersSupported, false);
    b.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    b.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    match b.build() {
        Ok(data) => data,
        // The values above are fixed; a failure here is a bug caught by the server tests.
        Err(e) => panic!("SqlInfo data: {e}"),
    }
});

fn xdbc(
    name: &str,
    data_type: XdbcDataType,
    size: Option<i32>,
    quoted: bool,
    searchable: Searchable,
) -> XdbcTypeInfo {
    XdbcTypeInfo {
        type_name: name.to_string(),
        data_type,
        column_size: size,
        literal_prefix: quoted.then(|| "'".to_string()),
        literal_suffix: quoted.then(|| "'".to_string()),
        create_params: None,
        nullable: Nullable::NullabilityNullable,
        case_sensitive: quoted,
        searchable,
        unsigned_attribute: (!quoted).then_some(false),
        fixed_prec_scale: false,
        auto_increment: (!quoted).then_some(false),
        local_type_name: Some(name.to_string()),
        minimum_scale: None,
        maximum_scale: None,
        sql_data_type: data_type,
        datetime_subcode: None,
        num_prec_radix: (!quoted).then_some(10),
        interval_precision: None,
    }
}

/// The SQL types a tag or source column can have.
pub static XDBC_TYPES: LazyLock<XdbcTypeInfoData> = LazyLock::new(|| {
    let mut b = XdbcTypeInfoDataBuilder::new();
    for t in [
        xdbc(
            "BOOLEAN",
            XdbcDataType::XdbcBit,
            Some(1),
            false,
            Searchable::Basic,
        ),
        xdbc(
            "TINYINT",
            XdbcDataType::XdbcTinyint,
            Some(3),
            false,
            Searchable::Basic,
        ),
        xdbc(
            "SMALLINT",
            XdbcDataType::XdbcSmallint,
            Some(5),
            false,
            Searchable::Basic,
        ),
        xdbc(
            "INTEGER",
            XdbcDataType::XdbcInteger,
            Some(10),
            false,
            Searchable::Basic,
        ),
        xdbc(
            "BIGINT",
            XdbcDataType::XdbcBigint,
            Some(19),
            false,
            Searchable::Basic,
        ),
        xdbc(
            "REAL",
            XdbcDataType::XdbcReal,
            Some(7),
            false,
            Searchable::Basic,
        ),
        xdbc(
            "DOUBLE",
            XdbcDataType::XdbcDouble,
            Some(15),
            false,
            Searchable::Basic,
        ),
        xdbc(
            "DECIMAL",
            XdbcDataType::XdbcDecimal,
            Some(38),
            false,
            Searchable::Basic,
        ),
        xdbc(
            "VARCHAR",
            XdbcDataType::XdbcVarchar,
            None,
            true,
            Searchable::Full,
        ),
        xdbc(
            "BINARY",
            XdbcDataType::XdbcBinary,
            None,
            true,
            Searchable::None,
        ),
        xdbc(
            "DATE",
            XdbcDataType::XdbcDate,
            Some(10),
            true,
            Searchable::Basic,
        ),
        xdbc(
            "TIMESTAMP",
            XdbcDataType::XdbcTimestamp,
            Some(26),
            true,
            Searchable::Basic,
        ),
    ] {
        b.append(t);
    }
    match b.build() {
        Ok(data) => data,
        Err(e) => panic!("XDBC type info: {e}"),
    }
});

/// One table of the session: where it is, what kind, its columns.
pub struct TableInfo {
    pub catalog: String,
    pub schema: String,
    pub table: String,
    pub table_type: &'static str,
    pub columns: SchemaRef,
}

/// Schemas holding system tables, not data.
fn is_system(schema: &str) -> bool {
    matches!(schema, "tagfusion" | "information_schema")
}

fn table_type(schema: &str, t: TableType) -> &'static str {
    if is_system(schema) {
        return "SYSTEM TABLE";
    }
    match t {
        TableType::Base => "TABLE",
        TableType::View => "VIEW",
        TableType::Temporary => "LOCAL TEMPORARY",
    }
}

pub const TABLE_TYPES: &[&str] = &["LOCAL TEMPORARY", "SYSTEM TABLE", "TABLE", "VIEW"];

/// Every table of the session.
pub async fn tables(engine: &Engine) -> Result<Vec<TableInfo>> {
    let ctx = engine.context();
    let mut out = Vec::new();
    for (catalog, schema) in engine.schema_names() {
        let Some(provider) = ctx.catalog(&catalog).and_then(|c| c.schema(&schema)) else {
            continue;
        };
        for table in provider.table_names() {
            let Ok(Some(t)) = provider.table(&table).await else {
                continue;
            };
            out.push(TableInfo {
                catalog: catalog.clone(),
                schema: schema.clone(),
                table_type: table_type(&schema, t.table_type()),
                columns: t.schema(),
                table,
            });
        }
    }
    out.sort_by(|a, b| (&a.catalog, &a.schema, &a.table).cmp(&(&b.catalog, &b.schema, &b.table)));
    Ok(out)
}

pub fn catalogs(engine: &Engine) -> GetCatalogsBuilder {
    let mut b = GetCatalogsBuilder::new();
    for c in engine.context().catalog_names() {
        b.append(c);
    }
    b
}

pub fn db_schemas(engine: &Engine, mut b: GetDbSchemasBuilder) -> GetDbSchemasBuilder {
    for (catalog, schema) in engine.schema_names() {
        b.append(catalog, schema);
    }
    b
}

pub async fn get_tables(
    engine: &Engine,
    mut b: GetTablesBuilder,
) -> std::result::Result<GetTablesBuilder, tonic::Status> {
    let list = tables(engine)
        .await
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    for t in list {
        b.append(
            &t.catalog,
            &t.schema,
            &t.table,
            t.table_type,
            t.columns.as_ref(),
        )
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    }
    Ok(b)
}

/// The schema of GetPrimaryKeys results (Flight SQL protocol).
pub fn primary_keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
}

/// An entity's key is the primary key of its profile, its segments (views over the profile) and
/// its source table; `profile_history` adds `snapshot_at`.
pub async fn primary_keys(engine: &Engine, query: &CommandGetPrimaryKeys) -> Result<RecordBatch> {
    let catalog = engine.catalog();
    let mut rows: Vec<(String, String, String, String, i32)> = Vec::new();
    let default_catalog = engine
        .context()
        .catalog_names()
        .into_iter()
        .next()
        .unwrap_or_default();
    let cat = query.catalog.clone().unwrap_or(default_catalog);
    for entity in catalog.entities.values() {
        let mut keyed: Vec<(String, String, Vec<&str>)> = vec![
            (entity.name.clone(), "profile".into(), vec![&entity.key]),
            (
                entity.name.clone(),
                "profile_history".into(),
                vec![&entity.key, "snapshot_at"],
            ),
        ];
        for s in catalog.segments_of(&entity.name) {
            keyed.push((entity.name.clone(), s.name.clone(), vec![&entity.key]));
        }
        if entity.source_kind == crate::catalog::SourceKind::Table {
            keyed.push(("public".into(), entity.source.clone(), vec![&entity.key]));
        }
        for (schema, table, columns) in keyed {
            if table != query.table || query.db_schema.as_ref().is_some_and(|s| s != &schema) {
                continue;
            }
            for (i, c) in columns.iter().enumerate() {
                rows.push((
                    schema.clone(),
                    table.clone(),
                    c.to_string(),
                    format!("{table}_pkey"),
                    i as i32 + 1,
                ));
            }
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|_| cat.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.0.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.1.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.2.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.3.as_str()),
        )),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.4))),
    ];
    Ok(RecordBatch::try_new(primary_keys_schema(), columns)?)
}
