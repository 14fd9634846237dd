//! The command grammar of RFC 9051 section 9, with the extensions this crate serves, as nom
//! parsers named after their ABNF rules.
//!
//! [`command`] takes one whole command as [`crate::framing::Framer`] delivers it: its lines
//! and literals (`{n}` CRLF and the `n` octets, inline), ending with CRLF. It never panics,
//! recurses only as deep as [`MAX_SEARCH_DEPTH`], and allocates in proportion to its input:
//! literal octets are copied about once, and the text of lines becomes values a few dozen
//! times its size at most, which is why the framer bounds the lines of a command together
//! ([`crate::framing::LINE_BYTES_PER_COMMAND`]).
//!
//! The grammar is applied strictly: one space between arguments, no bare CR or LF, no junk
//! after the last argument, unknown options refused. Where RFC 3501 (IMAP4rev1) has
//! something RFC 9051 dropped (LSUB, CHECK, `RECENT`, the NEW, OLD and RECENT search keys),
//! it is accepted, as rev1 clients are served too; the session decides what it means.
//!
//! The parts of the grammar live in submodules: `basic` for tokens, strings, numbers,
//! dates, flags and sequence sets; `fetch` for FETCH and STORE; `search` for SEARCH; `list`
//! for LIST, LSUB and STATUS.

mod basic;
mod fetch;
mod list;
mod search;

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use mail_auth::Secret;
use mail_auth::sasl::MechanismName;

use crate::command::{Command, CommandBody, MailboxName, Tag};
use basic::{
    PResult, astring, atom, atom_string, crlf, date_time, expect, fail, failure, flag_list,
    literal, mailbox, nstring, open_paren, peek_is, require_sp, sequence_set, sp, string,
};
pub use search::MAX_SEARCH_DEPTH;

/// Why a command was refused: the text of the BAD response, and the tag to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ParseError {
    /// The command's tag, when it had a valid one, so the session can answer `tag BAD`;
    /// `None` calls for an untagged `* BAD`.
    pub tag: Option<Tag>,
    /// What was wrong.
    pub reason: Reason,
}

/// What was wrong with a command, in words fit for the text of a BAD response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The command does not start with a valid tag and a space.
    Tag,
    /// The command name is missing or not one this crate knows.
    UnknownCommand,
    /// The arguments do not follow the grammar (no more precise reason applies).
    Syntax,
    /// An argument is missing: the line ended where the grammar wants one.
    MissingArgument,
    /// Something follows the last argument.
    Trailing,
    /// A parenthesised list is not closed where it should be.
    Parenthesis,
    /// A quoted string is unterminated or holds CR, LF, NUL or a bad escape.
    String,
    /// A literal is malformed or shorter than announced.
    Literal,
    /// A `literal8` (`~{n}`) where only APPEND allows one (RFC 3516).
    Literal8,
    /// A NUL octet in a literal; only a `literal8` may hold one.
    Nul,
    /// Text that must be UTF-8 is not.
    Utf8,
    /// A number is out of range (or zero where it must not be).
    Number,
    /// A sequence set is malformed.
    SequenceSet,
    /// A mailbox name (or LIST pattern) is missing or malformed.
    Mailbox,
    /// A flag is malformed.
    Flag,
    /// A flag that a client may not set: `\*`, `\Recent` or an unknown `\` flag.
    FlagNotStorable,
    /// A `date` (SEARCH) is malformed or not a real date.
    Date,
    /// A `date-time` (APPEND) is malformed or not a real time.
    DateTime,
    /// A FETCH data item this crate does not know.
    FetchAttribute,
    /// A body section is malformed.
    Section,
    /// A search key this crate does not know, or with bad arguments.
    SearchKey,
    /// Search criteria nested deeper than the parser allows.
    TooDeep,
    /// SEARCH text in a charset other than UTF-8 that is not valid UTF-8: the session
    /// should answer `NO [BADCHARSET (UTF-8)]` rather than BAD (RFC 9051 section 6.4.4).
    Charset,
    /// An ESEARCH return option this crate does not know.
    SearchReturn,
    /// A STATUS item this crate does not know.
    StatusItem,
    /// A LIST selection or return option that is unknown or badly combined.
    ListOption,
    /// A command parameter or modifier (SELECT, CREATE, FETCH, STORE) this crate does not
    /// know, or one given twice.
    Parameter,
    /// VANISHED without UID FETCH and CHANGEDSINCE (RFC 7162 section 3.2.6).
    Vanished,
    /// A special-use attribute of CREATE that is not `\` and an atom.
    SpecialUse,
    /// A SASL initial response that is not base64 (RFC 4959).
    Base64,
    /// An AUTHENTICATE mechanism name that is not a valid SASL name.
    Mechanism,
    /// ID parameters over the RFC 2971 limits (30 pairs, 30-octet names, 1024-octet values).
    IdParameters,
}

