//! RFC 5321 section 4.1.2 paths and mailboxes, with the RFC 6531 (SMTPUTF8) extensions.
//!
//! ```text
//! Reverse-path   = Path / "<>"
//! Forward-path   = Path
//! Path           = "<" [ A-d-l ":" ] Mailbox ">"
//! Mailbox        = Local-part "@" ( Domain / address-literal )
//! ```

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use nom::bytes::complete::{tag_no_case, take_while_m_n};
use nom::error::{ErrorKind, ParseError};
use nom::{IResult, Parser};

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

/// The longest local part allowed, in octets (RFC 5321 section 4.5.3.1.1), counted as written
/// on the wire (with the quotes and backslashes of a Quoted-string).
pub const MAX_LOCAL_PART_LEN: usize = 64;
/// The longest domain allowed, in octets (RFC 5321 section 4.5.3.1.2); an address literal is
/// counted with its brackets.
pub const MAX_DOMAIN_LEN: usize = 255;
/// The longest label of a domain name allowed, in octets (RFC 1035 section 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// The longest reverse-path or forward-path allowed, in octets, counting the angle brackets and
/// any source route (RFC 5321 section 4.5.3.1.3).
pub const MAX_PATH_LEN: usize = 256;

/// Why an address could not be parsed or built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The text is not a valid address (this includes invalid UTF-8 and text left over after
    /// the address in a whole-input parse).
    #[error("invalid address syntax")]
    Syntax,
    /// The local part is longer than 64 octets.
    #[error("local part longer than 64 octets")]
    LocalPartTooLong,
    /// The domain (or address literal) is longer than 255 octets.
    #[error("domain longer than 255 octets")]
    DomainTooLong,
    /// A label of the domain name is longer than 63 octets.
    #[error("domain label longer than 63 octets")]
    LabelTooLong,
    /// The path is longer than 256 octets, angle brackets included.
    #[error("path longer than 256 octets")]
    PathTooLong,
}

// ---------------------------------------------------------------------------------------------
// Internal error type: keeps the caller-facing reason next to nom's error kind.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct PErr<'a> {
    input: &'a [u8],
    code: ErrorKind,
    error: AddressError,
}

impl<'a> ParseError<&'a [u8]> for PErr<'a> {
    fn from_error_kind(input: &'a [u8], code: ErrorKind) -> Self {
        PErr {
            input,
            code,
            error: AddressError::Syntax,
        }
    }

    fn append(_: &'a [u8], _: ErrorKind, other: Self) -> Self {
        other
    }
}

type PResult<'a, T> = IResult<&'a [u8], T, PErr<'a>>;

fn syntax<'a, T>(input: &'a [u8], code: ErrorKind) -> PResult<'a, T> {
    Err(nom::Err::Error(PErr {
        input,
        code,
        error: AddressError::Syntax,
    }))
}

fn too_long<'a, T>(input: &'a [u8], error: AddressError) -> PResult<'a, T> {
    Err(nom::Err::Failure(PErr {
        input,
        code: ErrorKind::TooLarge,
        error,
    }))
}

/// Converts to the error type of the public nom combinators.
fn public<'a, T>(result: PResult<'a, T>) -> IResult<&'a [u8], T> {
    result.map_err(|e| e.map(|e| nom::error::Error::new(e.input, e.code)))
}

/// Runs `parser` on the whole of `input`.
fn whole<'a, T>(
    input: &'a [u8],
    parser: fn(&'a [u8]) -> PResult<'a, T>,
) -> Result<T, AddressError> {
    match parser(input) {
        Ok(([], value)) => Ok(value),
        Ok(_) | Err(nom::Err::Incomplete(_)) => Err(AddressError::Syntax),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.error),
    }
}

/// Like [`whole`] but hands back the rest of the input instead of requiring it to be empty.
fn prefix<'a, T>(
    input: &'a [u8],
    parser: fn(&'a [u8]) -> PResult<'a, T>,
) -> Result<(T, &'a [u8]), AddressError> {
    match parser(input) {
        Ok((rest, value)) => Ok((value, rest)),
        Err(nom::Err::Incomplete(_)) => Err(AddressError::Syntax),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.error),
    }
}

/// Checks that `raw` (a part of `at`) is UTF-8.
fn utf8<'a>(at: &'a [u8], raw: &'a [u8]) -> Result<&'a str, nom::Err<PErr<'a>>> {
    std::str::from_utf8(raw).map_err(|_| {
        nom::Err::Error(PErr {
            input: at,
            code: ErrorKind::Verify,
            error: AddressError::Syntax,
        })
    })
}

/// `raw` (a part of `at`), which must be UTF-8, as an owned string.
fn owned_text<'a>(at: &'a [u8], raw: &'a [u8]) -> Result<String, nom::Err<PErr<'a>>> {
    utf8(at, raw).map(str::to_owned)
}

/// The part of `input` that was consumed to leave `rest`.
fn consumed<'a>(input: &'a [u8], rest: &'a [u8]) -> &'a [u8] {
    &input[..input.len() - rest.len()]
}

// ---------------------------------------------------------------------------------------------
// Character classes.
// ---------------------------------------------------------------------------------------------

/// `atext`, plus `UTF8-non-ascii` (RFC 6531).
const ATEXT: u8 = 1 << 0;
/// `qtextSMTP`, plus `UTF8-non-ascii` (RFC 6531).
const QTEXT: u8 = 1 << 1;
/// `dcontent`.
const DCONTENT: u8 = 1 << 2;
/// `ALPHA / DIGIT / "-"`.
const LDH: u8 = 1 << 3;
/// `ALPHA / DIGIT / "-"` plus the octets of UTF-8 non-ASCII characters (U-labels).
const LABEL: u8 = 1 << 4;
/// The characters of an `IPv6-addr`: hex digits, ":" and ".".
const IPV6: u8 = 1 << 5;
/// `DIGIT`.
const DIGIT: u8 = 1 << 6;

const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        let alnum = b.is_ascii_alphanumeric();
        let non_ascii = b >= 0x80;
        if alnum
            || non_ascii
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'/'
                    | b'='
                    | b'?'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'{'
                    | b'|'
                    | b'}'
                    | b'~'
            )
        {
            c |= ATEXT;
        }
        if matches!(b, 32..=33 | 35..=91 | 93..=126) || non_ascii {
            c |= QTEXT;
        }
        if matches!(b, 33..=90 | 94..=126) {
            c |= DCONTENT;
        }
        if alnum || b == b'-' {
            c |= LDH;
        }
        if alnum || b == b'-' || non_ascii {
            c |= LABEL;
        }
        if b.is_ascii_hexdigit() || b == b':' || b == b'.' {
            c |= IPV6;
        }
        if b.is_ascii_digit() {
            c |= DIGIT;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[inline]
fn is(b: u8, class: u8) -> bool {
    CLASSES[b as usize] & class != 0
}

/// One or more octets of `class`, as nom's `take_while1` (with its error kind), written out
/// because paths are parsed on every MAIL and RCPT and the generic version does not inline.
fn take_class1(input: &[u8], class: u8) -> PResult<'_, &[u8]> {
    let len = input
        .iter()
        .position(|&b| !is(b, class))
        .unwrap_or(input.len());
    if len == 0 {
        return syntax(input, ErrorKind::TakeWhile1);
    }
    Ok((&input[len..], &input[..len]))
}

/// The literal `text`, as nom's `tag` (with its error kind), written out for the same reason.
fn lit<'a>(input: &'a [u8], text: &'static str) -> PResult<'a, &'a [u8]> {
    match input.strip_prefix(text.as_bytes()) {
        Some(rest) => Ok((rest, &input[..text.len()])),
        None => syntax(input, ErrorKind::Tag),
    }
}

