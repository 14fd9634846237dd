//! RFC 5321 section 4.1.2 paths and mailboxes, with the RFC 6531 (SMTPUTF8) extensions.
//!
//! ```text
//! Reverse-path   = Path / "<>"
//! Forward-path   = Path
//! Path           = "<" [ A-d-l ":" ] Mailbox ">"
//! Mailbox        = Local-part "@" ( Domain / address-literal )
//! ```

use std::fmt;

/// The local part of a mailbox, kept in its unquoted form (a quoted local part is stored
/// with its quoting and escapes removed; [`fmt::Display`] re-quotes it when needed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalPart(String);

/// The part after `@`: a domain name or an address literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Domain {
    /// `Domain = sub-domain *("." sub-domain)`, or with SMTPUTF8 U-labels as well.
    Name(String),
    /// `IPv4-address-literal`, written `[192.0.2.1]`.
    Ipv4(std::net::Ipv4Addr),
    /// `IPv6-address-literal`, written `[IPv6:2001:db8::1]`.
    Ipv6(std::net::Ipv6Addr),
    /// `General-address-literal = Standardized-tag ":" 1*dcontent`.
    General {
        /// The `Standardized-tag`.
        tag: String,
        /// The `dcontent` after the colon.
        content: String,
    },
}

/// `Mailbox = Local-part "@" ( Domain / address-literal )`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The part before `@`.
    pub local_part: LocalPart,
    /// The part after `@`.
    pub domain: Domain,
}

/// The argument of `MAIL FROM:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`, used for bounces (RFC 5321 section 4.5.5).
    Null,
    /// A sender mailbox (any source route is dropped, as section 4.1.1.2 allows).
    Mailbox(Mailbox),
}

/// The argument of `RCPT TO:`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain (RFC 5321 section 4.1.1.3), matched case-insensitively.
    Postmaster,
    /// A recipient mailbox (any source route is dropped).
    Mailbox(Mailbox),
}

// TEMPORARY STUBS (replaced by the real parser)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError { #[error("syntax")] Syntax }
pub fn reverse_path(i: &[u8]) -> nom::IResult<&[u8], ReversePath> { let _ = i; unimplemented!() }
pub fn forward_path(i: &[u8]) -> nom::IResult<&[u8], ForwardPath> { let _ = i; unimplemented!() }
impl Domain { pub fn parse(i: &[u8]) -> Result<Domain, AddressError> { let _ = i; unimplemented!() } }
impl fmt::Display for Domain { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { write!(f, "") } }
impl fmt::Display for ReversePath { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { write!(f, "") } }
impl fmt::Display for ForwardPath { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { write!(f, "") } }
impl fmt::Display for Mailbox { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { write!(f, "") } }
impl Mailbox { pub fn is_ascii(&self) -> bool { true } }
impl ReversePath { pub fn is_ascii(&self) -> bool { true } pub fn mailbox(&self) -> Option<&Mailbox> { None } }
impl ForwardPath { pub fn is_ascii(&self) -> bool { true } pub fn mailbox(&self) -> Option<&Mailbox> { None } }
