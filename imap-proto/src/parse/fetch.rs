//! FETCH and STORE (RFC 9051 sections 6.4.5 and 6.4.6, RFC 3516 BINARY, RFC 7162
//! CONDSTORE).

use super::Reason;
use super::basic::{
    PResult, astring, expect, fail, failure, flag_list, keyword, mod_sequence_value,
    mod_sequence_valzer, number, nz_number, open_paren, peek_is, require_sp, sequence_set, sp,
    storable_flag, utf8,
};
use super::parameter_list;
use crate::command::{CommandBody, FetchAttribute, Section, SectionText, StoreKind};

/// ```text
/// fetch           = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
///                   fetch-att / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
/// fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"   ; RFC 4466
/// fetch-modifier  = chgsince-fetch-mod / "VANISHED"                  ; RFC 7162
/// chgsince-fetch-mod = "CHANGEDSINCE" SP mod-sequence-value
/// ```
pub(super) fn fetch(input: &[u8], uid: bool) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (rest, set) = expect(Reason::SequenceSet, sequence_set(rest))?;
    let (rest, _) = require_sp(rest)?;
    let (rest, items) = fetch_items(rest)?;

    let mut changed_since = None;
    let mut vanished = false;
    let rest = match sp(rest) {
        Ok((after, _)) => {
            parameter_list(after, |name, rest| {
                if name.eq_ignore_ascii_case(b"CHANGEDSINCE") && changed_since.is_none() {
                    let (rest, _) = require_sp(rest)?;
                    let (rest, modseq) = expect(Reason::Number, mod_sequence_value(rest))?;
                    changed_since = Some(modseq);
                    Ok((rest, ()))
                } else if name.eq_ignore_ascii_case(b"VANISHED") && !vanished {
                    vanished = true;
                    Ok((rest, ()))
                } else {
                    failure(name, Reason::Parameter)
                }
            })?
            .0
        }
        Err(_) => rest,
    };

    // RFC 7162 section 3.2.6: VANISHED only with UID FETCH and CHANGEDSINCE, else BAD.
    if vanished && !(uid && changed_since.is_some()) {
        return failure(input, Reason::Vanished);
    }
    Ok((
        rest,
        CommandBody::Fetch {
            uid,
            set,
            items,
            changed_since,
            vanished,
        },
    ))
}

/// The items of FETCH: a macro, one `fetch-att`, or a parenthesised list of them.
///
/// ```text
/// "ALL"  = (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)
/// "FAST" = (FLAGS INTERNALDATE RFC822.SIZE)
/// "FULL" = (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY)
/// ```
fn fetch_items(input: &[u8]) -> PResult<'_, Vec<FetchAttribute>> {
    use FetchAttribute::{Body, Envelope, Flags, InternalDate, Rfc822Size};

    if let Ok((rest, _)) = open_paren(input) {
        let mut items = Vec::new();
        let mut rest = rest;
        loop {
            let (after, item) = fetch_att(rest)?;
            items.push(item);
            match sp(after) {
                Ok((after, _)) => rest = after,
                Err(_) => {
                    let (after, _) = super::basic::close_paren(after)?;
                    return Ok((after, items));
                }
            }
        }
    }

    // The macros stand alone (RFC 9051 section 6.4.5), never inside a list.
    let Ok((rest, name)) = keyword(input) else {
        return fetch_att(input).map(|(rest, item)| (rest, vec![item]));
    };
    let expanded = if name.eq_ignore_ascii_case(b"ALL") {
        vec![Flags, InternalDate, Rfc822Size, Envelope]
    } else if name.eq_ignore_ascii_case(b"FAST") {
        vec![Flags, InternalDate, Rfc822Size]
    } else if name.eq_ignore_ascii_case(b"FULL") {
        vec![Flags, InternalDate, Rfc822Size, Envelope, Body]
    } else {
        let (rest, item) = fetch_att(input)?;
        return Ok((rest, vec![item]));
    };
    Ok((rest, expanded))
}

