//! The fake API server keeps the Kubernetes semantics the controller tests rely on.

mod support;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::fake_apiserver::FakeApiServer;

fn cm(data: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": data}})
}

#[tokio::test]
async fn apply_refuses_another_managers_field_without_force_and_takes_it_with_force() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "ns");
    api.patch("c", &PatchParams::apply("a"), &Patch::Apply(cm("1")))
        .await
        .unwrap();
    let err = api
        .patch("c", &PatchParams::apply("b"), &Patch::Apply(cm("2")))
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409));
    let got = api
        .patch(
            "c",
            &PatchParams::apply("b").force(),
            &Patch::Apply(cm("2")),
        )
        .await
        .unwrap();
    assert_eq!(got.data.unwrap()["k"], "2");
    let managers: Vec<_> = got
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .map(|m| m.manager.unwrap())
        .collect();
    assert_eq!(managers, ["b"]);
}

#[tokio::test]
async fn apply_removes_fields_the_manager_stopped_applying() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "ns");
    let two = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
    api.patch("c", &PatchParams::apply("m"), &Patch::Apply(two))
        .await
        .unwrap();
    let got = api
        .patch("c", &PatchParams::apply("m"), &Patch::Apply(cm("x")))
        .await
        .unwrap();
    let data = got.data.unwrap();
    assert_eq!(data.len(), 1, "{data:?}");
    assert_eq!(data["k"], "x");
}

#[tokio::test]
async fn resource_versions_grow_and_stale_writes_conflict() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "ns");
    let first = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(cm("1")).unwrap(),
        )
        .await
        .unwrap();
    let rv1: u64 = first
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    let mut second = first.clone();
    second.data = Some([("k".to_string(), "2".to_string())].into());
    let stored = api
        .replace("c", &PostParams::default(), &second)
        .await
        .unwrap();
    let rv2: u64 = stored.metadata.resource_version.unwrap().parse().unwrap();
    assert!(rv2 > rv1);
    let err = api
        .replace("c", &PostParams::default(), &second)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(s) if s.code == 409),
        "stale resourceVersion"
    );
}

#[tokio::test]
async fn status_writes_leave_generation_alone_and_spec_writes_bump_it() {
    let server = FakeApiServer::new();
    let api: Api<fjord_crds::Cluster> = Api::namespaced(server.client(), "ns");
    let c: fjord_crds::Cluster = serde_json::from_value(json!({
        "apiVersion": "fjord.dev/v1alpha1", "kind": "Cluster",
        "metadata": {"name": "x"}, "spec": {"version": "0.1.0"}, "status": {"readyBrokers": 9}
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &c).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(
        created.status.map(|s| s.ready_brokers),
        None,
        "status ignored on the main resource"
    );
    let s = api
        .patch_status(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"readyBrokers": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(s.metadata.generation, Some(1));
    assert_eq!(s.status.unwrap().ready_brokers, 2);
    let s = api
        .patch(
            "x",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}, "status": {"readyBrokers": 0}})),
        )
        .await
        .unwrap();
    assert_eq!(s.metadata.generation, Some(2));
    assert_eq!(
        s.status.unwrap().ready_brokers,
        2,
        "status unchanged through the main resource"
    );
}

#[tokio::test]
async fn finalizers_hold_deletion_and_owners_take_dependents_with_them() {
    let server = FakeApiServer::new();
    let api: Api<ConfigMap> = Api::namespaced(server.client(), "ns");
    let mut owner: ConfigMap = serde_json::from_value(cm("1")).unwrap();
    owner.metadata.finalizers = Some(vec!["x/y".into()]);
    let owner = api.create(&PostParams::default(), &owner).await.unwrap();
    let dependent = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d",
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": owner.metadata.uid}]}});
    api.create(
        &PostParams::default(),
        &serde_json::from_value(dependent).unwrap(),
    )
    .await
    .unwrap();

    api.delete("c", &DeleteParams::default()).await.unwrap();
    let held = api.get("c").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(api.get_opt("d").await.unwrap().is_some());
    api.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("c").await.unwrap().is_none());
    assert!(
        api.get_opt("d").await.unwrap().is_none(),
        "garbage collected"
    );
}
