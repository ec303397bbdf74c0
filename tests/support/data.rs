//! Synthetic data for the tests (also included by the pipeline library's tests).

use std::path::Path;

/// 16x16 images whose label is the quadrant holding a bright square (MNIST IDX format).
pub fn write_quadrants(dir: &Path, split: &str, n: usize, seed: u64) {
    let mut s = seed | 1;
    let mut rnd = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) as usize
    };
    let mut px = vec![0u8; n * 256];
    let mut labels = Vec::new();
    for i in 0..n {
        let q = rnd() % 4;
        let (y0, x0) = ((q / 2) * 8, (q % 2) * 8);
        for y in 0..16 {
            for x in 0..16 {
                let inside = (y0..y0 + 8).contains(&y) && (x0..x0 + 8).contains(&x);
                px[i * 256 + y * 16 + x] = if inside { 200 } else { 0 } + (rnd() % 50) as u8;
            }
        }
        labels.push(q as u8);
    }
    edgenas_train::data::write_idx(
        &dir.join(format!("{split}-images-idx3-ubyte")),
        &dir.join(format!("{split}-labels-idx1-ubyte")),
        &px,
        &labels,
        16,
        16,
    )
    .unwrap();
}

/// The quadrant data set of the search tests in `dir/data` (600 training, 300 test images).
pub fn write_quadrant_data(dir: &Path) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_quadrants(&data, "train", 600, 1);
    write_quadrants(&data, "test", 300, 2);
}
