//! Pareto plots: a spec of series in, an SVG and a PNG file out.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::axis::{to_plot, Axis};
use crate::error::ReportError;
use crate::font::{ensure_registered, FAMILY};
use crate::write::write_atomic;

/// Width of every plot, in pixels (SVG user units and PNG pixels).
pub const PLOT_WIDTH: u32 = 900;
/// Height of every plot, in pixels (SVG user units and PNG pixels).
pub const PLOT_HEIGHT: u32 = 600;

/// One point of a series, in data units.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotPoint {
    /// Horizontal coordinate (e.g. latency in ms).
    pub x: f64,
    /// Vertical coordinate (e.g. accuracy or error).
    pub y: f64,
    /// Text drawn next to the point by [`SeriesStyle::Baseline`] and [`SeriesStyle::Labelled`];
    /// ignored by the other styles.
    pub label: Option<String>,
}

impl PlotPoint {
    /// A point without label.
    pub fn new(x: f64, y: f64) -> PlotPoint {
        PlotPoint { x, y, label: None }
    }

    /// A point with a label (shown for baselines and labelled points).
    pub fn labelled(x: f64, y: f64, label: impl Into<String>) -> PlotPoint {
        PlotPoint { x, y, label: Some(label.into()) }
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesStyle {
    /// A Pareto front: filled circles joined by a step line, points sorted by x. The step holds
    /// each point's y until the next point's x (the attainment curve of a two-objective front).
    Front,
    /// A cloud of evaluated candidates: small light dots, drawn beneath everything else.
    Cloud,
    /// Reference models: a distinct marker (triangle, then cross, alternating between baseline
    /// series) with each point's label (or, without one, the series name) written beside it.
    Baseline,
    /// Individual models that are not a front: filled circles, larger than a front's and joined
    /// by no line, with each point's label (or, without one, the series name) written beside it.
    Labelled,
}

/// A named set of points drawn in one style; the name is the legend entry (an empty name has
/// none).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// The points, in any order.
    pub points: Vec<PlotPoint>,
    /// How the points are drawn.
    pub style: SeriesStyle,
}

/// Everything a plot shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotSpec {
    /// Caption above the chart.
    pub title: String,
    /// Description of the horizontal axis (include the unit).
    pub x_label: String,
    /// Description of the vertical axis (include the unit).
    pub y_label: String,
    /// Logarithmic horizontal axis; points with x <= 0 are then skipped.
    pub x_log: bool,
    /// The series, drawn clouds first, then fronts, then labelled points, then baselines;
    /// colours follow the spec's order.
    pub series: Vec<Series>,
    /// Small text under the chart, one line per `\n` (empty: none, and the chart takes the
    /// whole height): what a reader needs to know that fits no axis label or legend entry.
    pub note: String,
}

/// Draw `spec` and write it as an SVG file and a 900x600 PNG file.
///
/// Axis ranges come from the data (every series) with 5 % margins; a single point or equal
/// values get a range centred on them, no data at all a unit range. Points with a NaN or
/// infinite coordinate (or x <= 0 on a log axis) are skipped. The legend goes into the corner
/// of the chart holding the fewest points; a non-empty [`PlotSpec::note`] goes under the chart.
/// Point labels (baselines, labelled points) go beside their point on the first side where they
/// cover no other label and no other labelled point's marker, moved further out when all four
/// are taken. Text uses the bundled DejaVu Sans, so no system font is needed.
///
/// Both plots are rendered in memory first; each file is then written atomically (temporary
/// file in the same folder, renamed into place). The SVG is written before the PNG, so a failure
/// on the PNG leaves a complete SVG. Errors name the file concerned; a missing folder is an
/// error (folders are not created).
pub fn write_plot(spec: &PlotSpec, svg: &Path, png: &Path) -> Result<(), ReportError> {
    let prepared = Prepared::new(spec);
    let svg_text = render_svg(spec, &prepared).map_err(|message| render_err(svg, message))?;
    let png_bytes = render_png(spec, &prepared).map_err(|message| render_err(png, message))?;
    write_atomic(svg, svg_text.as_bytes())?;
    write_atomic(png, &png_bytes)?;
    Ok(())
}

