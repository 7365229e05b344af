//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on a topic's
//! config overrides or on a BROKER resource's dynamic configs (see `config::dynamic`).

use super::alter_configs::{alter_resource, Target};
use super::str_bytes;
use crate::router::RequestContext;
use crate::topic_config;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use std::collections::BTreeMap;

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 1;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub async fn handle(
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> Option<IncrementalAlterConfigsResponse> {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let resp = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        let refused = crate::security::authorizer::Authz::new(ctx).config_resource(
            crate::security::acl::op::ALTER_CONFIGS,
            r.resource_type,
            &r.resource_name,
        );
        let outcome = match (refused, alter_resource(r.resource_type, &r.resource_name)) {
            (Some(code), _) => Err((
                code,
                "not authorized to alter the configs of this resource".to_string(),
            )),
            (None, Err(e)) => Err(e),
            (None, Ok(Target::Topic)) => {
                alter_topic(ctx, &r.resource_name, &r.configs, req.validate_only).await
            }
            (None, Ok(Target::Broker(broker))) => {
                alter_broker(ctx, broker, &r.configs, req.validate_only).await
            }
        };
        responses.push(match outcome {
            Ok(()) => resp,
            Err((code, message)) => resp
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(message))),
        });
    }
    Some(IncrementalAlterConfigsResponse::default().with_responses(responses))
}

async fn alter_topic(
    ctx: &RequestContext,
    name: &str,
    ops: &[AlterableConfig],
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    let image = ctx.broker.image();
    let topic = image.topic(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition,
            format!("topic `{name}` does not exist"),
        )
    })?;
    let configs = apply_ops(topic.configs.clone(), ops, &|key| {
        let spec = topic_config::key(key).ok_or_else(|| {
            (
                ResponseError::InvalidConfig,
                format!("unknown topic config `{key}`"),
            )
        })?;
        Ok((
            matches!(spec.kind, topic_config::ConfigType::List),
            spec.fixed_default.to_string(),
        ))
    })?;
    ctx.broker
        .set_topic_configs(name, configs, validate_only)
        .await
        .map_err(|e| (e.code, e.message))
}

/// Broker keys holding comma-separated lists, which APPEND and SUBTRACT may change.
const BROKER_LIST_KEYS: &[&str] = &["log.cleanup.policy", "max.connections.per.ip.overrides"];

async fn alter_broker(
    ctx: &RequestContext,
    broker: Option<i32>,
    ops: &[AlterableConfig],
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    let image = ctx.broker.image();
    let current = image.broker_configs(broker).clone();
    let live = ctx.broker.live_config();
    let configs = apply_ops(current, ops, &|key| {
        // Unknown and read-only keys are refused, naming them, by the controller's check.
        let is_list = BROKER_LIST_KEYS.contains(&key);
        Ok((
            is_list,
            live.effective.get(key).cloned().unwrap_or_default(),
        ))
    })?;
    ctx.broker
        .set_broker_configs(broker, configs, validate_only)
        .await
        .map_err(|e| (e.code, e.message))
}

/// What an operation needs to know about a key: whether it is a list, and the value a
/// list operation starts from when the resource does not set the key.
type KeyInfo<'a> = dyn Fn(&str) -> Result<(bool, String), (ResponseError, String)> + 'a;

/// Applies SET, DELETE, APPEND and SUBTRACT to `configs`, Kafka's way.
fn apply_ops(
    mut configs: BTreeMap<String, String>,
    ops: &[AlterableConfig],
    info: &KeyInfo<'_>,
) -> Result<BTreeMap<String, String>, (ResponseError, String)> {
    let mut touched = std::collections::HashSet::new();
    for op in ops {
        let key = op.name.to_string();
        if !touched.insert(key.clone()) {
            return Err((
                ResponseError::InvalidRequest,
                format!("config `{key}` appears more than once"),
            ));
        }
        let (is_list, list_default) = info(&key)?;
        let value = op.value.as_ref().map(|v| v.to_string());
        match op.config_operation {
            SET => {
                let v = value.ok_or_else(|| {
                    (
                        ResponseError::InvalidRequest,
                        format!("SET of `{key}` needs a value"),
                    )
                })?;
                configs.insert(key, v);
            }
            DELETE => {
                configs.remove(&key);
            }
            APPEND | SUBTRACT => {
                if !is_list {
                    return Err((
                        ResponseError::InvalidConfig,
                        format!("`{key}` is not a list: APPEND and SUBTRACT do not apply"),
                    ));
                }
                let v = value.ok_or_else(|| {
                    (
                        ResponseError::InvalidRequest,
                        format!("operation on `{key}` needs a value"),
                    )
                })?;
                let current = configs.get(&key).cloned().unwrap_or(list_default);
                let mut items: Vec<String> = current
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if op.config_operation == APPEND {
                        if !items.iter().any(|i| i == item) {
                            items.push(item.to_string());
                        }
                    } else {
                        items.retain(|i| i != item);
                    }
                }
                configs.insert(key, items.join(","));
            }
            other => {
                return Err((
                    ResponseError::InvalidRequest,
                    format!("unknown config operation {other}"),
                ))
            }
        }
    }
    Ok(configs)
}
