//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677): the key derivations both sides use
//! (the broker verifies with them, this client proves with them and salts passwords for
//! AlterUserScramCredentials), and the client side of the exchange, sans-IO.
//!
//! `SaltedPassword = Hi(password, salt, i)` (PBKDF2), `ClientKey = HMAC(SaltedPassword, "Client
//! Key")`, `StoredKey = H(ClientKey)`, `ServerKey = HMAC(SaltedPassword, "Server Key")`. The
//! client proves `ClientKey XOR HMAC(StoredKey, AuthMessage)`; the server proves
//! `HMAC(ServerKey, AuthMessage)` back, which the client checks.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};
use std::num::NonZeroU32;

/// The two SCRAM hashes; Kafka's ScramMechanism type numbers are 1 and 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramHash {
    /// Kafka's `ScramMechanism` id (Describe/AlterUserScramCredentials).
    pub fn from_kafka(id: i8) -> Option<ScramHash> {
        match id {
            1 => Some(ScramHash::Sha256),
            2 => Some(ScramHash::Sha512),
            _ => None,
        }
    }

    /// The id Kafka's ScramMechanism gives this hash.
    pub fn kafka_id(self) -> i8 {
        match self {
            ScramHash::Sha256 => 1,
            ScramHash::Sha512 => 2,
        }
    }

    /// `SCRAM-SHA-256` / `SCRAM-SHA-512`, case-insensitively.
    pub fn from_mechanism(name: &str) -> Option<ScramHash> {
        [ScramHash::Sha256, ScramHash::Sha512]
            .into_iter()
            .find(|h| h.mechanism().eq_ignore_ascii_case(name))
    }

    /// The SASL mechanism name.
    pub fn mechanism(self) -> &'static str {
        match self {
            ScramHash::Sha256 => "SCRAM-SHA-256",
            ScramHash::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Kafka's minimum iteration count (4096 for both).
    pub fn min_iterations(self) -> i32 {
        4096
    }

    /// Kafka's maximum iteration count (16384 for both); a client refuses a server that asks
    /// for more, so a hostile broker cannot make it spin.
    pub fn max_iterations(self) -> i32 {
        16384
    }

    fn hmac_algorithm(self) -> hmac::Algorithm {
        match self {
            ScramHash::Sha256 => hmac::HMAC_SHA256,
            ScramHash::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            ScramHash::Sha256 => &digest::SHA256,
            ScramHash::Sha512 => &digest::SHA512,
        }
    }

    fn pbkdf2_algorithm(self) -> pbkdf2::Algorithm {
        match self {
            ScramHash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramHash::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    /// `HMAC(key, data)`.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let key = hmac::Key::new(self.hmac_algorithm(), key);
        hmac::sign(&key, data).as_ref().to_vec()
    }

    /// `H(data)`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.digest_algorithm(), data)
            .as_ref()
            .to_vec()
    }

    /// `Hi(password, salt, i)` of RFC 5802 (PBKDF2 with this hash); `iterations` below 1
    /// count as 1.
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: i32) -> Vec<u8> {
        let mut out = vec![0u8; self.digest_algorithm().output_len()];
        let n = u32::try_from(iterations)
            .ok()
            .and_then(NonZeroU32::new)
            .unwrap_or(NonZeroU32::MIN);
        pbkdf2::derive(
            self.pbkdf2_algorithm(),
            n,
            salt,
            password.as_bytes(),
            &mut out,
        );
        out
    }

    /// `ClientKey = HMAC(SaltedPassword, "Client Key")`.
    pub fn client_key(self, salted: &[u8]) -> Vec<u8> {
        self.hmac(salted, b"Client Key")
    }

    /// `ServerKey = HMAC(SaltedPassword, "Server Key")`.
    pub fn server_key(self, salted: &[u8]) -> Vec<u8> {
        self.hmac(salted, b"Server Key")
    }
}

/// Random bytes from the system RNG (salts, nonces). A failing RNG leaves zeros; ring's
/// SystemRandom does not fail on Linux with getrandom.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes
}

/// A printable nonce (base64 without `,`-free trouble: `+` and `/` replaced, no padding).
pub fn nonce() -> String {
    B64.encode(random_bytes(24))
        .replace(['+', '/'], "x")
        .trim_end_matches('=')
        .to_string()
}

