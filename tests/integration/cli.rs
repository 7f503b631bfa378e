//! The `cairn` binary: commands, `--json` output, password sources and exit codes, as a
//! script would use them.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

use crate::harness::{PASSWORD, assert_same_tree, random_bytes, write};

fn cairn(repo: &Path) -> Command {
    let mut cmd = Command::cargo_bin("cairn").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAIRN_REPOSITORY", repo)
        .env("CAIRN_PASSWORD", PASSWORD);
    cmd
}

fn init(repo: &Path) {
    cairn(repo)
        .args(["init", "--kdf-memory-kib", "64", "--kdf-time", "1", "--kdf-lanes", "1"])
        .assert()
        .success();
}

/// The last line of stdout, parsed as JSON.
fn last_json(output: &[u8]) -> Value {
    let text = String::from_utf8_lossy(output);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn source() -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new().unwrap();
    let root = dir.path().join("app");
    write(&root.join("db.sqlite"), &random_bytes(2 << 20, 1));
    write(&root.join("media/photo.jpg"), &random_bytes(300_000, 2));
    write(&root.join("notes.txt"), b"hello\n");
    (dir, root)
}

#[test]
fn backup_json_summary_has_the_documented_fields() {
    let repo = TempDir::new().unwrap();
    init(repo.path());
    let (_src, root) = source();
    let output = cairn(repo.path()).args(["backup", "--json"]).arg(&root).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = last_json(&output.stdout);
    assert_eq!(summary["message_type"], "summary");
    for field in [
        "snapshot_id",
        "files_new",
        "files_changed",
        "files_unmodified",
        "bytes_processed",
        "data_added",
        "duration_s",
    ] {
        assert!(!summary[field].is_null(), "missing {field}: {summary}");
    }
    assert_eq!(summary["files_new"], 3);
    assert!(summary["data_added"].as_u64().unwrap() > 2 << 20);

    let again = cairn(repo.path()).args(["backup", "--json"]).arg(&root).output().unwrap();
    let summary = last_json(&again.stdout);
    assert_eq!(summary["files_unmodified"], 3);
    assert_eq!(summary["data_added"], 0);
}

#[test]
fn init_backup_snapshots_restore_round_trip() {
    let repo = TempDir::new().unwrap();
    let (_src, root) = source();
    cairn(repo.path())
        .args([
            "backup",
            "--init",
            "--kdf-memory-kib",
            "64",
            "--kdf-time",
            "1",
            "--kdf-lanes",
            "1",
            "--tag",
            "daily",
        ])
        .arg(&root)
        .assert()
        .success();
    let listing = cairn(repo.path()).args(["snapshots", "--json"]).output().unwrap();
    let snapshots: Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(snapshots.as_array().unwrap().len(), 1);
    assert_eq!(snapshots[0]["tags"][0], "daily");
    let id = snapshots[0]["short_id"].as_str().unwrap().to_string();
    let target = TempDir::new().unwrap();
    cairn(repo.path()).args(["restore", &id, "--verify", "--target"]).arg(target.path()).assert().success();
    assert_same_tree(&root, &target.path().join("app"));
}

#[test]
fn wrong_password_exits_12_with_one_line() {
    let repo = TempDir::new().unwrap();
    init(repo.path());
    let output = cairn(repo.path()).env("CAIRN_PASSWORD", "wrong").arg("snapshots").output().unwrap();
    assert_eq!(output.status.code(), Some(12));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("wrong password"), "{stderr}");
}

#[test]
fn missing_repository_exits_10() {
    let dir = TempDir::new().unwrap();
    let output = cairn(&dir.path().join("none")).arg("snapshots").output().unwrap();
    assert_eq!(output.status.code(), Some(10));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cairn init"));
}

