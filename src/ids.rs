//! Identifiers the gateway makes: record ids (UUIDv7, time-ordered) and tracking codes
//! (40 random bits, SPEC §2). The only place that draws randomness for ids.

use hue_intake_schemas::TrackingCode;
use uuid::Uuid;

pub fn new_record_id() -> Uuid {
    Uuid::now_v7()
}

/// A fresh random tracking code. Uniqueness is the store's to enforce (it retries on a
/// collision); 40 bits make one rare enough that a retry costs nothing.
pub fn new_tracking_code() -> TrackingCode {
    TrackingCode::from_bits(rand::random::<u64>())
}
