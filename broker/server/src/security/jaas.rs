//! The part of a JAAS login config the broker reads: Kafka's `PlainLoginModule` with
//! `user_<name>="<password>"` options, the PLAIN users a broker accepts.

use std::collections::BTreeMap;

/// The `user_<name>` options of the config (empty config: no users).
pub fn plain_users(config: &str) -> Result<BTreeMap<String, String>, String> {
    let mut users = BTreeMap::new();
    let text = config.trim();
    if text.is_empty() {
        return Ok(users);
    }
    // `<LoginModule class> <flag> key="value" ... ;`
    let mut words = text.splitn(3, char::is_whitespace);
    let module = words.next().unwrap_or_default();
    if !module.ends_with("PlainLoginModule") && !module.ends_with("ScramLoginModule") {
        return Err(format!(
            "login module {module} is not built (PlainLoginModule or ScramLoginModule)"
        ));
    }
    let rest = words.nth(1).unwrap_or_default();
    for (key, value) in options(rest)? {
        if let Some(name) = key.strip_prefix("user_") {
            users.insert(name.to_string(), value);
        }
    }
    Ok(users)
}

/// `key="value"` pairs up to the closing `;` (values may be quoted, with `\"` escapes).
fn options(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some(';') => return Ok(out),
            _ => {}
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("option `{key}` has no value"));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("option `{key}`: unterminated quote")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
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
    fn plain_login_module_users_are_read() {
        let users = plain_users(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="a\"b";"#,
        )
        .unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users["admin"], "admin-secret");
        assert_eq!(users["alice"], "a\"b");
    }

    #[test]
    fn other_login_modules_and_broken_quotes_are_refused() {
        assert!(plain_users("com.sun.security.auth.module.Krb5LoginModule required;").is_err());
        assert!(plain_users(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required user_a="x;"#
        )
        .is_err());
    }
}
