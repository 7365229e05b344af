//! An in-process stand-in broker that answers admin requests from an in-memory topic map.
//!
//! It exists to test the client's own logic (version negotiation, fallbacks, error mapping,
//! framing limits, timeouts) deterministically; behaviour against a real broker is tested with
//! the `fjord-broker` process in `broker.rs`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use fjord_client::kafka_protocol::messages::api_versions_response::ApiVersion;
use fjord_client::kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use fjord_client::kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use fjord_client::kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use fjord_client::kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use fjord_client::kafka_protocol::messages::*;
use fjord_client::kafka_protocol::protocol::{
    decode_request_header_from_buffer, Decodable, Encodable, Message, StrBytes,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the mock does beyond answering correctly.
#[derive(Debug, Clone, Default)]
pub enum Quirk {
    /// Answer everything normally.
    #[default]
    None,
    /// Reply to the first request after ApiVersions with a frame claiming this many bytes.
    HugeFrame(i32),
    /// Never answer anything after ApiVersions.
    Silent,
}

/// The API versions the mock advertises, and its state.
#[derive(Debug, Clone)]
pub struct MockBroker {
    pub advertised: Vec<(ApiKey, i16, i16)>,
    pub quirk: Quirk,
    pub topics: Arc<Mutex<BTreeMap<String, MockTopic>>>,
    /// Every (api key, version) the mock received, in order.
    pub seen: Arc<Mutex<Vec<(i16, i16)>>>,
}

#[derive(Debug, Clone)]
pub struct MockTopic {
    pub id: uuid::Uuid,
    pub replicas: Vec<Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

impl MockBroker {
    /// A broker that advertises every admin API at the versions this crate speaks.
    pub fn modern() -> MockBroker {
        MockBroker {
            advertised: vec![
                (ApiKey::ApiVersions, 0, ApiVersionsRequest::VERSIONS.max),
                (ApiKey::Metadata, 0, MetadataRequest::VERSIONS.max),
                (ApiKey::CreateTopics, 2, CreateTopicsRequest::VERSIONS.max),
                (ApiKey::DeleteTopics, 1, DeleteTopicsRequest::VERSIONS.max),
                (
                    ApiKey::CreatePartitions,
                    0,
                    CreatePartitionsRequest::VERSIONS.max,
                ),
                (
                    ApiKey::DescribeConfigs,
                    1,
                    DescribeConfigsRequest::VERSIONS.max,
                ),
                (ApiKey::IncrementalAlterConfigs, 0, 1),
                (
                    ApiKey::DescribeCluster,
                    0,
                    DescribeClusterRequest::VERSIONS.max,
                ),
            ],
            quirk: Quirk::None,
            topics: Arc::default(),
            seen: Arc::default(),
        }
    }

    pub fn seen(&self) -> Vec<(i16, i16)> {
        self.seen.lock().unwrap().clone()
    }

    /// Serves on 127.0.0.1:0 until the test ends; returns the address.
    pub async fn start(self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(self.clone().serve(stream));
            }
        });
        addr
    }

    async fn serve(self, mut stream: TcpStream) {
        loop {
            let Ok(len) = stream.read_i32().await else {
                return;
            };
            let mut frame = vec![0; len as usize];
            if stream.read_exact(&mut frame).await.is_err() {
                return;
            }
            let mut frame = Bytes::from(frame);
            let header = decode_request_header_from_buffer(&mut frame).unwrap();
            let key = ApiKey::try_from(header.request_api_key).unwrap();
            let version = header.request_api_version;
            self.seen
                .lock()
                .unwrap()
                .push((header.request_api_key, version));
            if key != ApiKey::ApiVersions {
                match self.quirk {
                    Quirk::None => {}
                    Quirk::HugeFrame(len) => {
                        let _ = stream.write_all(&len.to_be_bytes()).await;
                        continue;
                    }
                    Quirk::Silent => continue,
                }
            }
            let mut out = BytesMut::new();
            out.put_i32(0);
            let mut response_header = ResponseHeader::default();
            response_header.correlation_id = header.correlation_id;
            let served = self.advertised.iter().find(|(k, _, _)| *k == key);
            let in_range = served.is_some_and(|(_, min, max)| (*min..=*max).contains(&version));
            if key == ApiKey::ApiVersions && !in_range {
                // Kafka's answer to an ApiVersions version it does not serve: a v0 body.
                response_header.encode(&mut out, 0).unwrap();
                self.api_versions(35).encode(&mut out, 0).unwrap();
            } else {
                response_header
                    .encode(&mut out, key.response_header_version(version))
                    .unwrap();
                self.handle(key, version, frame, &mut out);
            }
            let len = (out.len() - 4) as i32;
            out[..4].copy_from_slice(&len.to_be_bytes());
            if stream.write_all(&out).await.is_err() {
                return;
            }
        }
    }

    fn api_versions(&self, error_code: i16) -> ApiVersionsResponse {
        ApiVersionsResponse::default()
            .with_error_code(error_code)
            .with_api_keys(
                self.advertised
                    .iter()
                    .map(|(k, min, max)| {
                        ApiVersion::default()
                            .with_api_key(*k as i16)
                            .with_min_version(*min)
                            .with_max_version(*max)
                    })
                    .collect(),
            )
    }

    fn handle(&self, key: ApiKey, version: i16, mut body: Bytes, out: &mut BytesMut) {
        match key {
            ApiKey::ApiVersions => {
                let req = ApiVersionsRequest::decode(&mut body, version).unwrap();
                if version >= 3 {
                    assert_eq!(req.client_software_name.as_str(), "fjord-client");
                }
                self.api_versions(0).encode(out, version).unwrap()
            }
            ApiKey::Metadata => {
                let req = MetadataRequest::decode(&mut body, version).unwrap();
                self.metadata(req).encode(out, version).unwrap()
            }
            ApiKey::DescribeCluster => {
                DescribeClusterRequest::decode(&mut body, version).unwrap();
                DescribeClusterResponse::default()
                    .with_cluster_id(StrBytes::from_static_str("mock-cluster"))
                    .with_controller_id(BrokerId(1))
                    .with_brokers(vec![
                        describe_cluster_response::DescribeClusterBroker::default()
                            .with_broker_id(BrokerId(1))
                            .with_host(StrBytes::from_static_str("mock"))
                            .with_port(9092)
                            .with_rack(Some(StrBytes::from_static_str("zone-a"))),
                    ])
                    .encode(out, version)
                    .unwrap()
            }
            ApiKey::CreateTopics => {
                let req = CreateTopicsRequest::decode(&mut body, version).unwrap();
                self.create_topics(req).encode(out, version).unwrap()
            }
            ApiKey::DeleteTopics => {
                let req = DeleteTopicsRequest::decode(&mut body, version).unwrap();
                self.delete_topics(req, version)
                    .encode(out, version)
                    .unwrap()
            }
            ApiKey::DescribeConfigs => {
                let req = DescribeConfigsRequest::decode(&mut body, version).unwrap();
                self.describe_configs(req).encode(out, version).unwrap()
            }
            other => panic!("mock broker does not handle {other:?}"),
        }
        assert!(!body.has_remaining(), "request had trailing bytes");
    }

    fn metadata(&self, req: MetadataRequest) -> MetadataResponse {
        let topics = self.topics.lock().unwrap();
        let names: Vec<String> = match req.topics {
            None => topics.keys().cloned().collect(),
            Some(list) => list
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
                .collect(),
        };
        let topics = names
            .into_iter()
            .map(|name| {
                let topic = MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
                match topics.get(&name) {
                    None => topic.with_error_code(3),
                    Some(t) => topic.with_topic_id(t.id).with_partitions(
                        t.replicas
                            .iter()
                            .zip(0..)
                            .map(|(r, p)| {
                                let ids: Vec<BrokerId> = r.iter().copied().map(BrokerId).collect();
                                MetadataResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_leader_id(ids[0])
                                    .with_replica_nodes(ids.clone())
                                    .with_isr_nodes(ids)
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        MetadataResponse::default()
            .with_cluster_id(Some(StrBytes::from_static_str("mock-cluster")))
            .with_controller_id(BrokerId(1))
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(BrokerId(1))
                .with_host(StrBytes::from_static_str("mock"))
                .with_port(9092)])
            .with_topics(topics)
    }

    fn create_topics(&self, req: CreateTopicsRequest) -> CreateTopicsResponse {
        let mut topics = self.topics.lock().unwrap();
        let results = req
            .topics
            .into_iter()
            .map(|t| {
                let name = t.name.to_string();
                let result = CreatableTopicResult::default().with_name(t.name.clone());
                if topics.contains_key(&name) {
                    return result.with_error_code(36).with_error_message(Some(
                        StrBytes::from_string(format!("Topic '{name}' already exists.")),
                    ));
                }
                let replicas: Vec<Vec<i32>> = if t.assignments.is_empty() {
                    assert!(t.num_partitions > 0 && t.replication_factor > 0);
                    (0..t.num_partitions).map(|_| vec![1]).collect()
                } else {
                    assert_eq!((t.num_partitions, t.replication_factor), (-1, -1));
                    t.assignments
                        .iter()
                        .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                        .collect()
                };
                let id = uuid::Uuid::from_u128(topics.len() as u128 + 1);
                if !req.validate_only {
                    let configs = t
                        .configs
                        .iter()
                        .map(|c| {
                            (
                                c.name.to_string(),
                                c.value.as_deref().unwrap_or("").to_owned(),
                            )
                        })
                        .collect();
                    topics.insert(
                        name,
                        MockTopic {
                            id,
                            replicas,
                            configs,
                        },
                    );
                }
                result.with_topic_id(if req.validate_only {
                    uuid::Uuid::nil()
                } else {
                    id
                })
            })
            .collect();
        CreateTopicsResponse::default().with_topics(results)
    }

    fn delete_topics(&self, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
        let names: Vec<String> = if version >= 6 {
            req.topics
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
                .collect()
        } else {
            req.topic_names.iter().map(|n| n.to_string()).collect()
        };
        let mut topics = self.topics.lock().unwrap();
        let responses = names
            .into_iter()
            .map(|name| {
                let code = if topics.remove(&name).is_some() { 0 } else { 3 };
                DeletableTopicResult::default()
                    .with_name(Some(TopicName(StrBytes::from_string(name))))
                    .with_error_code(code)
            })
            .collect();
        DeleteTopicsResponse::default().with_responses(responses)
    }

    fn describe_configs(&self, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
        let topics = self.topics.lock().unwrap();
        let results = req
            .resources
            .iter()
            .map(|r| {
                let result = DescribeConfigsResult::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone());
                let Some(topic) = topics.get(r.resource_name.as_str()) else {
                    return result.with_error_code(3);
                };
                let mut configs: Vec<DescribeConfigsResourceResult> = topic
                    .configs
                    .iter()
                    .map(|(k, v)| {
                        DescribeConfigsResourceResult::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_value(Some(StrBytes::from_string(v.clone())))
                            .with_config_source(1)
                    })
                    .collect();
                configs.push(
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_static_str("segment.bytes"))
                        .with_value(Some(StrBytes::from_static_str("1073741824")))
                        .with_config_source(5),
                );
                result.with_configs(configs)
            })
            .collect();
        DescribeConfigsResponse::default().with_results(results)
    }
}