/// ```text
/// fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" /
///             "RFC822" [".HEADER" / ".TEXT"] / "RFC822.SIZE" /
///             "BODY" ["STRUCTURE"] / "UID" /
///             "BODY" section [partial] / "BODY.PEEK" section [partial] /
///             "BINARY" [".PEEK"] section-binary [partial] /
///             "BINARY.SIZE" section-binary /
///             "MODSEQ"   ; RFC 7162 section 3.1.5
/// ```
fn fetch_att(input: &[u8]) -> PResult<'_, FetchAttribute> {
    let (rest, name) = expect(Reason::FetchAttribute, keyword(input))?;
    let is = |expected: &str| name.eq_ignore_ascii_case(expected.as_bytes());

    // The sectioned items first: their name is followed by "[".
    if peek_is(rest, b'[') {
        if is("BODY") || is("BODY.PEEK") {
            let (rest, section) = section(rest)?;
            let (rest, partial) = partial(rest)?;
            let peek = is("BODY.PEEK");
            return Ok((
                rest,
                FetchAttribute::BodySection {
                    section,
                    partial,
                    peek,
                },
            ));
        }
        if is("BINARY") || is("BINARY.PEEK") {
            let (rest, part) = section_binary(rest)?;
            let (rest, partial) = partial(rest)?;
            let peek = is("BINARY.PEEK");
            return Ok((
                rest,
                FetchAttribute::Binary {
                    part,
                    partial,
                    peek,
                },
            ));
        }
        if is("BINARY.SIZE") {
            let (rest, part) = section_binary(rest)?;
            return Ok((rest, FetchAttribute::BinarySize { part }));
        }
        return failure(input, Reason::FetchAttribute);
    }

    let item = if is("ENVELOPE") {
        FetchAttribute::Envelope
    } else if is("FLAGS") {
        FetchAttribute::Flags
    } else if is("INTERNALDATE") {
        FetchAttribute::InternalDate
    } else if is("RFC822") {
        FetchAttribute::Rfc822
    } else if is("RFC822.HEADER") {
        FetchAttribute::Rfc822Header
    } else if is("RFC822.SIZE") {
        FetchAttribute::Rfc822Size
    } else if is("RFC822.TEXT") {
        FetchAttribute::Rfc822Text
    } else if is("BODY") {
        FetchAttribute::Body
    } else if is("BODYSTRUCTURE") {
        FetchAttribute::BodyStructure
    } else if is("UID") {
        FetchAttribute::Uid
    } else if is("MODSEQ") {
        FetchAttribute::ModSeq
    } else {
        return failure(input, Reason::FetchAttribute);
    };
    Ok((rest, item))
}

/// ```text
/// section      = "[" [section-spec] "]"
/// section-spec = section-msgtext / (section-part ["." section-text])
/// section-text = section-msgtext / "MIME"
/// ```
fn section(input: &[u8]) -> PResult<'_, Section> {
    let Some(rest) = input.strip_prefix(b"[") else {
        return failure(input, Reason::Section);
    };
    if let Some(rest) = rest.strip_prefix(b"]") {
        return Ok((rest, Section::default()));
    }

    let (rest, part, text) = if rest.first().is_some_and(u8::is_ascii_digit) {
        let (rest, part) = section_part(rest)?;
        match rest.strip_prefix(b".") {
            Some(after) => {
                let (after, text) = section_text(after, true)?;
                (after, part, Some(text))
            }
            None => (rest, part, None),
        }
    } else {
        let (rest, text) = section_text(rest, false)?;
        (rest, Vec::new(), Some(text))
    };

    let Some(rest) = rest.strip_prefix(b"]") else {
        return failure(rest, Reason::Section);
    };
    Ok((rest, Section { part, text }))
}

