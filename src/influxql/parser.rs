//! InfluxQL text to statements: recursive descent over [`Lexer`] tokens,
//! with precedence climbing for expressions (`OR` < `AND` < comparisons <
//! `+ -` < `* / %`), in the clause order `influxd` accepts. Statements
//! outside the subset are refused here with a clear error at their first
//! word, so that nothing downstream meets them.

use super::ast::{BinOp, Cast, Dimension, Expr, Field, Fill, KeyFilter, Select, Source, Statement};
use super::error::ParseError;
use super::lexer::{Lexer, Tok, Token};

/// The most nested parentheses and operators an expression may have: deep
/// enough for any real query, shallow enough that recursion never
/// exhausts a small thread stack.
pub const MAX_DEPTH: usize = 64;

/// Parses every statement of `text` (separated by `;`).
pub fn parse(text: &str) -> Result<Vec<Statement>, ParseError> {
    let mut p = Parser { lx: Lexer::new(text), depth: 0 };
    let mut out = Vec::new();
    loop {
        let t = p.lx.peek()?;
        match t.kind {
            Tok::Eof if !out.is_empty() => return Ok(out),
            Tok::Op(";") => {
                p.lx.next()?;
                continue;
            }
            _ => {}
        }
        out.push(p.statement()?);
        let t = p.lx.next()?;
        match t.kind {
            Tok::Eof => return Ok(out),
            Tok::Op(";") => {}
            _ => return Err(p.found(&t, ";")),
        }
    }
}

struct Parser<'t> {
    lx: Lexer<'t>,
    depth: usize,
}

