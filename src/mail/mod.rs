//! The mailbox dttm@ on the service side: raw messages in ([`ingest`]), the IMAP poller that
//! feeds it ([`poller`], sessions opened by [`imap`]), TLS for the mail connections
//! ([`tls`]). Parsing is the pure `hue_intake_adapters::email`'s job; turning a stored
//! message into a record is the pipeline's.

pub mod imap;
pub mod ingest;
pub mod poller;
pub mod smtp;
pub mod tls;

pub use ingest::{Ingest, Ingested};
pub use poller::Poller;
