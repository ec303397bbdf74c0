//! Reports of edgenas search results: Pareto plots and plain-text tables.
//!
//! This crate owns the presentation of results, nothing else: it draws scatter/Pareto plots
//! ([`write_plot`]) as SVG and PNG with [plotters](https://docs.rs/plotters), and formats aligned
//! plain-text tables ([`table`]) for the CLI's summaries, and compares two classifiers image by
//! image ([`compare`], McNemar's exact test) so a summary can say whether an accuracy gap is
//! more than the test set's noise. It knows nothing about networks,
//! devices or the search itself: callers hand it numbers, strings and per-image hits.
//!
//! Plots must render on a bare machine (no system fonts, no fontconfig): plotters is built with
//! its pure-Rust `ab_glyph` text backend and the crate embeds DejaVu Sans
//! (`assets/fonts/DejaVuSans.ttf`, Bitstream Vera / DejaVu licence in `assets/fonts/LICENSE`),
//! registered once per process. Output files are written atomically (temporary file in the same
//! folder, then rename), so a reader never sees a half-written plot.

#![warn(missing_docs)]

mod axis;
mod error;
mod font;
pub mod paired;
mod plot;
mod table;
mod write;

pub use error::ReportError;
pub use paired::{compare, format_p, mcnemar_exact, Paired, Reading, SIGNIFICANCE};
pub use plot::{write_plot, PlotPoint, PlotSpec, Series, SeriesStyle, PLOT_HEIGHT, PLOT_WIDTH};
pub use table::table;
