//! The `trim`, `ltrim` and `rtrim` overrides: trim sets split into characters as SQLite
//! splits them, looked up in tables and hashes.

use std::collections::{HashMap, HashSet};

use rusqlite::functions::Context;

use super::char_set::CharSet;
use super::text::{is_continuation, text_of, until_nul};
use super::{Budget, DeadlinePassed, Output, SEARCH_WINDOW, too_big};

/// Which ends `trim` works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Left,
    Right,
    Both,
}

/// A trim set as SQLite splits it: each "character" is a byte, plus, for a byte of 0xC0 or
/// more, the continuation bytes after it. SQLite strips, at each step, the first character
/// of the set (in set order) whose bytes the string starts (or ends) with; several can
/// qualify only when the set holds such longer characters.
#[derive(Debug)]
struct TrimSet<'s> {
    /// The one-byte characters.
    bytes: [u64; 4],
    /// Only when ranking is needed: the set index + 1 of each one-byte character (0 when
    /// absent), to rank it against the longer ones.
    rank: Vec<u32>,
    /// Only when ranking is needed: the longer characters and their set index + 1.
    multi: HashMap<&'s [u8], u32>,
    /// (lead byte, length) of the longer characters, sorted and unique.
    lengths: Vec<(u8, usize)>,
    /// When the set is valid UTF-8 and has characters from U+0080 up: those, each
    /// [`packed`]. Its characters are then prefix-free, so at most one can match at either
    /// end and no ranking is needed.
    wide: Option<CharSet>,
}

/// Splits a trim set into SQLite's characters: `(index + 1, bytes)`.
fn set_chars(set: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    let mut at = 0;
    let mut index = 0u32;
    std::iter::from_fn(move || {
        let start = at;
        let lead = *set.get(start)?;
        at += 1;
        if lead >= 0xC0 {
            while at < set.len() && is_continuation(set[at]) {
                at += 1;
            }
        }
        index += 1;
        Some((index, &set[start..at]))
    })
}

impl<'s> TrimSet<'s> {
    /// The set from the bytes of `set` before its first NUL.
    fn new(set: &'s [u8], budget: &mut Budget<'_>) -> Result<Self, DeadlinePassed> {
        let mut this = Self {
            bytes: [0; 4],
            rank: Vec::new(),
            multi: HashMap::new(),
            lengths: Vec::new(),
            wide: None,
        };
        budget.spend(set.len())?;
        // Ranking matters only with longer characters that are not valid UTF-8.
        let longer = set_chars(set).any(|(_, char)| char.len() > 1);
        let valid = longer && std::str::from_utf8(set).is_ok();
        let ranked = longer && !valid;
        if ranked {
            this.rank = vec![0; 256];
        }
        let mut lengths = HashSet::new();
        let mut wide = Vec::new();
        for (index, char) in set_chars(set) {
            budget.spend(char.len())?;
            match char {
                [byte] => {
                    this.bytes[usize::from(byte >> 6)] |= 1 << (byte & 63);
                    if let Some(rank) = this.rank.get_mut(usize::from(*byte))
                        && *rank == 0
                    {
                        *rank = index;
                    }
                }
                _ if ranked => {
                    this.multi.entry(char).or_insert(index);
                    lengths.insert((char[0], char.len()));
                }
                _ => wide.push(packed(char)),
            }
        }
        // Few: their lengths add up to at most the set's size.
        this.lengths = lengths.into_iter().collect();
        this.lengths.sort_unstable();
        if valid {
            this.wide = Some(CharSet::new(wide, budget)?);
        }
        Ok(this)
    }

    fn has_byte(&self, byte: u8) -> bool {
        self.bytes[usize::from(byte >> 6)] >> (byte & 63) & 1 == 1
    }

    /// The set index + 1 of the longer character `char`, if in the set.
    fn index_of(&self, char: &[u8]) -> Option<u32> {
        self.multi.get(char).copied()
    }

    /// The lengths of the longer characters that start with `lead`, ascending.
    fn lengths_of(&self, lead: u8) -> &[(u8, usize)] {
        let from = self.lengths.partition_point(|&(b, _)| b < lead);
        let to = self.lengths.partition_point(|&(b, _)| b <= lead);
        &self.lengths[from..to]
    }

