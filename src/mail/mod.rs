//! The mailbox dttm@ on the service side: raw messages in ([`ingest`]), TLS for the mail
//! connections ([`tls`]). Parsing is the pure `hue_intake_adapters::email`'s job; turning a
//! stored message into a record is the pipeline's.

pub mod ingest;
pub mod smtp;
pub mod tls;

pub use ingest::{Ingest, Ingested};
