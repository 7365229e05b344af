//! A reader for Java `.properties` files, the format Kafka's `server.properties` uses.

/// Parses `key=value` / `key: value` / `key value` lines, `#` and `!` comments, and
/// backslash line continuations. Errors carry the 1-based line number.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut start_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = if logical.is_empty() {
            start_line = i + 1;
            let t = raw.trim_start();
            if t.is_empty() || t.starts_with('#') || t.starts_with('!') {
                continue;
            }
            t
        } else {
            raw.trim_start()
        };
        let trailing = line.chars().rev().take_while(|c| *c == '\\').count();
        if trailing % 2 == 1 {
            logical.push_str(&line[..line.len() - 1]);
            continue;
        }
        logical.push_str(line);
        out.push(split_pair(&logical).map_err(|e| (start_line, e))?);
        logical.clear();
    }
    if !logical.is_empty() {
        out.push(split_pair(&logical).map_err(|e| (start_line, e))?);
    }
    Ok(out)
}

fn split_pair(line: &str) -> Result<(String, String), String> {
    let pos = line
        .find(['=', ':', ' ', '\t'])
        .ok_or_else(|| format!("`{line}` has no value (expected key=value)"))?;
    let key = line[..pos].trim();
    let mut rest = line[pos..].trim_start();
    if rest.starts_with('=') || rest.starts_with(':') {
        rest = rest[1..].trim_start();
    }
    if key.is_empty() {
        return Err("empty key".into());
    }
    Ok((key.to_string(), unescape(rest.trim_end())))
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kafka_style_files() {
        let text = "# comment\n! also\n\nlog.dirs=/data\nnum.partitions : 3\nlisteners PLAINTEXT://a:1\nlong=a,\\\n   b\n";
        let got = parse_properties(text).unwrap();
        assert_eq!(
            got,
            vec![
                ("log.dirs".into(), "/data".into()),
                ("num.partitions".into(), "3".into()),
                ("listeners".into(), "PLAINTEXT://a:1".into()),
                ("long".into(), "a,b".into()),
            ]
        );
    }

    #[test]
    fn a_key_without_value_names_its_line() {
        assert_eq!(parse_properties("a=1\nbroken\n").unwrap_err().0, 2);
    }
}
