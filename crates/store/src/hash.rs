//! The content hash of settings and files.

/// FNV-1a (64 bits) of `bytes`, as 16 lower-case hex digits. Stable across platforms and
/// releases: run folders key kept trainings and journals by it.
pub fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        // FNV-1a 64 test vectors
        assert_eq!(super::content_hash(b""), "cbf29ce484222325");
        assert_eq!(super::content_hash(b"a"), "af63dc4c8601ec8c");
        assert_eq!(super::content_hash(b"foobar"), "85944171f73967e8");
    }
}
