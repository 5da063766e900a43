use std::sync::LazyLock;

use datafusion::arrow::array::{Array, BooleanArray, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_MATH;

use crate::args::{Args, array};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// Mean earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance between two points in degrees, metres (haversine formula).
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

fn is_numeric(t: &DataType) -> bool {
    t.is_numeric() || t.is_null()
}

fn distances(args: &[Float64Array]) -> Float64Array {
    let rows = args[0].len();
    (0..rows)
        .map(|i| {
            if args[..4].iter().any(|a| a.is_null(i)) {
                None
            } else {
                Some(haversine_m(
                    args[0].value(i),
                    args[1].value(i),
                    args[2].value(i),
                    args[3].value(i),
                ))
            }
        })
        .collect()
}

/// `geo_distance_m(lat1, lon1, lat2, lon2)`: great-circle distance in metres.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GeoDistance {
    signature: Signature,
}

impl GeoDistance {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(4, Volatility::Immutable),
        }
    }
}

impl Default for GeoDistance {
    fn default() -> Self {
        Self::new()
    }
}

static GEO_DISTANCE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_MATH,
        "Great-circle (haversine) distance in metres between two WGS-84 points given in degrees; \
         null when any coordinate is null.",
        "geo_distance_m(lat1, lon1, lat2, lon2)",
    )
    .with_argument("lat1, lon1", "the first point, degrees")
    .with_argument("lat2, lon2", "the second point, degrees")
    .with_sql_example(
        "SELECT c.customer_id, min(geo_distance_m(c.lat, c.lon, s.lat, s.lon)) \
         FROM customers c CROSS JOIN stores s GROUP BY c.customer_id",
    )
    .build()
});

impl ScalarUDFImpl for GeoDistance {
    fn name(&self) -> &str {
        "geo_distance_m"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !args.iter().all(is_numeric) {
            return plan_err!(
                "geo_distance_m expects four numbers (lat1, lon1, lat2, lon2 in degrees), got {args:?}"
            );
        }
        Ok(DataType::Float64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let args = Args::new(&args);
        let floats = (0..4).map(|i| args.floats(i)).collect::<Result<Vec<_>>>()?;
        args.finish(array(distances(&floats)))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&GEO_DISTANCE_DOC)
    }
}

/// `geo_within(lat, lon, lat0, lon0, metres)`: whether a point lies within a radius of a centre.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct GeoWithin {
    signature: Signature,
}

impl GeoWithin {
    pub fn new() -> Self {
        Self {
            signature: Signature::any(5, Volatility::Immutable),
        }
    }
}

impl Default for GeoWithin {
    fn default() -> Self {
        Self::new()
    }
}

static GEO_WITHIN_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_MATH,
        "True when the point (lat, lon) lies within `metres` of the centre (lat0, lon0) by \
         great-circle distance; null when any argument is null. For map-based segments.",
        "geo_within(lat, lon, lat0, lon0, metres)",
    )
    .with_argument("lat, lon", "the point, degrees")
    .with_argument("lat0, lon0", "the centre, degrees")
    .with_argument("metres", "the radius in metres")
    .with_sql_example(
        "CREATE SEGMENT customer.near_bund AS geo_within(home_lat, home_lon, 31.2400, 121.4900, 3000)",
    )
    .build()
});

impl ScalarUDFImpl for GeoWithin {
    fn name(&self) -> &str {
        "geo_within"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if !args.iter().all(is_numeric) {
            return plan_err!(
                "geo_within expects five numbers (lat, lon, lat0, lon0 in degrees, metres), got {args:?}"
            );
        }
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let args = Args::new(&args);
        let floats = (0..5).map(|i| args.floats(i)).collect::<Result<Vec<_>>>()?;
        let d = distances(&floats);
        let radius = &floats[4];
        let within: BooleanArray = (0..d.len())
            .map(|i| {
                if d.is_null(i) || radius.is_null(i) {
                    None
                } else {
                    Some(d.value(i) <= radius.value(i))
                }
            })
            .collect();
        args.finish(array(within))
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&GEO_WITHIN_DOC)
    }
}
