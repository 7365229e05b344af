//! Where to connect and how: `--bootstrap` / `FJORD_BOOTSTRAP` and a `--command-config`
//! properties file with Kafka's client property names.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use fjord_client::ClientConfig;

use crate::failure::Usage;

/// Used when neither `--bootstrap`, `FJORD_BOOTSTRAP` nor `bootstrap.servers` says otherwise.
pub const DEFAULT_BOOTSTRAP: &str = "localhost:9092";

/// Client properties the CLI understands today.
const KNOWN: [&str; 4] = [
    "bootstrap.servers",
    "client.id",
    "request.timeout.ms",
    "security.protocol",
];

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
        if !KNOWN.contains(&key.as_str()) {
            eprintln!("warning: --command-config property {key} is not supported yet; ignored");
        }
    }
    if let Some(protocol) = props.get("security.protocol") {
        if !protocol.eq_ignore_ascii_case("PLAINTEXT") {
            return Err(Usage(format!(
                "security.protocol={protocol} is not supported: Fjord has no TLS or SASL yet, \
                 only PLAINTEXT"
            ))
            .into());
        }
    }
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
/// `#` and `!` comments, surrounding blanks trimmed.
fn parse_properties(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let at = l.find(['=', ':'])?;
            Some((l[..at].trim().to_owned(), l[at + 1..].trim().to_owned()))
        })
        .collect()
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
    fn only_plaintext_is_accepted() {
        let ok = parse_properties("security.protocol=plaintext");
        assert!(from_properties(None, &ok).is_ok());
        let sasl = parse_properties("security.protocol=SASL_SSL");
        let err = from_properties(None, &sasl).unwrap_err();
        assert!(err.is::<Usage>(), "{err}");
        assert!(err.to_string().contains("SASL_SSL"), "{err}");
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
