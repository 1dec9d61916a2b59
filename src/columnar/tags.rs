//! Series keys as tag columns. Rows store a series as its key, `,k=v` per
//! tag, keys sorted bytewise (unescaped), names escaped as canonical line
//! protocol. A sealed file stores each series' tags once, as one column per
//! tag key over the file's series; a key is rebuilt by joining the columns
//! in key order, which gives the stored bytes back exactly (the writer
//! checks that it does for every series before it writes a byte).

/// The tags of an escaped series key, as (escaped key, escaped value);
/// `None` if it is not one (it does not start with `,`, or a tag has no
/// `=`). A backslash always escapes the byte after it: canonical escaping
/// writes `\\` for a backslash, except before a tab or newline, which are
/// no separators either way.
pub fn split(series: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut out = Vec::new();
    if series.is_empty() {
        return Some(out);
    }
    if series[0] != b',' {
        return None;
    }
    let mut i = 1;
    loop {
        let start = i;
        let mut eq = None;
        while i < series.len() {
            match series[i] {
                b'\\' => i += 1,
                b'=' if eq.is_none() => eq = Some(i),
                b',' => break,
                _ => {}
            }
            i += 1;
        }
        let end = i.min(series.len());
        let eq = eq?;
        out.push((&series[start..eq], &series[eq + 1..end]));
        if i >= series.len() {
            return Some(out);
        }
        i += 1;
    }
}

/// A name without its escapes: what [`crate::line_protocol::write_escaped_name`]
/// was given (a backslash before `\`, `,`, `=` or space goes; any other
/// backslash stays).
pub fn unescape(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        if name[i] == b'\\' && matches!(name.get(i + 1), Some(b'\\' | b',' | b'=' | b' ')) {
            i += 1;
        }
        out.push(name[i]);
        i += 1;
    }
    out
}

/// Appends `,key=value` for a rebuilt series key.
pub fn join_into(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.push(b',');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line_protocol::{parse, Batch, Precision};
    use crate::rows::{Block, BlockEncoder};

    /// The series key rows store for `line`.
    fn stored_series(line: &str) -> Vec<u8> {
        let mut batch = Batch::new();
        parse(line.as_bytes(), Precision::Nanosecond, 0, &mut batch).unwrap_or_else(|e| panic!("{line}: {e:?}"));
        let mut enc = BlockEncoder::new();
        for l in batch.iter() {
            enc.row(l);
        }
        let mut body = Vec::new();
        enc.finish(&mut body);
        let block = Block::decode(&body).unwrap();
        let row = block.rows().next().unwrap().unwrap();
        row.series.to_vec()
    }

    #[test]
    fn stored_keys_split_and_join_back_exactly() {
        for line in [
            "m f=1i 1",
            "m,a=1 f=1i 1",
            "m,b=2,a=1 f=1i 1",
            r"m,a\ b=c\,d\=e,z=\\ f=1i 1",
            "m,a=x\\\tb f=1i 1",
            r"m,k=v\\ f=1i 1",
            r"m,a\=b=c=d f=1i 1",
            r"m,a\ b=1,a[=2 f=1 1",
        ] {
            let key = stored_series(line);
            let tags = split(&key).unwrap_or_else(|| panic!("{line}: {key:?}"));
            let mut back = Vec::new();
            for (k, v) in &tags {
                join_into(&mut back, k, v);
            }
            assert_eq!(back, key, "{line}");
            // Keys come in unescaped order.
            let un: Vec<Vec<u8>> = tags.iter().map(|(k, _)| unescape(k)).collect();
            assert!(un.windows(2).all(|w| w[0] < w[1]), "{line}: {un:?}");
        }
    }

    #[test]
    fn not_a_series_key() {
        assert!(split(b"a=1").is_none());
        assert!(split(b",a").is_none());
        assert!(split(b",a=1,b").is_none());
        assert_eq!(split(b",a\\").map(|v| v.len()), None);
        assert_eq!(unescape(br"a\ b\,c\=d\\e\x"), br"a b,c=d\e\x".to_vec());
    }
}
