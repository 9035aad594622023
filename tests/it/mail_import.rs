//! `import-mail` as users run it: a backlog of dttm@ in mbox and Maildir form stored raw, once
//! (run again, or after a cut file is completed, nothing is stored twice), checked in the
//! store the command leaves behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hue_intake::config::Config;
use hue_intake::store::{Options, Store};
use hue_intake_schemas::Channel;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hue-intake"))
}

/// A store made as `serve` would make it, and a config naming it; returns the config file.
/// The size limit is tiny: mails over it must still be stored.
async fn setup(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    Store::open_sqlite(&data, Options { group_commit_max_batch: 16, max_database_bytes: None })
        .await
        .unwrap()
        .close()
        .await;
    let config = dir.join("config.toml");
    std::fs::write(&config, format!("[store]\ndata_dir = {data:?}\n\n[mail]\nmax_message_bytes = 200\n")).unwrap();
    config
}

async fn import(config: &Path, paths: &[&Path]) -> Output {
    let (config, paths) = (config.to_path_buf(), paths.iter().map(|p| p.to_path_buf()).collect::<Vec<_>>());
    tokio::task::spawn_blocking(move || bin().arg("import-mail").arg("--config").arg(config).args(paths).output())
        .await
        .unwrap()
        .unwrap()
}

/// Exit 0 and exactly this summary line on stdout.
fn assert_summary(output: &Output, expected: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout, format!("{expected}\n"));
}

/// The e-mails in the store under `dir/data`, in arrival order: (message id, raw bytes opened).
async fn stored(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let data = dir.join("data");
    let config = Config::defaults();
    let sealer = hue_intake::seal::Sealer::from_config(&config.privacy, &data).unwrap();
    let store =
        Store::open_sqlite(&data, Options { group_commit_max_batch: 16, max_database_bytes: None }).await.unwrap();
    let pending = store.pending(1000).await.unwrap();
    store.close().await;
    pending
        .into_iter()
        .filter(|p| p.channel == Channel::Email)
        .map(|p| {
            let aad = hue_intake::pipeline::raw_associated_data(Channel::Email, &p.message_id);
            let raw = sealer.open(&p.raw_sealed, &aad).unwrap();
            (p.message_id, raw)
        })
        .collect()
}

const M1: &str = "From: =?UTF-8?Q?L=C3=AA_Hoa?= <hoa@example.vn>\nTo: dttm@hue.gov.vn\nSubject: Cay do\n\
                  Message-ID: <m1@example.vn>\n\nCây đổ trên đường Lê Lợi.\n\nFrom the corner of Hùng Vương it blocks both lanes.\n";
const M2_NO_ID: &str = "From: an@example.vn\nTo: dttm@hue.gov.vn\nSubject: Rac\n\nRác ở chợ Đông Ba.\n";
const M3: &str =
    "From: binh@example.vn\nTo: dttm@hue.gov.vn\nSubject: Den\nMessage-ID: <m3@example.vn>\n\nĐèn đường hỏng.\n";

/// The three as an mbox: M1's body line `From the corner…` escaped `>From`, as mboxrd writes.
fn mbox() -> String {
    let mut file = String::new();
    for message in [M1, M2_NO_ID, M3] {
        file.push_str("From MAILER-DAEMON Sat Nov 28 09:00:00 2026\n");
        file.push_str(&message.replace("\nFrom the corner", "\n>From the corner"));
        file.push('\n');
    }
    file
}

fn maildir(root: &Path) -> (PathBuf, [String; 2]) {
    let dir = root.join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let long = format!(
        "From: c@example.vn\r\nTo: dttm@hue.gov.vn\r\nSubject: Long\r\nMessage-ID: <md2@example.vn>\r\n\r\n{}\r\n",
        "Ngập nước đường Trần Hưng Đạo. ".repeat(20)
    );
    let short = "From: d@example.vn\r\nSubject: Short\r\nMessage-ID: <md1@example.vn>\r\n\r\nOk.\r\n".to_owned();
    std::fs::write(dir.join("cur/1764320000.M1P1.host:2,S"), &short).unwrap();
    std::fs::write(dir.join("new/1764320001.M2P2.host"), &long).unwrap();
    std::fs::write(dir.join("tmp/1764320002.M3P3.host"), "Subject: being delivered\r\n\r\n").unwrap();
    (dir, [short, long])
}

