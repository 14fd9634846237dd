//! The command grammar of RFC 5321 section 4.1.1 and of the extensions this crate supports.
//!
//! [`Command::parse`] takes one command line without its CRLF; the server session does the
//! framing (finding CRLF, refusing bare CR and LF, bounding the length) before it runs.
//! [`Command::encode`] writes the wire form that the client session sends, and parsing the
//! encoded form gives the same value back (the round-trip fuzz target checks this).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mail_auth::Secret;
use mail_auth::sasl::MechanismName;

use crate::address::{AddressError, Domain, ForwardPath, ReversePath};
use crate::reply::{Reply, esc};

/// One SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `helo = "HELO" SP Domain CRLF`
    Helo(Domain),
    /// `ehlo = "EHLO" SP ( Domain / address-literal ) CRLF`
    Ehlo(Domain),
    /// `mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF`
    Mail {
        /// The sender, or the null path.
        reverse_path: ReversePath,
        /// The ESMTP parameters this crate understands.
        parameters: MailParameters,
    },
    /// `rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
    /// [SP Rcpt-parameters] CRLF`
    Rcpt {
        /// The recipient.
        forward_path: ForwardPath,
        /// The ESMTP parameters this crate understands.
        parameters: RcptParameters,
    },
    /// `data = "DATA" CRLF`
    Data,
    /// `bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CRLF` (RFC 3030)
    Bdat {
        /// The exact number of octets that follow the command line.
        size: u64,
        /// Whether this is the last chunk of the message (`LAST`).
        last: bool,
    },
    /// `rset = "RSET" CRLF`
    Rset,
    /// `noop = "NOOP" [ SP String ] CRLF` (the argument is ignored)
    Noop,
    /// `quit = "QUIT" CRLF`
    Quit,
    /// `vrfy = "VRFY" SP String CRLF`
    Vrfy(String),
    /// `expn = "EXPN" SP String CRLF`
    Expn(String),
    /// `help = "HELP" [ SP String ] CRLF`
    Help(Option<String>),
    /// `STARTTLS CRLF` (RFC 3207)
    StartTls,
    /// `auth-command = "AUTH" SP sasl-mech [SP initial-response]` (RFC 4954)
    Auth {
        /// The mechanism the client asks for.
        mechanism: MechanismName,
        /// The decoded initial response; `Some` of an empty secret for `=`.
        initial_response: Option<Secret>,
    },
}

/// The `BODY` parameter of MAIL (RFC 6152, RFC 3030).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    /// `BODY=7BIT`
    SevenBit,
    /// `BODY=8BITMIME`
    EightBitMime,
    /// `BODY=BINARYMIME` (RFC 3030); only valid with BDAT.
    BinaryMime,
}

/// The `RET` parameter of MAIL (RFC 3461 section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `RET=FULL`: return the whole message in a failure DSN.
    Full,
    /// `RET=HDRS`: return only the headers.
    Headers,
}

/// The ESMTP parameters of MAIL FROM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailParameters {
    /// `SIZE=` (RFC 1870): the size the client declares.
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152).
    pub body: Option<Body>,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `RET=` (RFC 3461).
    pub ret: Option<Ret>,
    /// `ENVID=` (RFC 3461), decoded from xtext.
    pub envid: Option<String>,
    /// `AUTH=` (RFC 4954 section 5), decoded from xtext: a mailbox or `<>`.
    pub auth: Option<String>,
    /// `REQUIRETLS` (RFC 8689).
    pub requiretls: bool,
}

/// The NOTIFY parameter of RCPT (RFC 3461 section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NOTIFY=NEVER`
    Never,
    /// `NOTIFY=` one or more of SUCCESS, FAILURE and DELAY.
    On {
        /// SUCCESS
        success: bool,
        /// FAILURE
        failure: bool,
        /// DELAY
        delay: bool,
    },
}

/// The ORCPT parameter of RCPT (RFC 3461 section 4.2): `addr-type ";" xtext`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OriginalRecipient {
    /// The address type, such as `rfc822` or `utf-8`.
    pub address_type: String,
    /// The original address, decoded from xtext.
    pub address: String,
}

/// The ESMTP parameters of RCPT TO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RcptParameters {
    /// `NOTIFY=` (RFC 3461).
    pub notify: Option<Notify>,
    /// `ORCPT=` (RFC 3461).
    pub orcpt: Option<OriginalRecipient>,
}

/// Why a command line is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The verb is not a command this crate knows.
    #[error("command unrecognized")]
    Unrecognized,
    /// The arguments do not follow the command's grammar.
    #[error("syntax error in arguments")]
    Syntax,
    /// The MAIL FROM path is not a valid reverse-path.
    #[error("invalid sender address: {0}")]
    Sender(AddressError),
    /// The RCPT TO path is not a valid forward-path.
    #[error("invalid recipient address: {0}")]
    Recipient(AddressError),
    /// An ESMTP parameter this crate does not know.
    #[error("parameter {0} not recognized")]
    UnknownParameter(String),
    /// A known ESMTP parameter with a bad or repeated value.
    #[error("invalid value for parameter {0}")]
    InvalidParameter(&'static str),
    /// An AUTH initial response that is not base64.
    #[error("invalid base64 in initial response")]
    InvalidBase64,
}

