//! Population models against a reference implementation: `kmeans()` clusters the fixture
//! `tests/data/kmeans_points.csv` (four blobs, features on different scales) exactly as
//! scikit-learn's KMeans does on the same standardised features.

use std::process::Command;

use super::{Sandbox, data_dir, python};

const SKLEARN_PY: &str = r#"
import csv, os, sys
import numpy as np
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
rows = list(csv.DictReader(open(sys.argv[1])))
X = np.array([[float(r["a"]), float(r["b"]), float(r["c"])] for r in rows])
ref = KMeans(n_clusters=4, n_init=10, random_state=0).fit(StandardScaler().fit_transform(X)).labels_
ours = [int(v) for v in sys.argv[2].split(",")]
# The same partition up to renaming: a bijection between the two labelings.
pairs = set(zip(ref.tolist(), ours))
print(len(rows), len(pairs), len(set(ours)), len(set(ref.tolist())))
sys.stdout.flush()
os._exit(0)
"#;

#[test]
fn kmeans_matches_scikit_learn_and_is_deterministic() {
    let s = Sandbox::new();
    let csv = data_dir().join("kmeans_points.csv");
    let table = format!(
        "CREATE EXTERNAL TABLE points STORED AS CSV LOCATION '{}' OPTIONS ('format.has_header' 'true')",
        csv.display()
    );
    let query = "SELECT kmeans(4, a, b, c) OVER () AS cluster FROM points ORDER BY id";
    let out = s.ok(&["run", "-c", &table, "-c", query]);
    let ours: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(ours.len(), 160, "{out}");
    // The same ids in a second process.
    assert_eq!(s.ok(&["run", "-c", query]), out);

    let py = Command::new(python())
        .args(["-c", SKLEARN_PY, csv.to_str().unwrap(), &ours.join(",")])
        .output()
        .expect("run python");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&py.stdout).trim(), "160 4 4 4");
}
