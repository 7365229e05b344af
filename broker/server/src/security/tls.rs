//! TLS listeners with rustls (ring provider) from PEM files or inline PEM.
//!
//! The server config is built once at start (a bad file stops the broker with a message
//! naming the key) and rebuilt when a key or trust store file changes on disk: the files'
//! modification times and sizes are compared at most once per [`RELOAD_CHECK`], on accept,
//! so certificates rotated by cert-manager are used by new handshakes without a restart,
//! while open connections keep the session they have. A rotation that does not load (a
//! half-written file) is logged and the previous certificates stay in use.

use super::{ClientAuth, KeySource, Principal, TlsSettings, TrustSource};
use parking_lot::Mutex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// How often, at most, the files are checked for changes.
pub const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// The first byte of every TLS record that opens a handshake.
const TLS_HANDSHAKE: u8 = 0x16;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{0}")]
    Pem(String),
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// A listener's TLS state: its settings and the server config new handshakes use.
pub struct TlsContext {
    settings: TlsSettings,
    loaded: Mutex<Loaded>,
}

struct Loaded {
    config: Arc<ServerConfig>,
    /// The client side of the same certificates, for a listener whose peers this node also
    /// calls (the controller listener's mutual TLS); built when a trust store is set.
    client: Option<Arc<rustls::ClientConfig>>,
    stamps: Vec<Option<(SystemTime, u64)>>,
    checked: Instant,
}

impl TlsContext {
    pub fn new(settings: TlsSettings) -> Result<TlsContext, TlsError> {
        let stamps = stamps(&settings);
        let config = build(&settings)?;
        let client = build_client(&settings)?;
        Ok(TlsContext {
            settings,
            loaded: Mutex::new(Loaded {
                config,
                client,
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    /// The config for a new handshake, reloaded first if a file changed.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.reloaded().config.clone()
    }

    /// The client config for calling a peer with this listener's certificate, verifying the
    /// peer against its trust store (`None` without a trust store).
    pub fn current_client(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.reloaded().client.clone()
    }

    /// Connects to a peer's listener over TLS within `timeout`: the peer's certificate must
    /// chain to the trust store and name `host`; this node presents its own certificate.
    pub async fn connect(
        &self,
        stream: TcpStream,
        host: &str,
        timeout: Duration,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
        let config = self
            .current_client()
            .ok_or_else(|| invalid("no trust store to verify the peer with".into()))?;
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| invalid(format!("`{host}` is not a host name or address: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(config);
        tokio::time::timeout(timeout, connector.connect(name, stream))
            .await
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("TLS handshake not complete within {timeout:?}"),
                )
            })?
    }

    fn reloaded(&self) -> parking_lot::MutexGuard<'_, Loaded> {
        let mut loaded = self.loaded.lock();
        if loaded.checked.elapsed() >= RELOAD_CHECK {
            loaded.checked = Instant::now();
            let now = stamps(&self.settings);
            if now != loaded.stamps {
                loaded.stamps = now;
                match build(&self.settings).and_then(|c| Ok((c, build_client(&self.settings)?))) {
                    Ok((config, client)) => {
                        loaded.config = config;
                        loaded.client = client;
                        tracing::info!("TLS key store or trust store changed on disk: reloaded; new connections use it");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TLS key store or trust store changed on disk but does not load; keeping the previous one")
                    }
                }
            }
        }
        loaded
    }

    /// Handshakes with a client within `timeout`. A client whose first byte is not a TLS
    /// handshake (a plaintext Kafka client on a TLS port) is refused with a clear error.
    pub async fn accept(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, HandshakeError> {
        let handshake = async {
            let mut first = [0u8; 1];
            let n = stream.peek(&mut first).await?;
            if n == 0 {
                return Err(HandshakeError::Closed);
            }
            if first[0] != TLS_HANDSHAKE {
                return Err(HandshakeError::NotTls);
            }
            let acceptor = tokio_rustls::TlsAcceptor::from(self.current());
            acceptor.accept(stream).await.map_err(HandshakeError::from)
        };
        tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| HandshakeError::TimedOut(timeout))?
    }

    /// The principal of a TLS client: its certificate subject mapped by
    /// `ssl.principal.mapping.rules`, or `User:ANONYMOUS` without a certificate.
    pub fn principal(&self, stream: &TlsStream<TcpStream>) -> Result<Principal, HandshakeError> {
        let (_, conn) = stream.get_ref();
        let Some(cert) = conn.peer_certificates().and_then(|c| c.first()) else {
            return Ok(Principal::anonymous());
        };
        let subject = super::x509::subject(cert.as_ref()).ok_or(HandshakeError::BadSubject)?;
        match self.settings.rules.apply(&subject) {
            Some(name) => Ok(Principal::user(name)),
            None => Err(HandshakeError::NoMappingRule(subject)),
        }
    }
}

/// Why a TLS client was not served.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("not a TLS client: a plaintext client connected to a TLS listener (use security.protocol=SSL or SASL_SSL)")]
    NotTls,
    #[error("TLS handshake failed: {0}")]
    Failed(std::io::Error),
    #[error("closed before the TLS handshake")]
    Closed,
    #[error("TLS handshake not complete within {0:?}")]
    TimedOut(Duration),
    #[error("client certificate subject is not readable")]
    BadSubject,
    #[error("no ssl.principal.mapping.rules rule matches the client certificate subject `{0}`")]
    NoMappingRule(String),
}

impl From<std::io::Error> for HandshakeError {
    fn from(e: std::io::Error) -> Self {
        HandshakeError::Failed(e)
    }
}

fn files(settings: &TlsSettings) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let KeySource::File(p) = &settings.keystore {
        out.push(p.clone());
    }
    if let Some(TrustSource::File(p)) = &settings.truststore {
        out.push(p.clone());
    }
    out
}

