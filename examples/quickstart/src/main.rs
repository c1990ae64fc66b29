//! The quickstart plugin arrives with the client runtime; this placeholder keeps the
//! workspace layout of DESIGN.md complete.
//!
//! Run with `cargo run -p example-quickstart`.

fn main() {}
