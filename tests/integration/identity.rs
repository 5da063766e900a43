//! Identity resolution against an independent union-find: random graphs from three sources,
//! then more rows (merges only), and the retail demo's two identity sources with
//! `examples/identity.sql`. The statement-level cases (normalisation, merge, split, guards, bad
//! input, hashed matching) are in tests/slt/identity.slt.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Sandbox;

/// A plain union-find over string nodes.
#[derive(Default)]
struct UnionFind {
    parent: HashMap<String, String>,
}

impl UnionFind {
    fn find(&mut self, x: &str) -> String {
        let p = self
            .parent
            .entry(x.to_string())
            .or_insert_with(|| x.to_string())
            .clone();
        if p == x {
            return p;
        }
        let root = self.find(&p);
        self.parent.insert(x.to_string(), root.clone());
        root
    }
    fn union(&mut self, a: &str, b: &str) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent.insert(ra, rb);
        }
    }
    /// The groups, as sorted sets of nodes.
    fn groups(&mut self) -> BTreeSet<BTreeSet<String>> {
        let nodes: Vec<String> = self.parent.keys().cloned().collect();
        let mut by_root: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for n in nodes {
            let r = self.find(&n);
            by_root.entry(r).or_default().insert(n);
        }
        by_root.into_values().collect()
    }
}

