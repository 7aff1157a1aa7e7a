//! Repeating a run over several seeds and summarising mean ± std.

use std::collections::BTreeMap;

use erc_data::Dataset;
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::TrainError;
use crate::report::{MeanStd, RunReport, SeedSummary};
use crate::run_dir::{RunOptions, files, holds_run};
use crate::trainer::train;

/// The runs of every seed and their summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiSeedReport {
    /// Mean ± std of the test metrics.
    pub summary: SeedSummary,
    /// The individual runs, in seed order.
    pub runs: Vec<RunReport>,
}

/// Summarises the test metrics of several runs.
pub fn summarise(runs: &[RunReport]) -> SeedSummary {
    let collect = |f: &dyn Fn(&RunReport) -> f64| MeanStd::of(&runs.iter().map(f).collect::<Vec<_>>());
    let mut per_class_f1 = BTreeMap::new();
    if let Some(first) = runs.first() {
        for (c, class) in first.test.metrics.per_class.iter().enumerate() {
            per_class_f1.insert(class.class.clone(), collect(&|r| r.test.metrics.per_class[c].f1));
        }
    }
    SeedSummary {
        seeds: runs.iter().map(|r| r.config.seed).collect(),
        accuracy: collect(&|r| r.test.metrics.accuracy),
        weighted_f1: collect(&|r| r.test.metrics.weighted_f1),
        macro_f1: collect(&|r| r.test.metrics.macro_f1),
        per_class_f1,
        selected_epoch: collect(&|r| r.selected_epoch as f64),
        selected_valid_score: collect(&|r| r.config.selection.of(&r.selected_valid.metrics)),
    }
}

/// Trains `config` once per seed into `out_dir/seed-<seed>` and writes `out_dir/summary.json`.
pub fn train_seeds(
    dataset: &Dataset,
    config: &RunConfig,
    seeds: &[u64],
    options: &RunOptions,
) -> Result<MultiSeedReport, TrainError> {
    if !options.resume && holds_run(&options.out_dir) {
        return Err(TrainError::RunExists(options.out_dir.clone()));
    }
    let mut runs = Vec::with_capacity(seeds.len());
    for (i, &seed) in seeds.iter().enumerate() {
        if options.verbose {
            eprintln!("── seed {seed} ({}/{}) ──", i + 1, seeds.len());
        }
        let mut cfg = config.clone();
        cfg.seed = seed;
        let mut opts = options.clone();
        opts.out_dir = options.out_dir.join(format!("seed-{seed}"));
        runs.push(train(dataset, &cfg, &opts)?);
    }
    let report = MultiSeedReport { summary: summarise(&runs), runs };
    let path = options.out_dir.join(files::SUMMARY);
    let json = serde_json::to_string_pretty(&report.summary).expect("summary serialises");
    std::fs::write(&path, json + "\n").map_err(|e| TrainError::io(&path, e))?;
    Ok(report)
}
