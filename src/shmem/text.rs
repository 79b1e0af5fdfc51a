//! Fixed-size text fields in shared memory, stored as atomic words so that a reader in another
//! process never races undefined behaviour with the writer (a torn read shows a mix of old and
//! new bytes, exactly like pgpool's plain char arrays, and is only used for display).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// `N` words = `8 * N` bytes of NUL-padded text.
#[repr(C)]
pub struct ShText<const N: usize> {
    pub(crate) words: [AtomicU64; N],
}

impl<const N: usize> ShText<N> {
    /// Store `s`, truncated to `8 * N - 1` bytes (at a char boundary) and NUL padded.
    pub fn set(&self, s: &str) {
        let mut bytes = [0u8; 8];
        let mut cut = s.len().min(8 * N - 1);
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        let src = &s.as_bytes()[..cut];
        for (i, w) in self.words.iter().enumerate() {
            bytes.fill(0);
            let lo = (i * 8).min(src.len());
            let hi = (i * 8 + 8).min(src.len());
            bytes[..hi - lo].copy_from_slice(&src[lo..hi]);
            w.store(u64::from_ne_bytes(bytes), Relaxed);
        }
    }

    /// The text up to the first NUL (lossy if a torn read split a character).
    pub fn get(&self) -> String {
        let mut out = Vec::with_capacity(8 * N);
        for w in &self.words {
            out.extend_from_slice(&w.load(Relaxed).to_ne_bytes());
        }
        let end = out.iter().position(|&b| b == 0).unwrap_or(out.len());
        out.truncate(end);
        String::from_utf8_lossy(&out).into_owned()
    }

    pub fn clear(&self) {
        for w in &self.words {
            w.store(0, Relaxed);
        }
    }
}
