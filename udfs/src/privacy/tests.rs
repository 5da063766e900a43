use super::{mask_email, mask_id, mask_phone};
use crate::{register_all, with_config};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::prelude::{SessionConfig, SessionContext};

#[test]
fn phones() {
    assert_eq!(mask_phone("13812345678"), "138****5678");
    assert_eq!(mask_phone("+86 138 1234 5678"), "+86 138 **** 5678");
    assert_eq!(mask_phone("021-6234-5678"), "021-****-5678");
    assert_eq!(mask_phone("62345678"), "623*5678");
    assert_eq!(mask_phone("12345"), "*****");
}

#[test]
fn emails_and_ids() {
    assert_eq!(mask_email("zhang.san@example.com"), "z********@example.com");
    assert_eq!(mask_email("a@b.cn"), "*@b.cn");
    assert_eq!(mask_email("not-an-email"), "************");
    assert_eq!(mask_id("110101199003071234"), "110101********1234");
    assert_eq!(mask_id("11010119900307X"), "110101*****307X");
    assert_eq!(mask_id("E1234567"), "E1****67");
}

#[tokio::test]
async fn masking_in_sql_keeps_nulls() {
    let mut ctx = SessionContext::new_with_config(with_config(SessionConfig::new()));
    register_all(&mut ctx).unwrap();
    let b = ctx
        .sql("SELECT mask_phone(p), mask_email(e) FROM (VALUES ('13812345678', 'li@x.cn'), (NULL, NULL)) AS t(p, e)")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let phones = b[0].column(0).as_string::<i32>();
    assert_eq!(phones.value(0), "138****5678");
    assert!(phones.is_null(1));
    assert_eq!(b[0].column(1).as_string::<i32>().value(0), "l*@x.cn");
}
