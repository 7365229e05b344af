//! The one error type of the crate.

use crate::codes;

/// Everything an admin call can fail with.
///
/// `Kafka` is the broker saying no (an error code in the response); the other variants are the
/// transport failing. `Io`, `Timeout` and `NoBrokers` drop the connection, and the next call
/// reconnects through the bootstrap list.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The broker answered with a non-zero Kafka error code.
    #[error("{name} ({code}){}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        /// The Kafka API that failed, e.g. `"CreateTopics"`.
        api: &'static str,
        /// Kafka's error code.
        code: i16,
        /// Kafka's name for the code, e.g. `"TOPIC_ALREADY_EXISTS"`.
        name: &'static str,
        /// The broker's error message, when the response carries one.
        message: Option<String>,
    },
    /// Connecting, reading or writing the socket failed. (Not a `source`: the message
    /// already says it, and error chains would print it twice.)
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    /// The peer sent something this client cannot make sense of, or a request could not be
    /// encoded, or the bootstrap list is malformed.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Connecting or a request took longer than its timeout.
    #[error("timed out")]
    Timeout,
    /// SASL authentication failed: wrong credentials, a mechanism the broker does not enable,
    /// or a broker that could not prove it knows the SCRAM credential.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The TLS handshake failed (untrusted or mismatched certificate, a plaintext listener).
    #[error("{0}")]
    Tls(String),
    /// No address in the bootstrap list accepted a connection and answered ApiVersions.
    #[error("no broker in the bootstrap list could be reached")]
    NoBrokers,
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Io(e)
    }
}

impl ClientError {
    /// `Ok(())` for code 0, else [`ClientError::Kafka`] with the code's name.
    pub fn check(api: &'static str, code: i16, message: Option<&str>) -> Result<(), ClientError> {
        if code == 0 {
            return Ok(());
        }
        Err(ClientError::Kafka {
            api,
            code,
            name: codes::error_name(code),
            message: message.map(str::to_owned),
        })
    }

    /// The Kafka error code, when the broker refused the request.
    pub fn kafka_code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: transport failures, and the Kafka codes Kafka
    /// itself marks retriable (e.g. LEADER_NOT_AVAILABLE, REQUEST_TIMED_OUT).
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => codes::is_retriable(*code),
            ClientError::Io(_) | ClientError::Timeout | ClientError::NoBrokers => true,
            ClientError::Protocol(_) | ClientError::Authentication(_) | ClientError::Tls(_) => {
                false
            }
        }
    }

    /// Whether the connection that produced this error can no longer be trusted (the stream may
    /// be mid-frame or closed).
    pub(crate) fn breaks_connection(&self) -> bool {
        matches!(
            self,
            ClientError::Io(_)
                | ClientError::Timeout
                | ClientError::Protocol(_)
                | ClientError::Authentication(_)
                | ClientError::Tls(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_print_name_code_and_message() {
        let err = ClientError::check("CreateTopics", 36, Some("Topic 'orders' already exists."))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "TOPIC_ALREADY_EXISTS (36): Topic 'orders' already exists."
        );
        assert_eq!(err.kafka_code(), Some(36));
        assert!(!err.is_retriable());
    }

    #[test]
    fn kafka_errors_without_message_print_name_and_code() {
        let err = ClientError::check("Metadata", 5, None).unwrap_err();
        assert_eq!(err.to_string(), "LEADER_NOT_AVAILABLE (5)");
        assert!(err.is_retriable());
    }

    #[test]
    fn code_zero_is_success() {
        assert!(ClientError::check("DeleteTopics", 0, Some("ignored")).is_ok());
    }

    #[test]
    fn transport_errors_are_retriable_and_break_the_connection() {
        let io = ClientError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(io.is_retriable());
        assert!(io.breaks_connection());
        assert!(ClientError::Timeout.breaks_connection());
        assert!(!ClientError::check("X", 36, None)
            .unwrap_err()
            .breaks_connection());
    }
}
