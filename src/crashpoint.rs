//! Named points where the process can be made to stop abruptly, so tests can prove that an
//! operation killed at any step leaves a usable repository. Inert unless the environment
//! variable `CAIRN_CRASHPOINT` names the point: `NAME` aborts the process there (as a
//! `kill -9` would), `NAME:panic` panics instead.

/// Stops the process here if `CAIRN_CRASHPOINT` names this point.
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
    assert!(wanted.strip_suffix(":panic") != Some(name), "crash point {name} reached");
}
