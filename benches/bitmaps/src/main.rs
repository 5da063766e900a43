//! roaring (pure Rust) vs croaring (CRoaring) on TagFusion segments: dense u32 customer ids,
//! random subsets of a universe of N customers. Every figure is the median of REPS timed runs
//! (after one untimed warm-up), in milliseconds. ratio = roaring / croaring (> 1: croaring faster).
//! Results are dropped outside the timed region.

use croaring::{Bitmap, BitmapView, Portable};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use roaring::RoaringBitmap;
use std::hint::black_box;
use std::time::Instant;

const REPS: usize = 21; // odd, so the median is one run
const BATCH: usize = 8192; // ids per Arrow batch as an aggregate's update_batch sees them
const UNIVERSES: [u32; 2] = [1_000_000, 10_000_000];
// The 4th segment (another 1%, other seed) only serves the sparse ∧ sparse pair.
const DENSITIES: [(f64, &str); 4] = [(0.25, "25%"), (0.40, "40%"), (0.01, "1%"), (0.01, "1%b")];

fn median_ms<T>(mut f: impl FnMut() -> T) -> f64 {
    drop(black_box(f()));
    let mut times: Vec<f64> = (0..REPS)
        .map(|_| {
            let t = Instant::now();
            let out = black_box(f());
            let ms = t.elapsed().as_secs_f64() * 1e3;
            drop(out);
            ms
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[REPS / 2]
}

/// A segment: each customer id in 0..n is a member with probability `density`; sorted ascending.
fn segment(n: u32, density: f64, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).filter(|_| rng.random_bool(density)).collect()
}

fn ser_roaring(b: &RoaringBitmap) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.serialized_size());
    b.serialize_into(&mut out).unwrap();
    out
}

struct Table(Vec<String>);
impl Table {
    fn row(&mut self, op: &str, n: u32, dens: &str, r: f64, c: f64) {
        self.0.push(format!("| {op} | {n} | {dens} | {r:.3} | {c:.3} | {:.1} |", r / c));
        eprintln!("{}", self.0.last().unwrap()); // progress
    }
}

struct Seg {
    label: &'static str,
    ids: Vec<u32>,
    r: RoaringBitmap,
    c: Bitmap,
}

