//! TLS listeners (issue 13): SSL with kcat, mTLS principals from the certificate subject,
//! untrusted certificates and wrong-protocol clients refused with a log line while the
//! broker keeps serving, and certificates reloaded from disk without a restart.

use fjord_tests::security::*;
use fjord_tests::*;
use std::time::Duration;

/// A broker with an SSL listener whose key store is `server-keystore.pem` of `pki`.
fn ssl_broker(pki: &Pki, extra: &[(&str, &str)]) -> Broker {
    let keystore = pki.s("server-keystore.pem");
    let truststore = pki.s("main-ca.pem");
    let mut settings = vec![
        ("listeners", "SSL://127.0.0.1:0"),
        ("ssl.keystore.location", keystore.as_str()),
        ("ssl.truststore.location", truststore.as_str()),
    ];
    settings.extend_from_slice(extra);
    Broker::start_with(&settings)
}

fn ssl_client(pki: &Pki, client: Option<&str>) -> Vec<String> {
    let ca = pki.s("main-ca.pem");
    let mut x = vec![
        ("security.protocol", "ssl".to_string()),
        ("ssl.ca.location", ca),
    ];
    if let Some(c) = client {
        x.push(("ssl.certificate.location", pki.s(&format!("{c}.pem"))));
        x.push(("ssl.key.location", pki.s(&format!("{c}.key"))));
    }
    x.iter()
        .flat_map(|(k, v)| ["-X".to_string(), format!("{k}={v}")])
        .collect()
}

fn args<'a>(base: &'a [&'a str], extra: &'a [String]) -> Vec<&'a str> {
    base.iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect()
}

fn produce_and_consume(b: &str, topic: &str, x: &[String]) {
    kcat_ok(
        &args(&["-b", b, "-P", "-t", topic, "-m", "30"], x),
        Some("one\ntwo\n"),
    );
    let out = kcat_ok(
        &args(
            &[
                "-b",
                b,
                "-C",
                "-t",
                topic,
                "-o",
                "beginning",
                "-e",
                "-m",
                "30",
            ],
            x,
        ),
        None,
    );
    assert_eq!(out, "one\ntwo\n");
}

#[test]
fn ssl_listener_serves_kcat_and_refuses_a_plaintext_client_with_a_log_line() {
    let pki = Pki::new("main");
    pki.issue("main", "server", "/CN=localhost", true);
    let broker = ssl_broker(&pki, &[]);
    let b = broker.bootstrap.as_str();
    let x = ssl_client(&pki, None);
    produce_and_consume(b, "tls-topic", &x);

    // A plaintext Kafka client on the TLS port: refused, logged with its address.
    let mut raw = RawConn::connect(b);
    let local = raw.stream.local_addr().unwrap().to_string();
    raw.send_request(
        kafka_protocol::messages::ApiKey::ApiVersions,
        0,
        &kafka_protocol::messages::ApiVersionsRequest::default(),
    );
    assert!(raw.closed_within(Duration::from_secs(30)).is_ok());
    wait_until(
        Duration::from_secs(30),
        "the plaintext client logged",
        || {
            broker.log().lines().any(|l| {
                l.contains("plaintext client connected to a TLS listener") && l.contains(&local)
            })
        },
    );
    // Still serving TLS clients.
    produce_and_consume(b, "tls-topic-2", &x);
}

#[test]
fn a_tls_client_on_a_plaintext_listener_is_logged_and_others_are_served() {
    let pki = Pki::new("main");
    let broker = Broker::start();
    let b = broker.bootstrap.as_str();
    let x = ssl_client(&pki, None);
    let out = kcat_output(&args(&["-b", b, "-L", "-m", "5"], &x), None);
    assert!(
        !out.status.success(),
        "kcat over TLS to a plaintext port succeeded"
    );
    wait_until(Duration::from_secs(30), "the TLS client logged", || {
        broker
            .log()
            .contains("a TLS client connected to this PLAINTEXT listener")
    });
    produce_and_consume(b, "plain-topic", &[]);
}