/// ```text
/// section-part = nz-number *("." nz-number)
/// ```
///
/// Stops before a `.` that is followed by a `section-text` rather than a number.
fn section_part(input: &[u8]) -> PResult<'_, Vec<u32>> {
    let mut parts = Vec::new();
    let mut rest = input;
    loop {
        let (after, part) = nz_number(rest).map_err(|_| fail(rest, Reason::Section))?;
        parts.push(part);
        match after {
            [b'.', digit, ..] if digit.is_ascii_digit() => rest = &after[1..],
            _ => return Ok((after, parts)),
        }
    }
}

/// ```text
/// section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
/// section-text    = section-msgtext / "MIME"
/// ```
///
/// `MIME` exists only after part numbers (`after_part`).
fn section_text(input: &[u8], after_part: bool) -> PResult<'_, SectionText> {
    let (rest, name) = expect(Reason::Section, keyword(input))?;
    let is = |expected: &str| name.eq_ignore_ascii_case(expected.as_bytes());

    if is("HEADER") {
        Ok((rest, SectionText::Header))
    } else if is("TEXT") {
        Ok((rest, SectionText::Text))
    } else if is("MIME") && after_part {
        Ok((rest, SectionText::Mime))
    } else if is("HEADER.FIELDS") || is("HEADER.FIELDS.NOT") {
        let (rest, _) = sp(rest).map_err(|_| fail(rest, Reason::Section))?;
        let (rest, names) = header_list(rest)?;
        if is("HEADER.FIELDS") {
            Ok((rest, SectionText::HeaderFields(names)))
        } else {
            Ok((rest, SectionText::HeaderFieldsNot(names)))
        }
    } else {
        failure(input, Reason::Section)
    }
}

/// ```text
/// header-list     = "(" header-fld-name *(SP header-fld-name) ")"
/// header-fld-name = astring
/// ```
fn header_list(input: &[u8]) -> PResult<'_, Vec<String>> {
    let (mut rest, _) = expect(Reason::Section, open_paren(input))?;
    let mut names = Vec::new();
    loop {
        let (after, name) = expect(Reason::Section, astring(rest))?;
        names.push(utf8(rest, name)?);
        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => {
                let (after, _) = super::basic::close_paren(after)?;
                return Ok((after, names));
            }
        }
    }
}

/// ```text
/// section-binary = "[" [section-part] "]"   ; RFC 3516
/// ```
fn section_binary(input: &[u8]) -> PResult<'_, Vec<u32>> {
    let Some(rest) = input.strip_prefix(b"[") else {
        return failure(input, Reason::Section);
    };
    let (rest, part) = match rest.strip_prefix(b"]") {
        Some(after) => return Ok((after, Vec::new())),
        None => section_part(rest)?,
    };
    match rest.strip_prefix(b"]") {
        Some(rest) => Ok((rest, part)),
        None => failure(rest, Reason::Section),
    }
}

/// ```text
/// partial = "<" number "." nz-number ">"
/// ```
///
/// RFC 9051 widens both to 63 bits; here they stay 32-bit, which is larger than any message
/// the session stores.
fn partial(input: &[u8]) -> PResult<'_, Option<(u32, u32)>> {
    let Some(rest) = input.strip_prefix(b"<") else {
        return Ok((input, None));
    };
    let (rest, offset) = expect(Reason::Section, number(rest))?;
    let Some(rest) = rest.strip_prefix(b".") else {
        return failure(rest, Reason::Section);
    };
    let (rest, count) = expect(Reason::Section, nz_number(rest))?;
    let Some(rest) = rest.strip_prefix(b">") else {
        return failure(rest, Reason::Section);
    };
    Ok((rest, Some((offset, count))))
}

