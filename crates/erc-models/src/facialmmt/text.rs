//! FacialMMT's text input: one token sequence per dialogue (every utterance, past and future,
//! as context), truncated and separated the reference's way, and the span of one utterance in
//! it.
//!
//! * RoBERTa: `<s> u1 </s> </s> u2 </s> … </s> un </s>`; BERT: `[CLS] u1 [SEP] u2 [SEP] …`.
//! * `sep[j] = 1` at the closing separator of every utterance.
//! * Before the special tokens are added, while the utterance tokens exceed the budget
//!   (`max_len − 68` for RoBERTa, `max_len − 34` for BERT: 444 and 478 at 512), the last token
//!   of the currently longest utterance is removed (the first one wins ties).
//! * Right-padded to `max_len` with the pad id (the reference pads with 0, which for RoBERTa is
//!   `<s>`); `mask` is 1 on real tokens.
//! * Utterance `k` spans `[s_k, e_k)` with `e` the separator positions, `s_0 = 1` and
//!   `s_k = e_{k−1} + 2` (RoBERTa) or `+ 1` (BERT); at most the first `T` tokens are used.

use std::ops::Range;

use serde::{Deserialize, Serialize};

/// How utterances are joined into one dialogue sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Separator {
    /// `<s> u1 </s> </s> u2 </s>`: each utterance after the first opens with its own `</s>`.
    Roberta,
    /// `[CLS] u1 [SEP] u2 [SEP]`.
    Bert,
}

impl Separator {
    /// Utterance tokens allowed in a `max_len` sequence (444 / 478 at 512).
    pub fn budget(self, max_len: usize) -> usize {
        max_len.saturating_sub(match self {
            Self::Roberta => 68,
            Self::Bert => 34,
        })
    }

    /// Offset from one utterance's closing separator to the next utterance's first token.
    fn gap(self) -> usize {
        match self {
            Self::Roberta => 2,
            Self::Bert => 1,
        }
    }
}

/// The special token ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialTokens {
    /// The opening token (`<s>` = 0, `[CLS]` = 101).
    pub cls: i64,
    /// The separator (`</s>` = 2, `[SEP]` = 102).
    pub sep: i64,
    /// The padding id written after the last token (the reference writes 0).
    pub pad: i64,
}

impl SpecialTokens {
    /// RoBERTa's ids, padded with 0 as the reference does.
    pub const ROBERTA: Self = Self { cls: 0, sep: 2, pad: 0 };
    /// BERT's (uncased or cased) ids, padded with 0.
    pub const BERT: Self = Self { cls: 101, sep: 102, pad: 0 };
}

/// Why a dialogue cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextLayoutError {
    /// Too many utterances for the sequence length even after truncation.
    #[error(
        "a dialogue of {utterances} utterances needs {needed} tokens with its separators; the sequence holds {max_len}"
    )]
    TooLong {
        /// Utterances in the dialogue.
        utterances: usize,
        /// Tokens needed.
        needed: usize,
        /// The sequence length.
        max_len: usize,
    },
    /// An utterance index past the dialogue's end.
    #[error("utterance {index} of a dialogue with {utterances}")]
    NoUtterance {
        /// The index asked for.
        index: usize,
        /// Utterances there are.
        utterances: usize,
    },
}

/// One dialogue as the model's text input: `ids`, `mask` and `sep`, each `max_len` long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogueTokens {
    /// Token ids, padded.
    pub ids: Vec<i64>,
    /// 1 on real tokens.
    pub mask: Vec<i64>,
    /// 1 at each utterance's closing separator.
    pub sep: Vec<i64>,
}

/// Removes tokens until the utterances hold at most `budget` in total: each step drops the
/// last token of the currently longest utterance (the first on ties). Returns how many tokens
/// each utterance lost.
pub fn truncate_dialogue(utterances: &mut [Vec<i64>], budget: usize) -> Vec<usize> {
    let mut popped = vec![0; utterances.len()];
    let mut total: usize = utterances.iter().map(Vec::len).sum();
    while total > budget {
        let longest = (0..utterances.len())
            .fold(0, |best, i| if utterances[i].len() > utterances[best].len() { i } else { best });
        utterances[longest].pop();
        popped[longest] += 1;
        total -= 1;
    }
    popped
}

