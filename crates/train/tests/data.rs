//! Dataset readers on small files the tests make themselves, and their errors.

use std::io::Write;
use std::path::Path;

use edgenas_train::data::*;

fn gz(path: &Path) {
    let raw = std::fs::read(path).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&raw).unwrap();
    let mut out = path.as_os_str().to_owned();
    out.push(".gz");
    std::fs::write(out, e.finish().unwrap()).unwrap();
    std::fs::remove_file(path).unwrap();
}

/// A tiny MNIST-format folder: n train and m test 4x3 images, pixel = index, label = i % 10.
fn mnist_dir(dir: &Path, n: usize, m: usize, compress: bool) {
    for (prefix, count) in [("train", n), ("t10k", m)] {
        // pixel = index, except that each image's last pixel holds the image number: all distinct
        let px: Vec<u8> =
            (0..count * 12).map(|i| if i % 12 == 11 { (i / 12) as u8 } else { (i % 256) as u8 }).collect();
        let lb: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        let ip = dir.join(format!("{prefix}-images-idx3-ubyte"));
        let lp = dir.join(format!("{prefix}-labels-idx1-ubyte"));
        write_idx(&ip, &lp, &px, &lb, 4, 3).unwrap();
        if compress {
            gz(&ip);
            gz(&lp);
        }
    }
}

#[test]
fn reads_raw_and_gzipped_idx() {
    for compress in [false, true] {
        let d = tempfile::tempdir().unwrap();
        mnist_dir(d.path(), 20, 5, compress);
        let (train, test) = read_mnist_dir(d.path()).unwrap();
        assert_eq!(train.len(), 20);
        assert_eq!(test.len(), 5);
        assert_eq!(train.shape, [1, 4, 3]);
        assert_eq!(train.labels[13], 3);
        assert_eq!(train.image(1)[0], 12.0 / 255.0);
    }
}

#[test]
fn reads_the_bundled_mnist_subset() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k");
    let (train, test) = read_mnist_dir(&dir).unwrap();
    assert_eq!((train.len(), test.len()), (8000, 2000));
    assert_eq!(train.shape, [1, 28, 28]);
    let counts = (0..10).map(|c| test.labels.iter().filter(|&&l| l == c).count()).collect::<Vec<_>>();
    assert_eq!(counts, vec![189, 202, 192, 201, 211, 170, 231, 214, 191, 199], "the README's class counts");
}

#[test]
fn inconsistent_idx_files_name_the_file() {
    let d = tempfile::tempdir().unwrap();
    mnist_dir(d.path(), 20, 5, false);
    // label count != image count
    let lp = d.path().join("train-labels-idx1-ubyte");
    // rewrite only the label file, with 19 labels (the image file keeps 20 images)
    write_idx(&d.path().join("scratch-images"), &lp, &[0u8; 19 * 12], &[1u8; 19], 4, 3).unwrap();
    let e = read_mnist_dir(d.path()).unwrap_err().to_string();
    assert!(e.contains("train-labels-idx1-ubyte") && e.contains("19 labels for 20 images"), "{e}");
    // wrong magic
    std::fs::write(&lp, [0u8, 0, 8, 3, 0, 0, 0, 0]).unwrap();
    let e = read_idx_labels(&lp).unwrap_err().to_string();
    assert!(e.contains("magic") && e.contains("train-labels"), "{e}");
    // truncated images
    let ip = d.path().join("t10k-images-idx3-ubyte");
    let b = std::fs::read(&ip).unwrap();
    std::fs::write(&ip, &b[..b.len() - 7]).unwrap();
    let e = read_idx_images(&ip).unwrap_err().to_string();
    assert!(e.contains("t10k-images") && e.contains("bytes"), "{e}");
    // too short for a header
    std::fs::write(&ip, [0u8; 5]).unwrap();
    assert!(read_idx_images(&ip).unwrap_err().to_string().contains("too short"));
    // missing file
    let e = read_mnist_dir(&d.path().join("nowhere")).unwrap_err().to_string();
    assert!(e.contains("nowhere"), "{e}");
}

#[test]
fn reads_cifar_batches_and_refuses_bad_ones() {
    let d = tempfile::tempdir().unwrap();
    let rec = |label: u8, v: u8| {
        let mut r = vec![label];
        r.extend(std::iter::repeat_n(v, 3072));
        r
    };
    let mut b1 = rec(3, 10);
    b1.extend(rec(7, 20));
    std::fs::write(d.path().join("data_batch_1.bin"), &b1).unwrap();
    std::fs::write(d.path().join("data_batch_2.bin"), rec(1, 30)).unwrap();
    std::fs::write(d.path().join("test_batch.bin"), rec(9, 40)).unwrap();
    let (train, test) = read_cifar10_dir(d.path()).unwrap();
    assert_eq!(train.shape, [3, 32, 32]);
    assert_eq!(train.labels, vec![3, 7, 1]);
    assert_eq!(test.labels, vec![9]);
    assert_eq!(train.image(2)[100], 30.0 / 255.0);
    let splits = load_splits(d.path(), 0.0, 1).unwrap();
    assert_eq!(splits.train.len(), 3);
    std::fs::write(d.path().join("test_batch.bin"), &rec(9, 40)[..3000]).unwrap();
    let e = read_cifar10_dir(d.path()).unwrap_err().to_string();
    assert!(e.contains("test_batch.bin") && e.contains("3073-byte"), "{e}");
    std::fs::write(d.path().join("test_batch.bin"), rec(12, 40)).unwrap();
    let e = read_cifar10_dir(d.path()).unwrap_err().to_string();
    assert!(e.contains("label 12"), "{e}");
}

