//! `fill(...)`: what a window without a value for a call answers, as
//! influxd fills it.

use crate::influxql::ast::Fill;
use crate::schema::FieldType;

use super::accumulate::Aux;
use super::plan::Plan;
use super::value::Value;

/// One window's result before `fill`: per call its value (`None`: the
/// window had no value for it), and what the first call chose.
pub(super) struct Slot {
    pub time: i64,
    pub values: Vec<Option<Value>>,
    /// The tags and fields of the point a lone selector chose.
    pub point: Option<Aux>,
    /// For `distinct`: every distinct value (one row each).
    pub distinct: Vec<Value>,
}

/// `fill(...)` of the windows without a value for a call.
pub(super) fn fill(p: &Plan, slots: &mut [Slot]) {
    if p.window.is_none() {
        return;
    }
    for (ci, call) in p.calls.iter().enumerate() {
        match &p.fill {
            Fill::Default | Fill::Null | Fill::None => {}
            Fill::Number(_) | Fill::Integer(_) => {
                let x = match p.fill {
                    Fill::Integer(n) => n as f64,
                    Fill::Number(x) => x,
                    _ => 0.0,
                };
                // The number as the call's type (an integer cut toward
                // zero, as Go converts); a string or boolean call gets its
                // type's zero value, as influxd fills it.
                // A string or boolean call with no point in the whole
                // series gets the number as written (influxd's fill then
                // sees no string iterator).
                let output = match call.output {
                    Some(FieldType::String | FieldType::Boolean) if !present(slots, ci) => None,
                    other => other,
                };
                let v = match output {
                    // Go's conversion: toward zero, saturating here.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Some(FieldType::Integer) => Value::Integer(x as i64),
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Some(FieldType::UInteger) => Value::Unsigned(x as u64),
                    Some(FieldType::String) => Value::String("".into()),
                    Some(FieldType::Boolean) => Value::Boolean(false),
                    Some(FieldType::Float) | None => match p.fill {
                        Fill::Integer(n) => Value::Integer(n),
                        _ => Value::Float(x),
                    },
                };
                fill_with(slots, ci, &v);
            }
            Fill::Previous => {
                // "Previous" in the order the rows go out.
                let mut prev: Option<Value> = None;
                let order: Box<dyn Iterator<Item = &mut Slot>> =
                    if p.descending { Box::new(slots.iter_mut().rev()) } else { Box::new(slots.iter_mut()) };
                for s in order {
                    match &s.values[ci] {
                        Some(v) => prev = Some(v.clone()),
                        None => s.values[ci] = prev.clone(),
                    }
                }
            }
            Fill::Linear => linear(slots, ci, p.window.map_or(1, |w| w.0)),
        }
    }
}

/// Whether call `ci` has a value in any window of the series.
pub(super) fn present(slots: &[Slot], ci: usize) -> bool {
    slots.iter().any(|s| s.values[ci].is_some())
}

fn fill_with(slots: &mut [Slot], ci: usize, v: &Value) {
    for s in slots.iter_mut() {
        if s.values[ci].is_none() {
            s.values[ci] = Some(v.clone());
        }
    }
}

/// Linear fill: an empty window between two with numbers gets the value
/// on the line between them, computed as influxd computes it (in window
/// numbers: slope times distance plus start, in floats; cut toward zero
/// for integers).
fn linear(slots: &mut [Slot], ci: usize, interval: i64) {
    let known: Vec<usize> = (0..slots.len()).filter(|&i| slots[i].values[ci].is_some()).collect();
    for pair in known.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (Some(va), Some(vb)) = (slots[a].values[ci].clone(), slots[b].values[ci].clone()) else {
            continue;
        };
        // In window numbers (time / interval, cut toward zero), as influxd.
        let (ta, tb) = (slots[a].time / interval, slots[b].time / interval);
        for s in slots.iter_mut().take(b).skip(a + 1) {
            let x = (s.time / interval - ta) as f64;
            s.values[ci] = match (&va, &vb) {
                (Value::Integer(y0), Value::Integer(y1)) => {
                    let m = (y1 - y0) as f64 / (tb - ta) as f64;
                    // Cut toward zero, as influxd's int64(); between two
                    // i64 values, so in range.
                    #[allow(clippy::cast_possible_truncation)]
                    let y = (m * x + *y0 as f64) as i64;
                    Some(Value::Integer(y))
                }
                _ => match (va.as_f64(), vb.as_f64()) {
                    (Some(y0), Some(y1)) => {
                        let m = (y1 - y0) / (tb - ta) as f64;
                        Some(Value::Float(m * x + y0))
                    }
                    _ => None,
                },
            };
        }
    }
}
