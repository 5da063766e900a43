//! `kmeans(k, feature1, feature2, …) OVER ()`: the k-means cluster of every row over
//! standardised features, as a model tag. Deterministic: k-means++ seeding (greedy, as
//! scikit-learn does it) from a fixed seed, a few restarts keeping the lowest inertia, and
//! clusters numbered 1..k in order of their centres, so the same data always gives the same ids.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::window_doc_sections::DOC_SECTION_ANALYTICAL;
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, Signature, Volatility, WindowUDFImpl,
};

use super::quantile::constant;

/// The fixed seed of every k-means run.
pub const SEED: u64 = 0x7A6_F0510;
const RESTARTS: u64 = 3;
const MAX_ITERATIONS: usize = 300;
/// Lloyd stops once the centres moved less than this in one iteration (the sum of their squared
/// moves, in standardised units): scikit-learn's default `tol` for features of variance 1.
/// Without it a few points on a border can keep flipping for hundreds of iterations over
/// millions of rows.
const TOLERANCE: f64 = 1e-4;

/// SplitMix64: a small, well-known deterministic generator (no dependency, same on every
/// platform).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Row-major points: `dims` values per point.
struct Points<'a> {
    data: &'a [f64],
    dims: usize,
}

impl Points<'_> {
    fn len(&self) -> usize {
        self.data.len() / self.dims
    }
    fn point(&self, i: usize) -> &[f64] {
        &self.data[i * self.dims..(i + 1) * self.dims]
    }
}

fn distance2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Index of the point whose cumulative weight first exceeds `target`.
fn pick(weights: &[f64], target: f64) -> usize {
    let mut acc = 0.0;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if acc > target {
            return i;
        }
    }
    weights.len() - 1
}

/// Greedy k-means++ seeding: each new centre is the best of `2 + ln k` candidates drawn with
/// probability proportional to the squared distance to the nearest centre so far.
fn seed_centres(points: &Points, k: usize, rng: &mut SplitMix64) -> Vec<f64> {
    let n = points.len();
    let trials = 2 + (k as f64).ln() as usize;
    let first = (rng.next() % n as u64) as usize;
    let mut centres = points.point(first).to_vec();
    let mut closest: Vec<f64> = (0..n)
        .map(|i| distance2(points.point(i), points.point(first)))
        .collect();
    for _ in 1..k {
        let total: f64 = closest.iter().sum();
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for _ in 0..trials {
            let candidate = if total > 0.0 {
                pick(&closest, rng.unit() * total)
            } else {
                (rng.next() % n as u64) as usize
            };
            let c = points.point(candidate);
            let updated: Vec<f64> = (0..n)
                .map(|i| closest[i].min(distance2(points.point(i), c)))
                .collect();
            let potential: f64 = updated.iter().sum();
            if best.as_ref().is_none_or(|b| potential < b.0) {
                best = Some((potential, candidate, updated));
            }
        }
        if let Some((_, candidate, updated)) = best {
            centres.extend_from_slice(points.point(candidate));
            closest = updated;
        }
    }
    centres
}

