//! The controller listener over mutual TLS (issue 13: "the controller listener is never an
//! open door to metadata injection or forged votes"): three nodes whose CONTROLLER listener is
//! SSL with `ssl.client.auth=required` form a quorum, create topics and elect a new controller
//! after a kill -9; a plaintext peer, a peer whose certificate another CA signed, and (with an
//! authorizer) a trusted certificate of a principal without CLUSTER_ACTION are refused with a
//! log line, and a node configured without client authentication does not start.

use fjord_tests::security::*;
use fjord_tests::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const WAIT: Duration = REPLICATION_WAIT;

/// The settings of node `i`'s SSL controller listener, with certificates from `pki`.
fn controller_tls(pki: &Pki, i: usize) -> Vec<(String, String)> {
    let s = |k: &str, v: String| (k.to_string(), v);
    vec![
        s(
            "listener.security.protocol.map",
            "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL".into(),
        ),
        s(
            "listener.name.controller.ssl.keystore.location",
            pki.s(&format!("node{i}-keystore.pem")),
        ),
        s(
            "listener.name.controller.ssl.truststore.location",
            pki.s("quorum-ca.pem"),
        ),
        s(
            "listener.name.controller.ssl.client.auth",
            "required".into(),
        ),
    ]
}

/// Sends a few bytes to the controller listener at `port` over `stream` and waits for the
/// node to close it.
fn closed(mut stream: impl Read + Write) {
    let _ = stream.write_all(&[0, 0, 0, 2, b'{', b'}']);
    let mut buf = [0u8; 64];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[test]
fn a_quorum_over_mutual_tls_works_and_refuses_untrusted_peers() {
    let pki = Pki::new("controller-mtls");
    pki.add_ca("quorum");
    pki.add_ca("other");
    for i in 0..3 {
        pki.issue_peer(
            "quorum",
            &format!("node{i}"),
            &format!("/CN=controller-{i}"),
        );
    }
    pki.issue_peer("other", "stranger", "/CN=controller-0");
    pki.issue_peer("quorum", "intruder", "/CN=intruder");
    let mut cluster = Cluster::start_each(
        3,
        &[
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            (
                "super.users",
                "User:CN=controller-0;User:CN=controller-1;User:CN=controller-2;User:ANONYMOUS",
            ),
        ],
        |i| controller_tls(&pki, i),
    );
    for i in 0..3 {
        cluster.wait_for_brokers(i, &[0, 1, 2], WAIT);
    }
    let (code, message) = create_topic_on(&cluster.nodes[1].bootstrap, "over-tls", 3, 3);
    assert_eq!(code, 0, "{message:?}");
    for i in 0..3 {
        wait_until(WAIT, "the topic reached every node", || {
            topic_metadata_on(&cluster.nodes[i].bootstrap, "over-tls")
                .is_some_and(|t| t.partitions.len() == 3)
        });
    }

    let old = cluster.wait_for_controller(0, WAIT) as usize;
    let port = cluster.controller_ports[old];
    let addr = format!("127.0.0.1:{port}");
    let refusals = |node: usize| {
        cluster.nodes[node]
            .log()
            .matches("refused a connection to the controller listener")
            .count()
    };
    // Plaintext to the SSL controller listener.
    closed(TcpStream::connect(&addr).expect("connect"));
    wait_until(WAIT, "the plaintext peer is refused", || refusals(old) >= 1);
    // A certificate from another CA (the subject of a real voter does not help).
    let ca = pki.path("quorum-ca.pem");
    let (cert, key) = (pki.path("stranger.pem"), pki.path("stranger.key"));
    let tls = TlsClient {
        ca: &ca,
        cert: Some((&cert, &key)),
    };
    if let Ok(conn) = SecureConn::connect(&addr, Some(&tls)) {
        drop(conn); // TLS 1.3: the refusal of a client certificate comes after the handshake.
    }
    wait_until(WAIT, "the untrusted certificate is refused", || {
        refusals(old) >= 2
    });
    // A trusted certificate whose principal may not act for the cluster.
    let (cert, key) = (pki.path("intruder.pem"), pki.path("intruder.key"));
    let tls = TlsClient {
        ca: &ca,
        cert: Some((&cert, &key)),
    };
    if let Ok(conn) = SecureConn::connect(&addr, Some(&tls)) {
        drop(conn);
    }
    wait_until(WAIT, "the unauthorized principal is refused", || {
        cluster.nodes[old]
            .log()
            .contains("User:CN=intruder is not a super user")
    });

    // The quorum still elects over TLS when its controller dies.
    cluster.nodes[old].kill9();
    let other = (old + 1) % 3;
    wait_until(WAIT, "a new active controller", || {
        let c = cluster.controller_seen_by(other);
        c >= 0 && c as usize != old
    });
    let (code, message) = create_topic_on(&cluster.nodes[other].bootstrap, "after-kill", 1, 2);
    assert_eq!(code, 0, "{message:?}");
}

#[test]
fn an_ssl_controller_listener_without_client_authentication_does_not_start() {
    let pki = Pki::new("controller-no-auth");
    pki.add_ca("quorum");
    pki.issue_peer("quorum", "node0", "/CN=controller-0");
    let port = free_ports(1)[0];
    let listeners = format!("PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}");
    let voters = format!("0@127.0.0.1:{port}");
    let keystore = pki.s("node0-keystore.pem");
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = [
        format!("log.dirs={}", dir.path().display()),
        format!("listeners={listeners}"),
        format!("controller.quorum.voters={voters}"),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL".into(),
        format!("listener.name.controller.ssl.keystore.location={keystore}"),
        "metrics.port=0".into(),
    ];
    let mut cmd = std::process::Command::new(broker_bin());
    for s in &settings {
        cmd.arg("--set").arg(s);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn fjord-broker");
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the broker started with an unauthenticated SSL controller listener");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    assert!(!status.success());
    assert!(
        err.contains("listener.name.controller.ssl.client.auth"),
        "{err}"
    );
}