#[test]
fn unreadable_source_exits_3_and_still_saves_the_snapshot() {
    let repo = TempDir::new().unwrap();
    init(repo.path());
    let (_src, root) = source();
    let output = cairn(repo.path()).arg("backup").arg(&root).arg("/proc/self/mem").output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/proc/self/mem"));
    let listing = cairn(repo.path()).args(["snapshots", "--json"]).output().unwrap();
    let snapshots: Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(snapshots.as_array().unwrap().len(), 1);
}

#[test]
fn password_file_and_command_are_accepted() {
    let repo = TempDir::new().unwrap();
    init(repo.path());
    let secrets = TempDir::new().unwrap();
    let file = secrets.path().join("pw");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    cairn(repo.path())
        .env_remove("CAIRN_PASSWORD")
        .arg("--password-file")
        .arg(&file)
        .arg("snapshots")
        .assert()
        .success();
    cairn(repo.path())
        .env_remove("CAIRN_PASSWORD")
        .args(["--password-command", &format!("echo '{PASSWORD}'"), "snapshots"])
        .assert()
        .success();
    let output = cairn(repo.path()).env_remove("CAIRN_PASSWORD").arg("snapshots").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("CAIRN_PASSWORD"));
}

#[test]
fn ls_diff_stats_dump_and_cat_work_on_latest() {
    let repo = TempDir::new().unwrap();
    init(repo.path());
    let (_src, root) = source();
    cairn(repo.path()).arg("backup").arg(&root).assert().success();
    write(&root.join("notes.txt"), b"changed\n");
    cairn(repo.path()).arg("backup").arg(&root).assert().success();

    let ls = cairn(repo.path()).args(["ls", "latest"]).output().unwrap();
    let text = String::from_utf8_lossy(&ls.stdout);
    assert!(text.lines().any(|l| l == "/app/media/photo.jpg"), "{text}");

    let listing: Value =
        serde_json::from_slice(&cairn(repo.path()).args(["snapshots", "--json"]).output().unwrap().stdout)
            .unwrap();
    let (first, second) = (listing[0]["id"].as_str().unwrap(), listing[1]["id"].as_str().unwrap());
    let diff = cairn(repo.path()).args(["diff", "--json", first, second]).output().unwrap();
    let diff = last_json(&diff.stdout);
    assert_eq!(diff["modified"], 1, "{diff}");
    assert_eq!(diff["changes"][0]["path"], "/app/notes.txt");

    let dump = cairn(repo.path()).args(["dump", "latest", "/app/notes.txt"]).output().unwrap();
    assert_eq!(dump.stdout, b"changed\n");
    let tar = cairn(repo.path()).args(["dump", "latest", "/app"]).output().unwrap();
    assert!(tar.status.success());
    let mut archive = tar::Archive::new(tar.stdout.as_slice());
    let names: Vec<String> =
        archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    assert!(names.contains(&"media/photo.jpg".to_string()), "{names:?}");

    let stats = cairn(repo.path()).args(["stats", "--json", "latest"]).output().unwrap();
    assert_eq!(last_json(&stats.stdout)["files"], 3);
    let stats = cairn(repo.path()).args(["stats", "--json"]).output().unwrap();
    assert_eq!(last_json(&stats.stdout)["snapshots"], 2);

    let config = cairn(repo.path()).args(["cat", "config"]).output().unwrap();
    let config: Value = serde_json::from_slice(&config.stdout).unwrap();
    assert_eq!(config["chunker"]["avg_len"], 1 << 20);
    let snapshot = cairn(repo.path()).args(["cat", "snapshot", "latest"]).output().unwrap();
    let snapshot: Value = serde_json::from_slice(&snapshot.stdout).unwrap();
    assert_eq!(snapshot["id"], second);
}