    /// Of the one-byte character `byte` and a longer `candidate` (index, length), the one
    /// SQLite would strip.
    fn pick(&self, byte: u8, candidate: Option<(u32, usize)>) -> Option<usize> {
        let single = self
            .rank
            .get(usize::from(byte))
            .filter(|&&index| index != 0)
            .map(|&index| (index, 1));
        match (single, candidate) {
            (Some(a), Some(b)) => Some(if a.0 < b.0 { a.1 } else { b.1 }),
            (one, other) => one.or(other).map(|(_, len)| len),
        }
    }

    /// The length of the character SQLite strips from the start of `s`, if any.
    fn strip_front(
        &self,
        s: &[u8],
        budget: &mut Budget<'_>,
    ) -> Result<Option<usize>, DeadlinePassed> {
        let lead = s[0];
        if self.multi.is_empty() || lead < 0xC0 {
            return Ok(self.has_byte(lead).then_some(1));
        }
        let lengths = self.lengths_of(lead);
        let Some(&(_, longest)) = lengths.last() else {
            return Ok(self.has_byte(lead).then_some(1));
        };
        let run = s
            .iter()
            .take(longest)
            .skip(1)
            .take_while(|&&b| is_continuation(b))
            .count();
        budget.spend(run)?;
        let mut best: Option<(u32, usize)> = None;
        for &(_, len) in lengths.iter().take_while(|&&(_, len)| len <= run + 1) {
            budget.spend(len)?;
            if let Some(index) = self.index_of(&s[..len])
                && best.is_none_or(|(b, _)| index < b)
            {
                best = Some((index, len));
            }
        }
        Ok(self.pick(lead, best))
    }

    /// The length of the character SQLite strips from the end of `s`, if any; `trailing`
    /// caches how many continuation bytes `s` ends with, so a long run of them costs
    /// linear time.
    fn strip_back(
        &self,
        s: &[u8],
        trailing: &mut Option<usize>,
        budget: &mut Budget<'_>,
    ) -> Result<Option<usize>, DeadlinePassed> {
        let last = s[s.len() - 1];
        if self.multi.is_empty() || !is_continuation(last) {
            *trailing = None;
            return Ok(self.has_byte(last).then_some(1));
        }
        // Only one longer character can end `s`: the one whose lead byte precedes all the
        // trailing continuation bytes.
        let run = match *trailing {
            Some(run) => run,
            None => {
                let run = s.iter().rev().take_while(|&&b| is_continuation(b)).count();
                budget.spend(run)?;
                run
            }
        };
        let mut candidate = None;
        if let Some(lead_at) = s.len().checked_sub(run + 1) {
            let lead = s[lead_at];
            if self
                .lengths_of(lead)
                .binary_search(&(lead, run + 1))
                .is_ok()
            {
                budget.spend(run + 1)?;
                candidate = self.index_of(&s[lead_at..]).map(|index| (index, run + 1));
            }
        }
        let stripped = self.pick(last, candidate);
        // Stripping one continuation byte shortens the run by one; anything else ends it.
        *trailing = match stripped {
            Some(1) => Some(run - 1),
            _ => None,
        };
        Ok(stripped)
    }
}

/// How long a valid UTF-8 sequence starting with `lead` is; 0 if none does.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Up to four bytes as one integer, first byte highest: equal for two sequences of the
/// same length exactly when their bytes are.
fn packed(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .enumerate()
        .fold(0, |word, (i, &b)| word | u32::from(b) << (24 - 8 * i))
}

/// For a valid UTF-8 set: the length of the set character `s` starts with, if any. The
/// lead byte fixes the length, so comparing packed bytes compares characters.
fn utf8_front(s: &[u8], set: &TrimSet<'_>, wide: &CharSet) -> Option<usize> {
    match utf8_len(s[0]) {
        1 => set.has_byte(s[0]).then_some(1),
        0 => None,
        len => s
            .get(..len)
            .filter(|char| wide.contains(packed(char)))
            .map(<[u8]>::len),
    }
}

