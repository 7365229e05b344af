//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the server side, sans-IO.
//!
//! A credential is what Kafka stores: salt, iterations, `StoredKey = H(HMAC(SaltedPassword,
//! "Client Key"))` and `ServerKey = HMAC(SaltedPassword, "Server Key")` — never the password.
//! The exchange is two round trips: client-first -> server-first, client-final -> server-final.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};
use std::num::NonZeroU32;

/// The two SCRAM hashes; Kafka's ScramMechanism type numbers are 1 and 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    /// Kafka's `ScramMechanism` id (AlterUserScramCredentials).
    pub fn from_kafka(id: i8) -> Option<ScramHash> {
        match id {
            1 => Some(ScramHash::Sha256),
            2 => Some(ScramHash::Sha512),
            _ => None,
        }
    }

    pub fn kafka_id(self) -> i8 {
        match self {
            ScramHash::Sha256 => 1,
            ScramHash::Sha512 => 2,
        }
    }

    /// Kafka's minimum iteration counts: 4096 for both.
    pub fn min_iterations(self) -> i32 {
        4096
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramHash::Sha256 => hmac::HMAC_SHA256,
            ScramHash::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramHash::Sha256 => &digest::SHA256,
            ScramHash::Sha512 => &digest::SHA512,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            ScramHash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramHash::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn len(self) -> usize {
        self.digest().output_len()
    }
}

pub use fjord_metadata::security::ScramCredential;

