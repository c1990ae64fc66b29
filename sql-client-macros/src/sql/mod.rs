//! `sql!`: parse the call, check the statement with the shared policy, expand.

mod check;
mod expand;
mod input;
mod typed;

pub(crate) use expand::expand;
pub(crate) use input::SqlInput;