/// For a valid UTF-8 set: the length of the set character `s` ends with, if any: an ASCII
/// byte, or a lead byte and all the continuation bytes after it.
fn utf8_back(s: &[u8], set: &TrimSet<'_>, wide: &CharSet) -> Option<usize> {
    let last = s[s.len() - 1];
    if last < 0x80 {
        return set.has_byte(last).then_some(1);
    }
    // Past three continuation bytes no valid character fits; the lead check then fails.
    let mut lead = s.len() - 1;
    while lead > 0 && s.len() - lead < 4 && is_continuation(s[lead]) {
        lead -= 1;
    }
    let char = &s[lead..];
    (utf8_len(char[0]) == char.len() && wide.contains(packed(char))).then_some(char.len())
}

/// The bounds of `input` with the bytes `strip` accepts removed from `side`: a test per
/// byte, scanned in windows so the clock is read between.
fn strip_bytes(
    input: &[u8],
    side: Side,
    budget: &mut Budget<'_>,
    strip: impl Fn(u8) -> bool,
) -> Result<(usize, usize), DeadlinePassed> {
    let (mut start, mut end) = (0, input.len());
    if side != Side::Right {
        while start < end {
            let window = &input[start..end.min(start + SEARCH_WINDOW)];
            budget.spend(window.len())?;
            let stripped = window.iter().take_while(|&&b| strip(b)).count();
            start += stripped;
            if stripped < window.len() {
                break;
            }
        }
    }
    if side != Side::Left {
        while start < end {
            let window = &input[start.max(end.saturating_sub(SEARCH_WINDOW))..end];
            budget.spend(window.len())?;
            let stripped = window.iter().rev().take_while(|&&b| strip(b)).count();
            end -= stripped;
            if stripped < window.len() {
                break;
            }
        }
    }
    Ok((start, end))
}

/// `trim(x)`, `trim(x, set)` and their `ltrim`/`rtrim` siblings; always text.
pub(super) fn trim(
    ctx: &Context<'_>,
    budget: &mut Budget<'_>,
    side: Side,
    max_len: usize,
) -> rusqlite::Result<Output> {
    let Some(input) = text_of(ctx.get_raw(0))? else {
        return Ok(Output::Null);
    };
    if ctx.len() == 1 {
        let (start, end) = strip_bytes(&input, side, budget, |b| b == b' ')?;
        return Ok(Output::Text(input[start..end].to_vec()));
    }
    let Some(set) = text_of(ctx.get_raw(1))? else {
        return Ok(Output::Null);
    };
    let set = until_nul(&set);
    // SQLite allocates a pointer and an unsigned per set character, within the limit.
    budget.spend(set.len())?;
    if set_chars(set).count() * (size_of::<usize>() + size_of::<u32>()) > max_len {
        return Err(too_big());
    }
    let set = TrimSet::new(set, budget)?;
    let (mut start, mut end) = (0, input.len());
    if let Some(wide) = &set.wide {
        if side != Side::Right {
            while start < end {
                budget.spend(1)?;
                match utf8_front(&input[start..end], &set, wide) {
                    Some(len) => start += len,
                    None => break,
                }
            }
        }
        if side != Side::Left {
            while start < end {
                budget.spend(1)?;
                match utf8_back(&input[start..end], &set, wide) {
                    Some(len) => end -= len,
                    None => break,
                }
            }
        }
    } else if set.multi.is_empty() {
        (start, end) = strip_bytes(&input, side, budget, |b| set.has_byte(b))?;
    } else {
        if side != Side::Right {
            while start < end {
                budget.spend(1)?;
                match set.strip_front(&input[start..end], budget)? {
                    Some(len) => start += len,
                    None => break,
                }
            }
        }
        if side != Side::Left {
            let mut trailing = None;
            while start < end {
                budget.spend(1)?;
                match set.strip_back(&input[start..end], &mut trailing, budget)? {
                    Some(len) => end -= len,
                    None => break,
                }
            }
        }
    }
    Ok(Output::Text(input[start..end].to_vec()))
}
