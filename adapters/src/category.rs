//! Category hint (SPEC §6) from keywords; never a reason to reject.

use hue_intake_schemas::Category;

use crate::keys::Keyed;

pub fn hint(_keyed: &Keyed<'_>) -> Option<Category> {
    None
}
