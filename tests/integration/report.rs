//! `tagfusion report segment`: one self-contained HTML file, opened in a real headless browser
//! (Debian's chromium) to check that its charts rendered.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Sandbox;

/// Chromium: `TAGFUSION_CHROMIUM` (the test command installs and exports it), else on PATH.
fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("TAGFUSION_CHROMIUM")
        && !p.is_empty()
    {
        return PathBuf::from(p);
    }
    let found = Command::new("sh")
        .args(["-c", "command -v chromium"])
        .output()
        .expect("sh");
    let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "no chromium: run `bash scripts/test.sh` (it installs Debian's chromium) or set TAGFUSION_CHROMIUM"
    );
    PathBuf::from(path)
}

/// Loads `file` in headless chromium, runs its scripts, and returns the resulting DOM. The
/// browser may not reach any network: a page that needed one would fail to render.
fn rendered_dom(file: &Path, extra: &[&str]) -> String {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--no-first-run",
            "--proxy-server=127.0.0.1:9",
        ])
        .arg(format!(
            "--user-data-dir={}",
            file.with_extension("profile").display()
        ))
        .args(extra)
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn attribute(dom: &str, name: &str) -> String {
    let key = format!("{name}=\"");
    let start = dom
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in the DOM"))
        + key.len();
    dom[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn segment_report_is_self_contained_and_renders_in_a_real_browser() {
    let s = Sandbox::new();
    s.fixture(&["2026-06-20 00:00:00", "2026-07-01 00:00:00"]);
    s.ok(&[
        "run",
        "-c",
        "CREATE SEGMENT customer.active DESCRIPTION '近30天有下单' AS orders_30d > 0",
    ]);
    s.fixture_refresh("2026-07-01 00:00:00");
    let html = s.path("active.html");
    let out = s.run(&[
        "report",
        "segment",
        "customer.active",
        "-o",
        html.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&html).expect("report written");

    // Self-contained: nothing is loaded from elsewhere.
    for needle in [
        "src=",
        "href=",
        "url(",
        "@import",
        "<link",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!text.contains(needle), "the report references {needle}");
    }
    assert!(text.contains("近30天有下单"));

    // Every bar of the profile and every snapshot point is drawn by the browser.
    let dom = rendered_dom(&html, &["--dump-dom"]);
    assert_eq!(
        attribute(&dom, "data-rendered"),
        "true",
        "scripts did not run"
    );
    let rows = s.ok(&[
        "run",
        "-c",
        "SELECT count(*) FILTER (WHERE segment_stat IS NULL AND population_stat IS NULL) AS bars, \
                count(DISTINCT tag) AS tags FROM segment_profile('customer.active')",
    ]);
    let counts: Vec<usize> = rows
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(counts[0] > 0);
    assert_eq!(attribute(&dom, "data-bars"), (2 * counts[0]).to_string());
    assert_eq!(attribute(&dom, "data-charts"), counts[1].to_string());
    assert_eq!(dom.matches("class=\"bar seg\"").count(), counts[0]);
    // Size per snapshot: three refreshes at two distinct as-of times, the segment recorded at
    // the second refresh of 07-01 (it replaced that snapshot) only.
    assert_eq!(dom.matches("class=\"point\"").count(), 1);
    // Over-indexed values are highlighted: active customers are all buyers (orders_30d > 0).
    assert!(dom.contains("class=\"tgi hi\""), "no highlighted TGI");

    // And it paints: a screenshot of the page is a real image.
    let png = s.path("active.png");
    rendered_dom(
        &html,
        &[
            "--window-size=1280,1600",
            &format!("--screenshot={}", png.display()),
        ],
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{} bytes",
        bytes.len()
    );
}

#[test]
fn report_of_an_unknown_segment_fails_and_writes_nothing() {
    let s = Sandbox::new();
    s.fixture(&["2026-07-01 00:00:00"]);
    s.ok(&[
        "run",
        "-c",
        "CREATE SEGMENT customer.active AS orders_30d > 0",
    ]);
    let html = s.path("x.html");
    let out = s.run(&[
        "report",
        "segment",
        "customer.activ",
        "-o",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean 'customer.active'?"), "{err}");
    assert!(!html.exists());
}
