//! [`Security`] from Kafka's client property names (a `client.properties` file, the
//! `--command-config` of Kafka's tools), plus the librdkafka spellings operators also use.
//!
//! Only PEM key material is read: JKS and PKCS12 stores are refused with a message saying
//! how to convert them. Files are read here, once, so a bad path or PEM is reported before
//! anything is sent.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::tls::{self, Identity, Trust};
use super::{jaas, SaslLogin, SaslMechanism, Security, SecurityProtocol};

/// The security properties understood.
pub const KNOWN: &[&str] = &[
    "security.protocol",
    "ssl.truststore.location",
    "ssl.truststore.type",
    "ssl.truststore.certificates",
    "ssl.keystore.location",
    "ssl.keystore.type",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.jaas.config",
    "sasl.username",
    "sasl.password",
];

/// Builds the security settings; the error says which property is wrong and why.
pub fn from_properties(props: &BTreeMap<String, String>) -> Result<Security, String> {
    let get = |k: &str| props.get(k).map(String::as_str);
    let protocol = match get("security.protocol") {
        None => SecurityProtocol::Plaintext,
        Some(v) => SecurityProtocol::parse(v).ok_or_else(|| {
            format!("security.protocol={v} is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL")
        })?,
    };
    let tls = if protocol.uses_tls() {
        Some(Arc::new(tls_config(&get)?))
    } else {
        None
    };
    let sasl = if protocol.uses_sasl() {
        Some(sasl_login(&get)?)
    } else {
        None
    };
    Ok(Security {
        protocol,
        tls,
        sasl,
    })
}

type Get<'a> = dyn Fn(&str) -> Option<&'a str> + 'a;

fn tls_config(get: &Get<'_>) -> Result<rustls::ClientConfig, String> {
    if get("ssl.key.password").is_some_and(|v| !v.is_empty()) {
        return Err(
            "ssl.key.password is set, but encrypted private keys are not supported: \
                    give an unencrypted PEM key"
                .to_owned(),
        );
    }
    let verify_hostname = match get("ssl.endpoint.identification.algorithm").map(str::trim) {
        None => true,
        Some(v) if v.eq_ignore_ascii_case("https") => true,
        Some("") => false,
        Some(v) => {
            return Err(format!(
                "ssl.endpoint.identification.algorithm={v}: only https (verify the broker's \
                 host name, the default) or empty (do not) are known"
            ))
        }
    };
    let trust = trust(get)?;
    let identity = identity(get)?;
    tls::client_config(&trust, identity.as_ref(), verify_hostname)
        .map_err(|e| format!("TLS settings: {e}"))
}

fn trust(get: &Get<'_>) -> Result<Trust, String> {
    let inline = get("ssl.truststore.certificates").filter(|v| !v.trim().is_empty());
    let file = location(get, "ssl.truststore.location", "ssl.ca.location");
    match (inline, file) {
        (Some(_), Some((key, _))) => Err(format!(
            "both ssl.truststore.certificates and {key} are set; give one"
        )),
        (Some(pem), None) => {
            store_type(get, "ssl.truststore.type", None)?;
            Ok(Trust::Pem(pem.as_bytes().to_vec()))
        }
        (None, Some((key, path))) => {
            store_type(get, "ssl.truststore.type", None)?;
            let pem = read(key, path)?;
            store_type(get, "ssl.truststore.type", Some((key, &pem)))?;
            Ok(Trust::Pem(pem))
        }
        (None, None) => {
            store_type(get, "ssl.truststore.type", None)?;
            Ok(Trust::System)
        }
    }
}

