//! Matching a compiled pattern: each segment placed at its leftmost match after the
//! previous one.

use super::compile::{Item, Pattern, Segment};
use super::shift_and::ShiftAnd;
use crate::engine::sqlite::functions::search::Search;
use crate::engine::sqlite::functions::text::{decode_at, is_continuation};
use crate::engine::sqlite::functions::{Budget, DeadlinePassed};

/// The index after the character at `at` of canonical text.
#[inline]
fn next_char(text: &[u8], mut at: usize) -> usize {
    at += 1;
    while at < text.len() && is_continuation(text[at]) {
        at += 1;
    }
    at
}

/// The index `chars` characters before `at` in canonical text, if not before `floor`.
fn back_chars(
    text: &[u8],
    mut at: usize,
    chars: usize,
    floor: usize,
    budget: &mut Budget<'_>,
) -> Result<Option<usize>, DeadlinePassed> {
    budget.spend(chars)?;
    for _ in 0..chars {
        if at <= floor {
            return Ok(None);
        }
        at -= 1;
        while at > floor && is_continuation(text[at]) {
            at -= 1;
        }
    }
    Ok(Some(at))
}

impl Pattern {
    /// Whether canonical `text` matches. Wildcards between stars have fixed width, so
    /// placing each segment at its leftmost match after the previous one loses no match
    /// (the classic greedy algorithm); SQLite's backtracking matcher gives the same
    /// answer, as its NOWILDCARDMATCH shortcut relies on the same fact.
    pub(super) fn matches(
        &self,
        text: &[u8],
        budget: &mut Budget<'_>,
    ) -> Result<bool, DeadlinePassed> {
        if self.never {
            return Ok(false);
        }
        let Some((first, rest)) = self.segments.split_first() else {
            return Ok(text.is_empty());
        };
        let Some(mut at) = self.match_at(first, text, 0, text.len(), budget)? else {
            return Ok(false);
        };
        let Some((last, middle)) = rest.split_last() else {
            return Ok(at == text.len());
        };
        let Some(tail) = back_chars(text, text.len(), last.chars, at, budget)? else {
            return Ok(false);
        };
        if self.match_at(last, text, tail, text.len(), budget)? != Some(text.len()) {
            return Ok(false);
        }
        for segment in middle {
            match self.search(segment, text, at, tail, budget)? {
                Some(end) => at = end,
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Where `segment` placed at `at` ends, if it matches there without passing `limit` (a
    /// character boundary).
    pub(super) fn match_at(
        &self,
        segment: &Segment,
        text: &[u8],
        mut at: usize,
        limit: usize,
        budget: &mut Budget<'_>,
    ) -> Result<Option<usize>, DeadlinePassed> {
        budget.spend(segment.to - segment.from)?;
        for item in &self.items[segment.from..segment.to] {
            match item {
                Item::Literal { from, to, .. } => {
                    let bytes = &self.literals[*from..*to];
                    budget.spend(bytes.len())?;
                    if !text[at..limit].starts_with(bytes) {
                        return Ok(None);
                    }
                    at += bytes.len();
                }
                Item::Any => {
                    if at >= limit {
                        return Ok(None);
                    }
                    at = next_char(text, at);
                }
                Item::Class(class) => {
                    if at >= limit {
                        return Ok(None);
                    }
                    let (c, next) = decode_at(text, at);
                    if !class.contains(c) {
                        return Ok(None);
                    }
                    at = next;
                }
            }
        }
        Ok(Some(at))
    }

    /// The end of the leftmost match of `segment` in `text[from..limit]`. Candidates are
    /// the occurrences of its longest literal, found by memmem and checked in place; when
    /// checking them costs more than a few units per byte scanned (a literal that is
    /// everywhere), or there is no literal, [`ShiftAnd`] finds the match in one pass.
    fn search(
        &self,
        segment: &Segment,
        text: &[u8],
        from: usize,
        limit: usize,
        budget: &mut Budget<'_>,
    ) -> Result<Option<usize>, DeadlinePassed> {
        let items = &self.items[segment.from..segment.to];
        // (item, its byte length, characters before it)
        let mut anchor: Option<(usize, usize, usize)> = None;
        let mut chars_before = 0;
        let mut cost = 0;
        for (i, item) in items.iter().enumerate() {
            if let Item::Literal { from, to, chars } = item {
                if anchor.is_none_or(|(_, best, _)| to - from > best) {
                    anchor = Some((i, to - from, chars_before));
                }
                chars_before += chars;
                cost += to - from;
            } else {
                chars_before += 1;
                cost += 1;
            }
        }
        let Some((anchor, _, chars_before)) = anchor else {
            if items.iter().all(|item| matches!(item, Item::Any)) {
                return self.match_at(segment, text, from, limit, budget);
            }
            return ShiftAnd::new(self, segment).search(text, from, limit, budget);
        };
        let Item::Literal {
            from: lf, to: lt, ..
        } = &items[anchor]
        else {
            return Ok(None);
        };
        let hay = &text[..limit];
        let finder = Search::new(&self.literals[*lf..*lt], hay.len() - from);
        let mut look = from;
        let mut checked = 0usize;
        while let Some(found) = finder.next(hay, look, budget)? {
            checked += cost;
            if checked > 16 * (found - from) + 64 * cost {
                return ShiftAnd::new(self, segment).search(text, from, limit, budget);
            }
            if let Some(start) = back_chars(text, found, chars_before, from, budget)?
                && let Some(end) = self.match_at(segment, text, start, limit, budget)?
            {
                return Ok(Some(end));
            }
            look = found + 1;
        }
        Ok(None)
    }
}
