//! `tagfusion report segment <entity.segment> -o file.html`: one self-contained HTML page with
//! the segment's size per snapshot and its profile against the population (bars of segment
//! and population shares per value, TGI highlighted). Data is embedded as JSON and drawn as SVG
//! by a small inline script: no network fetches, no external files.

use std::path::Path;

use serde::Serialize;

use crate::engine::{Engine, ProfileRow};
use crate::error::{Error, Result};
use crate::parser::{QualifiedName, split_qualified};

const TEMPLATE: &str = include_str!("segment.html");

#[derive(Debug, Serialize)]
struct SegmentReport {
    segment: String,
    description: Option<String>,
    definition: String,
    size: i64,
    population: i64,
    snapshot: Option<String>,
    generated_at: String,
    history: Vec<(String, i64)>,
    profile: Vec<ProfileRow>,
}

/// Escapes text for an HTML text node.
fn html_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes the report of `segment` (written `entity.segment`) to `out`.
pub async fn segment_report(
    engine: &Engine,
    segment: &str,
    by: &[String],
    out: &Path,
) -> Result<()> {
    let (entity, name) = split_qualified(segment).ok_or_else(|| {
        Error::invalid(format!(
            "'{segment}' is not a segment name; write entity.segment, e.g. customer.high_value"
        ))
    })?;
    let name = QualifiedName {
        entity: entity.trim_matches('"').to_string(),
        name: name.trim_matches('"').to_string(),
    };
    let catalog = engine.catalog();
    let def = catalog.segment(&name)?.clone();
    let profile = engine.segment_profile(&name, by).await?;
    let report = SegmentReport {
        segment: name.to_string(),
        description: def.description.clone(),
        definition: def.definition.clone(),
        // The profile counted both in its one pass over the latest snapshot.
        size: profile.segment_size,
        population: profile.population_size,
        snapshot: catalog
            .latest_snapshot(&name.entity)
            .map(|s| s.snapshot_at.format("%Y-%m-%d %H:%M:%S").to_string()),
        generated_at: chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        history: engine.segment_sizes(&name).await?,
        profile: profile.rows,
    };
    let json = serde_json::to_string(&report)
        .map_err(|e| Error::invalid(format!("cannot encode the report: {e}")))?
        // Inside <script>: never close the element early.
        .replace("</", "<\\/");
    let html = TEMPLATE
        .replace(
            "{{TITLE}}",
            &html_text(&format!("客群报告 · {}", report.segment)),
        )
        .replace("{{DATA}}", &json);
    // Write next to the target and rename: a failed run leaves no half-written report.
    let tmp = out.with_extension("html.tmp");
    std::fs::write(&tmp, html)
        .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, out)
        .map_err(|e| Error::io(format!("cannot write {}", out.display()), e))?;
    Ok(())
}
