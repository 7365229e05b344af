//! TLS for client connections: a rustls client config (ring provider, as the broker uses)
//! from PEM trust and key material, and the handshake.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::ClientError;

/// Where the CAs that sign broker certificates come from.
#[derive(Debug, Clone)]
pub enum Trust {
    /// PEM certificates (a file's contents or `ssl.truststore.certificates`).
    Pem(Vec<u8>),
    /// The operating system's store (Kafka falls back to the JVM's).
    System,
}

/// A client certificate chain and its key, PEM (mTLS).
#[derive(Debug, Clone)]
pub struct Identity {
    /// The certificate chain, leaf first.
    pub chain: Vec<u8>,
    /// The unencrypted private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Vec<u8>,
}

/// Builds the rustls config; errors name `what` was wrong and are the user's to fix.
pub(crate) fn client_config(
    trust: &Trust,
    identity: Option<&Identity>,
    verify_hostname: bool,
) -> Result<rustls::ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    match trust {
        Trust::Pem(pem) => {
            for cert in certs(pem, "the trust store")? {
                roots
                    .add(cert)
                    .map_err(|e| format!("the trust store: {e}"))?;
            }
        }
        Trust::System => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(
                    "no ssl.truststore.location or ssl.truststore.certificates given, \
                     and the system trust store has no certificates"
                        .to_owned(),
                );
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let roots = Arc::new(roots);
    let builder = if verify_hostname {
        builder.with_root_certificates(roots)
    } else {
        let inner = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| e.to_string())?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly {
                roots,
                inner,
                provider,
            }))
    };
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some(id) => {
            let chain = certs(&id.chain, "the key store's certificate chain")?;
            let key = key(&id.key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the key store's certificate and key: {e}"))
        }
    }
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no CERTIFICATE in the PEM"));
    }
    Ok(certs)
}

fn key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    if pem.windows(9).any(|w| w == b"ENCRYPTED") {
        return Err(
            "the key store's private key is encrypted; encrypted keys are not \
                    supported (give an unencrypted PKCS#8 key)"
                .to_owned(),
        );
    }
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| format!("the key store has no private key in the PEM ({e})"))
}

/// Opens TLS on `tcp` to `host` (a name or an IP address, as the bootstrap list or Metadata
/// gave it).
pub(crate) async fn connect(
    tcp: TcpStream,
    host: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<TlsStream<TcpStream>, ClientError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| ClientError::Tls(format!("{host:?} is not a valid TLS server name: {e}")))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| ClientError::Tls(handshake_error(&e)))
}

/// The handshake error as the user should read it: rustls' reason when there is one.
fn handshake_error(e: &std::io::Error) -> String {
    match rustls_error(e) {
        Some(reason) => format!("TLS handshake failed: {reason}"),
        None => format!(
            "TLS handshake failed: {e} (is the broker's listener SSL or SASL_SSL? check \
             security.protocol)"
        ),
    }
}

fn rustls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// A TLS failure surfacing on a read or write after the handshake (the broker's alert that
/// it refused our certificate), as a message; `None` for other I/O errors.
pub(crate) fn alert(e: &std::io::Error) -> Option<String> {
    rustls_error(e).map(|r| format!("TLS: the broker ended the session: {r}"))
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain must lead to a trusted CA,
/// but the certificate need not name the host.
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