impl CommandError {
    /// The reply a server sends for this error (RFC 5321 section 4.2.2, RFC 3463 codes).
    pub fn reply(&self) -> Reply {
        match self {
            Self::Unrecognized => Reply::new(500, Some(esc!("5.5.1")), "Command unrecognized"),
            Self::Syntax => Reply::new(501, Some(esc!("5.5.2")), "Syntax error in arguments"),
            Self::Sender(e) => Reply::new(501, Some(esc!("5.1.7")), &format!("Bad sender: {e}")),
            Self::Recipient(e) => {
                Reply::new(501, Some(esc!("5.1.3")), &format!("Bad recipient: {e}"))
            }
            Self::UnknownParameter(name) => Reply::new(
                555,
                Some(esc!("5.5.4")),
                &format!("Parameter {name} not recognized"),
            ),
            Self::InvalidParameter(name) => Reply::new(
                501,
                Some(esc!("5.5.4")),
                &format!("Invalid {name} parameter"),
            ),
            Self::InvalidBase64 => Reply::new(501, Some(esc!("5.5.2")), "Invalid base64 data"),
        }
    }
}

impl Command {
    /// Parses one command line, given without its CRLF.
    pub fn parse(line: &[u8]) -> Result<Self, CommandError> {
        let (verb, args) = match memchr_space(line) {
            Some(at) => (&line[..at], Some(&line[at + 1..])),
            None => (line, None),
        };

        // Verbs are case-insensitive (RFC 5321 section 2.4). The common ones are four
        // letters, compared as one folded word; see `fold_word`.
        let is = |name: &[u8]| verb.eq_ignore_ascii_case(name);
        let word = fold_word(verb);
        match (word, args) {
            (MAIL, Some(args)) => parse_mail(args),
            (RCPT, Some(args)) => parse_rcpt(args),
            (DATA, None) => Ok(Self::Data),
            (BDAT, Some(args)) => parse_bdat(args),
            (EHLO, Some(args)) => Ok(Self::Ehlo(parse_domain(args)?)),
            (HELO, Some(args)) => Ok(Self::Helo(parse_domain(args)?)),
            (RSET, None) => Ok(Self::Rset),
            (NOOP, _) => Ok(Self::Noop),
            (QUIT, None) => Ok(Self::Quit),
            (AUTH, Some(args)) => parse_auth(args),
            (VRFY, Some(args)) => Ok(Self::Vrfy(parse_string(args)?)),
            (EXPN, Some(args)) => Ok(Self::Expn(parse_string(args)?)),
            (HELP, None) => Ok(Self::Help(None)),
            (HELP, Some(args)) => Ok(Self::Help(Some(parse_string(args)?))),
            _ if verb.len() == 8 && is(b"STARTTLS") && args.is_none() => Ok(Self::StartTls),
            _ if KNOWN_VERBS.iter().any(|v| is(v)) => Err(CommandError::Syntax),
            _ => Err(CommandError::Unrecognized),
        }
    }

    /// Appends the wire form, CRLF included.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let text = match self {
            Self::Helo(domain) => format!("HELO {domain}"),
            Self::Ehlo(domain) => format!("EHLO {domain}"),
            Self::Mail {
                reverse_path,
                parameters,
            } => {
                format!("MAIL FROM:{reverse_path}{}", parameters.encode())
            }
            Self::Rcpt {
                forward_path,
                parameters,
            } => {
                format!("RCPT TO:{forward_path}{}", parameters.encode())
            }
            Self::Data => "DATA".to_owned(),
            Self::Bdat { size, last: true } => format!("BDAT {size} LAST"),
            Self::Bdat { size, last: false } => format!("BDAT {size}"),
            Self::Rset => "RSET".to_owned(),
            Self::Noop => "NOOP".to_owned(),
            Self::Quit => "QUIT".to_owned(),
            Self::Vrfy(what) => format!("VRFY {what}"),
            Self::Expn(what) => format!("EXPN {what}"),
            Self::Help(None) => "HELP".to_owned(),
            Self::Help(Some(topic)) => format!("HELP {topic}"),
            Self::StartTls => "STARTTLS".to_owned(),
            Self::Auth {
                mechanism,
                initial_response: None,
            } => format!("AUTH {mechanism}"),
            Self::Auth {
                mechanism,
                initial_response: Some(response),
            } => {
                format!("AUTH {mechanism} {}", encode_sasl(response.expose()))
            }
        };
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// The verb, for logs (never the arguments, which may carry secrets).
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Helo(_) => "HELO",
            Self::Ehlo(_) => "EHLO",
            Self::Mail { .. } => "MAIL",
            Self::Rcpt { .. } => "RCPT",
            Self::Data => "DATA",
            Self::Bdat { .. } => "BDAT",
            Self::Rset => "RSET",
            Self::Noop => "NOOP",
            Self::Quit => "QUIT",
            Self::Vrfy(_) => "VRFY",
            Self::Expn(_) => "EXPN",
            Self::Help(_) => "HELP",
            Self::StartTls => "STARTTLS",
            Self::Auth { .. } => "AUTH",
        }
    }
}