// ---------------------------------------------------------------------------------------------
// The grammar, one function per ABNF rule.
// ---------------------------------------------------------------------------------------------

/// ```text
/// Atom = 1*atext            ; RFC 5321 section 4.1.2
/// atext =/ UTF8-non-ascii   ; RFC 6531 section 3.3
/// ```
fn atom(input: &[u8]) -> PResult<'_, &[u8]> {
    take_class1(input, ATEXT)
}

/// ```text
/// Dot-string = Atom *("."  Atom)
/// ```
///
/// A dot that is not followed by an atom is an error, not left over.
fn dot_string(input: &[u8]) -> PResult<'_, &[u8]> {
    let (mut rest, _) = atom(input)?;
    while let [b'.', after @ ..] = rest {
        let (r, _) = atom(after)?;
        rest = r;
    }
    Ok((rest, consumed(input, rest)))
}

/// ```text
/// quoted-pairSMTP = %d92 %d32-126
/// ```
///
/// Returns the escaped character.
fn quoted_pair_smtp(input: &[u8]) -> PResult<'_, &[u8]> {
    match input {
        [b'\\', 32..=126, ..] => Ok((&input[2..], &input[1..2])),
        _ => syntax(input, ErrorKind::Escaped),
    }
}

/// ```text
/// QcontentSMTP = qtextSMTP / quoted-pairSMTP
/// qtextSMTP    = %d32-33 / %d35-91 / %d93-126
/// qtextSMTP    =/ UTF8-non-ascii   ; RFC 6531 section 3.3
/// ```
///
/// Takes a run of `qtextSMTP` or one `quoted-pairSMTP`, and returns the unescaped text.
fn qcontent_smtp(input: &[u8]) -> PResult<'_, &[u8]> {
    match input.first() {
        Some(b'\\') => quoted_pair_smtp(input),
        _ => take_class1(input, QTEXT),
    }
}

/// ```text
/// Quoted-string = DQUOTE *QcontentSMTP DQUOTE
/// ```
///
/// Returns the content with the quoting removed. Gives up as soon as the string is longer than
/// a local part may be.
fn quoted_string(input: &[u8]) -> PResult<'_, String> {
    let (mut rest, _) = lit(input, "\"")?;
    let mut content = Vec::new();
    loop {
        if let [b'"', after @ ..] = rest {
            rest = after;
            break;
        }
        let (r, piece) = qcontent_smtp(rest)?;
        rest = r;
        if input.len() - rest.len() >= MAX_LOCAL_PART_LEN {
            return too_long(input, AddressError::LocalPartTooLong);
        }
        content.extend_from_slice(piece);
    }
    match String::from_utf8(content) {
        Ok(s) => Ok((rest, s)),
        Err(_) => syntax(input, ErrorKind::Verify),
    }
}

/// ```text
/// Local-part = Dot-string / Quoted-string
/// ```
fn local_part(input: &[u8]) -> PResult<'_, LocalPart> {
    let (rest, text) = if input.first() == Some(&b'"') {
        quoted_string(input)?
    } else {
        let (rest, raw) = dot_string(input)?;
        if raw.len() > MAX_LOCAL_PART_LEN {
            return too_long(input, AddressError::LocalPartTooLong);
        }
        (rest, owned_text(input, raw)?)
    };
    if input.len() - rest.len() > MAX_LOCAL_PART_LEN {
        return too_long(input, AddressError::LocalPartTooLong);
    }
    Ok((rest, LocalPart(text)))
}

/// ```text
/// Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
/// Let-dig = ALPHA / DIGIT
/// ```
fn ldh_str(input: &[u8]) -> PResult<'_, &[u8]> {
    let (rest, text) = take_class1(input, LDH)?;
    if text.last() == Some(&b'-') {
        return syntax(input, ErrorKind::Verify);
    }
    Ok((rest, text))
}

/// ```text
/// sub-domain = Let-dig [Ldh-str]   ; RFC 5321 section 4.1.2
/// sub-domain =/ U-label            ; RFC 6531 section 3.3
/// ```
///
/// A label is 1 to 63 octets of letters, digits, hyphens and UTF-8 non-ASCII characters that
/// neither starts nor ends with a hyphen. (U-labels are not checked further against IDNA.)
fn sub_domain(input: &[u8]) -> PResult<'_, &[u8]> {
    let (rest, label) = take_class1(input, LABEL)?;
    if label.len() > MAX_LABEL_LEN {
        return too_long(input, AddressError::LabelTooLong);
    }
    if label.first() == Some(&b'-') || label.last() == Some(&b'-') {
        return syntax(input, ErrorKind::Verify);
    }
    Ok((rest, label))
}

/// ```text
/// Domain = sub-domain *("." sub-domain)
/// ```
///
/// A dot that is not followed by a label is an error (so a trailing dot is rejected).
/// Returns the name's octets; the caller checks them as UTF-8 (for U-labels) when it keeps
/// them, and a source route's domain, which is thrown away, is checked all the same.
fn domain_name(input: &[u8]) -> PResult<'_, &[u8]> {
    let (mut rest, _) = sub_domain(input)?;
    while let [b'.', after @ ..] = rest {
        let (r, _) = sub_domain(after)?;
        rest = r;
        if input.len() - rest.len() > MAX_DOMAIN_LEN {
            return too_long(input, AddressError::DomainTooLong);
        }
    }
    Ok((rest, consumed(input, rest)))
}

/// ```text
/// Snum = 1*3DIGIT   ; representing a decimal integer value in the range 0 through 255
/// ```
fn snum(input: &[u8]) -> PResult<'_, u8> {
    let (rest, digits) = take_while_m_n(1, 3, |b| is(b, DIGIT)).parse(input)?;
    let value = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    match u8::try_from(value) {
        Ok(v) => Ok((rest, v)),
        Err(_) => syntax(input, ErrorKind::Digit),
    }
}

/// ```text
/// IPv4-address-literal = Snum 3("."  Snum)
/// ```
fn ipv4_address_literal(input: &[u8]) -> PResult<'_, Domain> {
    let (mut rest, first) = snum(input)?;
    let mut octets = [first, 0, 0, 0];
    for octet in &mut octets[1..] {
        let (r, _) = lit(rest, ".")?;
        let (r, value) = snum(r)?;
        *octet = value;
        rest = r;
    }
    Ok((rest, Domain::Ipv4(Ipv4Addr::from(octets))))
}

/// ```text
/// IPv6-address-literal = "IPv6:" IPv6-addr
/// ```
///
/// The tag is matched case-insensitively; `IPv6-addr` is whatever [`Ipv6Addr::from_str`]
/// accepts (the full, compressed and IPv4-embedded forms of RFC 5321).
fn ipv6_address_literal(input: &[u8]) -> PResult<'_, Domain> {
    let (rest, _) = tag_no_case("IPv6:").parse(input)?;
    let (rest, text) = take_class1(rest, IPV6)?;
    let addr = utf8(input, text)?;
    match Ipv6Addr::from_str(addr) {
        Ok(addr) => Ok((rest, Domain::Ipv6(addr))),
        Err(_) => syntax(input, ErrorKind::Verify),
    }
}

