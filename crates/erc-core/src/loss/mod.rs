//! Losses: classification losses over the labelled utterances ([`classification`]), losses on
//! representations, SWFC and Soft-HGR ([`representation`]), the losses of adversarial
//! modality decomposition ([`decomposition`]) and gradient reversal ([`gradient_reversal`]).

pub mod classification;
pub mod decomposition;
pub mod gradient_reversal;
pub mod representation;

pub use classification::*;
pub use decomposition::*;
pub use gradient_reversal::*;
pub use representation::*;
