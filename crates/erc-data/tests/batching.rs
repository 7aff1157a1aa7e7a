//! Batches: padding, masks, speakers, labels, views, shuffling.

use erc_core::PAD_LABEL;
use erc_data::{Batcher, Dataset, SynthConfig};

fn device() -> burn::tensor::Device {
    erc_core::BackendKind::Flex.device().unwrap()
}

fn dataset(dir: &std::path::Path) -> Dataset {
    SynthConfig::meld_like(3).with_dims(&[3, 2, 1]).with_dialogues(9, 2, 2).generate().unwrap().write(dir).unwrap();
    Dataset::open(dir).unwrap()
}

#[test]
fn padded_batch_matches_the_dialogues() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = dataset(&tmp.path().join("ds"));
    let ids = [0usize, 1, 2];
    let batch = Batcher::new(3).load(&ds, &ids, &device()).unwrap();
    let lens: Vec<usize> = ids.iter().map(|&d| ds.dialogue(d).len()).collect();
    let t = *lens.iter().max().unwrap();
    assert_eq!(batch.layout.lengths, lens);
    assert_eq!(batch.max_len(), t);
    let text = batch.modality("text").unwrap();
    assert_eq!(text.dims(), [3, t, 3]);
    assert_eq!(batch.modality_seq_first("text").unwrap().dims(), [t, 3, 3]);
    let s = ds.spec().num_speakers;
    assert_eq!(batch.speaker_one_hot.dims(), [3, t, s]);
    assert_eq!(batch.speaker_one_hot_seq_first().dims(), [t, 3, s]);

    let mask: Vec<f32> = batch.mask.clone().into_data().iter::<f32>().collect();
    let labels: Vec<i64> = batch.labels.clone().unwrap().into_data().iter::<i64>().collect();
    let speakers: Vec<i64> = batch.speaker_ids.clone().into_data().iter::<i64>().collect();
    let one_hot: Vec<f32> = batch.speaker_one_hot.clone().into_data().iter::<f32>().collect();
    let values: Vec<f32> = text.into_data().iter::<f32>().collect();
    for (b, &d) in ids.iter().enumerate() {
        let info = ds.dialogue(d);
        let mut rows = Vec::new();
        ds.read_features("text", info.start, info.end, &mut rows).unwrap();
        for i in 0..t {
            let row = b * t + i;
            let real = i < info.len();
            assert_eq!(mask[row], if real { 1.0 } else { 0.0 });
            let hot: f32 = one_hot[row * s..(row + 1) * s].iter().sum();
            assert_eq!(hot, if real { 1.0 } else { 0.0 });
            if real {
                assert_eq!(labels[row], ds.labels(info.start, info.end)[i]);
                assert_eq!(speakers[row], ds.speakers(info.start, info.end)[i]);
                assert_eq!(one_hot[row * s + speakers[row] as usize], 1.0);
                assert_eq!(&values[row * 3..row * 3 + 3], &rows[i * 3..i * 3 + 3]);
            } else {
                assert_eq!(labels[row], PAD_LABEL);
                assert!(values[row * 3..row * 3 + 3].iter().all(|v| *v == 0.0));
            }
        }
    }
    assert_eq!(batch.layout.labelled_rows().len(), lens.iter().sum::<usize>());
    assert_eq!(batch.padding_mask().dims(), [3, t]);
}

#[test]
fn plans_are_seeded_and_keep_the_last_partial_batch() {
    let b = Batcher::new(4);
    let ids: Vec<usize> = (0..10).collect();
    let plain = b.plan(&ids, None);
    assert_eq!(plain, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    let s1 = b.plan(&ids, Some(1));
    assert_eq!(s1, b.plan(&ids, Some(1)), "same seed, same order");
    assert_ne!(s1, b.plan(&ids, Some(2)), "another seed, another order");
    let mut flat: Vec<usize> = s1.concat();
    flat.sort_unstable();
    assert_eq!(flat, ids, "a permutation of all dialogues");
    assert_eq!(s1.last().unwrap().len(), 2);
}

#[test]
fn modality_selection_and_speaker_slots() {
    let tmp = tempfile::tempdir().unwrap();
    let ds = dataset(&tmp.path().join("ds"));
    let batch = Batcher::new(2)
        .with_modalities(vec!["audio".into()])
        .with_speaker_slots(12)
        .load(&ds, &[0, 1], &device())
        .unwrap();
    assert_eq!(batch.features.keys().collect::<Vec<_>>(), vec!["audio"]);
    assert_eq!(batch.speaker_one_hot.dims()[2], 12);
    let err = Batcher::new(2).with_modalities(vec!["smell".into()]).load(&ds, &[0], &device()).unwrap_err();
    assert!(err.to_string().contains("smell"), "{err}");
}
