//! The linedb demo: opens a store, writes the batches of
//! `examples/sample.lp` (split at its `# --- batch` comments, each a write
//! of its own), prints each answer, queries everything back, prints the
//! store's status, closes it, and reopens it to show the data is still there.
//!
//! Run: `cargo run --example demo [FILE] [STORE_DIR]` (the store defaults to
//! `demo-data/` and is emptied first).

use std::process::ExitCode;

use linedb::engine::{Engine, Options};
use linedb::line_protocol::Precision;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sample.lp").to_owned());
    let dir = args.next().unwrap_or_else(|| "demo-data".to_owned());
    let text = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let _ = std::fs::remove_dir_all(&dir);

    println!("linedb {} demo: store {dir}, batches of {path}\n", env!("CARGO_PKG_VERSION"));
    let db = Engine::open(&dir, Options::default())?;
    db.create_database("demo")?;
    for (n, batch) in split_batches(&text).into_iter().enumerate() {
        let r = db.write("demo", batch, Precision::Nanosecond);
        match r.status {
            204 => println!("batch {}: 204, {} points written", n + 1, r.count),
            _ => println!("batch {}: {} (line {}), nothing stored\n  {}", n + 1, r.status, r.error_line, r.message),
        }
    }
    let r = db.write("nosuchdb", b"m f=1", Precision::Nanosecond);
    println!("write to an unknown database: {} {}", r.status, r.message);

    println!("\nquery, all measurements, all time:");
    print_all(&db);

    let s = db.stats();
    println!(
        "\nstatus: {} databases, {} partitions, {} points, {} WAL bytes, {} segment bytes, {} writes accepted, {} rejected, last sequence {}",
        s.databases, s.partitions, s.points, s.wal_bytes, s.segment_bytes, s.writes_accepted, s.writes_rejected, s.last_sequence
    );
    for p in db.partitions("demo")? {
        println!("  partition {:?} {}: {} points, {} bytes", p.measurement, p.day, p.points, p.bytes);
    }
    for (t, day) in [(1_732_492_800_000_000_000i64, "2024-11-25"), (1_732_665_600_000_000_000, "2024-11-27")] {
        let ty = db.field_type("demo", "cpu", t, "cores")?;
        println!("  field type of cpu.cores on {day}: {}", ty.map_or("not set", |t| t.name()));
    }
    db.close()?;

    let db = Engine::open(&dir, Options::default())?;
    println!("\nreopened: {} points", db.stats().points);
    db.close()?;
    Ok(())
}

fn print_all(db: &Engine) {
    let r = db.query("demo", None, i64::MIN, i64::MAX, &mut |line| {
        println!("  {}", String::from_utf8_lossy(line));
        true
    });
    println!("  ({} lines, status {})", r.count, r.status);
}

/// Splits the file at lines starting `# --- batch`; each part keeps its own
/// line numbering, as a separate write would.
fn split_batches(text: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos < text.len() {
        let end = text[pos..].iter().position(|&b| b == b'\n').map_or(text.len(), |p| pos + p + 1);
        if text[pos..end].starts_with(b"# --- batch") && pos > start {
            parts.push(&text[start..pos]);
            start = pos;
        }
        pos = end;
    }
    parts.push(&text[start..]);
    // The part before the first marker is only the file's header comments.
    parts.retain(|p| p.starts_with(b"# --- batch"));
    parts
}
