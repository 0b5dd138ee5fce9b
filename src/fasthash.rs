//! A fast hash for maps keyed by paths (FxHash's step, then murmur's finaliser). It is not
//! collision resistant, and need not be: the keys are the machine's own paths, and every map
//! that uses it compares the key itself after the hash (std's `HashMap` always does; the stat
//! cache's index does by hand). SipHash of every path showed in the no-op snapshot's profile.

use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with this hash: `HashMap<K, V, Fast>`.
pub(crate) type Fast = BuildHasherDefault<FastHasher>;

/// The hash of some bytes.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let mut h = FastHasher::default();
    h.write(bytes);
    h.finish()
}

#[derive(Default)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ bytes.len() as u64;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        self.0 = h;
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_differ_anywhere_hash_apart() {
        let base = "/home/ana/.config/pkg12/sub3/file1234.conf";
        let mut seen = std::collections::HashSet::new();
        seen.insert(hash(base.as_bytes()));
        for i in 0..base.len() {
            let mut other = base.as_bytes().to_vec();
            other[i] ^= 1;
            assert!(seen.insert(hash(&other)), "one changed byte at {i}");
        }
        assert_ne!(hash(b"ab"), hash(b"ab\0"), "the length is part of the hash");
    }
}