/// No passphrase or key material may reach any output, even with `--json` and errors.
#[test]
fn secrets_never_reach_the_output() {
    let repo = TempDir::new().unwrap();
    init(repo.path());
    let (_src, root) = source();
    let mut all = Vec::new();
    for args in [
        vec!["backup", "--json", root.to_str().unwrap()],
        vec!["cat", "config"],
        vec!["snapshots", "--json"],
        vec!["stats", "--json"],
    ] {
        let output = cairn(repo.path()).args(&args).output().unwrap();
        all.extend(output.stdout);
        all.extend(output.stderr);
    }
    let keys = std::fs::read_dir(repo.path().join("keys")).unwrap().next().unwrap().unwrap().path();
    let key_id = keys.file_name().unwrap().to_str().unwrap().to_string();
    let output = cairn(repo.path()).args(["cat", "key", &key_id]).output().unwrap();
    all.extend(output.stdout);
    let text = String::from_utf8_lossy(&all);
    assert!(!text.contains(PASSWORD));
    assert!(!text.contains("wrapped_key") && !text.contains("salt"), "{text}");
}

/// Ctrl-C cancels cleanly: exit code 130, no snapshot, what was stored is indexed, and the
/// next backup succeeds reusing it.
#[test]
fn interrupt_exits_130_and_the_rerun_reuses_stored_data() {
    let repo = TempDir::new().unwrap();
    init(repo.path());
    let src = TempDir::new().unwrap();
    let root = src.path().join("big");
    for i in 0..16 {
        write(&root.join(format!("{i}.bin")), &random_bytes(16 << 20, i));
    }
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cairn"))
        .env_clear()
        .env("CAIRN_REPOSITORY", repo.path())
        .env("CAIRN_PASSWORD", PASSWORD)
        .args(["backup", "-q"])
        .arg(&root)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the first pack is stored.
    let data = repo.path().join("data");
    let started = std::time::Instant::now();
    while crate::harness::dir_size(&data) == 0 && started.elapsed() < std::time::Duration::from_mins(1) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = std::process::Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));

    let listing = cairn(repo.path()).args(["snapshots", "--json"]).output().unwrap();
    let snapshots: Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(snapshots.as_array().unwrap().len(), 0);
    let stored = crate::harness::dir_size(&data);
    let rerun = cairn(repo.path()).args(["backup", "--json"]).arg(&root).output().unwrap();
    assert_eq!(rerun.status.code(), Some(0));
    let summary = last_json(&rerun.stdout);
    let total = 16 * (16u64 << 20);
    assert!(summary["data_added"].as_u64().unwrap() + stored / 2 < total, "{summary}, {stored} kept");
}

