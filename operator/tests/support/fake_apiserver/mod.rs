//! An in-process fake Kubernetes API server for controller tests, plugged into
//! `kube::Client::new` as a tower service (no sockets).
//!
//! Semantics kept faithful where the operator depends on them:
//! - every write bumps a global `resourceVersion`; `metadata.generation` starts at 1 and grows
//!   only when something outside `metadata` and `status` changes;
//! - server-side apply (`application/apply-patch+yaml`): creates on absence, tracks the leaf
//!   fields each manager applied (shown in `managedFields`), removes fields a manager stops
//!   applying, and refuses (409) to change another manager's field without `force`;
//! - JSON merge patch, PUT and POST, with `resourceVersion` preconditions (409 on mismatch);
//! - the status subresource: writes to `/status` change only `status`, writes to the main
//!   resource never change `status`;
//! - DELETE honours finalizers (sets `deletionTimestamp`; the object goes when the last
//!   finalizer is removed) and garbage-collects dependents by owner reference uid;
//! - GET, LIST (with equality label selectors) and WATCH (events after a resourceVersion).
//!
//! Lists inside objects are atomic (real SSA merges some by key; the operator is the only
//! manager of its lists).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use serde_json::{json, Value};
use tokio::sync::broadcast;

mod fields;
mod responses;

use fields::*;
use responses::*;

