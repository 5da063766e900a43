//! `tagfusion demo [--industry retail|finance]`: generate an industry's data set into the
//! warehouse, apply its tag template, refresh the profile and show what came out.
//!
//! - retail (default): customers, stores, orders, app events → `sql/templates/retail.sql`
//! - finance: clients, holdings, transactions, referrals → `sql/templates/finance.sql`

pub mod finance;
pub mod ordered;
pub mod retail;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::SegmentDef;
use crate::engine::{Engine, Output};
use crate::error::{Error, Result};
use crate::parser::{QualifiedName, quote_ident, quote_str};
use crate::print::{Format, PrintOptions, print_output};
use crate::warehouse::Warehouse;

/// The retail tag template shipped with the binary (`sql/templates/retail.sql`).
pub const RETAIL_TEMPLATE: &str = include_str!("../../sql/templates/retail.sql");
/// The finance tag template shipped with the binary (`sql/templates/finance.sql`).
pub const FINANCE_TEMPLATE: &str = include_str!("../../sql/templates/finance.sql");

/// Seed of the demo data: the same for every run, so every run shows the same customers.
pub const SEED: u64 = 20261123;

/// The industry of a demo: its data, template and entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Industry {
    /// Retail: customers, stores, orders and app events (零售)
    #[default]
    Retail,
    /// Retail banking and wealth management: clients, holdings, transactions, referrals (金融)
    Finance,
}

impl Industry {
    /// The template's path in the repository and its text.
    pub fn template(self) -> (&'static str, &'static str) {
        match self {
            Industry::Retail => ("sql/templates/retail.sql", RETAIL_TEMPLATE),
            Industry::Finance => ("sql/templates/finance.sql", FINANCE_TEMPLATE),
        }
    }

    /// The entity the template profiles.
    pub fn entity(self) -> &'static str {
        match self {
            Industry::Retail => "customer",
            Industry::Finance => "client",
        }
    }

    /// What the demo shows: a segment profiled by two tags, and the columns of example profiles.
    fn showcase(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Industry::Retail => (
                "high_value",
                "'age_band', 'city_tier'",
                "customer_id, gender, age_band, city, member_level, orders_180d, spend_365d, \
                 favorite_category, preferred_daypart, lifecycle_stage, aarrr_stage, rfm_class, important_customer",
            ),
            Industry::Finance => (
                "important_clients",
                "'aum_tier', 'age_band'",
                "client_id, gender, age_band, city, risk_preference, aum, aum_tier, trades_6m, referrals, \
                 main_channel, lifecycle_stage, rfm_class, important_customer",
            ),
        }
    }
}

/// Where the demo's generated tables go: `demo/<table>/part-0.parquet` in the warehouse.
/// Generators write local files under [`DemoData::dir`]; on an S3 warehouse that is a staging
/// directory and [`DemoData::publish`] uploads each table.
pub struct DemoData<'a> {
    warehouse: &'a Warehouse,
    dir: PathBuf,
    staging: bool,
}

