//! Integration tests of the service: the real server on port 0 with a real SQLite file (or a
//! schema of its own on the local PostgreSQL, `postgres.rs`), and the real binary for the
//! crash and CLI tests. One test binary (one link step).

mod api;
mod chaos;
#[path = "../support/chaos.rs"]
mod chaos_harness;
mod chat;
mod chat_media;
mod cli;
mod common;
mod console;
mod contracts;
mod core_updates;
mod crash;
mod delivery;
mod deploy;
mod doubles;
mod hostile;
mod hotline;
mod instances;
mod mail;
mod mail_import;
mod mail_poller;
mod mail_servers;
mod media;
#[path = "../support/pg_schema.rs"]
mod pg_schema;
#[path = "../support/pii.rs"]
mod pii;
mod postgres;
mod privacy;
mod rate_limits;
mod regulation;
mod replies;
mod sanctions;
#[path = "../support/signing.rs"]
mod signing;
#[path = "../support/spawn.rs"]
mod spawn;