/// Lays out a dialogue's utterance tokens (each tokenized on its own, without special tokens):
/// truncation, separators, padding to `max_len`.
pub fn dialogue_tokens(
    utterances: &[Vec<i64>],
    separator: Separator,
    special: SpecialTokens,
    max_len: usize,
) -> Result<DialogueTokens, TextLayoutError> {
    let mut utterances = utterances.to_vec();
    truncate_dialogue(&mut utterances, separator.budget(max_len));
    let mut ids = vec![special.cls];
    let mut sep = vec![0];
    for (k, utterance) in utterances.iter().enumerate() {
        if k > 0 && separator == Separator::Roberta {
            ids.push(special.sep);
            sep.push(0);
        }
        ids.extend(utterance);
        sep.extend(std::iter::repeat_n(0, utterance.len()));
        ids.push(special.sep);
        sep.push(1);
    }
    if ids.len() > max_len {
        return Err(TextLayoutError::TooLong { utterances: utterances.len(), needed: ids.len(), max_len });
    }
    let real = ids.len();
    ids.resize(max_len, special.pad);
    sep.resize(max_len, 0);
    let mask = (0..max_len).map(|j| i64::from(j < real)).collect();
    Ok(DialogueTokens { ids, mask, sep })
}

/// The positions of utterance `index`'s tokens in a dialogue sequence (`sep` marks closing
/// separators), at most `max_rows` of them.
pub fn utterance_span(
    sep: &[i64],
    index: usize,
    separator: Separator,
    max_rows: usize,
) -> Result<Range<usize>, TextLayoutError> {
    let ends: Vec<usize> = (0..sep.len()).filter(|&j| sep[j] == 1).collect();
    let end = *ends.get(index).ok_or(TextLayoutError::NoUtterance { index, utterances: ends.len() })?;
    let start = if index == 0 { 1 } else { ends[index - 1] + separator.gap() };
    let start = start.min(end);
    Ok(start..end.min(start + max_rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_pops_from_the_longest_first_one_on_ties() {
        let mut u = vec![vec![1, 2, 3], vec![4, 5, 6], vec![7]];
        assert_eq!(truncate_dialogue(&mut u, 5), vec![1, 1, 0]);
        assert_eq!(u, vec![vec![1, 2], vec![4, 5], vec![7]]);
        assert_eq!(truncate_dialogue(&mut u, 4), vec![1, 0, 0]);
    }

    #[test]
    fn roberta_and_bert_layouts_and_spans() {
        let u = vec![vec![10, 11], vec![12], vec![13, 14, 15]];
        let r = dialogue_tokens(&u, Separator::Roberta, SpecialTokens::ROBERTA, 80).unwrap();
        assert_eq!(&r.ids[..12], &[0, 10, 11, 2, 2, 12, 2, 2, 13, 14, 15, 2]);
        assert_eq!(&r.sep[..12], &[0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1]);
        assert_eq!(r.mask.iter().sum::<i64>(), 12);
        assert_eq!(r.ids.len(), 80);
        // budget 80 − 68 = 12 utterance tokens: the six fit; at 73 (budget 5) the longest loses one
        let short = dialogue_tokens(&u, Separator::Roberta, SpecialTokens::ROBERTA, 73).unwrap();
        assert_eq!(&short.ids[..11], &[0, 10, 11, 2, 2, 12, 2, 2, 13, 14, 2]);
        assert_eq!(utterance_span(&r.sep, 0, Separator::Roberta, 38).unwrap(), 1..3);
        assert_eq!(utterance_span(&r.sep, 1, Separator::Roberta, 38).unwrap(), 5..6);
        assert_eq!(utterance_span(&r.sep, 2, Separator::Roberta, 2).unwrap(), 8..10);
        let b = dialogue_tokens(&u, Separator::Bert, SpecialTokens::BERT, 80).unwrap();
        assert_eq!(&b.ids[..10], &[101, 10, 11, 102, 12, 102, 13, 14, 15, 102]);
        assert_eq!(utterance_span(&b.sep, 2, Separator::Bert, 38).unwrap(), 6..9);
        assert!(utterance_span(&b.sep, 3, Separator::Bert, 38).is_err());
        assert!(matches!(
            dialogue_tokens(&vec![vec![]; 10], Separator::Roberta, SpecialTokens::ROBERTA, 16),
            Err(TextLayoutError::TooLong { .. })
        ));
    }
}
