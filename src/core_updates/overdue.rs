//! R10's one-day answer: an interaction (a citizen's follow-up on a report) that the core has
//! not answered within 1 day is overdue. "Answered" means a core update for the report at or
//! after the interaction's receive time. Counted per handling agency (from the report's
//! latest update, `unknown` when the core never wrote about it) in the gauge
//! `hue_intake_interactions_overdue{agency}`, refreshed periodically, and listed with their
//! tracking codes by `hue-intake interactions overdue`.
//!
//! Labels carry agency names only (offices, never people) and no tracking codes: codes are
//! for the command's output, not for a metrics backend.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};

/// The agency label of interactions whose report the core never wrote about.
pub const UNKNOWN: &str = "unknown";

/// Overdue interactions of one agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgencyOverdue {
    pub agency: String,
    pub count: usize,
    /// The overdue interactions' own tracking codes, oldest first.
    pub interactions: Vec<String>,
    /// The reports they follow up on (each once).
    pub reports: Vec<String>,
}

/// An agency name as a label value: trimmed, at most 64 characters, `unknown` when empty.
fn label(agency: Option<&str>) -> String {
    let trimmed: String = agency.unwrap_or("").trim().chars().take(64).collect();
    if trimmed.is_empty() { UNKNOWN.to_owned() } else { trimmed }
}

/// Overdue interactions at `now` (received since `since`, when given), per agency.
pub async fn report(
    store: &Store,
    now: DateTime<Utc>,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<AgencyOverdue>, StoreError> {
    let open = store.unanswered_interactions(now, since).await?;
    let mut by_agency: BTreeMap<String, AgencyOverdue> = BTreeMap::new();
    for interaction in open {
        let agency = label(interaction.agency.as_deref());
        let entry = by_agency.entry(agency.clone()).or_insert_with(|| AgencyOverdue {
            agency,
            count: 0,
            interactions: Vec::new(),
            reports: Vec::new(),
        });
        entry.count += 1;
        entry.interactions.push(interaction.tracking_code);
        if !entry.reports.contains(&interaction.in_reply_to) {
            entry.reports.push(interaction.in_reply_to);
        }
    }
    Ok(by_agency.into_values().collect())
}

/// Recomputes the gauge at `now`. `shown` holds the agencies this refresher has shown, so
/// that one whose count fell to none shows 0 rather than its last value.
pub async fn refresh(store: &Store, now: DateTime<Utc>, shown: &mut BTreeSet<String>) -> Result<(), StoreError> {
    let current = report(store, now, None).await?;
    let now_shown: BTreeSet<String> = current.iter().map(|a| a.agency.clone()).collect();
    for gone in shown.difference(&now_shown) {
        metrics::gauge!("hue_intake_interactions_overdue", "agency" => gone.clone()).set(0.0);
    }
    for agency in &current {
        metrics::gauge!("hue_intake_interactions_overdue", "agency" => agency.agency.clone()).set(agency.count as f64);
    }
    shown.extend(now_shown);
    Ok(())
}

/// Refreshes the gauge every `interval` until `shutdown`; `offset` is added to the clock
/// (drills and tests, like the relay's).
pub async fn run(store: Store, interval: Duration, offset: chrono::Duration, shutdown: CancellationToken) {
    let mut shown = BTreeSet::new();
    loop {
        if let Err(e) = refresh(&store, Utc::now() + offset, &mut shown).await {
            tracing::warn!(error = %e, "Could not refresh the overdue interactions gauge; will retry.");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

pub fn describe() {
    metrics::describe_gauge!(
        "hue_intake_interactions_overdue",
        "R10: interactions the case system has not answered within 1 day, by the report's handling agency (unknown when the core never wrote)."
    );
}

/// The report as a table: one line per agency, then its codes.
pub fn table(agencies: &[AgencyOverdue]) -> String {
    if agencies.is_empty() {
        return "No overdue interactions.\n".to_owned();
    }
    let width = agencies.iter().map(|a| a.agency.chars().count()).max().unwrap_or(6).max(6);
    let mut out = format!("{:<width$}  {:>5}  interactions\n", "agency", "count");
    for a in agencies {
        out.push_str(&format!("{:<width$}  {:>5}  {}\n", a.agency, a.count, a.interactions.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_capped_and_never_empty() {
        assert_eq!(label(None), "unknown");
        assert_eq!(label(Some("  ")), "unknown");
        assert_eq!(label(Some(" UBND phường Thuận Hóa ")), "UBND phường Thuận Hóa");
        assert_eq!(label(Some(&"x".repeat(100))).len(), 64);
    }

    #[test]
    fn the_table_lists_agencies_with_their_codes() {
        let t = table(&[AgencyOverdue {
            agency: "UBND phường Thuận Hóa".into(),
            count: 2,
            interactions: vec!["HUE-AAAA-AAAA".into(), "HUE-BBBB-BBBB".into()],
            reports: vec!["HUE-CCCC-CCCC".into()],
        }]);
        assert!(t.contains("UBND phường Thuận Hóa") && t.contains("    2  HUE-AAAA-AAAA HUE-BBBB-BBBB"), "{t}");
        assert_eq!(table(&[]), "No overdue interactions.\n");
    }
}
