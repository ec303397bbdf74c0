//! The bundled font, registered with plotters once per process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use plotters::style::{register_font, FontStyle};

/// DejaVu Sans (Bitstream Vera licence, see `assets/fonts/LICENSE`).
static DEJAVU_SANS: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// The family every text element of a plot uses.
pub(crate) const FAMILY: &str = "sans-serif";

static REGISTER: Once = Once::new();
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Register the bundled font under the generic family names plotters may ask for (bold and
/// italic styles fall back to the regular face). Runs once per process; returns whether the
/// font is usable.
pub(crate) fn ensure_registered() -> bool {
    REGISTER.call_once(|| {
        let ok = ["sans-serif", "serif", "monospace"]
            .iter()
            .all(|family| register_font(family, FontStyle::Normal, DEJAVU_SANS).is_ok());
        REGISTERED.store(ok, Ordering::Release);
    });
    REGISTERED.load(Ordering::Acquire)
}
