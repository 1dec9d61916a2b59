//! What the stored data already fixes about names and types: which names of
//! a table are tags and which are fields, the field types of each partition,
//! and the limits on columns and tables.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::partition::Day;
pub use crate::line_protocol::FieldType;

/// Whether a column of a table is a tag or a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    Tag,
    Field,
}

impl ColumnKind {
    pub const fn name(self) -> &'static str {
        match self {
            ColumnKind::Tag => "tag",
            ColumnKind::Field => "field",
        }
    }
}

/// Limits of one database, as InfluxDB Clustered's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Columns of a table, counting time, tags and fields.
    pub max_columns_per_table: u32,
    pub max_tables_per_database: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_columns_per_table: 250, max_tables_per_database: 500 }
    }
}

/// A read-only view of one database's stored schema. The storage engine
/// implements it over its catalog; [`Schema`] is a plain in-memory one.
pub trait SchemaView {
    /// Number of tables (measurements) in the database.
    fn table_count(&self) -> usize;
    /// Columns of a table counting time, tags and fields; `None` when the
    /// table does not exist.
    fn column_count(&self, table: &str) -> Option<usize>;
    /// Whether a name of a table is a tag or a field.
    fn column_kind(&self, table: &str, column: &str) -> Option<ColumnKind>;
    /// The type a field has in the partition of `table` and `day`.
    fn field_type(&self, table: &str, day: Day, field: &str) -> Option<FieldType>;
}

/// What a validated batch adds to the schema, in the order the batch
/// brought it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchemaChanges {
    pub tables: Vec<String>,
    pub columns: Vec<(String, String, ColumnKind)>,
    pub field_types: Vec<(String, Day, String, FieldType)>,
}

impl SchemaChanges {
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.columns.is_empty() && self.field_types.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Table {
    /// Names shared with the partitions' field types (one allocation per
    /// name, not one per partition).
    columns: HashMap<Arc<str>, ColumnKind>,
    /// Neighbouring days with the same field types share one list (see
    /// [`Table::set_field_type`]): a store of many daily partitions pays a
    /// pointer per partition, not a list.
    partitions: BTreeMap<Day, Arc<FieldTypes>>,
}

impl Table {
    /// Sets a field's type in a day's partition. The day's list is shared
    /// with a neighbouring day's when the two are equal, so a table's days
    /// of the same fields hold one list between them.
    fn set_field_type(&mut self, day: Day, name: &Arc<str>, ty: FieldType) {
        let types = self.partitions.entry(day).or_default();
        if types.get(name) == Some(ty) {
            return;
        }
        Arc::make_mut(types).insert(name, ty);
        let mine = Arc::clone(types);
        let before = self.partitions.range(..day).next_back().map(|(_, t)| t);
        let after = self.partitions.range(day..).nth(1).map(|(_, t)| t);
        if let Some(same) = before.into_iter().chain(after).find(|t| **t == mine).cloned() {
            self.partitions.insert(day, same);
        }
    }
}

/// The field types of one partition, sorted by name: a store may hold a
/// great many partitions of a few fields each, and a small sorted vector
/// takes a fraction of a hash map's memory (issue 13: 100,000 partitions
/// in under 64 MiB).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct FieldTypes(Vec<(Arc<str>, FieldType)>);

impl FieldTypes {
    fn get(&self, name: &str) -> Option<FieldType> {
        self.0.binary_search_by(|(n, _)| (**n).cmp(name)).ok().map(|i| self.0[i].1)
    }

    fn insert(&mut self, name: &Arc<str>, ty: FieldType) {
        match self.0.binary_search_by(|(n, _)| (**n).cmp(name)) {
            Ok(i) => self.0[i].1 = ty,
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, (Arc::clone(name), ty));
            }
        }
    }

    /// In name order.
    fn iter(&self) -> impl Iterator<Item = (&str, FieldType)> {
        self.0.iter().map(|(n, t)| (&**n, *t))
    }
}

/// One database's schema held in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schema {
    tables: HashMap<String, Table>,
}

impl Schema {
    pub fn new() -> Self {
        Schema::default()
    }

    /// Adds what a validated batch brought.
    pub fn apply(&mut self, changes: &SchemaChanges) {
        for t in &changes.tables {
            self.tables.entry(t.clone()).or_default();
        }
        for (t, c, k) in &changes.columns {
            self.tables.entry(t.clone()).or_default().columns.insert(Arc::from(c.as_str()), *k);
        }
        for (t, day, f, ty) in &changes.field_types {
            let table = self.tables.entry(t.clone()).or_default();
            let name = match table.columns.get_key_value(f.as_str()) {
                Some((name, _)) => Arc::clone(name),
                None => Arc::from(f.as_str()),
            };
            table.set_field_type(*day, &name, *ty);
        }
    }

