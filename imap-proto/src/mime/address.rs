//! Address lists for ENVELOPE (RFC 5322 section 3.4, with the obsolete forms of section 4.4),
//! kept in their raw form.
//!
//! RFC 9051 section 7.5.2 wants each address as (name adl mailbox host), the name and the
//! local part with RFC 5322 quoting removed but otherwise as sent: encoded words stay encoded,
//! because the client decodes them. mail-parser decodes display names, so this small parser
//! works on the raw value. It never fails: whatever it cannot read becomes part of a name or
//! a mailbox.

use std::borrow::Cow;

/// One member of an ENVELOPE address list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Address {
    /// A mailbox. A missing local part or domain is empty, never NIL, since NIL there marks
    /// a group (RFC 9051 section 7.5.2).
    Mailbox {
        /// The display name, unquoted; or a comment when there is no display name.
        name: Option<Vec<u8>>,
        /// The obsolete source route (`@a,@b`), RFC 9051 `addr-adl`.
        adl: Option<Vec<u8>>,
        /// The local part, unquoted.
        mailbox: Vec<u8>,
        /// The domain.
        host: Vec<u8>,
    },
    /// The start of a group: `(NIL NIL name NIL)`.
    GroupStart(Vec<u8>),
    /// The end of a group: `(NIL NIL NIL NIL)`.
    GroupEnd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    /// An atom, or a quoted string with its quoting removed (borrowed when it has no
    /// escapes, which is nearly always).
    Word(Cow<'a, [u8]>),
    /// A domain literal, brackets included.
    Literal(&'a [u8]),
    /// A comment's text, outer parentheses removed.
    Comment(Vec<u8>),
    /// One of `< > @ , ; : .`
    Special(u8),
    /// White space.
    Space,
}

/// Splits an unfolded field value into RFC 5322 lexical tokens.
fn tokens(value: &[u8]) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&byte) = value.get(i) {
        match byte {
            b' ' | b'\t' | b'\r' | b'\n' => {
                if out.last() != Some(&Token::Space) {
                    out.push(Token::Space);
                }
                i += 1;
            }
            b'(' => {
                // Comments nest; the depth is a counter, not recursion.
                let mut depth = 0usize;
                let mut text = Vec::new();
                while let Some(&byte) = value.get(i) {
                    i += 1;
                    match byte {
                        b'(' => {
                            if depth > 0 {
                                text.push(byte);
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            text.push(byte);
                        }
                        b'\\' => {
                            if let Some(&next) = value.get(i) {
                                text.push(next);
                                i += 1;
                            }
                        }
                        _ => text.push(byte),
                    }
                }
                out.push(Token::Comment(text));
            }
            b'"' => {
                i += 1;
                let start = i;
                let end = memchr::memchr2(b'"', b'\\', &value[i..]).map(|p| i + p);
                if let Some(end) = end.filter(|&end| value[end] == b'"') {
                    out.push(Token::Word(Cow::Borrowed(&value[start..end])));
                    i = end + 1;
                    continue;
                }

                let mut text = Vec::new();
                while let Some(&byte) = value.get(i) {
                    i += 1;
                    match byte {
                        b'"' => break,
                        b'\\' => {
                            if let Some(&next) = value.get(i) {
                                text.push(next);
                                i += 1;
                            }
                        }
                        _ => text.push(byte),
                    }
                }
                out.push(Token::Word(Cow::Owned(text)));
            }
            b'[' => {
                let end = value[i..]
                    .iter()
                    .position(|&b| b == b']')
                    .map_or(value.len(), |p| i + p + 1);
                out.push(Token::Literal(&value[i..end]));
                i = end;
            }
            b'<' | b'>' | b'@' | b',' | b';' | b':' | b'.' => {
                out.push(Token::Special(byte));
                i += 1;
            }
            // An atom; a stray `)` or `]` is one too, so that every byte makes progress.
            _ => {
                let start = i;
                i += 1;
                while value.get(i).is_some_and(|&b| is_atom_octet(b)) {
                    i += 1;
                }
                out.push(Token::Word(Cow::Borrowed(&value[start..i])));
            }
        }
    }
    out
}

/// Octets that continue an atom: anything but white space, the specials this parser splits
/// on, and the openers of comments, quoted strings and literals. 8-bit octets belong to atoms
/// (RFC 6532 section 3.2).
fn is_atom_octet(byte: u8) -> bool {
    !ATOM_ENDS[usize::from(byte)]
}

