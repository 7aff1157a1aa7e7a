//! `erc info`: a dataset's sizes, modalities and class balance.

use std::path::PathBuf;

use clap::Args;
use erc_data::Dataset;

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Dataset directory.
    dataset: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `erc info`.
pub fn run(a: InfoArgs) -> Result<(), CliError> {
    let ds = Dataset::open(&a.dataset)?;
    let m = ds.manifest();
    if a.json {
        let mut splits = serde_json::Map::new();
        for (name, ids) in &m.splits {
            let utterances: usize = ids.iter().map(|&d| ds.dialogue(d).len()).sum();
            splits.insert(
                name.clone(),
                serde_json::json!({"dialogues": ids.len(), "utterances": utterances, "class_counts": ds.class_counts(ids)}),
            );
        }
        let out = serde_json::json!({
            "name": m.name, "source": m.source, "classes": m.classes, "modalities": m.modalities,
            "speakers": m.speakers.len(), "dialogues": m.dialogue_ids.len(),
            "utterances": m.num_utterances, "has_text": m.has_text, "splits": splits,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("{}  ({})", m.name, if m.source.is_empty() { "no source recorded" } else { &m.source });
    println!(
        "dialogues {}  utterances {}  speakers {}  text {}",
        m.dialogue_ids.len(),
        m.num_utterances,
        m.speakers.len(),
        if m.has_text { "yes" } else { "no" }
    );
    if m.modalities.is_empty() {
        println!("modalities: none (a skeleton: extract features before training)");
    } else {
        let list: Vec<String> = m.modalities.iter().map(|x| format!("{} {}", x.name, x.dim)).collect();
        println!("modalities: {}", list.join(", "));
    }
    let width = m.classes.iter().map(String::len).max().unwrap_or(0).max(11);
    print!("{:<8} {:>9} {:>10}", "split", "dialogues", "utterances");
    for c in &m.classes {
        print!(" {c:>width$}");
    }
    println!();
    for name in split_order(m.splits.keys()) {
        let ids = &m.splits[&name];
        let utterances: usize = ids.iter().map(|&d| ds.dialogue(d).len()).sum();
        print!("{name:<8} {:>9} {utterances:>10}", ids.len());
        let counts = ds.class_counts(ids);
        let total: usize = counts.iter().sum::<usize>().max(1);
        for n in counts {
            print!(" {:>width$}", format!("{n} ({:.0}%)", 100.0 * n as f64 / total as f64));
        }
        println!();
    }
    Ok(())
}

/// Split names with train, valid and test first, then the others alphabetically.
fn split_order<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = names.cloned().collect();
    let rank = |n: &str| ["train", "valid", "test"].iter().position(|s| *s == n).unwrap_or(3);
    names.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    names
}
