//! Datasets: MNIST IDX (gzip or raw), CIFAR-10 binary batches; seeded shuffling, a
//! deterministic validation split carved from the training set, normalization, batching.

use std::io::Read;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};

/// Images of one shape with integer labels; pixels as f32 in [0, 1] until normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Channels, height, width of every image.
    pub shape: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// Pixels, image after image, each `[c, h, w]` row-major.
    pub images: Vec<f32>,
    /// One label per image, `< classes`.
    pub labels: Vec<u8>,
}

/// Per-channel normalization `(x - mean) / std`, computed on the training split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Per-channel mean.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
}

/// A dataset on disk split into train (from which validation is carved) and test.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Training images (validation removed).
    pub train: Dataset,
    /// Validation images, carved deterministically from the training set.
    pub valid: Dataset,
    /// Test images (only for final reporting).
    pub test: Dataset,
    /// Normalization computed on `train` and applied to all three.
    pub norm: Normalization,
}

impl Dataset {
    /// A fingerprint of the images and labels (FNV-1a over the pixels' bits and the labels, then
    /// the count): equal data, equal fingerprint, whatever file it was read from.
    pub fn fingerprint(&self) -> String {
        let mut h: u64 = 0xcbf29ce484222325;
        let words = self.images.iter().map(|v| v.to_bits() as u64).chain(self.labels.iter().map(|&l| l as u64));
        for w in words {
            h ^= w;
            h = h.wrapping_mul(0x100000001b3);
        }
        format!("{h:016x}-{}", self.len())
    }
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per image.
    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// A new dataset holding the given images in the given order.
    pub fn select(&self, idx: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(idx.len() * self.image_len());
        for &i in idx {
            images.extend_from_slice(self.image(i));
        }
        Dataset {
            shape: self.shape,
            classes: self.classes,
            images,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// The first `n` images.
    pub fn take(&self, n: usize) -> Dataset {
        self.select(&(0..n.min(self.len())).collect::<Vec<_>>())
    }

    /// Per-channel mean and standard deviation.
    pub fn normalization(&self) -> Normalization {
        let [c, h, w] = self.shape;
        let hw = h * w;
        let mut mean = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for i in 0..self.len() {
            let img = self.image(i);
            for ch in 0..c {
                for &v in &img[ch * hw..(ch + 1) * hw] {
                    mean[ch] += v as f64;
                    sq[ch] += (v as f64) * (v as f64);
                }
            }
        }
        let n = (self.len() * hw).max(1) as f64;
        let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
        let std = sq.iter().zip(&mean).map(|(s, m)| ((s / n - m * m).max(1e-12)).sqrt() as f32).collect();
        Normalization { mean: mean.iter().map(|&m| m as f32).collect(), std }
    }

    /// Apply a normalization in place.
    pub fn normalize(&mut self, norm: &Normalization) {
        let [c, h, w] = self.shape;
        let hw = h * w;
        let n = self.image_len();
        for img in self.images.chunks_mut(n) {
            for ch in 0..c {
                for v in &mut img[ch * hw..(ch + 1) * hw] {
                    *v = (*v - norm.mean[ch]) / norm.std[ch];
                }
            }
        }
    }
}

/// `0..n` shuffled with `seed` (ChaCha8).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    idx
}

/// Split `train` into (train, validation): `valid_fraction` of the images, chosen by a
/// shuffle with `seed`, go to validation. Deterministic for a seed.
pub fn split_validation(train: &Dataset, valid_fraction: f64, seed: u64) -> (Dataset, Dataset) {
    let idx = shuffled(train.len(), seed ^ 0x5eed_5eed);
    let n_valid = ((train.len() as f64) * valid_fraction.clamp(0.0, 0.9)).round() as usize;
    let (v, t) = idx.split_at(n_valid);
    let mut t = t.to_vec();
    let mut v = v.to_vec();
    t.sort_unstable();
    v.sort_unstable();
    (train.select(&t), train.select(&v))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}

/// Read a file, un-gzipping when it starts with the gzip magic.
fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(io(path))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| TrainError::data(path, format!("corrupt gzip stream: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Read an IDX image file (magic 0x00000803): returns (count, rows, cols, pixels in [0, 1]).
pub fn read_idx_images(path: &Path) -> Result<(usize, usize, usize, Vec<f32>)> {
    let b = read_maybe_gz(path)?;
    if b.len() < 16 {
        return Err(TrainError::data(path, format!("{} bytes is too short for an IDX image header (16)", b.len())));
    }
    let magic = be_u32(&b, 0);
    if magic != 0x0803 {
        return Err(TrainError::data(path, format!("magic {magic:#010x} is not an IDX image file (0x00000803)")));
    }
    let (n, r, c) = (be_u32(&b, 4) as usize, be_u32(&b, 8) as usize, be_u32(&b, 12) as usize);
    let want = n.checked_mul(r).and_then(|x| x.checked_mul(c)).and_then(|x| x.checked_add(16));
    if want != Some(b.len()) {
        return Err(TrainError::data(
            path,
            format!(
                "header says {n} images of {r}x{c} ({} bytes) but the file has {} bytes ({} whole images)",
                want.unwrap_or(usize::MAX),
                b.len(),
                (b.len() - 16) / (r * c).max(1)
            ),
        ));
    }
    Ok((n, r, c, b[16..].iter().map(|&v| v as f32 / 255.0).collect()))
}

/// Read an IDX label file (magic 0x00000801).
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>> {
    let b = read_maybe_gz(path)?;
    if b.len() < 8 {
        return Err(TrainError::data(path, format!("{} bytes is too short for an IDX label header (8)", b.len())));
    }
    let magic = be_u32(&b, 0);
    if magic != 0x0801 {
        return Err(TrainError::data(path, format!("magic {magic:#010x} is not an IDX label file (0x00000801)")));
    }
    let n = be_u32(&b, 4) as usize;
    if n + 8 != b.len() {
        return Err(TrainError::data(
            path,
            format!("header says {n} labels but the file has {} bytes of labels", b.len() - 8),
        ));
    }
    Ok(b[8..].to_vec())
}

/// The file `stem` in `dir`, gzipped (`stem.gz`) or raw.
fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    for p in [dir.join(format!("{stem}.gz")), dir.join(stem)] {
        if p.exists() {
            return Ok(p);
        }
    }
    Err(TrainError::data(dir.join(stem), "missing (neither the file nor its .gz exists)"))
}

fn idx_pair(dir: &Path, prefix: &str) -> Result<Dataset> {
    let ip = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let lp = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let (n, r, c, images) = read_idx_images(&ip)?;
    let labels = read_idx_labels(&lp)?;
    if labels.len() != n {
        return Err(TrainError::data(&lp, format!("{} labels for {n} images in {}", labels.len(), ip.display())));
    }
    if let Some(bad) = labels.iter().find(|&&l| l >= 10) {
        return Err(TrainError::data(&lp, format!("label {bad} is not allowed; allowed: 0..=9")));
    }
    Ok(Dataset { shape: [1, r, c], classes: 10, images, labels })
}

/// MNIST-format folder: `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
/// `t10k-` or `test-` for the test set. Returns (train, test).
pub fn read_mnist_dir(dir: &Path) -> Result<(Dataset, Dataset)> {
    let train = idx_pair(dir, "train")?;
    let test = idx_pair(dir, "test").or_else(|_| idx_pair(dir, "t10k"))?;
    if train.shape != test.shape {
        return Err(TrainError::data(dir, "train and test images differ in size"));
    }
    Ok((train, test))
}

/// One CIFAR-10 binary batch: records of 1 label byte + 3072 pixel bytes (3x32x32).
pub fn read_cifar_batch(path: &Path) -> Result<Dataset> {
    const REC: usize = 1 + 3 * 32 * 32;
    let b = std::fs::read(path).map_err(io(path))?;
    if b.is_empty() || b.len() % REC != 0 {
        return Err(TrainError::data(
            path,
            format!("{} bytes is not a whole number of {REC}-byte CIFAR-10 records", b.len()),
        ));
    }
    let mut images = Vec::with_capacity(b.len() / REC * 3072);
    let mut labels = Vec::with_capacity(b.len() / REC);
    for rec in b.chunks(REC) {
        if rec[0] >= 10 {
            return Err(TrainError::data(path, format!("label {} is not allowed; allowed: 0..=9", rec[0])));
        }
        labels.push(rec[0]);
        images.extend(rec[1..].iter().map(|&v| v as f32 / 255.0));
    }
    Ok(Dataset { shape: [3, 32, 32], classes: 10, images, labels })
}

/// CIFAR-10 binary folder: `data_batch_1.bin`..`data_batch_5.bin` (those present) and
/// `test_batch.bin`. Returns (train, test).
pub fn read_cifar10_dir(dir: &Path) -> Result<(Dataset, Dataset)> {
    let mut train: Option<Dataset> = None;
    for i in 1..=5 {
        let p = dir.join(format!("data_batch_{i}.bin"));
        if !p.exists() {
            continue;
        }
        let d = read_cifar_batch(&p)?;
        train = Some(match train {
            None => d,
            Some(mut t) => {
                t.images.extend(d.images);
                t.labels.extend(d.labels);
                t
            }
        });
    }
    let train = train.ok_or_else(|| TrainError::data(dir.join("data_batch_1.bin"), "missing"))?;
    let test = read_cifar_batch(&dir.join("test_batch.bin"))?;
    Ok((train, test))
}

/// Read a dataset folder of a known format (MNIST IDX or CIFAR-10 binary), carve the
/// validation split and normalize with the training split's statistics.
pub fn load_splits(dir: &Path, valid_fraction: f64, seed: u64) -> Result<Splits> {
    if !dir.is_dir() {
        return Err(TrainError::data(dir, "not a folder"));
    }
    let (train_full, test) =
        if dir.join("test_batch.bin").exists() { read_cifar10_dir(dir)? } else { read_mnist_dir(dir)? };
    Ok(Splits::new(&train_full, test, valid_fraction, seed))
}

impl Splits {
    /// The fingerprints of the three splits, train / validation / test: two processes that
    /// read the same data with the same split seed agree on it.
    pub fn fingerprint(&self) -> String {
        format!("{}/{}/{}", self.train.fingerprint(), self.valid.fingerprint(), self.test.fingerprint())
    }

    /// Carve the validation split from `train_full` and normalize all three with the
    /// training split's statistics.
    pub fn new(train_full: &Dataset, mut test: Dataset, valid_fraction: f64, seed: u64) -> Splits {
        let (mut train, mut valid) = split_validation(train_full, valid_fraction, seed);
        let norm = train.normalization();
        train.normalize(&norm);
        valid.normalize(&norm);
        test.normalize(&norm);
        Splits { train, valid, test, norm }
    }
}

/// Image files a class folder may hold.
const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// A folder of images, one sub-folder per class (sorted names give the class indices),
/// PNG/JPEG/BMP, each resized (bilinear) to `shape` (`[c, h, w]`, c = 1 for grayscale or 3
/// for RGB). Returns the dataset and the class names.
pub fn read_image_folder(dir: &Path, shape: [usize; 3]) -> Result<(Dataset, Vec<String>)> {
    let [c, h, w] = shape;
    if c != 1 && c != 3 {
        return Err(TrainError::data(dir, format!("{c} channels asked; allowed: 1 (grayscale) or 3 (RGB)")));
    }
    let read_dir = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|source| TrainError::Io { path: d.to_path_buf(), source })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    let classes: Vec<PathBuf> = read_dir(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    if classes.is_empty() {
        return Err(TrainError::data(dir, "no class sub-folders (expected one folder of images per class)"));
    }
    if classes.len() > 256 {
        return Err(TrainError::data(dir, format!("{} classes; allowed: at most 256", classes.len())));
    }
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (label, cdir) in classes.iter().enumerate() {
        for f in read_dir(cdir)? {
            let ext = f.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default();
            if !IMAGE_EXTENSIONS.contains(&ext.as_str()) {
                continue;
            }
            let img = image::open(&f).map_err(|e| TrainError::data(&f, format!("not a readable image: {e}")))?;
            let img = img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle);
            if c == 1 {
                images.extend(img.to_luma8().into_raw().into_iter().map(|v| v as f32 / 255.0));
            } else {
                let rgb = img.to_rgb8();
                for ch in 0..3 {
                    images.extend(rgb.pixels().map(|p| p.0[ch] as f32 / 255.0));
                }
            }
            labels.push(label as u8);
        }
    }
    if labels.is_empty() {
        return Err(TrainError::data(dir, "no images (png, jpg, jpeg, bmp) in the class folders"));
    }
    let names = classes.iter().map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
    Ok((Dataset { shape, classes: classes.len(), images, labels }, names))
}

/// Like [`load_splits`], and also reads image folders (`train/<class>/*.png` and
/// `test/<class>/*.png`), resized to `shape`.
pub fn load_splits_shaped(dir: &Path, valid_fraction: f64, seed: u64, shape: [usize; 3]) -> Result<Splits> {
    if dir.join("train").is_dir() && dir.join("test").is_dir() {
        let (train_full, names) = read_image_folder(&dir.join("train"), shape)?;
        let (test, test_names) = read_image_folder(&dir.join("test"), shape)?;
        if names != test_names {
            return Err(TrainError::data(
                dir.join("test"),
                format!("class folders {test_names:?} differ from the training set's {names:?}"),
            ));
        }
        return Ok(Splits::new(&train_full, test, valid_fraction, seed));
    }
    load_splits(dir, valid_fraction, seed)
}

/// Write an IDX image file and its label file (uncompressed), e.g. for tests and subsets.
pub fn write_idx(
    images_path: &Path,
    labels_path: &Path,
    pixels: &[u8],
    labels: &[u8],
    rows: usize,
    cols: usize,
) -> Result<()> {
    let mut b = Vec::with_capacity(16 + pixels.len());
    for v in [0x0803u32, labels.len() as u32, rows as u32, cols as u32] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(pixels);
    std::fs::write(images_path, b).map_err(io(images_path))?;
    let mut l = Vec::with_capacity(8 + labels.len());
    for v in [0x0801u32, labels.len() as u32] {
        l.extend_from_slice(&v.to_be_bytes());
    }
    l.extend_from_slice(labels);
    std::fs::write(labels_path, l).map_err(io(labels_path))
}
