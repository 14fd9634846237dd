//! ENVELOPE and BODY / BODYSTRUCTURE, written as RFC 9051 section 9 spells them (`envelope`,
//! `body`), every value through [`crate::response`] so that each is a valid `string` or
//! `nstring` whatever octets the message holds.

use crate::response::{nstring, string_bytes};

use super::address::{self, Address};
use super::fields::{self, MediaType, Param};
use super::tree::{Kind, Tree};

/// What the writers read: the message and its structure.
pub(super) struct View<'t> {
    pub raw: &'t [u8],
    pub tree: &'t Tree,
    /// [`super::MimeLimits::max_addresses`]
    pub max_addresses: usize,
}

/// The part written where a multipart has none (no boundary, no delimiter, or past a limit):
/// `body-type-mpart = 1*body SP media-subtype` needs at least one, and an empty text part is
/// the neutral choice.
const EMPTY_PART: &[u8] = b"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)";

/// The envelope of an encapsulated message that lies past the depth limit.
const EMPTY_ENVELOPE: &[u8] = b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";

impl View<'_> {
    /// The unfolded value of the first field called `name` in entity `id`'s header.
    pub fn field(&self, id: usize, name: &str) -> Option<Vec<u8>> {
        self.tree.fields_of(id).iter().find_map(|field| {
            let field_name = self.raw.get(field.name.clone()?)?;
            field_name
                .eq_ignore_ascii_case(name.as_bytes())
                .then(|| fields::unfold(self.raw.get(field.value.clone()).unwrap_or_default()))
        })
    }

    /// `envelope` (RFC 9051 section 7.5.2) of the message whose header is entity `id`'s.
    pub fn envelope(&self, out: &mut Vec<u8>, id: usize) {
        let from = self.addresses(id, "From");
        let sender = self.addresses(id, "Sender");
        let reply_to = self.addresses(id, "Reply-To");
        // RFC 9051 section 7.5.2: an absent or empty Sender or Reply-To is From.
        let sender = if sender.is_empty() { &from } else { &sender };
        let reply_to = if reply_to.is_empty() {
            &from
        } else {
            &reply_to
        };

        out.push(b'(');
        nstring(out, self.field(id, "Date").as_deref());
        out.push(b' ');
        nstring(out, self.field(id, "Subject").as_deref());
        for addresses in [
            &from,
            sender,
            reply_to,
            &self.addresses(id, "To"),
            &self.addresses(id, "Cc"),
            &self.addresses(id, "Bcc"),
        ] {
            out.push(b' ');
            write_addresses(out, addresses);
        }
        out.push(b' ');
        nstring(out, self.field(id, "In-Reply-To").as_deref());
        out.push(b' ');
        nstring(out, self.field(id, "Message-ID").as_deref());
        out.push(b')');
    }

    fn addresses(&self, id: usize, name: &str) -> Vec<Address> {
        let mut list = self
            .field(id, name)
            .map(|value| address::parse_list(&value))
            .unwrap_or_default();
        if list.len() > self.max_addresses {
            list.truncate(self.max_addresses);
            // A group cut open is closed, so that its start still has an end.
            let open = list.iter().fold(false, |open, address| match address {
                Address::GroupStart(_) => true,
                Address::GroupEnd => false,
                Address::Mailbox { .. } => open,
            });
            if open {
                list.push(Address::GroupEnd);
            }
        }
        list
    }

    /// `body` (RFC 9051 section 7.5.2) of entity `id`: BODYSTRUCTURE when `extensible`,
    /// else BODY, which stops before the extension data.
    pub fn body(&self, out: &mut Vec<u8>, id: usize, extensible: bool) {
        let Some(entity) = self.tree.entities.get(id) else {
            out.extend_from_slice(EMPTY_PART);
            return;
        };
        let media = &entity.media;

        // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
        if let Kind::Multipart(parts) = &entity.kind {
            out.push(b'(');
            if parts.is_empty() {
                out.extend_from_slice(EMPTY_PART);
            }
            for &part in parts {
                self.body(out, part, extensible);
            }
            out.push(b' ');
            string_bytes(out, &media.sub);
            if extensible {
                out.push(b' ');
                write_params(out, &media.params);
                self.extension_tail(out, id);
            }
            out.push(b')');
            return;
        }

        // body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP
        //               body-fld-octets
        out.push(b'(');
        string_bytes(out, &media.main);
        out.push(b' ');
        string_bytes(out, &media.sub);
        out.push(b' ');
        write_params(out, &media.params);
        out.push(b' ');
        nstring(out, self.field(id, "Content-ID").as_deref());
        out.push(b' ');
        nstring(out, self.field(id, "Content-Description").as_deref());
        out.push(b' ');
        let encoding = self
            .field(id, "Content-Transfer-Encoding")
            .and_then(|value| fields::transfer_encoding(&value));
        string_bytes(out, encoding.as_deref().unwrap_or(b"7BIT"));
        let body = self.raw.get(entity.body.clone()).unwrap_or_default();
        out.push(b' ');
        push_number(out, body.len());

        // Sizes and line counts are of the body as encoded (RFC 9051 section 7.5.2).
        match entity.kind {
            Kind::Message(inner) => {
                out.push(b' ');
                match inner {
                    Some(inner) => {
                        self.envelope(out, inner);
                        out.push(b' ');
                        self.body(out, inner, extensible);
                    }
                    None => {
                        out.extend_from_slice(EMPTY_ENVELOPE);
                        out.push(b' ');
                        out.extend_from_slice(EMPTY_PART);
                    }
                }
                out.push(b' ');
                push_number(out, line_count(body));
            }
            _ if media.is_text() => {
                out.push(b' ');
                push_number(out, line_count(body));
            }
            _ => {}
        }

        // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
        if extensible {
            out.push(b' ');
            nstring(out, self.field(id, "Content-MD5").as_deref());
            self.extension_tail(out, id);
        }
        out.push(b')');
    }

    /// ` body-fld-dsp SP body-fld-lang SP body-fld-loc`, shared by both kinds of part.
    fn extension_tail(&self, out: &mut Vec<u8>, id: usize) {
        // body-fld-dsp = "(" string SP body-fld-param ")" / nil
        out.push(b' ');
        match self
            .field(id, "Content-Disposition")
            .and_then(|value| fields::disposition(&value))
        {
            Some(MediaType { main, params, .. }) => {
                out.push(b'(');
                string_bytes(out, &main);
                out.push(b' ');
                write_params(out, &params);
                out.push(b')');
            }
            None => out.extend_from_slice(b"NIL"),
        }

        // body-fld-lang = nstring / "(" string *(SP string) ")"
        out.push(b' ');
        let languages = self
            .field(id, "Content-Language")
            .map(|value| fields::languages(&value))
            .unwrap_or_default();
        match languages.as_slice() {
            [] => out.extend_from_slice(b"NIL"),
            [one] => string_bytes(out, one),
            many => {
                out.push(b'(');
                for (i, language) in many.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    string_bytes(out, language);
                }
                out.push(b')');
            }
        }

        // body-fld-loc = nstring
        out.push(b' ');
        nstring(out, self.field(id, "Content-Location").as_deref());
    }
}

