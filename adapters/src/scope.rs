//! Scope (R5): disputes, lawsuits, complaints and denunciations are not field reports.

use hue_intake_schemas::ScopeReason;

use crate::keys::Keyed;

pub fn assess(_keyed: &Keyed<'_>) -> Option<ScopeReason> {
    None
}
