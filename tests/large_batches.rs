//! Batches larger than the engine parses whole (issue 13, item 4): they are
//! parsed, validated and encoded a slice at a time, so their parsed lines
//! never exist all at once. What a sliced batch stores, and how it is
//! rejected, must be exactly what one parse of the whole batch gives; and
//! under an address-space limit a batch whose whole parse would not fit
//! still goes in.

mod common;

use common::*;
use linedb::engine::{Engine, Options};
use linedb::line_protocol::{Batch, Precision};
use linedb::schema::{Limits, Schema};
use linedb::validate::check_batch;

const DAY: i64 = 86_400_000_000_000;

/// A valid batch of about `bytes` bytes, and where each of its lines
/// starts (byte offset, physical line number). Five measurements over
/// three days; some strings hold newlines and escapes (so a slice must
/// never end inside one), some lines repeat an earlier point with other
/// fields (the later write wins, field by field, across slices too), and
/// there are comments and blank lines.
fn big_batch(bytes: usize) -> (String, Vec<(usize, u64)>) {
    let mut text = String::new();
    let mut starts = Vec::new();
    let mut physical = 1u64;
    let mut i = 0u64;
    while text.len() < bytes {
        let (m, host, day) = (i % 5, i % 37, (i / 7) % 3);
        let t = day as i64 * DAY + (i / 111) as i64;
        let line = match i % 97 {
            0 => format!("m{m},host=h{host} s=\"two\\\"\nlines {i}\" {t}"),
            1 => "# a comment line\n".to_owned(),
            50 => {
                let j = i - 48; // a line of the last arm
                let t = ((j / 7) % 3) as i64 * DAY + (j / 111) as i64;
                format!("m{},host=h{},dc=eu\\ west g={i}i {t}", j % 5, j % 37)
            }
            _ => format!("m{m},host=h{host},dc=eu\\ west f={}.5,i={i}i,b=true {t}", i % 1000),
        };
        if !line.starts_with('#') {
            starts.push((text.len(), physical));
        }
        physical += line.matches('\n').count() as u64 + 1;
        text.push_str(&line);
        text.push('\n');
        i += 1;
    }
    (text, starts)
}

fn options() -> Options {
    // No background sealing: these tests measure what a batch takes, to
    // the byte of address space (sealing probes for its own memory and
    // skips a pass without it, `engine::seal`).
    Options { max_batch_bytes: 64 << 20, background_sealing: false, ..Options::default() }
}

#[test]
fn a_sliced_batch_stores_what_the_same_lines_in_small_batches_store() {
    let (text, starts) = big_batch(9 << 20);
    let (t1, t2) = (TempDir::new("sliced-one"), TempDir::new("sliced-small"));
    let one = Engine::open(t1.store(), options()).unwrap();
    let small = Engine::open(t2.store(), options()).unwrap();
    for e in [&one, &small] {
        e.create_database("db").unwrap();
    }
    let out = write(&one, "db", &text);
    assert_eq!((out.status, out.count), (204, starts.len() as u64), "{out:?}");
    // The same lines, 2,000 at a time (cut at line starts).
    let cuts: Vec<usize> = starts.iter().step_by(2000).map(|s| s.0).chain([text.len()]).collect();
    for w in cuts.windows(2) {
        assert_eq!(write(&small, "db", &text[w[0]..w[1]]).status, 204);
    }
    let got = all(&one, "db");
    assert_eq!(got, all(&small, "db"));
    // Repeats merged (the 50th line of every 97 adds `g` to an earlier point).
    assert!(got.iter().any(|l| l.contains(",g=") && l.contains(",f=")), "no merged point");
    assert!(got.iter().any(|l| l.contains("two\\\"\nlines")), "no string with a newline");
    one.close().unwrap();
    let one = Engine::open(t1.store(), options()).unwrap();
    assert_eq!(all(&one, "db"), got);
}

#[test]
fn a_rejected_sliced_batch_names_the_line_one_parse_names_and_stores_nothing() {
    let (text, starts) = big_batch(6 << 20);
    let t = TempDir::new("sliced-reject");
    let e = Engine::open(t.store(), options()).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m0,host=h0 f=1.5 1").status, 204);
    let before = snapshot_files(&t.store());
    let n = starts.len();
    let line_at = |k: usize| {
        let end = starts.get(k + 1).map_or(text.len(), |s| s.0);
        (starts[k].0, end)
    };
    let bad_lines = [
        // Does not parse.
        "m1,host=h1 f= 1\n",
        // A string where the batch (and the store, for m0) has floats.
        "m0,host=h9 f=\"s\" 5\n",
        // A tag where the batch has a field.
        "m2,f=x i=1i 5\n",
        // A string that never ends: swallows every line after it.
        "m3,host=h1 s=\"open 5\n",
    ];
    for k in [3, n / 3, n / 2 + 1, n - 1] {
        for bad in bad_lines {
            let (from, to) = line_at(k);
            let input = format!("{}{bad}{}", &text[..from], &text[to..]);
            let mut b = Batch::new();
            // What one parse and validation of the whole batch answers (the
            // store holds m0's f as a float, as the schema below does).
            let mut schema = Schema::new();
            let mut seed = Batch::new();
            let v = check_batch(b"m0,host=h0 f=1.5 1", Precision::Nanosecond, 0, &schema, &Limits::default(), &mut seed).unwrap();
            schema.apply(&v.changes);
            let want = check_batch(input.as_bytes(), Precision::Nanosecond, 0, &schema, &Limits::default(), &mut b).unwrap_err();
            let out = write(&e, "db", &input);
            assert_eq!(out.status, 400, "line {k}, {bad:?}: {out:?}");
            assert_eq!((out.error_line, &out.message), (want.line(), &want.to_string()), "line {k}, {bad:?}");
        }
    }
    assert_eq!(snapshot_files(&t.store()), before);
    assert_eq!(all(&e, "db"), ["m0,host=h0 f=1.5 1"]);
}