impl Reason {
    /// The text, for a BAD response.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tag => "Missing or invalid tag",
            Self::UnknownCommand => "Unknown command",
            Self::Syntax => "Syntax error in arguments",
            Self::MissingArgument => "Missing argument",
            Self::Trailing => "Unexpected characters at end of command",
            Self::Parenthesis => "Unbalanced parentheses",
            Self::String => "Invalid quoted string",
            Self::Literal => "Invalid literal",
            Self::Literal8 => "literal8 is only allowed in APPEND",
            Self::Nul => "NUL octet in literal",
            Self::Utf8 => "Text is not valid UTF-8",
            Self::Number => "Number out of range",
            Self::SequenceSet => "Invalid sequence set",
            Self::Mailbox => "Invalid mailbox name",
            Self::Flag => "Invalid flag",
            Self::FlagNotStorable => "Flag cannot be set by clients",
            Self::Date => "Invalid date",
            Self::DateTime => "Invalid date-time",
            Self::FetchAttribute => "Unknown FETCH data item",
            Self::Section => "Invalid body section",
            Self::SearchKey => "Invalid search key",
            Self::TooDeep => "Search criteria nested too deeply",
            Self::Charset => "Text is not in a supported charset",
            Self::SearchReturn => "Unknown SEARCH return option",
            Self::StatusItem => "Unknown STATUS item",
            Self::ListOption => "Invalid LIST option",
            Self::Parameter => "Unknown or repeated parameter",
            Self::Vanished => "VANISHED requires UID FETCH and CHANGEDSINCE",
            Self::SpecialUse => "Invalid special-use attribute",
            Self::Base64 => "Invalid base64",
            Self::Mechanism => "Invalid SASL mechanism name",
            Self::IdParameters => "Invalid ID parameters",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses one whole command, as [`crate::framing::Frame::Command`] holds it (ending with
/// CRLF, literals inline).
///
/// ```text
/// command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF
/// ```
///
/// The result depends on the input alone, so the same bytes always give the same value or
/// the same error.
pub fn command(input: &[u8]) -> Result<Command, ParseError> {
    // The tag comes first, so that every later error can be answered with it.
    let Ok((rest, tag)) = basic::tag(input) else {
        return Err(ParseError {
            tag: None,
            reason: Reason::Tag,
        });
    };
    let Ok((rest, _)) = sp(rest) else {
        // A valid tag alone on its line lacks a command; otherwise the tag itself goes on
        // with characters a tag cannot have, and the BAD must be untagged.
        let (tag, reason) = match rest {
            [b'\r', b'\n', ..] => (Some(tag), Reason::UnknownCommand),
            _ => (None, Reason::Tag),
        };
        return Err(ParseError { tag, reason });
    };

    match command_body(rest) {
        Ok((rest, body)) => match crlf(rest) {
            Ok(([], _)) => Ok(Command { tag, body }),
            _ => Err(ParseError {
                tag: Some(tag),
                reason: trailing_reason(rest),
            }),
        },
        Err(nom::Err::Error(error) | nom::Err::Failure(error)) => Err(ParseError {
            tag: Some(tag),
            reason: error.reason,
        }),
        Err(nom::Err::Incomplete(_)) => Err(ParseError {
            tag: Some(tag),
            reason: Reason::Syntax,
        }),
    }
}

/// Why the input after a complete command body is wrong.
fn trailing_reason(rest: &[u8]) -> Reason {
    match rest {
        // Without the framer, a command may come without its CRLF.
        [] => Reason::Syntax,
        [b')', ..] => Reason::Parenthesis,
        _ => Reason::Trailing,
    }
}

/// The longest command name, for the case-folding buffer of [`command_body`].
const MAX_NAME: usize = 12;

/// ```text
/// command-any     = "CAPABILITY" / "LOGOUT" / "NOOP" / id ; RFC 2971
/// command-auth    = append / create / delete / enable / examine / list /
///                   namespace-command / rename / select / status / subscribe /
///                   unsubscribe / idle / lsub ; rev1
/// command-nonauth = login / authenticate / "STARTTLS"
/// command-select  = "CLOSE" / "UNSELECT" / "EXPUNGE" / copy / move / fetch / store /
///                   search / uid / "CHECK" ; rev1
/// ```
///
/// Which state a command is valid in is for the session to decide; the grammar takes them
/// all.
fn command_body(input: &[u8]) -> PResult<'_, CommandBody> {
    let (rest, name) = expect(Reason::UnknownCommand, atom(input))?;
    let Some(upper) = upper_name(name) else {
        return failure(input, Reason::UnknownCommand);
    };

    match &upper[..name.len()] {
        b"CAPABILITY" => Ok((rest, CommandBody::Capability)),
        b"NOOP" => Ok((rest, CommandBody::Noop)),
        b"LOGOUT" => Ok((rest, CommandBody::Logout)),
        b"STARTTLS" => Ok((rest, CommandBody::StartTls)),
        b"AUTHENTICATE" => authenticate(rest),
        b"LOGIN" => login(rest),
        b"ENABLE" => enable(rest),
        b"SELECT" => select(rest, false),
        b"EXAMINE" => select(rest, true),
        b"CREATE" => create(rest),
        b"DELETE" => one_mailbox(rest, |mailbox| CommandBody::Delete { mailbox }),
        b"RENAME" => rename(rest),
        b"SUBSCRIBE" => one_mailbox(rest, |mailbox| CommandBody::Subscribe { mailbox }),
        b"UNSUBSCRIBE" => one_mailbox(rest, |mailbox| CommandBody::Unsubscribe { mailbox }),
        b"LIST" => list::list(rest),
        b"LSUB" => list::lsub(rest),
        b"NAMESPACE" => Ok((rest, CommandBody::Namespace)),
        b"STATUS" => list::status(rest),
        b"APPEND" => append(rest),
        b"IDLE" => Ok((rest, CommandBody::Idle)),
        b"CHECK" => Ok((rest, CommandBody::Check)),
        b"CLOSE" => Ok((rest, CommandBody::Close)),
        b"UNSELECT" => Ok((rest, CommandBody::Unselect)),
        b"EXPUNGE" => Ok((rest, CommandBody::Expunge { uids: None })),
        b"SEARCH" => search::search(rest, false),
        b"FETCH" => fetch::fetch(rest, false),
        b"STORE" => fetch::store(rest, false),
        b"COPY" => copy_or_move(rest, false, false),
        b"MOVE" => copy_or_move(rest, false, true),
        b"UID" => uid(rest),
        b"ID" => id(rest),
        _ => failure(input, Reason::UnknownCommand),
    }
}

/// `name` in upper case, in a buffer of [`MAX_NAME`] bytes (longer names are no command).
fn upper_name(name: &[u8]) -> Option<[u8; MAX_NAME]> {
    let mut upper = [0; MAX_NAME];
    upper.get_mut(..name.len())?.copy_from_slice(name);
    upper.make_ascii_uppercase();
    Some(upper)
}

/// ```text
/// uid         = "UID" SP (copy / move / fetch / search / store / uid-expunge)
/// uid-expunge = "EXPUNGE" SP sequence-set   ; RFC 4315
/// ```
fn uid(input: &[u8]) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (after, name) = expect(Reason::UnknownCommand, atom(rest))?;
    let Some(upper) = upper_name(name) else {
        return failure(rest, Reason::UnknownCommand);
    };

