//! SASL (issue 13): PLAIN users from the JAAS config on SASL_PLAINTEXT, SCRAM-SHA-512 users
//! created with AlterUserScramCredentials on SASL_SSL, wrong passwords and unknown users
//! refused with a log line while others are served, requests before authentication closing
//! the connection, KIP-368 session lifetimes; and the ACL scenario of the issue.

use fjord_broker::security::scram::{salted_password, ScramHash};
use fjord_tests::security::*;
use fjord_tests::*;
use kafka_protocol::messages::alter_user_scram_credentials_request::ScramCredentialUpsertion;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::Duration;

const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-pw" user_admin="admin-pw" user_alice="alice-pw";"#;

fn sasl_plain_broker(extra: &[(&str, &str)]) -> Broker {
    let mut settings = vec![
        ("listeners", "SASL_PLAINTEXT://127.0.0.1:0"),
        ("sasl.enabled.mechanisms", "PLAIN"),
        ("sasl.jaas.config", JAAS),
    ];
    settings.extend_from_slice(extra);
    Broker::start_with(&settings)
}

/// A broker with a SASL_SSL listener (a `server` certificate issued by `pki`'s `main` CA) and
/// the JAAS users; `extra` adds settings (`sasl.enabled.mechanisms` at least).
fn sasl_ssl_broker(pki: &Pki, extra: &[(&str, &str)]) -> Broker {
    pki.issue("main", "server", "/CN=localhost", true);
    let keystore = pki.s("server-keystore.pem");
    let mut settings = vec![
        ("listeners", "SASL_SSL://127.0.0.1:0"),
        ("ssl.keystore.location", keystore.as_str()),
        ("sasl.jaas.config", JAAS),
    ];
    settings.extend_from_slice(extra);
    Broker::start_with(&settings)
}

fn plain_client(user: &str, password: &str) -> Vec<String> {
    x_args(&[
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanisms", "PLAIN"),
        ("sasl.username", user),
        ("sasl.password", password),
    ])
}

fn with<'a>(base: &'a [&'a str], extra: &'a [String]) -> Vec<&'a str> {
    base.iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect()
}

fn produce(b: &str, topic: &str, x: &[String], lines: &str) -> std::process::Output {
    kcat_output(
        &with(
            &[
                "-b",
                b,
                "-P",
                "-t",
                topic,
                "-m",
                "20",
                "-X",
                "message.timeout.ms=10000",
            ],
            x,
        ),
        Some(lines),
    )
}

