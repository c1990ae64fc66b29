//! A set of characters, sorted or hashed by size, for trim sets and unhex's pass set.

use std::collections::HashSet;

use super::{Budget, DeadlinePassed};

/// A set of characters (or packed byte sequences): sorted while small, hashed when large,
/// so that building one never sorts more than a few thousand entries between readings of
/// the clock.
#[derive(Debug)]
pub(super) enum CharSet {
    Sorted(Vec<u32>),
    Hashed(HashSet<u32>),
}

/// Most entries a [`CharSet`] sorts: some tens of microseconds.
const SORTED_SET: usize = 4096;

impl CharSet {
    pub(super) fn new(
        mut items: Vec<u32>,
        budget: &mut Budget<'_>,
    ) -> Result<Self, DeadlinePassed> {
        if items.len() <= SORTED_SET {
            items.sort_unstable();
            items.dedup();
            return Ok(Self::Sorted(items));
        }
        let mut set = HashSet::new();
        for item in items {
            budget.spend(1)?;
            set.insert(item);
        }
        Ok(Self::Hashed(set))
    }

    pub(super) fn contains(&self, item: u32) -> bool {
        match self {
            Self::Sorted(items) => items.binary_search(&item).is_ok(),
            Self::Hashed(items) => items.contains(&item),
        }
    }
}