fn main() {
    let mut t = Table(Vec::new());
    let mut sizes = Vec::new();
    let mut interop = Vec::new();

    for n in UNIVERSES {
        let segs: Vec<Seg> = DENSITIES
            .iter()
            .enumerate()
            .map(|(i, &(d, label))| {
                let ids = segment(n, d, 42 + i as u64);
                let r = RoaringBitmap::from_sorted_iter(ids.iter().copied()).unwrap();
                let c = Bitmap::of(&ids);
                assert_eq!(r.len(), c.cardinality());
                Seg { label, ids, r, c }
            })
            .collect();

        // 1. build
        for s in &segs[..3] {
            let ids = &s.ids;
            t.row("build: from sorted ids (from_sorted_iter / of)", n, s.label,
                median_ms(|| RoaringBitmap::from_sorted_iter(ids.iter().copied()).unwrap()),
                median_ms(|| Bitmap::of(ids)));
            t.row("build: insert per id, 8192-id batches (insert / add)", n, s.label,
                median_ms(|| {
                    let mut b = RoaringBitmap::new();
                    for chunk in ids.chunks(BATCH) {
                        for &x in chunk { b.insert(x); }
                    }
                    b
                }),
                median_ms(|| {
                    let mut b = Bitmap::new();
                    for chunk in ids.chunks(BATCH) {
                        for &x in chunk { b.add(x); }
                    }
                    b
                }));
            t.row("build: one call per 8192-id batch (extend / add_many)", n, s.label,
                median_ms(|| {
                    let mut b = RoaringBitmap::new();
                    for chunk in ids.chunks(BATCH) { b.extend(chunk.iter().copied()); }
                    b
                }),
                median_ms(|| {
                    let mut b = Bitmap::new();
                    for chunk in ids.chunks(BATCH) { b.add_many(chunk); }
                    b
                }));
        }

        // 2.-3. set operations on pairs of segments
        for (i, j) in [(0, 1), (1, 2), (2, 3)] {
            let (a, b) = (&segs[i], &segs[j]);
            let pair = format!("{} ∧ {}", a.label, b.label);
            t.row("AND -> new bitmap", n, &pair, median_ms(|| &a.r & &b.r), median_ms(|| a.c.and(&b.c)));
            t.row("OR -> new bitmap", n, &pair, median_ms(|| &a.r | &b.r), median_ms(|| a.c.or(&b.c)));
            t.row("ANDNOT -> new bitmap", n, &pair, median_ms(|| &a.r - &b.r), median_ms(|| a.c.andnot(&b.c)));
            t.row("AND cardinality (intersection_len / and_cardinality)", n, &pair,
                median_ms(|| a.r.intersection_len(&b.r)), median_ms(|| a.c.and_cardinality(&b.c)));
            // As a scalar bitmap_and / count over Arrow Binary values would run: bytes in, bytes out.
            let (ra, rb, ca, cb) = (ser_roaring(&a.r), ser_roaring(&b.r), a.c.serialize::<Portable>(), b.c.serialize::<Portable>());
            t.row("e2e bitmap_and: 2 checked deser + AND + ser", n, &pair,
                median_ms(|| {
                    let x = RoaringBitmap::deserialize_from(&ra[..]).unwrap();
                    let y = RoaringBitmap::deserialize_from(&rb[..]).unwrap();
                    ser_roaring(&(x & y))
                }),
                median_ms(|| {
                    let x = Bitmap::try_deserialize::<Portable>(&ca).unwrap();
                    let y = Bitmap::try_deserialize::<Portable>(&cb).unwrap();
                    x.and(&y).serialize::<Portable>()
                }));
            t.row("e2e count(bitmap_and): 2 checked deser + AND card.", n, &pair,
                median_ms(|| {
                    let x = RoaringBitmap::deserialize_from(&ra[..]).unwrap();
                    let y = RoaringBitmap::deserialize_from(&rb[..]).unwrap();
                    x.intersection_len(&y)
                }),
                median_ms(|| {
                    let x = Bitmap::try_deserialize::<Portable>(&ca).unwrap();
                    let y = Bitmap::try_deserialize::<Portable>(&cb).unwrap();
                    x.and_cardinality(&y)
                }));
            t.row("e2e count(bitmap_and): unchecked deser / zero-copy view", n, &pair,
                median_ms(|| {
                    let x = RoaringBitmap::deserialize_unchecked_from(&ra[..]).unwrap();
                    let y = RoaringBitmap::deserialize_unchecked_from(&rb[..]).unwrap();
                    x.intersection_len(&y)
                }),
                median_ms(|| {
                    // SAFETY: ca/cb were produced by serialize::<Portable>() just above.
                    let (x, y) = unsafe { (BitmapView::deserialize::<Portable>(&ca), BitmapView::deserialize::<Portable>(&cb)) };
                    x.and_cardinality(&y)
                }));
        }

        // 4.-5. cardinality, run_optimize, portable serialization
        for s in segs.into_iter().take(3) {
            let (mut r, mut c) = (s.r, s.c);
            t.row("cardinality (len / cardinality)", n, s.label, median_ms(|| r.len()), median_ms(|| c.cardinality()));
            let before = (r.serialized_size(), c.get_serialized_size_in_bytes::<Portable>());
            let changed = (r.optimize(), c.run_optimize());
            let after = (r.serialized_size(), c.get_serialized_size_in_bytes::<Portable>());
            sizes.push(format!("| {n} | {} | {} | {} -> {} (changed: {}) | {} -> {} (changed: {}) |",
                s.label, r.len(), before.0, after.0, changed.0, before.1, after.1, changed.1));
            t.row("serialize portable -> Vec<u8>", n, s.label, median_ms(|| ser_roaring(&r)), median_ms(|| c.serialize::<Portable>()));
            let (rbytes, cbytes) = (ser_roaring(&r), c.serialize::<Portable>());
            t.row("deserialize portable (checked)", n, s.label,
                median_ms(|| RoaringBitmap::deserialize_from(&rbytes[..]).unwrap()),
                median_ms(|| Bitmap::try_deserialize::<Portable>(&cbytes).unwrap()));
            t.row("deserialize: unchecked / zero-copy view", n, s.label,
                median_ms(|| RoaringBitmap::deserialize_unchecked_from(&rbytes[..]).unwrap()),
                // SAFETY: cbytes came from serialize::<Portable>().
                median_ms(|| unsafe { BitmapView::deserialize::<Portable>(&cbytes) }.cardinality()));
            interop.push(check_interop(&format!("N={n} {}", s.label), &r, &c));
        }
    }

    // 6. interop on a bitmap with run containers too (random segments have none): ranges + sparse ids.
    let mut runs = RoaringBitmap::from_iter((0..500_000).chain(700_000..700_100).chain((1_000_000..3_000_000).step_by(97)));
    runs.optimize();
    let mut runs_c = Bitmap::of(&runs.iter().collect::<Vec<_>>());
    runs_c.run_optimize();
    interop.push(check_interop("ranges+sparse, run containers", &runs, &runs_c));

    println!("\n## roaring vs croaring (median of {REPS} runs, ms; ratio = roaring/croaring)\n");
    println!("| operation | N | density | roaring ms | croaring ms | ratio |\n|---|---|---|---|---|---|");
    t.0.iter().for_each(|l| println!("{l}"));
    println!("\n## Portable serialized size, bytes, before -> after run_optimize()/optimize()\n");
    println!("| N | density | cardinality | roaring | croaring |\n|---|---|---|---|---|");
    sizes.iter().for_each(|l| println!("{l}"));
    println!("\n## Interoperability (portable format, RoaringFormatSpec)\n");
    interop.iter().for_each(|l| println!("- {l}"));
    println!("\n## Versions (Cargo.lock)\n");
    for block in include_str!("../Cargo.lock").split("[[package]]") {
        let field = |k: &str| block.lines().find_map(|l| l.strip_prefix(k)).map(|v| v.trim_matches('"'));
        if let (Some(name), Some(ver)) = (field("name = "), field("version = ")) {
            if ["roaring", "croaring", "croaring-sys", "rand", "rand_chacha"].contains(&name) {
                println!("- {name} {ver}");
            }
        }
    }
    println!("\nBuild: cd benches/bitmaps && nice cargo run --release");
}

/// Serialize with each crate, deserialize with the other; compare cardinality, content and bytes.
fn check_interop(what: &str, r: &RoaringBitmap, c: &Bitmap) -> String {
    let (rbytes, cbytes) = (ser_roaring(r), c.serialize::<Portable>());
    let c_from_r = Bitmap::try_deserialize::<Portable>(&rbytes).expect("croaring reads roaring's bytes");
    let r_from_c = RoaringBitmap::deserialize_from(&cbytes[..]).expect("roaring reads croaring's bytes");
    let ok_rc = c_from_r.cardinality() == r.len() && c_from_r.iter().eq(r.iter());
    let ok_cr = r_from_c.len() == c.cardinality() && r_from_c.iter().eq(c.iter());
    format!("{what}: roaring->croaring {} (card {}), croaring->roaring {} (card {}), bytes identical: {}",
        if ok_rc { "OK" } else { "MISMATCH" }, c_from_r.cardinality(),
        if ok_cr { "OK" } else { "MISMATCH" }, r_from_c.len(), rbytes == cbytes)
}
