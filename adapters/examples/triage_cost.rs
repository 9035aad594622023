//! How long the regulation engine takes on hostile and ordinary texts, per call (release
//! build): `cargo run --release -p hue-intake-adapters --example triage_cost`. A check that no
//! input shape makes it super-linear, not a benchmark of record.

use std::time::Instant;

use hue_intake_adapters::triage::{Facts, Rules, Standing, UrgentFlag, assess};
use hue_intake_schemas::Kind;

fn main() {
    let rules = Rules::default();
    for (name, unit) in [
        ("ordinary report", "Cây đổ chắn ngang đường Lê Lợi, gần trường Quốc Học, xe không qua được. "),
        ("single letters", "a "),
        ("teencode", "k "),
        ("masked letters", "x*"),
        ("many hits", "cây đổ "),
        ("masked words", "l*n "),
        ("allowed traps", "cháy nhà cháy nắng "),
    ] {
        for chars in [1_000usize, 16_000] {
            let text: String = unit.repeat(chars / unit.chars().count());
            let facts = Facts {
                kind: Kind::Report,
                received_at: chrono::Utc::now(),
                text: &text,
                urgent_flag: UrgentFlag::None,
                has_description: true,
                has_location: true,
                has_time: true,
                has_name: false,
                has_phone: false,
                has_email: false,
                standing: Standing::default(),
            };
            let start = Instant::now();
            let runs = 5;
            for _ in 0..runs {
                std::hint::black_box(assess(&rules, &facts));
            }
            println!("{name:>16} {chars:>6} chars: {:>8.2} ms", start.elapsed().as_secs_f64() * 1000.0 / runs as f64);
        }
    }
}