#[tokio::test]
async fn import_mail_stores_an_mbox_and_a_maildir_once_and_again_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path()).await;
    let backlog = dir.path().join("backlog");
    std::fs::create_dir(&backlog).unwrap();
    let mbox_path = backlog.join("dttm.mbox");
    std::fs::write(&mbox_path, mbox()).unwrap();
    let (maildir, [short, long]) = maildir(&backlog);

    let first = import(&config, &[&mbox_path, &maildir]).await;
    assert_summary(&first, "imported 5, already present 0, unreadable 0");
    assert!(first.stderr.is_empty(), "no progress bar off a terminal: {}", String::from_utf8_lossy(&first.stderr));

    let mails = stored(dir.path()).await;
    let ids: Vec<&str> = mails.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert_eq!(
        [ids[0], ids[2], ids[3], ids[4]],
        ["m1@example.vn", "m3@example.vn", "md1@example.vn", "md2@example.vn"]
    );
    assert!(ids[1].starts_with("sha256:"), "no Message-ID: keyed by its hash ({})", ids[1]);
    // Byte for byte as delivered: separators gone, `>From` un-escaped, CRLF kept.
    assert_eq!(mails[0].1, M1.as_bytes());
    assert_eq!(mails[1].1, M2_NO_ID.as_bytes());
    assert_eq!(mails[2].1, M3.as_bytes());
    assert_eq!(mails[3].1, short.as_bytes());
    assert_eq!(mails[4].1, long.as_bytes());
    assert!(long.len() > 200, "over mail.max_message_bytes, stored all the same");

    // Again, this time through the directory holding both: nothing new.
    let again = import(&config, &[&backlog]).await;
    assert_summary(&again, "imported 0, already present 5, unreadable 0");
    assert_eq!(stored(dir.path()).await.len(), 5);
}

#[tokio::test]
async fn import_mail_resumes_a_cut_mbox_without_storing_anything_twice() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path()).await;
    let full = mbox();
    let path = dir.path().join("backlog.mbox");
    // Cut in the middle of the second message's body, mid-line (a copy still being written).
    let cut = full.find("chợ Đông").unwrap();
    std::fs::write(&path, &full[..cut]).unwrap();
    let partial = import(&config, &[&path]).await;
    assert_summary(&partial, "imported 1, already present 0, unreadable 1");
    let stderr = String::from_utf8_lossy(&partial.stderr);
    assert!(stderr.contains("backlog.mbox") && stderr.contains("mid-line"), "{stderr}");
    assert_eq!(stored(dir.path()).await.len(), 1);

    std::fs::write(&path, &full).unwrap();
    let completed = import(&config, &[&path]).await;
    assert_summary(&completed, "imported 2, already present 1, unreadable 0");
    let mails = stored(dir.path()).await;
    let raws: Vec<&[u8]> = mails.iter().map(|(_, raw)| raw.as_slice()).collect();
    assert_eq!(raws, [M1.as_bytes(), M2_NO_ID.as_bytes(), M3.as_bytes()], "each once, whole");
}

#[tokio::test]
async fn import_mail_refuses_a_missing_path_with_exit_2_and_one_line_storing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path()).await;
    let good = dir.path().join("good.mbox");
    std::fs::write(&good, mbox()).unwrap();
    let missing = dir.path().join("no-such-mailbox");
    let output = import(&config, &[&good, &missing]).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: ") && stderr.contains("no-such-mailbox"), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stored(dir.path()).await.is_empty(), "paths are checked before anything is stored");
}

#[test]
fn import_mail_help_explains_formats_idempotence_and_exit_codes() {
    let output = bin().args(["import-mail", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for needed in ["mbox", "Maildir", ">From ", "cur/", ".eml", "Message-ID", "already present", "Exit 0", "2 with"] {
        assert!(help.contains(needed), "{needed} missing from:\n{help}");
    }
}