/// The octets that end an atom, as a table: a lookup per octet of every address field.
const ATOM_ENDS: [bool; 256] = super::fields::octet_set(b" \t\r\n()\"[<>@,;:.");

/// Parses an address list (RFC 5322 `address-list`, with groups). Empty when the value holds
/// no address, which ENVELOPE writes as NIL.
pub(super) fn parse_list(value: &[u8]) -> Vec<Address> {
    let tokens = tokens(value);
    let mut out = Vec::new();
    let mut in_group = false;
    let mut start = 0;
    let mut emitted = false;
    let mut i = 0;
    while i < tokens.len() {
        match tokens[i] {
            Token::Special(b'<') => {
                // `[display-name] "<" [obs-route] addr-spec ">"`; what follows the `>` up to
                // the next separator is comments or junk.
                let close = tokens[i + 1..]
                    .iter()
                    .position(|t| *t == Token::Special(b'>'))
                    .map_or(tokens.len(), |p| i + 1 + p);
                let mut after = (close + 1).min(tokens.len());
                while after < tokens.len() && !matches!(tokens[after], Token::Special(b',' | b';'))
                {
                    after += 1;
                }
                let name = phrase(&tokens[start..i])
                    .or_else(|| comment(&tokens[start..i]))
                    .or_else(|| comment(tokens.get(close + 1..after).unwrap_or_default()));
                let (adl, spec) = route(&tokens[i + 1..close]);
                let (mailbox, host) = addr_spec(spec);
                out.push(Address::Mailbox {
                    name,
                    adl,
                    mailbox,
                    host,
                });
                emitted = true;
                i = after;
                continue;
            }
            Token::Special(b':') if !in_group && !emitted => {
                let name = phrase(&tokens[start..i]).unwrap_or_default();
                out.push(Address::GroupStart(name));
                in_group = true;
                start = i + 1;
            }
            Token::Special(b',') => {
                flush(&tokens[start..i], emitted, &mut out);
                start = i + 1;
                emitted = false;
            }
            Token::Special(b';') => {
                flush(&tokens[start..i], emitted, &mut out);
                if in_group {
                    out.push(Address::GroupEnd);
                    in_group = false;
                }
                start = i + 1;
                emitted = false;
            }
            _ => {}
        }
        i += 1;
    }
    flush(tokens.get(start..).unwrap_or_default(), emitted, &mut out);

    // A group left open at the end of the field is closed, so that every start has its end.
    if in_group {
        out.push(Address::GroupEnd);
    }
    out
}

