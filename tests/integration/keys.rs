//! Key slots: every password or recovery code opens the same repository, removal refuses to
//! lock the owner out, and a password change killed at any step leaves a secret that works.

use std::path::Path;

use assert_cmd::Command;
use cairn::{Credentials, ErrorKind, Password, RecoveryCode, Repository};
use serde_json::Value;
use tempfile::TempDir;

use crate::harness::{FAST_KDF, PASSWORD, TestRepo};

fn open(dir: &Path, credentials: &Credentials) -> cairn::Result<Repository> {
    let storage = cairn::storage::open_location(dir.to_str().unwrap())?;
    Repository::open(storage, credentials)
}

fn with_password(dir: &Path, password: &str) -> cairn::Result<Repository> {
    open(dir, &Credentials::Password(Password::from(password)))
}

#[test]
fn added_password_opens_the_same_repository() {
    let repo = TestRepo::new();
    let id = repo.repo.add_password(&Password::from("second"), FAST_KDF).unwrap();
    let second = with_password(repo.path(), "second").unwrap();
    assert_eq!(second.key_id(), Some(id));
    assert_eq!(second.master_key().expose_bytes(), repo.repo.master_key().expose_bytes());
    assert!(with_password(repo.path(), PASSWORD).is_ok());
    let slots = second.key_slots().unwrap();
    assert_eq!(slots.len(), 2);
    assert_eq!(slots.iter().filter(|s| s.current).count(), 1);
}

#[test]
fn recovery_code_opens_by_itself_and_where_a_password_is_asked() {
    let repo = TestRepo::new();
    let (id, code) = repo.repo.add_recovery_code().unwrap();
    let text = code.reveal().to_string();
    let parsed = RecoveryCode::parse(&text).unwrap();
    let opened = open(repo.path(), &Credentials::RecoveryCode(parsed)).unwrap();
    assert_eq!(opened.key_id(), Some(id));
    let typed = with_password(repo.path(), &text.to_lowercase().replace('-', " ")).unwrap();
    assert_eq!(typed.key_id(), Some(id));
    let other = RecoveryCode::parse(&repo.repo.add_recovery_code().unwrap().1.reveal()).unwrap();
    assert_ne!(open(repo.path(), &Credentials::RecoveryCode(other)).unwrap().key_id(), Some(id));
}

#[test]
fn removal_refuses_the_slot_in_use_and_the_last_slot() {
    let repo = TestRepo::new();
    let first = repo.repo.key_id().unwrap();
    let error = repo.repo.remove_key(&first).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    let second_id = repo.repo.add_password(&Password::from("second"), FAST_KDF).unwrap();
    let second = with_password(repo.path(), "second").unwrap();
    second.remove_key(&first).unwrap();
    assert_eq!(with_password(repo.path(), PASSWORD).err().unwrap().kind(), ErrorKind::Auth);
    let error = second.remove_key(&second_id).unwrap_err();
    assert!(error.to_string().contains("opened this repository"), "{error}");
}

#[test]
fn changed_password_replaces_the_old_one() {
    let repo = TestRepo::new();
    let mut repo_handle = repo.reopen();
    let new_id = repo_handle.change_password(&Password::from("new password"), FAST_KDF).unwrap();
    assert_eq!(repo_handle.key_id(), Some(new_id));
    assert_eq!(with_password(repo.path(), PASSWORD).err().unwrap().kind(), ErrorKind::Auth);
    assert_eq!(with_password(repo.path(), "new password").unwrap().key_id(), Some(new_id));
    assert_eq!(repo_handle.key_slots().unwrap().len(), 1);
}

fn cairn(repo: &Path, password: &str) -> Command {
    let mut cmd = Command::cargo_bin("cairn").unwrap();
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CAIRN_REPOSITORY", repo)
        .env("CAIRN_PASSWORD", password);
    cmd
}

const FAST: [&str; 6] = ["--kdf-memory-kib", "64", "--kdf-time", "1", "--kdf-lanes", "1"];

fn opens(repo: &Path, password: &str) -> bool {
    with_password(repo, password).is_ok()
}

/// `key passwd`, `key add` and `key remove` killed at each of their steps: some password
/// always opens the repository.
#[test]
fn key_changes_killed_at_any_step_leave_a_working_password() {
    let secrets = TempDir::new().unwrap();
    let new_password_file = secrets.path().join("new");
    std::fs::write(&new_password_file, "the new one\n").unwrap();
    for point in ["key-passwd-after-add", "key-passwd-after-verify", "key-passwd-after-remove"] {
        let repo = TestRepo::new();
        let output = cairn(repo.path(), PASSWORD)
            .env("CAIRN_CRASHPOINT", point)
            .args(["key", "passwd", "--new-password-file"])
            .arg(&new_password_file)
            .args(FAST)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{point}: the crash point was not reached");
        let (old, new) = (opens(repo.path(), PASSWORD), opens(repo.path(), "the new one"));
        assert!(old || new, "{point}: neither password opens");
        assert!(new || point == "key-passwd-after-add", "{point}: the new slot is durable once verified");
    }
    let repo = TestRepo::new();
    let output = cairn(repo.path(), PASSWORD)
        .env("CAIRN_CRASHPOINT", "key-add-after-write")
        .args(["key", "add", "--new-password-file"])
        .arg(&new_password_file)
        .args(FAST)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(opens(repo.path(), PASSWORD) && opens(repo.path(), "the new one"));
    let victim = with_password(repo.path(), PASSWORD).unwrap().key_id().unwrap().to_string();
    let output = cairn(repo.path(), "the new one")
        .env("CAIRN_CRASHPOINT", "key-remove-before-delete")
        .args(["key", "remove", &victim])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(opens(repo.path(), PASSWORD) && opens(repo.path(), "the new one"));
}

#[test]
fn cli_key_commands_and_init_recovery_key() {
    let dir = TempDir::new().unwrap();
    let repo = dir.path().join("repo");
    let init = cairn(&repo, PASSWORD).args(["init", "--json", "--recovery-key"]).args(FAST).output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let stdout = String::from_utf8_lossy(&init.stdout);
    let code_line: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message_type"] == "recovery_code")
        .expect("a recovery code line");
    let code = code_line["recovery_code"].as_str().unwrap().to_string();
    cairn(&repo, &code).arg("snapshots").assert().success();

    let secrets = TempDir::new().unwrap();
    let file = secrets.path().join("pw2");
    std::fs::write(&file, "pw2\n").unwrap();
    cairn(&repo, PASSWORD)
        .args(["key", "add", "--new-password-file"])
        .arg(&file)
        .args(FAST)
        .assert()
        .success();
    let list = cairn(&repo, "pw2").args(["key", "list", "--json"]).output().unwrap();
    let slots: Value = serde_json::from_slice(&list.stdout).unwrap();
    let slots = slots.as_array().unwrap();
    assert_eq!(slots.len(), 3);
    assert_eq!(slots.iter().filter(|s| s["kind"] == "recovery code").count(), 1);
    assert_eq!(slots.iter().filter(|s| s["current"] == true).count(), 1);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(!text.contains("salt") && !text.contains("wrapped"), "{text}");
}