/// Verbs that exist but were given the wrong arguments get 501 rather than 500.
const KNOWN_VERBS: [&[u8]; 15] = [
    b"HELO",
    b"EHLO",
    b"MAIL",
    b"RCPT",
    b"DATA",
    b"BDAT",
    b"RSET",
    b"NOOP",
    b"QUIT",
    b"VRFY",
    b"EXPN",
    b"HELP",
    b"AUTH",
    b"STARTTLS",
    b"TURN",
];

/// A four-octet verb as one word with the ASCII case bit set in every octet, `0` for other
/// lengths. Setting bit 0x20 maps exactly `A`-`Z` and `a`-`z` onto `a`-`z`, so comparing
/// with a word of lower-case letters is a case-insensitive comparison of letters; octets
/// that are not letters can never fold onto one.
fn fold_word(verb: &[u8]) -> u32 {
    match verb {
        &[a, b, c, d] => u32::from_be_bytes([a, b, c, d]) | 0x2020_2020,
        _ => 0,
    }
}

/// The folded word of a lower-case verb, for [`fold_word`].
const fn word(verb: &[u8; 4]) -> u32 {
    u32::from_be_bytes(*verb)
}

const MAIL: u32 = word(b"mail");
const RCPT: u32 = word(b"rcpt");
const DATA: u32 = word(b"data");
const BDAT: u32 = word(b"bdat");
const EHLO: u32 = word(b"ehlo");
const HELO: u32 = word(b"helo");
const RSET: u32 = word(b"rset");
const NOOP: u32 = word(b"noop");
const QUIT: u32 = word(b"quit");
const AUTH: u32 = word(b"auth");
const VRFY: u32 = word(b"vrfy");
const EXPN: u32 = word(b"expn");
const HELP: u32 = word(b"help");

fn memchr_space(line: &[u8]) -> Option<usize> {
    line.iter().position(|&b| b == b' ')
}

/// Encodes a SASL message for the wire: base64, or `=` for an empty one (RFC 4954 section 4).
pub(crate) fn encode_sasl(data: &[u8]) -> String {
    if data.is_empty() {
        "=".to_owned()
    } else {
        BASE64.encode(data)
    }
}

/// Decodes a client's SASL line: `=` is empty, anything else must be strict base64.
pub(crate) fn decode_sasl(line: &[u8]) -> Result<Vec<u8>, CommandError> {
    if line == b"=" {
        return Ok(Vec::new());
    }
    if line.is_empty() {
        // RFC 4954 section 4: an empty line is the empty response, as `=` is.
        return Ok(Vec::new());
    }

    BASE64.decode(line).map_err(|_| CommandError::InvalidBase64)
}

fn parse_domain(args: &[u8]) -> Result<Domain, CommandError> {
    Domain::parse(args).map_err(|_| CommandError::Syntax)
}

/// `String = Atom / Quoted-string`, taken loosely as any non-empty printable UTF-8 text:
/// VRFY, EXPN and HELP arguments are only ever handed to the host.
fn parse_string(args: &[u8]) -> Result<String, CommandError> {
    let text = std::str::from_utf8(args).map_err(|_| CommandError::Syntax)?;
    if text.is_empty() || text.chars().any(char::is_control) {
        return Err(CommandError::Syntax);
    }

    Ok(text.to_owned())
}

/// Strips a case-insensitive `prefix` (such as `FROM:`) from `args`.
fn strip_prefix_ci<'a>(args: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = args.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &args[prefix.len()..])
}

