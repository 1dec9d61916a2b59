//! Reading a sealed file's rows back, for the raw export: the row groups
//! that overlap a time range, decoded (each chunk checked against its CRC
//! as it is read), and each row's series key and fields as rows store them.

use crate::columnar::{footer::Group, Column, ReadError, Reader, Values};
use crate::rows::{StoredField, StoredValue};

use super::keys::Keys;

/// One field column of a decoded group.
struct DecodedColumn {
    column: Column,
    /// With nulls: each row's index among the values (rows without the
    /// field are skipped by `present`).
    index: Option<Vec<u32>>,
}

struct DecodedGroup {
    times: Vec<i64>,
    /// Each row's series id.
    series: Vec<u32>,
    /// One per field column of the file.
    columns: Vec<Option<DecodedColumn>>,
}

/// The decoded row groups of one sealed file that overlap a time range.
pub struct Decoded {
    /// Series keys by id.
    keys: Keys,
    /// Field keys by column.
    fields: Vec<Vec<u8>>,
    groups: Vec<DecodedGroup>,
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Decoded({} groups)", self.groups.len())
    }
}

/// Which series a read keeps: asked with a series' id in the file and its
/// key.
pub type Keep<'k> = dyn FnMut(u32, &[u8]) -> bool + 'k;

/// A row of a [`Decoded`]: its group and its place in it.
#[derive(Clone, Copy, Debug)]
pub struct RowAt {
    pub group: u32,
    pub row: u32,
}

fn damaged(r: &Reader, what: &str) -> ReadError {
    ReadError::Damaged(format!("{what}: {}", r.path().display()))
}

impl Decoded {
    /// Decodes the groups of `r` whose times overlap `[start, end)`.
    pub fn read(r: &Reader, start: i64, end: i64) -> Result<Decoded, ReadError> {
        Decoded::read_where(r, None, |g| overlaps(g, start, end), None, None)
    }

    /// [`Decoded::read`] of only the field columns whose (escaped) keys
    /// are in `fields` (`None`: all), and of only the series `keep` takes
    /// (asked once per series id of a group with rows in range, with its
    /// key): rows of other series are neither decoded nor answered, and
    /// only the `pco` pages of the series kept are decoded (format 2).
    /// The file's series keys may be given (`keys`: read before, e.g.
    /// kept by a [`super::keys::KeyCache`]).
    pub fn read_selected(
        r: &Reader,
        keys: Option<Keys>,
        start: i64,
        end: i64,
        fields: Option<&[Vec<u8>]>,
        keep: &mut Keep<'_>,
    ) -> Result<Decoded, ReadError> {
        Decoded::read_where(r, keys, |g| overlaps(g, start, end), fields, Some(keep))
    }

    /// Decodes group `index` of `r` (its series keys given, when read
    /// already: they are the file's).
    pub fn read_group(r: &Reader, keys: Option<Keys>, index: usize) -> Result<Decoded, ReadError> {
        let want = r.footer().groups.get(index).ok_or_else(|| damaged(r, "no such group"))?;
        Decoded::read_where(r, keys, |g| std::ptr::eq(g, want), None, None)
    }

    /// The file's series keys, by id (taken back to read the next group).
    pub fn into_keys(self) -> Keys {
        self.keys
    }

    fn read_where(
        r: &Reader,
        keys: Option<Keys>,
        pick: impl Fn(&Group) -> bool,
        fields: Option<&[Vec<u8>]>,
        mut keep: Option<&mut Keep<'_>>,
    ) -> Result<Decoded, ReadError> {
        let f = r.footer();
        let keys = match keys {
            Some(k) => k,
            None if f.groups.iter().any(&pick) => Keys::new(r.series_keys()?),
            None => Keys::default(),
        };
        // Each series' answer, asked once (None: not asked yet).
        let mut kept: Vec<Option<bool>> = Vec::new();
        let mut groups = Vec::new();
        for g in f.groups.iter().filter(|g| pick(g)) {
            // The rows to read: the runs of the series kept, as row
            // ranges (adjacent runs joined), and each row's series.
            let mut ranges: Vec<(usize, usize)> = Vec::new();
            let mut series = Vec::new();
            let mut at = 0usize;
            for (id, n) in r.runs(g)? {
                let n = n as usize;
                let take = match keep.as_mut() {
                    None => true,
                    Some(keep) => {
                        if kept.len() <= id as usize {
                            kept.resize(id as usize + 1, None);
                        }
                        *kept[id as usize]
                            .get_or_insert_with(|| keep(id, keys.get(id as usize).map_or(&[][..], |k| k.as_slice())))
                    }
                };
                if take {
                    match ranges.last_mut() {
                        Some(last) if last.1 == at => last.1 = at + n,
                        _ => ranges.push((at, at + n)),
                    }
                    series.extend(std::iter::repeat_n(id, n));
                }
                at += n;
            }
            if usize::try_from(g.rows).ok() != Some(at) {
                return Err(damaged(r, "series runs and rows disagree"));
            }
            if ranges.is_empty() {
                continue; // no series of the group is wanted
            }
            let times = r.times_in(g, &ranges)?;
            if series.len() != times.len() {
                return Err(damaged(r, "series runs and times disagree"));
            }
            let mut columns = Vec::with_capacity(f.fields.len());
            for c in 0..f.fields.len() {
                if fields.is_some_and(|want| !want.contains(&f.fields[c].key)) {
                    columns.push(None);
                    continue;
                }
                columns.push(r.field_in(g, c, &ranges)?.map(|column| {
                    let index = column.present.as_ref().map(|p| {
                        let mut k = 0u32;
                        p.iter()
                            .map(|&there| {
                                let i = k;
                                k += u32::from(there);
                                i
                            })
                            .collect()
                    });
                    DecodedColumn { column, index }
                }));
            }
            groups.push(DecodedGroup { times, series, columns });
        }
        Ok(Decoded { keys, fields: f.fields.iter().map(|c| c.key.clone()).collect(), groups })
    }

