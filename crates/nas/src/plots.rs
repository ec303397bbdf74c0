//! The run folder's two plots. `pareto.svg`/`.png` shows the search: every candidate and the
//! hand-designed baselines at their search scores (validation error with the supernet's
//! inherited weights, or after the proxy training) against the latency the profile predicts.
//! `pareto-finished.svg`/`.png` shows the finished models, the ones shipped in `models/`: test
//! error of the trained model against the latency measured on the device. They are two files
//! because the two pairs of axes measure different things on different scales (a supernet
//! score is far above a trained model's error, a prediction is not a measurement), and the
//! search's plot is written before the finishing, which can take much longer than the search.

use std::path::{Path, PathBuf};

use anyhow::Result;
use edgenas_report::{PlotPoint, PlotSpec, Series, SeriesStyle};

use crate::config::{EvalMode, FinishFrom, SearchConfig};
use crate::evaluate::Record;
use crate::finish::{finished_steps, BaselineRow, Finished};

/// Whether a search with `config` finishes any model (and so writes `pareto-finished`).
pub(crate) fn finishes_any(config: &SearchConfig) -> bool {
    config.finish > 0 || config.finish_baselines
}

/// How the search scored candidates, for the legend ("supernet weights").
fn score_kind(config: &SearchConfig) -> String {
    match config.eval {
        EvalMode::Supernet => "supernet weights".into(),
        EvalMode::Proxy => format!("{}-step proxy training", config.proxy_steps),
    }
}

/// The search's plot: `records` (every evaluated candidate), the feasible `front` and the
/// `baselines`, all at their search scores; `valid_images` is how many validation images
/// scored them.
pub(crate) fn search_spec(
    config: &SearchConfig,
    records: &[Record],
    front: &[Record],
    baselines: &[BaselineRow],
    valid_images: usize,
) -> PlotSpec {
    let pt = |r: &Record, label: Option<String>| PlotPoint { x: r.latency_ms[0], y: 100.0 * (1.0 - r.accuracy), label };
    let kind = score_kind(config);
    let (y_label, how) = match config.eval {
        EvalMode::Supernet => (
            "validation error, supernet-inherited weights (%)".to_string(),
            "weights inherited from the supernet (batch-norm recalibrated)".to_string(),
        ),
        EvalMode::Proxy => (
            format!("validation error after {} proxy training steps (%)", config.proxy_steps),
            format!("each network trained {} steps from scratch", config.proxy_steps),
        ),
    };
    let mut note = format!(
        "Search-time scores: validation error on {valid_images} images, {how}.\nLatency: predicted from the profile, not measured."
    );
    if finishes_any(config) {
        note.push_str(
            "\nThe finished models (trained further; test error, measured latency) are plotted in pareto-finished.png.",
        );
    }
    PlotSpec {
        title: "Search: validation error vs predicted latency".into(),
        x_label: format!("latency predicted by the profile {} (ms)", config.profiles[0].display()),
        y_label,
        x_log: false,
        series: vec![
            Series {
                name: format!("candidates ({kind})"),
                points: records.iter().map(|r| pt(r, None)).collect(),
                style: SeriesStyle::Cloud,
            },
            Series {
                name: "Pareto front of the candidates within budget".into(),
                points: front.iter().map(|r| pt(r, None)).collect(),
                style: SeriesStyle::Front,
            },
            Series {
                name: format!("hand-designed baselines ({kind})"),
                points: baselines.iter().map(|b| pt(&b.record, Some(b.name.clone()))).collect(),
                style: SeriesStyle::Baseline,
            },
        ],
        note,
    }
}

/// How the finished models were trained, for the legend.
fn training(config: &SearchConfig) -> String {
    let steps = finished_steps(config);
    if config.finish_from == FinishFrom::Scratch || config.eval == EvalMode::Proxy {
        format!("trained from scratch, {steps} steps")
    } else if steps == 0 {
        "supernet weights, not fine-tuned".into()
    } else {
        format!("supernet weights fine-tuned {steps} steps")
    }
}