fn consume(b: &str, topic: &str, x: &[String]) -> std::process::Output {
    kcat_output(
        &with(
            &[
                "-b",
                b,
                "-C",
                "-t",
                topic,
                "-o",
                "beginning",
                "-e",
                "-m",
                "20",
            ],
            x,
        ),
        None,
    )
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn sasl_plain_authenticates_jaas_users_and_refuses_bad_credentials_with_a_log_line() {
    let broker = sasl_plain_broker(&[]);
    let b = broker.bootstrap.as_str();
    let alice = plain_client("alice", "alice-pw");
    let out = produce(b, "plain-topic", &alice, "a\nb\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = consume(b, "plain-topic", &alice);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a\nb\n",
        "{}",
        stderr(&out)
    );

    for (user, pw) in [("alice", "wrong"), ("nobody", "x")] {
        let out = kcat_output(
            &with(&["-b", b, "-L", "-m", "5"], &plain_client(user, pw)),
            None,
        );
        assert!(!out.status.success(), "{user} was let in");
        assert!(
            stderr(&out).contains("Authentication failed"),
            "{user}: {}",
            stderr(&out)
        );
    }
    wait_until(Duration::from_secs(30), "failures logged", || {
        let log = broker.log();
        log.contains("SASL authentication failed")
            && log.contains("wrong password for user alice")
            && log.contains("unknown user nobody")
            && log.contains("peer=127.0.0.1:")
    });

    // Anything but ApiVersions/SaslHandshake before authentication closes the connection.
    let mut raw = RawConn::connect(b);
    raw.send_request(ApiKey::Metadata, 4, &MetadataRequest::default());
    assert!(raw.closed_within(Duration::from_secs(30)).is_ok());
    // ApiVersions is answered and lists the SASL APIs.
    let mut raw = RawConn::connect(b);
    let v: ApiVersionsResponse =
        raw.request(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert!(v
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::SaslHandshake as i16));
    assert!(v
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::SaslAuthenticate as i16));

    // The broker still serves alice.
    let out = consume(b, "plain-topic", &alice);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_expired_sasl_session_is_closed_at_its_next_request() {
    let broker = sasl_plain_broker(&[("connections.max.reauth.ms", "2000")]);
    let mut c = SecureConn::connect(&broker.bootstrap, None).unwrap();
    let auth = c.sasl_plain("alice", "alice-pw");
    assert_eq!(auth.error_code, 0);
    assert_eq!(auth.session_lifetime_ms, 2000);
    // Requests are served until the session expires, then the connection is closed.
    let mut served = 0;
    wait_until(
        Duration::from_secs(30),
        "the expired session closed",
        || {
            let r: std::io::Result<MetadataResponse> =
                c.try_request(ApiKey::Metadata, 4, &MetadataRequest::default());
            match r {
                Ok(_) => {
                    served += 1;
                    false
                }
                Err(_) => true,
            }
        },
    );
    assert!(served > 0);
    wait_until(Duration::from_secs(30), "the expiry logged", || {
        broker.log().contains("SASL session expired")
    });
}

#[test]
fn sasl_ssl_scram_sha_512_users_produce_consume_and_join_groups() {
    let pki = Pki::new("main");
    let broker = sasl_ssl_broker(&pki, &[("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512")]);
    let b = broker.bootstrap.as_str();
    let ca = pki.path("main-ca.pem");
    // The admin (a PLAIN user) creates a SCRAM-SHA-512 credential for carol.
    let mut admin = SecureConn::connect(
        b,
        Some(&TlsClient {
            ca: &ca,
            cert: None,
        }),
    )
    .unwrap();
    assert_eq!(admin.sasl_plain("admin", "admin-pw").error_code, 0);
    let salt = b"carol-salt-0123456789".to_vec();
    let salted = salted_password(ScramHash::Sha512, "carol-pw", &salt, 4096);
    let resp: AlterUserScramCredentialsResponse = admin.request(
        ApiKey::AlterUserScramCredentials,
        0,
        &AlterUserScramCredentialsRequest::default().with_upsertions(vec![
            ScramCredentialUpsertion::default()
                .with_name(StrBytes::from_static_str("carol"))
                .with_mechanism(2)
                .with_iterations(4096)
                .with_salt(salt.into())
                .with_salted_password(salted.into()),
        ]),
    );
    assert_eq!(resp.results[0].error_code, 0, "{:?}", resp.results[0]);
    let described: DescribeUserScramCredentialsResponse = admin.request(
        ApiKey::DescribeUserScramCredentials,
        0,
        &DescribeUserScramCredentialsRequest::default(),
    );
    assert_eq!(described.results.len(), 1);
    assert_eq!(described.results[0].user.as_str(), "carol");
    assert_eq!(described.results[0].credential_infos[0].iterations, 4096);

    let ca_s = ca.display().to_string();
    let carol = |pw: &str| {
        x_args(&[
            ("security.protocol", "sasl_ssl"),
            ("ssl.ca.location", &ca_s),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "carol"),
            ("sasl.password", pw),
        ])
    };
    let x = carol("carol-pw");
    let out = produce(b, "scram-topic", &x, "s1\ns2\ns3\n");
    assert!(out.status.success(), "{}", stderr(&out));
    // A consumer group over SASL_SSL: join, sync, fetch, commit.
    let out = kcat_output(
        &with(
            &[
                "-b",
                b,
                "-G",
                "scram-group",
                "-o",
                "beginning",
                "-e",
                "scram-topic",
            ],
            &x,
        ),
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "s1\ns2\ns3\n",
        "{}",
        stderr(&out)
    );
    let wrong = kcat_output(&with(&["-b", b, "-L", "-m", "5"], &carol("nope")), None);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("Authentication failed"),
        "{}",
        stderr(&wrong)
    );
    wait_until(Duration::from_secs(30), "the failure logged", || {
        broker.log().contains("SCRAM-SHA-512") && broker.log().contains("invalid credentials")
    });
}

fn acl(rt: i8, name: &str, pattern: i8, who: &str, op: i8, perm: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(rt)
        .with_resource_name(StrBytes::from_string(name.into()))
        .with_resource_pattern_type(pattern)
        .with_principal(StrBytes::from_string(who.into()))
        .with_host(StrBytes::from_static_str("*"))
        .with_operation(op)
        .with_permission_type(perm)
}

