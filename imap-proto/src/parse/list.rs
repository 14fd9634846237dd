//! LIST, LSUB and STATUS (RFC 9051 sections 6.3.9 and 6.3.11, RFC 5258 LIST-EXTENDED,
//! RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE).

use super::Reason;
use super::basic::{
    PResult, close_paren, expect, failure, keyword, list_mailbox, mailbox, open_paren, peek_is,
    require_sp, sp, strip_keyword,
};
use crate::command::{CommandBody, ListReturn, ListSelection, MailboxName, StatusItem};

/// ```text
/// list        = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
///               [SP list-return-opts]
/// mbox-or-pat = list-mailbox / patterns
/// patterns    = "(" list-mailbox *(SP list-mailbox) ")"
/// ```
pub(super) fn list(input: &[u8]) -> PResult<'_, CommandBody> {
    let (mut rest, _) = require_sp(input)?;

    // A mailbox never starts with "(", so one here opens the selection options.
    let mut selection = ListSelection::default();
    if peek_is(rest, b'(') {
        let (after, found) = list_select_opts(rest)?;
        selection = found;
        (rest, _) = require_sp(after)?;
    }

    let (rest, reference) = expect(Reason::Mailbox, mailbox(rest))?;
    let (rest, _) = require_sp(rest)?;
    let (mut rest, patterns) = mbox_or_pat(rest)?;

    let mut returns = ListReturn::default();
    if let Ok((after, _)) = sp(rest) {
        let Some(after) = strip_keyword(after, "RETURN") else {
            return failure(after, Reason::ListOption);
        };
        let (after, _) = require_sp(after)?;
        (rest, returns) = list_return_opts(after)?;
    }

    Ok((
        rest,
        CommandBody::List {
            reference,
            patterns,
            selection,
            returns,
        },
    ))
}

/// `list-mailbox / patterns`
fn mbox_or_pat(input: &[u8]) -> PResult<'_, Vec<MailboxName>> {
    let Ok((mut rest, _)) = open_paren(input) else {
        let (rest, pattern) = expect(Reason::Mailbox, list_mailbox(input))?;
        return Ok((rest, vec![pattern]));
    };

    let mut patterns = Vec::new();
    loop {
        let (after, pattern) = expect(Reason::Mailbox, list_mailbox(rest))?;
        patterns.push(pattern);
        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => {
                let (after, _) = close_paren(after)?;
                return Ok((after, patterns));
            }
        }
    }
}

/// The items of a parenthesised list of keywords, each handed to `each` (which reads any
/// arguments after it). The list may be empty.
fn option_list<'a>(
    input: &'a [u8],
    mut each: impl FnMut(&'a [u8], &'a [u8]) -> PResult<'a, ()>,
) -> PResult<'a, ()> {
    let (mut rest, _) = expect(Reason::ListOption, open_paren(input))?;
    if let Some(after) = rest.strip_prefix(b")") {
        return Ok((after, ()));
    }

    loop {
        let (after, name) = expect(Reason::ListOption, keyword(rest))?;
        let (after, _) = each(name, after)?;
        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => return close_paren(after),
        }
    }
}

/// ```text
/// list-select-opts = "(" [
///                      (*(list-select-opt SP) list-select-base-opt
///                       *(SP list-select-opt)) /
///                      (list-select-independent-opt
///                       *(SP list-select-independent-opt)) ] ")"
/// list-select-opt             = list-select-base-opt / list-select-independent-opt /
///                               list-select-mod-opt
/// list-select-base-opt        = "SUBSCRIBED" / "SPECIAL-USE"   ; RFC 6154
/// list-select-independent-opt = "REMOTE"
/// list-select-mod-opt         = "RECURSIVEMATCH"
/// ```
///
/// So RECURSIVEMATCH needs a base option beside it (RFC 5258 section 3). Unknown options
/// are refused (RFC 5258 section 3: the server MUST return BAD for them).
fn list_select_opts(input: &[u8]) -> PResult<'_, ListSelection> {
    let mut selection = ListSelection::default();
    let (rest, _) = option_list(input, |name, rest| {
        let slot = match name.to_ascii_uppercase().as_slice() {
            b"SUBSCRIBED" => &mut selection.subscribed,
            b"REMOTE" => &mut selection.remote,
            b"RECURSIVEMATCH" => &mut selection.recursive_match,
            b"SPECIAL-USE" => &mut selection.special_use,
            _ => return failure(name, Reason::ListOption),
        };
        *slot = true;
        Ok((rest, ()))
    })?;

    if selection.recursive_match && !(selection.subscribed || selection.special_use) {
        return failure(input, Reason::ListOption);
    }
    Ok((rest, selection))
}