/// `cairn check` exits 0 on a healthy repository and non-zero, with a JSON report naming the
/// damaged blob and its file, when a pack byte is changed.
#[test]
fn check_reports_damage_as_json_and_exits_non_zero() {
    let repo = TempDir::new().unwrap();
    init(repo.path());
    let (_src, root) = source();
    cairn(repo.path()).arg("backup").arg(&root).assert().success();
    cairn(repo.path()).args(["check", "--read-data"]).assert().success();
    let pack = std::fs::read_dir(repo.path().join("data"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|f| f.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[200] ^= 1;
    std::fs::write(&pack, bytes).unwrap();
    let output = cairn(repo.path()).args(["check", "--read-data", "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let report = last_json(&output.stdout);
    assert_eq!(report["damaged"], true);
    let findings = report["findings"].as_array().unwrap();
    let blob = findings.iter().find(|f| f["problem"] == "damaged_blob").expect("the damaged blob is named");
    assert!(blob["affected"][0]["paths"][0].as_str().unwrap().starts_with("/app/"));
    assert!(blob["advice"].as_str().unwrap().contains("repair snapshots"));
    let structure = cairn(repo.path()).args(["check"]).output().unwrap();
    assert_eq!(structure.status.code(), Some(0), "the structure alone is intact");
}

/// A scheduled job's settings from a config file: repository and password source from the
/// file, a flag still winning over it, and a typo refused with the line it is on.
#[test]
fn config_file_supplies_settings_and_refuses_typos() {
    let dir = TempDir::new().unwrap();
    let repo = dir.path().join("repo");
    init(&repo);
    let (_src, root) = source();
    let password_file = dir.path().join("pass");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let config = dir.path().join("job.toml");
    std::fs::write(
        &config,
        format!(
            "repository = {:?}\npassword-file = {:?}\nretries = \"background\"\nconnections = 3\n",
            repo.display().to_string(),
            password_file.display().to_string()
        ),
    )
    .unwrap();
    let bare = || {
        let mut cmd = Command::cargo_bin("cairn").unwrap();
        cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd
    };
    bare().arg("--config").arg(&config).args(["backup", "--quiet"]).arg(&root).assert().success();
    let listed = bare().arg("--config").arg(&config).args(["snapshots", "--json"]).output().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&listed.stdout).unwrap().as_array().map(Vec::len), Some(1));

    let elsewhere = dir.path().join("missing-repo");
    let output =
        bare().arg("--config").arg(&config).arg("-r").arg(&elsewhere).arg("snapshots").output().unwrap();
    assert_eq!(output.status.code(), Some(10), "the flag wins over the file");

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "repository = \"/x\"\nretrys = \"background\"\n").unwrap();
    let output = bare().arg("--config").arg(&typo).arg("snapshots").output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("retrys") && stderr.contains("line 2"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

/// iCloud Drive on a Mac is a local folder with spaces and `~` in its path; a repository
/// there is a local repository like any other.
#[test]
fn repository_in_an_icloud_drive_style_folder() {
    let home = TempDir::new().unwrap();
    let repo = home.path().join("Library/Mobile Documents/com~apple~CloudDocs/Backups/My App");
    init(&repo);
    let (_src, root) = source();
    cairn(&repo).args(["backup", "--quiet"]).arg(&root).assert().success();
    let target = TempDir::new().unwrap();
    cairn(&repo).args(["restore", "latest", "--target"]).arg(target.path()).assert().success();
    assert_same_tree(&root, &target.path().join("app"));
    cairn(&repo).args(["check", "--read-data"]).assert().success();
}

/// While the storage waits to retry, `backup --json` status lines say what it is retrying
/// and stdout and stderr have a line for each retry; the backup then succeeds.
#[test]
fn json_output_reports_each_retry() {
    let repo = TempDir::new().unwrap();
    init(repo.path());
    let root = TempDir::new().unwrap();
    write(&root.path().join("photo.jpg"), &random_bytes(300_000, 5));
    // Four failed pack uploads, each retried after at most 0.5, 1, 2 or 4 s.
    let output = cairn(repo.path())
        .env("CAIRN_TEST_FAULTS", "transient@write/data:first=4")
        .args(["backup", "--json"])
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("to retry write of data/").count(), 4, "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Value> = stdout.lines().map(|line| serde_json::from_str::<Value>(line).unwrap()).collect();
    let retries: Vec<&Value> = lines.iter().filter(|line| line["message_type"] == "retry").collect();
    assert_eq!(retries.len(), 4, "{stdout}");
    // The data pack and the tree pack (both under data/) may share the four failures; each
    // one's retries count up from attempt 2.
    let mut attempts = std::collections::BTreeMap::<&str, Vec<u64>>::new();
    for retry in &retries {
        let what = retry["what"].as_str().unwrap();
        assert!(what.starts_with("write of data/"), "{retry}");
        assert!(retry["wait_seconds"].as_f64().unwrap() <= 4.0, "{retry}");
        attempts.entry(what).or_default().push(retry["attempt"].as_u64().unwrap());
    }
    for counted in attempts.values() {
        assert_eq!(*counted, (2..2 + counted.len() as u64).collect::<Vec<_>>(), "{stdout}");
    }
    // Status lines come once a second and carry the wait when one falls inside it; the
    // waits here are too short to be sure of that, so only the field's shape is checked.
    for status in lines.iter().filter(|line| line["message_type"] == "status") {
        let waiting = &status["waiting_to_retry"];
        assert!(waiting.is_null() || waiting["what"].is_string(), "{status}");
    }
}
