//! Named points where the process can be made to stop abruptly, so tests can prove that an
//! operation killed at any step leaves a usable repository. Inert unless the environment
//! variable `CAIRN_CRASHPOINT` names the point: `NAME` aborts the process there (as a
//! `kill -9` would), `NAME:panic` panics instead, and `NAME:pause` sleeps there for two
//! seconds, so a test can run another operation while this one is caught mid-way.

/// How long `NAME:pause` holds the process.
const PAUSE: std::time::Duration = std::time::Duration::from_secs(2);

/// Stops (or pauses) the process here if `CAIRN_CRASHPOINT` names this point.
pub(crate) fn hit(name: &str) {
    let Some(wanted) = std::env::var_os("CAIRN_CRASHPOINT") else {
        return;
    };
    let Some(wanted) = wanted.to_str() else {
        return;
    };
    if wanted == name {
        std::process::abort();
    }
    if wanted.strip_suffix(":pause") == Some(name) {
        std::thread::sleep(PAUSE);
    }
    assert!(wanted.strip_suffix(":panic") != Some(name), "crash point {name} reached");
}
