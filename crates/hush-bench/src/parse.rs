//! Loading a secrets file the way an app does: `hush_client::Secrets::from_path` (read, parse,
//! build the st.secrets-style table), first lookup, and the environment projection. Timed like Python's `timeit` (autorange to ≥ 0.2 s per repeat; best
//! and median per call over `repeat` repeats), so the numbers sit beside tomllib's and Streamlit's.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use hush_client::Secrets;
use serde_json::json;

use crate::stats::{emit, make_toml};

/// One timed operation.
type Case<'a> = Box<dyn FnMut() + 'a>;

/// Seconds per call: (best, median, calls per repeat).
fn time_it(mut f: impl FnMut(), repeat: usize) -> (f64, f64, u64) {
    let run = |f: &mut dyn FnMut(), n: u64| {
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        start.elapsed().as_secs_f64()
    };
    let mut number = 1;
    'auto: for scale in [1u64, 10, 100, 1_000, 10_000, 100_000, 1_000_000] {
        for step in [1, 2, 5] {
            number = step * scale;
            if run(&mut f, number) >= 0.2 {
                break 'auto;
            }
        }
    }
    let mut times: Vec<f64> = (0..repeat)
        .map(|_| run(&mut f, number) / number as f64)
        .collect();
    times.sort_by(f64::total_cmp);
    (times[0], times[times.len() / 2], number)
}

pub fn run(sizes: &[usize], dir: &Path, repeat: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for &n in sizes {
        let text = make_toml(n);
        let path = dir.join(format!("secrets_{n}.toml"));
        std::fs::write(&path, &text)?;
        let doc = hush_core::Document::parse(&text)?;
        anyhow::ensure!(doc.env().exported.len() == n, "expected {n} variables");

        let cases: [(&str, Case); 3] = [
            (
                "parse",
                Box::new(|| {
                    black_box(hush_core::Document::parse(black_box(&text)).ok());
                }),
            ),
            (
                "from_path",
                Box::new(|| {
                    let s = Secrets::from_path(&path).expect("secrets file");
                    black_box(s.value("key_00000"));
                }),
            ),
            (
                "load",
                Box::new(|| {
                    let s = Secrets::from_path(&path).expect("secrets file");
                    black_box(s.value("key_00000"));
                    black_box(s.env());
                }),
            ),
        ];
        for (what, f) in cases {
            let (best, median, number) = time_it(f, repeat);
            emit(&json!({
                "bench": "parse",
                "impl": "hush",
                "what": what,
                "keys": n,
                "bytes": text.len(),
                "best_ms": best * 1e3,
                "median_ms": median * 1e3,
                "number": number,
                "repeat": repeat,
            }));
        }
    }
    Ok(())
}
