//! The operator's error type. Every variant maps to a short, stable metric label so failures are
//! countable by reason (`fjord_operator_reconcile_errors_total{reason=...}`).

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    /// An object the operator built could not be serialised (a bug).
    #[error("serialising {what}: {source}")]
    Serialize {
        what: &'static str,
        source: serde_json::Error,
    },

    /// The resource lacks a field Kubernetes always sets (name, namespace, uid).
    #[error("resource has no {0}")]
    MissingObjectKey(&'static str),

    /// The cluster's brokers could not be reached.
    #[error("cannot reach brokers at {address}: {message}")]
    BrokerUnreachable { address: String, message: String },

    /// A broker answered an admin request with an error.
    #[error("broker refused {operation}: {message}")]
    BrokerRequest {
        operation: &'static str,
        message: String,
    },

    /// The finalizer could not be handled (a bug: the object has no name).
    #[error("finalizer: {0}")]
    Finalizer(String),

    /// The requested replica placement cannot be satisfied.
    #[error(transparent)]
    Assignment(#[from] crate::assignment::AssignmentError),
}

impl Error {
    /// Metric label of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "kube_conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 404 => "kube_not_found",
            Error::Kube(_) => "kube_api",
            Error::Serialize { .. } => "serialize",
            Error::MissingObjectKey(_) => "missing_object_key",
            Error::BrokerUnreachable { .. } => "broker_unreachable",
            Error::BrokerRequest { .. } => "broker_request",
            Error::Assignment(_) => "assignment",
            Error::Finalizer(_) => "finalizer",
        }
    }

    /// The error of a reconcile run through `kube::runtime::finalizer`.
    pub fn from_finalizer(e: kube::runtime::finalizer::Error<Error>) -> Error {
        use kube::runtime::finalizer::Error as F;
        match e {
            F::ApplyFailed(e) | F::CleanupFailed(e) => e,
            F::AddFinalizer(e) | F::RemoveFinalizer(e) => Error::Kube(e),
            other => Error::Finalizer(other.to_string()),
        }
    }
}

/// Result of operator code.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct_per_variant() {
        let errors = [
            Error::MissingObjectKey("uid"),
            Error::BrokerUnreachable {
                address: "a:1".into(),
                message: "refused".into(),
            },
            Error::BrokerRequest {
                operation: "CreateTopics",
                message: "x".into(),
            },
            Error::Assignment(crate::assignment::AssignmentError::NoBrokers),
            Error::Finalizer("x".into()),
        ];
        let mut reasons: Vec<_> = errors.iter().map(Error::reason).collect();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), errors.len());
    }
}