#[test]
fn acls_read_on_a_prefix_deny_wins_super_users_bypass_and_metadata_hides_topics() {
    let broker = sasl_plain_broker(&[
        (
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        ),
        ("super.users", "User:admin"),
    ]);
    let b = broker.bootstrap.as_str();
    let admin = plain_client("admin", "admin-pw");
    let alice = plain_client("alice", "alice-pw");
    // The super user needs no ACL.
    for t in ["app-orders", "billing"] {
        let out = produce(b, t, &admin, "m1\nm2\n");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let mut c = SecureConn::connect(b, None).unwrap();
    assert_eq!(c.sasl_plain("admin", "admin-pw").error_code, 0);
    // READ on topics prefixed app- and groups prefixed app-.
    let created: CreateAclsResponse = c.request(
        ApiKey::CreateAcls,
        2,
        &CreateAclsRequest::default().with_creations(vec![
            acl(2, "app-", 4, "User:alice", 3, 3),
            acl(3, "app-", 4, "User:alice", 3, 3),
        ]),
    );
    assert!(
        created.results.iter().all(|r| r.error_code == 0),
        "{created:?}"
    );
    let described: DescribeAclsResponse = c.request(
        ApiKey::DescribeAcls,
        2,
        &DescribeAclsRequest::default()
            .with_resource_name_filter(None)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
    );
    assert_eq!(described.resources.len(), 2, "{described:?}");

    // alice consumes app-orders in group app-consumers.
    let out = kcat_output(
        &with(
            &[
                "-b",
                b,
                "-G",
                "app-consumers",
                "-o",
                "beginning",
                "-e",
                "app-orders",
            ],
            &alice,
        ),
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "m1\nm2\n",
        "{}",
        stderr(&out)
    );
    // ... but not billing, and she cannot produce.
    let out = consume(b, "billing", &alice);
    assert!(
        !out.status.success() || out.stdout.is_empty(),
        "alice read billing"
    );
    assert!(stderr(&out).contains("uthoriz"), "{}", stderr(&out));
    let out = produce(b, "app-orders", &alice, "nope\n");
    assert!(stderr(&out).contains("uthoriz"), "{}", stderr(&out));
    // Metadata hides billing from alice but lists app-orders.
    let md = kcat_ok(&with(&["-b", b, "-L", "-J", "-m", "10"], &alice), None);
    assert!(md.contains("\"app-orders\""), "{md}");
    assert!(!md.contains("\"billing\""), "{md}");
    // She cannot delete app-orders.
    let mut a = SecureConn::connect(b, None).unwrap();
    assert_eq!(a.sasl_plain("alice", "alice-pw").error_code, 0);
    let del: DeleteTopicsResponse = a.request(
        ApiKey::DeleteTopics,
        4,
        &DeleteTopicsRequest::default()
            .with_topic_names(vec![TopicName(StrBytes::from_static_str("app-orders"))]),
    );
    assert_eq!(
        del.responses[0].error_code,
        kafka_protocol::error::ResponseError::TopicAuthorizationFailed.code()
    );
    // She may not manage ACLs either.
    let denied: CreateAclsResponse = a.request(
        ApiKey::CreateAcls,
        2,
        &CreateAclsRequest::default().with_creations(vec![acl(2, "*", 3, "User:alice", 2, 3)]),
    );
    assert_eq!(
        denied.results[0].error_code,
        kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code()
    );
    admin_apis_are_checked_too(&mut a, &mut c);

    // DENY beats ALLOW: a DENY READ on app-orders takes her access away.
    let created: CreateAclsResponse = c.request(
        ApiKey::CreateAcls,
        2,
        &CreateAclsRequest::default().with_creations(vec![acl(
            2,
            "app-orders",
            3,
            "User:alice",
            3,
            2,
        )]),
    );
    assert_eq!(created.results[0].error_code, 0);
    let out = consume(b, "app-orders", &alice);
    assert!(stderr(&out).contains("uthoriz"), "{}", stderr(&out));
    // Deleting the DENY gives it back.
    let deleted: DeleteAclsResponse = c.request(
        ApiKey::DeleteAcls,
        2,
        &DeleteAclsRequest::default().with_filters(vec![
            kafka_protocol::messages::delete_acls_request::DeleteAclsFilter::default()
                .with_resource_type_filter(2)
                .with_resource_name_filter(Some(StrBytes::from_static_str("app-orders")))
                .with_pattern_type_filter(3)
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_operation(1)
                .with_permission_type(2),
        ]),
    );
    assert_eq!(deleted.filter_results[0].matching_acls.len(), 1);
    let out = consume(b, "app-orders", &alice);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "m1\nm2\n",
        "{}",
        stderr(&out)
    );
}

