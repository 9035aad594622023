//! What the gateway says back to a citizen: the text of an acknowledgement, question or
//! refusal, in the record's language (R3). The texts themselves live in the adapters' rule
//! files; this is only the shape that crosses the HTTP edge.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A message to the citizen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reply {
    /// `vi` or `en`; `mul` when the message holds both (the report was in another language).
    #[schema(example = "vi")]
    pub language: String,
    /// The text to show or send, one or more sentences.
    pub text: String,
}