fn render_err(path: &Path, message: String) -> ReportError {
    ReportError::Render { path: path.to_path_buf(), message }
}

fn render_svg(spec: &PlotSpec, prepared: &Prepared) -> Result<String, String> {
    if !ensure_registered() {
        return Err("the bundled font could not be registered".into());
    }
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (PLOT_WIDTH, PLOT_HEIGHT)).into_drawing_area();
        draw(&root, spec, prepared).map_err(|e| e.to_string())?;
    }
    Ok(text)
}

fn render_png(spec: &PlotSpec, prepared: &Prepared) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    if !ensure_registered() {
        return Err("the bundled font could not be registered".into());
    }
    let mut rgb = vec![0u8; PLOT_WIDTH as usize * PLOT_HEIGHT as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (PLOT_WIDTH, PLOT_HEIGHT)).into_drawing_area();
        draw(&root, spec, prepared).map_err(|e| e.to_string())?;
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&rgb, PLOT_WIDTH, PLOT_HEIGHT, image::ExtendedColorType::Rgb8)
        .map_err(|e| format!("PNG encoding: {e}"))?;
    Ok(out)
}

/// Colours of fronts and baselines, in series order (Tableau 10 without its grey).
const PALETTE: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
/// Colour of the first cloud; further clouds take palette colours.
const CLOUD_GREY: RGBColor = RGBColor(127, 127, 127);
const CLOUD_ALPHA: f64 = 0.35;

/// Marker of a baseline or labelled series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Triangle,
    Cross,
    Circle,
}

/// Height of one line of the note under the chart, in pixels.
const NOTE_LINE: u32 = 18;

/// A series reduced to drawable points in plot space.
struct PreparedSeries<'a> {
    name: &'a str,
    style: SeriesStyle,
    color: RGBColor,
    marker: Marker,
    /// (x, y, text) in plot space; fronts sorted by x then y.
    points: Vec<(f64, f64, &'a str)>,
}

/// What the drawing needs, computed once for both backends.
struct Prepared<'a> {
    x: Axis,
    y: Axis,
    /// Series in drawing order: clouds, fronts, labelled points, baselines.
    series: Vec<PreparedSeries<'a>>,
    legend: SeriesLabelPosition,
    /// Width of the y label area: room for the longest tick label plus the axis description.
    y_area: u32,
}

