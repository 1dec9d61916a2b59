//! InfluxDB line protocol: the grammar of `LINE_PROTOCOL.md`, parsing a
//! whole batch into borrowed lines, and writing lines back in canonical form.
//!
//! This module knows nothing of storage or of the cross-line rules (those
//! are `validate`'s).

mod canonical;
mod error;
mod number;
mod parser;
pub mod scan;
mod slices;
mod split;
mod types;

pub use canonical::{write_canonical, write_escaped_name, write_value, CanonicalLine};
pub use error::{NameKind, ParseError, Position, MESSAGE_MAX};
pub use parser::{parse, skip_bom, MAX_NAME_LEN, MAX_TIME_NS, MIN_TIME_NS};
pub use slices::Slices;
pub use split::{parse_split, parse_split_from, parse_split_helper_first, SPLIT_MIN_LEN};
pub use types::{Batch, Field, FieldType, FieldValue, Line, LineRef, Precision, Tag};

pub(crate) use error::{cut, write_message};
