//! The key dictionary (issue 17): every key an entity ever had gets a dense id once, kept
//! across snapshots, visible with the snapshot that introduced it.

use super::Sandbox;
use super::warehouse::read_with_python;

/// `(key, key_id)` lines of `<entity>.keys`, by id.
fn ids(s: &Sandbox, entity: &str) -> Vec<String> {
    s.ok(&[
        "run",
        "-c",
        &format!("SELECT key, key_id FROM {entity}.keys ORDER BY key_id"),
    ])
    .lines()
    .skip(1)
    .map(str::to_string)
    .collect()
}

/// A person entity over `people.csv`, refreshed after each rewrite of the file.
fn people(s: &Sandbox, key_type: &str, rounds: &[&[&str]]) -> Vec<Vec<String>> {
    let csv = s.path("people.csv");
    std::fs::write(&csv, "id,name\n").expect("write csv");
    s.ok(&[
        "run",
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE people (id {key_type}, name VARCHAR) STORED AS CSV \
             LOCATION '{}' OPTIONS ('format.has_header' 'true')",
            csv.display()
        ),
        "-c",
        "CREATE ENTITY person KEY id FROM people",
        "-c",
        "CREATE TAG person.name_length AS length(name)",
    ]);
    let mut seen = Vec::new();
    for (day, keys) in rounds.iter().enumerate() {
        let rows: String = keys.iter().map(|k| format!("{k},n{k}\n")).collect();
        std::fs::write(&csv, format!("id,name\n{rows}")).expect("write csv");
        s.ok(&[
            "run",
            "-c",
            &format!(
                "REFRESH ENTITY person AS OF TIMESTAMP '2026-07-0{} 00:00:00'",
                day + 1
            ),
        ]);
        seen.push(ids(s, "person"));
    }
    seen
}

#[test]
fn keys_get_ids_once_in_key_order_and_keep_them() {
    for key_type in ["VARCHAR", "BIGINT"] {
        let s = Sandbox::new();
        let seen = people(
            &s,
            key_type,
            &[&["3", "1", "2"], &["1", "3", "4"], &["2", "4"]],
        );
        assert_eq!(seen[0], ["1,0", "2,1", "3,2"], "{key_type}");
        // 2 left, 4 came: 4 gets the next id, 2 keeps its id in the dictionary.
        assert_eq!(seen[1], ["1,0", "2,1", "3,2", "4,3"], "{key_type}");
        // 2 came back: the same id, nothing new allocated.
        assert_eq!(seen[2], seen[1], "{key_type}");
        // Each snapshot row carries its key's id.
        let rows = s.ok(&[
            "run",
            "-c",
            "SELECT CAST(snapshot_at AS DATE), id, \"tagfusion:key_id\" FROM person.profile_history \
             ORDER BY 1, 2",
        ]);
        let rows: Vec<&str> = rows.lines().skip(1).collect();
        assert_eq!(
            rows,
            [
                "2026-07-01,1,0",
                "2026-07-01,2,1",
                "2026-07-01,3,2",
                "2026-07-02,1,0",
                "2026-07-02,3,2",
                "2026-07-02,4,3",
                "2026-07-03,2,1",
                "2026-07-03,4,3",
            ],
            "{key_type}"
        );
        // The profile itself shows tags only.
        let profile = s.ok(&["run", "-c", "SELECT * FROM person.profile ORDER BY id"]);
        assert_eq!(profile.lines().next(), Some("id,name_length"), "{key_type}");
    }
}

/// Keys allocated by a refresh that then failed are reserved, not shown: `<entity>.keys` is the
/// version the latest snapshot names; the next refresh shows them with the ids they got.
#[test]
fn keys_of_a_failed_refresh_stay_out_of_view_and_keep_their_ids() {
    let s = Sandbox::new();
    people(&s, "VARCHAR", &[&["a", "b"]]);
    std::fs::write(s.path("people.csv"), "id,name\na,x\nb,y\nc,z\n").expect("write csv");
    let refresh = [
        "run",
        "-c",
        "REFRESH ENTITY person AS OF TIMESTAMP '2026-07-05 00:00:00'",
    ];
    let out = s
        .cmd(&refresh)
        .env(tagfusion::failpoint::VARIABLE, "refresh.after_keys")
        .output()
        .expect("run tagfusion");
    assert!(!out.status.success(), "the refresh went through");
    assert_eq!(ids(&s, "person"), ["a,0", "b,1"]);
    s.ok(&refresh);
    assert_eq!(ids(&s, "person"), ["a,0", "b,1", "c,2"]);
    // Another Delta reader sees the dictionary and the ids in the snapshot.
    let keys = read_with_python(&s, "person/keys", &["key", "key_id"], "key_id");
    let keys: Vec<String> = keys
        .iter()
        .map(|r| format!("{}={}", r["key"], r["key_id"]))
        .collect();
    assert_eq!(keys, [r#""a"=0"#, r#""b"=1"#, r#""c"=2"#]);
    let rows = read_with_python(
        &s,
        "person/profile_history",
        &["id", "tagfusion:key_id"],
        "tagfusion:key_id,id",
    );
    assert!(
        rows.iter()
            .any(|r| r["id"] == "c" && r["tagfusion:key_id"] == 2),
        "{rows:?}"
    );
}

/// Two processes allocating ids for one entity at the same moment: one commits, the other
/// fails with "another process committed … first", and no id is given to two keys.
#[test]
fn allocations_at_the_same_moment_conflict_instead_of_sharing_ids() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let s = Sandbox::new();
    people(&s, "VARCHAR", &[&["a"]]);
    std::fs::write(s.path("people.csv"), "id,name\na,x\nb,y\nc,z\n").expect("write csv");
    // The first process reads the dictionary, then waits before its commit…
    let mut first = s
        .cmd(&[
            "run",
            "-c",
            "REFRESH ENTITY person AS OF TIMESTAMP '2026-07-06 00:00:00'",
        ])
        .env(
            tagfusion::failpoint::VARIABLE,
            "keys.before_commit=sleep:4000ms",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tagfusion");
    let mut stderr = BufReader::new(first.stderr.take().expect("stderr"));
    let mut line = String::new();
    while stderr.read_line(&mut line).expect("read stderr") > 0 && !line.contains("failpoint") {
        line.clear();
    }
    assert!(
        line.contains("keys.before_commit"),
        "the first process did not get there: {line}"
    );
    // …while a second one allocates the same keys.
    let second = s.run(&[
        "run",
        "-c",
        "REFRESH ENTITY person AS OF TIMESTAMP '2026-07-07 00:00:00'",
    ]);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("read stderr");
    let first = first.wait().expect("wait");
    let outcomes = [
        (first.success(), rest),
        (
            second.status.success(),
            String::from_utf8_lossy(&second.stderr).to_string(),
        ),
    ];
    let failed: Vec<&String> = outcomes
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, e)| e)
        .collect();
    assert_eq!(failed.len(), 1, "{outcomes:?}");
    assert!(
        failed[0].contains("another process committed"),
        "{}",
        failed[0]
    );
    let dictionary = s.ok(&[
        "run",
        "-c",
        "SELECT count(*) AS keys, count(DISTINCT key_id) AS ids, max(key_id) AS top \
         FROM person.keys",
    ]);
    assert_eq!(dictionary.lines().nth(1), Some("3,3,2"), "{dictionary}");
}