    match &upper[..name.len()] {
        b"FETCH" => fetch::fetch(after, true),
        b"STORE" => fetch::store(after, true),
        b"SEARCH" => search::search(after, true),
        b"COPY" => copy_or_move(after, true, false),
        b"MOVE" => copy_or_move(after, true, true),
        b"EXPUNGE" => {
            let (after, _) = require_sp(after)?;
            let (after, set) = expect(Reason::SequenceSet, sequence_set(after))?;
            Ok((after, CommandBody::Expunge { uids: Some(set) }))
        }
        _ => failure(rest, Reason::UnknownCommand),
    }
}

/// `SP mailbox`, the argument of DELETE, SUBSCRIBE and UNSUBSCRIBE:
///
/// ```text
/// delete      = "DELETE" SP mailbox
/// subscribe   = "SUBSCRIBE" SP mailbox
/// unsubscribe = "UNSUBSCRIBE" SP mailbox
/// ```
fn one_mailbox(
    input: &[u8],
    body: impl FnOnce(MailboxName) -> CommandBody,
) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (rest, mailbox) = expect(Reason::Mailbox, mailbox(rest))?;
    Ok((rest, body(mailbox)))
}

/// ```text
/// authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp] *(CRLF base64)
/// auth-type    = atom
/// initial-resp = (base64 / "=")   ; RFC 4959 SASL-IR
/// ```
///
/// The `*(CRLF base64)` lines are the SASL exchange that follows, read as raw lines.
fn authenticate(input: &[u8]) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (after, name) = expect(Reason::Mechanism, atom(rest))?;
    let mechanism = std::str::from_utf8(name)
        .ok()
        .and_then(|name| MechanismName::new(name).ok())
        .ok_or_else(|| fail(rest, Reason::Mechanism))?;

    let Ok((after, _)) = sp(after) else {
        return Ok((
            after,
            CommandBody::Authenticate {
                mechanism,
                initial_response: None,
            },
        ));
    };

    // An empty initial response is sent as "=" (RFC 4959 section 3), never as nothing.
    let end = after
        .iter()
        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
        .unwrap_or(after.len());
    let (response, rest) = after.split_at(end);
    let decoded = match response {
        b"" => return failure(after, Reason::Base64),
        b"=" => Vec::new(),
        _ => BASE64
            .decode(response)
            .map_err(|_| fail(after, Reason::Base64))?,
    };
    Ok((
        rest,
        CommandBody::Authenticate {
            mechanism,
            initial_response: Some(Secret::new(decoded)),
        },
    ))
}