fn parse_mail(args: &[u8]) -> Result<Command, CommandError> {
    let rest = strip_prefix_ci(args, b"FROM:").ok_or(CommandError::Syntax)?;
    let (reverse_path, rest) = ReversePath::parse_prefix(rest).map_err(CommandError::Sender)?;

    let mut parameters = MailParameters::default();
    let mut list = [(&[][..], None); MAX_PARAMETERS];
    for &(keyword, value) in esmtp_parameters(rest, &mut list)? {
        let is = |name: &str| keyword.eq_ignore_ascii_case(name.as_bytes());
        if is("SIZE") {
            let size = value
                .and_then(parse_number)
                .ok_or(CommandError::InvalidParameter("SIZE"))?;
            set_once(&mut parameters.size, size, "SIZE")?;
        } else if is("BODY") {
            let body = match value {
                Some(v) if v.eq_ignore_ascii_case(b"7BIT") => Body::SevenBit,
                Some(v) if v.eq_ignore_ascii_case(b"8BITMIME") => Body::EightBitMime,
                Some(v) if v.eq_ignore_ascii_case(b"BINARYMIME") => Body::BinaryMime,
                _ => return Err(CommandError::InvalidParameter("BODY")),
            };
            set_once(&mut parameters.body, body, "BODY")?;
        } else if is("SMTPUTF8") {
            set_flag(&mut parameters.smtputf8, value, "SMTPUTF8")?;
        } else if is("REQUIRETLS") {
            set_flag(&mut parameters.requiretls, value, "REQUIRETLS")?;
        } else if is("RET") {
            let ret = match value {
                Some(v) if v.eq_ignore_ascii_case(b"FULL") => Ret::Full,
                Some(v) if v.eq_ignore_ascii_case(b"HDRS") => Ret::Headers,
                _ => return Err(CommandError::InvalidParameter("RET")),
            };
            set_once(&mut parameters.ret, ret, "RET")?;
        } else if is("ENVID") {
            // RFC 3461 section 4.4: at most 100 characters before xtext decoding.
            let envid = value
                .filter(|v| v.len() <= 100)
                .and_then(decode_xtext)
                .ok_or(CommandError::InvalidParameter("ENVID"))?;
            set_once(&mut parameters.envid, envid, "ENVID")?;
        } else if is("AUTH") {
            let auth = value
                .and_then(decode_xtext)
                .ok_or(CommandError::InvalidParameter("AUTH"))?;
            set_once(&mut parameters.auth, auth, "AUTH")?;
        } else {
            return Err(unknown(keyword));
        }
    }

    Ok(Command::Mail {
        reverse_path,
        parameters,
    })
}

fn parse_rcpt(args: &[u8]) -> Result<Command, CommandError> {
    let rest = strip_prefix_ci(args, b"TO:").ok_or(CommandError::Syntax)?;
    let (forward_path, rest) = ForwardPath::parse_prefix(rest).map_err(CommandError::Recipient)?;

    let mut parameters = RcptParameters::default();
    let mut list = [(&[][..], None); MAX_PARAMETERS];
    for &(keyword, value) in esmtp_parameters(rest, &mut list)? {
        let is = |name: &str| keyword.eq_ignore_ascii_case(name.as_bytes());
        if is("NOTIFY") {
            let notify = value
                .and_then(parse_notify)
                .ok_or(CommandError::InvalidParameter("NOTIFY"))?;
            set_once(&mut parameters.notify, notify, "NOTIFY")?;
        } else if is("ORCPT") {
            let orcpt = value
                .and_then(parse_orcpt)
                .ok_or(CommandError::InvalidParameter("ORCPT"))?;
            set_once(&mut parameters.orcpt, orcpt, "ORCPT")?;
        } else {
            return Err(unknown(keyword));
        }
    }

    Ok(Command::Rcpt {
        forward_path,
        parameters,
    })
}

fn parse_bdat(args: &[u8]) -> Result<Command, CommandError> {
    let (size, last) = match memchr_space(args) {
        Some(at) if args[at + 1..].eq_ignore_ascii_case(b"LAST") => (&args[..at], true),
        Some(_) => return Err(CommandError::Syntax),
        None => (args, false),
    };

    let size = parse_number(size).ok_or(CommandError::Syntax)?;
    Ok(Command::Bdat { size, last })
}

fn parse_auth(args: &[u8]) -> Result<Command, CommandError> {
    let (name, response) = match memchr_space(args) {
        Some(at) => (&args[..at], Some(&args[at + 1..])),
        None => (args, None),
    };
    let name = std::str::from_utf8(name).map_err(|_| CommandError::Syntax)?;
    let mechanism = MechanismName::new(name).map_err(|_| CommandError::Syntax)?;

    // An empty initial response must be sent as "=", never as an empty argument.
    let initial_response = match response {
        None => None,
        Some(b"") => return Err(CommandError::Syntax),
        Some(response) => Some(Secret::new(decode_sasl(response)?)),
    };

    Ok(Command::Auth {
        mechanism,
        initial_response,
    })
}

/// One `esmtp-param`: the keyword and its value, if any.
type Parameter<'a> = (&'a [u8], Option<&'a [u8]>);

/// At most one of each known parameter exists; a long list is an attack on the parser.
const MAX_PARAMETERS: usize = 16;

/// Room for the parameters of one command. The caller keeps it on its stack, so the bounded
/// list is neither allocated nor moved: MAIL and RCPT are the hottest commands.
type ParameterList<'a> = [Parameter<'a>; MAX_PARAMETERS];

