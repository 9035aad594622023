//! Urgency (R2): whether a report needs immediate handling.

use hue_intake_schemas::{Urgency, UrgencyLevel};

use crate::keys::Keyed;
use crate::triage::UrgentFlag;

pub fn assess(_keyed: &Keyed<'_>, flag: UrgentFlag) -> Urgency {
    let level = if flag == UrgentFlag::Operator(true) { UrgencyLevel::Immediate } else { UrgencyLevel::Normal };
    Urgency { level, signals: Vec::new() }
}
