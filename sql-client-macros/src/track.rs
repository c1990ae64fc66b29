//! The files an expansion makes the compiler track (`include_bytes!`), so that editing the
//! manifest or a migration recompiles the queries.
//!
//! Each file is emitted once per compiler process: one process compiles one crate, and the
//! compiler records every file any expansion of that crate includes, so one inclusion is
//! as good as one per call and costs a single constant instead of one per `sql!`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The paths among `paths` this process has not yet handed to an expansion.
pub(crate) fn untracked<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Vec<PathBuf> {
    static TRACKED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let tracked = TRACKED.get_or_init(|| Mutex::new(HashSet::new()));
    let mut tracked = tracked.lock().unwrap_or_else(PoisonError::into_inner);
    paths
        .into_iter()
        .filter(|path| tracked.insert(path.to_path_buf()))
        .map(Path::to_path_buf)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_handed_out_once() {
        let a = Path::new("/track-test/a.sql");
        let b = Path::new("/track-test/b.sql");
        assert_eq!(untracked([a]), vec![a.to_path_buf()]);
        assert_eq!(untracked([a, b]), vec![b.to_path_buf()]);
        assert!(untracked([a, b]).is_empty());
    }
}