/// Lloyd's iterations from `centres` until no point changes cluster or the centres move less
/// than [`TOLERANCE`]. Returns (inertia, assignment, centres).
fn lloyd(points: &Points, mut centres: Vec<f64>, k: usize) -> (f64, Vec<usize>, Vec<f64>) {
    let (n, dims) = (points.len(), points.dims);
    let mut assignment = vec![usize::MAX; n];
    for _ in 0..MAX_ITERATIONS {
        let mut changed = false;
        for (i, slot) in assignment.iter_mut().enumerate() {
            let p = points.point(i);
            let mut nearest = 0;
            let mut nearest_d = f64::INFINITY;
            for c in 0..k {
                let d = distance2(p, &centres[c * dims..(c + 1) * dims]);
                if d < nearest_d {
                    (nearest, nearest_d) = (c, d);
                }
            }
            if *slot != nearest {
                *slot = nearest;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        let mut sums = vec![0.0; k * dims];
        let mut counts = vec![0usize; k];
        for (i, &c) in assignment.iter().enumerate() {
            counts[c] += 1;
            for (d, v) in points.point(i).iter().enumerate() {
                sums[c * dims + d] += v;
            }
        }
        let mut shift = 0.0;
        for c in 0..k {
            // An emptied cluster keeps its centre.
            if counts[c] > 0 {
                for d in 0..dims {
                    let moved = sums[c * dims + d] / counts[c] as f64;
                    shift += (moved - centres[c * dims + d]).powi(2);
                    centres[c * dims + d] = moved;
                }
            }
        }
        if shift <= TOLERANCE {
            break;
        }
    }
    let inertia = assignment
        .iter()
        .enumerate()
        .map(|(i, &c)| distance2(points.point(i), &centres[c * dims..(c + 1) * dims]))
        .sum();
    (inertia, assignment, centres)
}

/// Clusters `data` (row-major, `dims` values per point, already standardised) into `k` groups;
/// returns ids 1..=k, numbered in lexicographic order of the cluster centres. Each point gets
/// the cluster of its nearest centre.
///
/// The result depends only on the points, not on their order: they are clustered in sorted
/// order (a query's rows can arrive in any order from parallel scans and joins).
pub fn kmeans(data: &[f64], dims: usize, k: usize) -> Vec<i64> {
    let Some((centres, ids)) = fit_centres(data, dims, k) else {
        return vec![1; data.len() / dims.max(1)];
    };
    data.chunks(dims)
        .map(|p| ids[nearest(&centres, dims, p)])
        .collect()
}

/// The index of the centre nearest to `point` (the first of equally near ones).
fn nearest(centres: &[f64], dims: usize, point: &[f64]) -> usize {
    let mut best = 0;
    let mut best_d = f64::INFINITY;
    for (c, centre) in centres.chunks(dims).enumerate() {
        let d = distance2(point, centre);
        if d < best_d {
            (best, best_d) = (c, d);
        }
    }
    best
}

/// Fits `k` centres to `data` (row-major, standardised) taken in sorted order; returns the
/// centres (row-major, fit order) and each one's id, 1..=k in lexicographic order of the
/// centres. `None` when there are no points or no dimensions.
fn fit_centres(data: &[f64], dims: usize, k: usize) -> Option<(Vec<f64>, Vec<i64>)> {
    let n = data.len() / dims.max(1);
    if n == 0 || dims == 0 {
        return None;
    }
    let point = |i: usize| &data[i * dims..(i + 1) * dims];
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        point(a)
            .iter()
            .zip(point(b))
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let sorted: Vec<f64> = order
        .iter()
        .flat_map(|&i| point(i).iter().copied())
        .collect();
    let points = Points {
        data: &sorted,
        dims,
    };
    let k = k.min(n);
    // The restarts are independent: each on a thread of its own, the lowest inertia kept (the
    // earliest restart on a tie, as one after the other).
    let runs: Vec<(f64, Vec<f64>)> = std::thread::scope(|scope| {
        let points = &points;
        let handles: Vec<_> = (0..RESTARTS)
            .map(|restart| {
                scope.spawn(move || {
                    let mut rng = SplitMix64(SEED.wrapping_add(restart));
                    let centres = seed_centres(points, k, &mut rng);
                    let (inertia, _, centres) = lloyd(points, centres, k);
                    (inertia, centres)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut best: Option<(f64, Vec<f64>)> = None;
    for run in runs {
        if best.as_ref().is_none_or(|b| run.0 < b.0) {
            best = Some(run);
        }
    }
    let (_, centres) = best?;
    let mut rank: Vec<usize> = (0..k).collect();
    rank.sort_by(|&a, &b| {
        centres[a * dims..(a + 1) * dims]
            .iter()
            .zip(&centres[b * dims..(b + 1) * dims])
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut ids = vec![0i64; k];
    for (r, &c) in rank.iter().enumerate() {
        ids[c] = r as i64 + 1;
    }
    Some((centres, ids))
}

/// Each column scaled to mean 0 and (population) standard deviation 1; a constant column
/// becomes all zeros. Returns each column's (mean, standard deviation).
pub fn standardise(columns: &mut [Vec<f64>]) -> Vec<(f64, f64)> {
    columns
        .iter_mut()
        .map(|column| {
            let n = column.len() as f64;
            let mean = column.iter().sum::<f64>() / n;
            let std = (column.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
            for v in column.iter_mut() {
                *v = scale(*v, mean, std);
            }
            (mean, std)
        })
        .collect()
}

fn scale(v: f64, mean: f64, std: f64) -> f64 {
    if std > 0.0 { (v - mean) / std } else { 0.0 }
}

/// A k-means model fitted over a whole population: how each feature was standardised, the
/// centres and their cluster ids. `kmeans(k, …) OVER ()` is this model fitted and applied to
/// every row at once; `kmeans_fit` / `kmeans_apply` are the same in two steps, so a refresh
/// can fit it over the population without holding the population's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct KMeansModel {
    /// Mean and standard deviation of each feature.
    pub scales: Vec<(f64, f64)>,
    /// The centres in standardised space, row-major, in fit order.
    pub centres: Vec<f64>,
    /// The cluster id (1..=k) of each centre.
    pub ids: Vec<i64>,
}

impl KMeansModel {
    /// Fits `k` clusters to the complete rows given as one column per feature.
    pub fn fit(mut columns: Vec<Vec<f64>>, k: usize) -> Self {
        let scales = standardise(&mut columns);
        let dims = columns.len();
        let rows = columns.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows * dims);
        for row in 0..rows {
            data.extend(columns.iter().map(|c| c[row]));
        }
        drop(columns);
        let (centres, ids) = fit_centres(&data, dims, k).unwrap_or_default();
        Self {
            scales,
            centres,
            ids,
        }
    }

    /// The cluster of a row's raw (unstandardised) features, which are standardised in place;
    /// `None` without centres.
    pub fn assign(&self, features: &mut [f64]) -> Option<i64> {
        let dims = self.scales.len();
        if self.ids.is_empty() || features.len() != dims {
            return None;
        }
        for (v, &(mean, std)) in features.iter_mut().zip(&self.scales) {
            *v = scale(*v, mean, std);
        }
        Some(self.ids[nearest(&self.centres, dims, features)])
    }

    /// The model as one list of numbers: dims, k, (mean, std) per feature, then each centre's
    /// id followed by its coordinates.
    pub fn to_values(&self) -> Vec<f64> {
        let dims = self.scales.len();
        let mut out = vec![dims as f64, self.ids.len() as f64];
        for &(mean, std) in &self.scales {
            out.extend([mean, std]);
        }
        for (id, centre) in self.ids.iter().zip(self.centres.chunks(dims.max(1))) {
            out.push(*id as f64);
            out.extend_from_slice(centre);
        }
        out
    }

    /// The inverse of [`KMeansModel::to_values`]; `None` when `values` is not such a list.
    pub fn from_values(values: &[f64]) -> Option<Self> {
        let (&dims, &k) = (values.first()?, values.get(1)?);
        let (dims, k) = (dims as usize, k as usize);
        if values.len() != 2 + 2 * dims + k * (1 + dims) {
            return None;
        }
        let scales = values[2..2 + 2 * dims]
            .chunks(2)
            .map(|c| (c[0], c[1]))
            .collect();
        let (mut centres, mut ids) = (Vec::with_capacity(k * dims), Vec::with_capacity(k));
        for c in values[2 + 2 * dims..].chunks(1 + dims) {
            ids.push(c[0] as i64);
            centres.extend_from_slice(&c[1..]);
        }
        Some(Self {
            scales,
            centres,
            ids,
        })
    }
}

/// The constant `k` of a kmeans call.
pub(crate) fn clusters(k: ScalarValue) -> Result<usize> {
    match k.cast_to(&DataType::Int64)? {
        ScalarValue::Int64(Some(k)) if k >= 1 => Ok(k as usize),
        other => exec_err!("kmeans(k, …): k must be a positive integer, got {other}"),
    }
}

/// The complete rows of `features` (no NULL or non-finite value): their row numbers and the
/// values as one column per feature.
pub(crate) fn complete_rows(
    features: &[ArrayRef],
    num_rows: usize,
) -> Result<(Vec<usize>, Vec<Vec<f64>>)> {
    let features = features
        .iter()
        .map(|a| {
            Ok(cast(a, &DataType::Float64)?
                .as_primitive::<Float64Type>()
                .clone())
        })
        .collect::<Result<Vec<_>>>()?;
    let complete: Vec<usize> = (0..num_rows)
        .filter(|&i| {
            features
                .iter()
                .all(|f| f.is_valid(i) && f.value(i).is_finite())
        })
        .collect();
    let columns = features
        .iter()
        .map(|f| complete.iter().map(|&i| f.value(i)).collect())
        .collect();
    Ok((complete, columns))
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KMeans {
    signature: Signature,
}

impl KMeans {
    pub fn new() -> Self {
        Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

impl Default for KMeans {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug)]
struct KMeansEvaluator;

impl PartitionEvaluator for KMeansEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let k = clusters(constant("kmeans", values, 0, "k")?)?;
        // Rows with a NULL (or NaN) feature get no cluster.
        let (complete, columns) = complete_rows(&values[1..], num_rows)?;
        let model = KMeansModel::fit(columns.clone(), k);
        let mut out = vec![None; num_rows];
        let mut point = vec![0.0; columns.len()];
        for (n, &row) in complete.iter().enumerate() {
            for (p, c) in point.iter_mut().zip(&columns) {
                *p = c[n];
            }
            out[row] = model.assign(&mut point);
        }
        Ok(Arc::new(Int64Array::from(out)))
    }
}

impl WindowUDFImpl for KMeans {
    fn name(&self) -> &str {
        "kmeans"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(KMeansEvaluator))
    }

    fn field(&self, args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let fields = args.input_fields();
        if fields.len() < 2 {
            return plan_err!("kmeans(k, feature1, …) needs k and at least one feature");
        }
        if !fields[0].data_type().is_integer() {
            return plan_err!(
                "kmeans: k must be an integer, got {}",
                fields[0].data_type()
            );
        }
        if let Some(f) = fields[1..]
            .iter()
            .find(|f| !f.data_type().is_numeric() && !f.data_type().is_null())
        {
            return plan_err!(
                "kmeans: every feature must be a number; {} is {}",
                f.name(),
                f.data_type()
            );
        }
        Ok(Arc::new(Field::new(args.name(), DataType::Int64, true)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&KMEANS_DOC)
    }
}

static KMEANS_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_ANALYTICAL,
        "k-means cluster id (1..k) of each row of the window's partition (OVER () for the whole \
         population), over the features standardised to mean 0 and standard deviation 1. \
         Deterministic: greedy k-means++ seeding from a fixed seed, 3 restarts keeping the lowest \
         inertia (run in parallel), Lloyd iterations until no point moves or the centres move \
         less than 1e-4 (squared, standardised; scikit-learn's tol); clusters are numbered in order of their \
         centres (cluster 1 has the lowest centre on the first feature). Rows with a NULL feature \
         get NULL.",
        "kmeans(k, feature1 [, feature2, …]) OVER ()",
    )
    .with_argument("k", "number of clusters (integer literal)")
    .with_argument("feature1, …", "numeric features")
    .with_sql_example(
        "CREATE TAG customer.rfm_cluster KIND model AS\n  kmeans(4, recency_days, orders_365d, spend_365d) OVER ()",
    )
    .build()
});
