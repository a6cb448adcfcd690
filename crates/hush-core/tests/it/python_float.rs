//! `python_float_str` against CPython's own `repr(float)`, on thousands of
//! values, with python3 called once for the whole batch.

#![allow(clippy::approx_constant)] // 3.14 is a value people type, not π.

use hush_core::python_float_str;

use crate::python::run_python;

/// xorshift64*: deterministic, no extra dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn values() -> Vec<f64> {
    let mut v: Vec<f64> = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.5,
        3.14,
        1e10,
        1e15,
        1e16,
        1e17,
        1e22,
        1e23,
        1e-4,
        1e-5,
        1e-7,
        1.5e-7,
        0.00012345,
        123456789012345678.0,
        9007199254740993.0,
        1234567890123456.7,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
        f64::from_bits(0x000F_FFFF_FFFF_FFFF), // largest subnormal
        f64::EPSILON,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        100.0,
        9999999999999998.0,
        0.30000000000000004,
        2.0f64.powi(53),
        2.0f64.powi(-1074),
    ];
    for e in -30..=30 {
        v.push(10f64.powi(e));
        v.push(-(10f64.powi(e)) * 1.5);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Random bit patterns: every exponent range, subnormals, NaN payloads.
    for _ in 0..20000 {
        v.push(f64::from_bits(rng.next()));
    }
    // Random short decimals, the kind people type.
    for _ in 0..4000 {
        let digits = rng.next() % 10_u64.pow(1 + (rng.next() % 17) as u32);
        let exp = (rng.next() % 50) as i32 - 25;
        let text = format!("{digits}e{exp}");
        let f: f64 = text.parse().unwrap();
        v.push(if rng.next().is_multiple_of(2) { f } else { -f });
    }
    // Exact halfway cases between two shortest candidates (Python rounds them
    // half-even, Rust's shortest formatting rounds them up).
    for _ in 0..3000 {
        let m = (1u64 << 50) + rng.next() % (1u64 << 50);
        let frac = [0.25, 0.75, 0.5][(rng.next() % 3) as usize];
        v.push(m as f64 + frac);
        v.push(-((m >> 3) as f64 + [0.125, 0.375, 0.625, 0.875][(rng.next() % 4) as usize]));
    }
    v
}

#[test]
fn python_float_str_matches_cpython_repr() {
    let values = values();
    let input: String = values
        .iter()
        .map(|f| format!("{}\n", f.to_bits()))
        .collect();
    let printed = run_python(
        "import sys, struct\n\
         for line in sys.stdin:\n\
         \x20   print(str(struct.unpack('<d', struct.pack('<Q', int(line)))[0]))\n",
        input.into_bytes(),
    );
    let expected: Vec<&str> = printed.lines().collect();
    assert_eq!(expected.len(), values.len());
    let mut mismatches = Vec::new();
    for (f, want) in values.iter().zip(&expected) {
        let got = python_float_str(*f);
        if got != *want {
            mismatches.push(format!(
                "bits {:#018x}: hush {got} python {want}",
                f.to_bits()
            ));
        }
    }
    eprintln!(
        "python_float_str: {} values compared with CPython",
        values.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        values.len(),
        mismatches.join("\n")
    );
}
