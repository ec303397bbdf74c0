//! Plot output: both files, PNG content, SVG content, atomic writes, errors, degenerate input.

use std::path::{Path, PathBuf};

use edgenas_report::{write_plot, PlotPoint, PlotSpec, ReportError, Series, SeriesStyle, PLOT_HEIGHT, PLOT_WIDTH};

fn series(name: &str, style: SeriesStyle, points: Vec<PlotPoint>) -> Series {
    Series { name: name.to_string(), points, style }
}

fn spec(title: &str, x_log: bool, series: Vec<Series>) -> PlotSpec {
    PlotSpec {
        title: title.to_string(),
        x_label: "Latency (ms)".to_string(),
        y_label: "Top-1 accuracy (%)".to_string(),
        x_log,
        series,
        note: String::new(),
    }
}

/// A cloud of 200 candidates, a 6-point front (given out of order) and two labelled baselines.
fn full_spec(x_log: bool) -> PlotSpec {
    let cloud: Vec<PlotPoint> = (0..200)
        .map(|i| {
            let t = f64::from(i) / 200.0;
            PlotPoint::new(
                2.0 + 40.0 * t + (f64::from(i) * 0.7).sin().abs() * 5.0,
                60.0 + 30.0 * t.sqrt() - (f64::from(i) * 1.3).cos().abs() * 8.0,
            )
        })
        .collect();
    let front = vec![
        PlotPoint::new(12.0, 84.0),
        PlotPoint::new(2.5, 63.0),
        PlotPoint::new(40.0, 89.5),
        PlotPoint::new(5.0, 72.0),
        PlotPoint::new(25.0, 87.0),
        PlotPoint::new(8.0, 79.0),
    ];
    spec(
        "Pareto front: accuracy vs latency",
        x_log,
        vec![
            series("evaluated", SeriesStyle::Cloud, cloud),
            series("Pareto front", SeriesStyle::Front, front),
            series("MobileNetV2", SeriesStyle::Baseline, vec![PlotPoint::labelled(30.0, 86.0, "MobileNetV2 1.0")]),
            series(
                "MCUNet",
                SeriesStyle::Baseline,
                vec![PlotPoint::labelled(9.0, 70.5, "MCUNet-in1"), PlotPoint::new(3.0, 61.0)],
            ),
        ],
    )
}

fn paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("pareto.svg"), dir.join("pareto.png"))
}

fn decode(png: &Path) -> image::RgbImage {
    image::ImageReader::open(png)
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap_or_else(|e| panic!("{}: {e}", png.display()))
        .to_rgb8()
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn full_plot_writes_both_files() {
    for x_log in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (svg, png) = paths(dir.path());
        let spec = full_spec(x_log);
        write_plot(&spec, &svg, &png).unwrap();

        // PNG: decodes, right size, far from a single colour, with dark (text, axes) pixels.
        let img = decode(&png);
        assert_eq!((img.width(), img.height()), (PLOT_WIDTH, PLOT_HEIGHT));
        let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        colours.sort_unstable();
        colours.dedup();
        assert!(colours.len() > 20, "only {} colours", colours.len());
        assert!(img.pixels().any(|p| p.0 == [255, 255, 255]), "white background");

        // SVG: title, axis labels, legend names, baseline labels, one element per point.
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
        assert!(text.contains(r#"width="900" height="600""#), "{}", &text[..200]);
        for needle in [
            "Pareto front: accuracy vs latency",
            "Latency (ms)",
            "Top-1 accuracy (%)",
            "evaluated",
            "MobileNetV2 1.0",
            "MCUNet-in1",
            "\nMCUNet\n",
        ] {
            assert!(text.contains(needle), "SVG lacks {needle:?} (x_log {x_log})");
        }
        // 200 cloud dots + 6 front points + 2 legend markers.
        let circles = count(&text, "<circle");
        assert!((206..=210).contains(&circles), "{circles} circles");
        // First baseline: triangles (one point + legend); second: crosses.
        assert!(count(&text, "<polygon") >= 2);
        if x_log {
            // Ticks of a log axis over 2.5..45 ms.
            assert!(text.contains("\n10\n"), "log ticks");
        }
    }
}

#[test]
fn png_renders_text_without_system_fonts() {
    // Same plot with and without a title: the caption band differs only through glyph pixels.
    let dir = tempfile::tempdir().unwrap();
    let dark_in_caption = |title: &str| {
        let (svg, png) = paths(dir.path());
        let mut s = full_spec(false);
        s.title = title.to_string();
        write_plot(&s, &svg, &png).unwrap();
        let img = decode(&png);
        let mut dark = 0;
        for y in 0..40 {
            for x in 0..PLOT_WIDTH {
                let p = img.get_pixel(x, y).0;
                dark += usize::from(p.iter().map(|&c| u32::from(c)).sum::<u32>() < 300);
            }
        }
        dark
    };
    assert_eq!(dark_in_caption(""), 0);
    assert!(dark_in_caption("Pareto front") > 100);
}

#[test]
fn writes_are_atomic_and_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (svg, png) = paths(dir.path());
    std::fs::write(&svg, "old").unwrap();
    write_plot(&full_spec(false), &svg, &png).unwrap();
    write_plot(&full_spec(true), &svg, &png).unwrap();
    assert_eq!(dir_entries(dir.path()), ["pareto.png", "pareto.svg"]);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
}

#[test]
fn missing_folder_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let svg = missing.join("p.svg");
    let png = dir.path().join("p.png");
    let err = write_plot(&full_spec(false), &svg, &png).unwrap_err();
    assert!(matches!(&err, ReportError::Io { path, .. } if path == &svg), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&svg.display().to_string()), "{msg}");
    assert!(dir_entries(dir.path()).is_empty(), "nothing written: {:?}", dir_entries(dir.path()));

    // SVG fine, PNG folder missing: the error names the PNG.
    let svg = dir.path().join("p.svg");
    let png = missing.join("p.png");
    let err = write_plot(&full_spec(false), &svg, &png).unwrap_err();
    assert!(err.to_string().contains(&png.display().to_string()), "{err}");
    assert_eq!(dir_entries(dir.path()), ["p.svg"]);
}