/// ```text
/// General-address-literal = Standardized-tag ":" 1*dcontent
/// Standardized-tag        = Ldh-str
/// dcontent                = %d33-90 / %d94-126
/// ```
///
/// The tag `IPv6` (in any case) is not a general literal: its content must be an IPv6 address.
fn general_address_literal(input: &[u8]) -> PResult<'_, Domain> {
    let (rest, tag_text) = ldh_str(input)?;
    if tag_text.eq_ignore_ascii_case(b"IPv6") {
        return syntax(input, ErrorKind::Verify);
    }
    let (rest, _) = lit(rest, ":")?;
    let (rest, content) = take_class1(rest, DCONTENT)?;
    Ok((
        rest,
        Domain::General {
            tag: utf8(input, tag_text)?.to_owned(),
            content: utf8(input, content)?.to_owned(),
        },
    ))
}

/// ```text
/// address-literal = "[" ( IPv4-address-literal /
///                         IPv6-address-literal /
///                         General-address-literal ) "]"
/// ```
fn address_literal(input: &[u8]) -> PResult<'_, Domain> {
    let (inner, _) = lit(input, "[")?;
    let (rest, domain) = match ipv4_address_literal(inner) {
        Ok((r, d)) if r.first() == Some(&b']') => (r, d),
        Err(e @ nom::Err::Failure(_)) => return Err(e),
        _ => match ipv6_address_literal(inner) {
            Ok(ok) => ok,
            Err(e @ nom::Err::Failure(_)) => return Err(e),
            Err(_) => general_address_literal(inner)?,
        },
    };
    let (rest, _) = lit(rest, "]")?;
    if input.len() - rest.len() > MAX_DOMAIN_LEN {
        return too_long(input, AddressError::DomainTooLong);
    }
    Ok((rest, domain))
}

/// ```text
/// ( Domain / address-literal )   ; after the "@" of a Mailbox, and the argument of EHLO/HELO
/// ```
fn domain_or_address_literal(input: &[u8]) -> PResult<'_, Domain> {
    if input.first() == Some(&b'[') {
        address_literal(input)
    } else {
        let (rest, name) = domain_name(input)?;
        Ok((rest, Domain::Name(owned_text(input, name)?)))
    }
}

/// ```text
/// Mailbox = Local-part "@" ( Domain / address-literal )
/// ```
fn mailbox_inner(input: &[u8]) -> PResult<'_, Mailbox> {
    if let Some(found) = plain_mailbox(input) {
        return Ok(found);
    }

    let (rest, local_part) = local_part(input)?;
    let (rest, _) = lit(rest, "@")?;
    let (rest, domain) = domain_or_address_literal(rest)?;
    Ok((rest, Mailbox { local_part, domain }))
}

/// The usual form of a mailbox, a Dot-string and a domain name, with its text checked as
/// UTF-8 in one go rather than part by part (validation dominates for such short texts).
/// `None` for any other form and for any error: [`mailbox_inner`] then takes the general
/// way, which gives the same value for what this accepts and the precise error otherwise.
fn plain_mailbox(input: &[u8]) -> Option<(&[u8], Mailbox)> {
    if input.first() == Some(&b'"') {
        return None;
    }
    let (rest, local) = dot_string(input).ok()?;
    let domain = rest.strip_prefix(b"@")?;
    if local.len() > MAX_LOCAL_PART_LEN || domain.first() == Some(&b'[') {
        return None;
    }
    let (rest, _) = domain_name(domain).ok()?;

    // `@` is ASCII, so both sides of it are UTF-8 when the whole is.
    let text = std::str::from_utf8(consumed(input, rest)).ok()?;
    let (local, domain) = text.split_at(local.len());
    let mailbox = Mailbox {
        local_part: LocalPart(local.to_owned()),
        domain: Domain::Name(domain[1..].to_owned()),
    };
    Some((rest, mailbox))
}

/// ```text
/// At-domain = "@" Domain
/// ```
fn at_domain(input: &[u8]) -> PResult<'_, ()> {
    let (domain, _) = lit(input, "@")?;
    let (rest, name) = domain_name(domain)?;
    utf8(domain, name)?;
    Ok((rest, ()))
}

/// ```text
/// A-d-l = At-domain *( "," At-domain )
///       ; Note that this form, the so-called "source
///       ; route", MUST BE accepted, SHOULD NOT be
///       ; generated, and SHOULD be ignored.
/// ```
///
/// The source route is checked and thrown away.
fn a_d_l(input: &[u8]) -> PResult<'_, ()> {
    let (mut rest, ()) = at_domain(input)?;
    while let [b',', after @ ..] = rest {
        let (r, ()) = at_domain(after)?;
        rest = r;
    }
    Ok((rest, ()))
}

/// ```text
/// Path = "<" [ A-d-l ":" ] Mailbox ">"
/// ```
fn path(input: &[u8]) -> PResult<'_, Mailbox> {
    let (mut rest, _) = lit(input, "<")?;
    if rest.first() == Some(&b'@') {
        let (r, ()) = a_d_l(rest)?;
        let (r, _) = lit(r, ":")?;
        rest = r;
    }
    let (rest, mailbox) = mailbox_inner(rest)?;
    let (rest, _) = lit(rest, ">")?;
    if input.len() - rest.len() > MAX_PATH_LEN {
        return too_long(input, AddressError::PathTooLong);
    }
    Ok((rest, mailbox))
}

/// ```text
/// Reverse-path = Path / "<>"
/// ```
fn reverse_path_inner(input: &[u8]) -> PResult<'_, ReversePath> {
    if let [b'<', b'>', rest @ ..] = input {
        return Ok((rest, ReversePath::Null));
    }
    let (rest, mailbox) = path(input)?;
    Ok((rest, ReversePath::Mailbox(mailbox)))
}

/// ```text
/// Forward-path = Path
/// Rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) ...
/// ```
fn forward_path_inner(input: &[u8]) -> PResult<'_, ForwardPath> {
    const POSTMASTER: &[u8] = b"<Postmaster>";
    if let Some(head) = input.get(..POSTMASTER.len())
        && head.eq_ignore_ascii_case(POSTMASTER)
    {
        return Ok((&input[POSTMASTER.len()..], ForwardPath::Postmaster));
    }
    let (rest, mailbox) = path(input)?;
    Ok((rest, ForwardPath::Mailbox(mailbox)))
}

// ---------------------------------------------------------------------------------------------
// Public nom combinators.
// ---------------------------------------------------------------------------------------------

/// Parses a `Reverse-path` (`"<>"` or a Path, any source route dropped) at the start of
/// `input`, handing back what follows the closing `>` (the ESMTP parameters, for the caller to
/// check).
///
/// Length limits are reported as [`nom::Err::Failure`] with [`ErrorKind::TooLarge`]; use
/// [`ReversePath::parse_prefix`] to learn which limit.
pub fn reverse_path(input: &[u8]) -> IResult<&[u8], ReversePath> {
    public(reverse_path_inner(input))
}

/// Parses a `Forward-path` (a Path, any source route dropped, or `"<Postmaster>"` in any case)
/// at the start of `input`, handing back what follows the closing `>`.
///
/// Length limits are reported as [`nom::Err::Failure`] with [`ErrorKind::TooLarge`]; use
/// [`ForwardPath::parse_prefix`] to learn which limit.
pub fn forward_path(input: &[u8]) -> IResult<&[u8], ForwardPath> {
    public(forward_path_inner(input))
}

/// Parses a `Mailbox` (`Local-part "@" ( Domain / address-literal )`, without angle brackets)
/// at the start of `input`, handing back what follows it.
pub fn mailbox(input: &[u8]) -> IResult<&[u8], Mailbox> {
    public(mailbox_inner(input))
}

/// Parses a `Domain` name or an `address-literal` (the argument of EHLO and HELO) at the start
/// of `input`, handing back what follows it.
pub fn domain(input: &[u8]) -> IResult<&[u8], Domain> {
    public(domain_or_address_literal(input))
}

