//! The compiled matcher against the direct one, and Shift-And against a naive search.

use super::Dialect;
use super::compile::{Pattern, canonical};
use super::direct::direct_match;
use super::shift_and::ShiftAnd;
use crate::engine::sqlite::functions::tests::{Arg, Rng, lengthen, pattern, value};
use crate::engine::sqlite::functions::text::{is_continuation, until_nul};
use crate::engine::sqlite::functions::{Budget, StatementClock};

/// The two matchers agree with each other on every input, short or long; the SQL
/// comparisons of `overrides_agree_with_the_builtins` tie both to the built-ins.
#[test]
fn direct_and_compiled_matchers_agree() {
    let clock = StatementClock::default();
    let mut budget = Budget::new(&clock);
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..20_000 {
        let subject = match value(&mut rng, 10) {
            Arg::Text(t) | Arg::Blob(t) => t,
            _ => b"ab".to_vec(),
        };
        let glob = rng.below(2) == 0;
        let dialect = if glob { Dialect::Glob } else { Dialect::Like };
        let pattern = match pattern(&mut rng, &Arg::Text(subject.clone()), glob) {
            Arg::Text(t) | Arg::Blob(t) => t,
            _ => b"%".to_vec(),
        };
        let escape = (!glob && rng.below(2) == 0).then(|| {
            rng.pick(&[
                u32::from(b'\\'),
                u32::from(b'%'),
                u32::from(b'_'),
                0xE9,
                0xFFFD,
            ])
        });
        let (pattern, subject) = (until_nul(&pattern), until_nul(&subject));
        let direct = direct_match(pattern, subject, dialect, escape);
        let compiled = Pattern::compile(pattern, dialect, escape, &mut budget).unwrap();
        let text = canonical(subject, !glob, &mut budget).unwrap();
        assert_eq!(
            compiled.matches(&text, &mut budget).unwrap(),
            direct,
            "{dialect:?} {:?} against {:?}, escape {escape:?}",
            String::from_utf8_lossy(pattern),
            String::from_utf8_lossy(subject),
        );
    }
}

/// Shift-And places every middle segment where checking each position would.
#[test]
fn shift_and_finds_the_leftmost_match() {
    let clock = StatementClock::default();
    let mut budget = Budget::new(&clock);
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut searched = 0;
    for _ in 0..3000 {
        let subject = match lengthen(&value(&mut rng, 10)) {
            Arg::Text(t) | Arg::Blob(t) => t,
            _ => continue,
        };
        let glob = rng.below(2) == 0;
        let dialect = if glob { Dialect::Glob } else { Dialect::Like };
        let (Arg::Text(pattern) | Arg::Blob(pattern)) =
            pattern(&mut rng, &Arg::Text(subject.clone()), glob)
        else {
            continue;
        };
        let compiled = Pattern::compile(until_nul(&pattern), dialect, None, &mut budget).unwrap();
        let text = canonical(&subject, !glob, &mut budget).unwrap();
        let Some((_, middle)) = compiled.segments.split_first() else {
            continue;
        };
        for segment in middle.split_last().map_or(&[][..], |(_, m)| m) {
            let from = rng.below(text.len() / 4 + 1);
            let from = (from..text.len())
                .find(|&i| !is_continuation(text[i]))
                .unwrap_or(text.len());
            let naive = (from..=text.len())
                .filter(|&i| i == text.len() || !is_continuation(text[i]))
                .find_map(|i| {
                    compiled
                        .match_at(segment, &text, i, text.len(), &mut budget)
                        .unwrap()
                });
            let fast = ShiftAnd::new(&compiled, segment)
                .search(&text, from, text.len(), &mut budget)
                .unwrap();
            assert_eq!(
                fast,
                naive,
                "{:?} in {:?}",
                String::from_utf8_lossy(&pattern),
                String::from_utf8_lossy(&text)
            );
            searched += 1;
        }
    }
    assert!(searched > 1000, "only {searched} segments searched");
}