/// ```text
/// list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
/// return-option    = "SUBSCRIBED" / "CHILDREN" / status-option /
///                    "SPECIAL-USE"                       ; RFC 6154
/// status-option    = "STATUS" SP "(" status-att *(SP status-att) ")"   ; RFC 5819
/// ```
fn list_return_opts(input: &[u8]) -> PResult<'_, ListReturn> {
    let mut returns = ListReturn::default();
    let (rest, _) = option_list(input, |name, rest| {
        let upper = name.to_ascii_uppercase();
        match upper.as_slice() {
            b"SUBSCRIBED" => returns.subscribed = true,
            b"CHILDREN" => returns.children = true,
            b"SPECIAL-USE" => returns.special_use = true,
            b"STATUS" if returns.status.is_none() => {
                let (rest, _) = require_sp(rest)?;
                let (rest, items) = status_atts(rest)?;
                returns.status = Some(items);
                return Ok((rest, ()));
            }
            _ => return failure(name, Reason::ListOption),
        }
        Ok((rest, ()))
    })?;
    Ok((rest, returns))
}

/// ```text
/// lsub = "LSUB" SP mailbox SP list-mailbox   ; RFC 3501
/// ```
pub(super) fn lsub(input: &[u8]) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (rest, reference) = expect(Reason::Mailbox, mailbox(rest))?;
    let (rest, _) = require_sp(rest)?;
    let (rest, pattern) = expect(Reason::Mailbox, list_mailbox(rest))?;
    Ok((rest, CommandBody::Lsub { reference, pattern }))
}

/// ```text
/// status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
/// ```
pub(super) fn status(input: &[u8]) -> PResult<'_, CommandBody> {
    let (rest, _) = require_sp(input)?;
    let (rest, mailbox) = expect(Reason::Mailbox, mailbox(rest))?;
    let (rest, _) = require_sp(rest)?;
    let (rest, items) = status_atts(rest)?;
    Ok((rest, CommandBody::Status { mailbox, items }))
}

/// `"(" status-att *(SP status-att) ")"`, repeated items counted once.
fn status_atts(input: &[u8]) -> PResult<'_, Vec<StatusItem>> {
    let (mut rest, _) = expect(Reason::StatusItem, open_paren(input))?;
    let mut items = Vec::new();
    loop {
        let (after, item) = status_att(rest)?;
        if !items.contains(&item) {
            items.push(item);
        }
        match sp(after) {
            Ok((after, _)) => rest = after,
            Err(_) => {
                let (after, _) = close_paren(after)?;
                return Ok((after, items));
            }
        }
    }
}

/// ```text
/// status-att = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN" / "DELETED" / "SIZE" /
///              "RECENT"          ; RFC 3501
/// status-att =/ "HIGHESTMODSEQ"  ; RFC 7162 section 7
/// ```
fn status_att(input: &[u8]) -> PResult<'_, StatusItem> {
    let (rest, name) = expect(Reason::StatusItem, keyword(input))?;
    let item = match name.to_ascii_uppercase().as_slice() {
        b"MESSAGES" => StatusItem::Messages,
        b"UIDNEXT" => StatusItem::UidNext,
        b"UIDVALIDITY" => StatusItem::UidValidity,
        b"UNSEEN" => StatusItem::Unseen,
        b"DELETED" => StatusItem::Deleted,
        b"SIZE" => StatusItem::Size,
        b"RECENT" => StatusItem::Recent,
        b"HIGHESTMODSEQ" => StatusItem::HighestModSeq,
        _ => return failure(input, Reason::StatusItem),
    };
    Ok((rest, item))
}

#[cfg(test)]
mod tests {
    use crate::command::{CommandBody, ListReturn, ListSelection, MailboxName, StatusItem};
    use crate::parse::{Reason, command};

    fn mbox(name: &str) -> MailboxName {
        MailboxName(name.as_bytes().to_vec())
    }

    fn list(input: &str) -> (MailboxName, Vec<MailboxName>, ListSelection, ListReturn) {
        match command(input.as_bytes()).map(|c| c.body) {
            Ok(CommandBody::List {
                reference,
                patterns,
                selection,
                returns,
            }) => (reference, patterns, selection, returns),
            other => panic!("{input:?}: {other:?}"),
        }
    }

    fn reason(input: &str) -> Reason {
        match command(input.as_bytes()) {
            Ok(command) => panic!("{input:?} parsed as {command:?}"),
            Err(error) => error.reason,
        }
    }

