//! Security test helpers: throw-away certificates made with the `openssl` CLI, kcat with
//! extra `-X` settings, and a raw Kafka connection over TLS and/or SASL PLAIN for the
//! admin requests kcat cannot send (ACLs, SCRAM credentials).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

/// A CA, and certificates it signed, in a temporary directory. Test-only EC keys, made
/// fresh for each test and never committed.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// A new CA named `name` (files `<name>-ca.pem`, `<name>-ca.key`).
    pub fn new(name: &str) -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("fjord-pki-")
            .tempdir()
            .expect("temp dir");
        let pki = Pki { dir };
        pki.add_ca(name);
        pki
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// Another CA in the same directory.
    pub fn add_ca(&self, name: &str) {
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &format!("{name}-ca.key"),
                "-out",
                &format!("{name}-ca.pem"),
                "-days",
                "2",
                "-subj",
                &format!("/CN=fjord test CA {name}"),
            ],
            self.dir.path(),
        );
    }

    /// A certificate `<name>.pem` + key `<name>.key` for `subject` signed by CA `ca`, plus
    /// `<name>-keystore.pem` (chain and key in one file, as `ssl.keystore.location` takes).
    /// `server`: for 127.0.0.1/localhost; else a client certificate.
    pub fn issue(&self, ca: &str, name: &str, subject: &str, server: bool) {
        let ext = if server {
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        } else {
            "extendedKeyUsage=clientAuth\n"
        };
        self.issue_with_ext(ca, name, subject, ext);
    }

    /// As [`Pki::issue`], for a node that both serves and calls its peers (a controller
    /// listener's mutual TLS): for 127.0.0.1/localhost, server and client use.
    pub fn issue_peer(&self, ca: &str, name: &str, subject: &str) {
        let ext =
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n";
        self.issue_with_ext(ca, name, subject, ext);
    }

    /// Like [`Pki::issue`], with the certificate's `openssl x509 -extfile` text given
    /// (e.g. a server certificate for other names).
    pub fn issue_with_ext(&self, ca: &str, name: &str, subject: &str, ext: &str) {
        let dir = self.dir.path();
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                subject,
            ],
            dir,
        );
        std::fs::write(dir.join(format!("{name}.ext")), ext).expect("write ext");
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}-ca.pem"),
                "-CAkey",
                &format!("{ca}-ca.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
            dir,
        );
        let cert = std::fs::read(dir.join(format!("{name}.pem"))).expect("read cert");
        let key = std::fs::read(dir.join(format!("{name}.key"))).expect("read key");
        std::fs::write(
            dir.join(format!("{name}-keystore.pem")),
            [cert, key].concat(),
        )
        .expect("write keystore");
    }

    pub fn s(&self, file: &str) -> String {
        self.path(file).display().to_string()
    }
}