/// The child: `LINEDB_LARGE_CHILD` is the store, `LINEDB_LARGE_MB` the
/// batch's size. Lowers its address-space limit to what it uses now plus
/// twice the batch and a constant, then writes the batch.
#[test]
fn large_batch_child() {
    let Ok(dir) = std::env::var("LINEDB_LARGE_CHILD") else { return };
    let mb: usize = std::env::var("LINEDB_LARGE_MB").unwrap().parse().unwrap();
    let unique = std::env::var("LINEDB_LARGE_UNIQUE").is_ok();
    let (text, starts) = if unique { unique_series(mb << 20) } else { big_batch(mb << 20) };
    // Small segments: each new partition's mapping takes its capacity of
    // address space.
    let e = Engine::open(&dir, Options { segment_bytes: 4 << 20, ..options() }).unwrap();
    e.create_database("db").unwrap();
    assert_eq!(write(&e, "db", "m0,host=h0 f=1.5 1").status, 204);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let vm_kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmSize:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap();
    // Twice the batch, plus 128 MiB for the new segments' mappings (4 MiB
    // of address space each, 15 partitions, some rotated) and the WAL's.
    let limit = vm_kb * 1024 + 2 * text.len() as u64 + (128 << 20);
    let set_limit = |cur: u64| {
        let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit and setrlimit with a valid, initialised struct;
        // only the soft limit of this (child) process changes.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut rl), 0);
            rl.rlim_cur = cur.min(rl.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &rl), 0);
        }
    };
    if let Ok(spare_mib) = std::env::var("LINEDB_LARGE_TIGHT") {
        // Far too little for the batch: 503, nothing stored, no abort; and
        // with the memory back, it goes in.
        let small = Engine::open(format!("{dir}-413"), Options { max_batch_bytes: 1 << 20, segment_bytes: 4 << 20, ..options() }).unwrap();
        small.create_database("db").unwrap();
        set_limit(vm_kb * 1024 + (spare_mib.parse::<u64>().unwrap() << 20));
        // Over a store's limit it is 413, whatever the memory.
        let out = write(&small, "db", &text);
        assert_eq!((out.status, out.retry_after_secs), (413, 0), "{out:?}");
        let out = write(&e, "db", &text);
        assert_eq!((out.status, out.retry_after_secs), (503, 1), "{out:?}");
        // (Memory for the blocks, or address space to map a new segment.)
        assert!(out.message.contains("not enough memory") || out.message.contains("Cannot allocate memory"), "{out:?}");
        set_limit(u64::MAX);
        assert_eq!(all(&e, "db").len(), 1);
    }
    set_limit(limit);
    let out = write(&e, "db", &text);
    if unique && out.status == 503 {
        // A series per line: its dictionaries take several times the batch,
        // more than this allowance. An answer, not an abort; nothing stored.
        assert_eq!(out.retry_after_secs, 1, "{out:?}");
        set_limit(u64::MAX);
        assert_eq!(all(&e, "db").len(), 1);
        let out = write(&e, "db", &text);
        assert_eq!((out.status, out.count), (204, starts.len() as u64), "{out:?}");
    } else {
        assert_eq!((out.status, out.count), (204, starts.len() as u64), "{out:?}");
    }
    println!("large batch written");
}

/// A batch of about `bytes` bytes in which every line is a series of its
/// own, in one partition: what grows is the block's series dictionary.
fn unique_series(bytes: usize) -> (String, Vec<(usize, u64)>) {
    let mut text = String::new();
    let mut starts = Vec::new();
    let mut i = 0u64;
    while text.len() < bytes {
        starts.push((text.len(), i + 1));
        text.push_str(&format!("u,t=s{i} f={i}i {}\n", i % 1000));
        i += 1;
    }
    (text, starts)
}

/// Runs the child with `env` set; asserts it wrote the batch.
fn run_large(extra: &[(&str, &str)]) {
    run_large_mb(extra, "48");
}

/// [`run_large`] with a batch of `mb` MiB.
fn run_large_mb(extra: &[(&str, &str)], mb: &str) {
    let t = TempDir::new("sliced-rlimit-as");
    // 48 MiB of text parses to about 4.5 times that whole.
    let store = t.store().to_string_lossy().into_owned();
    let mut env = vec![("LINEDB_LARGE_CHILD", store.as_str()), ("LINEDB_LARGE_MB", mb)];
    env.extend_from_slice(extra);
    run_child("large_batch_child", &env, "large batch written");
}

#[test]
fn a_batch_whose_whole_parse_would_not_fit_in_the_address_space_goes_in() {
    run_large(&[]);
}

#[test]
fn a_batch_of_a_series_a_line_never_aborts_for_memory() {
    // Tight, and with twice the batch to spare: 503 or 204, never an abort.
    for spare_mib in ["0", "16", "64"] {
        run_large_mb(&[("LINEDB_LARGE_TIGHT", spare_mib), ("LINEDB_LARGE_UNIQUE", "1")], "24");
    }
    run_large_mb(&[("LINEDB_LARGE_UNIQUE", "1")], "24");
}

#[test]
fn a_batch_that_cannot_have_the_memory_it_needs_is_503_not_an_abort() {
    // From no address space to spare (the probe before any work says no)
    // to some (the slices parse, then the blocks, or a new segment's
    // mapping, do not fit).
    for spare_mib in ["0", "4", "16", "32", "64"] {
        run_large(&[("LINEDB_LARGE_TIGHT", spare_mib)]);
    }
}
