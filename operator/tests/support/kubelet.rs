//! A test kubelet (and the slice of the StatefulSet controller it needs) over the fake API
//! server, so the operator drives real `fjord-broker` processes (DESIGN §4).
//!
//! - StatefulSet controller: pods beyond `replicas` are deleted, the highest ordinal first;
//!   each StatefulSet gets a revision (a hash of its pod template) as
//!   `updateRevision`; a missing pod `<sts>-<n>` is created from the current template with that
//!   revision as `controller-revision-hash`, its ordinal label, and a PVC volume per claim
//!   template. Existing pods are never updated (`OnDelete`).
//! - Kubelet: each pod runs as a process: the container's command (`fjord-broker` is the built
//!   binary) and args, env resolved from the pod spec (values with `$(VAR)` expansion, fieldRefs
//!   of name, namespace, labels and annotations), ConfigMap volumes written as files, one
//!   directory per PVC that outlives its pods. There is no mount namespace, so a mount path is
//!   translated to its host directory wherever it appears (args, env, mounted files). Readiness
//!   is the pod's HTTP readiness probe; a deleted pod gets SIGTERM, then SIGKILL after its grace
//!   period.
//!
//! Networking without network namespaces: each pod gets its own loopback address
//! (127.x.y.n, `status.podIP`), and the wildcard address 0.0.0.0 in its files, args and env
//! means that address, so every broker can bind the same container ports. The pods' and
//! Services' names resolve to these addresses through the kubelet's [`Dns`]: for real inside
//! the broker processes (a hosts file mounted on their `/etc/hosts`), through
//! [`Kubelet::resolve`] in the test process. A StatefulSet pod gets `hostname`/`subdomain`
//! (its headless-service name); a ClusterIP Service's name is the first Ready pod it selects.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

use super::dns::Dns;
use super::fake_apiserver::FakeApiServer;

const PODS: &str = "/api/v1/pods";
const STATEFULSETS: &str = "/apis/apps/v1/statefulsets";
const CONFIGMAPS: &str = "/api/v1/configmaps";
const SERVICES: &str = "/api/v1/services";

struct Running {
    uid: String,
    child: Child,
    ip: Ipv4Addr,
    readiness: Option<(String, u16)>,
    grace: Duration,
    log: PathBuf,
}

