//! The ESMTP service extensions a server advertises in its EHLO reply (RFC 5321 section
//! 4.1.1.1): built by the server from its configuration, parsed by the client.

use mail_auth::sasl::MechanismName;

use crate::reply::Reply;

/// A set of service extensions, as a server offers them or a client saw them.
///
/// The server advertises exactly what is set here, so an extension that is off is neither
/// advertised nor accepted (its command or parameter gets a syntax error reply).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extensions {
    /// SIZE (RFC 1870): `Some(limit)` in octets; `Some(0)` advertises SIZE without a limit.
    pub size: Option<u64>,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034): every reply but the greeting and EHLO's carries a
    /// RFC 3463 status code.
    pub enhanced_status_codes: bool,
    /// STARTTLS (RFC 3207). A server stops advertising it once TLS is on.
    pub starttls: bool,
    /// AUTH (RFC 4954) with these SASL mechanisms; empty means AUTH is not offered.
    pub auth: Vec<MechanismName>,
    /// CHUNKING (RFC 3030): the BDAT command.
    pub chunking: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// DSN (RFC 3461): the RET, ENVID, NOTIFY and ORCPT parameters.
    pub dsn: bool,
    /// REQUIRETLS (RFC 8689).
    pub requiretls: bool,
    /// VRFY is answered by the host instead of with 252.
    pub vrfy: bool,
    /// EXPN is answered by the host instead of with 252.
    pub expn: bool,
    /// Extensions this crate does not know, as the server wrote them (client side only).
    pub other: Vec<String>,
}

impl Extensions {
    /// The EHLO keyword lines in the order they are advertised, without the greeting line.
    pub fn ehlo_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut flag = |on: bool, keyword: &str| {
            if on {
                lines.push(keyword.to_owned());
            }
        };
        flag(self.pipelining, "PIPELINING");
        flag(self.eight_bit_mime, "8BITMIME");
        flag(self.enhanced_status_codes, "ENHANCEDSTATUSCODES");
        flag(self.chunking, "CHUNKING");
        flag(self.smtputf8, "SMTPUTF8");
        flag(self.dsn, "DSN");
        flag(self.starttls, "STARTTLS");
        flag(self.requiretls, "REQUIRETLS");
        flag(self.expn, "EXPN");
        if let Some(size) = self.size {
            lines.push(if size == 0 {
                "SIZE".to_owned()
            } else {
                format!("SIZE {size}")
            });
        }
        if !self.auth.is_empty() {
            let names: Vec<&str> = self.auth.iter().map(MechanismName::as_str).collect();
            lines.push(format!("AUTH {}", names.join(" ")));
        }
        lines.extend(self.other.iter().cloned());
        lines
    }

    /// Reads the extensions from a server's EHLO reply (all lines after the first).
    /// Keywords are case-insensitive; unknown ones are kept in [`Extensions::other`].
    pub fn from_ehlo_reply(reply: &Reply) -> Self {
        let mut found = Self::default();
        for line in reply.lines().iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => found.pipelining = true,
                "8BITMIME" => found.eight_bit_mime = true,
                "ENHANCEDSTATUSCODES" => found.enhanced_status_codes = true,
                "CHUNKING" => found.chunking = true,
                "SMTPUTF8" => found.smtputf8 = true,
                "DSN" => found.dsn = true,
                "STARTTLS" => found.starttls = true,
                "REQUIRETLS" => found.requiretls = true,
                "VRFY" => found.vrfy = true,
                "EXPN" => found.expn = true,
                "SIZE" => found.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "AUTH" => found
                    .auth
                    .extend(words.filter_map(|w| MechanismName::new(w).ok())),
                _ => found.other.push(line.clone()),
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ehlo_lines_follow_the_configuration() {
        let mut ext = Extensions {
            pipelining: true,
            size: Some(1000),
            ..Default::default()
        };
        assert_eq!(ext.ehlo_lines(), ["PIPELINING", "SIZE 1000"]);

        ext.auth = vec![
            MechanismName::new("PLAIN").unwrap(),
            MechanismName::new("LOGIN").unwrap(),
        ];
        ext.size = Some(0);
        assert_eq!(ext.ehlo_lines(), ["PIPELINING", "SIZE", "AUTH PLAIN LOGIN"]);
        assert!(Extensions::default().ehlo_lines().is_empty());
    }

    #[test]
    fn parses_a_real_ehlo_reply() {
        let reply = Reply::with_lines(
            250,
            None,
            [
                "mx.example.org at your service",
                "SIZE 35882577",
                "8BITMIME",
                "auth login plain xoauth2",
                "ENHANCEDSTATUSCODES",
                "PIPELINING",
                "CHUNKING",
                "SMTPUTF8",
                "X-UNKNOWN 1",
            ],
        );
        let ext = Extensions::from_ehlo_reply(&reply);
        assert_eq!(ext.size, Some(35_882_577));
        assert!(ext.eight_bit_mime && ext.pipelining && ext.chunking && ext.smtputf8);
        assert!(ext.enhanced_status_codes && !ext.starttls && !ext.dsn);
        let names: Vec<&str> = ext.auth.iter().map(MechanismName::as_str).collect();
        assert_eq!(names, ["LOGIN", "PLAIN", "XOAUTH2"]);
        assert_eq!(ext.other, ["X-UNKNOWN 1"]);
    }

    #[test]
    fn advertised_lines_parse_back() {
        let ext = Extensions {
            size: Some(10),
            eight_bit_mime: true,
            pipelining: true,
            enhanced_status_codes: true,
            starttls: true,
            auth: vec![MechanismName::new("SCRAM-SHA-256").unwrap()],
            chunking: true,
            smtputf8: true,
            dsn: true,
            requiretls: true,
            vrfy: false,
            expn: true,
            other: vec![],
        };
        let mut lines = vec!["host".to_owned()];
        lines.extend(ext.ehlo_lines());
        assert_eq!(
            Extensions::from_ehlo_reply(&Reply::with_lines(250, None, lines)),
            ext
        );
    }
}
