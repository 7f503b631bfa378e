//! Key slots: every password or recovery code opens the same repository, removal refuses to
//! lock the owner out, and a password change killed at any step leaves a secret that works.

use std::fmt::Write as _;
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

/// `key passwd` changes a password; in a session opened with a recovery code it would
/// replace the code, so it refuses and changes nothing.
#[test]
fn password_change_refuses_a_session_opened_with_a_recovery_code() {
    let repo = TestRepo::new();
    let (_, code) = repo.repo.add_recovery_code().unwrap();
    let mut by_code = open(repo.path(), &Credentials::RecoveryCode(code)).unwrap();
    let before = by_code.key_slots().unwrap().len();
    let error = by_code.change_password(&Password::from("new"), FAST_KDF).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert!(error.to_string().contains("recovery code"), "{error}");
    assert_eq!(by_code.key_slots().unwrap().len(), before);
}

#[test]
fn removing_an_unknown_key_says_so() {
    let repo = TestRepo::new();
    let output = cairn(repo.path(), PASSWORD).args(["key", "remove", "abcdef12"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no key slot id starts with abcdef12"), "{stderr}");
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

/// Every form a key could leak in: raw, hex in both cases, base64 (standard and URL-safe,
/// with or without padding) and Rust's `Debug` of a byte array.
fn leak_forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let hex = secret.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    });
    let base64 = base64(secret);
    let url_safe = base64.replace('+', "-").replace('/', "_");
    vec![
        secret.to_vec(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
        base64.trim_end_matches('=').as_bytes().to_vec(),
        url_safe.trim_end_matches('=').as_bytes().to_vec(),
        format!("{secret:?}").into_bytes(),
    ]
}

/// RFC 4648 base64, written out here so the leak check does not need another crate.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = group.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=group.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// The key-encryption key each slot file would yield for `password` (SPEC §4.2).
fn slot_keks(repo: &Path, password: &str) -> Vec<[u8; 32]> {
    let mut keks = Vec::new();
    for entry in std::fs::read_dir(repo.join("keys")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let (slot, _) = cairn_format::key::KeySlot::decode(&bytes).unwrap();
        let cairn_format::key::SlotKdf::Argon2id(kdf) = slot.kdf else { continue };
        let params = argon2::Params::new(kdf.memory_kib, kdf.time_cost, kdf.lanes, Some(32)).unwrap();
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut kek = [0u8; 32];
        argon.hash_password_into(password.as_bytes(), &slot.salt, &mut kek).unwrap();
        keks.push(kek);
    }
    keks
}

/// Trace logging, JSON output, errors and an injected panic in the middle of a key change:
/// none of the captured output holds a password, the master key, a subkey or a slot's
/// key-encryption key, in any common encoding.
#[test]
fn trace_logs_and_panics_never_show_secret_bytes() {
    let repo = TestRepo::new();
    let source = TempDir::new().unwrap();
    std::fs::write(source.path().join("notes.txt"), b"some private notes").unwrap();
    let secrets = TempDir::new().unwrap();
    let new_password_file = secrets.path().join("new");
    std::fs::write(&new_password_file, "a brand new passphrase\n").unwrap();

    let mut captured = Vec::new();
    let mut run = |password: &str, crash_point: Option<&str>, args: &[&str]| {
        let mut cmd = cairn(repo.path(), password);
        cmd.env("CAIRN_LOG", "trace").args(args);
        if let Some(point) = crash_point {
            cmd.env("CAIRN_CRASHPOINT", point);
        }
        let output = cmd.output().unwrap();
        captured.extend(output.stdout);
        captured.extend(output.stderr);
        output.status
    };
    let source_arg = source.path().to_str().unwrap();
    let new_file = new_password_file.to_str().unwrap();
    assert!(run(PASSWORD, None, &["backup", "--json", source_arg]).success());
    assert!(run(PASSWORD, None, &["check", "--read-data", "--json"]).success());
    assert!(
        run(PASSWORD, None, &["restore", "latest", "--target", secrets.path().join("out").to_str().unwrap()])
            .success()
    );
    assert!(!run("not the password", None, &["snapshots", "--json"]).success());
    let mut add = vec!["key", "add", "--new-password-file", new_file];
    add.extend(FAST);
    assert!(run(PASSWORD, None, &add).success());
    let mut passwd = vec!["key", "passwd", "--new-password-file", new_file];
    passwd.extend(FAST);
    assert!(!run(PASSWORD, Some("key-passwd-after-verify:panic"), &passwd).success());
    let text = String::from_utf8_lossy(&captured).into_owned();
    assert_eq!((base64(b"foobar").as_str(), base64(b"fo").as_str()), ("Zm9vYmFy", "Zm8="));
    assert!(text.contains("crash point key-passwd-after-verify reached"), "the panic was not captured");
    assert!(text.contains("TRACE") || text.contains("DEBUG"), "trace logging was not on");

    let master = *with_password(repo.path(), PASSWORD).unwrap().master_key().expose_bytes();
    let mut secrets: Vec<Vec<u8>> = vec![
        PASSWORD.as_bytes().to_vec(),
        b"a brand new passphrase".to_vec(),
        b"not the password".to_vec(),
        master.to_vec(),
    ];
    for purpose in ["blob encryption", "metadata encryption", "chunk id", "chunker gear table", "config mac"]
    {
        secrets.push(blake3::derive_key(&format!("cairn 2026-11-23 v1 {purpose}"), &master).to_vec());
    }
    for password in [PASSWORD, "a brand new passphrase"] {
        secrets.extend(slot_keks(repo.path(), password).iter().map(|k| k.to_vec()));
    }
    for secret in &secrets {
        for form in leak_forms(secret) {
            assert!(
                !captured.windows(form.len()).any(|w| w == form.as_slice()),
                "a secret reached the output as {:?}",
                String::from_utf8_lossy(&form)
            );
        }
    }
}
