//! `tagfusion demo`: generate the retail data set into the warehouse, apply the retail template,
//! refresh the customer profile and show what came out.

pub mod data;

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{GlobalOptions, print_output};
use crate::engine::{Engine, Output};
use crate::error::{Error, Result};
use crate::parser::quote_str;

/// The retail tag template shipped with the binary (`sql/templates/retail.sql`).
pub const RETAIL_TEMPLATE: &str = include_str!("../../sql/templates/retail.sql");

/// Seed of the demo data: the same for every run, so every run shows the same customers.
pub const SEED: u64 = 20261123;

/// Generates the demo data under `dir`, registers its tables, applies the retail template and
/// refreshes the customer profile as of the data's end. Returns what was generated and the
/// refresh summary. `tick` follows the generation (customers done).
pub async fn prepare(
    engine: &Engine,
    dir: &std::path::Path,
    customers: usize,
    tick: impl FnMut(usize),
) -> Result<(data::Generated, Vec<Output>)> {
    let generated = data::generate(dir, customers, SEED, tick)?;
    let mut setup = String::new();
    for table in ["customers", "stores", "orders", "app_events"] {
        let location = dir.join(table);
        setup.push_str(&format!(
            "CREATE OR REPLACE EXTERNAL TABLE {table} STORED AS PARQUET LOCATION {};\n",
            quote_str(&format!("{}/", location.display()))
        ));
    }
    engine.run_script(&setup).await?;
    for statement in engine.parse(RETAIL_TEMPLATE)? {
        engine.execute(&statement).await.map_err(|e| {
            Error::invalid(format!(
                "sql/templates/retail.sql:{}: {}",
                statement.location,
                e.root()
            ))
        })?;
    }
    let refresh = engine
        .run_script(&format!(
            "REFRESH ENTITY customer AS OF TIMESTAMP {}",
            quote_str(data::DATA_END)
        ))
        .await?;
    Ok((generated, refresh))
}

pub async fn run(global: &GlobalOptions, customers: usize) -> Result<()> {
    if customers == 0 {
        return Err(Error::invalid("--customers must be at least 1"));
    }
    let clock = Instant::now();
    let engine = global.open_engine().await?;
    let dir = engine
        .warehouse()
        .local_path("demo")
        .ok_or_else(|| Error::invalid("the demo needs a local warehouse directory"))?;
    let terminal = std::io::stderr().is_terminal();

    let bar = if terminal {
        ProgressBar::new(customers as u64)
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} generating demo data [{bar:30}] {pos}/{len} customers ({elapsed})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let (generated, refresh) = prepare(&engine, &dir, customers, |done| {
        bar.set_position(done as u64)
    })
    .await?;
    bar.finish_and_clear();

    let format = global.format();
    let mut out = std::io::stdout().lock();
    let say = |out: &mut std::io::StdoutLock<'_>, text: &str| {
        if format == crate::cli::Format::Table {
            use std::io::Write;
            let _ = writeln!(out, "\n{text}");
        }
    };
    say(
        &mut out,
        &format!(
            "Generated {} customers, {} stores, {} orders and {} app events in {}",
            generated.customers,
            generated.stores,
            generated.orders,
            generated.events,
            dir.display()
        ),
    );
    say(
        &mut out,
        "Refreshed the customer profile (snapshot as of the end of the data):",
    );
    for output in refresh {
        print_output(output, format, &mut out).await?;
    }
    say(
        &mut out,
        "Tags by kind and category (SELECT … FROM tagfusion.tags):",
    );
    let summary = engine
        .run_script(
            "SELECT kind, split_part(category, '/', 1) AS category, count(*) AS tags, \
                    array_to_string(array_slice(array_agg(name ORDER BY position), 1, 4), ', ') AS examples \
             FROM tagfusion.tags WHERE entity = 'customer' GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .await?;
    for output in summary {
        print_output(output, format, &mut out).await?;
    }
    let segments: Vec<String> = engine
        .catalog()
        .await
        .segments_of("customer")
        .iter()
        .map(|s| {
            format!(
                "SELECT {} AS n, {} AS segment, {} AS description, count(*) AS customers FROM customer.{}",
                s.position,
                quote_str(&s.name),
                quote_str(s.description.as_deref().unwrap_or("")),
                crate::parser::quote_ident(&s.name)
            )
        })
        .collect();
    if !segments.is_empty() {
        say(
            &mut out,
            "Segments (SELECT count(*) FROM customer.<segment>):",
        );
        let sql = format!(
            "SELECT segment, description, customers FROM ({}) ORDER BY n",
            segments.join(" UNION ALL ")
        );
        for output in engine.run_script(&sql).await? {
            print_output(output, format, &mut out).await?;
        }
    }
    if engine
        .catalog()
        .await
        .find_segment(&crate::parser::QualifiedName {
            entity: "customer".into(),
            name: "high_value".into(),
        })
        .is_some()
    {
        say(
            &mut out,
            "Segment profile (群体画像) of high_value against all customers, TGI = segment share / population share x 100 \
             (PROFILE SEGMENT customer.high_value BY age_band, city_tier):",
        );
        let profile = engine
            .run_script(
                "SELECT tag, value, segment_count, round(segment_share, 3) AS segment_share, \
                        population_count, round(population_share, 3) AS population_share, \
                        round(tgi, 1) AS tgi \
                 FROM segment_profile('customer.high_value', 'age_band', 'city_tier')",
            )
            .await?;
        for output in profile {
            print_output(output, format, &mut out).await?;
        }
    }
    say(
        &mut out,
        "Example profiles (SELECT … FROM customer.profile):",
    );
    let profiles = engine
        .run_script(
            "SELECT customer_id, gender, age_band, city, member_level, orders_180d, spend_365d, \
                    favorite_category, lifecycle_stage, rfm_class, important_customer \
             FROM customer.profile ORDER BY customer_id LIMIT 5",
        )
        .await?;
    for output in profiles {
        print_output(output, format, &mut out).await?;
    }
    say(
        &mut out,
        &format!(
            "Done in {:.1}s. Try: tagfusion run -c \"SHOW TAGS FOR customer\" or \
             -c \"DESCRIBE TAG customer.rfm_class\" (warehouse: {})",
            clock.elapsed().as_secs_f64(),
            global.warehouse
        ),
    );
    Ok(())
}
