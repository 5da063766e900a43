//! Bitmaps per snapshot (issue 17): `<entity>.bitmaps` holds a roaring bitmap of key ids per
//! segment and per value of every low-cardinality tag, written with the snapshot and shown only
//! with the snapshot record that names them.

use super::Sandbox;

/// 1,500 people: a city (12 values and NULL), a level (1–5 and NULL), a flag, a code per person,
/// an amount and a sensitive phone number; `seed` shifts the values between refreshes.
fn people_csv(seed: usize) -> String {
    let cities = [
        "上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "南京", "西安", "重庆", "苏州",
        "天津",
    ];
    let mut csv = String::from("pid,c_city,c_level,c_flag,c_code,c_amount,c_phone\n");
    for i in 0..1500 {
        let x = i * 7 + seed;
        let city = if x.is_multiple_of(13) {
            ""
        } else {
            cities[x % 12]
        };
        let level = if x.is_multiple_of(11) {
            String::new()
        } else {
            (x % 5 + 1).to_string()
        };
        let flag = if x.is_multiple_of(3) { "true" } else { "false" };
        let phone = if x.is_multiple_of(4) {
            "13800000000"
        } else {
            "13900000000"
        };
        csv.push_str(&format!(
            "P{i:04},{city},{level},{flag},code{i},{}.5,{phone}\n",
            x % 997
        ));
    }
    csv
}

fn setup(s: &Sandbox) {
    let csv = s.write("people.csv", &people_csv(0));
    s.ok(&[
        "run",
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE people (pid VARCHAR, c_city VARCHAR, c_level BIGINT, \
             c_flag BOOLEAN, c_code VARCHAR, c_amount DOUBLE, c_phone VARCHAR) STORED AS CSV \
             LOCATION '{}' OPTIONS ('format.has_header' 'true')",
            csv.display()
        ),
        "-c",
        "CREATE ENTITY person KEY pid FROM people",
        "-c",
        "CREATE TAG person.city AS c_city",
        "-c",
        "CREATE TAG person.level AS c_level",
        "-c",
        "CREATE TAG person.flag AS c_flag",
        "-c",
        "CREATE TAG person.code AS c_code",
        "-c",
        "CREATE TAG person.amount AS c_amount",
        "-c",
        "CREATE TAG person.phone SENSITIVE AS c_phone",
        "-c",
        "CREATE SEGMENT person.high AS level >= 3",
        "-c",
        "CREATE SEGMENT person.sh_high AS city = '上海' AND high",
        "-c",
        "CREATE SEGMENT person.p138 AS phone LIKE '138%'",
        "-c",
        "REFRESH ENTITY person AS OF TIMESTAMP '2026-07-01 00:00:00'",
    ]);
}

fn sql(s: &Sandbox, query: &str) -> Vec<String> {
    s.ok(&["run", "-c", query])
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_segment_and_low_cardinality_value_has_its_bitmap() {
    let s = Sandbox::new();
    setup(&s);
    for tag in ["city", "level", "flag"] {
        assert_eq!(
            sql(
                &s,
                &format!(
                    "SELECT kind, value, cardinality FROM person.bitmaps WHERE name = '{tag}' \
                 ORDER BY kind, value"
                )
            ),
            sql(
                &s,
                &format!(
                    "SELECT CASE WHEN {tag} IS NULL THEN 'null' ELSE 'value' END AS kind, \
                 CAST({tag} AS VARCHAR) AS value, count(*) FROM person.profile \
                 GROUP BY 1, 2 ORDER BY 1, 2"
                )
            ),
            "{tag}"
        );
    }
    // Many-valued (code), not exact as text (amount) or sensitive (phone, and p138 that reads
    // it): no bitmaps.
    assert_eq!(
        sql(
            &s,
            "SELECT DISTINCT kind, name FROM person.bitmaps WHERE kind IN ('all', 'segment') OR name NOT IN ('city', 'level', 'flag') ORDER BY 1, 2"
        ),
        ["all,", "segment,high", "segment,sh_high"]
    );
    assert_eq!(
        sql(
            &s,
            "SELECT cardinality FROM person.bitmaps WHERE kind = 'all'"
        ),
        ["1500"]
    );
    assert_eq!(
        sql(
            &s,
            "SELECT count(*) FROM person.bitmaps WHERE cardinality <> bitmap_count(bitmap)"
        ),
        ["0"]
    );
    // A segment's bitmap holds exactly its members' ids.
    for segment in ["high", "sh_high"] {
        let members = sql(&s, &format!("SELECT pid FROM person.{segment} ORDER BY 1"));
        assert!(members.len() > 10, "{segment}: {members:?}");
        assert_eq!(
            sql(
                &s,
                &format!(
                    "SELECT k.key FROM person.keys k, person.bitmaps b WHERE b.kind = 'segment' \
                 AND b.name = '{segment}' AND bitmap_contains(b.bitmap, k.key_id) ORDER BY 1"
                )
            ),
            members,
            "{segment}"
        );
    }
}

/// A refresh that dies after writing its bitmaps but before recording the snapshot leaves the
/// previous snapshot's bitmaps (and profile) in view.
#[test]
fn bitmaps_of_an_unrecorded_snapshot_are_never_read() {
    let s = Sandbox::new();
    setup(&s);
    let view = |s: &Sandbox| {
        (
            sql(
                s,
                "SELECT kind, name, value, cardinality FROM person.bitmaps ORDER BY 1, 2, 3",
            ),
            sql(s, "SELECT * FROM person.profile ORDER BY pid"),
        )
    };
    let before = view(&s);
    s.write("people.csv", &people_csv(3));
    let refresh = [
        "run",
        "-c",
        "REFRESH ENTITY person AS OF TIMESTAMP '2026-07-01 00:00:00'",
    ];
    for armed in ["refresh.after_bitmaps", "refresh.after_bitmaps=abort"] {
        let out = s
            .cmd(&refresh)
            .env(tagfusion::failpoint::VARIABLE, armed)
            .output()
            .expect("run tagfusion");
        assert!(!out.status.success(), "{armed}: the refresh went through");
        assert_eq!(view(&s), before, "{armed}");
    }
    s.ok(&refresh);
    let after = view(&s);
    assert_ne!(after.0, before.0);
    assert_ne!(after.1, before.1);
}