fn identity(get: &Get<'_>) -> Result<Option<Identity>, String> {
    let chain = get("ssl.keystore.certificate.chain").filter(|v| !v.trim().is_empty());
    let key = get("ssl.keystore.key").filter(|v| !v.trim().is_empty());
    let file = get("ssl.keystore.location").filter(|v| !v.trim().is_empty());
    let split = (
        get("ssl.certificate.location").filter(|v| !v.trim().is_empty()),
        get("ssl.key.location").filter(|v| !v.trim().is_empty()),
    );
    let given = [
        chain.is_some() || key.is_some(),
        file.is_some(),
        split != (None, None),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(
            "the client certificate is given more than once: use ssl.keystore.location, \
             or ssl.keystore.certificate.chain with ssl.keystore.key, or \
             ssl.certificate.location with ssl.key.location"
                .to_owned(),
        );
    }
    if let Some(path) = file {
        store_type(get, "ssl.keystore.type", None)?;
        let pem = read("ssl.keystore.location", path)?;
        store_type(
            get,
            "ssl.keystore.type",
            Some(("ssl.keystore.location", &pem)),
        )?;
        return Ok(Some(Identity {
            chain: pem.clone(),
            key: pem,
        }));
    }
    match (chain, key) {
        (Some(chain), Some(key)) => {
            store_type(get, "ssl.keystore.type", None)?;
            return Ok(Some(Identity {
                chain: chain.as_bytes().to_vec(),
                key: key.as_bytes().to_vec(),
            }));
        }
        (None, None) => {}
        _ => {
            return Err(
                "ssl.keystore.certificate.chain and ssl.keystore.key go together".to_owned(),
            )
        }
    }
    match split {
        (Some(cert), Some(key)) => Ok(Some(Identity {
            chain: read("ssl.certificate.location", cert)?,
            key: read("ssl.key.location", key)?,
        })),
        (None, None) => {
            store_type(get, "ssl.keystore.type", None)?;
            Ok(None)
        }
        _ => Err("ssl.certificate.location and ssl.key.location go together".to_owned()),
    }
}

/// Kafka's name first, then librdkafka's; `(property, path)`.
fn location<'a>(
    get: &Get<'a>,
    kafka: &'static str,
    rdkafka: &'static str,
) -> Option<(&'static str, &'a str)> {
    [kafka, rdkafka].into_iter().find_map(|k| {
        get(k)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (k, v.trim()))
    })
}

fn read(key: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {key} {path}: {e}"))
}

