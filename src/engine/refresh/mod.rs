//! REFRESH ENTITY and REFRESH TAG: compute tags in dependency order and write the snapshot in
//! one Delta commit. Everything that can fail (planning, tag queries, duplicate keys) happens
//! before the commit, so a failed refresh leaves the previous snapshot and the catalog as they
//! were; only a `failed` row in `tagfusion.snapshots` records that it was tried.

mod bitmaps;
pub(super) use bitmaps::bitmaps_path;
mod population;
mod scans;
mod stats;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, SubsecRound, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::JoinType;
use datafusion::prelude::{DataFrame, Expr, SessionContext, cast, ident, lit};
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::{Catalog, EntityDef, RunStatus, SegmentDef, SnapshotRecord, TagDef, store};
use crate::compiler::fusion::keyed;
use crate::compiler::{self, Joined, KEY_COLUMN, Scan, VALUE_COLUMN};
use crate::engine::keys::KEY_ID_COLUMN;
use crate::engine::output::{Cell, table};
use crate::engine::registry::{profile_history_path, snapshot_literal};
use crate::engine::scratch::Scratch;
use crate::engine::{Engine, Output};
use crate::error::{Error, Result};
use crate::failpoint;
use crate::parser::{QualifiedName, quote_ident};
use crate::warehouse::{WriteMode, delta_compatible};

/// The key and id columns of the keys table inside a profile query.
const ID_KEY: &str = "__tf_id_key";
const ID_VALUE: &str = "__tf_id";

/// What a refresh committed: the snapshot's rows and the `profile_history` version holding them.
struct Written {
    rows: usize,
    profile_version: Option<u64>,
    /// The version of `<entity>/keys` with an id for every key of the snapshot.
    keys_version: u64,
    /// The version of `<entity>/bitmaps` with the snapshot's bitmaps.
    bitmaps_version: u64,
}

/// What a refresh computes and where it starts from.
struct RefreshJob {
    entity: EntityDef,
    /// Every tag of the entity (catalog order).
    tags: Vec<TagDef>,
    /// The tags to compute.
    selected: BTreeSet<String>,
    /// Tags already in the snapshot and kept as they are (REFRESH TAG).
    kept: Vec<String>,
    as_of: DateTime<Utc>,
    /// Start from the latest snapshot (REFRESH TAG) rather than the entity's source.
    from_snapshot: bool,
    /// The entity's segments: their membership is recorded with the snapshot.
    segments: Vec<SegmentDef>,
}

impl RefreshJob {
    /// The selected tags computed by a query of their own (statistic tags), in catalog order.
    fn statistics(&self) -> Vec<&TagDef> {
        self.tags
            .iter()
            .filter(|t| self.selected.contains(&t.name) && t.body().is_query())
            .collect()
    }
}

impl Engine {
    pub(in crate::engine) async fn refresh_entity(
        &self,
        entity: &str,
        as_of: Option<&str>,
    ) -> Result<Output> {
        let _w = self.write_lock.lock().await;
        let catalog = self.catalog_to_change();
        let started = Utc::now();
        let job = self.entity_job(&catalog, entity, as_of, started).await?;
        self.run_refresh(catalog, job, "refresh entity".to_string(), started)
            .await
    }