/// `Mail-parameters = esmtp-param *(SP esmtp-param)` after the path: either nothing, or
/// one space and then the parameters separated by single spaces.
///
/// ```text
/// esmtp-param    = esmtp-keyword ["=" esmtp-value]
/// esmtp-keyword  = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
/// esmtp-value    = 1*(%d33-60 / %d62-126)   ; RFC 6531 adds UTF8-non-ascii
/// ```
///
/// Every parameter is checked against the grammar before the caller sees any, so a syntax
/// error anywhere wins over an unknown keyword.
fn esmtp_parameters<'a, 'l>(
    rest: &'a [u8],
    list: &'l mut ParameterList<'a>,
) -> Result<&'l [Parameter<'a>], CommandError> {
    let Some(params) = rest.strip_prefix(b" ") else {
        return if rest.is_empty() {
            Ok(&[])
        } else {
            Err(CommandError::Syntax)
        };
    };

    let mut len = 0;
    for param in params.split(|&b| b == b' ') {
        let Some(slot) = list.get_mut(len) else {
            return Err(CommandError::Syntax);
        };
        let (keyword, value) = match param.iter().position(|&b| b == b'=') {
            Some(at) => (&param[..at], Some(&param[at + 1..])),
            None => (param, None),
        };
        if !is_esmtp_keyword(keyword) || !value.is_none_or(is_esmtp_value) {
            return Err(CommandError::Syntax);
        }
        *slot = (keyword, value);
        len += 1;
    }
    Ok(&list[..len])
}

/// `ALPHA / DIGIT / "-"`, the octets of an `esmtp-keyword` after its first.
const KEYWORD: u8 = 1 << 0;
/// `%d33-60 / %d62-126`, the ASCII octets of an `esmtp-value`.
const VALUE: u8 = 1 << 1;

/// The two classes as one table: parameters are checked octet by octet on every MAIL and
/// RCPT, and a lookup is cheaper than the range comparisons.
const PARAMETER_CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b.is_ascii_alphanumeric() || b == b'-' {
            table[i] |= KEYWORD;
        }
        if matches!(b, 33..=60 | 62..=126) {
            table[i] |= VALUE;
        }
        i += 1;
    }
    table
};

fn is_esmtp_keyword(keyword: &[u8]) -> bool {
    match keyword.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphanumeric()
                && rest
                    .iter()
                    .all(|&b| PARAMETER_CLASSES[usize::from(b)] & KEYWORD != 0)
        }
        None => false,
    }
}

fn is_esmtp_value(value: &[u8]) -> bool {
    // Values are nearly always ASCII: only non-ASCII octets call for UTF-8 validation.
    let ascii = |b: &u8| PARAMETER_CLASSES[usize::from(*b)] & VALUE != 0;
    if !value.is_empty() && value.iter().all(ascii) {
        return true;
    }
    let ascii_or_utf8 = |b: &u8| ascii(b) || *b >= 0x80;
    !value.is_empty() && value.iter().all(ascii_or_utf8) && std::str::from_utf8(value).is_ok()
}

fn unknown(keyword: &[u8]) -> CommandError {
    CommandError::UnknownParameter(String::from_utf8_lossy(keyword).to_ascii_uppercase())
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), CommandError> {
    if slot.replace(value).is_some() {
        return Err(CommandError::InvalidParameter(name));
    }
    Ok(())
}

fn set_flag(slot: &mut bool, value: Option<&[u8]>, name: &'static str) -> Result<(), CommandError> {
    if value.is_some() || *slot {
        return Err(CommandError::InvalidParameter(name));
    }
    *slot = true;
    Ok(())
}

