//! The bit-parallel Shift-And search for segments that memmem cannot anchor.

use std::collections::HashMap;

use super::compile::{Class, Item, Pattern, Segment};
use crate::engine::sqlite::functions::text::decode_at;
use crate::engine::sqlite::functions::{Budget, DeadlinePassed};

/// The bit-parallel Shift-And search for one segment: bit `k` of the state says whether
/// the last `k + 1` characters match the segment's first `k + 1`, so one pass over the
/// text, at ⌈characters / 64⌉ words per character, finds the leftmost match (all matches of
/// a segment have the same length, so the leftmost to end is the leftmost to start).
#[derive(Debug)]
pub(super) struct ShiftAnd<'p> {
    /// The segment's length in characters.
    chars: usize,
    words: usize,
    /// Per ASCII character, the positions it may take; `words` words each.
    ascii: Vec<u64>,
    /// The positions any character may take (`_`, `?`).
    any: Vec<u64>,
    /// (character, position) of the literal characters from U+0080 up, sorted.
    wide: Vec<(u32, usize)>,
    /// (class, position) of the classes.
    classes: Vec<(&'p Class, usize)>,
    /// Masks of the characters from U+0080 up seen so far.
    seen: HashMap<u32, Vec<u64>>,
}

/// Most masks [`ShiftAnd`] remembers for characters from U+0080 up.
const SHIFT_AND_CACHE: usize = 4096;

impl<'p> ShiftAnd<'p> {
    pub(super) fn new(pattern: &'p Pattern, segment: &Segment) -> Self {
        let words = segment.chars.div_ceil(64).max(1);
        let mut this = Self {
            chars: segment.chars,
            words,
            ascii: vec![0; 128 * words],
            any: vec![0; words],
            wide: Vec::new(),
            classes: Vec::new(),
            seen: HashMap::new(),
        };
        let set = |bits: &mut [u64], k: usize| bits[k / 64] |= 1 << (k % 64);
        let mut k = 0;
        for item in &pattern.items[segment.from..segment.to] {
            match item {
                Item::Literal { from, to, .. } => {
                    let bytes = &pattern.literals[*from..*to];
                    let mut at = 0;
                    while at < bytes.len() {
                        let (c, next) = decode_at(bytes, at);
                        at = next;
                        match usize::try_from(c) {
                            Ok(ascii) if ascii < 128 => {
                                set(&mut this.ascii[ascii * words..][..words], k);
                            }
                            _ => this.wide.push((c, k)),
                        }
                        k += 1;
                    }
                }
                Item::Any => {
                    set(&mut this.any, k);
                    k += 1;
                }
                Item::Class(class) => {
                    for ascii in 1..128u8 {
                        if class.contains(u32::from(ascii)) {
                            set(&mut this.ascii[usize::from(ascii) * words..][..words], k);
                        }
                    }
                    this.classes.push((class, k));
                    k += 1;
                }
            }
        }
        for row in this.ascii.chunks_mut(words) {
            for (bits, any) in row.iter_mut().zip(&this.any) {
                *bits |= any;
            }
        }
        this.wide.sort_unstable();
        this
    }

    /// The positions character `c` (U+0080 or above) may take.
    fn wide_mask(&mut self, c: u32) -> &[u64] {
        if self.seen.len() >= SHIFT_AND_CACHE && !self.seen.contains_key(&c) {
            self.seen.clear();
        }
        let (any, wide, classes) = (&self.any, &self.wide, &self.classes);
        self.seen.entry(c).or_insert_with(|| {
            let mut mask = any.clone();
            let first = wide.partition_point(|&(w, _)| w < c);
            for &(_, k) in wide[first..].iter().take_while(|&&(w, _)| w == c) {
                mask[k / 64] |= 1 << (k % 64);
            }
            for &(class, k) in classes {
                if class.contains(c) {
                    mask[k / 64] |= 1 << (k % 64);
                }
            }
            mask
        })
    }

    /// The end of the leftmost match in `text[from..limit]`.
    pub(super) fn search(
        mut self,
        text: &[u8],
        from: usize,
        limit: usize,
        budget: &mut Budget<'_>,
    ) -> Result<Option<usize>, DeadlinePassed> {
        let Some(last) = self.chars.checked_sub(1) else {
            return Ok(Some(from));
        };
        let words = self.words;
        let (last_word, last_bit) = (last / 64, 1u64 << (last % 64));
        let mut state = vec![0u64; words];
        let mut at = from;
        while at < limit {
            budget.spend(words)?;
            let (c, next) = decode_at(text, at);
            at = next;
            let mask: &[u64] = match usize::try_from(c) {
                Ok(ascii) if ascii < 128 => &self.ascii[ascii * words..][..words],
                _ => self.wide_mask(c),
            };
            let mut carry = 1u64;
            for (bits, &allowed) in state.iter_mut().zip(mask) {
                let before = *bits;
                *bits = ((before << 1) | carry) & allowed;
                carry = before >> 63;
            }
            if state[last_word] & last_bit != 0 {
                return Ok(Some(at));
            }
        }
        Ok(None)
    }
}