/// Runs kcat with `args`; returns its output whatever the exit status.
pub fn kcat_output(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new("kcat")
        .args(args)
        // cargo points LD_LIBRARY_PATH at the build's own librdkafka (built without SSL and
        // SASL); kcat must load Debian's.
        .env_remove("LD_LIBRARY_PATH")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kcat (scripts/test.sh installs Debian's kcat)");
    if let Some(input) = stdin {
        if let Some(mut w) = child.stdin.take() {
            let _ = w.write_all(input.as_bytes());
        }
    }
    child.wait_with_output().expect("wait for kcat")
}

/// Runs kcat and asserts it succeeded.
pub fn kcat_ok(args: &[&str], stdin: Option<&str>) -> String {
    let out = kcat_output(args, stdin);
    assert!(
        out.status.success(),
        "kcat {args:?} failed with {}:\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// kcat's `-X key=value` pairs as arguments.
pub fn x_args(settings: &[(&str, &str)]) -> Vec<String> {
    settings
        .iter()
        .flat_map(|(k, v)| ["-X".to_string(), format!("{k}={v}")])
        .collect()
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A raw Kafka connection over TLS (rustls) or plain TCP, optionally SASL PLAIN
/// authenticated, for typed admin requests.
pub struct SecureConn {
    stream: Box<dyn Stream>,
    next_correlation_id: i32,
}

/// TLS client settings for [`SecureConn::connect`].
pub struct TlsClient<'a> {
    pub ca: &'a Path,
    /// Client certificate and key PEM files (mTLS).
    pub cert: Option<(&'a Path, &'a Path)>,
}

impl SecureConn {
    /// Connects, with TLS if `tls` is given; `Err` if TCP or the handshake fails.
    pub fn connect(bootstrap: &str, tls: Option<&TlsClient<'_>>) -> std::io::Result<SecureConn> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
        let tcp = TcpStream::connect(bootstrap)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(30)))?;
        let stream: Box<dyn Stream> = match tls {
            None => Box::new(tcp),
            Some(t) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_file_iter(t.ca).expect("read CA") {
                    roots.add(c.expect("CA PEM")).expect("add CA");
                }
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let builder = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("protocol versions")
                    .with_root_certificates(roots);
                let config = match t.cert {
                    None => builder.with_no_client_auth(),
                    Some((cert, key)) => {
                        let chain: Vec<CertificateDer<'static>> =
                            CertificateDer::pem_file_iter(cert)
                                .expect("read cert")
                                .map(|c| c.expect("cert PEM"))
                                .collect();
                        let key = PrivateKeyDer::from_pem_file(key).expect("read key");
                        builder
                            .with_client_auth_cert(chain, key)
                            .expect("client cert")
                    }
                };
                let name = ServerName::try_from("127.0.0.1").expect("server name");
                let conn = rustls::ClientConnection::new(Arc::new(config), name)
                    .map_err(std::io::Error::other)?;
                let mut s = rustls::StreamOwned::new(conn, tcp);
                // Complete the handshake now, so a refused certificate shows here.
                while s.conn.is_handshaking() {
                    s.conn.complete_io(&mut s.sock)?;
                }
                Box::new(s)
            }
        };
        Ok(SecureConn {
            stream,
            next_correlation_id: 1,
        })
    }

    /// SaslHandshake v1 + SaslAuthenticate v2 with PLAIN; the authenticate response.
    pub fn sasl_plain(&mut self, user: &str, password: &str) -> SaslAuthenticateResponse {
        let hs: SaslHandshakeResponse = self.request(
            ApiKey::SaslHandshake,
            1,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        );
        assert_eq!(hs.error_code, 0, "SASL handshake");
        let token = format!("\0{user}\0{password}");
        self.request(
            ApiKey::SaslAuthenticate,
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
        )
    }

    /// Sends a typed request and decodes the typed response; `Err` if the connection
    /// closed or broke.
    pub fn try_request<Req, Resp>(
        &mut self,
        api_key: ApiKey,
        version: i16,
        request: &Req,
    ) -> std::io::Result<Resp>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable,
    {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("fjord-tests-secure")))
            .encode(&mut buf, api_key.request_header_version(version))
            .map_err(std::io::Error::other)?;
        request
            .encode(&mut buf, version)
            .map_err(std::io::Error::other)?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&buf)?;
        self.stream.flush()?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        if !(0..=64 << 20).contains(&len) {
            return Err(std::io::Error::other(format!("response length {len}")));
        }
        let mut body = vec![0u8; len as usize];
        self.stream.read_exact(&mut body)?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, api_key.response_header_version(version))
            .map_err(std::io::Error::other)?;
        assert_eq!(header.correlation_id, correlation_id);
        let resp = Resp::decode(&mut body, version).map_err(std::io::Error::other)?;
        assert_eq!(
            body.remaining(),
            0,
            "{api_key:?} response has trailing bytes"
        );
        Ok(resp)
    }

    pub fn request<Req, Resp>(&mut self, api_key: ApiKey, version: i16, request: &Req) -> Resp
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable,
    {
        self.try_request(api_key, version, request)
            .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"))
    }
}
