//! # pycharter-examples
//!
//! What a user of pycharter-rs runs first: one program per backend
//! (`cargo run --example memory`, `sqlite`, `postgres`) and the production pattern
//! (`cargo run --example production`), each run by `tests/examples.rs` against its backend
//! (the PostgreSQL ones against the test server). This crate's dependencies are the README's
//! `Cargo.toml`, and the README's Rust code is compiled and run here as doctests; the README
//! code that needs a server is one of the example files, byte for byte (`tests/readme.rs`).

#![warn(missing_docs)]

/// The README's Rust code, compiled and run as doctests so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
