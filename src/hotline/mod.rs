//! The call centre 1900 1075 on the service side: operators' tokens ([`operators`]). The
//! HTTP endpoints are in `http::hotline`, the pure call checks in
//! `hue_intake_adapters::hotline`.

pub mod operators;
