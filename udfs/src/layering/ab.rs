use std::sync::LazyLock;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_OTHER;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{Args, array};

/// 64-bit FNV-1a followed by the SplitMix64 finaliser: stable across versions, platforms and
/// processes (unlike the standard library's hasher), and well mixed in its low bits.
fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The group, `0..groups`, of `key` for the experiment named `salt`.
pub fn ab_bucket(key: &str, salt: &str, groups: u64) -> u64 {
    let mut bytes = Vec::with_capacity(key.len() + salt.len() + 1);
    bytes.extend_from_slice(salt.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(key.as_bytes());
    stable_hash(&bytes) % groups
}

/// `ab_group(key, salt, groups)`: a deterministic group in `0..groups`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AbGroup {
    signature: Signature,
}

impl AbGroup {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

impl Default for AbGroup {
    fn default() -> Self {
        Self::new()
    }
}

static AB_GROUP_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_OTHER,
        "Deterministic random assignment for A/B tests and holdouts: the group (0 … groups-1) of \
         a key for an experiment. The same key and salt always give the same group, in every \
         process and version; different salts give independent splits.",
        "ab_group(key, salt, groups)",
    )
    .with_argument("key", "the entity key (any type; compared as text)")
    .with_argument("salt", "the experiment's name, e.g. 'spring_campaign'")
    .with_argument("groups", "how many groups, at least 1")
    .with_sql_example(
        "CREATE SEGMENT customer.holdout AS ab_group(customer_id, 'spring_campaign', 100) < 5  -- 5%",
    )
    .build()
});

impl ScalarUDFImpl for AbGroup {
    fn name(&self) -> &str {
        "ab_group"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !(args[2].is_integer() || args[2].is_null()) {
            return plan_err!(
                "ab_group expects an integer number of groups, got {}",
                args[2]
            );
        }
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let args = Args::new(&args);
        let rows = args.rows;
        let (keys, salts, groups) = (args.strings(0)?, args.strings(1)?, args.ints(2)?);
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            if keys.is_null(i) || salts.is_null(i) || groups.is_null(i) {
                out.push(None);
                continue;
            }
            let n = groups.value(i);
            if n < 1 {
                return exec_err!("ab_group needs at least 1 group, got {n}");
            }
            out.push(Some(
                ab_bucket(keys.value(i), salts.value(i), n as u64) as i64
            ));
        }
        args.finish(array(Int64Array::from(out)))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&AB_GROUP_DOC)
    }
}
