//! Learning-rate schedules, with state that survives a resume.

use erc_core::training::LrSchedule;
use serde::{Deserialize, Serialize};

/// Computes the learning rate of each optimiser step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrScheduler {
    schedule: LrSchedule,
    base: f64,
    total_steps: usize,
    step: usize,
    /// Current rate of the plateau schedule.
    plateau_lr: f64,
    best: Option<f64>,
    epochs_without_improvement: usize,
}

impl LrScheduler {
    /// A scheduler for `total_steps` optimiser steps starting at rate `base`.
    pub fn new(schedule: LrSchedule, base: f64, total_steps: usize) -> Self {
        Self { schedule, base, total_steps, step: 0, plateau_lr: base, best: None, epochs_without_improvement: 0 }
    }

    /// The rate for the next optimiser step (advances the step counter).
    pub fn next_lr(&mut self) -> f64 {
        let lr = self.current();
        self.step += 1;
        lr
    }

    /// The rate the next step would use.
    pub fn current(&self) -> f64 {
        match &self.schedule {
            LrSchedule::Constant => self.base,
            LrSchedule::Plateau { .. } => self.plateau_lr,
            LrSchedule::LinearWarmupDecay { warmup_steps } => {
                let s = self.step as f64;
                let w = *warmup_steps as f64;
                if self.step < *warmup_steps {
                    self.base * (s + 1.0) / w
                } else {
                    let remaining = (self.total_steps.saturating_sub(self.step)) as f64;
                    let span = (self.total_steps.saturating_sub(*warmup_steps)).max(1) as f64;
                    self.base * (remaining / span).clamp(0.0, 1.0)
                }
            }
        }
    }

    /// Tells the plateau schedule the epoch's validation score (higher is better).
    pub fn end_epoch(&mut self, score: f64) {
        if let LrSchedule::Plateau { factor, patience, min_lr } = self.schedule {
            if self.best.is_none_or(|b| score > b) {
                self.best = Some(score);
                self.epochs_without_improvement = 0;
            } else {
                self.epochs_without_improvement += 1;
                if self.epochs_without_improvement > patience {
                    self.plateau_lr = (self.plateau_lr * factor).max(min_lr);
                    self.epochs_without_improvement = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_linear_decay() {
        let mut s = LrScheduler::new(LrSchedule::LinearWarmupDecay { warmup_steps: 2 }, 1.0, 6);
        let lrs: Vec<f64> = (0..6).map(|_| s.next_lr()).collect();
        assert_eq!(lrs, vec![0.5, 1.0, 1.0, 0.75, 0.5, 0.25]);
    }

    #[test]
    fn plateau_drops_after_patience_like_torch() {
        let mut s = LrScheduler::new(LrSchedule::Plateau { factor: 0.5, patience: 1, min_lr: 0.2 }, 1.0, 100);
        for score in [0.5, 0.4, 0.4] {
            s.end_epoch(score);
        }
        // best 0.5; two bad epochs > patience 1 → halve once
        assert_eq!(s.current(), 0.5);
        for score in [0.3, 0.3, 0.3, 0.3] {
            s.end_epoch(score);
        }
        assert_eq!(s.current(), 0.2, "floored at min_lr");
        s.end_epoch(0.9);
        assert_eq!(s.current(), 0.2);
    }

    #[test]
    fn constant_stays() {
        let mut s = LrScheduler::new(LrSchedule::Constant, 0.1, 3);
        assert_eq!((s.next_lr(), s.next_lr()), (0.1, 0.1));
    }
}
