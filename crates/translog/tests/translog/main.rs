//! Integration tests for `portcullis-translog`, one binary (one link step) for all areas.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a panic is a test failure with a message"
)]
#![expect(clippy::type_complexity, reason = "test tables are tuples of inputs and expected results")]

mod common;
mod differential;
mod notes;
mod tiles;
mod verify;
mod witness;
