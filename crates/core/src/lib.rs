//! The pure governance core of Portcullis.
//!
//! Commands come in, events go out, state is derived from events, and the access decision is a
//! function of an immutable snapshot, the request's facts and `now`. Nothing here reads a clock,
//! a file, the environment or a socket (STYLE.md 2): storage, HTTP and time are the gateway's job.
//!
//! # Layout
//!
//! - [`account`]: the portals' login accounts (a password credential bound to an actor).
//! - [`ids`]: validated identifiers, [`Timestamp`], [`SecretHash`].
//! - [`stage`]: the release stage machine.
//! - [`policy`]: the Cedar schema, compiling criteria and directives, evaluation.
//! - [`attestation`]: end-user attestations (EdDSA JWS), verification.
//! - [`attester`]: trusted attesters and their keys, from the settings file and the API.
//! - [`event`]: events and their canonical encoding.
//! - [`command`]: commands, role checks, validation, producing events.
//! - [`state`]: the state derived from events.
//! - [`snapshot`]: the request path's frozen view, with memo caches.
//! - [`decision`]: the access decision.
//! - [`check`]: criteria checked clause by clause against a customer's own attributes.
//! - [`procedure`]: a model's sign-off quorum and periods, the review clock.
//! - [`application`]: the application state machine and sign-offs.
//! - [`appeal`]: appeals against adverse actions.
//! - [`notice`]: notices of adverse actions.
//! - [`evidence`]: cited evidence and its disclosure levels.
//! - [`limits`]: rate limits and token budgets per customer and key.
//! - [`impact`]: what a directive would cut, asked before it is issued.
//! - [`statistics`]: aggregate decision statistics per model, for the public register.
#![deny(missing_docs)]

pub mod account;
pub mod appeal;
pub mod application;
pub mod attestation;
pub mod attester;
pub mod check;
pub mod command;
pub mod decision;
pub mod error;
pub mod event;
pub mod evidence;
pub mod ids;
pub mod impact;
pub mod limits;
pub mod notice;
pub mod policy;
pub mod procedure;
pub mod snapshot;
pub mod stage;
pub mod state;
pub mod statistics;

pub use command::{Command, CommandError, handle};
pub use decision::{Allowed, Decision, Denial, decide};
pub use error::{InvalidValueError, PolicyDiagnostic, PolicyError, SourceLocation};
pub use event::{Actor, Deployment, DirectiveScope, Event, EventRecord, Upstream};
pub use evidence::{Disclosure, Evidence};
pub use ids::{
    AppealId, ApplicationId, AttesterId, AttesterKeyId, AuthorityId, CustomerId, DirectiveId, KeyId, ModelName,
    OfficialName, SecretHash, Timestamp, TokenId,
};
pub use snapshot::Snapshot;
pub use stage::{LiveStage, Stage, StageTarget};
pub use state::State;
