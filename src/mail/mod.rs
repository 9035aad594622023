//! The mailbox dttm@ on the service side: raw messages in ([`ingest`]), the IMAP poller that
//! feeds it ([`poller`], sessions opened by [`imap`]), replies out by SMTP ([`smtp`]), TLS for
//! the mail connections ([`tls`]), a backlog imported from mbox and Maildir files ([`mailbox`]
//! reads them, [`import`] stores them). Parsing is the pure `hue_intake_adapters::email`'s
//! job; turning a stored message into a record is the pipeline's.

pub mod imap;
pub mod import;
pub mod ingest;
pub mod mailbox;
pub mod poller;
pub mod smtp;
pub mod tls;

pub use ingest::{Ingest, Ingested};
pub use poller::Poller;