fn stamps(settings: &TlsSettings) -> Vec<Option<(SystemTime, u64)>> {
    files(settings)
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

fn read(path: &PathBuf) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        path: path.display().to_string(),
        error,
    })
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Pem(format!("{what}: no CERTIFICATE in the PEM")));
    }
    Ok(certs)
}

fn key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    if pem.windows(9).any(|w| w == b"ENCRYPTED") {
        return Err(TlsError::Pem(format!(
            "{what}: the private key is encrypted; encrypted keys are not supported (give an unencrypted PKCS#8 key)"
        )));
    }
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| TlsError::Pem(format!("{what}: no private key in the PEM ({e})")))
}

/// The certificate chain and key of `settings`' key store.
fn identity(
    settings: &TlsSettings,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    Ok(match &settings.keystore {
        KeySource::File(path) => {
            let pem = read(path)?;
            let what = format!("ssl.keystore.location {}", path.display());
            (certs(&pem, &what)?, key(&pem, &what)?)
        }
        KeySource::Inline { chain, key: k } => (
            certs(chain.as_bytes(), "ssl.keystore.certificate.chain")?,
            key(k.as_bytes(), "ssl.keystore.key")?,
        ),
    })
}

/// The CAs of a trust store.
fn roots(trust: &TrustSource) -> Result<RootCertStore, TlsError> {
    let pem = match trust {
        TrustSource::File(path) => read(path)?,
        TrustSource::Inline(text) => text.as_bytes().to_vec(),
    };
    let mut roots = RootCertStore::empty();
    for c in certs(&pem, "ssl.truststore")? {
        roots
            .add(c)
            .map_err(|e| TlsError::Pem(format!("ssl.truststore: {e}")))?;
    }
    Ok(roots)
}

/// A client config presenting this listener's certificate and trusting its trust store.
fn build_client(settings: &TlsSettings) -> Result<Option<Arc<rustls::ClientConfig>>, TlsError> {
    let Some(trust) = &settings.truststore else {
        return Ok(None);
    };
    let (chain, key) = identity(settings)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_root_certificates(roots(trust)?)
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::Rustls(format!("certificate and key: {e}")))?;
    Ok(Some(Arc::new(config)))
}

fn build(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let (chain, key) = identity(settings)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let builder = match (&settings.truststore, settings.client_auth) {
        (_, ClientAuth::None) | (None, _) => builder.with_no_client_auth(),
        (Some(trust), auth) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(trust)?), provider);
            let verifier = match auth {
                ClientAuth::Requested => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(format!("certificate and key: {e}")))?;
    Ok(Arc::new(config))
}