// ---------------------------------------------------------------------------------------------
// Types: constructors, whole-input parsers and accessors.
// ---------------------------------------------------------------------------------------------

impl LocalPart {
    /// Builds a local part from its unquoted form. Any text can be used that can be written as
    /// a Dot-string or a Quoted-string (no control characters) and is at most 64 octets once
    /// written so.
    pub fn new(text: &str) -> Result<LocalPart, AddressError> {
        let representable = text
            .bytes()
            .all(|b| is(b, QTEXT) || b == b'"' || b == b'\\');
        if !representable {
            return Err(AddressError::Syntax);
        }
        let local_part = LocalPart(text.to_owned());
        if local_part.wire_len() > MAX_LOCAL_PART_LEN {
            return Err(AddressError::LocalPartTooLong);
        }
        Ok(local_part)
    }

    /// The local part with any quoting removed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the local part is all ASCII (else it needs SMTPUTF8).
    pub fn is_ascii(&self) -> bool {
        self.0.is_ascii()
    }

    /// Whether the local part can be written without quotes.
    fn is_dot_string(&self) -> bool {
        matches!(dot_string(self.0.as_bytes()), Ok((rest, _)) if rest.is_empty())
    }

    /// The length of the local part as written by [`fmt::Display`].
    fn wire_len(&self) -> usize {
        if self.is_dot_string() {
            self.0.len()
        } else {
            2 + self.0.len() + self.0.bytes().filter(|&b| b == b'"' || b == b'\\').count()
        }
    }
}

impl Domain {
    /// Parses a domain name or an address literal; the whole of `input` must be used.
    pub fn parse(input: &[u8]) -> Result<Domain, AddressError> {
        whole(input, domain_or_address_literal)
    }

    /// Parses a domain name or an address literal at the start of `input`, and returns it with
    /// the rest of the input.
    pub fn parse_prefix(input: &[u8]) -> Result<(Domain, &[u8]), AddressError> {
        prefix(input, domain_or_address_literal)
    }

    /// Whether the domain is all ASCII (a name with U-labels needs SMTPUTF8).
    pub fn is_ascii(&self) -> bool {
        match self {
            Domain::Name(name) => name.is_ascii(),
            Domain::General { tag, content } => tag.is_ascii() && content.is_ascii(),
            Domain::Ipv4(_) | Domain::Ipv6(_) => true,
        }
    }

    /// Compares two domains as SMTP does: names ASCII case-insensitively, address literals by
    /// value (the tag of a general literal case-insensitively).
    pub fn eq_ignore_case(&self, other: &Domain) -> bool {
        match (self, other) {
            (Domain::Name(a), Domain::Name(b)) => a.eq_ignore_ascii_case(b),
            (
                Domain::General { tag, content },
                Domain::General {
                    tag: other_tag,
                    content: other_content,
                },
            ) => tag.eq_ignore_ascii_case(other_tag) && content == other_content,
            _ => self == other,
        }
    }
}

impl Mailbox {
    /// Parses `local-part@domain` (no angle brackets); the whole of `input` must be used.
    pub fn parse_bytes(input: &[u8]) -> Result<Mailbox, AddressError> {
        whole(input, mailbox_inner)
    }

    /// Parses `local-part@domain` at the start of `input`, and returns it with the rest of the
    /// input.
    pub fn parse_prefix(input: &[u8]) -> Result<(Mailbox, &[u8]), AddressError> {
        prefix(input, mailbox_inner)
    }

    /// Whether the mailbox is all ASCII (else it needs SMTPUTF8).
    pub fn is_ascii(&self) -> bool {
        self.local_part.is_ascii() && self.domain.is_ascii()
    }
}

impl FromStr for Mailbox {
    type Err = AddressError;

    /// Parses `local-part@domain` (no angle brackets); the whole string must be used.
    fn from_str(s: &str) -> Result<Mailbox, AddressError> {
        Mailbox::parse_bytes(s.as_bytes())
    }
}

impl ReversePath {
    /// Parses `<>` or a Path; the whole of `input` must be used.
    pub fn parse(input: &[u8]) -> Result<ReversePath, AddressError> {
        whole(input, reverse_path_inner)
    }

    /// Parses `<>` or a Path at the start of `input`, and returns it with what follows the `>`.
    pub fn parse_prefix(input: &[u8]) -> Result<(ReversePath, &[u8]), AddressError> {
        prefix(input, reverse_path_inner)
    }

    /// The sender mailbox, or `None` for `<>`.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            ReversePath::Null => None,
            ReversePath::Mailbox(mailbox) => Some(mailbox),
        }
    }

    /// Whether the path is all ASCII (else it needs SMTPUTF8).
    pub fn is_ascii(&self) -> bool {
        self.mailbox().is_none_or(Mailbox::is_ascii)
    }
}

impl ForwardPath {
    /// Parses `<Postmaster>` or a Path; the whole of `input` must be used.
    pub fn parse(input: &[u8]) -> Result<ForwardPath, AddressError> {
        whole(input, forward_path_inner)
    }

    /// Parses `<Postmaster>` or a Path at the start of `input`, and returns it with what
    /// follows the `>`.
    pub fn parse_prefix(input: &[u8]) -> Result<(ForwardPath, &[u8]), AddressError> {
        prefix(input, forward_path_inner)
    }

    /// The recipient mailbox, or `None` for `<Postmaster>`.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            ForwardPath::Postmaster => None,
            ForwardPath::Mailbox(mailbox) => Some(mailbox),
        }
    }

    /// Whether the path is all ASCII (else it needs SMTPUTF8).
    pub fn is_ascii(&self) -> bool {
        self.mailbox().is_none_or(Mailbox::is_ascii)
    }
}

// ---------------------------------------------------------------------------------------------
// Display.
// ---------------------------------------------------------------------------------------------

impl fmt::Display for LocalPart {
    /// Writes the local part as a Dot-string if it is one, else as a Quoted-string with `"` and
    /// `\` escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_dot_string() {
            return f.write_str(&self.0);
        }
        f.write_char('"')?;
        let mut text = self.0.as_str();
        while let Some(at) = text.find(['"', '\\']) {
            f.write_str(&text[..at])?;
            f.write_char('\\')?;
            f.write_str(&text[at..at + 1])?;
            text = &text[at + 1..];
        }
        f.write_str(text)?;
        f.write_char('"')
    }
}

impl fmt::Display for Domain {
    /// Writes a name as it is, and literals as `[192.0.2.1]`, `[IPv6:2001:db8::1]` and
    /// `[tag:content]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Name(name) => f.write_str(name),
            Domain::Ipv4(addr) => write!(f, "[{addr}]"),
            Domain::Ipv6(addr) => write!(f, "[IPv6:{addr}]"),
            Domain::General { tag, content } => write!(f, "[{tag}:{content}]"),
        }
    }
}

impl fmt::Display for Mailbox {
    /// Writes `local-part@domain`, quoting the local part when it is not a Dot-string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local_part, self.domain)
    }
}

impl fmt::Display for ReversePath {
    /// Writes `<>` or `<mailbox>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(mailbox) => write!(f, "<{mailbox}>"),
        }
    }
}

