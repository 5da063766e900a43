mod bitmaps;
mod cli;
mod demo;
mod identity;
mod keys;
mod models;
mod refresh;
mod repl;
mod report;
mod s3;
mod server;
mod warehouse;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary directory with a warehouse inside (or one on S3), and helpers to run the binary
/// against it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    /// `--warehouse`: the local `wh` directory unless on S3.
    pub location: String,
    /// Environment of every command (the AWS variables on S3).
    pub env: Vec<(&'static str, String)>,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let location = dir.path().join("wh").display().to_string();
        Self {
            dir,
            location,
            env: Vec::new(),
        }
    }

    /// A sandbox whose warehouse is `s3://bucket/prefix` on `server`.
    pub fn on_s3(server: &crate::s3_support::S3Server, bucket: &str, prefix: &str) -> Self {
        Self {
            location: format!("s3://{bucket}/{prefix}"),
            env: crate::s3_support::aws_env(&server.endpoint()),
            ..Self::new()
        }
    }

    pub fn warehouse(&self) -> PathBuf {
        self.dir.path().join("wh")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write file");
        p
    }

    /// `tagfusion --warehouse <wh> ARGS…` with the fixture directory as `$DATA`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tagfusion"));
        c.arg("--warehouse")
            .arg(&self.location)
            .args(args)
            .current_dir(self.dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c.env_remove("TAGFUSION_WAREHOUSE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tagfusion")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tagfusion {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Defines the fixture tables, entity and tags, then refreshes as of each time given.
    pub fn fixture(&self, as_of: &[&str]) {
        let setup = self.write("setup.sql", &format!("{}\n{}", setup_sql(), tags_sql()));
        let refreshes: Vec<String> = as_of
            .iter()
            .map(|t| format!("REFRESH ENTITY customer AS OF TIMESTAMP '{t}'"))
            .collect();
        let mut args = vec!["run", setup.to_str().unwrap_or_default()];
        for r in &refreshes {
            args.extend(["-c", r.as_str()]);
        }
        self.ok(&args);
    }

    /// One more refresh of the fixture entity.
    pub fn fixture_refresh(&self, as_of: &str) {
        self.ok(&[
            "run",
            "-c",
            &format!("REFRESH ENTITY customer AS OF TIMESTAMP '{as_of}'"),
        ]);
    }

    /// Runs with `stdin` as standard input.
    pub fn with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tagfusion");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait")
    }
}

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The fixture tables of tests/data, as SQL.
pub fn setup_sql() -> String {
    std::fs::read_to_string(data_dir().join("setup.sql"))
        .expect("setup.sql")
        .replace("$DATA", &data_dir().display().to_string())
}

/// The fixture entity with a few tags of every kind.
pub fn tags_sql() -> &'static str {
    "CREATE ENTITY customer KEY customer_id FROM customers;
     CREATE TAG customer.gender CATEGORY '基础属性/人口' AS CASE sex WHEN 'F' THEN '女' ELSE '男' END;
     CREATE TAG customer.orders_30d CATEGORY '行为/购买' DEFAULT 0
       AS (SELECT customer_id, count(*) FROM orders WHERE ts > as_of() - INTERVAL '30 days' AND ts <= as_of() GROUP BY customer_id);
     CREATE TAG customer.spend_30d CATEGORY '行为/购买'
       AS (SELECT customer_id, sum(amount) FROM orders WHERE ts > as_of() - INTERVAL '30 days' AND ts <= as_of() GROUP BY customer_id);
     CREATE TAG customer.important CATEGORY '价值' AS orders_30d >= 2 OR spend_30d >= 75;
     CREATE TAG customer.spend_rank KIND model AS rank() OVER (ORDER BY spend_30d DESC NULLS LAST);"
}

/// Python with the `deltalake` package: `TAGFUSION_PYTHON`, else `.venv/bin/python` in the
/// checkout (the test command creates it). Missing is a failure, not a skip.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TAGFUSION_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with deltalake: run `bash scripts/test.sh` (it creates .venv) or set TAGFUSION_PYTHON"
    );
    venv
}
