//! The PostgreSQL backend: a `deadpool-postgres` pool; each request in its own
//! transaction under its plugin's role, with a statement timeout, read-only for reads.

#![allow(dead_code, reason = "being built")]

mod values;
