//! InfluxQL text to tokens, as `influxd`'s scanner cuts it: keywords are
//! case-insensitive and cannot be bare identifiers; identifiers are bare
//! (`[A-Za-z_][A-Za-z0-9_]*`) or double-quoted; strings single-quoted;
//! numbers are integers or decimals; an integer followed by a unit
//! (`ns u µ ms s m h d w`, several in a row as in `1h30m`) is a duration;
//! `--` starts a comment to the end of the line, `/* */` a block comment.
//!
//! A `/` is a division or the start of a regular expression: only the
//! parser knows which (after `=~`, `!~`), so it asks for a regex with
//! [`Lexer::regex`].

use super::error::ParseError;

/// A token and where it starts (a byte offset into the text).
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub kind: Tok,
    pub pos: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Eof,
    /// A bare or double-quoted identifier (unquoted, escapes resolved).
    Ident(String),
    /// A keyword, upper-cased.
    Keyword(&'static str),
    Str(String),
    Integer(i64),
    /// A decimal number, or an integer too large for `i64`.
    Number(f64),
    /// Nanoseconds.
    Duration(i64),
    Regex(String),
    True,
    False,
    /// Punctuation and operators, as written: `+ - * / % = != <> < <= > >=
    /// =~ !~ ( ) , ; . ::`.
    Op(&'static str),
}

impl Tok {
    /// How `influxd` names the token in "found X" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Eof => "EOF".into(),
            Tok::Ident(s) => s.clone(),
            Tok::Keyword(k) => (*k).into(),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Integer(i) => i.to_string(),
            Tok::Number(x) => x.to_string(),
            Tok::Duration(d) => format!("{d}ns"),
            Tok::Regex(r) => format!("/{r}/"),
            Tok::True => "TRUE".into(),
            Tok::False => "FALSE".into(),
            Tok::Op(o) => (*o).into(),
        }
    }
}

/// InfluxQL's reserved words (`influxql/token.go`): never bare identifiers.
pub const KEYWORDS: &[&str] = &[
    "ALL", "ALTER", "ANALYZE", "AND", "ANY", "AS", "ASC", "BEGIN", "BY", "CARDINALITY", "CREATE", "CONTINUOUS",
    "DATABASE", "DATABASES", "DEFAULT", "DELETE", "DESC", "DESTINATIONS", "DIAGNOSTICS", "DISTINCT", "DROP",
    "DURATION", "END", "EVERY", "EXACT", "EXPLAIN", "FIELD", "FOR", "FROM", "GRANT", "GRANTS", "GROUP", "GROUPS", "IN",
    "INF", "INSERT", "INTO", "KEY", "KEYS", "KILL", "LIMIT", "MEASUREMENT", "MEASUREMENTS", "NAME", "OFFSET", "ON",
    "OR", "ORDER", "PASSWORD", "POLICY", "POLICIES", "PRIVILEGES", "QUERIES", "QUERY", "READ", "REPLICATION",
    "RESAMPLE", "RETENTION", "REVOKE", "SELECT", "SERIES", "SET", "SHARD", "SHARDS", "SHOW", "SLIMIT", "SOFFSET", "STATS",
    "SUBSCRIPTION", "SUBSCRIPTIONS", "TAG", "TO", "USER", "USERS", "VALUES", "WHERE", "WITH", "WRITE",
];

fn keyword(word: &str) -> Option<&'static str> {
    KEYWORDS.iter().find(|k| k.eq_ignore_ascii_case(word)).copied()
}

