//! Upstreams: where allowed requests go.
//!
//! # Layout
//!
//! - `client.rs`: the request path's pooled HTTP client (hyper, rustls).
//! - `urls.rs`: parsed upstream URLs, cached per base URL.
//! - `health.rs`: passive health per deployment (ejected after consecutive failures, cut off
//!   after a revocation), per replica and in memory.
//! - `failover.rs`: choosing the deployment that serves a request: the requested model's
//!   deployments in order, then its fallback chain, each fallback decided like a direct request.
//! - `probe.rs`: the optional active probe of ejected and cut-off deployments.

pub mod client;
pub mod failover;
pub mod health;
pub mod probe;
mod urls;

pub use client::UpstreamClient;
pub use urls::{Target, UpstreamUrls};