#[test]
fn failed_rename_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let (svg, png) = paths(dir.path());
    // A non-empty folder where the PNG should go: the rename fails.
    std::fs::create_dir(&png).unwrap();
    std::fs::write(png.join("keep"), "x").unwrap();
    let err = write_plot(&full_spec(false), &svg, &png).unwrap_err();
    assert!(err.to_string().contains(&png.display().to_string()), "{err}");
    assert_eq!(dir_entries(dir.path()), ["pareto.png", "pareto.svg"]);
    assert!(png.is_dir());
}

#[test]
fn degenerate_inputs_do_not_panic() {
    let empty = |name: &str, style| series(name, style, Vec::new());
    let cases: Vec<PlotSpec> = vec![
        spec("no series", false, vec![]),
        spec("no series, log", true, vec![]),
        spec(
            "empty series",
            false,
            vec![
                empty("front", SeriesStyle::Front),
                empty("cloud", SeriesStyle::Cloud),
                empty("base", SeriesStyle::Baseline),
            ],
        ),
        spec("single point", false, vec![series("front", SeriesStyle::Front, vec![PlotPoint::new(3.0, 0.5)])]),
        spec("single point, log", true, vec![series("front", SeriesStyle::Front, vec![PlotPoint::new(3.0, 0.5)])]),
        spec("equal values", false, vec![series("cloud", SeriesStyle::Cloud, vec![PlotPoint::new(1.0, 1.0); 5])]),
        spec("zeros", true, vec![series("cloud", SeriesStyle::Cloud, vec![PlotPoint::new(0.0, 0.0); 3])]),
        spec(
            "non-finite",
            false,
            vec![series(
                "front",
                SeriesStyle::Front,
                vec![
                    PlotPoint::new(f64::NAN, 1.0),
                    PlotPoint::new(1.0, f64::INFINITY),
                    PlotPoint::new(f64::NEG_INFINITY, f64::NAN),
                ],
            )],
        ),
        spec(
            "log with non-positive x",
            true,
            vec![series(
                "front",
                SeriesStyle::Front,
                vec![PlotPoint::new(-1.0, 1.0), PlotPoint::new(0.0, 2.0), PlotPoint::new(10.0, 3.0)],
            )],
        ),
        spec(
            "huge range",
            false,
            vec![series(
                "cloud",
                SeriesStyle::Cloud,
                vec![PlotPoint::new(-1e308, 1e-300), PlotPoint::new(1e308, 1e300)],
            )],
        ),
        spec(
            "tiny range",
            true,
            vec![series(
                "front",
                SeriesStyle::Front,
                vec![PlotPoint::new(1e-12, 0.93), PlotPoint::new(1.0000001e-12, 0.9300001)],
            )],
        ),
        spec(
            "",
            false,
            vec![
                series("", SeriesStyle::Baseline, vec![PlotPoint::labelled(1.0, 1.0, ""), PlotPoint::new(2.0, 2.0)]),
                series("", SeriesStyle::Front, vec![PlotPoint::new(1.0, 2.0)]),
            ],
        ),
        PlotSpec {
            note: "a note longer than a third of the plot\n".repeat(100),
            ..spec("long note", false, vec![series("front", SeriesStyle::Front, vec![PlotPoint::new(1.0, 2.0)])])
        },
        spec(
            "Unicode & <markup>: µs, ±, 漢字, emoji 🚀",
            false,
            vec![series("Base \"q\" <b>", SeriesStyle::Baseline, vec![PlotPoint::labelled(1.0, 2.0, "a & b < c 🚀")])],
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, case) in cases.iter().enumerate() {
        let svg = dir.path().join(format!("{i}.svg"));
        let png = dir.path().join(format!("{i}.png"));
        write_plot(case, &svg, &png).unwrap_or_else(|e| panic!("{:?}: {e}", case.title));
        let img = decode(&png);
        assert_eq!((img.width(), img.height()), (PLOT_WIDTH, PLOT_HEIGHT));
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.trim_end().ends_with("</svg>"), "{:?}", case.title);
    }
    let markup = std::fs::read_to_string(dir.path().join(format!("{}.svg", cases.len() - 1))).unwrap();
    assert!(markup.contains("&amp; &lt;markup&gt;") || markup.contains("&amp; &lt;markup>"), "escaped title");
    assert_eq!(dir_entries(dir.path()).len(), 2 * cases.len(), "no temporary files");
}

