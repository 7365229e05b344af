//! SCRAM credentials: DescribeUserScramCredentials and AlterUserScramCredentials (KIP-554).
//! Passwords are salted here, as Kafka's admin client does: only the salt and the salted
//! password cross the wire.

use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::{Message, StrBytes};

use super::{AdminClient, Retry};
use crate::security::scram::{random_bytes, ScramHash};
use crate::ClientError;

/// A user's SCRAM credentials (never the secrets: the mechanism and iteration count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserScramCredentials {
    /// The user name.
    pub user: String,
    /// `(mechanism, iterations)` per credential.
    pub credentials: Vec<(ScramHash, i32)>,
}

/// What to change about one user's credential.
#[derive(Debug, Clone)]
pub enum ScramAlteration {
    /// Set (create or replace) the credential for `hash` from `password`.
    Upsert {
        user: String,
        hash: ScramHash,
        password: String,
        iterations: i32,
    },
    /// Remove the credential for `hash`.
    Delete { user: String, hash: ScramHash },
}

impl AdminClient {
    /// The credentials of `users`, or of every user with one when `users` is `None`. A named
    /// user without credentials is RESOURCE_NOT_FOUND.
    pub async fn describe_user_scram_credentials(
        &self,
        users: Option<&[String]>,
    ) -> Result<Vec<UserScramCredentials>, ClientError> {
        let names = users.map(|u| {
            u.iter()
                .map(|n| UserName::default().with_name(StrBytes::from_string(n.clone())))
                .collect::<Vec<_>>()
        });
        let (response, _) = self
            .call(
                DescribeUserScramCredentialsRequest::VERSIONS,
                Retry::Once,
                |_| DescribeUserScramCredentialsRequest::default().with_users(names.clone()),
            )
            .await?;
        ClientError::check(
            "DescribeUserScramCredentials",
            response.error_code,
            response.error_message.as_deref(),
        )?;
        let mut out = Vec::new();
        for r in &response.results {
            ClientError::check(
                "DescribeUserScramCredentials",
                r.error_code,
                r.error_message.as_deref(),
            )?;
            out.push(UserScramCredentials {
                user: r.user.to_string(),
                credentials: r
                    .credential_infos
                    .iter()
                    .filter_map(|c| Some((ScramHash::from_kafka(c.mechanism)?, c.iterations)))
                    .collect(),
            });
        }
        out.sort_by(|a, b| a.user.cmp(&b.user));
        Ok(out)
    }

    /// Applies `changes`; the first refusal is the error.
    pub async fn alter_user_scram_credentials(
        &self,
        changes: &[ScramAlteration],
    ) -> Result<(), ClientError> {
        let mut request = AlterUserScramCredentialsRequest::default();
        for change in changes {
            match change {
                ScramAlteration::Upsert {
                    user,
                    hash,
                    password,
                    iterations,
                } => {
                    let salt = random_bytes(32);
                    let salted = hash.salted_password(password, &salt, *iterations);
                    request.upsertions.push(
                        ScramCredentialUpsertion::default()
                            .with_name(StrBytes::from_string(user.clone()))
                            .with_mechanism(hash.kafka_id())
                            .with_iterations(*iterations)
                            .with_salt(Bytes::from(salt))
                            .with_salted_password(Bytes::from(salted)),
                    );
                }
                ScramAlteration::Delete { user, hash } => request.deletions.push(
                    ScramCredentialDeletion::default()
                        .with_name(StrBytes::from_string(user.clone()))
                        .with_mechanism(hash.kafka_id()),
                ),
            }
        }
        let (response, _) = self
            .call(
                AlterUserScramCredentialsRequest::VERSIONS,
                Retry::Never,
                |_| request.clone(),
            )
            .await?;
        for r in &response.results {
            ClientError::check(
                "AlterUserScramCredentials",
                r.error_code,
                r.error_message.as_deref(),
            )?;
        }
        Ok(())
    }
}