/// `1*20DIGIT`, as SIZE (RFC 1870) and BDAT's chunk-size use; `None` past `u64::MAX`.
fn parse_number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    digits.iter().try_fold(0u64, |number, &digit| {
        if !digit.is_ascii_digit() {
            return None;
        }
        number.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

/// `"NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" )`
fn parse_notify(value: &[u8]) -> Option<Notify> {
    if value.eq_ignore_ascii_case(b"NEVER") {
        return Some(Notify::Never);
    }

    let (mut success, mut failure, mut delay) = (false, false, false);
    for word in value.split(|&b| b == b',') {
        let slot = match word {
            _ if word.eq_ignore_ascii_case(b"SUCCESS") => &mut success,
            _ if word.eq_ignore_ascii_case(b"FAILURE") => &mut failure,
            _ if word.eq_ignore_ascii_case(b"DELAY") => &mut delay,
            _ => return None,
        };
        if std::mem::replace(slot, true) {
            return None;
        }
    }
    Some(Notify::On {
        success,
        failure,
        delay,
    })
}

/// `orcpt-parameter = "ORCPT=" original-recipient-address`,
/// `original-recipient-address = addr-type ";" xtext`
fn parse_orcpt(value: &[u8]) -> Option<OriginalRecipient> {
    let at = value.iter().position(|&b| b == b';')?;
    let address_type = std::str::from_utf8(&value[..at]).ok()?;
    if !is_esmtp_keyword(address_type.as_bytes()) {
        return None;
    }

    let address = decode_xtext(&value[at + 1..]).filter(|a| !a.is_empty())?;
    Some(OriginalRecipient {
        address_type: address_type.to_owned(),
        address,
    })
}

/// Decodes RFC 3461 section 4 xtext: `xtext = *( xchar / hexchar )`,
/// `hexchar = "+" 2(%x30-39 / %x41-46)`, `xchar` = `!`..`~` except `+` and `=`.
/// RFC 6533's UTF-8 in ORCPT passes through unchanged.
fn decode_xtext(value: &[u8]) -> Option<String> {
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };

    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'+' => {
                let high = hex(*bytes.next()?)?;
                let low = hex(*bytes.next()?)?;
                out.push(high << 4 | low);
            }
            b'=' => return None,
            b'!'..=b'~' | 0x80.. => out.push(b),
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes text as xtext, escaping `+`, `=` and everything outside `!`..`~` except UTF-8.
fn encode_xtext(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '+' | '=' => out.push_str(&format!("+{:02X}", c as u32)),
            '!'..='~' => out.push(c),
            c if !c.is_ascii() => out.push(c),
            c => out.push_str(&format!("+{:02X}", c as u32)),
        }
    }
    out
}

impl MailParameters {
    /// The parameters in wire form, each preceded by a space.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Some(size) = self.size {
            out.push_str(&format!(" SIZE={size}"));
        }
        match self.body {
            Some(Body::SevenBit) => out.push_str(" BODY=7BIT"),
            Some(Body::EightBitMime) => out.push_str(" BODY=8BITMIME"),
            Some(Body::BinaryMime) => out.push_str(" BODY=BINARYMIME"),
            None => {}
        }
        if self.smtputf8 {
            out.push_str(" SMTPUTF8");
        }
        match self.ret {
            Some(Ret::Full) => out.push_str(" RET=FULL"),
            Some(Ret::Headers) => out.push_str(" RET=HDRS"),
            None => {}
        }
        if let Some(envid) = &self.envid {
            out.push_str(&format!(" ENVID={}", encode_xtext(envid)));
        }
        if let Some(auth) = &self.auth {
            out.push_str(&format!(" AUTH={}", encode_xtext(auth)));
        }
        if self.requiretls {
            out.push_str(" REQUIRETLS");
        }
        out
    }
}

