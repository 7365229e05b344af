//! DescribeConfigs (key 32): broker and topic configs with sources, synonyms,
//! read-only and sensitive flags, types and documentation.

use super::str_bytes;
use crate::config::{dynamic, KEYS};
use crate::router::RequestContext;
use crate::topic_config::{self, Source};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

pub const MIN_VERSION: i16 = 1;
pub const MAX_VERSION: i16 = 4;

pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;

pub async fn handle(
    ctx: &RequestContext,
    req: DescribeConfigsRequest,
) -> Option<DescribeConfigsResponse> {
    let authz = crate::security::authorizer::Authz::new(ctx);
    let results = req
        .resources
        .iter()
        .map(|r| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            if let Some(code) = authz.config_resource(
                crate::security::acl::op::DESCRIBE_CONFIGS,
                r.resource_type,
                &r.resource_name,
            ) {
                return result.with_error_code(code.code());
            }
            let wanted = |name: &str| {
                r.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|k| &**k == name))
            };
            match r.resource_type {
                TOPIC => topic(ctx, &req, &r.resource_name, result, &wanted),
                BROKER => broker(ctx, &req, &r.resource_name, result, &wanted),
                _ => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(format!(
                        "resource type {} is not supported",
                        r.resource_type
                    )))),
            }
        })
        .collect();
    Some(DescribeConfigsResponse::default().with_results(results))
}

fn topic(
    ctx: &RequestContext,
    req: &DescribeConfigsRequest,
    name: &StrBytes,
    result: DescribeConfigsResult,
    wanted: &dyn Fn(&str) -> bool,
) -> DescribeConfigsResult {
    let image = ctx.broker.image();
    let Some(t) = image.topic(name) else {
        return result
            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
            .with_error_message(Some(str_bytes(format!("topic `{name}` does not exist"))));
    };
    let cfg = &*ctx.broker.live_config();
    let configs = topic_config::effective(cfg, &t.configs)
        .into_iter()
        .filter(|(k, _, _)| wanted(k.name))
        .map(|(k, value, source)| {
            let mut e = entry(
                ctx,
                k.name,
                value,
                source as i8,
                false,
                k.kind as i8,
                k.doc,
                req.include_documentation,
            );
            if req.include_synonyms {
                let mut syn = Vec::new();
                if let Some(v) = t.configs.get(k.name) {
                    syn.push(synonym(k.name, v, Source::DynamicTopic));
                }
                if let Some(bk) = k.broker_key {
                    for (v, source) in cfg.levels_of(bk) {
                        syn.push(synonym(bk, &v, source));
                    }
                } else {
                    syn.push(synonym(k.name, k.fixed_default, Source::Default));
                }
                e = e.with_synonyms(syn);
            }
            e
        })
        .collect();
    result.with_configs(configs)
}

fn broker(
    ctx: &RequestContext,
    req: &DescribeConfigsRequest,
    name: &StrBytes,
    result: DescribeConfigsResult,
    wanted: &dyn Fn(&str) -> bool,
) -> DescribeConfigsResult {
    let cfg = ctx.broker.live_config();
    // The resource named "" is the cluster-wide default: as in Kafka, only the dynamic
    // defaults that are set are listed.
    let cluster_default = name.is_empty();
    if !cluster_default && name.parse::<i32>().ok() != Some(cfg.node_id) {
        return result
            .with_error_code(ResponseError::InvalidRequest.code())
            .with_error_message(Some(str_bytes(format!(
                "broker `{name}` is not this broker ({})",
                cfg.node_id
            ))));
    }
    let configs = KEYS
        .iter()
        .filter(|k| wanted(k.name))
        .filter(|k| !cluster_default || cfg.dynamic_default.contains_key(k.name))
        .map(|k| {
            let (value, source) = if cluster_default {
                let v = cfg.dynamic_default.get(k.name).cloned();
                (v.unwrap_or_default(), Source::DynamicDefaultBroker)
            } else {
                let v = cfg.effective.get(k.name).cloned();
                (v.unwrap_or_default(), cfg.source_of(k.name))
            };
            let mut e = entry(
                ctx,
                k.name,
                value,
                source as i8,
                k.sensitive,
                2,
                k.doc,
                req.include_documentation,
            )
            .with_read_only(!dynamic::is_dynamic(k.name));
            if req.include_synonyms {
                let levels = cfg.levels_of(k.name).into_iter();
                let levels: Vec<_> = if cluster_default {
                    levels
                        .filter(|(_, s)| *s != Source::DynamicBroker)
                        .collect()
                } else {
                    levels.collect()
                };
                e = e.with_synonyms(levels.iter().map(|(v, s)| synonym(k.name, v, *s)).collect());
            }
            e
        })
        .collect();
    result.with_configs(configs)
}

#[allow(clippy::too_many_arguments)]
fn entry(
    ctx: &RequestContext,
    name: &str,
    value: String,
    source: i8,
    sensitive: bool,
    kind: i8,
    doc: &str,
    with_doc: bool,
) -> DescribeConfigsResourceResult {
    let mut e = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(name))
        .with_value(if sensitive {
            None
        } else {
            Some(str_bytes(value))
        })
        .with_config_source(source)
        .with_is_sensitive(sensitive);
    if ctx.version >= 3 {
        e = e.with_config_type(kind);
        if with_doc {
            e = e.with_documentation(Some(str_bytes(doc)));
        }
    }
    e
}

fn synonym(name: &str, value: &str, source: Source) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(str_bytes(name))
        .with_value(Some(str_bytes(value)))
        .with_source(source as i8)
}
