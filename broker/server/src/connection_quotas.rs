//! Connections per client IP: Kafka's `max.connections.per.ip` and
//! `max.connections.per.ip.overrides`. A connection over its IP's limit is closed at accept.
//!
//! (`max.connections`, the broker-wide limit, is the listener's semaphore: over it, accept waits
//! and new clients queue in the backlog, as Kafka's acceptor does.)
//! Safe to share between threads.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

pub struct ConnectionQuotas {
    /// `max.connections.per.ip` and its overrides; dynamic broker configs replace them.
    limits: parking_lot::RwLock<(usize, BTreeMap<IpAddr, usize>)>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; uncounted on drop.
pub struct IpSlot {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
}

impl ConnectionQuotas {
    pub fn new(per_ip: usize, overrides: BTreeMap<IpAddr, usize>) -> Arc<ConnectionQuotas> {
        Arc::new(ConnectionQuotas {
            limits: parking_lot::RwLock::new((per_ip, overrides)),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Replaces the limits (a dynamic config change). Connections already open stay, as
    /// in Kafka; new ones are counted against the new limit.
    pub fn set_limits(&self, per_ip: usize, overrides: BTreeMap<IpAddr, usize>) {
        *self.limits.write() = (per_ip, overrides);
    }

    /// The limit that applies to `ip`.
    pub fn limit(&self, ip: IpAddr) -> usize {
        let limits = self.limits.read();
        limits.1.get(&canonical(ip)).copied().unwrap_or(limits.0)
    }

    /// Counts a new connection from `ip`, or `Err(limit)` when `ip` already has `limit` open.
    pub fn open(self: &Arc<Self>, ip: IpAddr) -> Result<IpSlot, usize> {
        let ip = canonical(ip);
        let limit = self.limit(ip);
        let mut open = self.open.lock();
        let n = open.entry(ip).or_insert(0);
        if *n >= limit {
            if *n == 0 {
                open.remove(&ip);
            }
            return Err(limit);
        }
        *n += 1;
        Ok(IpSlot {
            quotas: self.clone(),
            ip,
        })
    }

    /// Connections open from `ip` now.
    pub fn count(&self, ip: IpAddr) -> usize {
        self.open.lock().get(&canonical(ip)).copied().unwrap_or(0)
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.quotas.open.lock();
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// An IPv4 client on a dual-stack socket arrives as `::ffff:a.b.c.d`; count it as `a.b.c.d`
/// so an override written as an IPv4 address applies.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses `max.connections.per.ip.overrides`: `ip:count` pairs separated by commas (an IPv6
/// address may be bracketed, `[::1]:5`). Kafka also accepts host names and resolves them;
/// Fjord takes addresses only, so the limit cannot change with DNS.
pub fn parse_overrides(v: &str) -> Result<BTreeMap<IpAddr, usize>, String> {
    let mut out = BTreeMap::new();
    for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (host, count) = entry
            .rsplit_once(':')
            .ok_or_else(|| format!("`{entry}`: expected ip:count"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip: IpAddr = host
            .parse()
            .map_err(|_| format!("`{host}` is not an IP address (host names are not resolved)"))?;
        let count: i32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{entry}`: the count must be an integer"))?;
        let count = usize::try_from(count).map_err(|_| format!("`{entry}`: negative count"))?;
        if out.insert(canonical(ip), count).is_some() {
            return Err(format!("`{host}` is listed twice"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_ip_at_its_limit_is_refused_until_one_closes() {
        let q = ConnectionQuotas::new(2, BTreeMap::new());
        let a = q.open(ip("10.0.0.1")).unwrap();
        let _b = q.open(ip("10.0.0.1")).unwrap();
        assert_eq!(q.open(ip("10.0.0.1")).err(), Some(2));
        let _other = q.open(ip("10.0.0.2")).unwrap();
        drop(a);
        assert!(q.open(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn overrides_beat_the_default_and_mapped_ipv4_counts_as_ipv4() {
        let q = ConnectionQuotas::new(1, parse_overrides("127.0.0.1:3, [::1]:0").unwrap());
        let _a = q.open(ip("127.0.0.1")).unwrap();
        let _b = q.open(ip("::ffff:127.0.0.1")).unwrap();
        let _c = q.open(ip("127.0.0.1")).unwrap();
        assert_eq!(q.open(ip("127.0.0.1")).err(), Some(3));
        assert_eq!(q.open(ip("::1")).err(), Some(0));
        assert_eq!(q.count(ip("::1")), 0);
    }

    #[test]
    fn overrides_must_be_ip_and_count() {
        assert!(parse_overrides("").unwrap().is_empty());
        assert!(parse_overrides("localhost:5").is_err());
        assert!(parse_overrides("10.0.0.1").is_err());
        assert!(parse_overrides("10.0.0.1:-1").is_err());
        assert!(parse_overrides("10.0.0.1:1,10.0.0.1:2").is_err());
        assert_eq!(parse_overrides("::1:4").unwrap().get(&ip("::1")), Some(&4));
    }
}
