use std::sync::LazyLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Result, ScalarValue, exec_err, plan_datafusion_err};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
    lit,
};

use crate::TagFusionConfig;

/// `as_of()`: the as-of timestamp of the snapshot being computed (UTC, no time zone).
///
/// During `REFRESH ENTITY … AS OF t` it is `t`; during a plain refresh it is the refresh's start;
/// in ad-hoc queries it is `SET tagfusion.as_of` if set, else the query's start time. Tag
/// definitions use it for windows (`ts > as_of() - INTERVAL '30 days'`) so backfills are correct.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AsOf {
    signature: Signature,
}

impl AsOf {
    pub fn new() -> Self {
        Self {
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

impl Default for AsOf {
    fn default() -> Self {
        Self::new()
    }
}

/// The result type of `as_of()`: a UTC timestamp without a zone, like most warehouse data.
pub fn as_of_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, None)
}

/// Parses a `tagfusion.as_of` value (`2026-06-30`, `2026-06-30 00:00:00[.fff]`, RFC 3339).
pub fn parse_as_of(text: &str) -> Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(plan_datafusion_err!(
        "tagfusion.as_of = '{text}' is not a timestamp; use 'YYYY-MM-DD HH:MM:SS'"
    ))
}

/// The as-of time configured in `options`, or `fallback` when none is set, in nanoseconds.
pub fn as_of_nanos(options: &ConfigOptions, fallback: DateTime<Utc>) -> Result<i64> {
    let configured = TagFusionConfig::from_options(options)
        .map(|c| c.as_of.as_str())
        .filter(|s| !s.trim().is_empty());
    let t = match configured {
        Some(text) => parse_as_of(text)?,
        None => fallback,
    };
    match t.timestamp_nanos_opt() {
        Some(n) => Ok(n),
        None => exec_err!("as-of time {t} is out of range"),
    }
}

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_DATETIME,
        "The as-of timestamp of the snapshot being computed (UTC). Use it instead of now() in tag \
         definitions so REFRESH … AS OF gives point-in-time-correct backfills.",
        "as_of()",
    )
    .with_sql_example("SELECT count(*) FROM orders WHERE ts > as_of() - INTERVAL '30 days'")
    .build()
});

impl ScalarUDFImpl for AsOf {
    fn name(&self) -> &str {
        "as_of"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(as_of_type())
    }
    fn simplify(&self, _args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let start = info.query_execution_start_time().unwrap_or_else(Utc::now);
        let nanos = as_of_nanos(info.config_options(), start)?;
        Ok(ExprSimplifyResult::Simplified(lit(
            ScalarValue::TimestampNanosecond(Some(nanos), None),
        )))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let nanos = as_of_nanos(&args.config_options, Utc::now())?;
        Ok(ColumnarValue::Scalar(ScalarValue::TimestampNanosecond(
            Some(nanos),
            None,
        )))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}
