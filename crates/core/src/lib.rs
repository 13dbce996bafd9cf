//! The pure governance core of Portcullis.
//!
//! Commands come in, events go out, state is derived from events, and the access decision is a
//! function of an immutable snapshot, the request's facts and `now`. Nothing here reads a clock,
//! a file, the environment or a socket (STYLE.md 2): storage, HTTP and time are the gateway's job.
//!
//! # Layout
//!
//! - [`ids`]: validated identifiers, [`Timestamp`], [`SecretHash`].
//! - [`stage`]: the release stage machine.
//! - [`policy`]: the Cedar schema, compiling criteria and directives, evaluation.
//! - [`attestation`]: end-user attestations (EdDSA JWS), verification.
//! - [`event`]: events and their canonical encoding.
//! - [`command`]: commands, role checks, validation, producing events.
//! - [`state`]: the state derived from events.
//! - [`snapshot`]: the request path's frozen view, with memo caches.
//! - [`decision`]: the access decision.
//! - [`check`]: criteria checked clause by clause against a customer's own attributes.
//! - [`impact`]: what a directive would cut, asked before it is issued.
#![deny(missing_docs)]

pub mod attestation;
pub mod check;
pub mod command;
pub mod decision;
pub mod error;
pub mod event;
pub mod ids;
pub mod impact;
pub mod policy;
pub mod snapshot;
pub mod stage;
pub mod state;

pub use command::{Command, CommandError, handle};
pub use decision::{Allowed, Decision, Denial, decide};
pub use error::{InvalidValueError, PolicyDiagnostic, PolicyError, SourceLocation};
pub use event::{Actor, DirectiveScope, Event, EventRecord, Evidence, Upstream};
pub use ids::{
    AttesterId, AuthorityId, CustomerId, DirectiveId, KeyId, ModelName, OfficialName, SecretHash, Timestamp, TokenId,
};
pub use snapshot::Snapshot;
pub use stage::{LiveStage, Stage, StageTarget};
pub use state::State;
