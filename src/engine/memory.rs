//! Giving back memory a large transient step freed.
//!
//! Opening a store and checkpointing it build whole-store structures (the
//! catalog's contents, its encoding, the schema's export) that are freed
//! when the step ends. With many partitions they are tens of megabytes,
//! interleaved with the long-lived per-partition state, and glibc's malloc
//! keeps such freed memory resident. A device that runs linedb inside its
//! own application cares about resident memory, so after those steps the
//! free memory at the top of the heap and in whole free pages is returned
//! to the system.

/// Returns free heap memory to the system where the C library can (glibc);
/// a no-op elsewhere.
pub(super) fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free; it
    // touches no memory in use and has no preconditions (0: keep no pad).
    unsafe {
        libc::malloc_trim(0);
    }
}
