//! Statements back to InfluxQL text: what [`super::parse`] reads back to
//! the same statement (the fuzz target checks it). Names are always
//! double-quoted and strings single-quoted, with their escapes.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::{Cast, Dimension, Expr, Field, Fill, KeyFilter, Select, Source, Statement};

fn quoted(f: &mut Formatter<'_>, s: &str, quote: char) -> fmt::Result {
    f.write_char(quote)?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            c if c == quote => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            c => f.write_char(c)?,
        }
    }
    f.write_char(quote)
}

struct Ident<'a>(&'a str);

impl Display for Ident<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        quoted(f, self.0, '"')
    }
}

struct Regex<'a>(&'a str);

impl Display for Regex<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('/')?;
        // The lexer read `\/` as `/` and kept every other escape.
        let mut chars = self.0.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '/' => f.write_str("\\/")?,
                '\\' => {
                    f.write_char('\\')?;
                    if let Some(n) = chars.next() {
                        f.write_char(n)?;
                    }
                }
                c => f.write_char(c)?,
            }
        }
        f.write_char('/')
    }
}

impl Display for Source {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match (&self.database, &self.retention_policy) {
            (Some(db), Some(rp)) => write!(f, "{}.{}.", Ident(db), Ident(rp))?,
            (Some(db), None) => write!(f, "{}..", Ident(db))?,
            (None, Some(rp)) => write!(f, "{}.", Ident(rp))?,
            (None, None) => {}
        }
        write!(f, "{}", Ident(&self.measurement))
    }
}

impl Display for Cast {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cast::Float => "float",
            Cast::Integer => "integer",
            Cast::Unsigned => "unsigned",
            Cast::String => "string",
            Cast::Boolean => "boolean",
            Cast::Field => "field",
            Cast::Tag => "tag",
        })
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Var { name, cast } => {
                write!(f, "{}", Ident(name))?;
                if let Some(c) = cast {
                    write!(f, "::{c}")?;
                }
                Ok(())
            }
            Expr::Wildcard => f.write_char('*'),
            Expr::Call { name, args } => {
                write!(f, "{}(", Ident(name))?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_char(')')
            }
            Expr::Integer(i) => write!(f, "{i}"),
            // A whole number keeps a decimal point: read back as a number,
            // never an integer. (Numbers are finite: the lexer refuses
            // others.)
            Expr::Number(x) if x.fract() == 0.0 => write!(f, "{x:.1}"),
            Expr::Number(x) => write!(f, "{x}"),
            Expr::Str(s) => quoted(f, s, '\''),
            Expr::Bool(b) => f.write_str(if *b { "true" } else { "false" }),
            Expr::Duration(d) => write!(f, "{d}ns"),
            Expr::Regex(r) => write!(f, "{}", Regex(r)),
            Expr::Binary { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.symbol()),
            Expr::Paren(e) => write!(f, "({e})"),
        }
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if let Some(a) = &self.alias {
            write!(f, " AS {}", Ident(a))?;
        }
        Ok(())
    }
}

impl Display for Dimension {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Dimension::Time { interval, offset: 0 } => write!(f, "time({interval}ns)"),
            Dimension::Time { interval, offset } if *offset < 0 => write!(f, "time({interval}ns, -{}ns)", offset.unsigned_abs()),
            Dimension::Time { interval, offset } => write!(f, "time({interval}ns, {offset}ns)"),
            Dimension::Tag(t) => write!(f, "{}", Ident(t)),
            Dimension::Wildcard => f.write_char('*'),
            Dimension::Regex(r) => write!(f, "{}", Regex(r)),
        }
    }
}

impl Display for Select {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{field}")?;
        }
        write!(f, " FROM {}", self.from)?;
        if let Some(c) = &self.condition {
            write!(f, " WHERE {c}")?;
        }
        for (i, d) in self.dimensions.iter().enumerate() {
            f.write_str(if i == 0 { " GROUP BY " } else { ", " })?;
            write!(f, "{d}")?;
        }
        match self.fill {
            Fill::Default => {}
            Fill::Null => f.write_str(" fill(null)")?,
            Fill::None => f.write_str(" fill(none)")?,
            Fill::Previous => f.write_str(" fill(previous)")?,
            Fill::Linear => f.write_str(" fill(linear)")?,
            Fill::Integer(i) => write!(f, " fill({i})")?,
            Fill::Number(x) => write!(f, " fill({})", Expr::Number(x))?,
        }
        if self.descending {
            f.write_str(" ORDER BY time DESC")?;
        }
        for (k, v) in [("LIMIT", self.limit), ("OFFSET", self.offset), ("SLIMIT", self.slimit), ("SOFFSET", self.soffset)] {
            if let Some(n) = v {
                write!(f, " {k} {n}")?;
            }
        }
        Ok(())
    }
}

fn from(f: &mut Formatter<'_>, s: &Option<Source>) -> fmt::Result {
    match s {
        Some(s) => write!(f, " FROM {s}"),
        None => Ok(()),
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Select(s) => write!(f, "{s}"),
            Statement::ShowDatabases => f.write_str("SHOW DATABASES"),
            Statement::ShowMeasurements => f.write_str("SHOW MEASUREMENTS"),
            Statement::ShowTagKeys { from: s } => {
                f.write_str("SHOW TAG KEYS")?;
                from(f, s)
            }
            Statement::ShowFieldKeys { from: s } => {
                f.write_str("SHOW FIELD KEYS")?;
                from(f, s)
            }
            Statement::ShowTagValues { from: s, key } => {
                f.write_str("SHOW TAG VALUES")?;
                from(f, s)?;
                f.write_str(" WITH KEY ")?;
                match key {
                    KeyFilter::Eq(k) => write!(f, "= {}", Ident(k)),
                    KeyFilter::NotEq(k) => write!(f, "!= {}", Ident(k)),
                    KeyFilter::Regex(r) => write!(f, "=~ {}", Regex(r)),
                    KeyFilter::NotRegex(r) => write!(f, "!~ {}", Regex(r)),
                    KeyFilter::In(keys) => {
                        f.write_str("IN (")?;
                        for (i, k) in keys.iter().enumerate() {
                            if i > 0 {
                                f.write_str(", ")?;
                            }
                            write!(f, "{}", Ident(k))?;
                        }
                        f.write_char(')')
                    }
                }
            }
            Statement::ShowSeries { from: s, condition } => {
                f.write_str("SHOW SERIES")?;
                from(f, s)?;
                match condition {
                    Some(c) => write!(f, " WHERE {c}"),
                    None => Ok(()),
                }
            }
        }
    }
}
