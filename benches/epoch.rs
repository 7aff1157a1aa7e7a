//! Whole-epoch timings of the paper models, measured the way `../shared/perf/reference-times.md`
//! measured the PyTorch references: each paper preset at its real feature widths, random features
//! with the real dialogue lengths and speakers of the train split (one training epoch: forward,
//! the model's loss, backward, Adam, batches of the preset's size in a fixed order) and of the
//! test split (inference in batches of the same size). Medians of 3 passes after one warm-up
//! pass, per compiled backend.
//!
//! ```text
//! cargo bench --bench epoch                      # every row, prints a table
//! cargo bench --bench epoch -- multiemo          # rows whose name contains a filter
//! cargo bench --bench epoch -- mm-dfn/iemocap
//! ```
//! Without `--bench` (as `cargo test --all-targets` runs it) it only smoke-tests one batch of
//! two dialogues per row and backend.

mod common;

use std::time::Instant;

use erc::core::burn::module::Module;
use erc::core::burn::optim::GradientsParams;
use erc::core::{BackendKind, DataSpec, DialogueBatch, DialogueModel, ModalityDim};
use erc::models::ModelConfig;
use erc::train::optim::build_optimizer;

/// One row of the table: a model's preset on a dataset's splits.
struct Row {
    model: &'static str,
    preset: &'static str,
    dataset: &'static str,
    dims: [(&'static str, usize); 3],
    classes: usize,
    slots: usize,
    /// Overrides the preset's batch size (the reference's IEMOCAP MultiEMO run at 64 did not
    /// fit in memory, so it was also measured at 32).
    batch_size: Option<usize>,
}

const MM_DFN_IEMOCAP: [(&str, usize); 3] = [("text", 100), ("audio", 1582), ("visual", 342)];
const MM_DFN_MELD: [(&str, usize); 3] = [("text", 600), ("audio", 300), ("visual", 342)];
const MULTIEMO: [(&str, usize); 3] = [("text", 768), ("audio", 512), ("visual", 1000)];
const MALN: [(&str, usize); 3] = [("text", 1024), ("audio", 100), ("visual", 512)];

fn rows() -> Vec<Row> {
    let row = |model, preset, dataset, dims, classes, slots, batch_size| Row {
        model,
        preset,
        dataset,
        dims,
        classes,
        slots,
        batch_size,
    };
    vec![
        row("mm-dfn", "iemocap", "iemocap", MM_DFN_IEMOCAP, 6, 2, None),
        row("mm-dfn", "meld", "meld", MM_DFN_MELD, 7, 9, None),
        row("multiemo", "iemocap", "iemocap", MULTIEMO, 6, 2, None),
        row("multiemo", "iemocap", "iemocap", MULTIEMO, 6, 2, Some(32)),
        row("multiemo", "meld", "meld", MULTIEMO, 7, 9, None),
        row("maln", "iemocap", "iemocap", MALN, 6, 2, None),
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

/// Dialogues per split in the smoke run (without `--bench`), in one batch.
const SMOKE_DIALOGUES: usize = 2;

/// Times one row on one backend: `(train dialogues, train epoch s, test dialogues, inference s,
/// batch size)`, medians.
fn measure(row: &Row, backend: BackendKind, full: bool) -> (usize, f64, usize, f64, usize) {
    let (passes, warmup) = if full { (3, 1) } else { (1, 0) };
    let (config, _, training) = ModelConfig::preset(row.model, Some(row.preset)).unwrap();
    let batch_size = row.batch_size.unwrap_or(training.batch_size);
    let mut train = common::split_shapes(row.dataset, "train", row.slots);
    let mut test = common::split_shapes(row.dataset, "test", row.slots);
    if !full {
        // the smoke run (CI) checks that the measuring code works: one batch of two
        train.truncate(SMOKE_DIALOGUES);
        test.truncate(SMOKE_DIALOGUES);
    }
    let spec = DataSpec {
        classes: (0..row.classes).map(|c| c.to_string()).collect(),
        modalities: row.dims.iter().map(|(n, d)| ModalityDim { name: n.to_string(), dim: *d }).collect(),
        num_speakers: row.slots,
        train_class_counts: None,
    };
    let chunk = if full { batch_size } else { SMOKE_DIALOGUES };
    let train_batches = common::host_batches(&train, chunk, &row.dims, row.classes, row.slots, 1);
    let test_batches = common::host_batches(&test, chunk, &row.dims, row.classes, row.slots, 2);

    let device = backend.training_device().unwrap();
    let eval_device = device.clone().inner();
    let mut model = config.build(&spec, &device).unwrap();
    let mut optim = build_optimizer(&training);
    let mut epoch_times = Vec::new();
    for pass in 0..warmup + passes {
        let start = Instant::now();
        for host in &train_batches {
            let batch = DialogueBatch::from_host(host.clone(), &device).unwrap();
            let loss = model.forward(&batch).unwrap().total_loss().unwrap();
            let _ = loss.clone().into_scalar::<f32>(); // the references read .item() per batch
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(training.lr, model, grads);
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
            let _ = eval_model.forward(&batch).unwrap().log_probs.argmax(2).into_data();
        }
        if pass >= warmup {
            infer_times.push(start.elapsed().as_secs_f64());
        }
    }
    (train.len(), median(epoch_times), test.len(), median(infer_times), batch_size)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let filters: Vec<&String> = args.iter().skip(1).filter(|a| !a.starts_with("--")).collect();
    println!(
        "| model | preset | batch | backend | train dialogues | train epoch s | train dlg/s | test dialogues | inference s | infer dlg/s | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows() {
        let name = format!("{}/{}", row.model, row.preset);
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        for backend in common::bench_backends() {
            let (n_train, epoch, n_test, infer, batch) = measure(&row, backend, full);
            println!(
                "| {} | {} | {batch} | {backend} | {n_train} | {epoch:.2} | {:.2} | {n_test} | {infer:.2} | {:.2} | {:.0} |",
                row.model,
                row.preset,
                n_train as f64 / epoch,
                n_test as f64 / infer,
                peak_rss_mib()
            );
        }
    }
}
