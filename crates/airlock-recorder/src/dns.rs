//! Decodes the question of a DNS query datagram, so that a `sendto` to port 53 seen by
//! strace names the host being resolved even when the resolver is not the sink (for
//! example a hard-coded `8.8.8.8`, which the sandbox redirects but a rule should still
//! see in the syscall view).

use airlock_events::DnsQuestion;

/// Parses the first question of a DNS message (RFC 1035 §4.1). Returns `None` when the
/// bytes are not a plausible query: too short, no question, a bad label, or the
/// message cut before the question's type.
pub fn parse_question(msg: &[u8]) -> Option<DnsQuestion> {
    if msg.len() < 12 {
        return None;
    }
    let qdcount = u16::from_be_bytes([msg[4], msg[5]]);
    if qdcount == 0 {
        return None;
    }
    let mut i = 12;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = *msg.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            // Compression pointers do not occur in a query's first name.
            return None;
        }
        let label = msg.get(i..i + len)?;
        labels.push(label.iter().map(|&b| printable(b)).collect());
        i += len;
        if labels.len() > 127 {
            return None;
        }
    }
    let qtype = u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]);
    let name = if labels.is_empty() {
        ".".to_string()
    } else {
        labels.join(".")
    };
    Some(DnsQuestion {
        name,
        qtype: qtype_name(qtype),
    })
}

fn printable(b: u8) -> char {
    if b.is_ascii_graphic() {
        b as char
    } else {
        // Keep the name one readable token; exfiltration labels are usually hex/base32.
        '?'
    }
}

/// The mnemonic of a query type (`A`, `AAAA`, `TXT`, ... or `TYPE<n>`).
pub fn qtype_name(t: u16) -> String {
    match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        _ => return format!("TYPE{t}"),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for part in name.split('.') {
            q.push(part.len() as u8);
            q.extend_from_slice(part.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    #[test]
    fn decodes_names_and_types() {
        let q = parse_question(&query("abc.exfil.example.com", 16)).unwrap();
        assert_eq!(q.name, "abc.exfil.example.com");
        assert_eq!(q.qtype, "TXT");
        assert_eq!(parse_question(&query("x.y", 99)).unwrap().qtype, "TYPE99");
    }

    #[test]
    fn rejects_junk() {
        assert_eq!(parse_question(b"short"), None);
        let mut q = query("a.b", 1);
        q.truncate(q.len() - 3);
        assert_eq!(parse_question(&q), None);
        let mut no_question = query("a.b", 1);
        no_question[5] = 0;
        assert_eq!(parse_question(&no_question), None);
    }
}