/// ```text
/// store           = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
/// store-modifiers = SP "(" store-modifier *(SP store-modifier) ")"   ; RFC 4466
/// store-modifier  = "UNCHANGEDSINCE" SP mod-sequence-valzer          ; RFC 7162
/// store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
///                   (flag-list / (flag *(SP flag)))
/// ```
pub(super) fn store(input: &[u8], uid: bool) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (rest, set) = expect(Reason::SequenceSet, sequence_set(rest))?;
    let (mut rest, _) = require_sp(rest)?;

    let mut unchanged_since = None;
    if peek_is(rest, b'(') {
        let (after, _) = parameter_list(rest, |name, rest| {
            if !name.eq_ignore_ascii_case(b"UNCHANGEDSINCE") || unchanged_since.is_some() {
                return failure(name, Reason::Parameter);
            }
            let (rest, _) = require_sp(rest)?;
            let (rest, modseq) = expect(Reason::Number, mod_sequence_valzer(rest))?;
            unchanged_since = Some(modseq);
            Ok((rest, ()))
        })?;
        (rest, _) = require_sp(after)?;
    }

    let (kind, after) = match rest.split_first() {
        Some((b'+', after)) => (StoreKind::Add, after),
        Some((b'-', after)) => (StoreKind::Remove, after),
        _ => (StoreKind::Replace, rest),
    };
    let (after, item) = expect(Reason::Syntax, keyword(after))?;
    let silent = if item.eq_ignore_ascii_case(b"FLAGS") {
        false
    } else if item.eq_ignore_ascii_case(b"FLAGS.SILENT") {
        true
    } else {
        return failure(rest, Reason::Syntax);
    };
    let (rest, _) = require_sp(after)?;
    let (rest, flags) = store_flags(rest)?;

    Ok((
        rest,
        CommandBody::Store {
            uid,
            set,
            unchanged_since,
            kind,
            silent,
            flags,
        },
    ))
}