/// The admin, group and cluster APIs check ACLs as Kafka does: alice (READ on `app-` topics
/// and groups) may not read or change configs, delete records, describe other groups or the
/// cluster; the super user may.
fn admin_apis_are_checked_too(alice: &mut SecureConn, admin: &mut SecureConn) {
    use kafka_protocol::error::ResponseError::{
        ClusterAuthorizationFailed, GroupAuthorizationFailed, TopicAuthorizationFailed,
    };
    let describe = |resource_type: i8, name: &'static str| {
        DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_static_str(name))
                .with_configuration_keys(None),
        ])
    };
    let r: DescribeConfigsResponse =
        alice.request(ApiKey::DescribeConfigs, 4, &describe(2, "billing"));
    assert_eq!(
        r.results[0].error_code,
        TopicAuthorizationFailed.code(),
        "{r:?}"
    );
    let r: DescribeConfigsResponse =
        admin.request(ApiKey::DescribeConfigs, 4, &describe(2, "billing"));
    assert_eq!(r.results[0].error_code, 0, "{r:?}");

    let alter = |resource_type: i8, name: &'static str| {
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_static_str(name))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(StrBytes::from_static_str("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(StrBytes::from_static_str("1000"))),
                ]),
        ])
    };
    let r: IncrementalAlterConfigsResponse =
        alice.request(ApiKey::IncrementalAlterConfigs, 1, &alter(2, "app-orders"));
    assert_eq!(
        r.responses[0].error_code,
        TopicAuthorizationFailed.code(),
        "{r:?}"
    );
    let r: IncrementalAlterConfigsResponse =
        alice.request(ApiKey::IncrementalAlterConfigs, 1, &alter(4, ""));
    assert_eq!(
        r.responses[0].error_code,
        ClusterAuthorizationFailed.code(),
        "{r:?}"
    );

    let r: DeleteRecordsResponse = alice.request(
        ApiKey::DeleteRecords,
        2,
        &DeleteRecordsRequest::default().with_topics(vec![
            delete_records_request::DeleteRecordsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("app-orders")))
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(1),
                ]),
        ]),
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        TopicAuthorizationFailed.code(),
        "{r:?}"
    );

    let r: DescribeGroupsResponse = alice.request(
        ApiKey::DescribeGroups,
        5,
        &DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_static_str("ops-group"))]),
    );
    assert_eq!(
        r.groups[0].error_code,
        GroupAuthorizationFailed.code(),
        "{r:?}"
    );
    // Anyone describes the cluster, as in Kafka; without DESCRIBE on it the authorized
    // operations asked for are none.
    let r: DescribeClusterResponse = alice.request(
        ApiKey::DescribeCluster,
        0,
        &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
    );
    assert_eq!(
        (
            r.error_code,
            r.cluster_authorized_operations,
            r.brokers.len()
        ),
        (0, 0, 1),
        "{r:?}"
    );
    let r: DescribeClusterResponse = admin.request(
        ApiKey::DescribeCluster,
        0,
        &DescribeClusterRequest::default(),
    );
    assert_eq!(r.error_code, 0, "{r:?}");

    offset_fetch_names_undescribable_topics_only_when_asked(alice, admin);
    authorized_operations_are_the_principals(alice, admin);

    // OffsetForLeaderEpoch: DESCRIBE on the topic (implied by READ), or CLUSTER_ACTION.
    let epochs = |topic: &'static str| {
        OffsetForLeaderEpochRequest::default().with_topics(vec![
            offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str(topic)))
                .with_partitions(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                        .with_current_leader_epoch(-1)
                        .with_leader_epoch(0),
                ]),
        ])
    };
    let error = |who: &mut SecureConn, topic: &'static str| {
        let r: OffsetForLeaderEpochResponse =
            who.request(ApiKey::OffsetForLeaderEpoch, 4, &epochs(topic));
        r.topics[0].partitions[0].error_code
    };
    assert_eq!(error(alice, "billing"), TopicAuthorizationFailed.code());
    assert_eq!(error(alice, "app-orders"), 0);
    assert_eq!(error(admin, "billing"), 0);
}