impl fmt::Display for ForwardPath {
    /// Writes `<Postmaster>` or `<mailbox>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Mailbox(mailbox) => write!(f, "<{mailbox}>"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fuzzing.
// ---------------------------------------------------------------------------------------------

/// Runs the parsers on `data` and checks, for every success, that writing the value and parsing
/// it again gives the same value. Panics only when that check fails.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) {
    if let Ok((rest, path)) = reverse_path(data) {
        let text = path.to_string();
        assert_eq!(
            ReversePath::parse(text.as_bytes()),
            Ok(path.clone()),
            "{text}"
        );
        assert_eq!(ReversePath::parse_prefix(data), Ok((path, rest)));
    }
    if let Ok((rest, path)) = forward_path(data) {
        let text = path.to_string();
        assert_eq!(
            ForwardPath::parse(text.as_bytes()),
            Ok(path.clone()),
            "{text}"
        );
        assert_eq!(ForwardPath::parse_prefix(data), Ok((path, rest)));
    }
    if let Ok((rest, mailbox)) = mailbox(data) {
        let text = mailbox.to_string();
        assert_eq!(
            Mailbox::parse_bytes(text.as_bytes()),
            Ok(mailbox.clone()),
            "{text}"
        );
        assert_eq!(text.parse::<Mailbox>(), Ok(mailbox.clone()));
        assert_eq!(Mailbox::parse_prefix(data), Ok((mailbox.clone(), rest)));
        let path = ReversePath::Mailbox(mailbox);
        let path_text = path.to_string();
        if path_text.len() <= MAX_PATH_LEN {
            assert_eq!(ReversePath::parse(path_text.as_bytes()), Ok(path));
        }
    }
    if let Ok((rest, domain)) = domain(data) {
        let text = domain.to_string();
        assert_eq!(Domain::parse(text.as_bytes()), Ok(domain.clone()), "{text}");
        assert_eq!(Domain::parse_prefix(data), Ok((domain, rest)));
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(local_part) = LocalPart::new(text)
    {
        assert_eq!(local_part.as_str(), text);
        let mailbox = Mailbox {
            local_part,
            domain: Domain::Name("example.com".to_owned()),
        };
        let written = mailbox.to_string();
        assert_eq!(
            Mailbox::parse_bytes(written.as_bytes()),
            Ok(mailbox),
            "{written}"
        );
    }
    // The whole-input parsers must not panic either.
    let _ = ReversePath::parse(data);
    let _ = ForwardPath::parse(data);
    let _ = Mailbox::parse_bytes(data);
    let _ = Domain::parse(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Domain {
        Domain::Name(s.to_owned())
    }

    fn mb(local: &str, domain: Domain) -> Mailbox {
        Mailbox {
            local_part: LocalPart(local.to_owned()),
            domain,
        }
    }

    /// A domain name of exactly `len` octets made of labels of at most 51 octets.
    fn domain_of_len(len: usize) -> String {
        let mut out = String::new();
        let mut left = len;
        while left > MAX_LABEL_LEN {
            out.push_str(&"d".repeat(50));
            out.push('.');
            left -= 51;
        }
        out.push_str(&"e".repeat(left));
        assert_eq!(out.len(), len);
        out
    }

    fn rp(s: &str) -> Result<ReversePath, AddressError> {
        ReversePath::parse(s.as_bytes())
    }

    fn fp(s: &str) -> Result<ForwardPath, AddressError> {
        ForwardPath::parse(s.as_bytes())
    }

    fn round_trip_rp(s: &str) -> ReversePath {
        let parsed = rp(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let text = parsed.to_string();
        assert_eq!(rp(&text), Ok(parsed.clone()), "{s} -> {text}");
        parsed
    }

    #[test]
    fn rfc_source_route_is_dropped() {
        let path = round_trip_rp("<@hosta.int,@jkl.org:userc@d.bar.org>");
        assert_eq!(path, ReversePath::Mailbox(mb("userc", name("d.bar.org"))));
        assert_eq!(path.to_string(), "<userc@d.bar.org>");
        assert_eq!(
            fp("<@hosta.int:userc@d.bar.org>"),
            Ok(ForwardPath::Mailbox(mb("userc", name("d.bar.org"))))
        );
    }

    #[test]
    fn bad_source_routes() {
        for s in [
            "<@hosta.int,userc@d.bar.org>",
            "<@hosta.int userc@d.bar.org>",
            "<@:userc@d.bar.org>",
            "<@hosta.int,:userc@d.bar.org>",
            "<@[1.2.3.4]:userc@d.bar.org>",
            "<@host-.int:userc@d.bar.org>",
            "<@hosta.int,@:userc@d.bar.org>",
        ] {
            assert_eq!(rp(s), Err(AddressError::Syntax), "{s}");
        }
    }

    #[test]
    fn postmaster() {
        assert_eq!(fp("<Postmaster>"), Ok(ForwardPath::Postmaster));
        assert_eq!(fp("<pOSTMASTER>"), Ok(ForwardPath::Postmaster));
        assert_eq!(ForwardPath::Postmaster.to_string(), "<Postmaster>");
        assert_eq!(ForwardPath::Postmaster.mailbox(), None);
        assert!(ForwardPath::Postmaster.is_ascii());
        assert_eq!(
            fp("<postmaster@example.com>"),
            Ok(ForwardPath::Mailbox(mb("postmaster", name("example.com"))))
        );
        // Only a forward path may be the bare Postmaster.
        assert_eq!(rp("<Postmaster>"), Err(AddressError::Syntax));
        assert_eq!(fp("<Postmaster >"), Err(AddressError::Syntax));
        assert_eq!(
            forward_path(b"<Postmaster> NOTIFY=NEVER"),
            Ok((&b" NOTIFY=NEVER"[..], ForwardPath::Postmaster))
        );
    }

    #[test]
    fn null_reverse_path() {
        assert_eq!(rp("<>"), Ok(ReversePath::Null));
        assert_eq!(ReversePath::Null.to_string(), "<>");
        assert_eq!(ReversePath::Null.mailbox(), None);
        assert!(ReversePath::Null.is_ascii());
        assert_eq!(
            reverse_path(b"<> SIZE=10"),
            Ok((&b" SIZE=10"[..], ReversePath::Null))
        );
        assert_eq!(fp("<>"), Err(AddressError::Syntax));
        assert_eq!(rp("< >"), Err(AddressError::Syntax));
    }

    #[test]
    fn plain_mailbox() {
        let path = round_trip_rp("<user.name+tag@Example.COM>");
        let mailbox = path.mailbox().unwrap();
        assert_eq!(mailbox.local_part.as_str(), "user.name+tag");
        assert_eq!(mailbox.domain, name("Example.COM"));
        assert!(mailbox.is_ascii());
        assert_eq!(path.to_string(), "<user.name+tag@Example.COM>");
        let all_atext = "!#$%&'*+-/=?^_`{|}~09azAZ";
        let m: Mailbox = format!("{all_atext}@x").parse().unwrap();
        assert_eq!(m.local_part.as_str(), all_atext);
        assert_eq!(m.to_string(), format!("{all_atext}@x"));
    }

    #[test]
    fn quoted_local_parts() {
        let path = round_trip_rp(r#"<"john \"q\" doe"@example.com>"#);
        let mailbox = path.mailbox().unwrap();
        assert_eq!(mailbox.local_part.as_str(), r#"john "q" doe"#);
        assert_eq!(path.to_string(), r#"<"john \"q\" doe"@example.com>"#);

        let m = Mailbox::parse_bytes(br#""a\\b@c"@x.y"#).unwrap();
        assert_eq!(m.local_part.as_str(), r"a\b@c");
        assert_eq!(m.to_string(), r#""a\\b@c"@x.y"#);

        // Needless quoting and escapes are dropped when written back.
        let m = Mailbox::parse_bytes(br#""j\o\hn.doe"@x"#).unwrap();
        assert_eq!(m.local_part.as_str(), "john.doe");
        assert_eq!(m.to_string(), "john.doe@x");

        // Quoted text that is not a Dot-string keeps its quotes.
        for (quoted, plain) in [
            (r#""a..b"@x"#, "a..b"),
            (r#"".a"@x"#, ".a"),
            (r#""a."@x"#, "a."),
            (r#""a b"@x"#, "a b"),
            (r#""a(b)"@x"#, "a(b)"),
        ] {
            let m: Mailbox = quoted.parse().unwrap();
            assert_eq!(m.local_part.as_str(), plain);
            assert_eq!(m.to_string(), quoted);
        }

        // The empty local part only as "".
        let m = Mailbox::parse_bytes(br#"""@x"#).unwrap();
        assert_eq!(m.local_part.as_str(), "");
        assert_eq!(m.to_string(), r#"""@x"#);
        assert_eq!(Mailbox::parse_bytes(b"@x"), Err(AddressError::Syntax));
        assert_eq!(rp("<@x>"), Err(AddressError::Syntax));

        for bad in [
            &br#"<"abc@x>"#[..],
            br#"<"a"b"@x>"#,
            b"<\"a\\\x01\"@x>",
            b"<\"a\\\xc3\xa9\"@x>",
            b"<\"a\tb\"@x>",
            b"<\"a\x7fb\"@x>",
            br#"<"a\"@x>"#,
        ] {
            assert_eq!(
                ReversePath::parse(bad),
                Err(AddressError::Syntax),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn dot_string_errors() {
        for s in [
            "<a.@b.c>",
            "<.a@b.c>",
            "<a..b@c.d>",
            "<a b@c.d>",
            "<a(b)@c.d>",
            "<a@@b.c>",
            "<a\\b@c.d>",
        ] {
            assert_eq!(rp(s), Err(AddressError::Syntax), "{s}");
        }
    }

    #[test]
    fn domain_errors() {
        for s in [
            "<a@example.com.>",
            "<a@example..com>",
            "<a@.example.com>",
            "<a@-example.com>",
            "<a@example-.com>",
            "<a@exam_ple.com>",
            "<a@>",
            "<a@exa mple.com>",
        ] {
            assert_eq!(rp(s), Err(AddressError::Syntax), "{s}");
        }
        assert_eq!(Domain::parse(b"example.com."), Err(AddressError::Syntax));
        assert_eq!(Domain::parse(b"a-.b"), Err(AddressError::Syntax));
        assert_eq!(Domain::parse(b""), Err(AddressError::Syntax));
        assert_eq!(Domain::parse(b"x-1.b2--c.3"), Ok(name("x-1.b2--c.3")));
        assert_eq!(Domain::parse(b"123"), Ok(name("123")));
    }

    #[test]
    fn domain_combinator_for_ehlo() {
        assert_eq!(
            domain(b"mail.example.org ignored"),
            Ok((&b" ignored"[..], name("mail.example.org")))
        );
        assert_eq!(
            domain(b"[192.0.2.1]"),
            Ok((&b""[..], Domain::Ipv4(Ipv4Addr::new(192, 0, 2, 1))))
        );
        assert!(domain(b" x").is_err());
        assert!(Domain::parse(b"example.com x").is_err());
        assert_eq!(
            Domain::parse_prefix(b"a.b\r\n"),
            Ok((name("a.b"), &b"\r\n"[..]))
        );
    }

    #[test]
    fn address_literals() {
        let cases: [(&str, Domain, &str); 8] = [
            (
                "[192.0.2.1]",
                Domain::Ipv4(Ipv4Addr::new(192, 0, 2, 1)),
                "[192.0.2.1]",
            ),
            (
                "[000.01.255.0]",
                Domain::Ipv4(Ipv4Addr::new(0, 1, 255, 0)),
                "[0.1.255.0]",
            ),
            (
                "[IPv6:2001:DB8::1]",
                Domain::Ipv6("2001:db8::1".parse().unwrap()),
                "[IPv6:2001:db8::1]",
            ),
            (
                "[ipv6:::1]",
                Domain::Ipv6(Ipv6Addr::LOCALHOST),
                "[IPv6:::1]",
            ),
            (
                "[IPv6:::ffff:192.0.2.1]",
                Domain::Ipv6("::ffff:192.0.2.1".parse().unwrap()),
                "[IPv6:::ffff:192.0.2.1]",
            ),
            (
                "[x-tag:some!content~]",
                Domain::General {
                    tag: "x-tag".to_owned(),
                    content: "some!content~".to_owned(),
                },
                "[x-tag:some!content~]",
            ),
            (
                "[-t:2]",
                Domain::General {
                    tag: "-t".to_owned(),
                    content: "2".to_owned(),
                },
                "[-t:2]",
            ),
            (
                "[1:2]",
                Domain::General {
                    tag: "1".to_owned(),
                    content: "2".to_owned(),
                },
                "[1:2]",
            ),
        ];
        for (text, value, written) in cases {
            let path = round_trip_rp(&format!("<u@{text}>"));
            assert_eq!(path.mailbox().unwrap().domain, value, "{text}");
            assert_eq!(Domain::parse(text.as_bytes()), Ok(value.clone()));
            assert_eq!(value.to_string(), written);
            assert!(value.is_ascii());
        }
        for bad in [
            "[300.1.1.1]",
            "[1.2.3]",
            "[1.2.3.4.5]",
            "[1.2.3.4",
            "[1234.1.1.1]",
            "[IPv6:zz]",
            "[IPv6:1:2:3]",
            "[IPv6:::1%eth0]",
            "[ipv6:]",
            "[IPv6]",
            "[]",
            "[tag]",
            "[tag:]",
            "[tag-:x]",
            "[tag:a[b]",
            "[tag:a\\b]",
            "[ta g:x]",
            "[1.2.3.4]x",
        ] {
            assert_eq!(
                Domain::parse(bad.as_bytes()),
                Err(AddressError::Syntax),
                "{bad}"
            );
            assert_eq!(
                rp(&format!("<u@{bad}>")),
                Err(AddressError::Syntax),
                "{bad}"
            );
        }
    }

    #[test]
    fn ipv6_written_back_parses() {
        for text in [
            "::",
            "::1",
            "1::",
            "2001:db8:0:0:1:0:0:1",
            "::ffff:0:0",
            "::1.2.3.4",
            "fe80::1:2",
        ] {
            let domain = Domain::parse(format!("[IPv6:{text}]").as_bytes()).unwrap();
            let written = domain.to_string();
            assert!(written.starts_with("[IPv6:"), "{written}");
            assert_eq!(Domain::parse(written.as_bytes()), Ok(domain));
        }
        // An IPv6 literal is far too short to reach the path or domain limits, so writing it
        // in the standard library's form cannot break the round trip.
        let longest = format!("<{}@[IPv6:{}]>", "a".repeat(64), ["ffff"; 8].join(":"));
        assert!(longest.len() < MAX_PATH_LEN);
        round_trip_rp(&longest);
    }

    #[test]
    fn utf8_addresses() {
        let path = round_trip_rp("<用户@例子.广告>");
        let m = path.mailbox().unwrap();
        assert_eq!(m.local_part.as_str(), "用户");
        assert_eq!(m.domain, name("例子.广告"));
        assert!(!m.is_ascii());
        assert!(!path.is_ascii());
        assert!(!m.local_part.is_ascii());
        assert!(!m.domain.is_ascii());

        let path = fp("<ü@münchen.de>").unwrap();
        assert!(!path.is_ascii());
        assert_eq!(path.to_string(), "<ü@münchen.de>");
        let m = path.mailbox().unwrap();
        assert!(!m.local_part.is_ascii());
        assert!(!m.domain.is_ascii());

        let m: Mailbox = "ascii@münchen.de".parse().unwrap();
        assert!(m.local_part.is_ascii());
        assert!(!m.is_ascii());
        let m: Mailbox = "\"ü ü\"@x".parse().unwrap();
        assert_eq!(m.local_part.as_str(), "ü ü");
        assert!(!m.is_ascii());
        assert!(rp("<a@b.c>").unwrap().is_ascii());
    }

    #[test]
    fn invalid_utf8_rejected() {
        for bad in [
            &b"<\xff@example.com>"[..],
            b"<a\xc3@example.com>",
            b"<\xc3\x28@example.com>",
            b"<a@\xc3\x28.com>",
            b"<a@ex\xe2\x82.com>",
            b"<\"\xe2\x82\"@x>",
            b"<\"\xed\xa0\x80\"@x>",
            b"<\xc0\xaf@x>",
            b"<@\xff:a@b>",
        ] {
            assert_eq!(
                ReversePath::parse(bad),
                Err(AddressError::Syntax),
                "{bad:?}"
            );
            assert!(reverse_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Domain::parse(b"\xff"), Err(AddressError::Syntax));
        assert_eq!(Mailbox::parse_bytes(b"a@\x80"), Err(AddressError::Syntax));
    }

    #[test]
    fn local_part_limit() {
        let ok = format!("<{}@x>", "a".repeat(64));
        assert!(rp(&ok).is_ok());
        let long = format!("<{}@x>", "a".repeat(65));
        assert_eq!(rp(&long), Err(AddressError::LocalPartTooLong));
        assert!(matches!(
            reverse_path(long.as_bytes()),
            Err(nom::Err::Failure(nom::error::Error {
                code: ErrorKind::TooLarge,
                ..
            }))
        ));
        // Octets, not characters: 32 two-octet characters fit, 33 do not.
        assert!(rp(&format!("<{}@x>", "é".repeat(32))).is_ok());
        assert_eq!(
            rp(&format!("<{}@x>", "é".repeat(32) + "a")),
            Err(AddressError::LocalPartTooLong)
        );
        // A quoted local part counts its quotes and escapes.
        assert!(rp(&format!("<\"{}\"@x>", " ".repeat(62))).is_ok());
        assert_eq!(
            rp(&format!("<\"{}\"@x>", " ".repeat(63))),
            Err(AddressError::LocalPartTooLong)
        );
        assert!(rp(&format!("<\"{}\"@x>", "\\\"".repeat(31))).is_ok());
        assert_eq!(
            rp(&format!("<\"{}\\a\"@x>", "\\\"".repeat(31))),
            Err(AddressError::LocalPartTooLong)
        );
        // Unterminated and long.
        assert_eq!(
            rp(&format!("<\"{}", " ".repeat(1000))),
            Err(AddressError::LocalPartTooLong)
        );
    }

    #[test]
    fn label_and_domain_limits() {
        let label63 = "l".repeat(63);
        assert_eq!(Domain::parse(label63.as_bytes()), Ok(name(&label63)));
        assert_eq!(
            Domain::parse(format!("a.{label63}.b").as_bytes()),
            Ok(name(&format!("a.{label63}.b")))
        );
        assert_eq!(
            Domain::parse("l".repeat(64).as_bytes()),
            Err(AddressError::LabelTooLong)
        );
        assert_eq!(
            rp(&format!("<a@b.{}>", "l".repeat(64))),
            Err(AddressError::LabelTooLong)
        );
        assert!(matches!(
            domain("l".repeat(64).as_bytes()),
            Err(nom::Err::Failure(_))
        ));

        let d255 = domain_of_len(255);
        assert_eq!(Domain::parse(d255.as_bytes()), Ok(name(&d255)));
        assert!(Mailbox::parse_bytes(format!("a@{d255}").as_bytes()).is_ok());
        let d256 = domain_of_len(256);
        assert_eq!(
            Domain::parse(d256.as_bytes()),
            Err(AddressError::DomainTooLong)
        );
        assert_eq!(
            Mailbox::parse_bytes(format!("a@{d256}").as_bytes()),
            Err(AddressError::DomainTooLong)
        );
        assert!(matches!(domain(d256.as_bytes()), Err(nom::Err::Failure(_))));
        // In a source route too.
        assert_eq!(
            rp(&format!("<@{d256}:a@b>")),
            Err(AddressError::DomainTooLong)
        );

        // A general address literal is counted with its brackets.
        let lit255 = format!("[t:{}]", "c".repeat(251));
        assert_eq!(lit255.len(), 255);
        assert!(Domain::parse(lit255.as_bytes()).is_ok());
        let lit256 = format!("[t:{}]", "c".repeat(252));
        assert_eq!(
            Domain::parse(lit256.as_bytes()),
            Err(AddressError::DomainTooLong)
        );
    }

    #[test]
    fn path_limit() {
        let local = "a".repeat(64);
        // "<" local "@" domain ">" = 67 + domain octets.
        let p256 = format!("<{local}@{}>", domain_of_len(189));
        assert_eq!(p256.len(), 256);
        assert!(round_trip_rp(&p256).mailbox().is_some());
        assert!(fp(&p256).is_ok());
        let p257 = format!("<{local}@{}>", domain_of_len(190));
        assert_eq!(p257.len(), 257);
        assert_eq!(rp(&p257), Err(AddressError::PathTooLong));
        assert_eq!(fp(&p257), Err(AddressError::PathTooLong));
        assert!(matches!(
            forward_path(p257.as_bytes()),
            Err(nom::Err::Failure(nom::error::Error {
                code: ErrorKind::TooLarge,
                ..
            }))
        ));
        assert_eq!(
            ReversePath::parse_prefix(p257.as_bytes()),
            Err(AddressError::PathTooLong)
        );
        // The mailbox alone is not held to the path limit.
        assert!(Mailbox::parse_bytes(&p257.as_bytes()[1..256]).is_ok());

        // The source route counts towards the limit.
        let route = format!("@{}", domain_of_len(200));
        let routed256 = format!("<{route}:{}@{}>", "u".repeat(50), "h");
        assert_eq!(routed256.len(), 256);
        assert_eq!(
            rp(&routed256),
            Ok(ReversePath::Mailbox(mb(&"u".repeat(50), name("h"))))
        );
        let routed257 = format!("<{route}:{}@{}>", "u".repeat(51), "h");
        assert_eq!(rp(&routed257), Err(AddressError::PathTooLong));
    }

    #[test]
    fn brackets_required() {
        for s in [
            "a@b.c",
            "<a@b.c",
            "a@b.c>",
            "",
            "<",
            ">",
            "<<a@b.c>>",
            " <a@b.c>",
        ] {
            assert_eq!(rp(s), Err(AddressError::Syntax), "{s:?}");
            assert_eq!(fp(s), Err(AddressError::Syntax), "{s:?}");
            assert!(reverse_path(s.as_bytes()).is_err(), "{s:?}");
        }
        assert_eq!(Mailbox::parse_bytes(b"<a@b.c>"), Err(AddressError::Syntax));
        assert_eq!("<a@b.c>".parse::<Mailbox>(), Err(AddressError::Syntax));
    }

    #[test]
    fn rest_after_path_is_returned() {
        let (rest, path) = reverse_path(b"<a@b.c>xyz").unwrap();
        assert_eq!(rest, b"xyz");
        assert_eq!(path, ReversePath::Mailbox(mb("a", name("b.c"))));
        assert_eq!(rp("<a@b.c>xyz"), Err(AddressError::Syntax));
        let (rest, _) = forward_path(b"<a@b.c> NOTIFY=SUCCESS ORCPT=rfc822;a@b.c").unwrap();
        assert_eq!(rest, b" NOTIFY=SUCCESS ORCPT=rfc822;a@b.c");
        let (rest, m) = mailbox(b"a@b.c> x").unwrap();
        assert_eq!(rest, b"> x");
        assert_eq!(m, mb("a", name("b.c")));
        assert_eq!(
            ForwardPath::parse_prefix(b"<a@b.c>>"),
            Ok((ForwardPath::Mailbox(mb("a", name("b.c"))), &b">"[..]))
        );
        assert_eq!(
            Mailbox::parse_prefix(b"a@[1.2.3.4] "),
            Ok((mb("a", Domain::Ipv4(Ipv4Addr::new(1, 2, 3, 4))), &b" "[..]))
        );
    }

    #[test]
    fn local_part_new() {
        assert_eq!(LocalPart::new("john.doe").unwrap().as_str(), "john.doe");
        assert_eq!(LocalPart::new("john.doe").unwrap().to_string(), "john.doe");
        assert_eq!(LocalPart::new("a b").unwrap().to_string(), "\"a b\"");
        assert_eq!(LocalPart::new("").unwrap().to_string(), "\"\"");
        assert_eq!(
            LocalPart::new(r#"a"\b"#).unwrap().to_string(),
            r#""a\"\\b""#
        );
        assert_eq!(LocalPart::new("ü").unwrap().to_string(), "ü");
        assert_eq!(LocalPart::new("a\r\nb"), Err(AddressError::Syntax));
        assert_eq!(LocalPart::new("a\0"), Err(AddressError::Syntax));
        assert_eq!(LocalPart::new("a\x7f"), Err(AddressError::Syntax));
        assert!(LocalPart::new(&"a".repeat(64)).is_ok());
        assert_eq!(
            LocalPart::new(&"a".repeat(65)),
            Err(AddressError::LocalPartTooLong)
        );
        // Quoting counts: 62 spaces quoted is 64 octets, 32 quotes escaped is 66.
        assert!(LocalPart::new(&" ".repeat(62)).is_ok());
        assert_eq!(
            LocalPart::new(&" ".repeat(63)),
            Err(AddressError::LocalPartTooLong)
        );
        assert_eq!(
            LocalPart::new(&"\"".repeat(32)),
            Err(AddressError::LocalPartTooLong)
        );
        for text in ["a b", "", "\"", "\\", "a..b", ".", "ü ü", "x@y"] {
            let m = Mailbox {
                local_part: LocalPart::new(text).unwrap(),
                domain: name("x"),
            };
            assert_eq!(
                Mailbox::parse_bytes(m.to_string().as_bytes()),
                Ok(m.clone())
            );
        }
    }

    #[test]
    fn domain_comparison() {
        assert!(name("Example.COM").eq_ignore_case(&name("example.com")));
        assert!(!name("example.com").eq_ignore_case(&name("example.org")));
        assert_ne!(name("Example.COM"), name("example.com"));
        let v4 = Domain::Ipv4(Ipv4Addr::new(1, 2, 3, 4));
        assert!(v4.eq_ignore_case(&Domain::parse(b"[001.2.3.4]").unwrap()));
        assert!(!v4.eq_ignore_case(&name("1.2.3.4")));
        let v6 = Domain::parse(b"[IPv6:2001:DB8::1]").unwrap();
        assert!(v6.eq_ignore_case(&Domain::parse(b"[ipv6:2001:db8:0::1]").unwrap()));
        let g = Domain::parse(b"[X-Tag:abc]").unwrap();
        assert!(g.eq_ignore_case(&Domain::parse(b"[x-tag:abc]").unwrap()));
        assert!(!g.eq_ignore_case(&Domain::parse(b"[x-tag:ABC]").unwrap()));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(AddressError::Syntax.to_string(), "invalid address syntax");
        assert!(AddressError::PathTooLong.to_string().contains("256"));
        assert!(AddressError::LocalPartTooLong.to_string().contains("64"));
        assert!(AddressError::DomainTooLong.to_string().contains("255"));
    }

    #[test]
    fn fuzz_parse_survives_nasty_inputs() {
        let mut inputs: Vec<Vec<u8>> = [
            &b""[..],
            b"<",
            b">",
            b"<>",
            b"<<>>",
            b"<@",
            b"<@:",
            b"<@a:",
            b"<@a,@b:c@d>",
            b"<\"",
            b"<\"\\",
            b"<\"\\\"",
            b"<\"\"@x>",
            b"\"\"@x",
            b"<a@[",
            b"<a@[]>",
            b"<a@[IPv6:",
            b"<a@[IPv6:::]>",
            b"<a@[IPv6:::ffff:1.2.3.4]>",
            b"<a@[IPv6:1::2:3:4:5:6:7]>",
            b"<a@[255.255.255.255]>",
            b"<a@[256.0.0.0]>",
            b"[IPv6:::1]",
            b"[1.2.3.4]",
            b"<Postmaster>",
            b"<POSTMASTER>x",
            b"<postmaster@[1.1.1.1]>",
            b"<\xff>",
            b"\xf0\x9f\x92\xa9@\xf0\x9f\x92\xa9",
            b"<\xf0\x9f\x92\xa9@\xf0\x9f\x92\xa9.\xf0\x9f>",
            b"<a@b.c>\x00",
            b"<a@b.c\x00>",
            b"a\"b\"@c",
            b"\"a\\\"b\"@c",
            b"<\"a\\\\\"@c>",
            b"<a@-->",
            b"<a@a-->",
            b"<a@1-2>",
            b"a b",
            b"\\",
            b"\"",
            b"\" \"",
            b"x.",
        ]
        .iter()
        .map(|s| s.to_vec())
        .collect();
        inputs.push(format!("<{}@x>", "a".repeat(10_000)).into_bytes());
        inputs.push(format!("<a@{}>", "b.".repeat(10_000)).into_bytes());
        inputs.push(format!("<{}a@b>", "@x,".repeat(10_000)).into_bytes());
        inputs.push(format!("<\"{}\"@x>", "\\\"".repeat(10_000)).into_bytes());
        inputs.push(format!("<a@[t:{}]>", "c".repeat(10_000)).into_bytes());
        inputs.push(format!("<a@[IPv6:{}]>", "1:".repeat(10_000)).into_bytes());
        inputs.push(format!("<{}@{}>", "a".repeat(64), domain_of_len(189)).into_bytes());
        inputs.push(vec![0xff; 300]);
        inputs.push((0u8..=255).collect());
        for input in &inputs {
            fuzz_parse(input);
            // Every prefix and suffix, to hit truncations.
            for i in 0..input.len().min(80) {
                fuzz_parse(&input[..i]);
                fuzz_parse(&input[i..]);
            }
        }
    }

    #[test]
    fn fuzz_parse_checks_round_trips() {
        // These all parse, so fuzz_parse really runs its round-trip checks on them.
        for s in [
            "<a@b>",
            "<\"a b\"@[IPv6:::1]>",
            "<Postmaster>",
            "<@x.y:\"\\\"\"@[t:x]>",
            "<ü@[1.2.3.4]>",
        ] {
            assert!(
                reverse_path(s.as_bytes()).is_ok() || forward_path(s.as_bytes()).is_ok(),
                "{s}"
            );
            fuzz_parse(s.as_bytes());
        }
    }
}