#[test]
fn concurrent_plots_share_the_font_registration() {
    let dir = tempfile::tempdir().unwrap();
    std::thread::scope(|s| {
        for i in 0..4 {
            let dir = dir.path();
            s.spawn(move || {
                let svg = dir.join(format!("{i}.svg"));
                let png = dir.join(format!("{i}.png"));
                write_plot(&full_spec(i % 2 == 0), &svg, &png).unwrap();
            });
        }
    });
    assert_eq!(dir_entries(dir.path()).len(), 8);
}

/// The finished models' kind of plot: labelled points (given after the baselines, drawn before
/// them), a baseline, and a two-line note under the chart.
fn labelled_spec(note: &str) -> PlotSpec {
    PlotSpec {
        title: "Finished models: test error vs measured latency".to_string(),
        x_label: "latency measured on pi4, median (ms)".to_string(),
        y_label: "test error of the trained model, mnist-10k (%)".to_string(),
        x_log: false,
        series: vec![
            series(
                "hand-designed baselines (fine-tuned)",
                SeriesStyle::Baseline,
                vec![PlotPoint::labelled(1.1, 6.0, "baseline-k3e6-mid")],
            ),
            series(
                "searched networks (fine-tuned)",
                SeriesStyle::Labelled,
                vec![PlotPoint::labelled(0.7, 5.0, "model-0-700us *"), PlotPoint::labelled(1.4, 4.0, "model-1-1400us")],
            ),
        ],
        note: note.to_string(),
    }
}

#[test]
fn labelled_points_and_note_are_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let (svg, png) = paths(dir.path());
    let note = "The ONNX files in models/: test error on 400 test images.\n*: recommended.";
    write_plot(&labelled_spec(note), &svg, &png).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    for needle in [
        "latency measured on pi4, median (ms)",
        "test error of the trained model, mnist-10k (%)",
        "\nsearched networks (fine-tuned)\n",
        "\nhand-designed baselines (fine-tuned)\n",
        "\nmodel-0-700us *\n",
        "\nmodel-1-1400us\n",
        "\nbaseline-k3e6-mid\n",
        "\nThe ONNX files in models/: test error on 400 test images.\n",
        "\n*: recommended.\n",
    ] {
        assert!(text.contains(needle), "SVG lacks {needle:?}");
    }
    // two labelled points (radius 6) and their legend marker (radius 5); no line joins them
    assert_eq!(count(&text, r#"r="6""#), 2);
    assert_eq!(count(&text, r#"r="5""#), 1);
    // no line joins them: the same points as a front add its step line and legend line
    let mut as_front = labelled_spec(note);
    as_front.series[1].style = SeriesStyle::Front;
    write_plot(&as_front, &svg, &png).unwrap();
    let front_text = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(count(&front_text, "<polyline"), count(&text, "<polyline") + 2);
    // labelled points are drawn before baselines whatever the spec's order
    let at = |needle: &str| text.find(needle).unwrap();
    assert!(at("\nmodel-0-700us *\n") < at("\nbaseline-k3e6-mid\n"));

    // the note's lines take the bottom of the PNG (two lines: 2 x 18 + 8 pixels): the same
    // layout with two blank lines leaves that band white
    let dark_at_bottom = |note: &str| {
        write_plot(&labelled_spec(note), &svg, &png).unwrap();
        let img = decode(&png);
        let mut dark = 0;
        for y in PLOT_HEIGHT - 44..PLOT_HEIGHT {
            for x in 0..PLOT_WIDTH {
                let p = img.get_pixel(x, y).0;
                dark += usize::from(p.iter().map(|&c| u32::from(c)).sum::<u32>() < 400);
            }
        }
        dark
    };
    assert_eq!(dark_at_bottom(" \n "), 0);
    assert!(dark_at_bottom(note) > 200, "{}", dark_at_bottom(note));
}