impl Parser<'_> {
    fn found(&self, t: &Token, expected: &str) -> ParseError {
        ParseError::found(self.lx.text(), t, expected)
    }

    fn error_at(&self, t: &Token, message: impl Into<String>) -> ParseError {
        ParseError::at(self.lx.text(), t.pos, message)
    }

    /// Takes the next token if it is the keyword `k`.
    fn eat_keyword(&mut self, k: &str) -> Result<bool, ParseError> {
        let t = self.lx.peek()?;
        if matches!(t.kind, Tok::Keyword(x) if x == k) {
            self.lx.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_keyword(&mut self, k: &'static str) -> Result<(), ParseError> {
        let t = self.lx.next()?;
        if t.kind == Tok::Keyword(k) {
            Ok(())
        } else {
            Err(self.found(&t, k))
        }
    }

    fn eat_op(&mut self, op: &str) -> Result<bool, ParseError> {
        let t = self.lx.peek()?;
        if matches!(t.kind, Tok::Op(o) if o == op) {
            self.lx.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_op(&mut self, op: &'static str) -> Result<(), ParseError> {
        let t = self.lx.next()?;
        match t.kind {
            Tok::Op(o) if o == op => Ok(()),
            _ => Err(self.found(&t, op)),
        }
    }

    fn ident(&mut self) -> Result<String, ParseError> {
        let t = self.lx.next()?;
        match t.kind {
            Tok::Ident(s) => Ok(s),
            _ => Err(self.found(&t, "identifier")),
        }
    }

    /// The next token is the bare word `w` (not a keyword: `fill`, `tz`).
    fn at_word(&mut self, w: &str) -> Result<bool, ParseError> {
        let t = self.lx.peek()?;
        Ok(matches!(&t.kind, Tok::Ident(s) if s.eq_ignore_ascii_case(w)))
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        let t = self.lx.next()?;
        match &t.kind {
            Tok::Keyword("SELECT") => Ok(Statement::Select(Box::new(self.select()?))),
            Tok::Keyword("SHOW") => self.show(),
            Tok::Keyword(k @ ("DELETE" | "DROP" | "CREATE" | "ALTER" | "GRANT" | "REVOKE" | "EXPLAIN" | "KILL" | "SET")) => {
                Err(self.error_at(&t, format!("{k} statements are not supported by linedb (databases, tokens and deletion have C functions)")))
            }
            _ => Err(self.found(&t, "SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL")),
        }
    }

    fn show(&mut self) -> Result<Statement, ParseError> {
        let t = self.lx.next()?;
        match &t.kind {
            Tok::Keyword("DATABASES") => Ok(Statement::ShowDatabases),
            Tok::Keyword("MEASUREMENTS") => Ok(Statement::ShowMeasurements),
            Tok::Keyword("TAG") => {
                let t = self.lx.next()?;
                match t.kind {
                    Tok::Keyword("KEYS") => Ok(Statement::ShowTagKeys { from: self.optional_from()? }),
                    Tok::Keyword("VALUES") => {
                        let from = self.optional_from()?;
                        self.expect_keyword("WITH")?;
                        self.expect_keyword("KEY")?;
                        Ok(Statement::ShowTagValues { from, key: self.key_filter()? })
                    }
                    _ => Err(self.found(&t, "KEYS, VALUES")),
                }
            }
            Tok::Keyword("FIELD") => {
                self.expect_keyword("KEYS")?;
                Ok(Statement::ShowFieldKeys { from: self.optional_from()? })
            }
            Tok::Keyword("SERIES") => {
                let from = self.optional_from()?;
                let condition = if self.eat_keyword("WHERE")? { Some(self.expr(0)?) } else { None };
                Ok(Statement::ShowSeries { from, condition })
            }
            Tok::Keyword(
                k @ ("CONTINUOUS" | "DIAGNOSTICS" | "GRANTS" | "QUERIES" | "RETENTION" | "SHARD" | "SHARDS" | "STATS"
                | "SUBSCRIPTIONS" | "USERS" | "MEASUREMENT"),
            ) => Err(self.error_at(&t, format!("SHOW {k} is not supported by linedb"))),
            _ => Err(self.found(&t, "CONTINUOUS, DATABASES, DIAGNOSTICS, FIELD, GRANTS, MEASUREMENT, MEASUREMENTS, QUERIES, RETENTION, SERIES, SHARD, SHARDS, STATS, SUBSCRIPTIONS, TAG, USERS")),
        }
    }

    fn optional_from(&mut self) -> Result<Option<Source>, ParseError> {
        if self.eat_keyword("FROM")? {
            Ok(Some(self.source()?))
        } else {
            Ok(None)
        }
    }

    fn key_filter(&mut self) -> Result<KeyFilter, ParseError> {
        let t = self.lx.next()?;
        Ok(match t.kind {
            Tok::Op("=") => KeyFilter::Eq(self.ident()?),
            Tok::Op("!=" | "<>") => KeyFilter::NotEq(self.ident()?),
            Tok::Op("=~") => KeyFilter::Regex(self.regex()?),
            Tok::Op("!~") => KeyFilter::NotRegex(self.regex()?),
            Tok::Keyword("IN") => {
                self.expect_op("(")?;
                let mut keys = vec![self.ident()?];
                while self.eat_op(",")? {
                    keys.push(self.ident()?);
                }
                self.expect_op(")")?;
                KeyFilter::In(keys)
            }
            _ => return Err(self.found(&t, "=, !=, =~, !~, IN")),
        })
    }

    fn regex(&mut self) -> Result<String, ParseError> {
        match self.lx.regex()?.kind {
            Tok::Regex(r) => Ok(r),
            _ => unreachable_regex(),
        }
    }

    /// `m`, `"rp"."m"`, `"db"."rp"."m"` or `"db".."m"`.
    fn source(&mut self) -> Result<Source, ParseError> {
        let t = self.lx.peek()?;
        match t.kind {
            Tok::Op("/") => return Err(self.error_at(&t, "regular expression sources are not supported by linedb")),
            Tok::Op("(") => return Err(self.error_at(&t, "subqueries are not supported by linedb")),
            _ => {}
        }
        let mut parts: Vec<String> = vec![self.ident()?];
        while self.eat_op(".")? {
            if parts.len() == 3 {
                let t = self.lx.peek()?;
                return Err(self.found(&t, "FROM clause end"));
            }
            let t = self.lx.peek()?;
            if matches!(t.kind, Tok::Op(".")) {
                // `db..m`: the default retention policy.
                parts.push(String::new());
                continue;
            }
            parts.push(self.ident()?);
        }
        let measurement = parts.pop().unwrap_or_default();
        let retention_policy = parts.pop().filter(|rp| !rp.is_empty());
        let database = parts.pop();
        Ok(Source { database, retention_policy, measurement })
    }

    fn select(&mut self) -> Result<Select, ParseError> {
        let mut fields = vec![self.field()?];
        while self.eat_op(",")? {
            fields.push(self.field()?);
        }
        let t = self.lx.peek()?;
        if t.kind == Tok::Keyword("INTO") {
            return Err(self.error_at(&t, "SELECT ... INTO is not supported by linedb"));
        }
        self.expect_keyword("FROM")?;
        let from = self.source()?;
        let t = self.lx.peek()?;
        if matches!(t.kind, Tok::Op(",")) {
            return Err(self.error_at(&t, "a SELECT from several measurements is not supported by linedb"));
        }
        let condition = if self.eat_keyword("WHERE")? { Some(self.expr(0)?) } else { None };
        let mut dimensions = Vec::new();
        if self.eat_keyword("GROUP")? {
            self.expect_keyword("BY")?;
            dimensions.push(self.dimension()?);
            while self.eat_op(",")? {
                dimensions.push(self.dimension()?);
            }
        }
        let fill = self.fill()?;
        let mut descending = false;
        if self.eat_keyword("ORDER")? {
            self.expect_keyword("BY")?;
            let t = self.lx.next()?;
            if !matches!(&t.kind, Tok::Ident(s) if s.eq_ignore_ascii_case("time")) {
                return Err(self.error_at(&t, "only ORDER BY time supported at this time"));
            }
            if self.eat_keyword("DESC")? {
                descending = true;
            } else {
                self.eat_keyword("ASC")?;
            }
        }
        let limit = self.count_clause("LIMIT")?;
        let offset = self.count_clause("OFFSET")?;
        let slimit = self.count_clause("SLIMIT")?;
        let soffset = self.count_clause("SOFFSET")?;
        if self.at_word("tz")? {
            let t = self.lx.peek()?;
            return Err(self.error_at(&t, "tz() is not supported by linedb"));
        }
        Ok(Select { fields, from, condition, dimensions, fill, descending, limit, offset, slimit, soffset })
    }

    fn count_clause(&mut self, k: &'static str) -> Result<Option<u64>, ParseError> {
        if !self.eat_keyword(k)? {
            return Ok(None);
        }
        let t = self.lx.next()?;
        match t.kind {
            Tok::Integer(n) => u64::try_from(n).map(Some).map_err(|_| self.found(&t, "integer")),
            _ => Err(self.found(&t, "integer")),
        }
    }

    fn field(&mut self) -> Result<Field, ParseError> {
        let expr = self.expr(0)?;
        let alias = if self.eat_keyword("AS")? { Some(self.ident()?) } else { None };
        Ok(Field { expr, alias })
    }

    fn dimension(&mut self) -> Result<Dimension, ParseError> {
        let t = self.lx.peek()?;
        match &t.kind {
            Tok::Op("*") => {
                self.lx.next()?;
                Ok(Dimension::Wildcard)
            }
            Tok::Op("/") => Ok(Dimension::Regex(self.regex()?)),
            Tok::Ident(s) if s.eq_ignore_ascii_case("time") => {
                self.lx.next()?;
                if !self.eat_op("(")? {
                    return Ok(Dimension::Tag("time".into()));
                }
                let interval = self.duration()?;
                if interval <= 0 {
                    return Err(self.error_at(&t, "time dimension must have a positive duration"));
                }
                let offset = if self.eat_op(",")? { self.signed_duration()? } else { 0 };
                self.expect_op(")")?;
                Ok(Dimension::Time { interval, offset })
            }
            Tok::Ident(_) => Ok(Dimension::Tag(self.ident()?)),
            _ => {
                let t = self.lx.next()?;
                Err(self.found(&t, "identifier, *, regex, time()"))
            }
        }
    }

    fn duration(&mut self) -> Result<i64, ParseError> {
        let t = self.lx.next()?;
        match t.kind {
            Tok::Duration(d) => Ok(d),
            _ => Err(self.found(&t, "duration")),
        }
    }

    fn signed_duration(&mut self) -> Result<i64, ParseError> {
        if self.eat_op("-")? {
            return Ok(-self.duration()?);
        }
        self.duration()
    }

    fn fill(&mut self) -> Result<Fill, ParseError> {
        if !self.at_word("fill")? {
            return Ok(Fill::Default);
        }
        self.lx.next()?;
        self.expect_op("(")?;
        let t = self.lx.next()?;
        let negative = matches!(t.kind, Tok::Op("-"));
        let t = if negative { self.lx.next()? } else { t };
        let fill = match &t.kind {
            Tok::Ident(s) if !negative && s.eq_ignore_ascii_case("null") => Fill::Null,
            Tok::Ident(s) if !negative && s.eq_ignore_ascii_case("none") => Fill::None,
            Tok::Ident(s) if !negative && s.eq_ignore_ascii_case("previous") => Fill::Previous,
            Tok::Ident(s) if !negative && s.eq_ignore_ascii_case("linear") => Fill::Linear,
            Tok::Integer(n) => Fill::Integer(if negative { -n } else { *n }),
            Tok::Number(x) => Fill::Number(if negative { -x } else { *x }),
            _ => return Err(self.found(&t, "null, none, previous, linear, number")),
        };
        self.expect_op(")")?;
        Ok(fill)
    }

    /// An expression whose operators all bind tighter than `min`.
    fn expr(&mut self, min: u8) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let t = self.lx.peek()?;
            return Err(self.error_at(&t, format!("expression nested more than {MAX_DEPTH} deep")));
        }
        let mut lhs = self.unary()?;
        loop {
            let t = self.lx.peek()?;
            let Some(op) = binop(&t.kind) else { break };
            if op.precedence() <= min {
                break;
            }
            self.lx.next()?;
            let rhs = if matches!(op, BinOp::EqRegex | BinOp::NotEqRegex) {
                Expr::Regex(self.regex()?)
            } else {
                self.expr(op.precedence())?
            };
            lhs = Expr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) };
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let t = self.lx.next()?;
        Ok(match t.kind {
            Tok::Op("*") => Expr::Wildcard,
            Tok::Op("(") => {
                let inner = self.expr(0)?;
                self.expect_op(")")?;
                Expr::Paren(Box::new(inner))
            }
            Tok::Op("-") => {
                let n = self.lx.peek()?;
                match n.kind {
                    Tok::Integer(i) => {
                        self.lx.next()?;
                        Expr::Integer(-i)
                    }
                    Tok::Number(x) => {
                        self.lx.next()?;
                        Expr::Number(-x)
                    }
                    Tok::Duration(d) => {
                        self.lx.next()?;
                        Expr::Duration(-d)
                    }
                    // `-x`: `(-1 * x)`, grouped so that it stays one
                    // operand (`a / -x` is `a / (-1 * x)`).
                    _ => {
                        let e = self.unary()?;
                        let neg = Expr::Binary { op: BinOp::Mul, lhs: Box::new(Expr::Integer(-1)), rhs: Box::new(e) };
                        Expr::Paren(Box::new(neg))
                    }
                }
            }
            // A keyword, but a function: `distinct(x)` (or `distinct x`).
            Tok::Keyword("DISTINCT") => {
                let arg = if self.eat_op("(")? {
                    let e = self.expr(0)?;
                    self.expect_op(")")?;
                    e
                } else {
                    Expr::Var { name: self.ident()?, cast: None }
                };
                Expr::Call { name: "distinct".into(), args: vec![arg] }
            }
            Tok::Integer(i) => Expr::Integer(i),
            Tok::Number(x) => Expr::Number(x),
            Tok::Duration(d) => Expr::Duration(d),
            Tok::Str(s) => Expr::Str(s),
            Tok::True => Expr::Bool(true),
            Tok::False => Expr::Bool(false),
            Tok::Ident(name) => {
                if self.eat_op("(")? {
                    let mut args = Vec::new();
                    if !self.eat_op(")")? {
                        args.push(self.expr(0)?);
                        while self.eat_op(",")? {
                            args.push(self.expr(0)?);
                        }
                        self.expect_op(")")?;
                    }
                    Expr::Call { name: name.to_ascii_lowercase(), args }
                } else if self.eat_op("::")? {
                    let c = self.lx.next()?;
                    let cast = match &c.kind {
                        Tok::Ident(s) => cast_of(s),
                        Tok::Keyword("TAG") => Some(Cast::Tag),
                        Tok::Keyword("FIELD") => Some(Cast::Field),
                        _ => None,
                    };
                    let Some(cast) = cast else {
                        return Err(self.found(&c, "float, integer, unsigned, string, boolean, field, tag"));
                    };
                    Expr::Var { name, cast: Some(cast) }
                } else {
                    Expr::Var { name, cast: None }
                }
            }
            _ => return Err(self.found(&t, "identifier, string, number, bool")),
        })
    }
}

