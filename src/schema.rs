//! What the stored data already fixes about names and types: which names of
//! a table are tags and which are fields, the field types of each partition,
//! and the limits on columns and tables.

use std::collections::HashMap;

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
    columns: HashMap<String, ColumnKind>,
    partitions: HashMap<Day, HashMap<String, FieldType>>,
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
            self.tables.entry(t.clone()).or_default().columns.insert(c.clone(), *k);
        }
        for (t, day, f, ty) in &changes.field_types {
            let table = self.tables.entry(t.clone()).or_default();
            table.partitions.entry(*day).or_default().insert(f.clone(), *ty);
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
            out.columns.extend(cols.into_iter().map(|(c, k)| (name.clone(), c.clone(), *k)));
            let mut days: Vec<_> = t.partitions.iter().collect();
            days.sort_by_key(|d| *d.0);
            for (day, types) in days {
                let mut types: Vec<_> = types.iter().collect();
                types.sort_by(|a, b| a.0.cmp(b.0));
                out.field_types.extend(types.into_iter().map(|(f, ty)| (name.clone(), *day, f.clone(), *ty)));
            }
        }
        out
    }

    /// The days of a table that have field types, in no order.
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
        self.tables.get(table)?.partitions.get(&day)?.get(field).copied()
    }
}
