//! Masking helpers for personal data (脱敏): phone numbers, e-mail addresses and ID numbers.
//! Masked values keep enough to recognise a record (prefix, last digits, domain) and nothing
//! more.

mod mask;

pub use mask::{mask_email, mask_functions, mask_id, mask_phone};

#[cfg(test)]
mod tests;