    /// The number of rows decoded (of every time).
    pub fn row_count(&self) -> usize {
        self.groups.iter().map(|g| g.times.len()).sum()
    }

    /// The number of series keys the file names (ids run below it).
    pub fn series_count(&self) -> usize {
        self.keys.len()
    }

    /// Every row in `[start, end)` with its series id (an index below
    /// [`Decoded::series_count`]): where it is, its time, its series' id
    /// and key.
    pub fn rows_with_ids(&self, start: i64, end: i64) -> impl Iterator<Item = (RowAt, i64, u32, &[u8])> + '_ {
        self.groups.iter().enumerate().flat_map(move |(gi, g)| {
            g.times.iter().zip(&g.series).enumerate().filter(move |(_, (t, _))| **t >= start && **t < end).map(
                move |(ri, (t, s))| {
                    // Group and row counts fit u32 (the writer's bounds).
                    #[allow(clippy::cast_possible_truncation)]
                    let at = RowAt { group: gi as u32, row: ri as u32 };
                    (at, *t, *s, self.keys.get(*s as usize).map_or(&[][..], |k| k.as_slice()))
                },
            )
        })
    }

    /// Every row in `[start, end)`: where it is, its time and series key.
    pub fn rows(&self, start: i64, end: i64) -> impl Iterator<Item = (RowAt, i64, &[u8])> + '_ {
        self.groups.iter().enumerate().flat_map(move |(gi, g)| {
            g.times.iter().zip(&g.series).enumerate().filter(move |(_, (t, _))| **t >= start && **t < end).map(
                move |(ri, (t, s))| {
                    // Group and row counts fit u32 (the writer's bounds).
                    #[allow(clippy::cast_possible_truncation)]
                    let at = RowAt { group: gi as u32, row: ri as u32 };
                    (at, *t, self.keys.get(*s as usize).map_or(&[][..], |k| k.as_slice()))
                },
            )
        })
    }

    /// The fields of a row, in key order, as rows store them.
    pub fn fields<'s>(&'s self, at: RowAt, out: &mut Vec<StoredField<'s>>) {
        let Some(g) = self.groups.get(at.group as usize) else { return };
        let row = at.row as usize;
        for (key, col) in self.fields.iter().zip(&g.columns) {
            let Some(col) = col else { continue };
            if col.column.present.as_ref().is_some_and(|p| !p.get(row).copied().unwrap_or(false)) {
                continue;
            }
            let i = col.index.as_ref().map_or(row, |ix| ix.get(row).copied().unwrap_or(0) as usize);
            let value = match &col.column.values {
                Values::Float(v) => v.get(i).map(|x| StoredValue::Float(*x)),
                Values::Integer(v) => v.get(i).map(|x| StoredValue::Integer(*x)),
                Values::UInteger(v) => v.get(i).map(|x| StoredValue::UInteger(*x)),
                Values::Boolean(v) => v.get(i).map(|x| StoredValue::Boolean(*x)),
                Values::String(d, v) => v.get(i).and_then(|x| d.get(*x as usize)).map(StoredValue::String),
            };
            if let Some(value) = value {
                out.push(StoredField { key, value });
            }
        }
    }
}

fn overlaps(g: &Group, start: i64, end: i64) -> bool {
    g.max_time >= start && g.min_time < end
}