impl<'a> Prepared<'a> {
    fn new(spec: &'a PlotSpec) -> Prepared<'a> {
        let mut series = Vec::with_capacity(spec.series.len());
        let (mut colour_index, mut clouds, mut baselines) = (0usize, 0usize, 0usize);
        for s in &spec.series {
            let color = match s.style {
                SeriesStyle::Cloud if clouds == 0 => CLOUD_GREY,
                _ => {
                    colour_index += 1;
                    PALETTE[(colour_index - 1) % PALETTE.len()]
                }
            };
            let marker = match s.style {
                SeriesStyle::Labelled => Marker::Circle,
                _ if baselines % 2 == 0 => Marker::Triangle,
                _ => Marker::Cross,
            };
            match s.style {
                SeriesStyle::Cloud => clouds += 1,
                SeriesStyle::Baseline => baselines += 1,
                SeriesStyle::Front | SeriesStyle::Labelled => {}
            }
            let mut points: Vec<(f64, f64, &str)> = s
                .points
                .iter()
                .filter_map(|p| {
                    let x = to_plot(p.x, spec.x_log)?;
                    let y = to_plot(p.y, false)?;
                    Some((x, y, p.label.as_deref().unwrap_or(&s.name)))
                })
                .collect();
            if s.style == SeriesStyle::Front {
                points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
            }
            series.push(PreparedSeries { name: &s.name, style: s.style, color, marker, points });
        }
        let rank = |s: &PreparedSeries| match s.style {
            SeriesStyle::Cloud => 0,
            SeriesStyle::Front => 1,
            SeriesStyle::Labelled => 2,
            SeriesStyle::Baseline => 3,
        };
        series.sort_by_key(rank); // stable: keeps the spec's order within a style
        let all = || series.iter().flat_map(|s| s.points.iter());
        let x = Axis::new(all().map(|p| p.0), spec.x_log);
        let mut y = Axis::new(all().map(|p| p.1), false);
        let (legend, crowded) = emptiest_corner(&x, &y, all().map(|p| (p.0, p.1)));
        if crowded > 0 {
            // every corner holds points: a band of headroom on the legend's side keeps the box
            // off them
            let band = 0.4 * (y.hi - y.lo);
            let extra = match legend {
                SeriesLabelPosition::LowerLeft | SeriesLabelPosition::LowerRight => y.lo - band,
                _ => y.hi + band,
            };
            y = Axis::new(all().map(|p| p.1).chain([extra]), false);
        }
        let longest = y.bold.iter().map(|&t| y.label(t).chars().count()).max().unwrap_or(1);
        let y_area = u32::try_from(34 + 8 * longest).unwrap_or(u32::MAX).clamp(60, 200);
        Prepared { x, y, series, legend, y_area }
    }
}

/// The chart corner whose region (the legend box's size: 55 % of the width, 30 % of the
/// height) holds the fewest points, and how many it holds; ties go to upper right, upper left,
/// lower right, lower left in that order.
fn emptiest_corner(x: &Axis, y: &Axis, points: impl Iterator<Item = (f64, f64)>) -> (SeriesLabelPosition, usize) {
    let mut counts = [0usize; 4];
    for (px, py) in points {
        let (fx, fy) = (x.fraction(px), y.fraction(py));
        let (right, left, upper, lower) = (fx > 0.45, fx < 0.55, fy > 0.7, fy < 0.3);
        counts[0] += usize::from(right && upper);
        counts[1] += usize::from(left && upper);
        counts[2] += usize::from(right && lower);
        counts[3] += usize::from(left && lower);
    }
    let positions = [
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::LowerLeft,
    ];
    let best = (0..4).min_by_key(|&i| counts[i]).unwrap_or(0);
    (positions[best].clone(), counts[best])
}

/// The step line through a front sorted by x: each point's y holds until the next point's x.
fn step_path(points: &[(f64, f64, &str)]) -> Vec<(f64, f64)> {
    let mut path = Vec::with_capacity(points.len() * 2);
    for (i, &(x, y, _)) in points.iter().enumerate() {
        if i > 0 {
            path.push((x, path.last().map_or(y, |p: &(f64, f64)| p.1)));
        }
        path.push((x, y));
    }
    path
}

/// Whether points of this style carry their label.
fn has_labels(style: SeriesStyle) -> bool {
    matches!(style, SeriesStyle::Baseline | SeriesStyle::Labelled)
}

/// Distance from a point to its label, in pixels (each axis).
const LABEL_GAP: i32 = 9;
/// Half the size of the box a marker takes, in pixels.
const MARKER_HALF: i32 = 7;

/// A label to place: its point and its text's size, in pixels, and the side it prefers
/// (`left` of the point near the chart's right edge, `below` it near the top).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Label {
    at: (i32, i32),
    size: (u32, u32),
    prefer: (bool, bool),
}

/// Where a label goes: left or right of its point, above or below it, and moved `shift` pixels
/// further away from it (vertically) when the places beside the point are taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Placement {
    left: bool,
    below: bool,
    shift: i32,
}

impl Placement {
    /// The text's offset from its point, for an anchor at the text's corner nearest the point.
    fn offset(self) -> (i32, i32) {
        let dx = if self.left { -LABEL_GAP } else { LABEL_GAP };
        let dy = if self.below { LABEL_GAP + self.shift } else { -LABEL_GAP - self.shift };
        (dx, dy)
    }

