//! The part of a JAAS login config the broker reads: Kafka's `PlainLoginModule` with
//! `user_<name>="<password>"` options, the PLAIN users a broker accepts. The syntax is parsed
//! by `fjord_client::security::jaas`, which clients use for their own login.

use fjord_client::security::jaas;
use std::collections::BTreeMap;

/// The `user_<name>` options of the config (empty config: no users).
pub fn plain_users(config: &str) -> Result<BTreeMap<String, String>, String> {
    let Some(module) = jaas::parse(config)? else {
        return Ok(BTreeMap::new());
    };
    if !module.is_plain_or_scram() {
        return Err(format!(
            "login module {} is not built (PlainLoginModule or ScramLoginModule)",
            module.class
        ));
    }
    Ok(module
        .options
        .into_iter()
        .filter_map(|(key, value)| Some((key.strip_prefix("user_")?.to_string(), value)))
        .collect())
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