/// `flag-list / (flag *(SP flag))`: the flags with or without parentheses.
fn store_flags(input: &[u8]) -> PResult<'_, Vec<String>> {
    if peek_is(input, b'(') {
        return flag_list(input);
    }

    let mut flags = Vec::new();
    let mut rest = input;
    loop {
        let (after, flag) = expect(Reason::Flag, storable_flag(rest))?;
        flags.push(flag);
        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => return Ok((after, flags)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::command::{
        CommandBody, FetchAttribute, Section, SectionText, SeqNumber, SequenceSet, StoreKind,
    };
    use crate::parse::{Reason, command};

    use FetchAttribute::*;

    fn fetch_items(input: &str) -> Vec<FetchAttribute> {
        match command(input.as_bytes()).map(|c| c.body) {
            Ok(CommandBody::Fetch { items, .. }) => items,
            other => panic!("{input:?}: {other:?}"),
        }
    }

    fn reason(input: &str) -> Reason {
        match command(input.as_bytes()) {
            Ok(command) => panic!("{input:?} parsed as {command:?}"),
            Err(error) => error.reason,
        }
    }

    fn section(part: &[u32], text: Option<SectionText>) -> Section {
        Section {
            part: part.to_vec(),
            text,
        }
    }

    #[test]
    fn macros_expand() {
        assert_eq!(
            fetch_items("a FETCH 1 all\r\n"),
            vec![Flags, InternalDate, Rfc822Size, Envelope]
        );
        assert_eq!(
            fetch_items("a FETCH 1 FAST\r\n"),
            vec![Flags, InternalDate, Rfc822Size]
        );
        assert_eq!(
            fetch_items("a FETCH 1 Full\r\n"),
            vec![Flags, InternalDate, Rfc822Size, Envelope, Body]
        );
        assert_eq!(reason("a FETCH 1 (ALL)\r\n"), Reason::FetchAttribute);
        assert_eq!(reason("a FETCH 1 (FLAGS FAST)\r\n"), Reason::FetchAttribute);
    }

    #[test]
    fn simple_items_single_or_in_a_list() {
        assert_eq!(fetch_items("a FETCH 1 uid\r\n"), vec![Uid]);
        assert_eq!(
            fetch_items(
                "a FETCH 1 (ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE \
                 RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ)\r\n"
            ),
            vec![
                Envelope,
                Flags,
                InternalDate,
                Rfc822,
                Rfc822Header,
                Rfc822Size,
                Rfc822Text,
                Body,
                BodyStructure,
                Uid,
                ModSeq
            ]
        );
        assert_eq!(reason("a FETCH 1 ()\r\n"), Reason::FetchAttribute);
        assert_eq!(reason("a FETCH 1 (FLAGS\r\n"), Reason::Parenthesis);
        assert_eq!(reason("a FETCH 1 (FLAGS))\r\n"), Reason::Parenthesis);
        assert_eq!(reason("a FETCH 1 FLAGZ\r\n"), Reason::FetchAttribute);
        assert_eq!(reason("a FETCH 1 BODY.PEEK\r\n"), Reason::FetchAttribute);
        assert_eq!(reason("a FETCH 1 UID[]\r\n"), Reason::FetchAttribute);
    }

    #[test]
    fn body_sections() {
        let body = |section, partial, peek| BodySection {
            section,
            partial,
            peek,
        };
        assert_eq!(
            fetch_items("a FETCH 1 (BODY[] body.peek[HEADER] BODY[TEXT]<0.100>)\r\n"),
            vec![
                body(section(&[], None), None, false),
                body(section(&[], Some(SectionText::Header)), None, true),
                body(section(&[], Some(SectionText::Text)), Some((0, 100)), false),
            ]
        );
        assert_eq!(
            fetch_items("a FETCH 1 (BODY[1.2.MIME] BODY[1.2.TEXT] BODY[3] BODY[4.header])\r\n"),
            vec![
                body(section(&[1, 2], Some(SectionText::Mime)), None, false),
                body(section(&[1, 2], Some(SectionText::Text)), None, false),
                body(section(&[3], None), None, false),
                body(section(&[4], Some(SectionText::Header)), None, false),
            ]
        );
        assert_eq!(
            fetch_items(
                "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From To)] \
                 BODY[2.HEADER.FIELDS.NOT (\"Received\" {2}\r\nCc)])\r\n"
            ),
            vec![
                body(
                    section(
                        &[],
                        Some(SectionText::HeaderFields(vec!["From".into(), "To".into()]))
                    ),
                    None,
                    true
                ),
                body(
                    section(
                        &[2],
                        Some(SectionText::HeaderFieldsNot(vec![
                            "Received".into(),
                            "Cc".into()
                        ]))
                    ),
                    None,
                    false
                ),
            ]
        );

        for bad in [
            "a FETCH 1 BODY[MIME]\r\n",
            "a FETCH 1 BODY[0]\r\n",
            "a FETCH 1 BODY[1.]\r\n",
            "a FETCH 1 BODY[1.FOO]\r\n",
            "a FETCH 1 BODY[HEADER.FIELDS ()]\r\n",
            "a FETCH 1 BODY[HEADER.FIELDS]\r\n",
            "a FETCH 1 BODY[TEXT\r\n",
            "a FETCH 1 BODY[]<1>\r\n",
            "a FETCH 1 BODY[]<1.0>\r\n",
            "a FETCH 1 BODY[]<4294967296.1>\r\n",
        ] {
            let got = reason(bad);
            assert!(
                matches!(got, Reason::Section | Reason::Number),
                "{bad:?}: {got:?}"
            );
        }
    }

    #[test]
    fn binary_items() {
        assert_eq!(
            fetch_items("a FETCH 1 (BINARY[1]<0.100> BINARY.PEEK[] BINARY.SIZE[1.2])\r\n"),
            vec![
                Binary {
                    part: vec![1],
                    partial: Some((0, 100)),
                    peek: false
                },
                Binary {
                    part: Vec::new(),
                    partial: None,
                    peek: true
                },
                BinarySize { part: vec![1, 2] },
            ]
        );
        assert_eq!(reason("a FETCH 1 BINARY[TEXT]\r\n"), Reason::Section);
        assert_eq!(reason("a FETCH 1 BINARY[1.MIME]\r\n"), Reason::Section);
        assert_eq!(
            reason("a FETCH 1 BINARY.SIZE[1]<0.1>\r\n"),
            Reason::Trailing
        );
    }

    #[test]
    fn changedsince_and_vanished() {
        let parsed = command(b"s UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n");
        let Ok(CommandBody::Fetch {
            uid,
            changed_since,
            vanished,
            ..
        }) = parsed.map(|c| c.body)
        else {
            panic!("not FETCH");
        };
        assert_eq!((uid, changed_since, vanished), (true, Some(12345), true));

        assert_eq!(
            reason("s FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n"),
            Reason::Vanished
        );
        assert_eq!(
            reason("s UID FETCH 1 (FLAGS) (VANISHED)\r\n"),
            Reason::Vanished
        );
        assert_eq!(
            reason("s FETCH 1 FLAGS (CHANGEDSINCE 0)\r\n"),
            Reason::Number
        );
        assert_eq!(
            reason("s FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)\r\n"),
            Reason::Parameter
        );
        assert_eq!(
            reason("s FETCH 1 FLAGS (PARTIAL 1:5)\r\n"),
            Reason::Parameter
        );
    }

    fn store(input: &str) -> (bool, Option<u64>, StoreKind, bool, Vec<String>) {
        match command(input.as_bytes()).map(|c| c.body) {
            Ok(CommandBody::Store {
                uid,
                unchanged_since,
                kind,
                silent,
                flags,
                ..
            }) => (uid, unchanged_since, kind, silent, flags),
            other => panic!("{input:?}: {other:?}"),
        }
    }

    #[test]
    fn store_forms() {
        assert_eq!(
            store("a STORE 1 +FLAGS.SILENT (\\Deleted)\r\n"),
            (false, None, StoreKind::Add, true, vec!["\\Deleted".into()])
        );
        assert_eq!(
            store("a UID STORE 1 (UNCHANGEDSINCE 12345) -flags \\seen $Junk\r\n"),
            (
                true,
                Some(12345),
                StoreKind::Remove,
                false,
                vec!["\\Seen".into(), "$Junk".into()]
            )
        );
        assert_eq!(
            store("a STORE 1 (UNCHANGEDSINCE 0) FLAGS ()\r\n"),
            (false, Some(0), StoreKind::Replace, false, Vec::new())
        );

        assert_eq!(
            reason("a STORE 1 +FLAGS (\\*)\r\n"),
            Reason::FlagNotStorable
        );
        assert_eq!(
            reason("a STORE 1 FLAGS \\Recent\r\n"),
            Reason::FlagNotStorable
        );
        assert_eq!(
            reason("a STORE 1 FLAGS \\Frob\r\n"),
            Reason::FlagNotStorable
        );
        assert_eq!(reason("a STORE 1 FLAGS\r\n"), Reason::MissingArgument);
        assert_eq!(reason("a STORE 1 FLAGS \r\n"), Reason::Flag);
        assert_eq!(reason("a STORE 1 *FLAGS \\Seen\r\n"), Reason::Syntax);
        assert_eq!(reason("a STORE 1 +FLAGS.LOUD \\Seen\r\n"), Reason::Syntax);
        assert_eq!(
            reason("a STORE 1 (FOO 1) FLAGS \\Seen\r\n"),
            Reason::Parameter
        );
        assert_eq!(reason("a STORE 1 FLAGS (\\Seen\r\n"), Reason::Parenthesis);
    }

    #[test]
    fn sets_in_fetch() {
        let parsed = command(b"a FETCH 4:2,* FLAGS\r\n").map(|c| c.body);
        let Ok(CommandBody::Fetch { set, .. }) = parsed else {
            panic!("not FETCH");
        };
        assert_eq!(
            set,
            SequenceSet::Ranges(vec![
                (SeqNumber::Value(4), SeqNumber::Value(2)),
                (SeqNumber::Largest, SeqNumber::Largest)
            ])
        );
        assert_eq!(reason("a FETCH 1:0 FLAGS\r\n"), Reason::SequenceSet);
        assert_eq!(reason("a FETCH FLAGS\r\n"), Reason::SequenceSet);
    }
}