    /// Everything the schema holds, as the changes that would build it from
    /// empty (tables, then columns, then field types; sorted, so the same
    /// schema always exports the same way).
    pub fn export(&self) -> SchemaChanges {
        let mut out = SchemaChanges::default();
        let mut tables: Vec<(&String, &Table)> = self.tables.iter().collect();
        tables.sort_by(|a, b| a.0.cmp(b.0));
        for (name, t) in tables {
            out.tables.push(name.clone());
            let mut cols: Vec<_> = t.columns.iter().collect();
            cols.sort_by(|a, b| a.0.cmp(b.0));
            out.columns.extend(cols.into_iter().map(|(c, k)| (name.clone(), c.to_string(), *k)));
            for (day, types) in &t.partitions {
                out.field_types.extend(types.iter().map(|(f, ty)| (name.clone(), *day, f.to_owned(), ty)));
            }
        }
        out
    }

    /// A table's tag keys, sorted; `None` when it does not exist.
    pub fn tag_keys(&self, table: &str) -> Option<Vec<String>> {
        let t = self.tables.get(table)?;
        let mut keys: Vec<String> =
            t.columns.iter().filter(|(_, k)| **k == ColumnKind::Tag).map(|(n, _)| n.to_string()).collect();
        keys.sort();
        Some(keys)
    }

    /// A table's names and what each is.
    pub fn kinds(&self, table: &str) -> Vec<(String, ColumnKind)> {
        self.tables.get(table).map(|t| t.columns.iter().map(|(n, k)| (n.to_string(), *k)).collect()).unwrap_or_default()
    }

    /// The fields of a table's partitions from day `first` to `last`, with
    /// the type each has in the earliest of them, sorted by name; `None`
    /// when the table has no partition there.
    pub fn fields_between(&self, table: &str, first: Day, last: Day) -> Option<Vec<(String, FieldType)>> {
        let t = self.tables.get(table)?;
        let mut out: BTreeMap<&str, FieldType> = BTreeMap::new();
        let mut any = false;
        for types in t.partitions.range(first..=last).map(|(_, v)| v) {
            any = true;
            for (name, ty) in types.iter() {
                out.entry(name).or_insert(ty);
            }
        }
        any.then(|| out.into_iter().map(|(n, t)| (n.to_owned(), t)).collect())
    }

    /// The days of a table that have field types, in order.
    pub fn days(&self, table: &str) -> Vec<Day> {
        self.tables.get(table).map(|t| t.partitions.keys().copied().collect()).unwrap_or_default()
    }
}

impl SchemaView for Schema {
    fn table_count(&self) -> usize {
        self.tables.len()
    }
    fn column_count(&self, table: &str) -> Option<usize> {
        self.tables.get(table).map(|t| 1 + t.columns.len())
    }
    fn column_kind(&self, table: &str, column: &str) -> Option<ColumnKind> {
        self.tables.get(table)?.columns.get(column).copied()
    }
    fn field_type(&self, table: &str, day: Day, field: &str) -> Option<FieldType> {
        self.tables.get(table)?.partitions.get(&day)?.get(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(day: i32, field: &str, ty: FieldType) -> SchemaChanges {
        SchemaChanges { field_types: vec![("m".into(), Day(day), field.into(), ty)], ..SchemaChanges::default() }
    }

    fn list(s: &Schema, day: i32) -> &Arc<FieldTypes> {
        &s.tables["m"].partitions[&Day(day)]
    }

    #[test]
    fn neighbouring_days_with_the_same_fields_share_a_list_and_part_when_one_changes() {
        let mut s = Schema::new();
        for day in [1, 2, 3] {
            s.apply(&change(day, "f", FieldType::Integer));
        }
        assert!(Arc::ptr_eq(list(&s, 1), list(&s, 2)) && Arc::ptr_eq(list(&s, 2), list(&s, 3)));
        // A new field on day 2 only: the others keep theirs.
        s.apply(&change(2, "g", FieldType::Float));
        assert!(!Arc::ptr_eq(list(&s, 1), list(&s, 2)));
        assert_eq!(s.field_type("m", Day(2), "g"), Some(FieldType::Float));
        assert_eq!((s.field_type("m", Day(1), "g"), s.field_type("m", Day(3), "g")), (None, None));
        assert_eq!(s.field_type("m", Day(3), "f"), Some(FieldType::Integer));
        // Day 3 catches up and shares day 2's list again.
        s.apply(&change(3, "g", FieldType::Float));
        assert!(Arc::ptr_eq(list(&s, 2), list(&s, 3)));
        // The same field with another type on another day is that day's own.
        s.apply(&change(4, "f", FieldType::String));
        assert_eq!(s.field_type("m", Day(4), "f"), Some(FieldType::String));
        assert_eq!(s.field_type("m", Day(3), "f"), Some(FieldType::Integer));
        // Exported in day order, whatever was shared.
        let days: Vec<i32> = s.export().field_types.iter().map(|c| c.1 .0).collect();
        assert_eq!(days, [1, 2, 2, 3, 3, 4]);
    }
}
