//! SQLite databases of the apps cairn backs up: their tables exported for people to read.

pub mod tabular;
