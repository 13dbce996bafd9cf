//! Portcullis's transparency log, as a pure, sans-IO library following the C2SP specs:
//! RFC 6962 hashing, [tlog-tiles](https://c2sp.org/tlog-tiles),
//! [tlog-checkpoint](https://c2sp.org/tlog-checkpoint),
//! [signed-note](https://c2sp.org/signed-note),
//! [tlog-cosignature](https://c2sp.org/tlog-cosignature) (Ed25519 v1),
//! [tlog-witness](https://c2sp.org/tlog-witness) and
//! [tlog-proof](https://c2sp.org/tlog-proof), so that tools no one here wrote (Go's
//! `golang.org/x/mod/sumdb/{note,tlog}`, witnesses, monitors) can verify the log.
//!
//! Nothing here reads a clock, a file, a socket or the environment: time, keys (as 32-byte
//! seeds), stored hashes ([`tree::HashReader`]) and tiles ([`verify::TileSource`]) are all
//! arguments. The log itself is the caller's storage: append with
//! [`tree::append_entries`], persist the returned stored hashes, sign
//! [`checkpoint::Checkpoint`]s with a [`note::NoteSigner`], serve the tiles from
//! [`tile::tiles_for_growth`] and [`tile::read_tile`].
//!
//! Implemented from the specs rather than on `tlog_tiles`/`signed_note` 0.2.0: those crates
//! would pull a second `base64` and `thiserror` generation plus `url` (and its Unicode
//! tables) and `serde_json` into a two-core build, use Go sumdb tile paths, lack
//! cosignatures, and need an RNG for key generation. The algorithms are Go tlog's; they are
//! differential-tested against `ct-merkle` and cross-checked with Go's x/mod
//! (`go-verify/run.sh`).
//!
//! # Layout
//!
//! - [`hash`]: the [`Hash`](struct@crate::hash::Hash) newtype, [`leaf_hash`] and [`node_hash`] (RFC 6962 §2.1).
//! - [`tree`]: the stored-hash scheme, appends over a [`tree::HashReader`], tree hashes,
//!   inclusion and consistency proofs and their checks.
//! - [`tile`]: tile and entry-bundle ids, C2SP paths, which tiles exist for a size, tile bytes
//!   from stored hashes and hashes from tile bytes, bundle framing.
//! - [`checkpoint`]: the checkpoint note text.
//! - [`note`]: signed notes, Ed25519 signer and verifier keys, opening a note.
//! - [`cosignature`]: tlog-cosignature/v1 signing (verification is in [`note`]).
//! - [`witness`]: the add-checkpoint formats and an in-memory witness state machine.
//! - [`proof`]: the tlog-proof receipt format.
//! - [`verify`]: checkpoint, tile, inclusion, consistency and receipt verification for
//!   outsiders.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic))]

pub mod checkpoint;
pub mod cosignature;
mod encoding;
pub mod hash;
pub mod note;
pub mod proof;
pub mod tile;
pub mod tree;
pub mod verify;
pub mod witness;

pub use crate::checkpoint::Checkpoint;
pub use crate::hash::{Hash, leaf_hash, node_hash};
pub use crate::note::{NoteSigner, NoteVerifier};
pub use crate::tree::{HashReader, TreeHead};