    /// REFRESH ENTITY's job: every active tag, as of `as_of` (or `now`).
    async fn entity_job(
        &self,
        catalog: &Catalog,
        entity: &str,
        as_of: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RefreshJob> {
        let def = catalog.entity(entity)?.clone();
        let as_of = match as_of {
            Some(expr) => self.eval_timestamp(expr).await?,
            None => now,
        }
        .trunc_subsecs(6);
        let tags = catalog.tags_of(entity).to_vec();
        let selected: BTreeSet<String> = tags
            .iter()
            .filter(|t| t.is_active())
            .map(|t| t.name.clone())
            .collect();
        Ok(RefreshJob {
            entity: def,
            tags,
            selected,
            kept: Vec::new(),
            as_of,
            from_snapshot: false,
            segments: catalog.segments_of(entity).to_vec(),
        })
    }

    /// `EXPLAIN REFRESH ENTITY`: how each statistic tag is scanned, then DataFusion's plan of the
    /// profile query a refresh would write (checked scans shown as their own queries).
    pub(in crate::engine) async fn explain_refresh(
        &self,
        entity: &str,
        as_of: Option<&str>,
    ) -> Result<Output> {
        let catalog = self.catalog();
        let job = self.entity_job(&catalog, entity, as_of, Utc::now()).await?;
        let rctx = self.refresh_context(job.as_of)?;
        let statistics = job.statistics();
        let scans = scans::plan(&rctx, &statistics);
        let mut rows = Vec::new();
        let mut joined = Vec::new();
        for scan in &scans {
            let (kind, sql) = match scan {
                Scan::Fused { sql, .. } => ("fused scan", sql.clone()),
                Scan::Grouped { sql, .. } => ("grouped scan", sql.clone()),
                Scan::Checked { tag } => ("checked scan", keyed(&tag.definition)),
            };
            let names: Vec<String> = scan.tags().iter().map(|t| t.name.clone()).collect();
            rows.push(vec![
                Cell::from(kind),
                Cell::from(names.join(", ")),
                Cell::from(sql.clone()),
            ]);
            joined.push(Joined::query(&sql, scan.columns()));
        }
        let (df, sql, _) = self.profile_frame(&rctx, &job, &joined, None).await?;
        let models = population::population_windows(df.logical_plan());
        if !models.is_empty() {
            rows.push(vec![
                Cell::from("population models"),
                Cell::from(""),
                Cell::from(format!(
                    "staged to Parquet, fitted as one row, applied to each row as it is written \
                     (the plans below show them as windows):\n{}",
                    models.join("\n")
                )),
            ]);
        }
        // The whole query as SQL (before the casts to the tags' recorded types and the sort by
        // key), e.g. to run it through plain DataFusion and compare.
        rows.push(vec![
            Cell::from("profile sql"),
            Cell::from(""),
            Cell::from(sql),
        ]);
        for batch in df.explain(false, false)?.collect().await? {
            let (kinds, plans) = (batch.column(0), batch.column(1));
            for i in 0..batch.num_rows() {
                let text = |a: &datafusion::arrow::array::ArrayRef| {
                    ScalarValue::try_from_array(a, i).map(|v| match v {
                        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => s,
                        other => other.to_string(),
                    })
                };
                rows.push(vec![
                    Cell::from(text(kinds)?),
                    Cell::from(""),
                    Cell::from(text(plans)?),
                ]);
            }
        }
        table(&["step", "tags", "plan"], rows)
    }

    pub(in crate::engine) async fn refresh_tag(&self, name: &QualifiedName) -> Result<Output> {
        let _w = self.write_lock.lock().await;
        let catalog = self.catalog_to_change();
        let tag = catalog.tag(name)?.clone();
        if !tag.is_active() {
            return Err(Error::invalid(format!(
                "tag {name} is offline and is not refreshed; ALTER TAG {name} SET STATUS approved first"
            )));
        }
        let def = catalog.entity(&name.entity)?.clone();
        let Some(latest) = catalog.latest_snapshot(&name.entity).cloned() else {
            return Err(Error::invalid(format!(
                "entity {} has no snapshot yet; run REFRESH ENTITY {} first",
                def.name, def.name
            )));
        };
        let in_profile: BTreeSet<String> = match self
            .ctx
            .table(format!("{}.profile", quote_ident(&def.name)))
            .await
        {
            Ok(df) => df
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            Err(_) => BTreeSet::new(),
        };
        // The tag, what depends on it, and whatever those need that the snapshot lacks.
        let tags = catalog.tags_of(&def.name).to_vec();
        let mut selected: BTreeSet<String> = catalog
            .with_dependents(&def.name, &name.name)
            .into_iter()
            .filter(|t| tags.iter().any(|d| &d.name == t && d.is_active()))
            .collect();
        loop {
            let missing: Vec<String> = tags
                .iter()
                .filter(|t| selected.contains(&t.name))
                .flat_map(|t| t.depends_on.iter())
                .filter(|d| !selected.contains(*d) && !in_profile.contains(*d))
                .cloned()
                .collect();
            if missing.is_empty() {
                break;
            }
            selected.extend(missing);
        }
        let kept: Vec<String> = tags
            .iter()
            .filter(|t| {
                t.is_active() && in_profile.contains(&t.name) && !selected.contains(&t.name)
            })
            .map(|t| t.name.clone())
            .collect();
        let job = RefreshJob {
            entity: def,
            tags,
            selected,
            kept,
            as_of: latest.snapshot_at,
            from_snapshot: true,
            segments: catalog.segments_of(&name.entity).to_vec(),
        };
        self.run_refresh(catalog, job, format!("refresh tag {name}"), Utc::now())
            .await
    }

    async fn run_refresh(
        &self,
        mut catalog: Catalog,
        job: RefreshJob,
        operation: String,
        started: DateTime<Utc>,
    ) -> Result<Output> {
        let clock = Instant::now();
        let result = self.compute_and_write(&job).await;
        let finished = Utc::now();
        let record = SnapshotRecord {
            entity: job.entity.name.clone(),
            snapshot_at: job.as_of,
            operation,
            started,
            finished,
            rows: result.as_ref().map_or(0, |w| w.rows as i64),
            tags: (job.selected.len() + job.kept.len()) as i64,
            status: RunStatus::of(&result),
            message: result.as_ref().err().map(|e| e.to_string()),
            profile_version: result
                .as_ref()
                .ok()
                .and_then(|w| w.profile_version)
                .map(|v| v as i64),
            keys_version: result.as_ref().ok().map(|w| w.keys_version as i64),
            bitmaps_version: result.as_ref().ok().map(|w| w.bitmaps_version as i64),
        };
        // Recording the attempt must not hide the refresh's own error.
        let recorded = store::append_snapshot(&self.warehouse, &record).await;
        if result.is_err() {
            // Best effort (the storage may be what failed): the refresh's error is the one to
            // report.
            let _ = self.register_system_tables().await;
        }
        let rows = result?.rows;
        recorded?;
        catalog.snapshots.push(record.clone());
        self.commit_catalog(catalog.clone(), Some(&job.entity.name))
            .await?;
        // Health of what was refreshed; the snapshot is committed already, so a failure here
        // is reported without undoing it.
        let refreshed: Vec<String> = job.selected.iter().cloned().collect();
        let stats_clock = Instant::now();
        self.write_tag_stats(&catalog, &job.entity, job.as_of, &refreshed)
            .await
            .map_err(|e| {
                Error::invalid(format!(
                    "the snapshot of {} as of {} is written, but its tag statistics failed: {}",
                    job.entity.name,
                    job.as_of.format("%Y-%m-%d %H:%M:%S"),
                    e.root()
                ))
            })?;
        tracing::debug!(
            entity = %job.entity.name,
            seconds = stats_clock.elapsed().as_secs_f64(),
            "refresh: tag statistics written"
        );
        self.register_system_tables().await?;
        table(
            &["entity", "snapshot_at", "tags", "rows", "seconds"],
            vec![vec![
                Cell::from(job.entity.name.clone()),
                Cell::from(job.as_of.format("%Y-%m-%d %H:%M:%S%.f").to_string()),
                Cell::from(record.tags),
                Cell::from(rows as i64),
                Cell::from(format!("{:.2}", clock.elapsed().as_secs_f64())),
            ]],
        )
    }

    /// A session whose `as_of()` is the snapshot's time.
    fn refresh_context(&self, as_of: DateTime<Utc>) -> Result<SessionContext> {
        let mut state = self.ctx.state();
        state.config_mut().options_mut().set(
            "tagfusion.as_of",
            &as_of.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        )?;
        Ok(SessionContext::new_with_state(state))
    }

    /// Evaluates an `AS OF` expression to a UTC time.
    async fn eval_timestamp(&self, expr: &str) -> Result<DateTime<Utc>> {
        let bad = |why: String| {
            Error::invalid(format!(
                "AS OF {expr} is not a timestamp ({why}); write AS OF TIMESTAMP 'YYYY-MM-DD HH:MM:SS'"
            ))
        };
        let batches = match self
            .ctx
            .sql(&format!("SELECT CAST(({expr}) AS TIMESTAMP)"))
            .await
        {
            Ok(df) => df
                .collect()
                .await
                .map_err(|e| bad(Error::from(e).to_string()))?,
            Err(e) => return Err(bad(Error::from(e).to_string())),
        };
        let value = batches
            .first()
            .filter(|b| b.num_rows() == 1)
            .map(|b| ScalarValue::try_from_array(b.column(0), 0))
            .transpose()?;
        match value {
            Some(ScalarValue::TimestampNanosecond(Some(n), _)) => {
                Ok(DateTime::from_timestamp_nanos(n))
            }
            _ => Err(bad("it is NULL or not a single value".to_string())),
        }
    }

    /// Computes the snapshot and commits it.
    async fn compute_and_write(&self, job: &RefreshJob) -> Result<Written> {
        let entity = &job.entity;
        let rctx = self.refresh_context(job.as_of)?;
        let statistics = job.statistics();
        let scans = scans::plan(&rctx, &statistics);
        let checked = scans
            .iter()
            .filter(|s| matches!(s, Scan::Checked { .. }))
            .count();
        let progress = self.progress_bar(checked as u64 + 1, &entity.name);
        let mut scratch = Scratch::new(&self.ctx);
        // Keys first: every row of the snapshot carries its key's id.
        let universe = if job.from_snapshot {
            format!("{}.profile", quote_ident(&entity.name))
        } else {
            entity.source().as_relation()
        };
        let (keys_version, keys) = self
            .allocate_keys(&rctx, &mut scratch, entity, &universe, job.as_of)
            .await?;
        let joined = self
            .statistic_joins(&rctx, &mut scratch, scans, &progress)
            .await?;
        let (df, _, segments) = self.profile_frame(&rctx, job, &joined, Some(&keys)).await?;

        progress.set_message(format!(
            "{}: computing and writing the snapshot",
            entity.name
        ));
        // Always "replace where snapshot_at = as of": a snapshot written again (or by a refresh
        // whose catalog record was lost) is replaced, never duplicated, and two processes
        // writing the same snapshot at once conflict in Delta — one commits, the other fails.
        let mode = WriteMode::Replace(ident("snapshot_at").eq(lit(snapshot_literal(job.as_of))));
        let written = async {
            // Population models (`… OVER ()`) are fitted over staged rows first.
            let clock = Instant::now();
            let plan =
                population::fit_population_models(&rctx, &mut scratch, df.logical_plan().clone())
                    .await?;
            tracing::debug!(
                entity = %entity.name,
                seconds = clock.elapsed().as_secs_f64(),
                "refresh: rows staged and population models fitted"
            );
            let clock = Instant::now();
            let table = self
                .warehouse
                .write_plan(
                    &profile_history_path(&entity.name),
                    plan,
                    &rctx.state(),
                    mode,
                )
                .await;
            tracing::debug!(
                entity = %entity.name,
                seconds = clock.elapsed().as_secs_f64(),
                "refresh: snapshot computed and committed"
            );
            table
        }
        .await;
        let table = match written {
            Ok(table) => table,
            Err(e) => {
                progress.finish_and_clear();
                return Err(self.name_failing_tag(&rctx, &statistics, e).await);
            }
        };
        progress.finish_and_clear();
        // The profile is committed; until the snapshot record names its version, readers keep
        // the previous one.
        failpoint::hit("refresh.after_profile").await?;
        let clock = Instant::now();
        let (bitmaps_version, rows) = self
            .write_bitmaps(&rctx, &mut scratch, job, &table, &segments)
            .await?;
        tracing::debug!(
            entity = %entity.name,
            seconds = clock.elapsed().as_secs_f64(),
            "refresh: bitmaps written"
        );
        Ok(Written {
            rows,
            profile_version: table.version(),
            keys_version,
            bitmaps_version,
        })
    }

    /// The snapshot's rows: the profile query over `joined` statistic scans, with each key's id
    /// from the keys table registered as `keys` (when given) and the segments' membership
    /// columns, in warehouse types, sorted by key (so a key lookup can skip files by their
    /// statistics).
    async fn profile_frame(
        &self,
        rctx: &SessionContext,
        job: &RefreshJob,
        joined: &[Joined<'_>],
        keys: Option<&str>,
    ) -> Result<(DataFrame, String, Vec<String>)> {
        let entity = &job.entity;
        let levels = compiler::levels(&job.tags, &job.selected)?;
        let base = if job.from_snapshot {
            self.snapshot_base(entity, &job.kept).await?
        } else {
            entity.source().as_relation()
        };
        let output: Vec<String> = job
            .tags
            .iter()
            .filter(|t| job.selected.contains(&t.name) || job.kept.contains(&t.name))
            .map(|t| t.name.clone())
            .collect();
        let sql = compiler::profile_query(&entity.key, &base, joined, &levels, &output);
        let (sql, segments) = self.with_segments(rctx, sql, &job.segments, &output).await;
        let df = rctx.sql(&sql).await.map_err(|e| {
            Error::invalid(format!(
                "compiling the profile of {} failed: {}",
                entity.name,
                Error::from(e)
            ))
        })?;
        let key_type = delta_compatible(df.schema().field(0).data_type());
        let df = match keys {
            Some(keys) => {
                let ids = rctx.table(keys).await?.select(vec![
                    ident("key").alias(ID_KEY),
                    ident("key_id").alias(ID_VALUE),
                ])?;
                // The dictionary (two columns) is the hash join's build side and the profile
                // rows stream through it: built on the profile, the join held the whole
                // snapshot in memory (10M rows: ~3 GB more at peak).
                ids.join(df, JoinType::Right, &[ID_KEY], &[entity.key.as_str()], None)?
            }
            None => df,
        };
        let columns = snapshot_columns(job, key_type, keys.is_some(), &output, &segments)?;
        let df = df
            .select(columns)?
            .sort(vec![ident(&entity.key).sort(true, true)])?;
        Ok((df, sql, segments))
    }

    /// Adds each segment as a boolean column over the profile query, dependencies first. A
    /// segment that does not plan here (it reads a tag this snapshot lacks, a table that is gone,
    /// or uses IN (subquery)) is left out of the snapshot rather than failing the refresh.
    async fn with_segments(
        &self,
        rctx: &SessionContext,
        mut sql: String,
        segments: &[SegmentDef],
        output: &[String],
    ) -> (String, Vec<String>) {
        let mut included: Vec<String> = Vec::new();
        let mut left: Vec<&SegmentDef> = segments.iter().collect();
        loop {
            let ready = left
                .iter()
                .position(|s| s.segments.iter().all(|d| included.contains(d)));
            let Some(i) = ready else { break };
            let segment = left.remove(i);
            if !segment.tags.iter().all(|t| output.contains(t)) {
                continue;
            }
            let candidate = format!(
                "SELECT *, ({}) AS {} FROM ({sql}) AS __tf_g{}",
                segment.definition,
                quote_ident(&segment.name),
                included.len()
            );
            // Physical planning too: an IN (subquery) is fine in a view's WHERE but DataFusion
            // cannot yet run it as a projected column; such a segment keeps its view only.
            let plans = match rctx.sql(&candidate).await {
                Ok(df) => df.create_physical_plan().await.is_ok(),
                Err(_) => false,
            };
            if plans {
                sql = candidate;
                included.push(segment.name.clone());
            }
        }
        (sql, included)
    }

    /// The relation REFRESH TAG starts from: the latest snapshot's kept tags joined with the
    /// entity's source row.
    async fn snapshot_base(&self, entity: &EntityDef, kept: &[String]) -> Result<String> {
        let source = self.source_schema(&entity.source()).await?;
        let key = quote_ident(&entity.key);
        let mut columns = vec![format!("__tf_p.{key}")];
        columns.extend(kept.iter().map(|k| format!("__tf_p.{}", quote_ident(k))));
        columns.extend(
            source
                .fields()
                .iter()
                .filter(|f| f.name() != &entity.key)
                .map(|f| format!("__tf_src.{}", quote_ident(f.name()))),
        );
        Ok(format!(
            "(SELECT {} FROM {}.profile AS __tf_p LEFT JOIN {} AS __tf_src ON __tf_p.{key} = __tf_src.{key})",
            columns.join(", "),
            quote_ident(&entity.name),
            entity.source().as_relation()
        ))
    }

    /// Runs one statistic tag's query into memory and checks it returns each key once.
    async fn compute_statistic(
        &self,
        rctx: &SessionContext,
        scratch: &mut Scratch<'_>,
        tag: &TagDef,
    ) -> Result<String> {
        let fail = |e: Error| Error::invalid(format!("tag {} failed: {e}", tag.qualified()));
        let df = rctx
            .sql(&format!("SELECT * FROM ({}) AS __tf_q", tag.definition))
            .await
            .map_err(|e| fail(e.into()))?;
        let key_type = delta_compatible(df.schema().field(0).data_type());
        let value_type = delta_compatible(df.schema().field(1).data_type());
        let batches = df.collect().await.map_err(|e| fail(e.into()))?;
        // Key and value in warehouse types (plain Utf8 rather than views, see Engine::open).
        let schema = Arc::new(Schema::new(vec![
            Field::new(KEY_COLUMN, key_type, true),
            Field::new(VALUE_COLUMN, value_type, true),
        ]));
        let batches: Vec<RecordBatch> = batches
            .into_iter()
            .map(|b| {
                let key =
                    datafusion::arrow::compute::cast(b.column(0), schema.field(0).data_type())?;
                let value =
                    datafusion::arrow::compute::cast(b.column(1), schema.field(1).data_type())?;
                RecordBatch::try_new(schema.clone(), vec![key, value])
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| fail(datafusion::error::DataFusionError::from(e).into()))?;
        let name = scratch.register(schema, batches)?;
        let dup = rctx
            .sql(&format!(
                "SELECT CAST({k} AS VARCHAR) FROM {t} GROUP BY {k} HAVING count(*) > 1 LIMIT 1",
                k = quote_ident(KEY_COLUMN),
                t = quote_ident(&name)
            ))
            .await?
            .collect()
            .await?;
        if let Some(batch) = dup.iter().find(|b| b.num_rows() > 0) {
            let key = ScalarValue::try_from_array(batch.column(0), 0)?;
            let key = match key {
                ScalarValue::Utf8(Some(k))
                | ScalarValue::Utf8View(Some(k))
                | ScalarValue::LargeUtf8(Some(k)) => k,
                other => other.to_string(),
            };
            return Err(Error::invalid(format!(
                "tag {}: its query returned key '{key}' more than once; a tag query returns one row per key (GROUP BY the key)",
                tag.qualified()
            )));
        }
        Ok(name)
    }

    fn progress_bar(&self, steps: u64, entity: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(steps);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} refresh {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(entity.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }
}

/// The `profile_history` column that records membership of a segment.
pub(in crate::engine) fn segment_column(segment: &str) -> String {
    format!("segment:{segment}")
}

/// The columns of a snapshot: the key as `key_type`, the `output` tags with their types as
/// recorded at CREATE, the `segments` as boolean membership columns, then the snapshot time.
fn snapshot_columns(
    job: &RefreshJob,
    key_type: DataType,
    with_ids: bool,
    output: &[String],
    segments: &[String],
) -> Result<Vec<Expr>> {
    let key = &job.entity.key;
    let mut columns = vec![cast(ident(key), key_type).alias(key)];
    if with_ids {
        columns.push(cast(ident(ID_VALUE), DataType::Int64).alias(KEY_ID_COLUMN));
    }
    for name in output {
        let tag = job
            .tags
            .iter()
            .find(|t| &t.name == name)
            .ok_or_else(|| Error::invalid(format!("tag {name} vanished")))?;
        columns.push(cast(ident(name), tag.value_type.data_type().clone()).alias(name));
    }
    for segment in segments {
        columns.push(cast(ident(segment), DataType::Boolean).alias(segment_column(segment)));
    }
    columns.push(lit(snapshot_literal(job.as_of)).alias("snapshot_at"));
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testing;

    #[test]
    fn snapshot_columns_are_key_tags_segments_then_time() {
        let job = RefreshJob {
            entity: testing::entity("c"),
            tags: vec![testing::tag("c", "orders")],
            selected: BTreeSet::new(),
            kept: Vec::new(),
            as_of: Utc::now(),
            from_snapshot: false,
            segments: Vec::new(),
        };
        let names = |with_ids| {
            snapshot_columns(
                &job,
                DataType::Utf8,
                with_ids,
                &["orders".into()],
                &["vip".into()],
            )
            .unwrap()
            .iter()
            .map(|c| c.schema_name().to_string())
            .collect::<Vec<String>>()
        };
        assert_eq!(names(false), ["id", "orders", "segment:vip", "snapshot_at"]);
        assert_eq!(
            names(true),
            [
                "id",
                "tagfusion:key_id",
                "orders",
                "segment:vip",
                "snapshot_at"
            ]
        );
        let e = snapshot_columns(&job, DataType::Utf8, false, &["gone".into()], &[]).unwrap_err();
        assert_eq!(e.to_string(), "tag gone vanished");
    }
}
