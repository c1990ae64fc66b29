//! `#[derive(SqlRow)]`: parse the struct and its attributes, check them, expand.

mod attr;
mod case;
mod expand;

pub(crate) use expand::expand;