#[test]
fn mtls_maps_the_certificate_subject_to_the_principal_and_refuses_untrusted_certificates() {
    let pki = Pki::new("main");
    pki.issue("main", "server", "/CN=localhost", true);
    pki.issue("main", "alice", "/C=US/O=Acme/CN=Alice", false);
    pki.issue("main", "bob", "/C=US/O=Acme/CN=bob", false);
    pki.add_ca("rogue");
    pki.issue("rogue", "mallory", "/C=US/O=Acme/CN=alice", false);
    let broker = ssl_broker(
        &pki,
        &[
            ("ssl.client.auth", "required"),
            // RFC 2253 subject "CN=Alice,O=Acme,C=US" -> "alice".
            (
                "ssl.principal.mapping.rules",
                "RULE:^CN=([^,]+),O=Acme,C=US$/$1/L,DEFAULT",
            ),
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:alice"),
        ],
    );
    let b = broker.bootstrap.as_str();
    // alice (mapped from her certificate) is a super user: everything works.
    produce_and_consume(b, "mtls-topic", &ssl_client(&pki, Some("alice")));

    // bob is authenticated but has no ACL: his produce is refused by the authorizer.
    let out = kcat_output(
        &args(
            &[
                "-b",
                b,
                "-P",
                "-t",
                "mtls-topic",
                "-m",
                "15",
                "-X",
                "message.timeout.ms=5000",
            ],
            &ssl_client(&pki, Some("bob")),
        ),
        Some("x\n"),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() || err.contains("uthoriz"),
        "bob produced without an ACL: {err}"
    );
    assert!(err.to_lowercase().contains("authoriz"), "{err}");

    // No certificate, or one from an untrusted CA: the handshake is refused and logged.
    let none = kcat_output(
        &args(&["-b", b, "-L", "-m", "5"], &ssl_client(&pki, None)),
        None,
    );
    assert!(!none.status.success());
    let rogue = kcat_output(
        &args(
            &["-b", b, "-L", "-m", "5"],
            &ssl_client(&pki, Some("mallory")),
        ),
        None,
    );
    assert!(!rogue.status.success());
    let mallory = (pki.path("mallory.pem"), pki.path("mallory.key"));
    let ca = pki.path("main-ca.pem");
    let conn_err = match SecureConn::connect(
        b,
        Some(&TlsClient {
            ca: &ca,
            cert: Some((&mallory.0, &mallory.1)),
        }),
    ) {
        Ok(mut c) => {
            let r: std::io::Result<kafka_protocol::messages::MetadataResponse> = c.try_request(
                kafka_protocol::messages::ApiKey::Metadata,
                4,
                &kafka_protocol::messages::MetadataRequest::default(),
            );
            r.err()
        }
        Err(e) => Some(e),
    };
    assert!(conn_err.is_some(), "an untrusted certificate was served");
    wait_until(
        Duration::from_secs(30),
        "refused certificates logged",
        || {
            let log = broker.log();
            log.contains("TLS handshake failed: peer sent no certificates")
                && log.contains("TLS handshake failed: invalid peer certificate: UnknownIssuer")
        },
    );
    // The broker still serves alice.
    produce_and_consume(b, "mtls-topic-2", &ssl_client(&pki, Some("alice")));
}

#[test]
fn a_rotated_certificate_is_used_by_new_connections_without_a_restart() {
    let pki = Pki::new("main");
    pki.issue("main", "server", "/CN=localhost", true);
    pki.add_ca("next");
    pki.issue("next", "server-next", "/CN=localhost", true);
    let broker = ssl_broker(&pki, &[]);
    let b = broker.bootstrap.as_str();
    let old_ca = pki.path("main-ca.pem");
    let new_ca = pki.path("next-ca.pem");
    let connects =
        |ca: &std::path::Path| SecureConn::connect(b, Some(&TlsClient { ca, cert: None })).is_ok();
    assert!(connects(&old_ca));
    assert!(!connects(&new_ca));
    // Rotate as cert-manager does: replace the key store file.
    let next = std::fs::read(pki.path("server-next-keystore.pem")).unwrap();
    let tmp = pki.path("server-keystore.pem.tmp");
    std::fs::write(&tmp, next).unwrap();
    std::fs::rename(&tmp, pki.path("server-keystore.pem")).unwrap();
    wait_until(
        Duration::from_secs(30),
        "the new certificate served",
        || connects(&new_ca),
    );
    assert!(!connects(&old_ca));
    assert!(broker.log().contains("reloaded"));
    let x: Vec<String> = [
        "-X".to_string(),
        "security.protocol=ssl".to_string(),
        "-X".to_string(),
        format!("ssl.ca.location={}", new_ca.display()),
    ]
    .into();
    produce_and_consume(b, "rotated", &x);
}
