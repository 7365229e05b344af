//! AlterConfigs (key 33): replace a topic's whole set of config overrides, or a BROKER
//! resource's whole set of dynamic broker configs (see `config::dynamic`).

use super::describe_configs::{BROKER, TOPIC};
use super::str_bytes;
use crate::router::RequestContext;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use std::collections::BTreeMap;

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 2;

pub async fn handle(
    ctx: &RequestContext,
    req: AlterConfigsRequest,
) -> Option<AlterConfigsResponse> {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let resp = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        let configs: BTreeMap<String, String> = r
            .configs
            .iter()
            .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
            .collect();
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
            (None, Ok(Target::Topic)) => ctx
                .broker
                .set_topic_configs(&r.resource_name, configs, req.validate_only)
                .await
                .map_err(|e| (e.code, e.message)),
            (None, Ok(Target::Broker(broker))) => ctx
                .broker
                .set_broker_configs(broker, configs, req.validate_only)
                .await
                .map_err(|e| (e.code, e.message)),
        };
        responses.push(match outcome {
            Ok(()) => resp,
            Err((code, message)) => resp
                .with_error_code(code.code())
                .with_error_message(Some(str_bytes(message))),
        });
    }
    Some(AlterConfigsResponse::default().with_responses(responses))
}

/// What a config resource names.
pub(super) enum Target {
    Topic,
    /// The dynamic configs of a broker: `None` for the cluster-wide default (resource
    /// name ""), else the node id the name gives.
    Broker(Option<i32>),
}

/// Whether one config resource may be altered, and what it is: a topic (never an
/// internal one) or a broker resource (dynamic broker configs); other resource types are
/// not served. Shared with IncrementalAlterConfigs.
pub(super) fn alter_resource(
    resource_type: i8,
    resource_name: &str,
) -> Result<Target, (ResponseError, String)> {
    match resource_type {
        TOPIC if crate::topics::is_internal(resource_name) => {
            let e = crate::topics::internal_topic_error(resource_name, "reconfigure");
            Err((e.code, e.message))
        }
        TOPIC => Ok(Target::Topic),
        BROKER if resource_name.is_empty() => Ok(Target::Broker(None)),
        BROKER => match resource_name.parse::<i32>() {
            Ok(id) if id >= 0 => Ok(Target::Broker(Some(id))),
            _ => Err((
                ResponseError::InvalidRequest,
                format!("broker resource name `{resource_name}` is neither \"\" (the cluster-wide default) nor a node id"),
            )),
        },
        t => Err((ResponseError::InvalidRequest, format!("resource type {t} is not supported"))),
    }
}
