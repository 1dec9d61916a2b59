//! The statements of the InfluxQL subset linedb answers (`docs/influxql.md`).

/// One statement of a query text.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    Select(Box<Select>),
    ShowDatabases,
    ShowMeasurements,
    /// `SHOW TAG KEYS [FROM m]`.
    ShowTagKeys { from: Option<Source> },
    /// `SHOW TAG VALUES [FROM m] WITH KEY = "k"` (or `IN ("a", "b")`, or
    /// `=~ /re/`, `!=`, `!~`).
    ShowTagValues { from: Option<Source>, key: KeyFilter },
    /// `SHOW FIELD KEYS [FROM m]`.
    ShowFieldKeys { from: Option<Source> },
    /// `SHOW SERIES [FROM m] [WHERE cond]`.
    ShowSeries { from: Option<Source>, condition: Option<Expr> },
}

/// Which tag keys `SHOW TAG VALUES` lists.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyFilter {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    Regex(String),
    NotRegex(String),
}

/// A measurement, with the database and retention policy it was named
/// with (`"db"."rp"."m"`, `"rp"."m"`, `m`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub database: Option<String>,
    pub retention_policy: Option<String>,
    pub measurement: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    pub fields: Vec<Field>,
    pub from: Source,
    pub condition: Option<Expr>,
    pub dimensions: Vec<Dimension>,
    pub fill: Fill,
    /// `ORDER BY time DESC`.
    pub descending: bool,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    pub slimit: Option<u64>,
    pub soffset: Option<u64>,
}

/// An output column: an expression and its `AS` name.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub expr: Expr,
    pub alias: Option<String>,
}

/// A `GROUP BY` item.
#[derive(Clone, Debug, PartialEq)]
pub enum Dimension {
    /// `time(interval[, offset])`, nanoseconds.
    Time { interval: i64, offset: i64 },
    Tag(String),
    /// `*`: every tag.
    Wildcard,
    /// `/re/`: the tags whose keys match.
    Regex(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Fill {
    /// No `fill(...)`: windows without points are null.
    Default,
    Null,
    None,
    Previous,
    Linear,
    Number(f64),
    Integer(i64),
}

/// What a name refers to, where it says so (`field::tag`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cast {
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
    Field,
    Tag,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A field or tag key (or `time`), with its `::type` if written.
    Var { name: String, cast: Option<Cast> },
    /// `*` (a field list, or an aggregate's argument).
    Wildcard,
    /// A function call: `mean(x)`, `percentile(x, 90)`, `now()`.
    Call { name: String, args: Vec<Expr> },
    Integer(i64),
    Number(f64),
    Str(String),
    Bool(bool),
    /// Nanoseconds.
    Duration(i64),
    Regex(String),
    Binary { op: BinOp, lhs: Box<Expr>, rhs: Box<Expr> },
    /// `( expr )`, kept for printing as written.
    Paren(Box<Expr>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    EqRegex,
    NotEqRegex,
    And,
    Or,
}

impl BinOp {
    /// Binding strength: higher binds tighter (`influxql/token.go`).
    pub const fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::NotEq | BinOp::EqRegex | BinOp::NotEqRegex | BinOp::Lt | BinOp::LtEq | BinOp::Gt
            | BinOp::GtEq => 4,
            BinOp::Add | BinOp::Sub => 5,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 6,
        }
    }

    /// The operator as InfluxQL writes it.
    pub const fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Eq => "=",
            BinOp::NotEq => "!=",
            BinOp::Lt => "<",
            BinOp::LtEq => "<=",
            BinOp::Gt => ">",
            BinOp::GtEq => ">=",
            BinOp::EqRegex => "=~",
            BinOp::NotEqRegex => "!~",
            BinOp::And => "AND",
            BinOp::Or => "OR",
        }
    }
}
