//! Black-box tests: the real gateway on a real socket, a fresh SQLite file per test, and a mock
//! upstream that speaks the OpenAI wire format. Set `TEST_LOG=1` to see the server's logs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::type_complexity,
    reason = "test code: a panic is a test failure with a message"
)]

mod anthropic;
mod attesters;
mod checkpoint;
mod errors;
mod failover;
mod governance;
mod helpers;
mod impact;
mod limits;
mod log;
mod mock_upstream;
mod openapi;
mod ops;
mod portal;
mod process;
mod register;
mod story;
mod streaming;
mod tls;
mod upstream;
