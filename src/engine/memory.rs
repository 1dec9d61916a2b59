//! The process's memory and descriptors: giving back memory a large
//! transient step freed, whether memory can be had, how many files may be
//! open.
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

/// Whether `bytes` of memory can be had now: a private anonymous mapping
/// that large is made and unmapped at once, never touched, so it costs no
/// resident page (a heap allocation did: its header's first touch brought
/// in a page, or a whole huge page). It is charged like the memory it
/// stands for, against `RLIMIT_AS` and, with overcommit off, against the
/// commit limit; so where an allocation could fail, this fails first.
pub(super) fn available(bytes: usize) -> bool {
    if bytes == 0 {
        return true;
    }
    // SAFETY: mmap with a null hint, no file (-1) and offset 0 makes a new
    // mapping at an address the kernel chooses, overlapping nothing of
    // ours; no reference to it is made, and it is unmapped, whole, before
    // return.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return false;
        }
        libc::munmap(p, bytes);
    }
    true
}

/// The most files this process may hold open (the soft `RLIMIT_NOFILE`),
/// or `usize::MAX` when unlimited or unknown. A batch holds one file open
/// per partition it writes to until it is applied, so no batch can write
/// to more partitions than this.
pub(super) fn open_files_limit() -> usize {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit through a valid pointer to an
    // initialised local.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0;
    if !ok || rl.rlim_cur == libc::RLIM_INFINITY {
        return usize::MAX;
    }
    usize::try_from(rl.rlim_cur).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn available_says_yes_to_what_fits_and_no_to_more_than_the_address_space() {
        assert!(super::available(0));
        assert!(super::available(64 << 20));
        // 1 PiB: more than a 47-bit user address space holds.
        assert!(!super::available(1 << 50));
    }
}
