use std::sync::LazyLock;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{Args, array};

/// The eight RFM classes: (R high, F high, M high) → Chinese name, English name.
pub const RFM_CLASSES: [((bool, bool, bool), &str, &str); 8] = [
    ((true, true, true), "重要价值客户", "important value"),
    ((true, false, true), "重要发展客户", "important development"),
    ((false, true, true), "重要保持客户", "important retention"),
    ((false, false, true), "重要挽留客户", "important win-back"),
    ((true, true, false), "一般价值客户", "general value"),
    ((true, false, false), "一般发展客户", "general development"),
    ((false, true, false), "一般保持客户", "general retention"),
    ((false, false, false), "一般挽留客户", "general win-back"),
];

/// The class of an (R high, F high, M high) triple, in Chinese or English.
pub fn rfm_class_name(r: bool, f: bool, m: bool, english: bool) -> &'static str {
    let (_, zh, en) = RFM_CLASSES
        .iter()
        .find(|(k, _, _)| *k == (r, f, m))
        .copied()
        .unwrap_or(RFM_CLASSES[7]);
    if english { en } else { zh }
}

/// `rfm_class(r_high, f_high, m_high [, 'zh' | 'en'])`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RfmClass {
    signature: Signature,
}

impl RfmClass {
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for RfmClass {
    fn default() -> Self {
        Self::new()
    }
}

static RFM_CLASS_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "The standard RFM class (8 classes) from whether a customer is above the threshold on \
         recency (R high = bought recently), frequency and monetary value: 重要价值/重要发展/\
         重要保持/重要挽留/一般价值/一般发展/一般保持/一般挽留客户, or in English with 'en' \
         (important/general value, development, retention, win-back). Thresholds are the \
         caller's: compare with the population mean (avg(x) OVER ()), median or a quantile.",
        "rfm_class(r_high, f_high, m_high [, language])",
    )
    .with_argument(
        "r_high",
        "true when the customer bought recently (recency at or below the threshold)",
    )
    .with_argument("f_high", "true when frequency is at or above the threshold")
    .with_argument(
        "m_high",
        "true when monetary value is at or above the threshold",
    )
    .with_argument("language", "'zh' (default) or 'en'")
    .with_sql_example(
        "CREATE TAG customer.rfm_class KIND model AS rfm_class(\n\
         recency_days <= median(recency_days) OVER (), orders_365d >= avg(orders_365d) OVER (),\n\
         spend_365d >= avg(spend_365d) OVER ())",
    )
    .build()
});

impl ScalarUDFImpl for RfmClass {
    fn name(&self) -> &str {
        "rfm_class"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !(args.len() == 3 || args.len() == 4) {
            return plan_err!(
                "rfm_class expects (r_high, f_high, m_high [, language]), got {} arguments",
                args.len()
            );
        }
        if !args[..3]
            .iter()
            .all(|t| matches!(t, DataType::Boolean | DataType::Null))
        {
            return plan_err!(
                "rfm_class expects three booleans, e.g. recency_days <= avg(recency_days) OVER (), got {args:?}"
            );
        }
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let call = Args::new(&args);
        let rows = call.rows;
        let (r, f, m) = (call.booleans(0)?, call.booleans(1)?, call.booleans(2)?);
        let english = match args.args.get(3) {
            None => false,
            Some(ColumnarValue::Scalar(s)) => match s.to_string().to_lowercase().as_str() {
                "en" => true,
                "zh" | "null" => false,
                other => {
                    return exec_err!("rfm_class language must be 'zh' or 'en', got '{other}'");
                }
            },
            Some(_) => return exec_err!("rfm_class language must be a constant, 'zh' or 'en'"),
        };
        let out: StringArray = (0..rows)
            .map(|i| {
                if r.is_null(i) || f.is_null(i) || m.is_null(i) {
                    None
                } else {
                    Some(rfm_class_name(r.value(i), f.value(i), m.value(i), english))
                }
            })
            .collect();
        call.finish(array(out))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&RFM_CLASS_DOC)
    }
}