    /// The box `(x0, y0, x1, y1)` the label's text covers.
    fn bounds(self, label: &Label) -> (i32, i32, i32, i32) {
        let (w, h) = (i32::try_from(label.size.0).unwrap_or(i32::MAX), i32::try_from(label.size.1).unwrap_or(i32::MAX));
        let (dx, dy) = self.offset();
        let (x, y) = (label.at.0.saturating_add(dx), label.at.1.saturating_add(dy));
        let x0 = if self.left { x.saturating_sub(w) } else { x };
        let y0 = if self.below { y } else { y.saturating_sub(h) };
        (x0, y0, x0.saturating_add(w), y0.saturating_add(h))
    }
}

fn overlaps(a: (i32, i32, i32, i32), b: (i32, i32, i32, i32)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// A place for each label, in order: the first of its preferred side, the other three sides,
/// then those moved one to three text heights further out, whose text lies inside `area`
/// (`x0, y0, x1, y1`) and covers neither a label placed before it nor any labelled point's
/// marker; the preferred side where none does.
fn place_labels(labels: &[Label], area: (i32, i32, i32, i32)) -> Vec<Placement> {
    let markers: Vec<(i32, i32, i32, i32)> = labels
        .iter()
        .map(|l| (l.at.0 - MARKER_HALF, l.at.1 - MARKER_HALF, l.at.0 + MARKER_HALF, l.at.1 + MARKER_HALF))
        .collect();
    let mut taken: Vec<(i32, i32, i32, i32)> = Vec::with_capacity(labels.len());
    let mut out = Vec::with_capacity(labels.len());
    for label in labels {
        let (left, below) = label.prefer;
        let height = i32::try_from(label.size.1).unwrap_or(i32::MAX);
        let sides = [(left, below), (left, !below), (!left, below), (!left, !below)];
        let mut candidates = (0..4).flat_map(|k: i32| {
            sides.iter().map(move |&(left, below)| Placement { left, below, shift: k.saturating_mul(height) })
        });
        let inside = |b: (i32, i32, i32, i32)| b.0 >= area.0 && b.1 >= area.1 && b.2 <= area.2 && b.3 <= area.3;
        let chosen = candidates
            .find(|c| {
                let b = c.bounds(label);
                inside(b) && !taken.iter().chain(&markers).any(|&t| overlaps(b, t))
            })
            .unwrap_or(Placement { left, below, shift: 0 });
        taken.push(chosen.bounds(label));
        out.push(chosen);
    }
    out
}

/// The lines of a note (none for an empty note).
fn note_lines(note: &str) -> Vec<&str> {
    if note.is_empty() {
        Vec::new()
    } else {
        note.lines().collect()
    }
}

/// The whole chart, drawn top to bottom: mesh, series, labels, legend, note. It stays one
/// function (about 120 lines) because every step draws on the same chart context, whose
/// plotters types would have to be spelled out to split it.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &PlotSpec,
    p: &Prepared,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    // the note's lines under the chart (at most a third of the height; lines beyond are cut)
    let lines = note_lines(&spec.note);
    let note_height = u32::try_from(lines.len()).map_or(u32::MAX, |n| n.saturating_mul(NOTE_LINE));
    let note_height = if lines.is_empty() { 0 } else { note_height.saturating_add(8).min(PLOT_HEIGHT / 3) };
    let (plot_area, note_area) = root.split_vertically(PLOT_HEIGHT - note_height);
    let mut y = 0i32;
    for line in lines {
        note_area.draw(&Text::new(line.to_string(), (16, y), (FAMILY, 13).into_font().color(&BLACK.mix(0.75))))?;
        y = y.saturating_add(NOTE_LINE as i32);
    }
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(&spec.title, (FAMILY, 24))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(p.y_area)
        .build_cartesian_2d(p.x.clone(), p.y.clone())?;

    chart
        .configure_mesh()
        .x_desc(spec.x_label.as_str())
        .y_desc(spec.y_label.as_str())
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .bold_line_style(BLACK.mix(0.15))
        .light_line_style(BLACK.mix(0.05))
        .draw()?;

    // where each point's label goes (baselines and labelled points; none for the others)
    let label_font = (FAMILY, 13).into_font();
    let mut wanted = Vec::new();
    for s in p.series.iter().filter(|s| has_labels(s.style)) {
        for &(x, y, text) in &s.points {
            let size = root.estimate_text_size(text, &TextStyle::from(label_font.clone()))?;
            let prefer = (p.x.fraction(x) > 0.75, p.y.fraction(y) > 0.9);
            wanted.push(Label { at: chart.backend_coord(&(x, y)), size, prefer });
        }
    }
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let mut placed = place_labels(&wanted, (xs.start, ys.start, xs.end, ys.end)).into_iter();

    let mut any_legend = false;
    for s in &p.series {
        let color = s.color;
        let places: Vec<Placement> =
            if has_labels(s.style) { placed.by_ref().take(s.points.len()).collect() } else { Vec::new() };
        let anno = match s.style {
            SeriesStyle::Cloud => {
                let style = color.mix(CLOUD_ALPHA).filled();
                let anno = chart.draw_series(s.points.iter().map(|&(x, y, _)| Circle::new((x, y), 2, style)))?;
                if s.name.is_empty() {
                    continue;
                }
                anno.label(s.name).legend(move |(x, y)| Circle::new((x, y), 3, style))
            }
            SeriesStyle::Front => {
                let path = step_path(&s.points);
                chart.draw_series(LineSeries::new(path, color.stroke_width(2)))?;
                let anno =
                    chart.draw_series(s.points.iter().map(|&(x, y, _)| Circle::new((x, y), 4, color.filled())))?;
                if s.name.is_empty() {
                    continue;
                }
                anno.label(s.name).legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(-8, 0), (8, 0)], color.stroke_width(2))
                        + Circle::new((0, 0), 4, color.filled())
                })
            }
            SeriesStyle::Baseline | SeriesStyle::Labelled => {
                let text_style = |i: usize| {
                    let place = places.get(i).copied().unwrap_or_default();
                    let h = if place.left { HPos::Right } else { HPos::Left };
                    let v = if place.below { VPos::Top } else { VPos::Bottom };
                    let style = TextStyle::from(label_font.clone()).color(&color).pos(Pos::new(h, v));
                    (place.offset(), style)
                };
                let labelled = s.points.iter().enumerate().map(|(i, &(x, y, text))| {
                    let (offset, style) = text_style(i);
                    (EmptyElement::at((x, y)), Text::new(text.to_string(), offset, style))
                });
                let anno = match s.marker {
                    Marker::Triangle => chart.draw_series(
                        labelled.map(|(at, text)| at + TriangleMarker::new((0, 0), 7, color.filled()) + text),
                    )?,
                    Marker::Cross => chart.draw_series(
                        labelled.map(|(at, text)| at + Cross::new((0, 0), 6, color.stroke_width(3)) + text),
                    )?,
                    Marker::Circle => chart
                        .draw_series(labelled.map(|(at, text)| at + Circle::new((0, 0), 6, color.filled()) + text))?,
                };
                if s.name.is_empty() {
                    continue;
                }
                match s.marker {
                    Marker::Triangle => {
                        anno.label(s.name).legend(move |(x, y)| TriangleMarker::new((x, y), 6, color.filled()))
                    }
                    Marker::Cross => {
                        anno.label(s.name).legend(move |(x, y)| Cross::new((x, y), 5, color.stroke_width(3)))
                    }
                    Marker::Circle => anno.label(s.name).legend(move |(x, y)| Circle::new((x, y), 5, color.filled())),
                }
            }
        };
        let _ = anno;
        any_legend = true;
    }
    if any_legend {
        chart
            .configure_series_labels()
            .position(p.legend.clone())
            .margin(12)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font((FAMILY, 14))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_path_holds_y_until_next_x() {
        let pts = [(1.0, 5.0, ""), (2.0, 3.0, ""), (4.0, 1.0, "")];
        assert_eq!(step_path(&pts), vec![(1.0, 5.0), (2.0, 5.0), (2.0, 3.0), (4.0, 3.0), (4.0, 1.0)]);
        assert!(step_path(&[]).is_empty());
    }

    #[test]
    fn labels_avoid_each_other_and_the_markers() {
        let area = (0, 0, 800, 500);
        let label = |x, y| Label { at: (x, y), size: (100, 14), prefer: (false, false) };
        // two points at the same place: the second label moves below the point
        let placed = place_labels(&[label(200, 200), label(200, 200)], area);
        assert_eq!(placed[0], Placement { left: false, below: false, shift: 0 });
        assert_eq!(placed[1], Placement { left: false, below: true, shift: 0 });
        let (a, b) = (placed[0].bounds(&label(200, 200)), placed[1].bounds(&label(200, 200)));
        assert!(!overlaps(a, b), "{a:?} {b:?}");
        // four labels at one point take the four sides, a fifth moves one line further out
        let placed = place_labels(&[label(400, 250); 5], area);
        let sides: Vec<(bool, bool)> = placed.iter().map(|p| (p.left, p.below)).collect();
        assert_eq!(sides[..4], [(false, false), (false, true), (true, false), (true, true)]);
        assert_eq!(placed[4], Placement { left: false, below: false, shift: 14 });
        // a label whose text would cover a neighbour's marker goes elsewhere
        let placed = place_labels(&[label(200, 200), label(250, 185)], area);
        assert_ne!(placed[0], Placement::default(), "right and above would cover (250, 185)");
        // near the right edge and the top, labels stay inside the chart
        let corner = Label { at: (790, 5), size: (100, 14), prefer: (true, true) };
        let placed = place_labels(&[corner], area);
        let b = placed[0].bounds(&corner);
        assert!(b.0 >= 0 && b.2 <= 800 && b.1 >= 0 && b.3 <= 500, "{b:?}");
        // no room anywhere: the preferred side
        let placed = place_labels(&[Label { at: (5, 5), size: (2000, 2000), prefer: (true, false) }], area);
        assert_eq!(placed[0], Placement { left: true, below: false, shift: 0 });
    }

    #[test]
    fn legend_avoids_crowded_corners() {
        let x = Axis::new([0.0, 1.0], false);
        let y = Axis::new([0.0, 1.0], false);
        // Points along the upper edge: the legend goes to a lower corner.
        let pts = [(0.0, 1.0), (0.1, 0.95), (0.9, 0.95), (1.0, 1.0), (0.0, 0.0)];
        assert_eq!(emptiest_corner(&x, &y, pts.into_iter()), (SeriesLabelPosition::LowerRight, 0));
    }

    #[test]
    fn a_legend_with_no_empty_corner_gets_a_band_of_its_own() {
        // three finished models: upper left, upper right, and low in the middle, under where
        // a lower corner's box would reach
        let at = |x: f64, y: f64| PlotPoint { x, y, label: None };
        let spec = PlotSpec {
            title: String::new(),
            x_label: String::new(),
            y_label: String::new(),
            x_log: false,
            series: vec![Series {
                name: "models".into(),
                points: vec![at(0.150, 2.55), at(0.305, 2.65), at(0.242, 2.30)],
                style: SeriesStyle::Labelled,
            }],
            note: String::new(),
        };
        let p = Prepared::new(&spec);
        let (fx, fy): (Vec<f64>, Vec<f64>) =
            spec.series[0].points.iter().map(|q| (p.x.fraction(q.x), p.y.fraction(q.y))).unzip();
        let in_box = |i: usize| {
            let (right, upper) = (fx[i] > 0.45, fy[i] > 0.7);
            let (left, lower) = (fx[i] < 0.55, fy[i] < 0.3);
            match p.legend {
                SeriesLabelPosition::UpperRight => right && upper,
                SeriesLabelPosition::UpperLeft => left && upper,
                SeriesLabelPosition::LowerRight => right && lower,
                _ => left && lower,
            }
        };
        assert!((0..3).all(|i| !in_box(i)), "a point lies under the legend at {:?}", p.legend);
    }
}
