//! A zero-initialised `f32` buffer whose start is aligned to a 64-byte cache line (one AVX-512 vector).

/// One cache line of floats; a `Vec` of these is 64-byte aligned without a custom allocator.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// Heap buffer of `len` floats starting on a 64-byte boundary, zero-initialised.
#[derive(Clone)]
pub(crate) struct AlignedBuf {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedBuf {
    /// A buffer of `len` zeros.
    pub(crate) fn zeros(len: usize) -> Self {
        Self {
            lines: vec![Line([0.0; 16]); len.div_ceil(16)],
            len,
        }
    }

    /// The floats.
    pub(crate) fn as_slice(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` over `[f32; 16]` with no padding (64 bytes), so the vector's storage is
        // `16 * lines.len() >= len` initialised floats.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }

    /// The floats, mutably.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        // SAFETY: as in `as_slice`, and `&mut self` gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::AlignedBuf;

    #[test]
    fn aligned_and_zeroed() {
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let mut b = AlignedBuf::zeros(len);
            assert_eq!(b.as_slice().len(), len);
            assert_eq!(b.as_slice().as_ptr() as usize % 64, 0);
            assert!(b.as_slice().iter().all(|&x| x == 0.0));
            b.as_mut_slice().iter_mut().for_each(|x| *x = 1.0);
            assert_eq!(b.as_slice().iter().sum::<f32>(), len as f32);
        }
    }
}
