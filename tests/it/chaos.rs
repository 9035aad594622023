//! The bounded CI run of the load and fault harness (`tests/support/chaos.rs`; the long run is
//! `cargo bench --bench chaos`): 30 s of mixed traffic on every channel at 40 messages/s
//! against the real binary on a tmpfs, with two SIGKILLs and restarts, the core down for 5 s
//! and the disk full for 5 s. Nothing acknowledged may be lost, nothing delivered twice, no
//! personal data may leak, and the gateway must refuse (503) while the disk is full and
//! recover without a restart. Needs root (tmpfs) and `scripts/mail-servers start`.

use crate::chaos_harness::{Options, run};

#[test]
fn mixed_traffic_through_kills_core_outage_and_full_disk_loses_and_duplicates_nothing() {
    let report = run(Options {
        seconds: 30,
        rate: 40,
        kills: 2,
        core_down_secs: Some(5.0),
        disk_full_secs: Some(5.0),
        drain_secs: 120,
        // HUE_CHAOS_KEEP=1 keeps the config and the gateway's log to look at.
        keep: std::env::var_os("HUE_CHAOS_KEEP").is_some(),
        ..Options::default()
    });
    report.print();
    let verdict = report.verdict();
    assert!(verdict.is_empty(), "the chaos run failed: {verdict:#?}");
}