/// ```text
/// login    = "LOGIN" SP userid SP password
/// userid   = astring
/// password = astring
/// ```
///
/// The user name must be UTF-8 (RFC 9051 section 6.2.3 leaves its form to the server, and
/// the session compares it as text); the password is kept as octets.
fn login(input: &[u8]) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (rest, username) = expect(Reason::Syntax, astring(rest))?;
    let username = basic::utf8(input, username)?;
    let (rest, _) = require_sp(rest)?;
    let (rest, password) = expect(Reason::Syntax, astring(rest))?;
    Ok((
        rest,
        CommandBody::Login {
            username,
            password: Secret::new(password.into_owned()),
        },
    ))
}

/// ```text
/// enable     = "ENABLE" 1*(SP capability)   ; RFC 5161
/// capability = ("AUTH=" auth-type) / atom
/// ```
fn enable(input: &[u8]) -> PResult<'_, CommandBody> {
    let (mut rest, _) = require_sp(input)?;
    let mut capabilities = Vec::new();
    loop {
        let (after, capability) = expect(Reason::Syntax, atom_string(rest))?;
        capabilities.push(capability);
        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => return Ok((after, CommandBody::Enable { capabilities })),
        }
    }
}

/// ```text
/// select        = "SELECT" SP mailbox [select-params]
/// examine       = "EXAMINE" SP mailbox [select-params]
/// select-params = SP "(" select-param *(SP select-param) ")"   ; RFC 4466
/// select-param  = "CONDSTORE"                                  ; RFC 7162 section 3.1.8
/// ```
fn select(input: &[u8], read_only: bool) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (rest, mailbox) = expect(Reason::Mailbox, mailbox(rest))?;

    let mut condstore = false;
    let rest = match sp(rest) {
        Ok((after, _)) => {
            parameter_list(after, |name, rest| {
                if name.eq_ignore_ascii_case(b"CONDSTORE") && !condstore {
                    condstore = true;
                    Ok((rest, ()))
                } else {
                    failure(name, Reason::Parameter)
                }
            })?
            .0
        }
        Err(_) => rest,
    };

    let body = if read_only {
        CommandBody::Examine { mailbox, condstore }
    } else {
        CommandBody::Select { mailbox, condstore }
    };
    Ok((rest, body))
}

/// A parenthesised list of parameters, each a keyword that `each` reads the rest of (RFC
/// 4466 `select-params`, `create-params`, `fetch-modifiers`, `store-modifiers`): `each` gets
/// the keyword and the input after it.
fn parameter_list<'a>(
    input: &'a [u8],
    mut each: impl FnMut(&'a [u8], &'a [u8]) -> PResult<'a, ()>,
) -> PResult<'a, ()> {
    let (mut rest, _) = expect(Reason::Syntax, open_paren(input))?;
    loop {
        let (after, name) = expect(Reason::Parameter, basic::keyword(rest))?;
        let (after, _) = each(name, after)?;
        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => return basic::close_paren(after),
        }
    }
}

