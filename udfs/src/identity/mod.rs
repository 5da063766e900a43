//! Identifiers before they are linked (ID-Mapping): `normalize_id(id_type, value)` puts the
//! same phone, e-mail or device written different ways into one form. Identity graphs apply it
//! to every identifier; hashed-ID matching applies it before hashing.

use std::hash::{Hash, Hasher};

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_STRING;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use crate::args::{Args, array};

/// Placeholder text that means "no value" in exported data.
const MISSING: [&str; 6] = ["null", "none", "nil", "n/a", "undefined", "-"];

/// What an identifier type's name says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Email,
    Phone,
    Other,
}

/// The kind of an identifier type, from the words of its name (split at anything but letters
/// and digits, trailing digits ignored: `phone2` is a phone): a word `email` or `mail` makes an
/// e-mail; a word `phone`, `telephone`, `cellphone`, `mobilephone` or `msisdn`, or a name that
/// is `mobile` or `tel` (optionally followed by `no`, `num` or `number`) makes a phone.
/// `mobile_device_id`, `hotel_card_no` or `telegram_id` are neither.
pub fn id_kind(id_type: &str) -> IdKind {
    let lower = id_type.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(|w| w.trim_end_matches(|c: char| c.is_ascii_digit()))
        .filter(|w| !w.is_empty())
        .collect();
    if words.iter().any(|w| matches!(*w, "email" | "mail")) {
        return IdKind::Email;
    }
    let phone_word = words.iter().any(|w| {
        matches!(
            *w,
            "phone" | "telephone" | "cellphone" | "mobilephone" | "msisdn"
        )
    });
    let mobile_no = matches!(words.first(), Some(&"mobile" | &"tel"))
        && words[1..]
            .iter()
            .all(|w| matches!(*w, "no" | "num" | "number"));
    if phone_word || mobile_no {
        IdKind::Phone
    } else {
        IdKind::Other
    }
}

/// The normal form of an identifier of type `id_type`, or `None` when there is none:
/// - every type: surrounding whitespace trimmed; empty and placeholder values (`null`, `none`,
///   `nil`, `n/a`, `undefined`, `-`) are missing;
/// - e-mail types ([`id_kind`]): lower case;
/// - phone types: digits only (a leading `+` kept), and a Chinese mobile number loses its
///   country code (`+86 138-1234-5678`, `0086 13812345678` and `8613812345678` are all
///   `13812345678`);
/// - any other type (device ids, member numbers): as is after trimming.
pub fn normalize_id(id_type: &str, value: &str) -> Option<String> {
    normalize_as(id_kind(id_type), value)
}

/// [`normalize_id`] for a type whose kind is known.
pub fn normalize_as(kind: IdKind, value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() || MISSING.iter().any(|m| v.eq_ignore_ascii_case(m)) {
        return None;
    }
    match kind {
        IdKind::Email => Some(v.to_lowercase()),
        IdKind::Other => Some(v.to_string()),
        IdKind::Phone => {
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            if digits.is_empty() {
                return None;
            }
            // A Chinese mobile number loses its country code; another country's keeps its `+`.
            let national = match digits.len() {
                13 if digits.starts_with("861") => Some(&digits[2..]),
                15 if digits.starts_with("00861") => Some(&digits[4..]),
                _ => None,
            };
            if let Some(n) = national {
                return Some(n.to_string());
            }
            Some(if v.starts_with('+') {
                format!("+{digits}")
            } else {
                digits
            })
        }
    }
}

/// `normalize_id(id_type, value)`.
#[derive(Debug)]
pub struct NormalizeId {
    signature: Signature,
    doc: Documentation,
}

impl NormalizeId {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
            doc: Documentation::builder(
                DOC_SECTION_STRING,
                "The normal form of an identifier, as identity graphs link it: trimmed, \
                 placeholders (null, none, n/a, …) and empty values NULL; e-mail types lower \
                 case; phone types digits only without the Chinese country code \
                 (+86 138-1234-5678 → 13812345678); other types as they are.",
                "normalize_id(id_type, value)",
            )
            .with_argument(
                "id_type",
                "the identifier type, e.g. 'phone', 'email', 'device_id'",
            )
            .with_argument("value", "the identifier; numbers are read as text")
            .with_sql_example(
                "SELECT encode(sha256(normalize_id('phone', '+86 138 1234 5678')), 'hex')",
            )
            .build(),
        }
    }
}

impl Default for NormalizeId {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for NormalizeId {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for NormalizeId {}
impl Hash for NormalizeId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        "normalize_id".hash(state);
    }
}

impl ScalarUDFImpl for NormalizeId {
    fn name(&self) -> &str {
        "normalize_id"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let args = Args::new(&args);
        let types = args.strings(0)?;
        let values = args.strings(1)?;
        // The type is nearly always a constant: classify it once.
        let constant = args_types_constant(&types).map(|t| id_kind(&t));
        let out: StringArray = types
            .iter()
            .zip(values.iter())
            .map(|(t, v)| match (t, v, constant) {
                (Some(_), Some(v), Some(kind)) => normalize_as(kind, v),
                (Some(t), Some(v), None) => normalize_id(t, v),
                _ => None,
            })
            .collect();
        args.finish(array(out))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

/// The one type of a column of types, when every row has the same.
fn args_types_constant(types: &StringArray) -> Option<String> {
    let first = types.iter().flatten().next()?;
    types
        .iter()
        .all(|t| t.is_none_or(|t| t == first))
        .then(|| first.to_string())
}

#[cfg(test)]
mod tests {
    use super::{IdKind, id_kind, normalize_id};

    #[test]
    fn kinds_come_from_whole_words() {
        for t in [
            "phone",
            "phone2",
            "contact_phone",
            "mobile",
            "mobile_no",
            "Tel",
            "msisdn",
        ] {
            assert_eq!(id_kind(t), IdKind::Phone, "{t}");
        }
        for t in ["email", "user_email", "mail", "email2"] {
            assert_eq!(id_kind(t), IdKind::Email, "{t}");
        }
        for t in [
            "mobile_device_id",
            "hotel_card_no",
            "telegram_id",
            "device_id",
            "gmail_uid",
        ] {
            assert_eq!(id_kind(t), IdKind::Other, "{t}");
        }
    }

    #[test]
    fn the_documented_rules() {
        for phone in [
            "+86 138-1234-5678",
            "0086 13812345678",
            "8613812345678",
            " 138 1234 5678 ",
        ] {
            assert_eq!(
                normalize_id("phone", phone).as_deref(),
                Some("13812345678"),
                "{phone}"
            );
        }
        assert_eq!(
            normalize_id("mobile", "+1 (415) 555-0100").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(
            normalize_id("email", " Zhang.San@Example.COM ").as_deref(),
            Some("zhang.san@example.com")
        );
        assert_eq!(
            normalize_id("device_id", " AbC-1 ").as_deref(),
            Some("AbC-1")
        );
        for missing in ["", "  ", "NULL", "n/a", "-", "undefined"] {
            assert_eq!(normalize_id("device_id", missing), None, "{missing:?}");
        }
        assert_eq!(normalize_id("phone", "unknown"), None);
    }
}