impl<'a> DemoData<'a> {
    pub fn new(warehouse: &'a Warehouse) -> Result<Self> {
        let (dir, staging) = match warehouse.local_path("demo") {
            Some(dir) => (dir, false),
            None => (
                std::env::temp_dir().join(format!("tagfusion-demo-{}", uuid::Uuid::new_v4())),
                true,
            ),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        Ok(Self {
            warehouse,
            dir,
            staging,
        })
    }

    /// The local directory the generators write `<table>/part-0.parquet` under.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the data is, for the summary line.
    pub fn location(&self) -> String {
        match self.warehouse.url("demo") {
            Ok(url) if self.staging => url.to_string(),
            _ => self.dir.display().to_string(),
        }
    }

    /// Writes the rows of `query` as `table` (one Parquet file), publishes it and registers it
    /// as an external table. Returns the rows written.
    pub async fn copy_query(&self, engine: &Engine, table: &str, query: &str) -> Result<usize> {
        let location = self.dir.join(table);
        std::fs::create_dir_all(&location)
            .map_err(|e| Error::io(format!("cannot create {}", location.display()), e))?;
        let file = location.join("part-0.parquet");
        let copy = format!(
            "COPY ({query}) TO {} STORED AS PARQUET",
            quote_str(&file.display().to_string())
        );
        let failed = |e: datafusion::error::DataFusionError| {
            Error::invalid(format!("generating {table}: {}", Error::from(e)))
        };
        let rows = engine
            .context()
            .sql(&copy)
            .await
            .map_err(failed)?
            .collect()
            .await
            .map_err(failed)?;
        let written = rows
            .first()
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::UInt64Array>()
                    .map(|c| c.value(0) as usize)
            })
            .unwrap_or(0);
        let register = format!(
            "CREATE OR REPLACE EXTERNAL TABLE {table} STORED AS PARQUET LOCATION {}",
            quote_str(&self.publish(table).await?)
        );
        engine.run_script(&register).await?;
        Ok(written)
    }

    /// Makes `table` available in the warehouse; returns the location to register it at.
    pub async fn publish(&self, table: &str) -> Result<String> {
        if !self.staging {
            return Ok(format!("{}/", self.dir.join(table).display()));
        }
        let relative = format!("demo/{table}/part-0.parquet");
        self.warehouse
            .upload(&self.dir.join(table).join("part-0.parquet"), &relative)
            .await?;
        Ok(self.warehouse.url(&format!("demo/{table}"))?.to_string())
    }
}

