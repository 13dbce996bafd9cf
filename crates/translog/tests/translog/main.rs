//! Integration tests for `portcullis-translog`, one binary (one link step) for all areas.

#![expect(
    clippy::type_complexity,
    reason = "test tables are tuples of inputs and expected results"
)]

mod common;
mod differential;
mod notes;
mod tiles;
mod verify;
mod witness;