/// Rows of one source: column names and values (None = NULL).
struct Source {
    columns: [&'static str; 2],
    rows: Vec<[Option<String>; 2]>,
}

impl Source {
    fn csv(&self) -> String {
        let mut out = format!("{},{}\n", self.columns[0], self.columns[1]);
        for r in &self.rows {
            out.push_str(&format!(
                "{},{}\n",
                r[0].as_deref().unwrap_or(""),
                r[1].as_deref().unwrap_or("")
            ));
        }
        out
    }
}

fn random_sources(rng: &mut ChaCha8Rng, rows: usize, pool: usize) -> Vec<Source> {
    let pick = |prefix: &str, rng: &mut ChaCha8Rng, null_share: f64| -> Option<String> {
        if rng.random_bool(null_share) {
            None
        } else {
            Some(format!("{prefix}{}", rng.random_range(0..pool)))
        }
    };
    let mut make = |columns: [&'static str; 2], prefixes: [&str; 2], n: usize| Source {
        columns,
        rows: (0..n)
            .map(|_| [pick(prefixes[0], rng, 0.1), pick(prefixes[1], rng, 0.2)])
            .collect(),
    };
    vec![
        make(["member_id", "phone"], ["M", "1390000"], rows),
        make(["device_id", "phone"], ["D", "1390000"], rows),
        make(["email", "member_id"], ["e", "M"], rows / 2),
    ]
}

/// Node name as the test sees it: `type:id` (e-mails get a domain so they are e-mails).
fn node(column: &str, value: &str) -> String {
    if column == "email" {
        format!("email:{value}@x.com")
    } else {
        format!("{column}:{value}")
    }
}

fn union_find(sources: &[Source]) -> UnionFind {
    let mut uf = UnionFind::default();
    for s in sources {
        for r in &s.rows {
            let nodes: Vec<String> = r
                .iter()
                .zip(s.columns)
                .filter_map(|(v, c)| v.as_deref().map(|v| node(c, v)))
                .collect();
            for n in &nodes {
                uf.find(n);
            }
            if let [a, b] = nodes.as_slice() {
                uf.union(a, b);
            }
        }
    }
    uf
}

/// Writes the sources as CSV files `src{i}/{part}.csv` (a second part adds rows).
fn write_sources(s: &Sandbox, sources: &[Source], part: &str) {
    for (i, src) in sources.iter().enumerate() {
        let dir = s.path(&format!("src{i}"));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut csv = src.csv();
        if src.columns[0] == "email" {
            // E-mails as people write them: mixed case, padded.
            csv = csv
                .lines()
                .enumerate()
                .map(|(n, l)| match l.split_once(',') {
                    Some((e, m)) if n > 0 && !e.is_empty() => {
                        format!(" {}@X.com ,{m}", e.to_uppercase())
                    }
                    _ => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n");
            csv.push('\n');
        }
        std::fs::write(dir.join(format!("{part}.csv")), csv).expect("write csv");
    }
}

const GRAPH: &str = "
CREATE EXTERNAL TABLE src0 (member_id VARCHAR, phone VARCHAR) STORED AS CSV LOCATION 'src0/' OPTIONS ('format.has_header' 'true');
CREATE EXTERNAL TABLE src1 (device_id VARCHAR, phone VARCHAR) STORED AS CSV LOCATION 'src1/' OPTIONS ('format.has_header' 'true');
CREATE EXTERNAL TABLE src2 (email VARCHAR, member_id VARCHAR) STORED AS CSV LOCATION 'src2/' OPTIONS ('format.has_header' 'true');
CREATE IDENTITY GRAPH person FROM (SELECT * FROM src0), (SELECT * FROM src1), (SELECT * FROM src2);
";

/// `type:id → one_id` as the engine resolved it (ids in the test's spelling).
fn mapping(s: &Sandbox) -> BTreeMap<String, i64> {
    let out = s.ok(&[
        "run",
        "-c",
        "SELECT id_type, id, one_id FROM identity.person ORDER BY 1, 2",
    ]);
    out.lines()
        .skip(1)
        .map(|l| {
            let parts: Vec<&str> = l.split(',').collect();
            let id = parts[1].strip_suffix("@x.com").unwrap_or(parts[1]);
            (node(parts[0], id), parts[2].parse().expect("one_id"))
        })
        .collect()
}

/// Asserts two partitions are equal, showing only the groups that differ.
fn assert_same_groups(
    ours: &BTreeSet<BTreeSet<String>>,
    theirs: &BTreeSet<BTreeSet<String>>,
    what: &str,
) {
    let only_ours: Vec<_> = ours.difference(theirs).take(5).collect();
    let only_theirs: Vec<_> = theirs.difference(ours).take(5).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{what}: groups only in the engine's result {only_ours:?}, only in union-find {only_theirs:?}"
    );
}

/// The groups of a mapping.
fn groups_of(map: &BTreeMap<String, i64>) -> BTreeSet<BTreeSet<String>> {
    let mut by: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for (n, id) in map {
        by.entry(*id).or_default().insert(n.clone());
    }
    by.into_values().collect()
}

#[test]
fn components_match_an_independent_union_find_and_ids_survive_merges() {
    for (seed, rows, pool) in [(7u64, 400, 300), (11, 600, 150)] {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let s = Sandbox::new();
        let mut sources = random_sources(&mut rng, rows, pool);
        write_sources(&s, &sources, "a");
        s.ok(&["run", "-c", GRAPH, "-c", "REFRESH IDENTITY GRAPH person"]);
        let first = mapping(&s);
        let mut uf = union_find(&sources);
        assert_eq!(
            groups_of(&first),
            uf.groups(),
            "seed {seed}: components differ"
        );
        // one_ids are 1..=groups, in order of each group's smallest identifier.
        let ids: BTreeSet<i64> = first.values().copied().collect();
        assert_eq!(ids, (1..=ids.len() as i64).collect(), "seed {seed}");

        // More rows: groups only merge or grow. Unchanged groups keep their id, a merged group
        // keeps the smallest of its groups' ids, new groups get ids after every earlier one.
        let more = random_sources(&mut rng, rows / 4, pool * 2);
        write_sources(&s, &more, "b");
        for (all, extra) in sources.iter_mut().zip(more) {
            all.rows.extend(extra.rows);
        }
        s.ok(&["run", "-c", "REFRESH IDENTITY GRAPH person"]);
        let second = mapping(&s);
        let mut uf = union_find(&sources);
        let groups = uf.groups();
        assert_eq!(
            groups_of(&second),
            groups,
            "seed {seed}: components after more rows"
        );
        let max_first = first.values().copied().max().unwrap_or(0);
        let mut merges = 0;
        let mut next_new = Vec::new();
        for group in &groups {
            let old: BTreeSet<i64> = group.iter().filter_map(|n| first.get(n).copied()).collect();
            let id = second[group.iter().next().expect("non-empty")];
            match old.iter().next() {
                Some(oldest) => assert_eq!(id, *oldest, "seed {seed}: {group:?} from {old:?}"),
                None => {
                    assert!(id > max_first, "seed {seed}: new group reused id {id}");
                    next_new.push(id);
                }
            }
            merges += old.len().saturating_sub(1);
        }
        let changes = s.ok(&[
            "run",
            "-c",
            "SELECT count(*) FILTER (WHERE event = 'merged') AS merged, \
                    count(*) FILTER (WHERE event = 'split') AS split FROM identity.person_changes",
        ]);
        assert_eq!(
            changes.lines().nth(1),
            Some(format!("{merges},0").as_str()),
            "seed {seed}"
        );
        assert!(
            merges > 0,
            "seed {seed}: the extra rows should merge some groups"
        );
    }
}

/// The phone as `normalize_id('phone', …)` writes it (what the demo generates).
fn normal_phone(p: &str) -> String {
    let digits: String = p.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 13 && digits.starts_with("861") {
        digits[2..].to_string()
    } else {
        digits
    }
}

#[test]
fn demo_identities_resolve_like_union_find_and_profile_unified_people() {
    let s = Sandbox::new();
    s.ok(&["demo", "--customers", "300"]);
    let rows = |sql: &str| -> Vec<Vec<String>> {
        s.ok(&["run", "-c", sql])
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let members = rows("SELECT customer_id, phone FROM customers");
    let logins = rows("SELECT device_id, phone FROM app_logins");
    assert!(
        logins.iter().any(|r| r[1].starts_with("+86 ")),
        "phones written several ways"
    );
    assert!(
        logins.iter().any(|r| r[0].starts_with("fam-")),
        "shared family devices"
    );

    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/identity.sql");
    let shown = s.ok(&["run", example.to_str().unwrap_or_default()]);
    assert!(
        shown.contains("rejected because,blocked value (1)"),
        "{shown}"
    );

    // What the guards refused: the blocked test phone, and where a family tablet joined more
    // than MAX GROUP SIZE identifiers or MAX PER GROUP member accounts, the group's device
    // links (the lowest PRIORITY type).
    let rejected: BTreeSet<String> = rows("SELECT id_type, id FROM identity.person_rejected")
        .into_iter()
        .map(|r| format!("{}:{}", r[0], r[1]))
        .collect();
    assert!(rejected.contains("phone:13800000000"), "{rejected:?}");
    assert!(
        rejected
            .iter()
            .all(|n| n == "phone:13800000000" || n.starts_with("device_id:")),
        "{rejected:?}"
    );
    // The same links by union-find, without the refused identifiers.
    let mut uf = UnionFind::default();
    for (rows, id_type) in [(&members, "member_id"), (&logins, "device_id")] {
        for r in rows.iter() {
            let a = format!("{id_type}:{}", r[0]);
            if rejected.contains(&a) {
                continue;
            }
            uf.find(&a);
            let phone = format!("phone:{}", normal_phone(&r[1]));
            if phone != "phone:" && !rejected.contains(&phone) {
                uf.union(&a, &phone);
            }
        }
    }
    let resolved: BTreeMap<String, i64> = rows("SELECT id_type, id, one_id FROM identity.person")
        .into_iter()
        .map(|r| (format!("{}:{}", r[0], r[1]), r[2].parse().expect("one_id")))
        .collect();
    assert_same_groups(&groups_of(&resolved), &uf.groups(), "demo");

    // Unified people: one profile row per group; every member account counted once.
    let people = rows(
        "SELECT count(*), sum(member_accounts), count(*) FILTER (WHERE household) FROM person.profile",
    );
    let groups = uf.groups();
    let households = groups
        .iter()
        .filter(|g| g.iter().filter(|n| n.starts_with("member_id:")).count() >= 2)
        .count();
    assert_eq!(
        people,
        [[
            groups.len().to_string(),
            "300".to_string(),
            households.to_string()
        ]]
    );
    assert!(households > 0, "family tablets join some members");

    let show = s.ok(&["run", "-c", "SHOW IDENTITY GRAPHS"]);
    assert!(
        show.starts_with("graph,sources,version,last_refresh,identifiers,groups,description"),
        "{show}"
    );
    assert!(
        show.contains(&format!(",{},{},统一ID", resolved.len(), groups.len())),
        "{show}"
    );
}
