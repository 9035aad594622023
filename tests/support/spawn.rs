//! Starting the real `hue-intake serve` binary as a child process and learning the address
//! it bound (port 0) from its JSON log, without sleeping. Shared by the crash test, the
//! benchmarks and the chaos harness.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Spawns `binary serve --config config`; returns the child and its announced address.
pub fn spawn_serve(binary: &str, config: &Path) -> (Child, String) {
    spawn_serve_logged(binary, config, None)
}

/// The same, also appending every line the server logs to `log` (for searching the logs
/// afterwards, e.g. for personal data).
pub fn spawn_serve_logged(binary: &str, config: &Path, log: Option<&Path>) -> (Child, String) {
    use std::io::Write as _;
    let mut log = log.map(|path| {
        std::fs::OpenOptions::new().create(true).append(true).open(path).expect("the log file can be opened")
    });
    let mut child = Command::new(binary)
        .args(["serve", "--config"])
        .arg(config)
        .env("HUE_INTAKE__LOG__FORMAT", "json")
        // As deploy/hue-intake.service runs it (the benchmark's memory figures are those).
        .env("MALLOC_ARENA_MAX", "2")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the hue-intake binary starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        // Keep reading to the end so the server never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(file) = log.as_mut() {
                let _ = writeln!(file, "{line}");
            }
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && event["message"] == "Listening."
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(event["address"].as_str().unwrap_or_default().to_owned());
            }
        }
    });
    let address = rx.recv_timeout(Duration::from_secs(30)).expect("the server announces its address");
    (child, address)
}

/// Sends SIGTERM (graceful shutdown) and waits for the exit; returns whether it was clean.
pub fn terminate(child: &mut Child) -> bool {
    let signalled = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().is_ok_and(|s| s.success());
    signalled && child.wait().is_ok_and(|s| s.success())
}

/// Peak resident set size (VmHWM) of a live process, in KiB (0 once it is gone).
pub fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_owned()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}