/// A Fetch of many MiB over SASL_SSL is streamed from the log through the TLS stream: the
/// records arrive byte for byte as produced (flexible v12 and older v11 encodings), also after
/// the client re-authenticated on the same connection (KIP-368), while the broker holds at
/// most a small chunk of them in memory at once.
#[test]
fn a_large_fetch_over_sasl_ssl_is_streamed_intact_before_and_after_reauthentication() {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let pki = Pki::new("main");
    let broker = sasl_ssl_broker(
        &pki,
        &[
            ("sasl.enabled.mechanisms", "PLAIN"),
            ("connections.max.reauth.ms", "600000"),
        ],
    );
    let ca = pki.path("main-ca.pem");
    let tls = TlsClient {
        ca: &ca,
        cert: None,
    };
    let mut c = SecureConn::connect(&broker.bootstrap, Some(&tls)).unwrap();
    assert_eq!(c.sasl_plain("alice", "alice-pw").error_code, 0);
    let topic = TopicName(StrBytes::from_static_str("tls-stream"));
    let created: CreateTopicsResponse = c.request(
        ApiKey::CreateTopics,
        5,
        &CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic.clone())
                .with_num_partitions(1)
                .with_replication_factor(1)]),
    );
    assert_eq!(created.topics[0].error_code, 0, "{:?}", created.topics[0]);
    let sent: Vec<bytes::Bytes> = (0..24).map(|_| big_batch(512 * 1024)).collect();
    for b in &sent {
        let resp: ProduceResponse = c.request(
            ApiKey::Produce,
            9,
            &ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic.clone())
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(b.clone()))])]),
        );
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    }
    let fetch = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(32 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic.clone())
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(32 << 20)])]);
    let fetch_all = |c: &mut SecureConn, version: i16, what: &str| {
        let resp: FetchResponse = c.request(ApiKey::Fetch, version, &fetch);
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "{what}");
        let got = p.records.clone().unwrap_or_default();
        assert_fetched_as_produced(&got, &sent, what);
    };
    fetch_all(&mut c, 12, "v12 over SASL_SSL");
    fetch_all(&mut c, 11, "v11 over SASL_SSL");
    // KIP-368: the client re-authenticates on the same connection, then fetches again.
    assert_eq!(c.sasl_plain("alice", "alice-pw").error_code, 0);
    fetch_all(&mut c, 12, "v12 after re-authentication");
    let peak = gauge(&broker.metrics_addr, "fjord_response_buffer_bytes_max");
    assert!(
        peak > 0.0 && peak < (2 << 20) as f64,
        "response bytes held at once peaked at {peak}; each fetch returned 12 MiB"
    );
}

