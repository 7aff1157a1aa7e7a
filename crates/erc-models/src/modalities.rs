//! What a model reads from a dataset: the modality selection, and checks of class weights.

use erc_core::{DataSpec, ModelError};

/// Resolves a modality selection against a dataset.
///
/// `selection` is either `None` (every modality of the dataset), a list of names, or one
/// compact string of initials as the papers write them (`"tav"`, `"avl"`, `"l"`; `l` and `t`
/// both mean text). Returns `(name, dim)` pairs in the dataset's order.
pub fn resolve(selection: Option<&[String]>, spec: &DataSpec) -> Result<Vec<(String, usize)>, ModelError> {
    let names: Vec<String> = match selection {
        None if spec.modalities.is_empty() => {
            return Err(ModelError::InvalidConfig(
                "no modality selected: the dataset has no feature modality \
                 (a transcript skeleton from `erc import` needs features first)"
                    .into(),
            ));
        }
        None => return Ok(spec.modalities.iter().map(|m| (m.name.clone(), m.dim)).collect()),
        Some([compact]) if !spec.modalities.iter().any(|m| &m.name == compact) && compact.len() <= 3 => compact
            .chars()
            .map(|c| match c {
                't' | 'l' => Ok("text".to_string()),
                'a' => Ok("audio".to_string()),
                'v' => Ok("visual".to_string()),
                other => Err(ModelError::InvalidConfig(format!(
                    "modality initial `{other}` in `{compact}`: use t (or l), a, v"
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(list) => list.to_vec(),
    };
    if names.is_empty() {
        return Err(ModelError::InvalidConfig("no modality selected".into()));
    }
    let mut out = Vec::new();
    for m in &spec.modalities {
        if names.contains(&m.name) {
            out.push((m.name.clone(), m.dim));
        }
    }
    for n in &names {
        spec.modality_dim(n)?;
    }
    Ok(out)
}

/// Checks optional class weights against a dataset: one finite, non-negative weight per class.
pub(crate) fn check_weights(weights: &Option<Vec<f32>>, spec: &DataSpec) -> Result<(), ModelError> {
    match weights {
        Some(w) if w.len() != spec.num_classes() => {
            Err(ModelError::InvalidConfig(format!("{} class weights for {} classes", w.len(), spec.num_classes())))
        }
        Some(w) if w.iter().any(|v| !v.is_finite() || *v < 0.0) => {
            Err(ModelError::InvalidConfig("class weights must be finite and non-negative".into()))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use erc_core::ModalityDim;

    fn spec() -> DataSpec {
        DataSpec {
            classes: vec!["a".into(), "b".into()],
            modalities: ["text", "audio", "visual"]
                .iter()
                .enumerate()
                .map(|(i, n)| ModalityDim { name: n.to_string(), dim: i + 1 })
                .collect(),
            num_speakers: 2,
            train_class_counts: None,
        }
    }

    #[test]
    fn compact_and_explicit_selections() {
        let s = spec();
        assert_eq!(resolve(None, &s).unwrap().len(), 3);
        assert_eq!(resolve(Some(&["avl".into()]), &s).unwrap().len(), 3);
        assert_eq!(resolve(Some(&["l".into()]), &s).unwrap(), vec![("text".into(), 1)]);
        assert_eq!(resolve(Some(&["visual".into(), "text".into()]), &s).unwrap()[0].0, "text");
        assert!(resolve(Some(&["x".into()]), &s).is_err());
        assert!(resolve(Some(&["depth".into(), "text".into()]), &s).is_err());
    }
}
