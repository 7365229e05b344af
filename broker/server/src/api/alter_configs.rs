//! AlterConfigs (key 33): replace a topic's whole set of config overrides.
//! Broker configuration is static (properties file, environment, flags).

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
        let outcome = match alter_resource(r.resource_type, &r.resource_name) {
            Err(e) => Err(e),
            Ok(()) => {
                let configs: BTreeMap<String, String> = r
                    .configs
                    .iter()
                    .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                    .collect();
                ctx.broker
                    .set_topic_configs(&r.resource_name, configs, req.validate_only)
                    .await
                    .map_err(|e| (e.code, e.message))
            }
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

/// Whether one config resource may be altered: a topic (never an internal one); broker
/// configuration is static, and other resource types are not served. Shared with
/// IncrementalAlterConfigs.
pub(super) fn alter_resource(
    resource_type: i8,
    resource_name: &str,
) -> Result<(), (ResponseError, String)> {
    match resource_type {
        TOPIC if crate::topics::is_internal(resource_name) => {
            let e = crate::topics::internal_topic_error(resource_name, "reconfigure");
            Err((e.code, e.message))
        }
        TOPIC => Ok(()),
        BROKER => Err((
            ResponseError::InvalidRequest,
            "broker configuration is static: set it in the properties file, FJORD_* variables or --set".to_string(),
        )),
        t => Err((ResponseError::InvalidRequest, format!("resource type {t} is not supported"))),
    }
}
