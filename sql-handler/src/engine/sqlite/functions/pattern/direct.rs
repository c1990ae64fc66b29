//! Matching short input in place, without compiling the pattern.

use super::{Dialect, fold_ascii, read_char, wildcards};
use crate::engine::sqlite::functions::text::decode_at;

/// Whether pattern character `p` matches text character `t`; LIKE folds ASCII only.
fn same_char(p: u32, t: u32, fold: bool) -> bool {
    p == t || (fold && p < 0x80 && t < 0x80 && fold_ascii(p) == fold_ascii(t))
}

/// Evaluates the class whose `[` precedes `at` against `c`, the way SQLite's
/// `patternCompare` does; `None` if the pattern ends first. Returns the match and the
/// index after the class.
fn class_member(pattern: &[u8], mut at: usize, c: u32) -> Option<(bool, usize)> {
    let read = |at: &mut usize| read_char(pattern, at).unwrap_or(0);
    let (mut seen, mut invert) = (false, false);
    let mut c2 = read(&mut at);
    if c2 == u32::from(b'^') {
        invert = true;
        c2 = read(&mut at);
    }
    if c2 == u32::from(b']') {
        seen = c == c2;
        c2 = read(&mut at);
    }
    let mut prior = 0;
    while c2 != 0 && c2 != u32::from(b']') {
        let next_byte = pattern.get(at).copied().unwrap_or(0);
        if c2 == u32::from(b'-') && next_byte != b']' && next_byte != 0 && prior > 0 {
            c2 = read(&mut at);
            seen |= (prior..=c2).contains(&c);
            prior = 0;
        } else {
            seen |= c == c2;
            prior = c2;
        }
        c2 = read(&mut at);
    }
    (c2 != 0).then_some((seen != invert, at))
}

/// Matches short input in place: pattern and text (both before their first NUL) read
/// character by character as SQLite reads them, backtracking only to the last star, which
/// suffices because the wildcards between stars have fixed width.
pub(super) fn direct_match(
    pattern: &[u8],
    text: &[u8],
    dialect: Dialect,
    escape: Option<u32>,
) -> bool {
    let (all, one) = wildcards(dialect, escape);
    let fold = dialect == Dialect::Like;
    let (mut p, mut t) = (0, 0);
    // After the last star: where the pattern resumes, and where the star's match ends.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            let (c, after) = decode_at(pattern, p);
            if Some(c) == all {
                star = Some((after, t));
                p = after;
                continue;
            }
            if t < text.len() {
                let (tc, t_after) = decode_at(text, t);
                let step = if fold && Some(c) == escape {
                    if after >= pattern.len() {
                        // A lone escape at the end never matches.
                        return false;
                    }
                    let (literal, next) = decode_at(pattern, after);
                    (same_char(literal, tc, fold), next)
                } else if !fold && c == u32::from(b'[') {
                    match class_member(pattern, after, tc) {
                        Some(step) => step,
                        // An unterminated class never matches.
                        None => return false,
                    }
                } else {
                    (Some(c) == one || same_char(c, tc, fold), after)
                };
                if step.0 {
                    p = step.1;
                    t = t_after;
                    continue;
                }
            }
        } else if t == text.len() {
            return true;
        }
        match star {
            Some((resume, end)) if end < text.len() => {
                let end = decode_at(text, end).1;
                star = Some((resume, end));
                p = resume;
                t = end;
            }
            _ => return false,
        }
    }
}
