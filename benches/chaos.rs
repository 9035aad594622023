//! The load and fault harness as one command (issue 8 item 1):
//! `cargo bench --bench chaos -- --seconds 120 --rate 200` (`-- --help` lists the flags).
//!
//! Mixed traffic on every channel against the real `hue-intake serve` (release build) on a
//! small tmpfs, while it is SIGKILLed and restarted, the core receiver is cut and the disk is
//! filled; then the reconciliation and the figures. The harness itself is
//! `tests/support/chaos.rs`, shared with the bounded CI run `tests/it/chaos.rs`. Exit 1 if
//! anything acknowledged was lost, anything was delivered twice, personal data leaked or the
//! gateway misbehaved; 2 on bad flags.

#[path = "../tests/support/chaos.rs"]
mod chaos_harness;
#[path = "../tests/support/pii.rs"]
mod pii;
#[path = "../tests/support/signing.rs"]
mod signing;
// The harness starts the gateway through the logging variant only.
#[allow(dead_code)]
#[path = "../tests/support/spawn.rs"]
mod spawn;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match chaos_harness::Options::parse(&args) {
        Ok(options) => options,
        Err(message) => {
            let help = args.iter().any(|a| a == "--help" || a == "-h");
            if help {
                println!("{message}");
                std::process::exit(0);
            }
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let report = chaos_harness::run(options);
    report.print();
    if !report.verdict().is_empty() {
        std::process::exit(1);
    }
}