/// The running kubelet; dropping it kills every process it started.
pub struct Kubelet {
    task: tokio::task::JoinHandle<()>,
    procs: Arc<Mutex<BTreeMap<String, Running>>>,
    dns: Arc<Dns>,
    _root: tempfile::TempDir,
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
        for r in self.procs.lock().unwrap().values_mut() {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

impl Kubelet {
    /// Everything pod `name` wrote so far (for failure messages).
    pub fn log(&self, name: &str) -> String {
        let procs = self.procs.lock().unwrap();
        procs
            .get(name)
            .and_then(|r| std::fs::read_to_string(&r.log).ok())
            .unwrap_or_default()
    }

    /// `host:port` with a Kubernetes name resolved as the brokers resolve it.
    pub fn resolve(&self, host_port: &str) -> String {
        self.dns.resolve(host_port)
    }

    /// The cluster DNS, for resolvers handed to the operator.
    pub fn dns(&self) -> Arc<Dns> {
        self.dns.clone()
    }

    /// Runs `program` as the kubelet runs brokers: in a mount namespace where the cluster's
    /// names resolve.
    pub fn command_with_cluster_dns(&self, program: &Path) -> Command {
        with_cluster_dns(&self.dns, program)
    }
}

/// `program` inside its own mount namespace with the kubelet's hosts file as `/etc/hosts`.
fn with_cluster_dns(dns: &Dns, program: &Path) -> Command {
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/hosts && exec \"$@\"")
        .arg(dns.hosts_file())
        .arg(program);
    c
}

/// Hands out one loopback address per pod name, under a per-kubelet prefix so kubelets of
/// tests running at the same time do not collide.
struct Addresses {
    prefix: [u8; 2],
    by_pod: BTreeMap<String, Ipv4Addr>,
}

impl Addresses {
    fn new() -> Self {
        let seed = fnv(&format!(
            "{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        // 127.1.0.0 - 127.254.255.0: clear of 127.0.0.x, which tests bind as "localhost".
        let prefix = [1 + (seed % 254) as u8, (seed >> 8) as u8];
        Addresses {
            prefix,
            by_pod: BTreeMap::new(),
        }
    }

    fn of(&mut self, pod: &str) -> Ipv4Addr {
        let next = self.by_pod.len() as u8 + 1;
        let [a, b] = self.prefix;
        *self
            .by_pod
            .entry(pod.to_string())
            .or_insert_with(|| Ipv4Addr::new(127, a, b, next))
    }
}

/// Starts the StatefulSet controller and kubelet for `namespace`.
pub fn start(server: FakeApiServer, namespace: &str) -> Kubelet {
    let root = tempfile::tempdir().expect("kubelet root");
    let procs: Arc<Mutex<BTreeMap<String, Running>>> = Arc::default();
    let dns = Arc::new(Dns::new(root.path().join("hosts")));
    let ns = namespace.to_string();
    let dir = root.path().to_path_buf();
    let (p, d) = (procs.clone(), dns.clone());
    let task = tokio::spawn(async move {
        let mut addresses = Addresses::new();
        loop {
            sync_statefulsets(&server, &ns).await;
            sync_pods(&server, &ns, &dir, &p, &d, &mut addresses).await;
            sync_services(&server, &ns, &p, &d);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Kubelet {
        task,
        procs,
        dns,
        _root: root,
    }
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

async fn sync_statefulsets(server: &FakeApiServer, ns: &str) {
    let pods: Api<Pod> = Api::namespaced(server.client(), ns);
    for name in server.names(STATEFULSETS, ns) {
        let Some(sts) = server.get(STATEFULSETS, ns, &name) else {
            continue;
        };
        let template = sts["spec"]["template"].clone();
        let revision = format!("{name}-{:x}", fnv(&template.to_string()) & 0xff_ffff_ffff);
        let replicas = sts["spec"]["replicas"].as_i64().unwrap_or(1);
        let mut ready = 0;
        for n in 0..replicas {
            let pod_name = format!("{name}-{n}");
            match server.get(PODS, ns, &pod_name) {
                Some(p) => ready += i64::from(is_ready(&p)),
                None => {
                    let mut labels = template["metadata"]["labels"].clone();
                    labels["apps.kubernetes.io/pod-index"] = json!(n.to_string());
                    labels["controller-revision-hash"] = json!(revision);
                    let mut spec = template["spec"].clone();
                    let mut volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
                    for claim in sts["spec"]["volumeClaimTemplates"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                    {
                        let claim_name = claim["metadata"]["name"].as_str().unwrap_or("data");
                        volumes.push(json!({"name": claim_name,
                            "persistentVolumeClaim": {"claimName": format!("{claim_name}-{pod_name}")}}));
                    }
                    spec["volumes"] = json!(volumes);
                    // As the StatefulSet controller does: `<pod>.<serviceName>.<ns>.svc`.
                    spec["hostname"] = json!(pod_name);
                    spec["subdomain"] = sts["spec"]["serviceName"].clone();
                    let pod = json!({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": pod_name, "labels": labels,
                                     "annotations": template["metadata"]["annotations"]},
                        "spec": spec});
                    let pod: Pod = serde_json::from_value(pod).expect("pod from template");
                    let _ = pods.create(&PostParams::default(), &pod).await;
                }
            }
        }
        // Scale-down as the StatefulSet controller's OrderedReady policy: the highest
        // ordinal beyond `replicas` goes first, one per pass.
        let beyond = server
            .names(PODS, ns)
            .into_iter()
            .filter_map(|pod| {
                let n: i64 = pod.strip_prefix(&format!("{name}-"))?.parse().ok()?;
                (n >= replicas).then_some((n, pod))
            })
            .max();
        if let Some((_, pod)) = beyond {
            let _ = pods.delete(&pod, &Default::default()).await;
        }
        let status = json!({"status": {"observedGeneration": sts["metadata"]["generation"],
            "replicas": replicas, "readyReplicas": ready,
            "currentRevision": revision, "updateRevision": revision}});
        let api: Api<k8s_openapi::api::apps::v1::StatefulSet> =
            Api::namespaced(server.client(), ns);
        let _ = api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
            .await;
    }
}

async fn sync_pods(
    server: &FakeApiServer,
    ns: &str,
    root: &Path,
    procs: &Arc<Mutex<BTreeMap<String, Running>>>,
    dns: &Dns,
    addresses: &mut Addresses,
) {
    let names = server.names(PODS, ns);
    // Deleted or replaced pods: stop their processes.
    let gone: Vec<(String, Running)> = {
        let mut p = procs.lock().unwrap();
        let stale: Vec<String> = p
            .iter()
            .filter(|(name, r)| {
                server
                    .get(PODS, ns, name)
                    .is_none_or(|pod| pod["metadata"]["uid"].as_str() != Some(r.uid.as_str()))
            })
            .map(|(n, _)| n.clone())
            .collect();
        stale
            .into_iter()
            .filter_map(|n| p.remove(&n).map(|r| (n, r)))
            .collect()
    };
    for (_, r) in gone {
        stop(r).await;
    }
    let api: Api<Pod> = Api::namespaced(server.client(), ns);
    for name in names {
        let Some(pod) = server.get(PODS, ns, &name) else {
            continue;
        };
        let running = procs.lock().unwrap().contains_key(&name);
        if !running {
            let ip = addresses.of(&name);
            if let (Some(host), Some(sub)) = (
                pod["spec"]["hostname"].as_str(),
                pod["spec"]["subdomain"].as_str(),
            ) {
                dns.set(&format!("{host}.{sub}.{ns}.svc"), ip);
            }
            if let Some(r) = run(server, ns, root, &pod, ip, dns) {
                procs.lock().unwrap().insert(name.clone(), r);
            }
        }
        let probe = procs
            .lock()
            .unwrap()
            .get(&name)
            .map(|r| (r.ip, r.readiness.clone()));
        let Some((ip, probe)) = probe else {
            continue;
        };
        let ready = match probe {
            Some((path, port)) => http_ok(ip, port, &path),
            None => true,
        };
        if ready != is_ready(&pod) || pod["status"]["podIP"] != ip.to_string() {
            let status = if ready { "True" } else { "False" };
            let _ = api
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {
                        "podIP": ip.to_string(),
                        "conditions": [{"type": "Ready", "status": status}]}})),
                )
                .await;
        }
    }
}

/// SIGTERM, then SIGKILL once the grace period is over.
async fn stop(mut r: Running) {
    let pid = nix::unistd::Pid::from_raw(r.child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + r.grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = r.child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = r.child.kill();
    let _ = r.child.wait();
}

/// ClusterIP Services with a selector: `<svc>.<ns>.svc` is the first Ready pod they select
/// (a ClusterIP balances over ready endpoints; one is enough to bootstrap from).
fn sync_services(
    server: &FakeApiServer,
    ns: &str,
    procs: &Arc<Mutex<BTreeMap<String, Running>>>,
    dns: &Dns,
) {
    for name in server.names(SERVICES, ns) {
        let Some(svc) = server.get(SERVICES, ns, &name) else {
            continue;
        };
        if svc["spec"]["clusterIP"] == "None" {
            continue;
        }
        let Some(selector) = svc["spec"]["selector"].as_object() else {
            continue;
        };
        let endpoint = server.names(PODS, ns).into_iter().find_map(|pod_name| {
            let pod = server.get(PODS, ns, &pod_name)?;
            let selected = selector
                .iter()
                .all(|(k, v)| pod["metadata"]["labels"][k] == *v);
            if !selected || !is_ready(&pod) {
                return None;
            }
            procs.lock().unwrap().get(&pod_name).map(|r| r.ip)
        });
        if let Some(ip) = endpoint {
            dns.set(&format!("{name}.{ns}.svc"), ip);
        }
    }
}

fn http_ok(ip: Ipv4Addr, port: u16, path: &str) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from((ip, port)),
        Duration::from_millis(500),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

/// Starts pod `pod`'s first container as a process.
fn run(
    server: &FakeApiServer,
    ns: &str,
    root: &Path,
    pod: &Value,
    ip: Ipv4Addr,
    dns: &Dns,
) -> Option<Running> {
    let name = pod["metadata"]["name"].as_str()?.to_string();
    let uid = pod["metadata"]["uid"].as_str()?.to_string();
    let container = &pod["spec"]["containers"][0];
    let pod_dir = root.join("pods").join(format!("{name}-{uid}"));
    std::fs::create_dir_all(&pod_dir).ok()?;

    // Volumes: ConfigMaps as files (written after the paths are known), PVCs as lasting dirs.
    let mut mounts: Vec<(String, PathBuf)> = Vec::new();
    let mut config_files: Vec<(PathBuf, String)> = Vec::new();
    for m in container["volumeMounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let vol_name = m["name"].as_str()?;
        let mount_path = m["mountPath"].as_str()?.to_string();
        let volume = pod["spec"]["volumes"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == vol_name)?
            .clone();
        let host = if let Some(claim) = volume["persistentVolumeClaim"]["claimName"].as_str() {
            root.join("pvc").join(claim)
        } else if let Some(cm) = volume["configMap"]["name"].as_str() {
            let dir = pod_dir.join(vol_name);
            let data = server.get(CONFIGMAPS, ns, cm)?["data"].clone();
            for (k, v) in data.as_object()? {
                config_files.push((dir.join(k), v.as_str().unwrap_or("").to_string()));
            }
            dir
        } else {
            pod_dir.join(vol_name)
        };
        std::fs::create_dir_all(&host).ok()?;
        mounts.push((mount_path, host));
    }
    // Longest mount path first, so /a/b is translated before /a.
    mounts.sort_by_key(|(m, _)| std::cmp::Reverse(m.len()));
    let translate = |s: &str| {
        mounts
            .iter()
            .fold(s.to_string(), |acc, (m, h)| {
                acc.replace(m.as_str(), &h.display().to_string())
            })
            .replace("0.0.0.0", &ip.to_string())
    };
    for (path, content) in &config_files {
        std::fs::write(path, translate(content)).ok()?;
    }

    let mut env: Vec<(String, String)> = Vec::new();
    for e in container["env"].as_array().cloned().unwrap_or_default() {
        let key = e["name"].as_str()?.to_string();
        let value = if let Some(v) = e["value"].as_str() {
            expand(v, &env)
        } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            field(pod, path)
        } else {
            String::new()
        };
        env.push((key, translate(&value)));
    }

    let command: Vec<String> = container["command"]
        .as_array()?
        .iter()
        .chain(container["args"].as_array().into_iter().flatten())
        .filter_map(|v| v.as_str())
        .map(|a| translate(&expand(a, &env)))
        .collect();
    let program = match command.first()?.as_str() {
        "fjord-broker" => fjord_tests::broker_bin(),
        other => PathBuf::from(other),
    };
    let log = pod_dir.join("container.log");
    let out = std::fs::File::create(&log).ok()?;
    let child = with_cluster_dns(dns, &program)
        .args(&command[1..])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .envs(env)
        .current_dir(&pod_dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().ok()?)
        .stderr(out)
        .spawn()
        .ok()?;

    let readiness = container["readinessProbe"]["httpGet"]
        .as_object()
        .and_then(|g| {
            let port = match &g["port"] {
                Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
                Value::String(named) => container["ports"]
                    .as_array()?
                    .iter()
                    .find(|p| p["name"] == named.as_str())
                    .and_then(|p| u16::try_from(p["containerPort"].as_u64()?).ok())?,
                _ => return None,
            };
            Some((g["path"].as_str().unwrap_or("/").to_string(), port))
        });
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap_or(30);
    Some(Running {
        uid,
        child,
        ip,
        readiness,
        grace: Duration::from_secs(grace),
        log,
    })
}

/// Kubernetes' `$(VAR)` expansion over the variables defined so far; `$$` escapes a dollar,
/// an unknown reference stays as written.
pub fn expand(value: &str, env: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let (Some(body), true) = (after.strip_prefix('('), after.contains(')')) {
            let end = body.find(')').unwrap_or(0);
            let var = &body[..end];
            match env.iter().rev().find(|(k, _)| k == var) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(&format!("$({var})")),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A downward-API field of `pod`.
pub fn field(pod: &Value, path: &str) -> String {
    let meta = &pod["metadata"];
    let keyed = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("['"))
            .and_then(|r| r.strip_suffix("']"))
    };
    let v = match path {
        "metadata.name" => meta["name"].clone(),
        "metadata.namespace" => meta["namespace"].clone(),
        _ => {
            if let Some(k) = keyed("metadata.labels") {
                meta["labels"][k].clone()
            } else if let Some(k) = keyed("metadata.annotations") {
                meta["annotations"][k].clone()
            } else {
                Value::Null
            }
        }
    };
    v.as_str().unwrap_or("").to_string()
}