    #[test]
    fn basic_list_forms() {
        assert_eq!(
            list("a LIST \"\" *\r\n"),
            (
                mbox(""),
                vec![mbox("*")],
                Default::default(),
                Default::default()
            )
        );
        assert_eq!(
            list("a LIST ~/Mail/ %\r\n"),
            (
                mbox("~/Mail/"),
                vec![mbox("%")],
                Default::default(),
                Default::default()
            )
        );
        assert_eq!(list("a LIST \"\" foo]*\r\n").1, vec![mbox("foo]*")]);
        assert_eq!(list("a LIST \"\" {3}\r\nx*y\r\n").1, vec![mbox("x*y")]);
    }

    #[test]
    fn extended_list() {
        let (reference, patterns, selection, returns) = list(
            "a LIST (SUBSCRIBED) \"\" (\"INBOX\" \"Sent*\") RETURN (CHILDREN SUBSCRIBED \
             SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n",
        );
        assert_eq!(reference, mbox(""));
        assert_eq!(patterns, vec![mbox("INBOX"), mbox("Sent*")]);
        assert_eq!(
            selection,
            ListSelection {
                subscribed: true,
                ..Default::default()
            }
        );
        assert_eq!(
            returns,
            ListReturn {
                subscribed: true,
                children: true,
                special_use: true,
                status: Some(vec![StatusItem::Messages, StatusItem::Unseen]),
            }
        );

        let selection = list("a LIST (remote SUBSCRIBED recursivematch special-use) \"\" %\r\n").2;
        assert_eq!(
            selection,
            ListSelection {
                subscribed: true,
                remote: true,
                recursive_match: true,
                special_use: true
            }
        );
        assert_eq!(
            list("a LIST () \"\" % RETURN ()\r\n").3,
            ListReturn::default()
        );
    }

    #[test]
    fn bad_list_options() {
        assert_eq!(
            reason("a LIST (RECURSIVEMATCH) \"\" *\r\n"),
            Reason::ListOption
        );
        assert_eq!(
            reason("a LIST (REMOTE RECURSIVEMATCH) \"\" *\r\n"),
            Reason::ListOption
        );
        assert_eq!(reason("a LIST (FOO) \"\" *\r\n"), Reason::ListOption);
        assert_eq!(reason("a LIST \"\" * RETURN (FOO)\r\n"), Reason::ListOption);
        assert_eq!(reason("a LIST \"\" * CHILDREN\r\n"), Reason::ListOption);
        assert_eq!(
            reason("a LIST \"\" * RETURN (STATUS (MESSAGES) STATUS (UNSEEN))\r\n"),
            Reason::ListOption
        );
        assert_eq!(
            reason("a LIST \"\" * RETURN (STATUS ())\r\n"),
            Reason::StatusItem
        );
        assert_eq!(reason("a LIST \"\" ()\r\n"), Reason::Mailbox);
        assert_eq!(reason("a LIST \"\" (a b\r\n"), Reason::Parenthesis);
        assert_eq!(reason("a LIST \"\"\r\n"), Reason::MissingArgument);
        assert_eq!(reason("a LIST (SUBSCRIBED\r\n"), Reason::Parenthesis);
    }

    #[test]
    fn lsub() {
        assert_eq!(
            command(b"A002 LSUB \"#news.\" \"comp.mail.*\"\r\n").map(|c| c.body),
            Ok(CommandBody::Lsub {
                reference: mbox("#news."),
                pattern: mbox("comp.mail.*")
            })
        );
    }

    #[test]
    fn status_items() {
        use StatusItem::*;
        assert_eq!(
            command(
                b"a STATUS blurdybloop (MESSAGES uidnext UIDVALIDITY UNSEEN DELETED SIZE RECENT \
                  HIGHESTMODSEQ MESSAGES)\r\n"
            )
            .map(|c| c.body),
            Ok(CommandBody::Status {
                mailbox: mbox("blurdybloop"),
                items: vec![
                    Messages,
                    UidNext,
                    UidValidity,
                    Unseen,
                    Deleted,
                    Size,
                    Recent,
                    HighestModSeq
                ]
            })
        );
        assert_eq!(reason("a STATUS x ()\r\n"), Reason::StatusItem);
        assert_eq!(reason("a STATUS x (FOO)\r\n"), Reason::StatusItem);
        assert_eq!(reason("a STATUS x MESSAGES\r\n"), Reason::StatusItem);
        assert_eq!(reason("a STATUS x (MESSAGES\r\n"), Reason::Parenthesis);
    }
}
