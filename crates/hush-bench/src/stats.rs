//! Percentiles, the generated secrets documents, and a small random source.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Nearest-rank percentile of sorted samples (`p` in 0..=100).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `{n, min, p50, p90, p99, max, mean}` of millisecond samples.
pub fn summary(samples: &[f64]) -> Value {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let mean = s.iter().sum::<f64>() / s.len().max(1) as f64;
    json!({
        "n": s.len(),
        "min_ms": s.first().copied().unwrap_or(f64::NAN),
        "p50_ms": percentile(&s, 50.0),
        "p90_ms": percentile(&s, 90.0),
        "p99_ms": percentile(&s, 99.0),
        "max_ms": s.last().copied().unwrap_or(f64::NAN),
        "mean_ms": mean,
    })
}

pub fn emit(value: &Value) {
    println!("RESULT {value}");
}

/// The same document `../shared/bench/streamlit-secrets.py` generates (`make_toml`).
pub fn make_toml(n: usize) -> String {
    let mut out = String::from("# generated secrets for benchmarking\n");
    for i in 0..n {
        out.push_str(&format!(
            "key_{i:05} = \"v{i:05}-abcdefghijklmnopqrstuvwxyz0\"\n"
        ));
    }
    out
}

/// `bench_value = "VALUE"` followed by `make_toml(n)`'s keys.
pub fn doc_with_value(n: usize, value: &str) -> String {
    format!("bench_value = \"{value}\"\n{}", make_toml(n))
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// xorshift64*: enough to spread pauses and make values unique.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1;
        Rng(seed ^ u64::from(std::process::id()) << 32)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi.saturating_sub(lo) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 50.0);
        assert_eq!(percentile(&s, 99.0), 99.0);
        assert_eq!(percentile(&s, 100.0), 100.0);
        assert_eq!(percentile(&s, 0.0), 1.0);
    }

    #[test]
    fn generated_document_matches_the_streamlit_script() {
        assert_eq!(
            make_toml(2),
            "# generated secrets for benchmarking\n\
             key_00000 = \"v00000-abcdefghijklmnopqrstuvwxyz0\"\n\
             key_00001 = \"v00001-abcdefghijklmnopqrstuvwxyz0\"\n"
        );
        let doc = hush_core::Document::parse(&doc_with_value(3, "x")).unwrap();
        assert_eq!(doc.env().exported.len(), 4);
    }
}