/// Nanoseconds per duration unit, longest spellings first.
const UNITS: &[(&str, i64)] = &[
    ("ns", 1),
    ("ms", 1_000_000),
    ("µ", 1_000),
    ("u", 1_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

/// The scanner over one query text.
pub struct Lexer<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Lexer<'t> {
    pub fn new(text: &'t str) -> Lexer<'t> {
        Lexer { text, pos: 0 }
    }

    pub fn text(&self) -> &'t str {
        self.text
    }

    fn rest(&self) -> &'t str {
        self.text.get(self.pos..).unwrap_or("")
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_blanks(&mut self) -> Result<(), ParseError> {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("--") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if let Some(body) = trimmed.strip_prefix("/*") {
                match body.find("*/") {
                    Some(end) => self.pos += end + 4,
                    None => return Err(ParseError::at(self.text, self.pos, "unterminated block comment")),
                }
            } else {
                return Ok(());
            }
        }
    }

    /// The next token.
    pub fn next(&mut self) -> Result<Token, ParseError> {
        self.skip_blanks()?;
        let pos = self.pos;
        let Some(c) = self.peek_char() else { return Ok(Token { kind: Tok::Eof, pos }) };
        let kind = match c {
            'a'..='z' | 'A'..='Z' | '_' => self.word(),
            '"' => Tok::Ident(self.quoted('"')?),
            '\'' => Tok::Str(self.quoted('\'')?),
            '0'..='9' => self.number()?,
            '.' if self.rest()[1..].starts_with(|c: char| c.is_ascii_digit()) => self.number()?,
            _ => self.op()?,
        };
        Ok(Token { kind, pos })
    }

    /// The token after the next, without moving.
    pub fn peek(&mut self) -> Result<Token, ParseError> {
        let at = self.pos;
        let t = self.next();
        self.pos = at;
        t
    }

    fn word(&mut self) -> Tok {
        let rest = self.rest();
        let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let word = &rest[..len];
        self.pos += len;
        if word.eq_ignore_ascii_case("true") {
            return Tok::True;
        }
        if word.eq_ignore_ascii_case("false") {
            return Tok::False;
        }
        match keyword(word) {
            Some(k) => Tok::Keyword(k),
            None => Tok::Ident(word.to_owned()),
        }
    }

    /// A quoted identifier or string: `\` escapes the quote and itself
    /// (and, as influxd, `\n` is a newline); anything else after `\` is
    /// an error. A newline inside is an error.
    fn quoted(&mut self, quote: char) -> Result<String, ParseError> {
        let start = self.pos;
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => {
                    self.pos += i + c.len_utf8();
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, '\\')) => out.push('\\'),
                    Some((_, c)) if c == quote => out.push(c),
                    Some((j, c)) => {
                        let what = if quote == '"' { "identifier" } else { "string" };
                        return Err(ParseError::at(self.text, start + j, format!("bad escape \\{c} in {what}")));
                    }
                    None => break,
                },
                '\n' => break,
                c => out.push(c),
            }
        }
        let what = if quote == '"' { "identifier" } else { "string" };
        Err(ParseError::at(self.text, start, format!("unterminated {what}")))
    }

    /// An integer, a decimal, or a duration (an integer with units).
    fn number(&mut self) -> Result<Tok, ParseError> {
        let start = self.pos;
        let rest = self.rest();
        let int_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let after = &rest[int_len..];
        let decimal = after.starts_with('.') && after[1..].starts_with(|c: char| c.is_ascii_digit());
        if decimal || (int_len == 0 && after.starts_with('.')) {
            let frac = after[1..].find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len() - 1);
            let len = int_len + 1 + frac;
            self.pos += len;
            let text = &rest[..len];
            return match text.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Tok::Number(x)),
                _ => Err(ParseError::at(self.text, start, format!("unable to parse number {text}"))),
            };
        }
        let digits = &rest[..int_len];
        self.pos += int_len;
        if self.rest().starts_with(|c: char| c.is_alphabetic()) {
            return self.duration(start, digits);
        }
        match digits.parse::<i64>() {
            Ok(i) => Ok(Tok::Integer(i)),
            // As influxd: an integer too large for 64 bits is a number,
            // and one too large for a double is an error.
            Err(_) => match digits.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Tok::Number(x)),
                _ => Err(ParseError::at(self.text, start, format!("unable to parse number {digits}"))),
            },
        }
    }

    /// A duration: `digits unit (digits unit)*`.
    fn duration(&mut self, start: usize, first: &str) -> Result<Tok, ParseError> {
        let bad = |l: &Lexer<'_>| {
            let end = l.rest().find(|c: char| !c.is_alphanumeric()).map_or(l.text.len(), |n| l.pos + n);
            ParseError::at(l.text, start, format!("invalid duration {}", &l.text[start..end]))
        };
        let mut total: i64 = 0;
        let mut digits = first;
        loop {
            let rest = self.rest();
            let Some(&(unit, ns)) = UNITS.iter().find(|(u, _)| rest.starts_with(u)) else { return Err(bad(self)) };
            // A unit is followed by a digit (the next part) or a non-letter.
            let after = &rest[unit.len()..];
            if after.starts_with(|c: char| c.is_alphabetic() || c == '_') {
                return Err(bad(self));
            }
            let n: i64 = digits.parse().map_err(|_| bad(self))?;
            total = n.checked_mul(ns).and_then(|v| total.checked_add(v)).ok_or_else(|| bad(self))?;
            self.pos += unit.len();
            let rest = self.rest();
            let len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if len == 0 {
                return Ok(Tok::Duration(total));
            }
            digits = &rest[..len];
            self.pos += len;
        }
    }

    fn op(&mut self) -> Result<Tok, ParseError> {
        const OPS: &[&str] = &[
            "!=", "<>", "<=", ">=", "=~", "!~", "::", "+", "-", "*", "/", "%", "=", "<", ">", "(", ")", ",", ";", ".",
        ];
        let rest = self.rest();
        match OPS.iter().find(|o| rest.starts_with(**o)) {
            Some(o) => {
                self.pos += o.len();
                Ok(Tok::Op(o))
            }
            None => {
                let c = rest.chars().next().unwrap_or(' ');
                Err(ParseError::at(self.text, self.pos, format!("found {c}, expected an identifier, a value or an operator")))
            }
        }
    }

    /// A regular expression `/.../` starting at the next token (`\/` is a
    /// slash inside it; other escapes are the regex's own).
    pub fn regex(&mut self) -> Result<Token, ParseError> {
        self.skip_blanks()?;
        let pos = self.pos;
        if !self.rest().starts_with('/') {
            let found = self.peek()?;
            return Err(ParseError::found(self.text, &found, "regex"));
        }
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                '/' => {
                    self.pos += i + 1;
                    return Ok(Token { kind: Tok::Regex(out), pos });
                }
                '\\' => match chars.next() {
                    Some((_, '/')) => out.push('/'),
                    Some((_, c)) => {
                        out.push('\\');
                        out.push(c);
                    }
                    None => break,
                },
                '\n' => break,
                c => out.push(c),
            }
        }
        Err(ParseError::at(self.text, pos, "unterminated regex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Tok> {
        let mut l = Lexer::new(text);
        let mut out = Vec::new();
        loop {
            let t = l.next().unwrap();
            if t.kind == Tok::Eof {
                return out;
            }
            out.push(t.kind);
        }
    }

    #[test]
    fn words_keywords_and_quotes() {
        assert_eq!(
            all(r#"select "my \"m\"" From cpu_1 where host='a\'b'"#),
            [
                Tok::Keyword("SELECT"),
                Tok::Ident("my \"m\"".into()),
                Tok::Keyword("FROM"),
                Tok::Ident("cpu_1".into()),
                Tok::Keyword("WHERE"),
                Tok::Ident("host".into()),
                Tok::Op("="),
                Tok::Str("a'b".into()),
            ]
        );
        assert_eq!(all("TRUE false time"), [Tok::True, Tok::False, Tok::Ident("time".into())]);
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(all("1 1.5 .5 10m 1h30m 5µ 3ms 7ns 2w"), [
            Tok::Integer(1),
            Tok::Number(1.5),
            Tok::Number(0.5),
            Tok::Duration(600_000_000_000),
            Tok::Duration(5_400_000_000_000),
            Tok::Duration(5_000),
            Tok::Duration(3_000_000),
            Tok::Duration(7),
            Tok::Duration(1_209_600_000_000_000),
        ]);
        assert_eq!(all("99999999999999999999"), [Tok::Number(1e20)]);
        assert!(Lexer::new("10x").next().is_err());
        assert!(Lexer::new("10mx").next().is_err());
        assert!(Lexer::new("99999999999w").next().is_err());
    }

    #[test]
    fn operators_and_comments() {
        assert_eq!(all("a!=b<>c<=d>=e=~f!~g::h -- note\n/* x */ (1,2);"), [
            Tok::Ident("a".into()),
            Tok::Op("!="),
            Tok::Ident("b".into()),
            Tok::Op("<>"),
            Tok::Ident("c".into()),
            Tok::Op("<="),
            Tok::Ident("d".into()),
            Tok::Op(">="),
            Tok::Ident("e".into()),
            Tok::Op("=~"),
            Tok::Ident("f".into()),
            Tok::Op("!~"),
            Tok::Ident("g".into()),
            Tok::Op("::"),
            Tok::Ident("h".into()),
            Tok::Op("("),
            Tok::Integer(1),
            Tok::Op(","),
            Tok::Integer(2),
            Tok::Op(")"),
            Tok::Op(";"),
        ]);
    }

    #[test]
    fn regexes_are_read_on_request() {
        let mut l = Lexer::new(r" /a\/b\d+/ x");
        assert_eq!(l.regex().unwrap().kind, Tok::Regex(r"a/b\d+".into()));
        assert_eq!(l.next().unwrap().kind, Tok::Ident("x".into()));
        assert!(Lexer::new("/abc").regex().is_err());
    }

    #[test]
    fn bad_text_is_an_error_with_a_place() {
        for bad in ["'abc", "\"abc", "a # b", "'a\\qb'", "/* open"] {
            let mut l = Lexer::new(bad);
            let r = (0..5).try_for_each(|_| l.next().map(|_| ()));
            let e = r.expect_err(bad);
            assert!(e.to_string().contains("line 1, char"), "{bad}: {e}");
        }
    }
}
