use std::hash::{Hash, Hasher};

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_STRING;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use crate::args::{Args, array};

/// Masks every character but the first `keep_head` and the last `keep_tail` with `*`; values
/// too short to keep anything are masked whole.
fn mask_middle(s: &str, keep_head: usize, keep_tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= keep_head + keep_tail {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_head || i >= chars.len() - keep_tail {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// `13812345678` → `138****5678`; `+86 138 1234 5678` keeps its prefix and last four digits.
pub fn mask_phone(s: &str) -> String {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    if digits < 7 {
        return mask_middle(s, 0, 0);
    }
    // Keep the first 3 and last 4 digits, mask the digits between; other characters stay.
    let mut seen = 0;
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                let from_end = digits - seen;
                let keep_head = if digits >= 11 { digits - 8 } else { 3 };
                if seen <= keep_head || from_end < 4 {
                    c
                } else {
                    '*'
                }
            } else {
                c
            }
        })
        .collect()
}

/// `zhang.san@example.com` → `z*******@example.com`.
pub fn mask_email(s: &str) -> String {
    match s.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => {
            format!("{}@{domain}", mask_middle(local, 1, 0))
        }
        _ => mask_middle(s, 0, 0),
    }
}

/// Chinese resident ID `110101199003071234` → `110101********1234` (region kept, birth date
/// and sequence hidden); other IDs keep their first and last two characters.
pub fn mask_id(s: &str) -> String {
    let n = s.chars().count();
    if n >= 15 {
        mask_middle(s, 6, 4)
    } else {
        mask_middle(s, 2, 2)
    }
}

/// A one-string-in, one-string-out function.
#[derive(Debug)]
struct TextFunction {
    name: &'static str,
    f: fn(&str) -> String,
    signature: Signature,
    doc: Documentation,
}

impl PartialEq for TextFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for TextFunction {}
impl Hash for TextFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for TextFunction {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let args = Args::new(&args);
        let input = args.strings(0)?;
        args.finish(array(
            input.iter().map(|v| v.map(self.f)).collect::<StringArray>(),
        ))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

fn text_function(
    name: &'static str,
    f: fn(&str) -> String,
    description: &str,
    example: &str,
) -> ScalarUDF {
    ScalarUDF::from(TextFunction {
        name,
        f,
        signature: Signature::string(1, Volatility::Immutable),
        doc: Documentation::builder(DOC_SECTION_STRING, description, format!("{name}(text)"))
            .with_argument("text", "the value to mask; NULL stays NULL")
            .with_sql_example(example)
            .build(),
    })
}

/// `mask_phone`, `mask_email`, `mask_id`.
pub fn mask_functions() -> Vec<ScalarUDF> {
    vec![
        text_function(
            "mask_phone",
            mask_phone,
            "Masks a phone number, keeping the first three and last four digits \
             (13812345678 → 138****5678); separators and a country prefix stay.",
            "SELECT mask_phone('13812345678')  -- 138****5678",
        ),
        text_function(
            "mask_email",
            mask_email,
            "Masks the local part of an e-mail address after its first character, keeping the \
             domain (zhang.san@example.com → z********@example.com).",
            "SELECT mask_email('zhang.san@example.com')",
        ),
        text_function(
            "mask_id",
            mask_id,
            "Masks an ID number: an 18- or 15-character Chinese resident ID keeps its 6-digit \
             region code and last four characters (110101********1234); shorter IDs keep their \
             first and last two.",
            "SELECT mask_id('110101199003071234')  -- 110101********1234",
        ),
    ]
}
