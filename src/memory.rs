//! Big buffers in transparent huge pages where the system allows. A cold query on a 1M-row
//! archive reads some 40 MB into fresh memory; at 4 KiB a page that was ~10,000 page faults,
//! a third of its time (bench/partitioned-results.md). In 2 MiB pages it is a few dozen.

/// Buffers smaller than this are left to the allocator as they are.
const HUGE_FROM: usize = 4 << 20;
/// The size of a transparent huge page on x86-64 and most arm64 systems.
const HUGE_PAGE: usize = 2 << 20;

/// An empty vector with room for `capacity` items, its memory marked for huge pages when large.
/// A large one gets a huge page more room than asked, never touched, so that the huge pages
/// marked reach past its last item: only the part before the first huge page boundary is left
/// in small pages.
pub fn with_capacity<T>(capacity: usize) -> Vec<T> {
    let bytes = capacity.saturating_mul(size_of::<T>());
    if bytes < HUGE_FROM || size_of::<T>() == 0 {
        return Vec::with_capacity(capacity);
    }
    let v = Vec::with_capacity(capacity + HUGE_PAGE / size_of::<T>());
    advise_huge(v.as_ptr() as usize, v.capacity() * size_of::<T>());
    v
}

/// `len` zero bytes, marked for huge pages when large (before they are first touched: big zeroed
/// buffers come as fresh, untouched memory); `None` when the memory cannot be had.
pub fn zeroed(len: usize) -> Option<Vec<u8>> {
    if len < HUGE_FROM {
        return Some(vec![0; len]);
    }
    // A huge page more than asked, as in `with_capacity`.
    let room = len.checked_add(HUGE_PAGE)?;
    let layout = std::alloc::Layout::array::<u8>(room).ok()?;
    // SAFETY: the layout's size is not zero.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return None;
    }
    advise_huge(ptr as usize, room);
    // SAFETY: `ptr` comes from the global allocator with the layout of `room` bytes, all of
    // them initialized (zero); the vector owns it from here, holding `len` of them.
    Some(unsafe { Vec::from_raw_parts(ptr, len, room) })
}

/// Asks the kernel to back the whole huge pages inside `start..start + len` with huge pages.
#[cfg(target_os = "linux")]
fn advise_huge(start: usize, len: usize) {
    if len < HUGE_FROM {
        return;
    }
    let (first, end) = (start.next_multiple_of(HUGE_PAGE), (start + len) / HUGE_PAGE * HUGE_PAGE);
    if end > first {
        // SAFETY: the range lies inside an allocation this process owns, and MADV_HUGEPAGE
        // changes no bytes, only how the kernel may back them. A refusal (no THP) is harmless.
        unsafe { libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE) };
    }
}

/// Elsewhere, memory is left as the allocator gives it.
#[cfg(not(target_os = "linux"))]
fn advise_huge(_start: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn buffers_are_as_asked() {
        let v: Vec<u64> = super::with_capacity(1 << 20);
        assert!(v.is_empty() && v.capacity() >= 1 << 20);
        let z = super::zeroed((8 << 20) + 3).unwrap();
        assert_eq!(z.len(), (8 << 20) + 3);
        assert!(z.iter().all(|&b| b == 0));
        assert_eq!(super::zeroed(0).unwrap(), Vec::<u8>::new());
        assert_eq!(super::zeroed(5).unwrap(), vec![0; 5]);
        assert!(super::zeroed(usize::MAX / 2).is_none());
    }
}