/// OffsetFetch as Kafka's `fetchOffsetsForGroup`/`fetchAllOffsetsForGroup`: a topic named in
/// the request that alice may not describe is answered TOPIC_AUTHORIZATION_FAILED (offset -1),
/// in every encoding; asked for all topics, it is left out. alice READs `app-consumers`.
fn offset_fetch_names_undescribable_topics_only_when_asked(
    alice: &mut SecureConn,
    admin: &mut SecureConn,
) {
    use kafka_protocol::error::ResponseError::TopicAuthorizationFailed;
    let group = || GroupId(StrBytes::from_static_str("app-consumers"));
    let name = |t: &'static str| TopicName(StrBytes::from_static_str(t));
    let commit: OffsetCommitResponse = admin.request(
        ApiKey::OffsetCommit,
        8,
        &OffsetCommitRequest::default()
            .with_group_id(group())
            .with_generation_id_or_member_epoch(-1)
            .with_topics(
                ["billing", "app-orders"]
                    .into_iter()
                    .map(|t| {
                        offset_commit_request::OffsetCommitRequestTopic::default()
                            .with_name(name(t))
                            .with_partitions(vec![
                                offset_commit_request::OffsetCommitRequestPartition::default()
                                    .with_partition_index(0)
                                    .with_committed_offset(1),
                            ])
                    })
                    .collect(),
            ),
    );
    let codes: Vec<i16> = commit
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect();
    assert_eq!(codes, [0, 0], "{commit:?}");

    // (topic, committed offset, error code) per partition of a response.
    type Answer = Vec<(String, i64, i16)>;
    let named = |t: &'static str| {
        offset_fetch_request::OffsetFetchRequestTopic::default()
            .with_name(name(t))
            .with_partition_indexes(vec![0])
    };
    let v7 = |who: &mut SecureConn, topics| -> Answer {
        let r: OffsetFetchResponse = who.request(
            ApiKey::OffsetFetch,
            7,
            &OffsetFetchRequest::default()
                .with_group_id(group())
                .with_topics(topics),
        );
        assert_eq!(r.error_code, 0, "{r:?}");
        let parts = r.topics.iter().flat_map(|t| {
            (t.partitions.iter()).map(|p| (t.name.to_string(), p.committed_offset, p.error_code))
        });
        parts.collect()
    };
    let denied = TopicAuthorizationFailed.code();
    assert_eq!(
        v7(alice, Some(vec![named("billing"), named("app-orders")])),
        [
            ("app-orders".to_string(), 1, 0),
            ("billing".to_string(), -1, denied)
        ]
    );
    assert_eq!(v7(alice, None), [("app-orders".to_string(), 1, 0)]);
    let all = v7(admin, None);
    assert!(all.contains(&("billing".to_string(), 1, 0)), "{all:?}");

    let r: OffsetFetchResponse = alice.request(
        ApiKey::OffsetFetch,
        8,
        &OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(group())
                .with_topics(Some(vec![
                    offset_fetch_request::OffsetFetchRequestTopics::default()
                        .with_name(name("billing"))
                        .with_partition_indexes(vec![0]),
                ])),
        ]),
    );
    let g = &r.groups[0];
    assert_eq!(g.error_code, 0, "{r:?}");
    let p = &g.topics[0].partitions[0];
    assert_eq!((p.committed_offset, p.error_code), (-1, denied), "{r:?}");
}

/// Kafka's authorized operations (AuthHelper.authorizedOperations) are computed from the
/// principal's ACLs: alice's READ on `app-` topics and groups gives READ and the DESCRIBE it
/// implies; the super user gets every operation the resource supports.
fn authorized_operations_are_the_principals(alice: &mut SecureConn, admin: &mut SecureConn) {
    let bits = |ops: &[i32]| ops.iter().fold(0, |acc, op| acc | (1 << op));
    let (read, write, create, delete, alter, describe) = (3, 4, 5, 6, 7, 8);
    let (cluster_action, describe_configs, alter_configs, idempotent_write) = (9, 10, 11, 12);
    let read_describe = bits(&[read, describe]);

    let groups = |who: &mut SecureConn| {
        let r: DescribeGroupsResponse = who.request(
            ApiKey::DescribeGroups,
            5,
            &DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(StrBytes::from_static_str("app-consumers"))])
                .with_include_authorized_operations(true),
        );
        assert_eq!(r.groups[0].error_code, 0, "{r:?}");
        r.groups[0].authorized_operations
    };
    assert_eq!(groups(alice), read_describe);
    assert_eq!(groups(admin), bits(&[read, delete, describe]));

    let topic = |who: &mut SecureConn| {
        let r: MetadataResponse = who.request(
            ApiKey::Metadata,
            10,
            &MetadataRequest::default()
                .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
                )
                .with_name(Some(TopicName(StrBytes::from_static_str("app-orders"))))]))
                .with_include_topic_authorized_operations(true),
        );
        assert_eq!(r.topics[0].error_code, 0, "{r:?}");
        r.topics[0].topic_authorized_operations
    };
    assert_eq!(topic(alice), read_describe);
    let all_topic_ops = [
        read,
        write,
        create,
        delete,
        alter,
        describe,
        describe_configs,
        alter_configs,
    ];
    assert_eq!(topic(admin), bits(&all_topic_ops));

    let r: DescribeClusterResponse = admin.request(
        ApiKey::DescribeCluster,
        0,
        &DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
    );
    let all_cluster_ops = [
        create,
        alter,
        describe,
        cluster_action,
        describe_configs,
        alter_configs,
        idempotent_write,
    ];
    assert_eq!(r.cluster_authorized_operations, bits(&all_cluster_ops));
}