/// Adds the bare `addr-spec` in `tokens` (no angle brackets), if there is one.
fn flush(tokens: &[Token<'_>], emitted: bool, out: &mut Vec<Address>) {
    let has_content = tokens
        .iter()
        .any(|t| matches!(t, Token::Word(_) | Token::Literal(_) | Token::Special(_)));
    if emitted || !has_content {
        return;
    }
    let (mailbox, host) = addr_spec(tokens);
    out.push(Address::Mailbox {
        name: comment(tokens),
        adl: None,
        mailbox,
        host,
    });
}

/// A display name: words joined by single spaces, quoting removed, comments dropped.
fn phrase(tokens: &[Token<'_>]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut space = false;
    for token in tokens {
        let text: &[u8] = match token {
            Token::Word(text) => text,
            Token::Literal(text) => text,
            Token::Special(byte) => std::slice::from_ref(byte),
            Token::Space | Token::Comment(_) => {
                space = true;
                continue;
            }
        };
        // "Joe Q. Public": a dot attaches to the word before it.
        if space && !out.is_empty() && *token != Token::Special(b'.') {
            out.push(b' ');
        }
        out.extend_from_slice(text);
        space = false;
    }
    (!out.is_empty()).then_some(out)
}

/// The first non-empty comment, which old-style addresses (`user@host (Full Name)`) use
/// for the name.
fn comment(tokens: &[Token<'_>]) -> Option<Vec<u8>> {
    tokens.iter().find_map(|token| match token {
        Token::Comment(text) => {
            let trimmed = super::fields::unfold(text);
            (!trimmed.is_empty()).then_some(trimmed)
        }
        _ => None,
    })
}

/// Splits an obsolete route (`@a,@b:`) off the front of an angle address.
fn route<'t, 'a>(tokens: &'t [Token<'a>]) -> (Option<Vec<u8>>, &'t [Token<'a>]) {
    let first = tokens
        .iter()
        .position(|t| !matches!(t, Token::Space | Token::Comment(_)));
    let Some(first) = first else {
        return (None, tokens);
    };
    if tokens[first] != Token::Special(b'@') {
        return (None, tokens);
    }
    let Some(colon) = tokens.iter().position(|t| *t == Token::Special(b':')) else {
        return (None, tokens);
    };
    (Some(concat(&tokens[first..colon])), &tokens[colon + 1..])
}

/// Splits `local-part "@" domain` at the last `@`. Quoting is removed from the local part
/// (RFC 9051 `addr-mailbox`); CFWS is dropped from both.
fn addr_spec(tokens: &[Token<'_>]) -> (Vec<u8>, Vec<u8>) {
    match tokens.iter().rposition(|t| *t == Token::Special(b'@')) {
        Some(at) => (concat(&tokens[..at]), concat(&tokens[at + 1..])),
        None => (concat(tokens), Vec::new()),
    }
}

/// The tokens' text with white space and comments removed.
fn concat(tokens: &[Token<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for token in tokens {
        match token {
            Token::Word(text) => out.extend_from_slice(text),
            Token::Literal(text) => out.extend_from_slice(text),
            Token::Special(byte) => out.push(*byte),
            Token::Space | Token::Comment(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(name: Option<&str>, mailbox: &str, host: &str) -> Address {
        Address::Mailbox {
            name: name.map(|n| n.as_bytes().to_vec()),
            adl: None,
            mailbox: mailbox.as_bytes().to_vec(),
            host: host.as_bytes().to_vec(),
        }
    }

    #[test]
    fn rfc_5322_appendix_a_addresses() {
        assert_eq!(
            parse_list(b"\"Joe Q. Public\" <john.q.public@example.com>"),
            [mailbox(
                Some("Joe Q. Public"),
                "john.q.public",
                "example.com"
            )]
        );
        assert_eq!(
            parse_list(b"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>"),
            [
                mailbox(Some("Mary Smith"), "mary", "x.test"),
                mailbox(None, "jdoe", "example.org"),
                mailbox(Some("Who?"), "one", "y.test"),
            ]
        );
        assert_eq!(
            parse_list(b"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"),
            [mailbox(Some("Pete"), "pete", "silly.test")]
        );
        assert_eq!(
            parse_list(
                b"A Group(Some people):Chris Jones <c@(Chris's host.)public.example>, \
                  joe@example.org, John <jdoe@one.test> (my dear friend); (the end)"
            ),
            [
                Address::GroupStart(b"A Group".to_vec()),
                mailbox(Some("Chris Jones"), "c", "public.example"),
                mailbox(None, "joe", "example.org"),
                mailbox(Some("John"), "jdoe", "one.test"),
                Address::GroupEnd,
            ]
        );
    }

    #[test]
    fn groups_routes_and_oddities() {
        assert_eq!(
            parse_list(b"undisclosed-recipients:;"),
            [
                Address::GroupStart(b"undisclosed-recipients".to_vec()),
                Address::GroupEnd
            ]
        );
        assert_eq!(
            parse_list(b"<@a.test,@b.test:\"j d\"@[1.2.3.4]>"),
            [Address::Mailbox {
                name: None,
                adl: Some(b"@a.test,@b.test".to_vec()),
                mailbox: b"j d".to_vec(),
                host: b"[1.2.3.4]".to_vec(),
            }]
        );
        assert_eq!(
            parse_list(b"john@example.com (John Doe)"),
            [mailbox(Some("John Doe"), "john", "example.com")]
        );
        assert_eq!(
            parse_list(b"=?utf-8?q?J=C3=B6rg?= <j@x>"),
            [mailbox(Some("=?utf-8?q?J=C3=B6rg?="), "j", "x")]
        );
        assert_eq!(parse_list(b"foo"), [mailbox(None, "foo", "")]);
        assert_eq!(
            parse_list(b"open: a@b"),
            [
                Address::GroupStart(b"open".to_vec()),
                mailbox(None, "a", "b"),
                Address::GroupEnd
            ]
        );
        assert!(parse_list(b" , ,(c) ").is_empty());
        assert!(parse_list(b"").is_empty());
        assert_eq!(parse_list(b"<>"), [mailbox(None, "", "")]);
        // Unterminated everything still gives an answer.
        assert_eq!(parse_list(b"\"a <b@c"), [mailbox(None, "a <b@c", "")]);
        assert_eq!(parse_list(b"x <y@z"), [mailbox(Some("x"), "y", "z")]);
        assert_eq!(parse_list(b") a]@b"), [mailbox(None, ")a]", "b")]);
    }
}
