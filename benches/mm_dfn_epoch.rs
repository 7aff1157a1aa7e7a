//! Whole-epoch timings of MM-DFN, measured the way `../shared/perf/reference-times.md` measured
//! the PyTorch reference: the paper presets at their real feature widths, random features with
//! the real dialogue lengths and speakers of the train split (one training epoch: forward, focal
//! loss, backward, Adam, batches of 32 in a fixed order) and of the test split (inference in
//! batches of 32). Medians of 3 passes after one warm-up pass, per compiled backend.
//!
//! ```text
//! cargo bench --bench mm_dfn_epoch            # full protocol, prints a table
//! cargo bench --bench mm_dfn_epoch -- iemocap # one preset
//! ```
//! Without `--bench` (as `cargo test --all-targets` runs it) it only smoke-tests two batches.

mod common;

use std::time::Instant;

use erc::core::burn::module::Module;
use erc::core::burn::optim::GradientsParams;
use erc::core::training::TrainingPreset;
use erc::core::{BackendKind, DataSpec, DialogueBatch, DialogueModel, ModalityDim};
use erc::models::mm_dfn::{MmDfn, MmDfnConfig};
use erc::train::optim::build_optimizer;

struct Preset {
    name: &'static str,
    dataset: &'static str,
    config: MmDfnConfig,
    dims: [(&'static str, usize); 3],
    classes: usize,
    slots: usize,
    training: TrainingPreset,
}

fn presets() -> Vec<Preset> {
    vec![
        Preset {
            name: "iemocap",
            dataset: "iemocap",
            config: MmDfnConfig::iemocap(),
            dims: [("text", 100), ("audio", 1582), ("visual", 342)],
            classes: 6,
            slots: 2,
            training: MmDfnConfig::iemocap_training(),
        },
        Preset {
            name: "meld",
            dataset: "meld",
            config: MmDfnConfig::meld(),
            dims: [("text", 600), ("audio", 300), ("visual", 342)],
            classes: 7,
            slots: 9,
            training: MmDfnConfig::meld_training(),
        },
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident set of this process so far, MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(String::from))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let only: Vec<&String> = args.iter().skip(1).filter(|a| !a.starts_with("--")).collect();
    let (passes, warmup) = if full { (3, 1) } else { (1, 0) };
    println!(
        "| preset | backend | train dialogues | train epoch s | train dlg/s | test dialogues | inference s | infer dlg/s | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for p in presets() {
        if !only.is_empty() && !only.iter().any(|o| *o == p.name) {
            continue;
        }
        let mut train = common::split_shapes(p.dataset, "train", p.slots);
        let mut test = common::split_shapes(p.dataset, "test", p.slots);
        if !full {
            train.truncate(4);
            test.truncate(4);
        }
        let spec = DataSpec {
            classes: (0..p.classes).map(|c| c.to_string()).collect(),
            modalities: p.dims.iter().map(|(n, d)| ModalityDim { name: n.to_string(), dim: *d }).collect(),
            num_speakers: p.slots,
            train_class_counts: None,
        };
        let train_batches = common::host_batches(&train, 32, &p.dims, p.classes, p.slots, 1);
        let test_batches = common::host_batches(&test, 32, &p.dims, p.classes, p.slots, 2);
        for backend in BackendKind::compiled() {
            let device = backend.training_device().unwrap();
            let eval_device = device.clone().inner();
            let mut model = MmDfn::new(&p.config, &spec, &device).unwrap();
            let mut optim = build_optimizer(&p.training);
            let mut epoch_times = Vec::new();
            for pass in 0..warmup + passes {
                let start = Instant::now();
                for host in &train_batches {
                    let batch = DialogueBatch::from_host(host.clone(), &device).unwrap();
                    let loss = model.forward(&batch).unwrap().total_loss().unwrap();
                    let _ = loss.clone().into_scalar::<f32>(); // the reference reads .item() per batch
                    let grads = GradientsParams::from_grads(loss.backward(), &model);
                    model = optim.step(p.training.lr, model, grads);
                }
                let _ = device.sync();
                if pass >= warmup {
                    epoch_times.push(start.elapsed().as_secs_f64());
                }
            }
            let eval_model = model.valid();
            let mut infer_times = Vec::new();
            for pass in 0..warmup + passes {
                let start = Instant::now();
                for host in &test_batches {
                    let batch = DialogueBatch::from_host(host.clone(), &eval_device).unwrap();
                    let out = eval_model.forward(&batch).unwrap();
                    let _ = out.log_probs.argmax(2).into_data();
                }
                if pass >= warmup {
                    infer_times.push(start.elapsed().as_secs_f64());
                }
            }
            let (epoch, infer) = (median(epoch_times), median(infer_times));
            println!(
                "| {} | {backend} | {} | {epoch:.2} | {:.2} | {} | {infer:.2} | {:.2} | {:.0} |",
                p.name,
                train.len(),
                train.len() as f64 / epoch,
                test.len(),
                test.len() as f64 / infer,
                peak_rss_mib()
            );
        }
    }
}