/// `a == b` in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A SCRAM user name with `,` and `=` escaped as `=2C` and `=3D`.
pub fn encode_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Undoes [`encode_name`]; `None` for a bad escape.
pub fn decode_name(v: &str) -> Option<String> {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// `a XOR b` (same length).
fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// One client-side exchange: [`ScramClient::first`], then [`ScramClient::proof`] for the
/// server's challenge, then [`ScramClient::verify`] for its final message.
#[derive(Debug)]
pub struct ScramClient {
    hash: ScramHash,
    password: String,
    client_nonce: String,
    client_first_bare: String,
    /// `HMAC(ServerKey, AuthMessage)`, known once the proof is computed.
    expected_server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// A new exchange for `user` with a fresh nonce.
    pub fn new(hash: ScramHash, user: &str, password: &str) -> ScramClient {
        ScramClient::with_nonce(hash, user, password, nonce())
    }

    fn with_nonce(hash: ScramHash, user: &str, password: &str, client_nonce: String) -> Self {
        ScramClient {
            hash,
            password: password.to_owned(),
            client_first_bare: format!("n={},r={client_nonce}", encode_name(user)),
            client_nonce,
            expected_server_signature: None,
        }
    }

    /// The client-first message (no channel binding: GS2 header `n,,`).
    pub fn first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// The client-final message answering the server-first `challenge`.
    pub fn proof(&mut self, challenge: &[u8]) -> Result<Vec<u8>, String> {
        let server_first = std::str::from_utf8(challenge)
            .map_err(|_| "the server's SCRAM challenge is not UTF-8".to_owned())?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for part in server_first.split(',') {
            if let Some(v) = part.strip_prefix("e=") {
                return Err(format!("the server refused the SCRAM exchange: {v}"));
            } else if let Some(v) = part.strip_prefix("r=") {
                nonce = Some(v);
            } else if let Some(v) = part.strip_prefix("s=") {
                salt = Some(v);
            } else if let Some(v) = part.strip_prefix("i=") {
                iterations = Some(v);
            }
        }
        let nonce = nonce
            .filter(|n| n.starts_with(&self.client_nonce) && n.len() > self.client_nonce.len())
            .ok_or("the server's SCRAM nonce does not extend ours")?;
        let salt = salt
            .and_then(|s| B64.decode(s).ok())
            .ok_or("the server's SCRAM salt is missing or not base64")?;
        let iterations: i32 = iterations
            .and_then(|i| i.parse().ok())
            .ok_or("the server's SCRAM iteration count is missing")?;
        let (min, max) = (self.hash.min_iterations(), self.hash.max_iterations());
        if !(min..=max).contains(&iterations) {
            return Err(format!(
                "the server asks for {iterations} SCRAM iterations, outside {min}..={max}"
            ));
        }
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let h = self.hash;
        let salted = h.salted_password(&self.password, &salt, iterations);
        let client_key = h.client_key(&salted);
        let signature = h.hmac(&h.digest(&client_key), auth_message.as_bytes());
        let proof = xor(&client_key, &signature);
        self.expected_server_signature =
            Some(h.hmac(&h.server_key(&salted), auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message: the server proves it knows the credential too.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(server_final)
            .map_err(|_| "the server's final SCRAM message is not UTF-8".to_owned())?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(format!("the server refused the SCRAM exchange: {e}"));
        }
        let got = text
            .split(',')
            .find_map(|p| p.strip_prefix("v="))
            .and_then(|v| B64.decode(v).ok())
            .ok_or("the server's final SCRAM message has no signature")?;
        match &self.expected_server_signature {
            Some(expected) if constant_time_eq(expected, &got) => Ok(()),
            Some(_) => Err(
                "the server's SCRAM signature is wrong: it does not know the \
                            credential (a misconfigured or impostor broker)"
                    .to_owned(),
            ),
            None => Err("SCRAM final message before the challenge".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7677_sha256_exchange() {
        // RFC 7677 section 3: user "user", password "pencil".
        let mut c = ScramClient::with_nonce(
            ScramHash::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(c.first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let fin = c
            .proof(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(
            String::from_utf8(fin).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert!(c
            .verify(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .is_err());
        assert!(c.verify(b"e=invalid-proof").is_err());
    }

    #[test]
    fn hostile_challenges_are_refused() {
        let mut c = ScramClient::with_nonce(ScramHash::Sha512, "u", "p", "abc".into());
        for bad in [
            &b"r=xyz123,s=c2FsdA==,i=4096"[..],
            b"r=abc,s=c2FsdA==,i=4096",
            b"r=abcdef,s=!!,i=4096",
            b"r=abcdef,s=c2FsdA==,i=2147483647",
            b"r=abcdef,s=c2FsdA==,i=1",
            b"e=unknown-user",
        ] {
            assert!(c.proof(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn names_escape_commas_and_equals() {
        assert_eq!(encode_name("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(decode_name("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(decode_name("a=4"), None);
    }
}
