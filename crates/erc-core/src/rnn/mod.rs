//! Recurrent layers: PyTorch-layout GRU weights and the masked bidirectional GRU ([`masked`]),
//! the LSTM cell ([`lstm`]), the DialogueRNN context ([`dialogue_rnn`]) and speaker-level context, a
//! recurrence over each speaker's own utterances ([`mod@speaker_context`]).

pub mod dialogue_rnn;
pub mod lstm;
pub mod masked;
pub mod speaker_context;

pub use dialogue_rnn::*;
pub use lstm::*;
pub use masked::*;
pub use speaker_context::*;