pub(super) type Path = Vec<String>;
type ObjKey = (String, String, String); // resource, namespace, name
/// (manager, subresource) -> owned leaf paths and the operation that set them.
pub(super) type Managers = BTreeMap<(String, String), (BTreeSet<Path>, &'static str)>;

#[derive(Clone)]
struct Kind {
    api_version: String,
    kind: String,
    status_subresource: bool,
}

#[derive(Clone)]
struct Event {
    rv: u64,
    resource: String,
    namespace: String,
    type_: &'static str,
    object: Value,
}

#[derive(Default)]
struct State {
    kinds: BTreeMap<String, Kind>,
    objects: BTreeMap<ObjKey, Value>,
    /// (object, manager, subresource) -> owned leaf paths and operation.
    managers: BTreeMap<ObjKey, Managers>,
    events: Vec<Event>,
    rv: u64,
    uid: u64,
}

/// The fake server. Cloning shares the state.
#[derive(Clone)]
pub struct FakeApiServer {
    state: Arc<Mutex<State>>,
    notify: broadcast::Sender<u64>,
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

impl FakeApiServer {
    /// A server knowing the core kinds the operator uses and the Fjord CRDs.
    pub fn new() -> Self {
        let (notify, _) = broadcast::channel(1024);
        let s = FakeApiServer {
            state: Arc::default(),
            notify,
        };
        s.register("/api/v1/configmaps", "v1", "ConfigMap", false);
        s.register("/api/v1/services", "v1", "Service", true);
        s.register("/apis/apps/v1/statefulsets", "apps/v1", "StatefulSet", true);
        s.register(
            "/apis/policy/v1/poddisruptionbudgets",
            "policy/v1",
            "PodDisruptionBudget",
            true,
        );
        s.register("/api/v1/pods", "v1", "Pod", true);
        s.register(
            "/apis/events.k8s.io/v1/events",
            "events.k8s.io/v1",
            "Event",
            false,
        );
        s.register(
            "/apis/coordination.k8s.io/v1/leases",
            "coordination.k8s.io/v1",
            "Lease",
            false,
        );
        s.register(
            "/apis/fjord.dev/v1alpha1/clusters",
            "fjord.dev/v1alpha1",
            "Cluster",
            true,
        );
        s.register(
            "/apis/fjord.dev/v1alpha1/topics",
            "fjord.dev/v1alpha1",
            "Topic",
            true,
        );
        s
    }

    /// Makes a resource type known, as installing its CRD would.
    pub fn register(
        &self,
        resource: &str,
        api_version: &str,
        kind: &str,
        status_subresource: bool,
    ) {
        self.state.lock().unwrap().kinds.insert(
            resource.into(),
            Kind {
                api_version: api_version.into(),
                kind: kind.into(),
                status_subresource,
            },
        );
    }

    /// A client talking to this server.
    pub fn client(&self) -> kube::Client {
        self.client_with_outage().0
    }

    /// A client talking to this server, and a switch that, while on, cuts this client off:
    /// every request it sends is answered 503 (a network partition from the API server).
    pub fn client_with_outage(&self) -> (kube::Client, Arc<AtomicBool>) {
        let server = self.clone();
        let down = Arc::new(AtomicBool::new(false));
        let switch = down.clone();
        let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
            let server = server.clone();
            let down = down.load(Ordering::SeqCst);
            async move {
                if down {
                    return Ok::<_, Infallible>(status(503, "ServiceUnavailable", "partitioned"));
                }
                Ok::<_, Infallible>(server.handle(req).await)
            }
        });
        (kube::Client::new(svc, "default"), switch)
    }

    /// The stored object, if any (`resource` like `/apis/apps/v1/statefulsets`).
    pub fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Value> {
        let st = self.state.lock().unwrap();
        st.objects
            .get(&(resource.into(), namespace.into(), name.into()))
            .cloned()
    }

    /// Names of stored objects of `resource` in `namespace`.
    pub fn names(&self, resource: &str, namespace: &str) -> Vec<String> {
        let st = self.state.lock().unwrap();
        st.objects
            .keys()
            .filter(|(r, n, _)| r == resource && n == namespace)
            .map(|(_, _, name)| name.clone())
            .collect()
    }

    async fn handle(&self, req: Request<kube::client::Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = body.collect_bytes().await.unwrap_or_default();
        let query: BTreeMap<String, String> = parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), decode(v)))
            .collect();
        let Some(target) = parse_path(parts.uri.path()) else {
            return text(StatusCode::NOT_FOUND, "404 page not found");
        };
        let kind = self
            .state
            .lock()
            .unwrap()
            .kinds
            .get(&target.resource)
            .cloned();
        let Some(kind) = kind else {
            return text(StatusCode::NOT_FOUND, "404 page not found");
        };
        let content_type = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let parsed: Value = if body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&body) {
                Ok(v) => v,
                Err(e) => return status(400, "BadRequest", &e.to_string()),
            }
        };
        let manager = query
            .get("fieldManager")
            .cloned()
            .unwrap_or_else(|| "unknown".into());
        let force = query.get("force").is_some_and(|f| f == "true");
        match (parts.method.as_str(), &target.name) {
            ("GET", None) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
                let from = query
                    .get("resourceVersion")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                self.watch(target, from, query.get("labelSelector").cloned())
            }
            ("GET", None) => self.list(&target, &kind, query.get("labelSelector")),
            ("GET", Some(name)) => match self.get(&target.resource, &target.namespace, name) {
                Some(o) => json_response(StatusCode::OK, &o),
                None => not_found(name),
            },
            ("POST", None) => self.create(&target, &kind, parsed, &manager),
            ("PUT", Some(name)) => self.replace(&target, &kind, name, parsed, &manager),
            ("PATCH", Some(name)) if content_type.starts_with("application/apply-patch") => {
                self.apply(&target, &kind, name, parsed, &manager, force)
            }
            ("PATCH", Some(name)) if content_type.starts_with("application/merge-patch") => {
                self.merge(&target, &kind, name, parsed, &manager)
            }
            ("PATCH", Some(name)) if content_type.starts_with("application/json-patch") => {
                self.json_patch(&target, &kind, name, parsed, &manager)
            }
            ("DELETE", Some(name)) => self.delete(&target, name),
            _ => status(405, "MethodNotAllowed", "not supported by the fake"),
        }
    }

    fn list(&self, t: &Target, kind: &Kind, selector: Option<&String>) -> Response<Body> {
        let st = self.state.lock().unwrap();
        let items: Vec<Value> = st
            .objects
            .iter()
            .filter(|((r, ns, _), _)| {
                *r == t.resource && (t.namespace.is_empty() || *ns == t.namespace)
            })
            .map(|(_, o)| o.clone())
            .filter(|o| selects(selector, o))
            .collect();
        json_response(
            StatusCode::OK,
            &json!({
                "apiVersion": kind.api_version,
                "kind": format!("{}List", kind.kind),
                "metadata": { "resourceVersion": st.rv.to_string() },
                "items": items,
            }),
        )
    }

    fn watch(&self, t: Target, from: u64, selector: Option<String>) -> Response<Body> {
        let mut rx = self.notify.subscribe();
        let state = self.state.clone();
        let (tx, out) =
            tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, Infallible>>(64);
        tokio::spawn(async move {
            let mut cursor = from;
            loop {
                let batch: Vec<Event> = {
                    let st = state.lock().unwrap();
                    st.events
                        .iter()
                        .filter(|e| e.rv > cursor && e.resource == t.resource)
                        .filter(|e| t.namespace.is_empty() || e.namespace == t.namespace)
                        .filter(|e| selects(selector.as_ref(), &e.object))
                        .cloned()
                        .collect()
                };
                for e in batch {
                    cursor = e.rv;
                    let mut line =
                        serde_json::to_vec(&json!({"type": e.type_, "object": e.object})).unwrap();
                    line.push(b'\n');
                    if tx
                        .send(Ok(hyper::body::Frame::data(Bytes::from(line))))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if rx.recv().await.is_err() {
                    return;
                }
            }
        });
        let stream =
            futures::stream::unfold(
                out,
                |mut rx| async move { rx.recv().await.map(|f| (f, rx)) },
            );
        let mut resp = Response::new(StreamBody::new(stream).boxed_unsync());
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            "application/json".parse().unwrap(),
        );
        resp
    }

    fn create(&self, t: &Target, kind: &Kind, mut obj: Value, manager: &str) -> Response<Body> {
        let Some(name) = obj["metadata"]["name"].as_str().map(String::from) else {
            return status(422, "Invalid", "metadata.name is required");
        };
        let key = (t.resource.clone(), t.namespace.clone(), name.clone());
        let mut st = self.state.lock().unwrap();
        if st.objects.contains_key(&key) {
            return status(409, "AlreadyExists", &format!("{name} already exists"));
        }
        if kind.status_subresource {
            strip(&mut obj, "status");
        }
        own(&mut st, &key, manager, "", "Update", &obj, &Value::Null);
        let stored = commit(&mut st, &key, kind, None, obj);
        drop(st);
        self.wake();
        json_response(StatusCode::CREATED, &stored)
    }

    fn replace(
        &self,
        t: &Target,
        kind: &Kind,
        name: &str,
        obj: Value,
        manager: &str,
    ) -> Response<Body> {
        let key = (t.resource.clone(), t.namespace.clone(), name.to_string());
        let st = self.state.lock().unwrap();
        let Some(current) = st.objects.get(&key).cloned() else {
            return not_found(name);
        };
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str() {
            if rv != current["metadata"]["resourceVersion"] {
                return status(409, "Conflict", "the object has been modified; please apply your changes to the latest version and try again");
            }
        }
        let next = self.restrict(t, kind, &current, obj);
        self.update_stored(st, t, kind, &key, manager, &current, next)
    }

    /// The end of a PUT or merge patch: record `manager`'s fields, store `next` over
    /// `current`, wake watchers, answer 200 with the stored object.
    #[allow(clippy::too_many_arguments)]
    fn update_stored(
        &self,
        mut st: std::sync::MutexGuard<'_, State>,
        t: &Target,
        kind: &Kind,
        key: &ObjKey,
        manager: &str,
        current: &Value,
        next: Value,
    ) -> Response<Body> {
        own(
            &mut st,
            key,
            manager,
            &t.subresource,
            "Update",
            &next,
            current,
        );
        let stored = commit(&mut st, key, kind, Some(current), next);
        drop(st);
        self.wake();
        json_response(StatusCode::OK, &stored)
    }

    fn merge(
        &self,
        t: &Target,
        kind: &Kind,
        name: &str,
        patch: Value,
        manager: &str,
    ) -> Response<Body> {
        let key = (t.resource.clone(), t.namespace.clone(), name.to_string());
        let st = self.state.lock().unwrap();
        let Some(current) = st.objects.get(&key).cloned() else {
            return not_found(name);
        };
        if let Some(rv) = patch["metadata"]["resourceVersion"].as_str() {
            if rv != current["metadata"]["resourceVersion"] {
                return status(409, "Conflict", "the object has been modified");
            }
        }
        let mut merged = current.clone();
        merge_patch(&mut merged, &patch);
        let next = self.restrict(t, kind, &current, merged);
        self.update_stored(st, t, kind, &key, manager, &current, next)
    }

    fn json_patch(
        &self,
        t: &Target,
        kind: &Kind,
        name: &str,
        ops: Value,
        manager: &str,
    ) -> Response<Body> {
        let key = (t.resource.clone(), t.namespace.clone(), name.to_string());
        let st = self.state.lock().unwrap();
        let Some(current) = st.objects.get(&key).cloned() else {
            return not_found(name);
        };
        let mut patched = current.clone();
        if let Err(e) = json_patch(&mut patched, &ops) {
            return status(422, "Invalid", &e);
        }
        let next = self.restrict(t, kind, &current, patched);
        self.update_stored(st, t, kind, &key, manager, &current, next)
    }

    fn apply(
        &self,
        t: &Target,
        kind: &Kind,
        name: &str,
        mut applied: Value,
        manager: &str,
        force: bool,
    ) -> Response<Body> {
        let key = (t.resource.clone(), t.namespace.clone(), name.to_string());
        let mut st = self.state.lock().unwrap();
        let current = st.objects.get(&key).cloned();
        if current.is_none() && t.subresource == "status" {
            return not_found(name);
        }
        // Only the part of the body the endpoint owns counts.
        if kind.status_subresource {
            if t.subresource == "status" {
                applied = json!({ "status": applied["status"].clone() });
            } else {
                strip(&mut applied, "status");
            }
        }
        strip_meta_identity(&mut applied);
        let new_paths = leaf_paths(&applied);
        let managers = st.managers.get(&key).cloned().unwrap_or_default();
        let mine = (manager.to_string(), t.subresource.clone());
        let base = current.clone().unwrap_or_else(|| {
            json!({ "apiVersion": kind.api_version, "kind": kind.kind,
                    "metadata": { "name": name, "namespace": t.namespace } })
        });
        if !force {
            let conflicts: Vec<String> = managers
                .iter()
                .filter(|(m, _)| **m != mine)
                .flat_map(|((m, _), (paths, _))| paths.iter().map(move |p| (m, p)))
                .filter(|(_, p)| {
                    new_paths.contains(*p) && get_path(&base, p) != get_path(&applied, p)
                })
                .map(|(m, p)| format!("conflict with \"{m}\": .{}", p.join(".")))
                .collect();
            if !conflicts.is_empty() {
                return status(
                    409,
                    "Conflict",
                    &format!(
                        "Apply failed with {} conflicts: {}",
                        conflicts.len(),
                        conflicts.join("; ")
                    ),
                );
            }
        }
        let mut next = base.clone();
        let others: BTreeSet<Path> = managers
            .iter()
            .filter(|(m, _)| **m != mine)
            .flat_map(|(_, (paths, _))| paths.iter().cloned())
            .collect();
        if let Some((previous, _)) = managers.get(&mine) {
            for p in previous.difference(&new_paths) {
                if !others.contains(p) {
                    remove_path(&mut next, p);
                }
            }
        }
        deep_merge(&mut next, &applied);
        let entry = st.managers.entry(key.clone()).or_default();
        for ((_, _), (paths, _)) in entry.iter_mut() {
            paths.retain(|p| !new_paths.contains(p));
        }
        entry.insert(mine, (new_paths, "Apply"));
        entry.retain(|_, (paths, _)| !paths.is_empty());
        let created = current.is_none();
        let stored = commit(&mut st, &key, kind, current.as_ref(), next);
        drop(st);
        self.wake();
        json_response(
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            &stored,
        )
    }

    fn delete(&self, t: &Target, name: &str) -> Response<Body> {
        let key = (t.resource.clone(), t.namespace.clone(), name.to_string());
        let mut st = self.state.lock().unwrap();
        let Some(current) = st.objects.get(&key).cloned() else {
            return not_found(name);
        };
        let kind = st.kinds[&t.resource].clone();
        let has_finalizers = current["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        let out = if has_finalizers {
            if current["metadata"]["deletionTimestamp"].is_null() {
                let mut next = current.clone();
                next["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
                commit(&mut st, &key, &kind, Some(&current), next)
            } else {
                current
            }
        } else {
            remove(&mut st, &key);
            current
        };
        drop(st);
        self.wake();
        json_response(StatusCode::OK, &out)
    }

    /// What a write to the main resource or to `/status` may change.
    fn restrict(&self, t: &Target, kind: &Kind, current: &Value, mut next: Value) -> Value {
        if !kind.status_subresource {
            return next;
        }
        if t.subresource == "status" {
            let mut out = current.clone();
            out["status"] = next["status"].take();
            out
        } else {
            match current.get("status") {
                Some(s) => next["status"] = s.clone(),
                None => strip(&mut next, "status"),
            }
            next
        }
    }

    fn wake(&self) {
        let rv = self.state.lock().unwrap().rv;
        let _ = self.notify.send(rv);
    }
}