impl RcptParameters {
    /// The parameters in wire form, each preceded by a space.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        match self.notify {
            Some(Notify::Never) => out.push_str(" NOTIFY=NEVER"),
            Some(Notify::On {
                success,
                failure,
                delay,
            }) => {
                let words: Vec<&str> =
                    [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")]
                        .into_iter()
                        .filter_map(|(on, word)| on.then_some(word))
                        .collect();
                out.push_str(&format!(" NOTIFY={}", words.join(",")));
            }
            None => {}
        }
        if let Some(orcpt) = &self.orcpt {
            out.push_str(&format!(
                " ORCPT={};{}",
                orcpt.address_type,
                encode_xtext(&orcpt.address)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, CommandError> {
        Command::parse(line.as_bytes())
    }

    fn round_trip(command: &Command) {
        let mut wire = Vec::new();
        command.encode(&mut wire);
        assert!(wire.ends_with(b"\r\n"));
        assert_eq!(&Command::parse(&wire[..wire.len() - 2]).unwrap(), command);
    }

    #[test]
    fn simple_commands_are_case_insensitive() {
        assert_eq!(parse("DATA"), Ok(Command::Data));
        assert_eq!(parse("data"), Ok(Command::Data));
        assert_eq!(parse("rSeT"), Ok(Command::Rset));
        assert_eq!(parse("QUIT"), Ok(Command::Quit));
        assert_eq!(parse("NOOP"), Ok(Command::Noop));
        assert_eq!(parse("NOOP anything"), Ok(Command::Noop));
        assert_eq!(parse("STARTTLS"), Ok(Command::StartTls));
        assert_eq!(parse("HELP"), Ok(Command::Help(None)));
        assert_eq!(parse("HELP MAIL"), Ok(Command::Help(Some("MAIL".into()))));
        assert_eq!(parse("VRFY Smith"), Ok(Command::Vrfy("Smith".into())));
        assert_eq!(
            parse("EXPN Example-People"),
            Ok(Command::Expn("Example-People".into()))
        );
    }

    #[test]
    fn unknown_verbs_and_bad_arguments_are_told_apart() {
        assert_eq!(parse("XYZZY"), Err(CommandError::Unrecognized));
        assert_eq!(parse(""), Err(CommandError::Unrecognized));
        assert_eq!(parse("DATA now"), Err(CommandError::Syntax));
        assert_eq!(parse("QUIT please"), Err(CommandError::Syntax));
        assert_eq!(parse("STARTTLS x"), Err(CommandError::Syntax));
        assert_eq!(parse("EHLO"), Err(CommandError::Syntax));
        assert_eq!(parse("MAIL"), Err(CommandError::Syntax));
        assert_eq!(parse("VRFY"), Err(CommandError::Syntax));
        assert_eq!(parse("TURN"), Err(CommandError::Syntax));
        assert_eq!(CommandError::Unrecognized.reply().code(), 500);
        assert_eq!(CommandError::Syntax.reply().code(), 501);
    }

    #[test]
    fn helo_and_ehlo_take_a_domain_or_address_literal() {
        assert!(
            matches!(parse("EHLO bar.com"), Ok(Command::Ehlo(Domain::Name(n))) if n == "bar.com")
        );
        assert!(matches!(
            parse("EHLO [192.0.2.1]"),
            Ok(Command::Ehlo(Domain::Ipv4(_)))
        ));
        assert!(matches!(
            parse("HELO relay.example.org"),
            Ok(Command::Helo(_))
        ));
        assert_eq!(parse("EHLO bad..domain"), Err(CommandError::Syntax));
        assert_eq!(parse("EHLO  two-spaces.example"), Err(CommandError::Syntax));
    }

    #[test]
    fn mail_from_with_every_parameter() {
        let command = parse(
            "MAIL FROM:<Smith@bar.com> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS \
             ENVID=QQ314159 AUTH=e+3Dmc2@example.com REQUIRETLS",
        )
        .unwrap();
        let Command::Mail {
            reverse_path,
            parameters,
        } = &command
        else {
            panic!("{command:?}")
        };
        assert_eq!(reverse_path.to_string(), "<Smith@bar.com>");
        assert_eq!(parameters.size, Some(1000));
        assert_eq!(parameters.body, Some(Body::EightBitMime));
        assert!(parameters.smtputf8 && parameters.requiretls);
        assert_eq!(parameters.ret, Some(Ret::Headers));
        assert_eq!(parameters.envid.as_deref(), Some("QQ314159"));
        assert_eq!(parameters.auth.as_deref(), Some("e=mc2@example.com"));
        round_trip(&command);
    }

    #[test]
    fn mail_from_null_path_and_case() {
        let command = parse("mail from:<>").unwrap();
        assert!(matches!(
            command,
            Command::Mail {
                reverse_path: ReversePath::Null,
                ..
            }
        ));
        round_trip(&command);
    }

    #[test]
    fn mail_parameter_errors() {
        assert_eq!(
            parse("MAIL FROM:<a@b> FOO=1"),
            Err(CommandError::UnknownParameter("FOO".into()))
        );
        assert_eq!(
            parse("MAIL FROM:<a@b> SIZE=x"),
            Err(CommandError::InvalidParameter("SIZE"))
        );
        assert_eq!(
            parse("MAIL FROM:<a@b> SIZE"),
            Err(CommandError::InvalidParameter("SIZE"))
        );
        assert_eq!(
            parse("MAIL FROM:<a@b> SIZE=1 SIZE=2"),
            Err(CommandError::InvalidParameter("SIZE"))
        );
        assert_eq!(
            parse("MAIL FROM:<a@b> SIZE=999999999999999999999"),
            Err(CommandError::InvalidParameter("SIZE"))
        );
        assert_eq!(
            parse("MAIL FROM:<a@b> BODY=9BIT"),
            Err(CommandError::InvalidParameter("BODY"))
        );
        assert_eq!(
            parse("MAIL FROM:<a@b> SMTPUTF8=yes"),
            Err(CommandError::InvalidParameter("SMTPUTF8"))
        );
        assert_eq!(parse("MAIL FROM:<a@b>  SIZE=1"), Err(CommandError::Syntax));
        assert_eq!(parse("MAIL FROM:<a@b> "), Err(CommandError::Syntax));
        assert_eq!(parse("MAIL FROM:<a@b>junk"), Err(CommandError::Syntax));
        assert_eq!(
            parse("MAIL FROM:<a@b> ENVID=a+zz"),
            Err(CommandError::InvalidParameter("ENVID"))
        );
        let many = format!("MAIL FROM:<a@b>{}", " X=1".repeat(17));
        assert_eq!(parse(&many), Err(CommandError::Syntax));
    }

    #[test]
    fn mail_from_requires_strict_syntax() {
        // RFC 5321 has no space after the colon; accepting it would be a parser differential.
        assert!(matches!(
            parse("MAIL FROM: <a@b>"),
            Err(CommandError::Sender(_))
        ));
        assert!(matches!(
            parse("MAIL FROM:a@b"),
            Err(CommandError::Sender(_))
        ));
        assert_eq!(parse("MAIL TO:<a@b>"), Err(CommandError::Syntax));
        assert_eq!(parse("MAIL FROM:<a@b>").unwrap().verb(), "MAIL");
    }

    #[test]
    fn rcpt_to_with_dsn_parameters() {
        let command =
            parse("RCPT TO:<Jones@XYZ.COM> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Jones+2BX@XYZ.COM")
                .unwrap();
        let Command::Rcpt {
            forward_path,
            parameters,
        } = &command
        else {
            panic!()
        };
        assert_eq!(forward_path.to_string(), "<Jones@XYZ.COM>");
        assert_eq!(
            parameters.notify,
            Some(Notify::On {
                success: true,
                failure: true,
                delay: false
            })
        );
        let orcpt = parameters.orcpt.as_ref().unwrap();
        assert_eq!(
            (orcpt.address_type.as_str(), orcpt.address.as_str()),
            ("rfc822", "Jones+X@XYZ.COM")
        );
        round_trip(&command);

        assert!(matches!(
            parse("RCPT TO:<a@b> NOTIFY=NEVER"),
            Ok(Command::Rcpt {
                parameters: RcptParameters {
                    notify: Some(Notify::Never),
                    ..
                },
                ..
            })
        ));
        assert_eq!(
            parse("RCPT TO:<a@b> NOTIFY=NEVER,DELAY"),
            Err(CommandError::InvalidParameter("NOTIFY"))
        );
        assert_eq!(
            parse("RCPT TO:<a@b> NOTIFY=DELAY,DELAY"),
            Err(CommandError::InvalidParameter("NOTIFY"))
        );
        assert_eq!(
            parse("RCPT TO:<a@b> ORCPT=rfc822"),
            Err(CommandError::InvalidParameter("ORCPT"))
        );
        assert_eq!(
            parse("RCPT TO:<a@b> SIZE=1"),
            Err(CommandError::UnknownParameter("SIZE".into()))
        );
    }

    #[test]
    fn rcpt_to_postmaster() {
        assert!(matches!(
            parse("RCPT TO:<postmaster>"),
            Ok(Command::Rcpt {
                forward_path: ForwardPath::Postmaster,
                ..
            })
        ));
        assert!(matches!(
            parse("RCPT TO:<>"),
            Err(CommandError::Recipient(_))
        ));
    }

    #[test]
    fn bdat_chunks() {
        assert_eq!(
            parse("BDAT 86 LAST"),
            Ok(Command::Bdat {
                size: 86,
                last: true
            })
        );
        assert_eq!(
            parse("bdat 0 last"),
            Ok(Command::Bdat {
                size: 0,
                last: true
            })
        );
        assert_eq!(
            parse("BDAT 1000"),
            Ok(Command::Bdat {
                size: 1000,
                last: false
            })
        );
        assert_eq!(parse("BDAT"), Err(CommandError::Syntax));
        assert_eq!(parse("BDAT x"), Err(CommandError::Syntax));
        assert_eq!(parse("BDAT 10 FIRST"), Err(CommandError::Syntax));
        assert_eq!(parse("BDAT -1"), Err(CommandError::Syntax));
        round_trip(&Command::Bdat {
            size: 7,
            last: true,
        });
    }

    #[test]
    fn auth_with_and_without_initial_response() {
        let command = parse("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=").unwrap();
        let Command::Auth {
            mechanism,
            initial_response,
        } = &command
        else {
            panic!()
        };
        assert_eq!(mechanism.as_str(), "PLAIN");
        assert_eq!(
            initial_response.as_ref().unwrap().expose(),
            b"test\0test\0test"
        );
        round_trip(&command);

        let command = parse("auth login").unwrap();
        assert!(matches!(
            &command,
            Command::Auth {
                initial_response: None,
                ..
            }
        ));
        round_trip(&command);

        let command = parse("AUTH EXTERNAL =").unwrap();
        let Command::Auth {
            initial_response, ..
        } = &command
        else {
            panic!()
        };
        assert_eq!(initial_response.as_ref().unwrap().expose(), b"");
        round_trip(&command);

        assert_eq!(parse("AUTH PLAIN !!!"), Err(CommandError::InvalidBase64));
        assert_eq!(parse("AUTH PLAIN "), Err(CommandError::Syntax));
        assert_eq!(parse("AUTH BAD.NAME"), Err(CommandError::Syntax));
    }

    #[test]
    fn debug_output_hides_initial_responses() {
        let command = parse("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=").unwrap();
        assert!(!format!("{command:?}").contains("test"));
    }

    #[test]
    fn xtext_round_trips() {
        for text in ["plain", "a+b=c", "space here", "ünï", "\u{7f}"] {
            assert_eq!(
                decode_xtext(encode_xtext(text).as_bytes()).as_deref(),
                Some(text)
            );
        }
        assert_eq!(
            decode_xtext(b"+2b"),
            None,
            "hex digits are upper case in xtext"
        );
        assert_eq!(decode_xtext(b"+2"), None);
    }
}
