//! The KRaft part of the configuration: roles, named listeners, the quorum and the
//! broker lifecycle timeouts, under Kafka's property names.
//!
//! Listeners are `NAME://host:port` entries; `listener.security.protocol.map` maps each
//! name to a security protocol (the broker listener any of Kafka's four; the controller
//! listener PLAINTEXT only: the quorum's RPC has no TLS yet). One listener may be the controller's (`controller.listener.names`,
//! default `CONTROLLER`); of the others exactly one is served to clients and brokers.

use super::{ConfigError, Listener};

/// What this node does (`process.roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

impl Roles {
    pub const COMBINED: Roles = Roles {
        broker: true,
        controller: true,
    };

    pub fn parse(v: &str) -> Result<Roles, String> {
        if v.trim().is_empty() {
            return Ok(Roles::COMBINED);
        }
        let mut r = Roles {
            broker: false,
            controller: false,
        };
        for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match part {
                "broker" => r.broker = true,
                "controller" => r.controller = true,
                other => return Err(format!("unknown role `{other}` (broker, controller)")),
            }
        }
        if !r.broker && !r.controller {
            return Err("expected broker, controller or broker,controller".into());
        }
        Ok(r)
    }
}

/// One static voter of `controller.quorum.voters`: `id@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

impl Voter {
    pub fn addr(&self) -> String {
        host_port(&self.host, self.port)
    }
}

/// `host:port`, with brackets around an IPv6 host.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Parses `id@host:port,...`.
pub fn parse_voters(v: &str) -> Result<Vec<Voter>, String> {
    let mut out: Vec<Voter> = Vec::new();
    for entry in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, addr) = entry
            .split_once('@')
            .ok_or_else(|| format!("`{entry}` is not id@host:port"))?;
        let id: i32 = id
            .trim()
            .parse()
            .ok()
            .filter(|i| *i >= 0)
            .ok_or_else(|| format!("`{entry}`: the id must be a non-negative integer"))?;
        let (host, port) =
            split_host_port(addr).ok_or_else(|| format!("`{entry}` is not id@host:port"))?;
        if port == 0 || host.is_empty() {
            return Err(format!("`{entry}` must name a host and a non-zero port"));
        }
        if out.iter().any(|o| o.id == id) {
            return Err(format!("voter id {id} appears twice"));
        }
        out.push(Voter { id, host, port });
    }
    Ok(out)
}

/// Parses `host:port,...` (`controller.quorum.bootstrap.servers`).
pub fn parse_bootstrap_servers(v: &str) -> Result<Vec<String>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match split_host_port(s) {
            Some((h, p)) if !h.is_empty() && p != 0 => Ok(host_port(&h, p)),
            _ => Err(format!("`{s}` is not host:port")),
        })
        .collect()
}

fn split_host_port(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.trim().rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

/// One entry of `listeners` / `advertised.listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedListener {
    pub name: String,
    pub listener: Listener,
}

/// Parses `NAME://host:port,...`; names are upper-cased, as Kafka does.
pub fn parse_listeners(key: &str, value: &str) -> Result<Vec<NamedListener>, ConfigError> {
    let bad = |reason: String| ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason,
    };
    let mut out: Vec<NamedListener> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rest) = entry
            .split_once("://")
            .ok_or_else(|| bad(format!("`{entry}` is not NAME://host:port")))?;
        let (host, port) = split_host_port(rest).ok_or_else(|| {
            bad(format!(
                "`{entry}`: expected NAME://host:port with port 0..65535"
            ))
        })?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            return Err(bad(format!("`{entry}` has no listener name")));
        }
        if out.iter().any(|l| l.name == name) {
            return Err(bad(format!("listener name {name} appears twice")));
        }
        out.push(NamedListener {
            name,
            listener: Listener { host, port },
        });
    }
    if out.is_empty() {
        return Err(bad("expected NAME://host:port".into()));
    }
    Ok(out)
}

/// Parses `NAME:PROTOCOL,...`.
pub fn parse_protocol_map(v: &str) -> Result<Vec<(String, String)>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|e| match e.split_once(':') {
            Some((n, p)) if !n.trim().is_empty() && !p.trim().is_empty() => {
                Ok((n.trim().to_ascii_uppercase(), p.trim().to_ascii_uppercase()))
            }
            _ => Err(format!("`{e}` is not NAME:PROTOCOL")),
        })
        .collect()
}

/// The listeners sorted out: the one served to clients and brokers, and the controller's.
#[derive(Debug, Clone)]
pub struct ListenerSetup {
    /// The broker listener (clients and other brokers).
    pub broker: NamedListener,
    /// The controller listener (the metadata quorum's RPC), if this node has one.
    pub controller: Option<NamedListener>,
    /// The broker listener's security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).
    pub broker_protocol: String,
    /// The controller listener's security protocol (PLAINTEXT or SSL).
    pub controller_protocol: String,
}

