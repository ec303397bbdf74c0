//! `edgenas compare`: two exported models on the same test images, image by image, with
//! McNemar's exact test, so "more accurate" can be told apart from the test set's noise.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use clap::Args;
use edgenas_onnx::TractModel;
use edgenas_report::{compare, format_p, Reading, SIGNIFICANCE};
use edgenas_train::data::load_splits_shaped;
use edgenas_train::trainer::{accuracy, hits};
use serde_json::json;

/// Options of `compare`.
#[derive(Args)]
pub struct CompareCmd {
    /// The model to judge (ONNX), e.g. a search winner.
    model: PathBuf,
    /// The model it is compared with (ONNX), e.g. a finished baseline.
    baseline: PathBuf,
    /// Dataset folder whose test split both models classify.
    #[arg(long, default_value = "data/mnist-10k")]
    data: PathBuf,
    /// Seed of the train/validation split whose training images normalise the test images, for
    /// both models (default: each model's own, `split_seed` in the model card beside it, else 0).
    #[arg(long)]
    split_seed: Option<u64>,
    /// Machine-readable JSON output.
    #[arg(long)]
    json: bool,
}

impl CompareCmd {
    pub fn run(self) -> Result<()> {
        let load = |p: &PathBuf| TractModel::from_path(p).with_context(|| format!("cannot compare {}", p.display()));
        let (model, baseline) = (load(&self.model)?, load(&self.baseline)?);
        let shape = model.input_shape().to_vec();
        ensure!(
            shape.len() == 4 && shape[0] == 1,
            "{}: input shape {shape:?}, expected [1, channels, height, width]",
            self.model.display()
        );
        ensure!(
            baseline.input_shape() == shape.as_slice(),
            "{}: input shape {:?} differs from {}'s {shape:?}",
            self.baseline.display(),
            baseline.input_shape(),
            self.model.display()
        );
        let want = [shape[1], shape[2], shape[3]];
        let mut right = Vec::new();
        let mut seeds: Vec<u64> = Vec::new();
        let mut test = None;
        for (path, m) in [(&self.model, &model), (&self.baseline, &baseline)] {
            let seed = self.split_seed_for(path);
            // the test images are read once, and again only for a model of another split seed
            if seeds.last() != Some(&seed) {
                let t = load_splits_shaped(&self.data, 0.1, seed, want)?.test;
                ensure!(!t.is_empty(), "{}: the test split is empty", self.data.display());
                ensure!(t.shape == want, "{}: images are {:?}, the models take {want:?}", self.data.display(), t.shape);
                test = Some(t);
            }
            seeds.push(seed);
            let test = test.as_ref().expect("loaded above");
            let logits = m.run_many(&test.images).with_context(|| format!("cannot run {}", path.display()))?;
            ensure!(
                logits.len() == test.len() * test.classes,
                "{}: outputs {} values per image, the data has {} classes",
                path.display(),
                logits.len() / test.len(),
                test.classes
            );
            right.push(hits(&logits, &test.labels, test.classes));
        }
        ensure!(right[0].len() == right[1].len(), "the test split changed between the two models");
        let p = compare(&right[0], &right[1]);
        let (acc_model, acc_base) = (accuracy(&right[0]), accuracy(&right[1]));
        if self.json {
            let v = json!({
                "model": self.model,
                "baseline": self.baseline,
                "data": self.data,
                "split_seed": seeds[0],
                "baseline_split_seed": seeds[1],
                "images": p.images,
                "model_accuracy": acc_model,
                "baseline_accuracy": acc_base,
                "accuracy_difference": p.difference,
                "only_model_right": p.only_a,
                "only_baseline_right": p.only_b,
                "p_value": p.p_value,
                "significant": p.significant(),
            });
            println!("{}", serde_json::to_string_pretty(&v).expect("serializable"));
            return Ok(());
        }
        self.print_text(&p, acc_model, acc_base);
        Ok(())
    }

    /// The split seed whose training images normalise `path`'s test images: `--split-seed`,
    /// else its model card's, else 0 (with a warning where the two disagree).
    fn split_seed_for(&self, path: &std::path::Path) -> u64 {
        let card = card_split_seed(path);
        match (self.split_seed, card) {
            (Some(given), Some((card, seed))) if seed != given => {
                eprintln!(
                    "warning: {}: split_seed {seed}, but --split-seed {given}: {} is tested on test images \
                     normalised with another split's training images than it was trained with",
                    card.display(),
                    path.display()
                );
                given
            }
            (Some(given), _) => given,
            (None, Some((_, seed))) => seed,
            (None, None) => 0,
        }
    }

    /// The text report of a paired comparison.
    fn print_text(&self, p: &edgenas_report::Paired, acc_model: f64, acc_base: f64) {
        println!("model     {:.2} %  {}", 100.0 * acc_model, self.model.display());
        println!("baseline  {:.2} %  {}", 100.0 * acc_base, self.baseline.display());
        println!(
            "difference {:+.2} points on {} test images (only the model right: {}, only the baseline right: {})",
            100.0 * p.difference,
            p.images,
            p.only_a,
            p.only_b
        );
        let verdict = match p.reading() {
            Reading::ABetter => "the model is more accurate",
            Reading::BBetter => "the baseline is more accurate",
            Reading::WithinNoise => "within the test set's noise",
        };
        println!("McNemar exact {}: {verdict} (significance level {SIGNIFICANCE})", format_p(p.p_value));
    }
}

/// The model card beside `model` (`NAME.json` for `NAME.onnx`) and its `split_seed`, when there
/// is one (an architecture JSON of the same name has none).
fn card_split_seed(model: &Path) -> Option<(PathBuf, u64)> {
    let card = model.with_extension("json");
    let text = std::fs::read_to_string(&card).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("split_seed")?.as_u64().map(|s| (card, s))
}