/// The last part of a path (the data folder's name), or the whole path when it has none.
fn short(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// The finished models' plot: the searched `winners` and (finished with `--finish-baselines`)
/// the `baselines`, each at its test error (the ONNX file's, run in tract) and its latency
/// measured on `device`. A recommended model's label ends with `*`.
pub(crate) fn finished_spec(
    config: &SearchConfig,
    device: &str,
    winners: &[Finished],
    baselines: &[Finished],
) -> PlotSpec {
    let pt = |f: &Finished| {
        let label = if f.recommended { format!("{} *", f.name) } else { f.name.clone() };
        PlotPoint::labelled(f.measured_ms, 100.0 * (1.0 - f.test_accuracy_tract), label)
    };
    let trained = training(config);
    let mut series = vec![Series {
        name: format!("searched networks ({trained})"),
        points: winners.iter().map(pt).collect(),
        style: SeriesStyle::Labelled,
    }];
    if !baselines.is_empty() {
        series.push(Series {
            name: format!("hand-designed baselines ({trained})"),
            points: baselines.iter().map(pt).collect(),
            style: SeriesStyle::Baseline,
        });
    }
    let images = winners.iter().chain(baselines).map(|f| f.test_hits.len()).max().unwrap_or(0);
    let mut note = format!(
        "Test error of the ONNX files in models/ on {images} test images, run in tract.\nLatency: measured on {device}, the median of the fastest pass."
    );
    note.push_str(
        "\n*: recommended, on the front of the finished models by validation accuracy and measured latency (test set unused).",
    );
    if baselines.is_empty() {
        note.push_str("\nThe hand-designed baselines were not finished (--finish-baselines finishes them too).");
    }
    PlotSpec {
        title: "Finished models: test error vs measured latency".into(),
        x_label: format!("latency measured on {device}, median (ms)"),
        y_label: format!("test error of the trained model, {} (%)", short(&config.data)),
        x_log: false,
        series,
        note,
    }
}

/// Write `spec` to the `(svg, png)` pair of paths.
pub(crate) fn write(spec: &PlotSpec, (svg, png): (PathBuf, PathBuf)) -> Result<()> {
    edgenas_report::write_plot(spec, &svg, &png)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluate::Candidate;
    use edgenas_space::Genome;

    fn record(accuracy: f64, latency_ms: f64, feasible: bool) -> Record {
        Record::scored(accuracy, latency_ms, feasible)
    }

    fn finished(name: &str, test_accuracy: f64, measured_ms: f64, recommended: bool) -> Finished {
        Finished {
            name: name.into(),
            model: PathBuf::from(format!("models/{name}.onnx")),
            search_accuracy: 0.5,
            valid_accuracy: 0.9,
            recommended,
            test_accuracy_burn: test_accuracy,
            test_accuracy_tract: test_accuracy,
            max_abs_diff: 0.0,
            predicted_ms: 9.0,
            measured_ms,
            measured_p10_ms: measured_ms * 0.95,
            flash_bytes: 0,
            sram_bytes: 0,
            params: 0,
            on_devices: Vec::new(),
            test_hits: vec![true; 400],
        }
    }

    fn config() -> SearchConfig {
        SearchConfig {
            profiles: vec!["profiles/pi4.json".into()],
            data: "data/mnist-10k".into(),
            ..SearchConfig::default()
        }
    }

    /// The (x, y) of each point of `series`, y rounded to 1e-9 (the % conversion's last bits).
    fn xy(series: &Series) -> Vec<(f64, f64)> {
        series.points.iter().map(|p| (p.x, (p.y * 1e9).round() / 1e9)).collect()
    }

    #[test]
    fn search_plot_says_its_scores_are_the_supernets_and_latency_predicted() {
        let records = [record(0.6, 2.0, true), record(0.7, 3.0, true), record(0.5, 9.0, false)];
        let front = [record(0.6, 2.0, true), record(0.7, 3.0, true)];
        let arch = edgenas_space::SearchSpace::default_space().sample(1);
        let base = BaselineRow {
            name: "k3e6-mid".into(),
            candidate: Candidate { genome: Genome(Vec::new()), arch },
            record: record(0.65, 4.0, true),
        };
        let spec = search_spec(&config(), &records, &front, &[base], 2000);
        assert_eq!(spec.y_label, "validation error, supernet-inherited weights (%)");
        assert_eq!(spec.x_label, "latency predicted by the profile profiles/pi4.json (ms)");
        let names: Vec<&str> = spec.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "candidates (supernet weights)",
                "Pareto front of the candidates within budget",
                "hand-designed baselines (supernet weights)"
            ]
        );
        let styles: Vec<SeriesStyle> = spec.series.iter().map(|s| s.style).collect();
        assert_eq!(styles, [SeriesStyle::Cloud, SeriesStyle::Front, SeriesStyle::Baseline]);
        // error in %, predicted latency of the first profile
        assert_eq!(xy(&spec.series[0]), [(2.0, 40.0), (3.0, 30.0), (9.0, 50.0)]);
        assert_eq!(xy(&spec.series[1]), [(2.0, 40.0), (3.0, 30.0)]);
        assert_eq!(xy(&spec.series[2]), [(4.0, 35.0)]);
        assert_eq!(spec.series[2].points[0].label.as_deref(), Some("k3e6-mid"));
        assert!(spec.note.contains("validation error on 2000 images"), "{}", spec.note);
        assert!(spec.note.contains("pareto-finished.png"), "{}", spec.note);

        // proxy scoring says so; nothing finished: no pointer to a plot that is not written
        let proxy =
            SearchConfig { eval: EvalMode::Proxy, proxy_steps: 150, finish: 0, finish_baselines: false, ..config() };
        let spec = search_spec(&proxy, &records, &front, &[], 500);
        assert_eq!(spec.y_label, "validation error after 150 proxy training steps (%)");
        assert_eq!(spec.series[0].name, "candidates (150-step proxy training)");
        assert!(!spec.note.contains("pareto-finished"), "{}", spec.note);
    }

    #[test]
    fn finished_plot_puts_models_at_test_error_and_measured_latency() {
        let winners = [finished("model-0-812us", 0.95, 0.7, true), finished("model-1-1500us", 0.96, 1.4, false)];
        let baselines = [finished("baseline-k3e6-mid", 0.94, 1.1, false)];
        let cfg = SearchConfig { finish_baselines: true, finetune_steps: 200, ..config() };
        let spec = finished_spec(&cfg, "pi4", &winners, &baselines);
        assert_eq!(spec.x_label, "latency measured on pi4, median (ms)");
        assert_eq!(spec.y_label, "test error of the trained model, mnist-10k (%)");
        assert_eq!(spec.series.len(), 2);
        assert_eq!(spec.series[0].name, "searched networks (supernet weights fine-tuned 200 steps)");
        assert_eq!(spec.series[0].style, SeriesStyle::Labelled);
        assert_eq!(spec.series[1].name, "hand-designed baselines (supernet weights fine-tuned 200 steps)");
        assert_eq!(spec.series[1].style, SeriesStyle::Baseline);
        // measured (not predicted: 9 ms) latency, test (not search or validation) error
        assert_eq!(xy(&spec.series[0]), [(0.7, 5.0), (1.4, 4.0)]);
        assert_eq!(xy(&spec.series[1]), [(1.1, 6.0)]);
        let labels: Vec<_> = spec.series.iter().flat_map(|s| &s.points).map(|p| p.label.clone().unwrap()).collect();
        assert_eq!(labels, ["model-0-812us *", "model-1-1500us", "baseline-k3e6-mid"]);
        assert!(spec.note.contains("on 400 test images") && spec.note.contains("measured on pi4"), "{}", spec.note);
        assert!(!spec.note.contains("not finished"), "{}", spec.note);

        // without --finish-baselines: winners only, and the note says why
        let scratch = SearchConfig { finish_from: FinishFrom::Scratch, finetune_steps: 600, ..config() };
        let spec = finished_spec(&scratch, "local", &winners, &[]);
        assert_eq!(spec.series.len(), 1);
        assert_eq!(spec.series[0].name, "searched networks (trained from scratch, 600 steps)");
        assert!(spec.note.contains("--finish-baselines"), "{}", spec.note);
    }
}