impl Default for FakeApiServer {
    fn default() -> Self {
        Self::new()
    }
}

struct Target {
    resource: String,
    namespace: String,
    name: Option<String>,
    subresource: String,
}

/// `/api/v1[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]` and the `/apis/<group>/<version>` form.
fn parse_path(path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match *segs.first()? {
        "api" => (format!("/api/{}", segs.get(1)?), &segs[2..]),
        "apis" => (
            format!("/apis/{}/{}", segs.get(1)?, segs.get(2)?),
            &segs[3..],
        ),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (ns.to_string(), rest),
        _ => (String::new(), rest),
    };
    let plural = rest.first()?;
    Some(Target {
        resource: format!("{prefix}/{plural}"),
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        subresource: rest.get(2).map(|s| s.to_string()).unwrap_or_default(),
    })
}

fn commit(
    st: &mut State,
    key: &ObjKey,
    kind: &Kind,
    current: Option<&Value>,
    mut next: Value,
) -> Value {
    // Like the API server, a write that changes nothing is not a new version (no event).
    if let Some(cur) = current {
        let comparable = |v: &Value| {
            let mut v = v.clone();
            if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
                m.remove("managedFields");
            }
            v
        };
        let mut candidate = next.clone();
        candidate["apiVersion"] = json!(kind.api_version);
        candidate["kind"] = json!(kind.kind);
        if let Some(m) = candidate.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "generation",
            ] {
                match cur["metadata"].get(k) {
                    Some(v) => {
                        m.insert(k.into(), v.clone());
                    }
                    None => {
                        m.remove(k);
                    }
                }
            }
        }
        if comparable(&candidate) == comparable(cur) {
            let mut out = cur.clone();
            out["metadata"]["managedFields"] =
                managed_fields(st.managers.get(key), &kind.api_version);
            st.objects.insert(key.clone(), out.clone());
            return out;
        }
    }
    st.rv += 1;
    let meta = next["metadata"]
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut meta = Value::Object(meta);
    meta["name"] = json!(key.2);
    meta["namespace"] = json!(key.1);
    meta["resourceVersion"] = json!(st.rv.to_string());
    match current {
        None => {
            st.uid += 1;
            meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", st.uid));
            meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
            meta["generation"] = json!(1);
        }
        Some(cur) => {
            for k in ["uid", "creationTimestamp"] {
                meta[k] = cur["metadata"][k].clone();
            }
            let generation = cur["metadata"]["generation"].as_i64().unwrap_or(1);
            let changed =
                without(cur, &["metadata", "status"]) != without(&next, &["metadata", "status"]);
            meta["generation"] = json!(generation + i64::from(changed));
            if !cur["metadata"]["deletionTimestamp"].is_null() {
                meta["deletionTimestamp"] = cur["metadata"]["deletionTimestamp"].clone();
            }
        }
    }
    meta["managedFields"] = managed_fields(st.managers.get(key), &kind.api_version);
    next["metadata"] = meta;
    next["apiVersion"] = json!(kind.api_version);
    next["kind"] = json!(kind.kind);
    let deleting = !next["metadata"]["deletionTimestamp"].is_null()
        && next["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty());
    st.objects.insert(key.clone(), next.clone());
    if deleting {
        remove(st, key);
        return next;
    }
    let rv = st.rv;
    st.events.push(Event {
        rv,
        resource: key.0.clone(),
        namespace: key.1.clone(),
        type_: if current.is_none() {
            "ADDED"
        } else {
            "MODIFIED"
        },
        object: next.clone(),
    });
    next
}

/// Removes an object and, like the garbage collector, everything it owns.
fn remove(st: &mut State, key: &ObjKey) {
    let Some(obj) = st.objects.remove(key) else {
        return;
    };
    st.managers.remove(key);
    st.rv += 1;
    let rv = st.rv;
    st.events.push(Event {
        rv,
        resource: key.0.clone(),
        namespace: key.1.clone(),
        type_: "DELETED",
        object: obj.clone(),
    });
    let uid = obj["metadata"]["uid"].clone();
    let dependents: Vec<ObjKey> = st
        .objects
        .iter()
        .filter(|(_, o)| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
        })
        .map(|(k, _)| k.clone())
        .collect();
    for d in dependents {
        let kind = st.kinds[&d.0].clone();
        let cur = st.objects[&d].clone();
        if cur["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
        {
            let mut next = cur.clone();
            next["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
            commit(st, &d, &kind, Some(&cur), next);
        } else {
            remove(st, &d);
        }
    }
}
