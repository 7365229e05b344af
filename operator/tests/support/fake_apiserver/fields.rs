//! JSON field bookkeeping of the fake API server: managed fields for server-side apply,
//! leaf paths, merges and metadata stripping.

use super::{Managers, ObjKey, Path, State};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Non-apply writes hand the leaf fields they changed to their manager.
pub(super) fn own(
    st: &mut State,
    key: &ObjKey,
    manager: &str,
    sub: &str,
    op: &'static str,
    next: &Value,
    current: &Value,
) {
    let mut changed: BTreeSet<Path> = leaf_paths(next)
        .into_iter()
        .filter(|p| get_path(next, p) != get_path(current, p))
        .filter(|p| {
            p.first().is_some_and(|f| f != "metadata")
                || p.get(1)
                    .is_some_and(|s| s == "labels" || s == "annotations" || s == "finalizers")
        })
        .collect();
    changed.retain(|p| !(p.len() == 1 && (p[0] == "apiVersion" || p[0] == "kind")));
    if changed.is_empty() {
        return;
    }
    let entry = st.managers.entry(key.clone()).or_default();
    for (paths, _) in entry.values_mut() {
        paths.retain(|p| !changed.contains(p));
    }
    let mine = entry
        .entry((manager.to_string(), sub.to_string()))
        .or_insert_with(|| (BTreeSet::new(), op));
    mine.0.extend(changed);
    entry.retain(|_, (paths, _)| !paths.is_empty());
}

pub(super) fn managed_fields(managers: Option<&Managers>, api_version: &str) -> Value {
    let Some(managers) = managers else {
        return json!([]);
    };
    Value::Array(
        managers
            .iter()
            .map(|((m, sub), (paths, op))| {
                let mut fields = json!({});
                for p in paths {
                    let mut cur = &mut fields;
                    for seg in p {
                        cur = cur
                            .as_object_mut()
                            .unwrap()
                            .entry(format!("f:{seg}"))
                            .or_insert(json!({}));
                    }
                }
                let mut e = json!({ "manager": m, "operation": op, "apiVersion": api_version,
                                    "fieldsType": "FieldsV1", "fieldsV1": fields });
                if !sub.is_empty() {
                    e["subresource"] = json!(sub);
                }
                e
            })
            .collect(),
    )
}

/// Leaf paths of an applied configuration; arrays and scalars are leaves (atomic).
pub(super) fn leaf_paths(v: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    prefix.push(k.clone());
                    walk(child, prefix, out);
                    prefix.pop();
                }
            }
            _ => {
                if !prefix.is_empty() {
                    out.insert(prefix.clone());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out.retain(|p| !(p.len() == 1 && (p[0] == "apiVersion" || p[0] == "kind")));
    out
}

pub(super) fn get_path<'a>(v: &'a Value, p: &Path) -> Option<&'a Value> {
    p.iter().try_fold(v, |cur, seg| cur.get(seg))
}

pub(super) fn remove_path(v: &mut Value, p: &Path) {
    fn go(v: &mut Value, p: &[String]) -> bool {
        let Some(obj) = v.as_object_mut() else {
            return false;
        };
        if p.len() == 1 {
            obj.remove(&p[0]);
        } else if let Some(child) = obj.get_mut(&p[0]) {
            if go(child, &p[1..]) {
                obj.remove(&p[0]);
            }
        }
        obj.is_empty()
    }
    go(v, p);
}

pub(super) fn deep_merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                deep_merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// RFC 7386 JSON merge patch.
pub(super) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().unwrap();
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

pub(super) fn strip(v: &mut Value, key: &str) {
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
}

pub(super) fn strip_meta_identity(v: &mut Value) {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "name",
            "namespace",
            "resourceVersion",
            "uid",
            "generation",
            "creationTimestamp",
            "managedFields",
        ] {
            m.remove(k);
        }
        if m.is_empty() {
            v.as_object_mut().unwrap().remove("metadata");
        }
    }
}

pub(super) fn without(v: &Value, keys: &[&str]) -> Value {
    let mut v = v.clone();
    for k in keys {
        strip(&mut v, k);
    }
    v
}

pub(super) fn decode(v: &str) -> String {
    let mut out = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(c) => {
                        out.push(c);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Applies an RFC 6902 JSON patch (`test`, `add`, `remove`, `replace`); Err names the failing
/// operation (the API server answers 422 for a failed `test`).
pub(super) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let Some(ops) = ops.as_array() else {
        return Err("a JSON patch is an array".into());
    };
    for op in ops {
        let path: Vec<String> = op["path"]
            .as_str()
            .unwrap_or("")
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        let (last, parent_path) = path.split_last().ok_or("empty path")?;
        let parent = parent_path
            .iter()
            .try_fold(&mut *target, |v, k| match v {
                Value::Object(m) => m.get_mut(k),
                Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
                _ => None,
            })
            .ok_or_else(|| format!("no parent for {}", op["path"]))?;
        let value = op["value"].clone();
        match (op["op"].as_str().unwrap_or(""), parent) {
            ("test", p) => {
                let current = match p {
                    Value::Object(m) => m.get(last).cloned().unwrap_or(Value::Null),
                    Value::Array(a) => last
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| a.get(i).cloned())
                        .unwrap_or(Value::Null),
                    _ => Value::Null,
                };
                if current != value {
                    return Err(format!("test of {} failed", op["path"]));
                }
            }
            ("add" | "replace", Value::Object(m)) => {
                m.insert(last.clone(), value);
            }
            ("add", Value::Array(a)) if last == "-" => a.push(value),
            ("add", Value::Array(a)) => {
                let i = last.parse::<usize>().map_err(|e| e.to_string())?;
                if i > a.len() {
                    return Err("index out of range".into());
                }
                a.insert(i, value);
            }
            ("replace", Value::Array(a)) => {
                let i = last.parse::<usize>().map_err(|e| e.to_string())?;
                *a.get_mut(i).ok_or("index out of range")? = value;
            }
            ("remove", Value::Object(m)) => {
                m.remove(last).ok_or("nothing to remove")?;
            }
            ("remove", Value::Array(a)) => {
                let i = last.parse::<usize>().map_err(|e| e.to_string())?;
                if i >= a.len() {
                    return Err("index out of range".into());
                }
                a.remove(i);
            }
            (other, _) => return Err(format!("unsupported op {other}")),
        }
    }
    Ok(())
}

/// Whether `obj`'s labels satisfy an equality label selector `k=v,k2=v2` (absent: everything).
pub(super) fn selects(selector: Option<&String>, obj: &Value) -> bool {
    selector.is_none_or(|s| {
        s.split(',')
            .filter_map(|kv| kv.split_once('='))
            .all(|(k, v)| obj["metadata"]["labels"][k] == Value::String(v.to_string()))
    })
}