impl Drop for DemoData<'_> {
    fn drop(&mut self) {
        if self.staging {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Generates the demo data of `industry` into the warehouse's `demo/`, registers its tables,
/// applies its template and refreshes the profile as of the data's end. Returns the rows
/// generated per table and the refresh summary. `tick` follows the generation (units of
/// [`progress_units`]).
pub async fn prepare(
    engine: &Engine,
    industry: Industry,
    customers: usize,
    tick: impl FnMut(usize),
) -> Result<(Vec<(&'static str, usize)>, Vec<Output>)> {
    let data = DemoData::new(engine.warehouse())?;
    let generated = match industry {
        Industry::Retail => {
            let g = retail::generate(data.dir(), customers, SEED, tick)?;
            let mut setup = String::new();
            for table in retail::TABLES {
                let location = data.publish(table).await?;
                setup.push_str(&format!(
                    "CREATE OR REPLACE EXTERNAL TABLE {table} STORED AS PARQUET LOCATION {};\n",
                    quote_str(&location)
                ));
            }
            engine.run_script(&setup).await?;
            // A second source of identities for identity resolution (examples/identity.sql).
            let logins = data
                .copy_query(engine, "app_logins", &retail::app_logins_sql(customers))
                .await?;
            vec![
                ("customers", g.customers),
                ("stores", g.stores),
                ("orders", g.orders),
                ("app_events", g.events),
                ("app_logins", logins),
            ]
        }
        Industry::Finance => finance::generate(engine, &data, customers, tick).await?,
    };
    let (path, template) = industry.template();
    for statement in engine.parse(template)? {
        engine
            .execute(&statement)
            .await
            .map_err(|e| Error::invalid(format!("{path}:{}: {}", statement.location, e.root())))?;
    }
    let refresh = engine
        .run_script(&format!(
            "REFRESH ENTITY {} AS OF TIMESTAMP {}",
            industry.entity(),
            quote_str(retail::DATA_END)
        ))
        .await?;
    Ok((generated, refresh))
}

/// How many units [`prepare`]'s `tick` counts to.
pub fn progress_units(industry: Industry, customers: usize) -> usize {
    match industry {
        Industry::Retail => customers,
        Industry::Finance => finance::TABLES.len(),
    }
}

/// `tagfusion demo`: prepares the demo data (with a progress bar on a terminal), then shows what
/// came out, section by section.
pub async fn run(
    engine: Arc<Engine>,
    warehouse: &str,
    print: PrintOptions,
    industry: Industry,
    customers: usize,
) -> Result<()> {
    if customers == 0 {
        return Err(Error::invalid("--customers must be at least 1"));
    }
    let clock = Instant::now();
    let location = match engine.warehouse().local_path("demo") {
        Some(dir) => dir.display().to_string(),
        None => engine.warehouse().url("demo")?.to_string(),
    };
    let bar = progress_bar(progress_units(industry, customers));
    let (generated, refresh) = prepare(&engine, industry, customers, |done| {
        bar.set_position(done as u64)
    })
    .await?;
    bar.finish_and_clear();

    let entity = industry.entity();
    let mut summary = Summary {
        engine: &engine,
        print: &print,
        out: std::io::stdout().lock(),
    };
    summary.say(&generated_line(&generated, &location));
    summary.say(&format!(
        "Refreshed the {entity} profile (snapshot as of the end of the data):"
    ));
    summary.show(refresh).await?;
    summary.say("Tags by kind and category (SELECT … FROM tagfusion.tags):");
    summary.query(&tags_by_kind_sql(entity)).await?;
    summary.segment_sizes(entity).await?;
    summary.showcase_profile(industry).await?;
    summary.say(&format!(
        "Example profiles (SELECT … FROM {entity}.profile):"
    ));
    let (_, _, columns) = industry.showcase();
    summary
        .query(&format!(
            "SELECT {columns} FROM {entity}.profile ORDER BY 1 LIMIT 5"
        ))
        .await?;
    summary.say(&format!(
        "Done in {:.1}s. Try: tagfusion run -c \"SHOW TAGS FOR {entity}\" or \
         -c \"DESCRIBE TAG {entity}.rfm_class\" (warehouse: {})",
        clock.elapsed().as_secs_f64(),
        warehouse
    ));
    Ok(())
}

/// A progress bar of `units` on a terminal (stderr), hidden otherwise.
fn progress_bar(units: usize) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(units as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} generating demo data [{bar:30}] {pos}/{len} ({elapsed})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `Generated 2000 customers, 72 stores, … in <location>`.
fn generated_line(generated: &[(&str, usize)], location: &str) -> String {
    let tables: Vec<String> = generated
        .iter()
        .map(|(table, rows)| format!("{rows} {table}"))
        .collect();
    format!("Generated {} in {location}", tables.join(", "))
}

/// The entity's tags counted by kind and top-level category, with a few examples each.
fn tags_by_kind_sql(entity: &str) -> String {
    format!(
        "SELECT kind, split_part(category, '/', 1) AS category, count(*) AS tags, \
                array_to_string(array_slice(array_agg(name ORDER BY position), 1, 4), ', ') AS examples \
         FROM tagfusion.tags WHERE entity = {} GROUP BY 1, 2 ORDER BY 1, 2",
        quote_str(entity)
    )
}

/// Every segment of `entity` with its description and members, in creation order; `None`
/// without segments.
fn segment_sizes_sql(entity: &str, segments: &[SegmentDef]) -> Option<String> {
    if segments.is_empty() {
        return None;
    }
    let counts: Vec<String> = segments
        .iter()
        .map(|s| {
            format!(
                "SELECT {} AS n, {} AS segment, {} AS description, count(*) AS members FROM {entity}.{}",
                s.position,
                quote_str(&s.name),
                quote_str(s.description.as_deref().unwrap_or("")),
                quote_ident(&s.name)
            )
        })
        .collect();
    Some(format!(
        "SELECT segment, description, members FROM ({}) ORDER BY n",
        counts.join(" UNION ALL ")
    ))
}

/// The profile of `entity.segment` by the tags `by` (quoted, comma-separated), shares and TGI
/// rounded for reading.
fn showcase_profile_sql(entity: &str, segment: &str, by: &str) -> String {
    format!(
        "SELECT tag, value, segment_count, round(segment_share, 3) AS segment_share, \
                population_count, round(population_share, 3) AS population_share, \
                round(tgi, 1) AS tgi \
         FROM segment_profile('{entity}.{segment}', {by})"
    )
}

/// What the demo prints after preparing: headings (in table format only) and query results.
struct Summary<'a> {
    engine: &'a Engine,
    print: &'a PrintOptions,
    out: std::io::StdoutLock<'static>,
}

impl Summary<'_> {
    /// A heading, shown in table format only (csv and json stay machine-readable).
    fn say(&mut self, text: &str) {
        if self.print.format == Format::Table {
            use std::io::Write;
            let _ = writeln!(self.out, "\n{text}");
        }
    }

    async fn show(&mut self, outputs: Vec<Output>) -> Result<()> {
        for output in outputs {
            print_output(output, self.print, &mut self.out).await?;
        }
        Ok(())
    }

    async fn query(&mut self, sql: &str) -> Result<()> {
        let outputs = self.engine.run_script(sql).await?;
        self.show(outputs).await
    }

    /// Members of every segment of `entity`, if it has any.
    async fn segment_sizes(&mut self, entity: &str) -> Result<()> {
        let catalog = self.engine.catalog();
        let Some(sql) = segment_sizes_sql(entity, catalog.segments_of(entity)) else {
            return Ok(());
        };
        self.say(&format!(
            "Segments (SELECT count(*) FROM {entity}.<segment>):"
        ));
        self.query(&sql).await
    }

    /// The industry's showcase segment profiled against the population, if it exists.
    async fn showcase_profile(&mut self, industry: Industry) -> Result<()> {
        let entity = industry.entity();
        let (segment, by, _) = industry.showcase();
        let name = QualifiedName {
            entity: entity.into(),
            name: segment.into(),
        };
        if self.engine.catalog().find_segment(&name).is_none() {
            return Ok(());
        }
        self.say(&format!(
            "Segment profile (群体画像) of {segment} against all {entity}s, TGI = segment share / population share x 100 \
             (PROFILE SEGMENT {entity}.{segment} BY {}):",
            by.replace('\'', "")
        ));
        self.query(&showcase_profile_sql(entity, segment, by)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(name: &str, position: i64, description: Option<&str>) -> SegmentDef {
        SegmentDef {
            entity: "customer".into(),
            name: name.into(),
            description: description.map(str::to_string),
            definition: "true".into(),
            tags: Vec::new(),
            segments: Vec::new(),
            version: 1,
            position,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn generated_line_lists_rows_per_table() {
        assert_eq!(
            generated_line(&[("customers", 20), ("orders", 300)], "/w/demo"),
            "Generated 20 customers, 300 orders in /w/demo"
        );
    }

    #[test]
    fn segment_sizes_count_every_segment_in_creation_order() {
        assert_eq!(segment_sizes_sql("customer", &[]), None);
        let segments = [
            segment("vip", 1, Some("Big spenders")),
            segment("new", 2, None),
        ];
        assert_eq!(
            segment_sizes_sql("customer", &segments).as_deref(),
            Some(
                "SELECT segment, description, members FROM (\
                 SELECT 1 AS n, 'vip' AS segment, 'Big spenders' AS description, count(*) AS members FROM customer.\"vip\" \
                 UNION ALL \
                 SELECT 2 AS n, 'new' AS segment, '' AS description, count(*) AS members FROM customer.\"new\"\
                 ) ORDER BY n"
            )
        );
    }

    #[test]
    fn showcase_profile_reads_the_table_function() {
        let sql = showcase_profile_sql("customer", "high_value", "'age_band', 'city_tier'");
        assert!(
            sql.ends_with("FROM segment_profile('customer.high_value', 'age_band', 'city_tier')"),
            "{sql}"
        );
    }
}
