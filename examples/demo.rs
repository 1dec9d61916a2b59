//! The linedb demo: reads `examples/sample.lp`, splits it into the batches
//! its `# --- batch` comments mark, and checks each as a write would (parse,
//! then validate against what earlier accepted batches stored), printing
//! what it found. Run: `cargo run --example demo [FILE]`.

use std::process::ExitCode;

use linedb::line_protocol::{Batch, Precision};
use linedb::schema::{Limits, Schema};
use linedb::validate::check_batch;

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sample.lp").to_owned());
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("demo: cannot read {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("linedb {} demo: checking the batches of {path}\n", env!("CARGO_PKG_VERSION"));
    let mut schema = Schema::new();
    let limits = Limits::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let (mut accepted, mut rejected) = (0, 0);
    for (n, batch_text) in split_batches(&text).into_iter().enumerate() {
        let mut batch = Batch::new();
        match check_batch(batch_text, Precision::Nanosecond, now, &schema, &limits, &mut batch) {
            Ok(valid) => {
                accepted += 1;
                println!("batch {}: 204, {} points", n + 1, valid.points);
                for p in &valid.partitions {
                    println!("  partition {:?} {}: {} points", p.measurement, p.day, p.lines.len());
                }
                for (table, day, field, ty) in &valid.changes.field_types {
                    println!("  new field type: {table:?} {day} {field:?} = {}", ty.name());
                }
                schema.apply(&valid.changes);
            }
            Err(e) => {
                rejected += 1;
                println!("batch {}: 400 at line {}, nothing stored", n + 1, e.line());
                println!("  {e}");
            }
        }
    }
    println!("\n{accepted} batches accepted, {rejected} rejected");
    ExitCode::SUCCESS
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
