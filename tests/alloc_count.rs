//! Heap allocations per small write: the common write of a gateway is one
//! line, and its cost is mostly fixed work per write. Validation and the
//! block encoder reuse their buffers and dictionaries from one write to the
//! next (thread-locally), so a one-line write into a partition that exists
//! makes a few dozen allocations, not one per name (it made 127 for the
//! line below before they did). The bound leaves room for small changes
//! and catches a per-name allocation coming back.
//!
//! Counted on the writing thread only (the test harness's other threads
//! allocate too), with a counting global allocator.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{open, TempDir};
use linedb::line_protocol::Precision;

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the allocator runs during thread teardown too.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counting touches only const-initialised thread-locals, which never
// allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract for `alloc` is passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f` on this thread.
fn counted(f: impl FnOnce()) -> u64 {
    COUNT.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    COUNT.with(Cell::get)
}

/// A TSBS cpu line: 10 tags and 10 integer fields.
fn line(n: usize) -> String {
    format!(
        "cpu,hostname=host_{},region=eu-west-1,datacenter=eu-west-1a,rack=4,os=Ubuntu16.10,arch=x64,team=LON,service=7,\
         service_version=0,service_environment=staging usage_user={n}i,usage_system=2i,usage_idle=3i,usage_nice=4i,\
         usage_iowait=5i,usage_irq=6i,usage_softirq=7i,usage_steal=8i,usage_guest=9i,usage_guest_nice=10i {}\n",
        n % 50,
        1_451_606_400_000_000_000u64 + n as u64
    )
}

#[test]
fn a_one_line_write_makes_a_few_dozen_allocations() {
    let dir = TempDir::new("alloc");
    let e = open(&dir.store());
    e.create_database("db").unwrap();
    let lines: Vec<String> = (0..300).map(line).collect();
    // Warm up: the partition, its segment and the thread's buffers exist.
    for l in &lines[..100] {
        assert_eq!(e.write("db", l.as_bytes(), Precision::Nanosecond).status, 204);
    }
    let rest = &lines[100..];
    let n = counted(|| {
        for l in rest {
            assert_eq!(e.write("db", l.as_bytes(), Precision::Nanosecond).status, 204);
        }
    });
    let per_write = n as f64 / rest.len() as f64;
    println!("{per_write:.1} allocations per one-line write");
    assert!(per_write <= 40.0, "{per_write:.1} allocations per one-line write (bound 40)");
    assert_eq!(common::all(&e, "db").len(), 300);
    e.close().unwrap();
}
