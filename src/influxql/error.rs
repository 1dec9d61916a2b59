//! Parse errors as `influxd` words them: what was found, what was
//! expected, and where (`at line L, char C`, both counted from 1, chars
//! not bytes). The caller puts `error parsing query: ` in front.

use std::fmt;

use super::lexer::Token;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    /// 1-based line and character of the place.
    pub line: usize,
    pub char: usize,
}

impl ParseError {
    /// `message` about the byte offset `pos` of `text`.
    pub fn at(text: &str, pos: usize, message: impl Into<String>) -> ParseError {
        let before = text.get(..pos.min(text.len())).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let char = before[line_start..].chars().count() + 1;
        ParseError { message: message.into(), line, char }
    }

    /// `found X, expected <expected>` at the token.
    pub fn found(text: &str, found: &Token, expected: &str) -> ParseError {
        ParseError::at(text, found.pos, format!("found {}, expected {expected}", found.kind.describe()))
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at line {}, char {}", self.message, self.line, self.char)
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_count_lines_and_characters_from_one() {
        let e = ParseError::at("ab\ncdé f", 8, "x");
        assert_eq!((e.line, e.char), (2, 5));
        assert_eq!(e.to_string(), "x at line 2, char 5");
        assert_eq!(ParseError::at("abc", 0, "y").to_string(), "y at line 1, char 1");
    }
}
