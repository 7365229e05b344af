//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the server side, sans-IO.
//!
//! A credential is what Kafka stores: salt, iterations, `StoredKey = H(HMAC(SaltedPassword,
//! "Client Key"))` and `ServerKey = HMAC(SaltedPassword, "Server Key")` — never the password.
//! The exchange is two round trips: client-first -> server-first, client-final -> server-final.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use fjord_client::security::scram::{constant_time_eq, decode_name, nonce, random_bytes};

/// The hashes and key derivations, shared with the client side (`fjord_client`).
pub use fjord_client::security::scram::ScramHash;

pub use fjord_metadata::security::ScramCredential;

/// The credential for a salted password (what AlterUserScramCredentials sends).
pub fn credential_from_salted(
    hash: ScramHash,
    salt: Vec<u8>,
    iterations: i32,
    salted: &[u8],
) -> ScramCredential {
    ScramCredential {
        salt,
        iterations,
        stored_key: hash.digest(&hash.client_key(salted)),
        server_key: hash.server_key(salted),
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
    hash.salted_password(password, salt, iterations)
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
                        user = Some(
                            decode_name(v)
                                .ok_or(ScramError::Malformed("bad escape in user name"))?,
                        );
                    } else if let Some(v) = part.strip_prefix("r=") {
                        client_nonce = Some(v);
                    }
                }
                let user = user.ok_or(ScramError::Malformed("no user name"))?;
                let client_nonce = client_nonce
                    .filter(|n| !n.is_empty())
                    .ok_or(ScramError::Malformed("no nonce"))?;
                let credential = lookup(&user).ok_or(ScramError::UnknownUser)?;
                let nonce = format!("{client_nonce}{}", nonce());
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
                let client_signature = hash.hmac(&credential.stored_key, auth_message.as_bytes());
                if proof.len() != client_signature.len() {
                    return Err(ScramError::BadProof);
                }
                let client_key: Vec<u8> = proof
                    .iter()
                    .zip(&client_signature)
                    .map(|(a, b)| a ^ b)
                    .collect();
                if !constant_time_eq(&hash.digest(&client_key), &credential.stored_key) {
                    return Err(ScramError::BadProof);
                }
                let server_signature = hash.hmac(&credential.server_key, auth_message.as_bytes());
                let message = format!("v={}", B64.encode(server_signature));
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

/// Random salt for credentials made from a password.
pub fn random_salt() -> Vec<u8> {
    random_bytes(32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fjord_client::security::scram::ScramClient;

    /// Drives the server with the client side of the exchange.
    fn exchange(hash: ScramHash, stored_pw: &str, pw: &str) -> Result<String, ScramError> {
        let cred = credential_from_password(hash, stored_pw, b"salt".to_vec(), 4096);
        let lookup = |u: &str| (u == "alice").then(|| cred.clone());
        let mut s = ScramServer::new(hash);
        let mut client = ScramClient::new(hash, "alice", pw);
        let Step::Continue(first) = s.step(&client.first(), &lookup)? else {
            panic!("expected a challenge")
        };
        let fin = client.proof(&first).unwrap();
        match s.step(&fin, &lookup)? {
            Step::Success { user, message } => {
                client.verify(&message).unwrap();
                Ok(user)
            }
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
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let sig = ScramHash::Sha256.hmac(&c.server_key, auth.as_bytes());
        assert_eq!(
            B64.encode(sig),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }
}
