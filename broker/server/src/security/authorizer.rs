//! The authorizer as request handlers use it: one [`Authz`] per request holds the ACLs of
//! the current metadata image, the principal and the client's host. With no
//! `authorizer.class.name` every check passes, as in Kafka without an authorizer.

use super::acl::{self, op, resource, Policy};
use crate::router::RequestContext;
use fjord_metadata::MetadataImage;
use std::sync::Arc;

/// The operations Kafka's `AclEntry.supportedOperations` lists for a topic: READ, WRITE,
/// CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS, as a bit per code.
pub const TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);
/// A group's: READ, DELETE, DESCRIBE (Fjord has no group configs, so not DESCRIBE_CONFIGS or
/// ALTER_CONFIGS, which Kafka 4 adds for them).
pub const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);
/// The cluster's: CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
/// IDEMPOTENT_WRITE.
pub const CLUSTER_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub struct Authz<'a> {
    ctx: &'a RequestContext,
    image: Option<Arc<MetadataImage>>,
    host: String,
}

impl<'a> Authz<'a> {
    pub fn new(ctx: &'a RequestContext) -> Authz<'a> {
        let image = ctx
            .broker
            .config
            .security
            .authorizer
            .then(|| ctx.broker.image());
        Authz {
            ctx,
            image,
            host: ctx.peer.ip().to_string(),
        }
    }

    /// Whether an authorizer is configured at all.
    pub fn enabled(&self) -> bool {
        self.image.is_some()
    }

    pub fn allowed(&self, operation: i8, resource_type: i8, name: &str) -> bool {
        let Some(image) = &self.image else {
            return true;
        };
        let sec = &self.ctx.broker.config.security;
        let policy = Policy {
            super_users: &sec.super_users,
            allow_everyone_if_no_acl: sec.allow_everyone_if_no_acl,
        };
        acl::authorize(
            &image.acls,
            &policy,
            &self.ctx.principal,
            &self.host,
            operation,
            resource_type,
            name,
        )
    }

    /// Kafka's authorized operations of a resource (AuthHelper.authorizedOperations): the
    /// bits of the operations it supports that this principal is allowed; all of them
    /// without an authorizer.
    pub fn operations(&self, resource_type: i8, name: &str) -> i32 {
        let supported = match resource_type {
            resource::TOPIC => TOPIC_OPERATIONS,
            resource::GROUP => GROUP_OPERATIONS,
            resource::CLUSTER => CLUSTER_OPERATIONS,
            _ => 0,
        };
        (0..31)
            .filter(|b| supported & (1 << b) != 0 && self.allowed(*b as i8, resource_type, name))
            .fold(0, |acc, b| acc | (1 << b))
    }

    pub fn cluster_operations(&self) -> i32 {
        self.operations(resource::CLUSTER, resource::CLUSTER_NAME)
    }

    pub fn topic(&self, operation: i8, name: &str) -> bool {
        self.allowed(operation, resource::TOPIC, name)
    }

    pub fn group(&self, operation: i8, name: &str) -> bool {
        self.allowed(operation, resource::GROUP, name)
    }

    /// The check for a config resource of DescribeConfigs / AlterConfigs /
    /// IncrementalAlterConfigs: `operation` on the topic, or on the cluster for a broker
    /// resource (Kafka's rule); `Some(error)` when refused. Other resource types are left to
    /// the handler, which refuses them.
    pub fn config_resource(
        &self,
        operation: i8,
        resource_type: i8,
        name: &str,
    ) -> Option<kafka_protocol::error::ResponseError> {
        use crate::api::describe_configs::{BROKER, TOPIC};
        use kafka_protocol::error::ResponseError;
        match resource_type {
            TOPIC if !self.topic(operation, name) => Some(ResponseError::TopicAuthorizationFailed),
            BROKER if !self.cluster(operation) => Some(ResponseError::ClusterAuthorizationFailed),
            _ => None,
        }
    }

    pub fn cluster(&self, operation: i8) -> bool {
        self.allowed(operation, resource::CLUSTER, resource::CLUSTER_NAME)
    }

    /// Kafka 3.x's idempotent producer check: IDEMPOTENT_WRITE on the cluster, or WRITE
    /// on any topic.
    pub fn idempotent_write(&self) -> bool {
        let Some(image) = &self.image else {
            return true;
        };
        if self.cluster(op::IDEMPOTENT_WRITE) {
            return true;
        }
        let sec = &self.ctx.broker.config.security;
        let policy = Policy {
            super_users: &sec.super_users,
            allow_everyone_if_no_acl: sec.allow_everyone_if_no_acl,
        };
        acl::authorize_any(
            &image.acls,
            &policy,
            &self.ctx.principal,
            &self.host,
            op::WRITE,
            resource::TOPIC,
        )
    }
}
