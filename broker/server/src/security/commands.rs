//! SCRAM credential and ACL changes as commands to the active controller, and their
//! decision against its image (deterministic, no I/O), so every broker's image agrees.

use super::acl::{self, AclFilter};
use fjord_metadata::security::{AclBinding, ScramCredential};
use fjord_metadata::{MetadataImage, MetadataRecord};
use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};

/// One security change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum SecurityCommand {
    SetScram {
        user: String,
        mechanism: i8,
        credential: ScramCredential,
    },
    DeleteScram {
        user: String,
        mechanism: i8,
    },
    CreateAcl {
        acl: AclBinding,
    },
    /// Deletes every ACL the filter matches; the controller answers with them.
    DeleteAcls {
        filter: SerdeFilter,
    },
}

/// [`AclFilter`] as it travels to the controller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SerdeFilter {
    pub resource_type: i8,
    pub resource_name: Option<String>,
    pub pattern_type: i8,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: i8,
    pub permission: i8,
}

impl From<&SerdeFilter> for AclFilter {
    fn from(f: &SerdeFilter) -> AclFilter {
        AclFilter {
            resource_type: f.resource_type,
            resource_name: f.resource_name.clone(),
            pattern_type: f.pattern_type,
            principal: f.principal.clone(),
            host: f.host.clone(),
            operation: f.operation,
            permission: f.permission,
        }
    }
}

/// The records of a command, the ACLs it deleted, or a Kafka error and message.
pub fn decide(
    image: &MetadataImage,
    cmd: &SecurityCommand,
) -> Result<(Vec<MetadataRecord>, Vec<AclBinding>), (ResponseError, String)> {
    match cmd {
        SecurityCommand::SetScram {
            user,
            mechanism,
            credential,
        } => Ok((
            vec![MetadataRecord::ScramCredentialSet {
                user: user.clone(),
                mechanism: *mechanism,
                credential: credential.clone(),
            }],
            Vec::new(),
        )),
        SecurityCommand::DeleteScram { user, mechanism } => {
            if !image.scram.contains_key(&(user.clone(), *mechanism)) {
                return Err((
                    ResponseError::ResourceNotFound,
                    "Attempt to delete a user credential that does not exist".into(),
                ));
            }
            Ok((
                vec![MetadataRecord::ScramCredentialDeleted {
                    user: user.clone(),
                    mechanism: *mechanism,
                }],
                Vec::new(),
            ))
        }
        SecurityCommand::CreateAcl { acl: binding } => {
            acl::validate(binding).map_err(|m| (ResponseError::InvalidRequest, m))?;
            let records = if image.acls.contains(binding) {
                Vec::new()
            } else {
                vec![MetadataRecord::AclCreated {
                    acl: binding.clone(),
                }]
            };
            Ok((records, Vec::new()))
        }
        SecurityCommand::DeleteAcls { filter } => {
            let filter = AclFilter::from(filter);
            let gone: Vec<AclBinding> = image
                .acls
                .iter()
                .filter(|a| filter.matches(a))
                .cloned()
                .collect();
            let records = gone
                .iter()
                .map(|a| MetadataRecord::AclDeleted { acl: a.clone() })
                .collect();
            Ok((records, gone))
        }
    }
}
