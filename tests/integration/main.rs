//! cairn's integration tests: one binary, a module per failure class, real files in real
//! temporary directories, and the real `cairn` binary for the command line.

mod harness;
mod servers;

mod backends;
mod backup;
mod cancel;
mod check;
mod cli;
mod cloud;
mod copy;
mod corruption;
mod crash;
mod export;
mod fake_drive;
mod faults;
mod format;
mod keys;
mod locks;
mod prune;
mod resume;
mod roundtrip;
mod sources;
mod sqlite;
mod vectors;
