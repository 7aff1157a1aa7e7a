//! The auxiliary face-emotion pass: one epoch of the model's facial-expression head over a
//! [`FaceEmotionSet`], with its own optimiser, run before each main epoch (FacialMMT
//! alternates its two tasks this way; only the head's parameters receive gradients).

use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use erc_data::FaceEmotionSet;
use erc_models::AnyModel;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::config::FaceEmotionTraining;
use crate::error::TrainError;
use crate::optim::clip_grad_norm;
use crate::report::AuxiliaryResult;

/// The auxiliary task's optimiser: AdamW with ε = 1e-6 and no weight decay, as the
/// reference's aux phase (`transformers.AdamW`).
pub fn face_emotion_optimizer() -> ModuleOptimizer {
    AdamWConfig::new().with_epsilon(1e-6).with_weight_decay(0.0).init()
}

/// Loads the set and checks it fits the model's faces (`face_dim` wide, `classes` classes).
pub fn load_face_emotions(
    settings: &FaceEmotionTraining,
    face_dim: usize,
    classes: &[String],
) -> Result<FaceEmotionSet, TrainError> {
    let set = FaceEmotionSet::read(&settings.path)?;
    if set.dim != face_dim {
        return Err(TrainError::Config(format!(
            "the face-emotion set {} has {}-d faces, the dataset's faces are {face_dim}-d",
            settings.path.display(),
            set.dim
        )));
    }
    if set.classes != classes {
        return Err(TrainError::Config(format!(
            "the face-emotion set's classes {:?} differ from the dataset's {classes:?}",
            set.classes
        )));
    }
    if set.is_empty() || settings.batch_size == 0 {
        return Err(TrainError::Config("the face-emotion set is empty or its batch size is 0".into()));
    }
    Ok(set)
}

/// One shuffled pass over the set; returns the model and the pass's mean loss and accuracy.
pub fn face_emotion_epoch(
    mut model: AnyModel,
    set: &FaceEmotionSet,
    settings: &FaceEmotionTraining,
    optimizer: &mut ModuleOptimizer,
    seed: u64,
    device: &Device,
) -> Result<(AnyModel, AuxiliaryResult), TrainError> {
    let mut order: Vec<usize> = (0..set.len()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let (mut loss_sum, mut batches, mut correct) = (0.0f64, 0usize, 0usize);
    for chunk in order.chunks(settings.batch_size) {
        let n = chunk.len();
        let faces: Vec<f32> = chunk.iter().flat_map(|&i| set.embedding(i).iter().copied()).collect();
        let faces = Tensor::<2>::from_data(TensorData::new(faces, [n, set.dim]), device);
        let labels: Vec<i64> = chunk.iter().map(|&i| set.labels[i]).collect();
        let labels = Tensor::<2, Int>::from_data(TensorData::new(labels, [n, 1]), device);
        let Some(logits) = model.face_emotion_logits(faces) else {
            return Err(TrainError::Config("the model has no face-emotion task".into()));
        };
        let predicted = logits.clone().argmax(1); // [N, 1]
        let hits: i64 = predicted.equal(labels.clone()).int().sum().into_scalar();
        correct += hits as usize;
        let loss = log_softmax(logits, 1).gather(1, labels).mean().neg();
        let value: f32 = loss.clone().into_scalar();
        if !value.is_finite() {
            return Err(TrainError::NonFiniteLoss { epoch: 0, batch: batches + 1, value });
        }
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        if let Some(max_norm) = settings.grad_clip_norm {
            clip_grad_norm(&mut grads, &model, max_norm as f32);
        }
        model = optimizer.step(settings.lr, model, grads);
        loss_sum += value as f64;
        batches += 1;
    }
    Ok((model, AuxiliaryResult { loss: loss_sum / batches.max(1) as f64, accuracy: correct as f64 / set.len() as f64 }))
}