/// Splits `listeners` into the broker and controller listener, checking each one's
/// security protocol: a controller listener speaks PLAINTEXT or SSL, a broker listener any
/// of Kafka's four protocols.
pub fn sort_listeners(
    listeners: &[NamedListener],
    protocol_map: &[(String, String)],
    controller_names: &[String],
    inter_broker_name: &str,
) -> Result<ListenerSetup, ConfigError> {
    let refuse = |reason: String| ConfigError::InvalidValue {
        key: "listeners".into(),
        value: listeners
            .iter()
            .map(|l| {
                format!(
                    "{}://{}",
                    l.name,
                    host_port(&l.listener.host, l.listener.port)
                )
            })
            .collect::<Vec<_>>()
            .join(","),
        reason,
    };
    let mut broker = Vec::new();
    let mut controller = None;
    for l in listeners {
        let is_controller = controller_names.contains(&l.name);
        let protocol = match protocol_map.iter().find(|(n, _)| *n == l.name) {
            Some((_, p)) => p.clone(),
            // Kafka treats a controller listener missing from the map as PLAINTEXT.
            None if is_controller => "PLAINTEXT".into(),
            None => {
                return Err(refuse(format!(
                    "listener {} has no security protocol in listener.security.protocol.map",
                    l.name
                )))
            }
        };
        let allowed: &[&str] = if is_controller {
            // The quorum's RPC speaks TLS (mutual: peers authenticate with certificates)
            // but not SASL.
            &["PLAINTEXT", "SSL"]
        } else {
            &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
        };
        if !allowed.contains(&protocol.as_str()) {
            return Err(refuse(format!(
                "listener {} uses {protocol}: {} listeners may use {}",
                l.name,
                if is_controller {
                    "controller"
                } else {
                    "broker"
                },
                allowed.join(", ")
            )));
        }
        if is_controller {
            controller = Some((l.clone(), protocol));
        } else {
            broker.push((l.clone(), protocol));
        }
    }
    let broker = match broker.len() {
        0 => {
            return Err(refuse(
                "no broker listener (only controller listeners)".into(),
            ))
        }
        1 => broker.remove(0),
        _ => match broker.iter().position(|(l, _)| l.name == inter_broker_name) {
            Some(_) => {
                return Err(refuse(
                    "only one broker listener is served today (plus the controller listener)"
                        .into(),
                ))
            }
            None => {
                return Err(refuse(
                    "several broker listeners, none is inter.broker.listener.name".into(),
                ))
            }
        },
    };
    let (broker, broker_protocol) = broker;
    let (controller, controller_protocol) = match controller {
        Some((c, p)) => (Some(c), p),
        None => (None, "PLAINTEXT".to_string()),
    };
    Ok(ListenerSetup {
        broker,
        controller,
        broker_protocol,
        controller_protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> Vec<(String, String)> {
        parse_protocol_map("PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT").unwrap()
    }

    #[test]
    fn voters_parse_and_reject_duplicates() {
        let v = parse_voters("1@a:9093, 2@[::1]:9094").unwrap();
        assert_eq!(v[1].addr(), "[::1]:9094");
        assert!(parse_voters("1@a:9093,1@b:9093").is_err());
        assert!(parse_voters("x@a:1").is_err());
        assert!(parse_voters("1@a:0").is_err());
    }

    #[test]
    fn roles_parse() {
        assert_eq!(Roles::parse("").unwrap(), Roles::COMBINED);
        assert_eq!(Roles::parse("controller,broker").unwrap(), Roles::COMBINED);
        assert!(!Roles::parse("broker").unwrap().controller);
        assert!(Roles::parse("zookeeper").is_err());
    }

    #[test]
    fn listeners_split_into_broker_and_controller() {
        let l = parse_listeners(
            "listeners",
            "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        )
        .unwrap();
        let s = sort_listeners(&l, &map(), &["CONTROLLER".into()], "PLAINTEXT").unwrap();
        assert_eq!(s.broker.listener.port, 9092);
        assert_eq!(s.controller.unwrap().listener.port, 9093);
    }

    #[test]
    fn secure_listeners_are_accepted_and_sasl_on_the_controller_listener_refused() {
        let l = parse_listeners("listeners", "SSL://127.0.0.1:9092").unwrap();
        let s = sort_listeners(&l, &map(), &[], "PLAINTEXT").unwrap();
        assert_eq!(s.broker_protocol, "SSL");
        let l = parse_listeners(
            "listeners",
            "SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        )
        .unwrap();
        let tls = parse_protocol_map("SSL:SSL,CONTROLLER:SSL").unwrap();
        let s = sort_listeners(&l, &tls, &["CONTROLLER".into()], "").unwrap();
        assert_eq!(s.controller_protocol, "SSL");
        let sasl = parse_protocol_map("SSL:SSL,CONTROLLER:SASL_SSL").unwrap();
        let err = sort_listeners(&l, &sasl, &["CONTROLLER".into()], "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("controller listeners may use"), "{err}");
    }
}
