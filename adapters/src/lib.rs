//! Pure translators of hue-intake: channel payload bytes in, canonical reports out.
//!
//! Everything here is a function of its inputs. No I/O, no async runtime, no clock and no
//! randomness: the service passes in the receive time, the ids it allocated and the keys it
//! holds, so that every adapter can be tested exhaustively on golden files in seconds and
//! `hue-intake normalize` gives the same answer as the running service. The crate must never
//! depend on tokio, reqwest or sqlx (a test in the service checks the dependency tree).

#![forbid(unsafe_code)]

pub mod app;
pub mod assembly;
pub mod attachment;
pub mod category;
pub mod chat;
pub mod email;
pub mod error;
pub mod facebook;
pub mod geo;
pub mod hotline;
pub mod identity;
pub mod improper;
pub mod keys;
pub mod media;
pub mod phone;
pub mod pii;
pub mod replies;
pub mod results;
pub mod scope;
pub mod text;
pub mod triage;
pub mod urgency;
pub mod zalo;
