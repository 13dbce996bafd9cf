//! The Portcullis gateway: the OpenAI-compatible request path, the admin API, operations
//! endpoints, and the single governance writer behind them.
//!
//! This crate is the IO driver around `portcullis-core` (STYLE.md 2): it owns sockets, the
//! clock, the store and the wire formats; every decision and every state change is the core's.
//!
//! # Layout
//!
//! - [`startup`]: [`Application`], built from [`config::Settings`].
//! - [`engine`]: the single writer and the atomically swapped snapshot; with a shared database,
//!   it also follows the other replicas' writes.
//! - [`replica`]: whether this replica is known to be current, and what it refuses when not.
//! - [`routes`]: one module per route group (`v1` request path, `admin`, `ops`).
//! - [`auth`], [`error`], [`metrics`], [`app`]: cross-cutting pieces.
//! - [`transparency`]: the log's signing key, checkpoint sequencer and witnesses.
//! - [`demo`], [`demo_upstream`]: the seeded demo world and its canned upstream.
//! - [`usage`]: recent-request counters for a directive's impact.
#![deny(missing_docs)]

pub mod app;
pub mod auth;
pub mod checkpoint;
pub mod config;
pub mod demo;
pub mod demo_upstream;
pub mod engine;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod replica;
pub mod routes;
pub mod serve;
pub mod startup;
pub mod transparency;
pub mod upstream;
pub mod usage;

pub use startup::Application;