/// ```text
/// create        = "CREATE" SP mailbox [create-params]
/// create-params = SP "(" create-param *(SP create-param) ")"       ; RFC 4466
/// create-param  = "USE" SP "(" [use-attr *(SP use-attr)] ")"       ; RFC 6154 section 6
/// use-attr      = "\All" / "\Archive" / "\Drafts" / "\Flagged" /
///                 "\Junk" / "\Sent" / "\Trash" / use-attr-ext
/// use-attr-ext  = "\" atom
/// ```
///
/// Known attributes are given their canonical case; others are kept as sent, for the
/// session to refuse with `NO [USEATTR]` (RFC 6154 section 3).
fn create(input: &[u8]) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (rest, mailbox) = expect(Reason::Mailbox, mailbox(rest))?;

    let mut special_use = Vec::new();
    let rest = match sp(rest) {
        Ok((after, _)) => {
            parameter_list(after, |name, rest| {
                if !name.eq_ignore_ascii_case(b"USE") {
                    return failure(name, Reason::Parameter);
                }
                let (rest, _) = require_sp(rest)?;
                let (rest, attributes) = use_attributes(rest)?;
                special_use.extend(attributes);
                Ok((rest, ()))
            })?
            .0
        }
        Err(_) => rest,
    };

    Ok((
        rest,
        CommandBody::Create {
            mailbox,
            special_use,
        },
    ))
}

/// The special-use attributes of RFC 6154 section 2, in their canonical case.
const SPECIAL_USES: [&str; 7] = [
    "\\All",
    "\\Archive",
    "\\Drafts",
    "\\Flagged",
    "\\Junk",
    "\\Sent",
    "\\Trash",
];

/// `"(" [use-attr *(SP use-attr)] ")"`
fn use_attributes(input: &[u8]) -> PResult<'_, Vec<String>> {
    let (mut rest, _) = expect(Reason::SpecialUse, open_paren(input))?;
    let mut attributes = Vec::new();
    if let Some(after) = rest.strip_prefix(b")") {
        return Ok((after, attributes));
    }

    loop {
        let Some(name) = rest.strip_prefix(b"\\") else {
            return failure(rest, Reason::SpecialUse);
        };
        let (after, name) = expect(Reason::SpecialUse, atom(name))?;
        let whole = &rest[..name.len() + 1];
        let known = SPECIAL_USES
            .iter()
            .find(|canonical| canonical.as_bytes().eq_ignore_ascii_case(whole));
        match known {
            Some(canonical) => attributes.push((*canonical).to_owned()),
            None => attributes.push(basic::utf8(rest, Cow::Borrowed(whole))?),
        }
        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => {
                let (after, _) = basic::close_paren(after)?;
                return Ok((after, attributes));
            }
        }
    }
}

/// ```text
/// rename = "RENAME" SP mailbox SP mailbox
/// ```
fn rename(input: &[u8]) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (rest, from) = expect(Reason::Mailbox, mailbox(rest))?;
    let (rest, _) = require_sp(rest)?;
    let (rest, to) = expect(Reason::Mailbox, mailbox(rest))?;
    Ok((rest, CommandBody::Rename { from, to }))
}

/// ```text
/// append      = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP append-data
/// append-data = literal / literal8   ; RFC 3516 section 4.4
/// ```
///
/// One message per command: MULTIAPPEND (RFC 3502) is not served.
fn append(input: &[u8]) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (rest, mailbox) = expect(Reason::Mailbox, mailbox(rest))?;
    let (mut rest, _) = require_sp(rest)?;

    let mut flags = Vec::new();
    if peek_is(rest, b'(') {
        let (after, found) = flag_list(rest)?;
        flags = found;
        (rest, _) = require_sp(after)?;
    }

    let mut date = None;
    if peek_is(rest, b'"') {
        let (after, found) = date_time(rest)?;
        date = Some(found);
        (rest, _) = require_sp(after)?;
    }

    let (rest, (message, binary)) = expect(Reason::Literal, literal(rest))?;
    Ok((
        rest,
        CommandBody::Append {
            mailbox,
            flags,
            date,
            message: message.to_vec(),
            binary,
        },
    ))
}

/// ```text
/// copy = "COPY" SP sequence-set SP mailbox
/// move = "MOVE" SP sequence-set SP mailbox   ; RFC 6851
/// ```
fn copy_or_move(input: &[u8], uid: bool, is_move: bool) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (rest, set) = expect(Reason::SequenceSet, sequence_set(rest))?;
    let (rest, _) = require_sp(rest)?;
    let (rest, mailbox) = expect(Reason::Mailbox, mailbox(rest))?;

    let body = if is_move {
        CommandBody::Move { uid, set, mailbox }
    } else {
        CommandBody::Copy { uid, set, mailbox }
    };
    Ok((rest, body))
}

/// The most field-value pairs an ID command may carry (RFC 2971 section 3.3).
const MAX_ID_PAIRS: usize = 30;
/// The longest ID field name, in octets (RFC 2971 section 3.3).
const MAX_ID_FIELD: usize = 30;
/// The longest ID value, in octets (RFC 2971 section 3.3).
const MAX_ID_VALUE: usize = 1024;

