//! The chat channels (Facebook Page, Zalo OA) after the webhook: assembling events into
//! records, fetching their media, and answering the citizen on the platform.
//!
//! The webhook handlers (`http::webhooks`) only verify and store the raw body; everything
//! here runs afterwards, from the store, so a crash at any point loses nothing.

pub mod facebook_api;
pub mod fetch;
pub mod health;
pub mod send;
pub mod tokens;
pub mod zalo_api;
