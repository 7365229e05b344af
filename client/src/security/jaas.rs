//! Kafka's JAAS login config syntax, as `sasl.jaas.config` holds it:
//! `<LoginModule class> <flag> key="value" ... ;`. The broker reads the PLAIN users from it,
//! this client the `username` and `password` a client logs in with.

/// One login module entry: its class, control flag and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginModule {
    /// The class name, e.g. `org.apache.kafka.common.security.plain.PlainLoginModule`.
    pub class: String,
    /// `required`, `requisite`, `sufficient` or `optional`.
    pub flag: String,
    /// The `key=value` options in order; values unquoted.
    pub options: Options,
}

impl LoginModule {
    /// The value of option `key`, if given.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the class is Kafka's PLAIN or SCRAM login module (the ones built here).
    pub fn is_plain_or_scram(&self) -> bool {
        self.class.ends_with("PlainLoginModule") || self.class.ends_with("ScramLoginModule")
    }
}

/// Parses one login module entry; `Ok(None)` for an empty config.
pub fn parse(config: &str) -> Result<Option<LoginModule>, String> {
    let text = config.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (class, after) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let after = after.trim_start();
    let flag_end = after
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(after.len());
    let (flag, rest) = after.split_at(flag_end);
    if !["required", "requisite", "sufficient", "optional"].contains(&flag) {
        return Err(format!(
            "after the login module class comes a control flag (required, requisite, \
             sufficient or optional), not `{flag}`"
        ));
    }
    let (options, tail) = options(rest)?;
    if !tail.starts_with(';') {
        return Err("the login module entry does not end with `;`".to_owned());
    }
    if !tail[1..].trim().is_empty() {
        return Err("only one login module entry is supported".to_owned());
    }
    Ok(Some(LoginModule {
        class: class.to_owned(),
        flag: flag.to_owned(),
        options,
    }))
}

/// `key=value` pairs in order.
type Options = Vec<(String, String)>;

/// `key=value` pairs (values may be quoted, with `\` escapes) up to the closing `;`; returns
/// them and the rest of the text from that `;` on (empty when there is none).
fn options(text: &str) -> Result<(Options, &str), String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None => return Ok((out, "")),
            Some(&(at, ';')) => return Ok((out, &text[at..])),
            _ => {}
        }
        let mut key = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '=' || c == ';' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next().map(|(_, c)| c) != Some('=') {
            return Err(format!("option `{key}` has no value"));
        }
        let mut value = String::new();
        if chars.peek().map(|(_, c)| *c) == Some('"') {
            chars.next();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('\\') => value.extend(chars.next().map(|(_, c)| c)),
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("option `{key}`: unterminated quote")),
                }
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() || c == ';' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_client_entries_parse_with_quotes_and_escapes() {
        let m = parse(
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="a\"b;c" ;"#,
        )
        .unwrap()
        .unwrap();
        assert!(m.class.ends_with("ScramLoginModule") && m.is_plain_or_scram());
        assert_eq!(m.flag, "required");
        assert_eq!(m.option("username"), Some("alice"));
        assert_eq!(m.option("password"), Some("a\"b;c"));
        let bare = parse("x.PlainLoginModule optional username=bob password=pw;")
            .unwrap()
            .unwrap();
        assert_eq!(bare.option("password"), Some("pw"));
        assert_eq!(parse("  ").unwrap(), None);
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            r#"x.PlainLoginModule username="a";"#,
            r#"x.PlainLoginModule required username="a""#,
            r#"x.PlainLoginModule required username="a;"#,
            r#"x.PlainLoginModule required username;"#,
            r#"x.PlainLoginModule required a="1"; y.Other required;"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
