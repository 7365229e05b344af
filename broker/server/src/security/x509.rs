//! The subject of an X.509 certificate as an RFC 2253 string (`CN=alice,OU=eng,O=Acme`),
//! the form Kafka's `X500Principal.getName()` gives to `ssl.principal.mapping.rules`.
//!
//! Only the few DER structures on the way to the subject are read; every length is checked
//! against the bytes present (the certificate comes from the client).

/// One DER element: tag and contents.
struct Tlv<'a> {
    tag: u8,
    body: &'a [u8],
}

/// Reads one element from the front of `input`, returning it and what follows.
fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((
        Tlv {
            tag,
            body: &rest[..len],
        },
        &rest[len..],
    ))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The certificate's subject in RFC 2253 form; `None` if the DER is not a certificate.
pub fn subject(cert_der: &[u8]) -> Option<String> {
    let (cert, _) = read(cert_der)?;
    if cert.tag != SEQUENCE {
        return None;
    }
    let (tbs, _) = read(cert.body)?;
    if tbs.tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs.body;
    let (first, after) = read(rest)?;
    // [0] EXPLICIT version is optional.
    if first.tag == 0xa0 {
        rest = after;
    }
    // serialNumber, signature, issuer, validity, then subject.
    for _ in 0..4 {
        rest = read(rest)?.1;
    }
    let (name, _) = read(rest)?;
    if name.tag != SEQUENCE {
        return None;
    }
    rdn_sequence(name.body)
}

/// RFC 2253 prints the RDNs last first.
fn rdn_sequence(mut body: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    while !body.is_empty() {
        let (set, rest) = read(body)?;
        if set.tag != SET {
            return None;
        }
        let mut attrs = Vec::new();
        let mut inner = set.body;
        while !inner.is_empty() {
            let (atv, r) = read(inner)?;
            let (oid, value) = read(atv.body)?;
            if oid.tag != OID {
                return None;
            }
            let (value, _) = read(value)?;
            attrs.push(attribute(oid.body, &value));
            inner = r;
        }
        rdns.push(attrs.join("+"));
        body = rest;
    }
    rdns.reverse();
    Some(rdns.join(","))
}

fn attribute(oid: &[u8], value: &Tlv<'_>) -> String {
    let name = match oid {
        [0x55, 0x04, 0x03] => Some("CN"),
        [0x55, 0x04, 0x06] => Some("C"),
        [0x55, 0x04, 0x07] => Some("L"),
        [0x55, 0x04, 0x08] => Some("ST"),
        [0x55, 0x04, 0x09] => Some("STREET"),
        [0x55, 0x04, 0x0a] => Some("O"),
        [0x55, 0x04, 0x0b] => Some("OU"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => Some("DC"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => Some("UID"),
        _ => None,
    };
    // UTF8String, PrintableString, IA5String, TeletexString (read as Latin-1-ish UTF-8).
    let text = matches!(value.tag, 0x0c | 0x13 | 0x16 | 0x14)
        .then(|| std::str::from_utf8(value.body).ok())
        .flatten();
    match (name, text) {
        (Some(n), Some(t)) => format!("{n}={}", escape(t)),
        // Unknown attribute types or string kinds: dotted OID and `#` + the DER in hex.
        _ => {
            let mut der = vec![value.tag];
            der.extend(encode_len(value.body.len()));
            der.extend_from_slice(value.body);
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "{}=#{hex}",
                name.map_or_else(|| dotted(oid), str::to_string)
            )
        }
    }
}

fn encode_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let bytes: Vec<u8> = n
        .to_be_bytes()
        .iter()
        .copied()
        .skip_while(|&b| b == 0)
        .collect();
    let mut out = vec![0x80 | bytes.len() as u8];
    out.extend(bytes);
    out
}

fn dotted(oid: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut acc: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() && i < oid.len() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// RFC 2253 escaping of an attribute value.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER Name: SEQUENCE of SETs of (OID, UTF8String).
    fn name(attrs: &[(&[u8], &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (oid, v) in attrs {
            let mut atv = vec![OID, oid.len() as u8];
            atv.extend_from_slice(oid);
            atv.extend([0x0c, v.len() as u8]);
            atv.extend_from_slice(v.as_bytes());
            let mut seq = vec![SEQUENCE, atv.len() as u8];
            seq.extend(atv);
            body.push(SET);
            body.push(seq.len() as u8);
            body.extend(seq);
        }
        let mut out = vec![SEQUENCE, body.len() as u8];
        out.extend(body);
        out
    }

    #[test]
    fn rdns_print_last_first_with_escapes() {
        let n = name(&[
            (&[0x55, 0x04, 0x06], "US"),
            (&[0x55, 0x04, 0x0a], "Acme, Inc"),
            (&[0x55, 0x04, 0x03], "alice"),
        ]);
        let (seq, _) = read(&n).unwrap();
        assert_eq!(
            rdn_sequence(seq.body).unwrap(),
            "CN=alice,O=Acme\\, Inc,C=US"
        );
    }

    #[test]
    fn truncated_der_is_none_not_a_panic() {
        assert!(subject(&[0x30, 0x82, 0xff]).is_none());
        assert!(subject(&[]).is_none());
        assert!(subject(&[0x30, 0x03, 0x30, 0x01]).is_none());
    }
}
