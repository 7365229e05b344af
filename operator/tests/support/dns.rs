//! The test kubelet's cluster DNS: Kubernetes names (`<pod>.<subdomain>.<ns>.svc`,
//! `<service>.<ns>.svc`) to the loopback addresses the kubelet gives its pods.
//!
//! Broker processes resolve these names for real, through the C library: the kubelet starts
//! each one in its own mount namespace (`unshare --mount`, which needs root or unprivileged
//! user namespaces) with this table's hosts file bind-mounted on `/etc/hosts`. The file is
//! rewritten in place (same inode), so a running broker sees names added later, as it would
//! see a DNS update. The test process itself cannot switch its `/etc/hosts` (a mount namespace
//! belongs to one thread, and tokio resolves on many), so in-process code (the operator, the
//! test's admin client) asks [`Dns::resolve`] — the same table.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Name -> address, and the hosts file that mirrors it.
pub struct Dns {
    hosts: PathBuf,
    names: Mutex<BTreeMap<String, Ipv4Addr>>,
}

impl Dns {
    /// A table whose hosts file is `hosts` (created now, empty but for localhost).
    pub fn new(hosts: PathBuf) -> Dns {
        let dns = Dns {
            hosts,
            names: Mutex::default(),
        };
        dns.write(&BTreeMap::new());
        dns
    }

    /// The hosts file to bind-mount on `/etc/hosts`.
    pub fn hosts_file(&self) -> &Path {
        &self.hosts
    }

    /// Points `name` (and its `.cluster.local` form) at `ip`.
    pub fn set(&self, name: &str, ip: Ipv4Addr) {
        let mut names = self.names.lock().unwrap();
        let name = name.trim_end_matches(".cluster.local").to_string();
        if names.get(&name) == Some(&ip) {
            return;
        }
        names.insert(name, ip);
        self.write(&names);
    }

    /// The address of `name`, if the table has it.
    pub fn lookup(&self, name: &str) -> Option<Ipv4Addr> {
        let name = name.trim_end_matches(".cluster.local");
        self.names.lock().unwrap().get(name).copied()
    }

    /// `host:port` with the host resolved through the table; an unknown host is left as
    /// it is (connecting to it then fails, as with a name DNS does not know).
    pub fn resolve(&self, host_port: &str) -> String {
        match host_port.rsplit_once(':') {
            Some((host, port)) => match self.lookup(host) {
                Some(ip) => format!("{ip}:{port}"),
                None => host_port.to_string(),
            },
            None => host_port.to_string(),
        }
    }

    fn write(&self, names: &BTreeMap<String, Ipv4Addr>) {
        let mut text = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for (name, ip) in names {
            text.push_str(&format!("{ip} {name} {name}.cluster.local\n"));
        }
        // Truncate and write in place: a bind mount follows the inode, not the path.
        std::fs::write(&self.hosts, text).expect("write the kubelet's hosts file");
    }
}