/// ```text
/// id             = "ID" SP id-params-list                ; RFC 2971 section 4
/// id-params-list = "(" *(string SP nstring) ")" / nil    ; the pairs separated by SP
/// ```
///
/// RFC 2971's limits (30 pairs, 30-octet fields, 1024-octet values) are enforced, so a
/// client cannot make the session log or keep arbitrary amounts of text.
fn id(input: &[u8]) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    if let Some(after) = basic::strip_keyword(rest, "NIL") {
        return Ok((after, CommandBody::Id { parameters: None }));
    }

    let (mut rest, _) = expect(Reason::IdParameters, open_paren(rest))?;
    let mut parameters = Vec::new();
    if let Some(after) = rest.strip_prefix(b")") {
        return Ok((
            after,
            CommandBody::Id {
                parameters: Some(parameters),
            },
        ));
    }

    loop {
        if parameters.len() == MAX_ID_PAIRS {
            return failure(rest, Reason::IdParameters);
        }
        let (after, field) = expect(Reason::IdParameters, string(rest))?;
        let (after, _) = require_sp(after)?;
        let (after, value) = expect(Reason::IdParameters, nstring(after))?;
        let too_long = field.len() > MAX_ID_FIELD
            || value
                .as_ref()
                .is_some_and(|value| value.len() > MAX_ID_VALUE);
        if too_long {
            return failure(rest, Reason::IdParameters);
        }
        let field = basic::utf8(rest, field)?;
        let value = value.map(|value| basic::utf8(rest, value)).transpose()?;
        parameters.push((field, value));

        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => {
                let (after, _) = basic::close_paren(after)?;
                return Ok((
                    after,
                    CommandBody::Id {
                        parameters: Some(parameters),
                    },
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(input: &str) -> CommandBody {
        match command(input.as_bytes()) {
            Ok(command) => command.body,
            Err(error) => panic!("{input:?}: {error:?}"),
        }
    }

    fn reason(input: &[u8]) -> Reason {
        match command(input) {
            Ok(command) => panic!("{input:?} parsed as {command:?}"),
            Err(error) => error.reason,
        }
    }

    fn mbox(name: &str) -> MailboxName {
        MailboxName(name.as_bytes().to_vec())
    }

    #[test]
    fn the_tag_is_kept_for_errors() {
        let error = command(b"a1 FROB\r\n").unwrap_err();
        assert_eq!(error.tag, Tag::new("a1"));
        assert_eq!(error.reason, Reason::UnknownCommand);
        assert_eq!(error.to_string(), "Unknown command");

        let error = command(b"+a NOOP\r\n").unwrap_err();
        assert_eq!((error.tag, error.reason), (None, Reason::Tag));
        let error = command(b"\r\n").unwrap_err();
        assert_eq!((error.tag, error.reason), (None, Reason::Tag));
        let error = command(b"a\r\n").unwrap_err();
        assert_eq!(
            (error.tag, error.reason),
            (Tag::new("a"), Reason::UnknownCommand)
        );
        let error = command(b"a+b NOOP\r\n").unwrap_err();
        assert_eq!((error.tag, error.reason), (None, Reason::Tag));
    }

    #[test]
    fn command_names_are_case_insensitive() {
        assert_eq!(body("a noop\r\n"), CommandBody::Noop);
        assert_eq!(body("a CaPaBiLiTy\r\n"), CommandBody::Capability);
        assert_eq!(body("a uid expunge 1\r\n").name(), "EXPUNGE");
        assert_eq!(reason(b"a NOOPNOOPNOOPNOOP\r\n"), Reason::UnknownCommand);
    }

    #[test]
    fn the_grammar_is_strict_about_spacing_and_endings() {
        assert_eq!(reason(b"a NOOP extra\r\n"), Reason::Trailing);
        assert_eq!(reason(b"a NOOP \r\n"), Reason::Trailing);
        assert_eq!(reason(b"a  NOOP\r\n"), Reason::UnknownCommand);
        assert_eq!(reason(b"a NOOP\n"), Reason::Trailing);
        assert_eq!(reason(b"a NOOP\r\n\r\n"), Reason::Trailing);
        assert_eq!(reason(b"a NOOP"), Reason::Syntax);
        assert_eq!(reason(b"a DELETE\r\n"), Reason::MissingArgument);
        assert_eq!(reason(b"a DELETE\tx\r\n"), Reason::Syntax);
        assert_eq!(reason(b"a SELECT x\ny\r\n"), Reason::Trailing);
    }

    #[test]
    fn authenticate_decodes_the_initial_response() {
        let CommandBody::Authenticate {
            mechanism,
            initial_response,
        } = body("a AUTHENTICATE plain AGFsaWNlAHB3\r\n")
        else {
            panic!("not AUTHENTICATE");
        };
        assert_eq!(mechanism.as_str(), "PLAIN");
        assert_eq!(initial_response.unwrap().expose(), b"\0alice\0pw");

        assert_eq!(
            body("a AUTHENTICATE EXTERNAL =\r\n"),
            CommandBody::Authenticate {
                mechanism: MechanismName::new("EXTERNAL").unwrap(),
                initial_response: Some(Secret::new(Vec::new())),
            }
        );
        assert_eq!(
            body("a AUTHENTICATE SCRAM-SHA-256\r\n"),
            CommandBody::Authenticate {
                mechanism: MechanismName::new("SCRAM-SHA-256").unwrap(),
                initial_response: None,
            }
        );
        assert_eq!(
            reason(b"a AUTHENTICATE PLAIN AGFsaWNl=\r\n"),
            Reason::Base64
        );
        assert_eq!(reason(b"a AUTHENTICATE PLAIN !!!!\r\n"), Reason::Base64);
        assert_eq!(reason(b"a AUTHENTICATE PLAIN \r\n"), Reason::Base64);
        assert_eq!(reason(b"a AUTHENTICATE PLAIN = x\r\n"), Reason::Trailing);
        assert_eq!(reason(b"a AUTHENTICATE PL.AIN\r\n"), Reason::Mechanism);
        assert_eq!(reason(b"a AUTHENTICATE\r\n"), Reason::MissingArgument);
    }

    #[test]
    fn login_takes_astrings_and_wants_a_utf8_user() {
        let CommandBody::Login { username, password } =
            body("a LOGIN \"fred smith\" {5}\r\np w\"x\r\n")
        else {
            panic!("not LOGIN");
        };
        assert_eq!(username, "fred smith");
        assert_eq!(password.expose(), b"p w\"x");
        assert_eq!(reason(b"a LOGIN {2}\r\n\xc3\x28 pw\r\n"), Reason::Utf8);
        assert_eq!(reason(b"a LOGIN user\r\n"), Reason::MissingArgument);
        assert_eq!(reason(b"a LOGIN ~{2}\r\nab pw\r\n"), Reason::Literal8);
    }

    #[test]
    fn enable_takes_atoms() {
        assert_eq!(
            body("a ENABLE IMAP4rev2 UTF8=ACCEPT\r\n"),
            CommandBody::Enable {
                capabilities: vec!["IMAP4rev2".to_owned(), "UTF8=ACCEPT".to_owned()]
            }
        );
        assert_eq!(reason(b"a ENABLE\r\n"), Reason::MissingArgument);
        assert_eq!(reason(b"a ENABLE \"x\"\r\n"), Reason::Syntax);
    }

    #[test]
    fn select_takes_the_condstore_parameter() {
        assert_eq!(
            body("a SELECT INBOX (condstore)\r\n"),
            CommandBody::Select {
                mailbox: mbox("INBOX"),
                condstore: true
            }
        );
        assert_eq!(
            body("a EXAMINE \"a b\"\r\n"),
            CommandBody::Examine {
                mailbox: mbox("a b"),
                condstore: false
            }
        );
        assert_eq!(reason(b"a SELECT INBOX (FOO)\r\n"), Reason::Parameter);
        assert_eq!(
            reason(b"a SELECT INBOX (CONDSTORE CONDSTORE)\r\n"),
            Reason::Parameter
        );
        assert_eq!(reason(b"a SELECT INBOX ()\r\n"), Reason::Parameter);
        assert_eq!(
            reason(b"a SELECT INBOX (CONDSTORE\r\n"),
            Reason::Parenthesis
        );
    }

    #[test]
    fn create_takes_special_use_attributes() {
        assert_eq!(
            body("t1 CREATE MySpecial (USE (\\drafts \\Sent \\X-Own))\r\n"),
            CommandBody::Create {
                mailbox: mbox("MySpecial"),
                special_use: vec!["\\Drafts".into(), "\\Sent".into(), "\\X-Own".into()],
            }
        );
        assert_eq!(
            body("t1 CREATE a/b (USE ())\r\n"),
            CommandBody::Create {
                mailbox: mbox("a/b"),
                special_use: Vec::new(),
            }
        );
        assert_eq!(reason(b"t1 CREATE x (USE (Sent))\r\n"), Reason::SpecialUse);
        assert_eq!(reason(b"t1 CREATE x (FOO (\\Sent))\r\n"), Reason::Parameter);
    }

    #[test]
    fn append_takes_flags_a_date_and_a_literal() {
        assert_eq!(
            body("A APPEND Drafts (\\Draft $Pending) \"05-Jan-2024 10:00:00 +0000\" {2}\r\nhi\r\n"),
            CommandBody::Append {
                mailbox: mbox("Drafts"),
                flags: vec!["\\Draft".into(), "$Pending".into()],
                date: Some(crate::response::days_from_civil(2024, 1, 5) * 86_400 + 36_000),
                message: b"hi".to_vec(),
                binary: false,
            }
        );
        assert_eq!(
            body("A APPEND x ~{3+}\r\na\0b\r\n"),
            CommandBody::Append {
                mailbox: mbox("x"),
                flags: Vec::new(),
                date: None,
                message: b"a\0b".to_vec(),
                binary: true,
            }
        );
        assert_eq!(
            reason(b"A APPEND x (\\*) {1}\r\na\r\n"),
            Reason::FlagNotStorable
        );
        assert_eq!(
            reason(b"A APPEND x (\\Foo) {1}\r\na\r\n"),
            Reason::FlagNotStorable
        );
        assert_eq!(reason(b"A APPEND x \"hello\"\r\n"), Reason::DateTime);
        assert_eq!(reason(b"A APPEND x hello\r\n"), Reason::Literal);
        assert_eq!(reason(b"A APPEND x {3}\r\na\0b\r\n"), Reason::Nul);
    }

    #[test]
    fn copy_move_and_uid_expunge_take_sets() {
        use crate::command::{SeqNumber::Value, SequenceSet};
        let set = SequenceSet::Ranges(vec![(Value(2), Value(4))]);
        assert_eq!(
            body("a UID MOVE 2:4 Trash\r\n"),
            CommandBody::Move {
                uid: true,
                set: set.clone(),
                mailbox: mbox("Trash")
            }
        );
        assert_eq!(
            body("a COPY 2:4 Trash\r\n"),
            CommandBody::Copy {
                uid: false,
                set: set.clone(),
                mailbox: mbox("Trash")
            }
        );
        assert_eq!(
            body("a UID EXPUNGE 2:4\r\n"),
            CommandBody::Expunge { uids: Some(set) }
        );
        assert_eq!(reason(b"a COPY 0 Trash\r\n"), Reason::SequenceSet);
        assert_eq!(reason(b"a UID FROB 1\r\n"), Reason::UnknownCommand);
        assert_eq!(reason(b"a UID\r\n"), Reason::MissingArgument);
    }

    #[test]
    fn id_takes_pairs_within_limits() {
        assert_eq!(
            body("a ID (\"name\" \"sodr\" \"os\" NIL)\r\n"),
            CommandBody::Id {
                parameters: Some(vec![
                    ("name".into(), Some("sodr".into())),
                    ("os".into(), None)
                ])
            }
        );
        assert_eq!(body("a ID nil\r\n"), CommandBody::Id { parameters: None });
        assert_eq!(
            body("a ID ()\r\n"),
            CommandBody::Id {
                parameters: Some(Vec::new())
            }
        );

        let pairs = |n: usize| {
            let pairs: Vec<String> = (0..n).map(|i| format!("\"k{i}\" \"v\"")).collect();
            format!("a ID ({})\r\n", pairs.join(" "))
        };
        assert!(command(pairs(30).as_bytes()).is_ok());
        assert_eq!(reason(pairs(31).as_bytes()), Reason::IdParameters);
        let long_field = format!("a ID (\"{}\" NIL)\r\n", "f".repeat(31));
        assert_eq!(reason(long_field.as_bytes()), Reason::IdParameters);
        let long_value = format!("a ID (\"f\" \"{}\")\r\n", "v".repeat(1025));
        assert_eq!(reason(long_value.as_bytes()), Reason::IdParameters);
        assert_eq!(reason(b"a ID (\"name\")\r\n"), Reason::Syntax);
        assert_eq!(reason(b"a ID (name \"x\")\r\n"), Reason::IdParameters);
    }

    #[test]
    fn parsing_is_deterministic() {
        let input = b"a UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From)])\r\n";
        assert_eq!(command(input), command(input));
        assert_eq!(command(b"a FROB\r\n"), command(b"a FROB\r\n"));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep; the fuzz targets go much further.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let alphabet = b"a1 ()[]<>{}~+-*%$:,.\"\\\r\nFETCHBODYSEARCHNOTOR0123456789";
        for _ in 0..20_000 {
            let mut input = b"a ".to_vec();
            for _ in 0..(state % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                input.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            input.extend_from_slice(b"\r\n");
            let _ = command(&input);
        }
    }
}