#[test]
fn validation_split_is_deterministic_and_disjoint() {
    let d = tempfile::tempdir().unwrap();
    mnist_dir(d.path(), 100, 10, false);
    let (train, _) = read_mnist_dir(d.path()).unwrap();
    let (t1, v1) = split_validation(&train, 0.2, 7);
    let (t2, v2) = split_validation(&train, 0.2, 7);
    assert_eq!((t1.len(), v1.len()), (80, 20));
    assert_eq!(t1, t2);
    assert_eq!(v1, v2);
    let (_, v3) = split_validation(&train, 0.2, 8);
    assert_ne!(v1, v3, "another seed, another split");
    // disjoint: every image of the 100 is in exactly one part (images are distinct here)
    let mut all: Vec<Vec<u32>> = (0..t1.len()).map(|i| t1.image(i).iter().map(|v| v.to_bits()).collect()).collect();
    all.extend((0..v1.len()).map(|i| v1.image(i).iter().map(|v| v.to_bits()).collect::<Vec<u32>>()));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 100);
}

#[test]
fn normalization_gives_zero_mean_unit_variance() {
    let d = tempfile::tempdir().unwrap();
    mnist_dir(d.path(), 50, 10, false);
    let s = load_splits(d.path(), 0.1, 0).unwrap();
    let n = s.train.images.len() as f64;
    let mean = s.train.images.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = s.train.images.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    assert!(mean.abs() < 1e-4, "{mean}");
    assert!((var - 1.0).abs() < 1e-3, "{var}");
}

#[test]
fn reads_image_folders_resized_and_refuses_bad_ones() {
    use edgenas_train::data::{load_splits_shaped, read_image_folder};
    let tmp = tempfile::tempdir().unwrap();
    // two classes of 20x20 RGB images: dark ones and bright ones; PNG and JPEG
    for split in ["train", "test"] {
        for (class, level) in [("bright", 230u8), ("dark", 20u8)] {
            let d = tmp.path().join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..6u8 {
                let img =
                    image::RgbImage::from_fn(20, 20, |x, _| image::Rgb([level, level, level.saturating_add(x as u8)]));
                let ext = if i % 2 == 0 { "png" } else { "jpg" };
                img.save(d.join(format!("{i}.{ext}"))).unwrap();
            }
            std::fs::write(d.join("notes.txt"), "not an image").unwrap();
        }
    }
    let (ds, names) = read_image_folder(&tmp.path().join("train"), [1, 8, 8]).unwrap();
    assert_eq!(names, vec!["bright".to_string(), "dark".to_string()]);
    assert_eq!(ds.len(), 12);
    assert_eq!(ds.shape, [1, 8, 8]);
    assert_eq!(ds.classes, 2);
    assert_eq!(ds.labels.iter().filter(|&&l| l == 0).count(), 6);
    // bright images (class 0) are bright after the grayscale conversion and resize
    let mean = |i: usize| ds.image(i).iter().sum::<f32>() / 64.0;
    for i in 0..ds.len() {
        if ds.labels[i] == 0 {
            assert!(mean(i) > 0.8, "{}", mean(i));
        } else {
            assert!(mean(i) < 0.2, "{}", mean(i));
        }
    }
    let (rgb, _) = read_image_folder(&tmp.path().join("train"), [3, 4, 4]).unwrap();
    assert_eq!(rgb.images.len(), 12 * 3 * 16);
    let s = load_splits_shaped(tmp.path(), 0.25, 0, [1, 8, 8]).unwrap();
    assert_eq!(s.train.len() + s.valid.len(), 12);
    assert_eq!(s.test.len(), 12);
    // a broken image names the file
    let bad = tmp.path().join("train/dark/broken.png");
    std::fs::write(&bad, b"not a png").unwrap();
    let e = read_image_folder(&tmp.path().join("train"), [1, 8, 8]).unwrap_err().to_string();
    assert!(e.contains("broken.png"), "{e}");
    // no class folders, wrong channel count
    let empty = tempfile::tempdir().unwrap();
    let e = read_image_folder(empty.path(), [1, 8, 8]).unwrap_err().to_string();
    assert!(e.contains("class"), "{e}");
    let e = read_image_folder(&tmp.path().join("test"), [2, 8, 8]).unwrap_err().to_string();
    assert!(e.contains("channels"), "{e}");
}