/// The credential for a salted password (what AlterUserScramCredentials sends).
pub fn credential_from_salted(
    hash: ScramHash,
    salt: Vec<u8>,
    iterations: i32,
    salted: &[u8],
) -> ScramCredential {
    let key = hmac::Key::new(hash.hmac(), salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(hash.digest(), client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    ScramCredential {
        salt,
        iterations,
        stored_key: stored_key.as_ref().to_vec(),
        server_key: server_key.as_ref().to_vec(),
    }
}

/// The credential for a password: PBKDF2 with `salt` and `iterations` first.
pub fn credential_from_password(
    hash: ScramHash,
    password: &str,
    salt: Vec<u8>,
    iterations: i32,
) -> ScramCredential {
    let salted = salted_password(hash, password, &salt, iterations);
    credential_from_salted(hash, salt, iterations, &salted)
}

/// `Hi(password, salt, i)` of RFC 5802.
pub fn salted_password(hash: ScramHash, password: &str, salt: &[u8], iterations: i32) -> Vec<u8> {
    let mut out = vec![0u8; hash.len()];
    let n = NonZeroU32::new(iterations.max(1) as u32).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(hash.pbkdf2(), n, salt, password.as_bytes(), &mut out);
    out
}

/// Why an exchange failed; the client gets SASL_AUTHENTICATION_FAILED with a generic message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("unknown user")]
    UnknownUser,
    #[error("invalid credentials")]
    BadProof,
    #[error("message out of order")]
    OutOfOrder,
}

/// One server-side exchange.
#[derive(Debug)]
pub enum ScramServer {
    /// Waiting for client-first.
    Start {
        hash: ScramHash,
    },
    /// Sent server-first; waiting for client-final.
    Challenged {
        hash: ScramHash,
        user: String,
        credential: ScramCredential,
        nonce: String,
        gs2_header: String,
        auth_message_start: String,
    },
    Done,
}

/// What a step produced.
pub enum Step {
    /// Send this and wait for the client's next message.
    Continue(Vec<u8>),
    /// Authenticated as `user`; send this final message.
    Success { user: String, message: Vec<u8> },
}

impl ScramServer {
    pub fn new(hash: ScramHash) -> ScramServer {
        ScramServer::Start { hash }
    }

    /// Feeds one client message. `lookup` finds a user's credential for this hash.
    pub fn step(
        &mut self,
        msg: &[u8],
        lookup: &dyn Fn(&str) -> Option<ScramCredential>,
    ) -> Result<Step, ScramError> {
        let state = std::mem::replace(self, ScramServer::Done);
        let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        match state {
            ScramServer::Start { hash } => {
                let (gs2, bare) = split_gs2(msg)?;
                let mut user = None;
                let mut client_nonce = None;
                for part in bare.split(',') {
                    if let Some(v) = part.strip_prefix("n=") {
                        user = Some(decode_name(v)?);
                    } else if let Some(v) = part.strip_prefix("r=") {
                        client_nonce = Some(v);
                    }
                }
                let user = user.ok_or(ScramError::Malformed("no user name"))?;
                let client_nonce = client_nonce
                    .filter(|n| !n.is_empty())
                    .ok_or(ScramError::Malformed("no nonce"))?;
                let credential = lookup(&user).ok_or(ScramError::UnknownUser)?;
                let nonce = format!("{client_nonce}{}", server_nonce());
                let server_first = format!(
                    "r={nonce},s={},i={}",
                    B64.encode(&credential.salt),
                    credential.iterations
                );
                let auth_message_start = format!("{bare},{server_first}");
                *self = ScramServer::Challenged {
                    hash,
                    user,
                    credential,
                    nonce,
                    gs2_header: gs2.to_string(),
                    auth_message_start,
                };
                Ok(Step::Continue(server_first.into_bytes()))
            }
            ScramServer::Challenged {
                hash,
                user,
                credential,
                nonce,
                gs2_header,
                auth_message_start,
            } => {
                let (without_proof, proof) = msg
                    .rsplit_once(",p=")
                    .ok_or(ScramError::Malformed("no proof"))?;
                let mut channel = None;
                let mut got_nonce = None;
                for part in without_proof.split(',') {
                    if let Some(v) = part.strip_prefix("c=") {
                        channel = Some(v);
                    } else if let Some(v) = part.strip_prefix("r=") {
                        got_nonce = Some(v);
                    }
                }
                if channel != Some(B64.encode(gs2_header.as_bytes()).as_str()) {
                    return Err(ScramError::Malformed("channel binding does not match"));
                }
                // Kafka checks that the nonce *ends with* the combined nonce: librdkafka sends
                // its own nonce again in front of it, and Kafka accepts that.
                if !got_nonce.is_some_and(|n| n.ends_with(nonce.as_str())) {
                    return Err(ScramError::Malformed("nonce does not match"));
                }
                let proof = B64
                    .decode(proof)
                    .map_err(|_| ScramError::Malformed("proof is not base64"))?;
                let auth_message = format!("{auth_message_start},{without_proof}");
                let stored = hmac::Key::new(hash.hmac(), &credential.stored_key);
                let client_signature = hmac::sign(&stored, auth_message.as_bytes());
                if proof.len() != client_signature.as_ref().len() {
                    return Err(ScramError::BadProof);
                }
                let client_key: Vec<u8> = proof
                    .iter()
                    .zip(client_signature.as_ref())
                    .map(|(a, b)| a ^ b)
                    .collect();
                let computed = digest::digest(hash.digest(), &client_key);
                if !constant_time_eq(computed.as_ref(), &credential.stored_key) {
                    return Err(ScramError::BadProof);
                }
                let server = hmac::Key::new(hash.hmac(), &credential.server_key);
                let server_signature = hmac::sign(&server, auth_message.as_bytes());
                let message = format!("v={}", B64.encode(server_signature.as_ref()));
                Ok(Step::Success {
                    user,
                    message: message.into_bytes(),
                })
            }
            ScramServer::Done => Err(ScramError::OutOfOrder),
        }
    }
}

/// Splits `n,,n=user,r=nonce` into the GS2 header (`n,,`) and the bare message.
fn split_gs2(msg: &str) -> Result<(&str, &str), ScramError> {
    let bad = ScramError::Malformed("bad GS2 header");
    let first = msg.find(',').ok_or(bad.clone())?;
    let second = msg[first + 1..].find(',').ok_or(bad.clone())? + first + 1;
    let flag = &msg[..first];
    // Channel binding ("p=...") is not offered, so a client must not ask for it.
    if flag != "n" && flag != "y" {
        return Err(bad);
    }
    Ok((&msg[..=second], &msg[second + 1..]))
}

/// `=2C` and `=3D` escapes of a SCRAM user name.
fn decode_name(v: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in user name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

fn server_nonce() -> String {
    let mut bytes = [0u8; 24];
    // A failing system RNG leaves zeros; the nonce then still differs per client nonce,
    // and ring's SystemRandom does not fail on Linux with getrandom.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    B64.encode(bytes)
        .replace(['+', '/'], "x")
        .trim_end_matches('=')
        .to_string()
}

/// Random salt for credentials made from a password.
pub fn random_salt() -> Vec<u8> {
    let mut bytes = vec![0u8; 32];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client side of RFC 5802, to drive the server.
    fn client_final(
        hash: ScramHash,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> String {
        let mut nonce = "";
        let mut salt = Vec::new();
        let mut iterations = 0;
        for p in server_first.split(',') {
            if let Some(v) = p.strip_prefix("r=") {
                nonce = v;
            } else if let Some(v) = p.strip_prefix("s=") {
                salt = B64.decode(v).unwrap();
            } else if let Some(v) = p.strip_prefix("i=") {
                iterations = v.parse().unwrap();
            }
        }
        let salted = salted_password(hash, password, &salt, iterations);
        let key = hmac::Key::new(hash.hmac(), &salted);
        let client_key = hmac::sign(&key, b"Client Key");
        let stored = digest::digest(hash.digest(), client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = hmac::sign(
            &hmac::Key::new(hash.hmac(), stored.as_ref()),
            auth.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(sig.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }

    fn exchange(hash: ScramHash, stored_pw: &str, pw: &str) -> Result<String, ScramError> {
        let cred = credential_from_password(hash, stored_pw, b"salt".to_vec(), 4096);
        let lookup = |u: &str| (u == "alice").then(|| cred.clone());
        let mut s = ScramServer::new(hash);
        let bare = "n=alice,r=fyko+d2lbbFgONRv9qkxdawL";
        let Step::Continue(first) = s.step(format!("n,,{bare}").as_bytes(), &lookup)? else {
            panic!("expected a challenge")
        };
        let first = String::from_utf8(first).unwrap();
        let fin = client_final(hash, pw, bare, &first);
        match s.step(fin.as_bytes(), &lookup)? {
            Step::Success { user, .. } => Ok(user),
            Step::Continue(_) => panic!("expected the end"),
        }
    }

    #[test]
    fn the_right_password_authenticates_with_both_hashes() {
        assert_eq!(exchange(ScramHash::Sha256, "pw", "pw").unwrap(), "alice");
        assert_eq!(exchange(ScramHash::Sha512, "pw", "pw").unwrap(), "alice");
    }

    #[test]
    fn a_wrong_password_or_unknown_user_fails() {
        assert_eq!(
            exchange(ScramHash::Sha512, "pw", "nope").unwrap_err(),
            ScramError::BadProof
        );
        let mut s = ScramServer::new(ScramHash::Sha256);
        let none = |_: &str| None;
        assert!(matches!(
            s.step(b"n,,n=bob,r=abc", &none),
            Err(ScramError::UnknownUser)
        ));
        let mut s = ScramServer::new(ScramHash::Sha256);
        assert!(s.step(b"garbage", &none).is_err());
    }

    #[test]
    fn rfc7677_sha256_test_vector_keys() {
        // RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096.
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let c = credential_from_password(ScramHash::Sha256, "pencil", salt, 4096);
        let client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let fin = client_final(ScramHash::Sha256, "pencil", client_first_bare, server_first);
        assert_eq!(
            fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let auth = format!("{client_first_bare},{server_first},c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        let sig = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &c.server_key),
            auth.as_bytes(),
        );
        assert_eq!(
            B64.encode(sig.as_ref()),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }
}
