//! Path patterns for `--exclude` and `--include`. A pattern without `/` matches an entry's
//! name anywhere (`*.tmp`); one with `/` matches the whole path (`/data/cache/**`). `*` never
//! crosses `/`, `**` does.

use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};

/// A set of patterns, matched against names and paths.
pub(crate) struct PathFilter {
    names: GlobSet,
    paths: GlobSet,
    is_empty: bool,
}

impl PathFilter {
    /// Compiles `patterns`; an invalid one is an error naming it.
    pub(crate) fn new(patterns: &[String]) -> Result<PathFilter> {
        let (mut names, mut paths) = (GlobSetBuilder::new(), GlobSetBuilder::new());
        for pattern in patterns {
            let glob = GlobBuilder::new(pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| Error::invalid("pattern", format!("{pattern}: {e}")))?;
            if pattern.contains('/') {
                paths.add(glob);
            } else {
                names.add(glob);
            }
        }
        let build = |b: GlobSetBuilder| b.build().map_err(|e| Error::invalid("pattern", e.to_string()));
        Ok(PathFilter { names: build(names)?, paths: build(paths)?, is_empty: patterns.is_empty() })
    }

    /// Whether no pattern was given.
    pub(crate) fn is_empty(&self) -> bool {
        self.is_empty
    }

    /// Whether `path` (or its last component) matches a pattern.
    pub(crate) fn matches(&self, path: &Path) -> bool {
        if self.is_empty {
            return false;
        }
        path.file_name().is_some_and(|name| self.names.is_match(name)) || self.paths.is_match(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_patterns_match_names_and_slashed_patterns_match_paths() {
        let filter = PathFilter::new(&["*.tmp".into(), "/data/cache/**".into()]).unwrap();
        assert!(filter.matches(Path::new("/home/x/a.tmp")));
        assert!(!filter.matches(Path::new("/home/x/a.tmpl")));
        assert!(filter.matches(Path::new("/data/cache/x/y")));
        assert!(!filter.matches(Path::new("/data/other/x")));
        assert!(!PathFilter::new(&[]).unwrap().matches(Path::new("/a")));
    }

    #[test]
    fn invalid_pattern_is_reported() {
        assert!(PathFilter::new(&["a[".into()]).is_err());
    }
}