fn cast_of(s: &str) -> Option<Cast> {
    Some(match s.to_ascii_lowercase().as_str() {
        "float" => Cast::Float,
        "integer" => Cast::Integer,
        "unsigned" => Cast::Unsigned,
        "string" => Cast::String,
        "boolean" => Cast::Boolean,
        "field" => Cast::Field,
        "tag" => Cast::Tag,
        _ => return None,
    })
}

fn binop(t: &Tok) -> Option<BinOp> {
    Some(match t {
        Tok::Op("+") => BinOp::Add,
        Tok::Op("-") => BinOp::Sub,
        Tok::Op("*") => BinOp::Mul,
        Tok::Op("/") => BinOp::Div,
        Tok::Op("%") => BinOp::Mod,
        Tok::Op("=") => BinOp::Eq,
        Tok::Op("!=" | "<>") => BinOp::NotEq,
        Tok::Op("<") => BinOp::Lt,
        Tok::Op("<=") => BinOp::LtEq,
        Tok::Op(">") => BinOp::Gt,
        Tok::Op(">=") => BinOp::GtEq,
        Tok::Op("=~") => BinOp::EqRegex,
        Tok::Op("!~") => BinOp::NotEqRegex,
        Tok::Keyword("AND") => BinOp::And,
        Tok::Keyword("OR") => BinOp::Or,
        _ => return None,
    })
}

/// [`Lexer::regex`] returns a regex token or an error.
fn unreachable_regex() -> Result<String, ParseError> {
    Err(ParseError { message: "internal: the lexer's regex was not a regex".into(), line: 1, char: 1 })
}