/// `"(" 1*address ")" / nil`, groups as RFC 9051 section 7.5.2 marks them.
fn write_addresses(out: &mut Vec<u8>, addresses: &[Address]) {
    if addresses.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for address in addresses {
        out.push(b'(');
        match address {
            Address::Mailbox {
                name,
                adl,
                mailbox,
                host,
            } => {
                nstring(out, name.as_deref());
                out.push(b' ');
                nstring(out, adl.as_deref());
                out.push(b' ');
                string_bytes(out, mailbox);
                out.push(b' ');
                string_bytes(out, host);
            }
            Address::GroupStart(name) => {
                out.extend_from_slice(b"NIL NIL ");
                string_bytes(out, name);
                out.extend_from_slice(b" NIL");
            }
            Address::GroupEnd => out.extend_from_slice(b"NIL NIL NIL NIL"),
        }
        out.push(b')');
    }
    out.push(b')');
}

/// `body-fld-param = "(" string SP string *(SP string SP string) ")" / nil`, names upper-cased
/// like every other token written here.
fn write_params(out: &mut Vec<u8>, params: &[Param]) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, param) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string_bytes(out, &param.name.to_ascii_uppercase());
        out.push(b' ');
        string_bytes(out, &param.value);
    }
    out.push(b')');
}

/// `number` is 32 bits (RFC 9051 section 4.2); larger counts are clamped.
fn push_number(out: &mut Vec<u8>, value: usize) {
    let value = u32::try_from(value).unwrap_or(u32::MAX);
    out.extend_from_slice(value.to_string().as_bytes());
}

/// The number of lines of `body`: its line feeds, plus one for a last line without one.
pub(super) fn line_count(body: &[u8]) -> usize {
    let breaks = memchr::memchr_iter(b'\n', body).count();
    match body.last() {
        Some(&last) if last != b'\n' => breaks + 1,
        _ => breaks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_the_last_unterminated_line() {
        assert_eq!(line_count(b""), 0);
        assert_eq!(line_count(b"a"), 1);
        assert_eq!(line_count(b"a\r\n"), 1);
        assert_eq!(line_count(b"a\r\nb"), 2);
        assert_eq!(line_count(b"\n\n"), 2);
    }

    #[test]
    fn address_lists_mark_groups() {
        let mut out = Vec::new();
        write_addresses(
            &mut out,
            &address::parse_list(b"g:;, \"A \\\"B\\\"\" <a@b>"),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "((NIL NIL \"g\" NIL)(NIL NIL NIL NIL)(\"A \\\"B\\\"\" NIL \"a\" \"b\"))"
        );

        let mut out = Vec::new();
        write_addresses(&mut out, &[]);
        assert_eq!(out, b"NIL");
    }
}