/// Checks `ssl.*store.type`: PEM, or unset with PEM contents. JKS and PKCS12 are refused.
fn store_type(get: &Get<'_>, key: &str, file: Option<(&str, &[u8])>) -> Result<(), String> {
    let refuse = |what: &str| {
        Err(format!(
            "{what}: JKS and PKCS12 stores are not supported, only PEM. Convert with \
             `keytool -importkeystore -deststoretype PKCS12` then `openssl pkcs12 -nodes`, \
             and set {key}=PEM"
        ))
    };
    match get(key).map(str::trim) {
        Some(t) if t.eq_ignore_ascii_case("PEM") => Ok(()),
        Some(t) if t.eq_ignore_ascii_case("JKS") || t.eq_ignore_ascii_case("PKCS12") => {
            refuse(&format!("{key}={t}"))
        }
        Some(t) => Err(format!("{key}={t} is not a known store type (PEM)")),
        // Kafka's default type is JKS; a file that is PEM is read as PEM.
        None => match file {
            Some((location, pem)) if !looks_like_pem(pem) => {
                refuse(&format!("{location} is not PEM (a JKS or PKCS12 file?)"))
            }
            _ => Ok(()),
        },
    }
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

fn sasl_login(get: &Get<'_>) -> Result<SaslLogin, String> {
    let name = get("sasl.mechanism")
        .or_else(|| get("sasl.mechanisms"))
        .map(str::trim)
        .ok_or(
            "sasl.mechanism is not set (Kafka's default, GSSAPI, is not supported): set PLAIN, \
             SCRAM-SHA-256 or SCRAM-SHA-512",
        )?;
    let mechanism = SaslMechanism::parse(name).ok_or_else(|| {
        format!("sasl.mechanism={name} is not supported: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
    })?;
    let jaas_config = get("sasl.jaas.config").filter(|v| !v.trim().is_empty());
    let direct = (get("sasl.username"), get("sasl.password"));
    let (username, password) = match (jaas_config, direct) {
        (Some(_), (Some(_), _) | (_, Some(_))) => {
            return Err(
                "both sasl.jaas.config and sasl.username/sasl.password are set; give one"
                    .to_owned(),
            )
        }
        (Some(config), _) => from_jaas(config)?,
        (None, (Some(u), Some(p))) => (u.to_owned(), p.to_owned()),
        (None, _) => {
            return Err(format!(
                "{} needs credentials: sasl.jaas.config (e.g. \
                 org.apache.kafka.common.security.scram.ScramLoginModule required \
                 username=\"alice\" password=\"...\";) or sasl.username with sasl.password",
                mechanism.name()
            ))
        }
    };
    Ok(SaslLogin {
        mechanism,
        username,
        password,
    })
}

fn from_jaas(config: &str) -> Result<(String, String), String> {
    let module = jaas::parse(config)
        .map_err(|e| format!("sasl.jaas.config: {e}"))?
        .ok_or("sasl.jaas.config is empty")?;
    if !module.is_plain_or_scram() {
        return Err(format!(
            "sasl.jaas.config: login module {} is not supported (PlainLoginModule or \
             ScramLoginModule)",
            module.class
        ));
    }
    let field = |k: &str| {
        module
            .option(k)
            .map(str::to_owned)
            .ok_or_else(|| format!("sasl.jaas.config has no {k}=\"...\" option"))
    };
    Ok((field("username")?, field("password")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn sasl_credentials_come_from_jaas_or_librdkafka_names() {
        let s = from_properties(&props(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="pw";"#,
            ),
        ]))
        .unwrap();
        assert_eq!(s.protocol, SecurityProtocol::SaslPlaintext);
        let login = s.sasl.unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("alice", "pw")
        );
        assert_eq!(login.mechanism.name(), "SCRAM-SHA-512");
        assert!(!format!("{login:?}").contains("pw\""));
        let s = from_properties(&props(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", "PLAIN"),
            ("sasl.username", "bob"),
            ("sasl.password", "x"),
        ]))
        .unwrap();
        assert_eq!(s.sasl.unwrap().mechanism, SaslMechanism::Plain);
    }

    #[test]
    fn malformed_security_settings_are_refused_with_the_property_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("security.protocol", "TLS")], "security.protocol"),
            (&[("security.protocol", "SASL_PLAINTEXT")], "sasl.mechanism"),
            (
                &[
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "GSSAPI"),
                ],
                "GSSAPI",
            ),
            (
                &[
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "PLAIN"),
                ],
                "credentials",
            ),
            (
                &[
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "PLAIN"),
                    ("sasl.jaas.config", "x.Krb5LoginModule required;"),
                ],
                "Krb5LoginModule",
            ),
            (
                &[
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "PLAIN"),
                    (
                        "sasl.jaas.config",
                        "x.PlainLoginModule required username=\"a\";",
                    ),
                ],
                "password",
            ),
            (
                &[("security.protocol", "SSL"), ("ssl.truststore.type", "JKS")],
                "JKS",
            ),
            (
                &[("security.protocol", "SSL"), ("ssl.key.password", "secret")],
                "encrypted",
            ),
            (
                &[
                    ("security.protocol", "SSL"),
                    ("ssl.endpoint.identification.algorithm", "dns"),
                ],
                "ssl.endpoint.identification.algorithm",
            ),
            (
                &[
                    ("security.protocol", "SSL"),
                    ("ssl.truststore.location", "/nonexistent/ca.pem"),
                ],
                "cannot read ssl.truststore.location",
            ),
            (
                &[
                    ("security.protocol", "SSL"),
                    ("ssl.truststore.certificates", "not a pem"),
                ],
                "trust store",
            ),
            (
                &[
                    ("security.protocol", "SSL"),
                    ("ssl.keystore.key", "-----BEGIN PRIVATE KEY-----"),
                ],
                "go together",
            ),
        ];
        for (pairs, needle) in cases {
            let err = from_properties(&props(pairs)).unwrap_err();
            assert!(err.contains(needle), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn a_binary_store_without_a_type_is_refused_as_jks_or_pkcs12() {
        let dir = std::env::temp_dir().join(format!("fjord-client-jks-{}", std::process::id()));
        std::fs::write(&dir, [0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]).unwrap();
        let err = from_properties(&props(&[
            ("security.protocol", "SSL"),
            ("ssl.truststore.location", dir.to_str().unwrap()),
        ]))
        .unwrap_err();
        let _ = std::fs::remove_file(&dir);
        assert!(err.contains("JKS and PKCS12"), "{err}");
    }
}
