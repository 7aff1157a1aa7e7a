//! Encoders: the BERT-style layer ([`bert`]), frame-sequence encoders ([`frame_encoder`]),
//! CLS encoders over affine attention ([`cls`]), speaker-characteristic encoders
//! ([`speaker_characteristics`]) and the specific/common encoders of adversarial modality
//! decomposition with their discriminator ([`decomposition`]).

pub mod bert;
pub mod cls;
pub mod decomposition;
pub mod frame_encoder;
pub mod speaker_characteristics;

pub use bert::*;
pub use cls::*;
pub use decomposition::*;
pub use frame_encoder::*;
pub use speaker_characteristics::*;
