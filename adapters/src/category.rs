//! The category hint (SPEC §6) from keywords: a hint for dispatch, never a reason to reject.
//! The keywords and how they are weighed live in `adapters/rules/category.toml`.

use std::sync::LazyLock;

use hue_intake_schemas::{Category, CategoryCode};

use crate::keys::{Keyed, PhraseSet, outermost, rule_file, section};

/// Every category in the order of the rule file (which breaks ties).
const CATEGORIES: [(&str, CategoryCode); 13] = [
    ("waste", CategoryCode::Waste),
    ("urban_order", CategoryCode::UrbanOrder),
    ("roads", CategoryCode::Roads),
    ("lighting_power", CategoryCode::LightingPower),
    ("water_supply", CategoryCode::WaterSupply),
    ("drainage_flooding", CategoryCode::DrainageFlooding),
    ("trees", CategoryCode::Trees),
    ("noise_security", CategoryCode::NoiseSecurity),
    ("natural_hazard", CategoryCode::NaturalHazard),
    ("animals_health", CategoryCode::AnimalsHealth),
    ("heritage_tourism", CategoryCode::HeritageTourism),
    ("telecom", CategoryCode::Telecom),
    ("public_services", CategoryCode::PublicServices),
];

static KEYWORDS: LazyLock<PhraseSet<usize>> = LazyLock::new(|| {
    let file = rule_file("category.toml", include_str!("../rules/category.toml"));
    let mut set = PhraseSet::new();
    for (rank, (name, _)) in CATEGORIES.iter().enumerate() {
        set.extend(section(&file, name), rank);
    }
    set
});

/// The likeliest category of a text, or `None` when no keyword matched.
pub fn hint(keyed: &Keyed<'_>) -> Option<Category> {
    let mut counts = [0u32; CATEGORIES.len()];
    for hit in outermost(KEYWORDS.find(keyed)) {
        counts[*hit.value] += 1;
    }
    let (rank, &count) = counts.iter().enumerate().rev().max_by_key(|&(_, &count)| count)?;
    (count > 0).then(|| Category { code: CATEGORIES[rank].1, confidence: (0.5 + 0.1 * f64::from(count - 1)).min(0.9) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> Option<CategoryCode> {
        hint(&Keyed::new(text)).map(|c| c.code)
    }

    #[test]
    fn the_rule_file_names_every_category_but_other() {
        let file = rule_file("category.toml", include_str!("../rules/category.toml"));
        assert_eq!(file.len(), CATEGORIES.len());
        for (name, _) in CATEGORIES {
            assert!(file.contains_key(name), "{name}");
        }
    }

    #[test]
    fn keywords_give_a_hint_and_nothing_gives_none() {
        assert_eq!(code("Đèn đường hỏng cả tuần nay"), Some(CategoryCode::LightingPower));
        assert_eq!(code("Cây đổ chắn ngang đường Lê Lợi"), Some(CategoryCode::Trees));
        assert_eq!(code("Rác thải tràn lan trên vỉa hè, bốc mùi hôi thối"), Some(CategoryCode::Waste));
        assert_eq!(code("Tieng on karaoke qua khuya"), Some(CategoryCode::NoiseSecurity));
        assert_eq!(code("Pothole on Le Loi street"), Some(CategoryCode::Roads));
        assert_eq!(code("Xin chào"), None);
    }
}
