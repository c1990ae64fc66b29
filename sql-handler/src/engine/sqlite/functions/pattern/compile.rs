//! Compiling a LIKE or GLOB pattern into segments between stars, and the text it is
//! compared with into SQLite's canonical form.

use std::borrow::Cow;

use super::{Dialect, fold_ascii, read_char, wildcards};
use crate::engine::sqlite::functions::text::{decode_at, encode, until_nul};
use crate::engine::sqlite::functions::{Budget, DeadlinePassed};

/// A GLOB `[...]` class.
#[derive(Debug)]
pub(super) struct Class {
    invert: bool,
    ascii: u128,
    /// Sorted, disjoint, non-adjacent ranges of characters from U+0080 up.
    wide: Vec<(u32, u32)>,
}

impl Class {
    fn new(invert: bool, mut ranges: Vec<(u32, u32)>) -> Self {
        // The bits below `n`.
        let below = |n: u32| {
            if n >= 128 {
                u128::MAX
            } else {
                (1u128 << n) - 1
            }
        };
        let mut ascii = 0u128;
        let mut wide: Vec<(u32, u32)> = Vec::new();
        ranges.retain(|&(lo, hi)| lo <= hi);
        for &(lo, hi) in &ranges {
            ascii |= below(hi.saturating_add(1)) & !below(lo);
        }
        ranges.sort_unstable();
        for (lo, hi) in ranges {
            if hi < 128 {
                continue;
            }
            let lo = lo.max(128);
            match wide.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => wide.push((lo, hi)),
            }
        }
        Self {
            invert,
            ascii,
            wide,
        }
    }

    pub(super) fn contains(&self, c: u32) -> bool {
        let seen = if c < 128 {
            self.ascii >> c & 1 == 1
        } else {
            let i = self.wide.partition_point(|&(lo, _)| lo <= c);
            i > 0 && self.wide[i - 1].1 >= c
        };
        seen != self.invert
    }
}

/// One character's worth of pattern, or a run of literal characters.
#[derive(Debug)]
pub(super) enum Item {
    /// `chars` literal characters: `Pattern::literals[from..to]`, canonically encoded (and
    /// folded for LIKE).
    Literal {
        from: usize,
        to: usize,
        chars: usize,
    },
    /// `_` or `?`.
    Any,
    /// `[...]`.
    Class(Class),
}

/// The items between two stars: `Pattern::items[from..to]`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Segment {
    pub(super) from: usize,
    pub(super) to: usize,
    /// How many characters the segment matches.
    pub(super) chars: usize,
}

/// A compiled LIKE or GLOB pattern.
#[derive(Debug)]
pub(super) struct Pattern {
    /// What it was compiled from, to tell whether a cached copy still applies.
    pub(super) source: Vec<u8>,
    pub(super) escape: Option<u32>,
    /// The pattern ends in an unterminated `[` class or a lone escape character, which
    /// SQLite's matcher never matches.
    pub(super) never: bool,
    /// Whether there is a star; if so there are at least two segments, the ones before the
    /// first and after the last star included (possibly empty).
    starred: bool,
    pub(super) items: Vec<Item>,
    pub(super) literals: Vec<u8>,
    pub(super) segments: Vec<Segment>,
}

/// The text SQLite's matcher compares: up to the first NUL, every character in the
/// canonical encoding of [`encode`], ASCII upper case folded for LIKE. Valid UTF-8 is its
/// own canonical form, so the usual case copies nothing (or only folds).
pub(super) fn canonical<'t>(
    text: &'t [u8],
    fold: bool,
    budget: &mut Budget<'_>,
) -> Result<Cow<'t, [u8]>, DeadlinePassed> {
    let text = until_nul(text);
    budget.spend(text.len())?;
    if std::str::from_utf8(text).is_ok() {
        if fold && text.iter().any(u8::is_ascii_uppercase) {
            budget.spend(text.len())?;
            return Ok(Cow::Owned(text.to_ascii_lowercase()));
        }
        return Ok(Cow::Borrowed(text));
    }
    let mut out = Vec::with_capacity(text.len() + 8);
    let mut at = 0;
    while at < text.len() {
        budget.spend(1)?;
        let (c, next) = decode_at(text, at);
        at = next;
        encode(if fold { fold_ascii(c) } else { c }, &mut out);
    }
    Ok(Cow::Owned(out))
}

