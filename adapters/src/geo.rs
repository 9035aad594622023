//! Places in Huế: the 40 wards, jurisdiction and ward assignment (reference/vietnam.md §4).
//!
//! STUB: the real implementation lands from the adapters-helpers branch.

use hue_intake_schemas::Ward;

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("boundaries file is not a GeoJSON FeatureCollection of wards: {0}")]
    Invalid(String),
}

/// Ward boundaries loaded from a GeoJSON FeatureCollection (properties `code`, `name`).
#[derive(Debug, Clone, Default)]
pub struct Boundaries {}

impl Boundaries {
    pub fn from_geojson(_text: &str) -> Result<Self, GeoError> {
        Ok(Boundaries {})
    }
}

/// Where a point or an address lies.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub ward: Option<Ward>,
    pub within_jurisdiction: Option<bool>,
}

/// The gazetteer: exact polygons when configured, else the built-in table.
#[derive(Debug, Clone, Default)]
pub struct Geo {
    boundaries: Option<Boundaries>,
}

impl Geo {
    pub fn builtin() -> Self {
        Geo { boundaries: None }
    }

    pub fn with_boundaries(boundaries: Boundaries) -> Self {
        Geo {
            boundaries: Some(boundaries),
        }
    }

    /// Ward and jurisdiction of a WGS 84 point.
    pub fn locate_point(&self, _lat: f64, _lon: f64) -> Placement {
        let _ = &self.boundaries;
        Placement {
            ward: None,
            within_jurisdiction: None,
        }
    }

    /// Ward named in address text; `within_jurisdiction` is true when one is found, else null.
    pub fn locate_address(&self, _address: &str) -> Placement {
        Placement {
            ward: None,
            within_jurisdiction: None,
        }
    }
}
