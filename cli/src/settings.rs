//! Where to connect and how: `--bootstrap` / `FJORD_BOOTSTRAP` and a `--command-config`
//! properties file with Kafka's client property names.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use fjord_client::security::properties;
use fjord_client::ClientConfig;

use crate::failure::Usage;

/// Used when neither `--bootstrap`, `FJORD_BOOTSTRAP` nor `bootstrap.servers` says otherwise.
pub const DEFAULT_BOOTSTRAP: &str = "localhost:9092";

/// Client properties the CLI understands besides the security ones
/// (`fjord_client::security::properties::KNOWN`).
const KNOWN: [&str; 3] = ["bootstrap.servers", "client.id", "request.timeout.ms"];

/// The connection settings of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `host:port[,host:port]`.
    pub bootstrap: String,
    /// Timeouts and client id.
    pub client: ClientConfig,
}

/// Builds the settings: the flag (or env) wins over the file, the file over the default.
pub fn load(bootstrap: Option<&str>, command_config: Option<&Path>) -> anyhow::Result<Settings> {
    let props = match command_config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Usage(format!(
                    "cannot read --command-config {}: {e}",
                    path.display()
                ))
            })?;
            parse_properties(&text)
        }
        None => BTreeMap::new(),
    };
    from_properties(bootstrap, &props)
}

fn from_properties(
    bootstrap: Option<&str>,
    props: &BTreeMap<String, String>,
) -> anyhow::Result<Settings> {
    let mut client = ClientConfig {
        client_id: "fjord-cli".to_owned(),
        ..ClientConfig::default()
    };
    for key in props.keys() {
        if !KNOWN.contains(&key.as_str()) && !properties::KNOWN.contains(&key.as_str()) {
            eprintln!("warning: --command-config property {key} is not supported; ignored");
        }
    }
    client.security = properties::from_properties(props).map_err(Usage)?;
    if let Some(id) = props.get("client.id") {
        client.client_id = id.clone();
    }
    if let Some(ms) = props.get("request.timeout.ms") {
        let ms: u64 =
            ms.parse().ok().filter(|ms| *ms > 0).ok_or_else(|| {
                Usage(format!("request.timeout.ms={ms} is not a positive integer"))
            })?;
        client.request_timeout = Duration::from_millis(ms);
        // The broker-side timeout must expire first so it can answer REQUEST_TIMED_OUT.
        client.operation_timeout = Duration::from_millis(ms.saturating_mul(2) / 3);
    }
    let bootstrap = bootstrap
        .map(str::to_owned)
        .or_else(|| props.get("bootstrap.servers").cloned())
        .unwrap_or_else(|| DEFAULT_BOOTSTRAP.to_owned());
    Ok(Settings { bootstrap, client })
}

/// Java properties, the subset client config files use: `key=value` or `key: value` lines,
/// `#` and `!` comments, surrounding blanks trimmed, a line ending in an odd number of `\`
/// continued on the next (how multi-line `sasl.jaas.config` values are written), and Java's
/// escapes in values (`\\` is a backslash, `\t` a tab, `\uXXXX` a character, `\x` is `x`).
fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = if current.is_empty() {
            line.trim()
        } else {
            line.trim_start()
        };
        if current.is_empty() && (line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        let trailing = line.len() - line.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            current.push_str(&line[..line.len() - 1]);
            continue;
        }
        current.push_str(line);
        logical.push(std::mem::take(&mut current));
    }
    logical.push(current);
    logical
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let at = l.find(['=', ':'])?;
            Some((l[..at].trim().to_owned(), unescape(l[at + 1..].trim())))
        })
        .collect()
}

/// Java properties escapes.
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_beats_the_file_and_the_file_beats_the_default() {
        let props = parse_properties("# comment\nbootstrap.servers = a:1,b:2\nclient.id: ops\n");
        let s = from_properties(None, &props).unwrap();
        assert_eq!(
            (s.bootstrap.as_str(), s.client.client_id.as_str()),
            ("a:1,b:2", "ops")
        );
        assert_eq!(
            from_properties(Some("c:3"), &props).unwrap().bootstrap,
            "c:3"
        );
        assert_eq!(
            from_properties(None, &BTreeMap::new()).unwrap().bootstrap,
            DEFAULT_BOOTSTRAP
        );
    }

    #[test]
    fn security_settings_are_read_and_malformed_ones_are_usage_errors() {
        let ok = parse_properties(
            "security.protocol=sasl_plaintext\nsasl.mechanism=PLAIN\n\
             sasl.username=alice\nsasl.password=pw",
        );
        let s = from_properties(None, &ok).unwrap();
        assert!(s.client.security.protocol.uses_sasl());
        let bad = parse_properties("security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI");
        let err = from_properties(None, &bad).unwrap_err();
        assert!(err.is::<Usage>(), "{err}");
        assert!(err.to_string().contains("GSSAPI"), "{err}");
    }

    #[test]
    fn continued_lines_and_escapes_are_read_as_java_does() {
        let props = parse_properties(
            "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n    username=\"alice\" \\\n    password=\"a\\\\b\";\nnext=1\\\\\n",
        );
        assert_eq!(
            props["sasl.jaas.config"],
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"a\\b\";"
        );
        assert_eq!(props["next"], "1\\");
    }

    #[test]
    fn request_timeouts_must_be_positive_integers() {
        let props = parse_properties("request.timeout.ms=5000");
        let s = from_properties(None, &props).unwrap();
        assert_eq!(s.client.request_timeout, Duration::from_secs(5));
        assert!(s.client.operation_timeout < s.client.request_timeout);
        for bad in ["request.timeout.ms=0", "request.timeout.ms=soon"] {
            assert!(
                from_properties(None, &parse_properties(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