impl Pattern {
    /// Compiles `pattern` (the bytes before the first NUL) the way SQLite's
    /// `patternCompare` reads it.
    pub(super) fn compile(
        pattern: &[u8],
        dialect: Dialect,
        escape: Option<u32>,
        budget: &mut Budget<'_>,
    ) -> Result<Self, DeadlinePassed> {
        budget.spend(pattern.len())?;
        let fold = dialect == Dialect::Like;
        let (all, one) = wildcards(dialect, escape);
        let mut this = Self {
            source: pattern.to_vec(),
            escape,
            never: false,
            starred: false,
            items: Vec::with_capacity(pattern.len().min(8)),
            literals: Vec::with_capacity(pattern.len()),
            segments: Vec::with_capacity(2),
        };
        let mut open = Segment {
            from: 0,
            to: 0,
            chars: 0,
        };
        let mut at = 0;
        while let Some(c) = read_char(pattern, &mut at) {
            if Some(c) == all {
                this.starred = true;
                open.to = this.items.len();
                this.segments.push(open);
                open = Segment {
                    from: open.to,
                    to: open.to,
                    chars: 0,
                };
                continue;
            }
            open.chars += 1;
            if dialect == Dialect::Like && Some(c) == escape {
                match read_char(pattern, &mut at) {
                    Some(literal) => this.push_literal(literal, fold, open.from),
                    None => {
                        this.never = true;
                        break;
                    }
                }
            } else if dialect == Dialect::Glob && c == u32::from(b'[') {
                match Self::class(pattern, &mut at, budget)? {
                    Some(class) => this.items.push(Item::Class(class)),
                    None => {
                        this.never = true;
                        break;
                    }
                }
            } else if Some(c) == one {
                this.items.push(Item::Any);
            } else {
                this.push_literal(c, fold, open.from);
            }
        }
        open.to = this.items.len();
        this.segments.push(open);
        if this.starred {
            // Consecutive stars leave empty segments between them; keep the two ends.
            let last = this.segments.len() - 1;
            let mut i = 0;
            this.segments.retain(|segment| {
                i += 1;
                i == 1 || i == last + 1 || segment.from < segment.to
            });
        }
        Ok(this)
    }

    /// Reads a class after its `[`, as SQLite does: `^` inverts, a `]` right after `[` or
    /// `[^` is a member, `a-z` is a range unless `-` comes first, last, or right after
    /// another range. `None` if the pattern ends first.
    fn class(
        pattern: &[u8],
        at: &mut usize,
        budget: &mut Budget<'_>,
    ) -> Result<Option<Class>, DeadlinePassed> {
        let read = |at: &mut usize| read_char(pattern, at).unwrap_or(0);
        let mut ranges = Vec::new();
        let mut invert = false;
        let mut c = read(at);
        if c == u32::from(b'^') {
            invert = true;
            c = read(at);
        }
        if c == u32::from(b']') {
            ranges.push((c, c));
            c = read(at);
        }
        let mut prior = 0;
        while c != 0 && c != u32::from(b']') {
            budget.spend(1)?;
            let next_byte = pattern.get(*at).copied().unwrap_or(0);
            if c == u32::from(b'-') && next_byte != b']' && next_byte != 0 && prior > 0 {
                c = read(at);
                ranges.push((prior, c));
                prior = 0;
            } else {
                ranges.push((c, c));
                prior = c;
            }
            c = read(at);
        }
        Ok((c != 0).then(|| Class::new(invert, ranges)))
    }

    /// Appends literal `c` to the open segment, which starts at item `segment_from`.
    fn push_literal(&mut self, c: u32, fold: bool, segment_from: usize) {
        let c = if fold { fold_ascii(c) } else { c };
        let from = self.literals.len();
        encode(c, &mut self.literals);
        let to = self.literals.len();
        if self.items.len() > segment_from
            && let Some(Item::Literal {
                to: last_to, chars, ..
            }) = self.items.last_mut()
            && *last_to == from
        {
            *last_to = to;
            *chars += 1;
        } else {
            self.items.push(Item::Literal { from, to, chars: 1 });
        }
    }
}
