//! The MIME structure of a message: where every entity's header and body lie in the raw
//! octets (RFC 2045, RFC 2046 section 5).
//!
//! IMAP answers with exact octet ranges (`BODY[1.MIME]`, `BODY[2.TEXT]`) and sizes, so the
//! structure is found on the raw bytes in one pass, with RFC 2046 boundary rules: a
//! delimiter is a line that begins with `--boundary`, the line break before it belongs to
//! it, and the innermost open boundary is tried first. mail-parser's tree is not used for
//! this: it also takes `--boundary` in the middle of a line for a delimiter, and gives no
//! message at all for input without a header, where IMAP still needs a part 1.

use std::ops::Range;

use memchr::memmem;

use super::MimeLimits;
use super::fields::{self, MediaType};

/// One header field: its raw lines, folding included.
#[derive(Debug, Clone)]
pub(super) struct Field {
    /// The field name, colon and trailing white space excluded; `None` for a line without
    /// a colon, which matches no name.
    pub name: Option<Range<usize>>,
    /// The field's lines, from the name to the line break of its last line, inclusive.
    pub line: Range<usize>,
    /// The value: after the colon to the end of the last line, line break excluded.
    pub value: Range<usize>,
}

/// What an entity contains.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    /// A leaf: its body is content.
    Leaf,
    /// A multipart with its parts, in order. Empty when the boundary is missing, when no
    /// delimiter was found, or beyond the depth limit.
    Multipart(Vec<usize>),
    /// An encapsulated message (`message/rfc822`); `None` beyond the depth or part limit.
    Message(Option<usize>),
}

/// An entity (RFC 2045 section 2.4): a header and a body, both as ranges of the message.
#[derive(Debug, Clone)]
pub(super) struct Entity {
    /// The header fields and the blank line that ends them, when there is one.
    pub header: Range<usize>,
    /// The body: after the blank line to the line break before the next delimiter line.
    pub body: Range<usize>,
    /// This entity's fields, as a range of [`Tree::fields`].
    pub fields: Range<usize>,
    /// The media type, the default applied.
    pub media: MediaType,
    /// Multipart, message or leaf.
    pub kind: Kind,
}

/// A message's entities. Entity 0 is the message itself.
#[derive(Debug, Clone)]
pub(super) struct Tree {
    /// All entities, each parent before its children.
    pub entities: Vec<Entity>,
    /// All header fields; each entity holds a range of them.
    pub fields: Vec<Field>,
}

impl Tree {
    /// Parses the structure of `raw`. Never fails: without a blank line everything is header,
    /// and a broken multipart is a multipart with the parts that could be found.
    pub fn parse(raw: &[u8], limits: &MimeLimits) -> Self {
        let mut parser = Parser {
            raw,
            limits,
            boundaries: Vec::new(),
            finder: memmem::Finder::new(b"\n--"),
            tree: Tree {
                entities: Vec::new(),
                fields: Vec::new(),
            },
        };
        parser.entity(0, 0, false);
        parser.tree
    }

    /// The fields of entity `id`.
    pub fn fields_of(&self, id: usize) -> &[Field] {
        self.entities
            .get(id)
            .and_then(|entity| self.fields.get(entity.fields.clone()))
            .unwrap_or_default()
    }
}

/// Where scanning stopped.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// The end of the message.
    Eof,
    /// A delimiter line of the boundary at `level` in the stack of open boundaries.
    Delimiter {
        level: usize,
        /// The first octet of the `--boundary` line.
        line: usize,
        /// Just past the line's line break.
        next: usize,
        /// `--boundary--`: the close delimiter.
        close: bool,
    },
}

struct Parser<'a, 'l> {
    raw: &'a [u8],
    limits: &'l MimeLimits,
    /// The open boundaries, outermost first.
    boundaries: Vec<Vec<u8>>,
    finder: memmem::Finder<'static>,
    tree: Tree,
}

impl Parser<'_, '_> {
    /// Parses the entity that starts at `start` (a line start) and ends at `raw.len()` or
    /// at a delimiter line of an open boundary. Returns the entity's id and where it ended.
    /// `in_digest` selects the `multipart/digest` default type.
    fn entity(&mut self, start: usize, depth: usize, in_digest: bool) -> (usize, Stop) {
        let id = self.tree.entities.len();
        self.tree.entities.push(Entity {
            header: start..start,
            body: start..start,
            fields: 0..0,
            media: MediaType::text_plain(),
            kind: Kind::Leaf,
        });

        // The header, up to the blank line; a delimiter line inside it ends the entity.
        let fields_start = self.tree.fields.len();
        let (body_start, header_stop) = self.header(start);
        let fields = fields_start..self.tree.fields.len();
        let media = self.media_type(fields.clone(), in_digest);

        // The body, by kind. Past the depth or part limit, nothing below is parsed: the
        // structure stays finite whatever the input nests.
        let descend = depth < self.limits.max_depth.min(MAX_DEPTH)
            && self.tree.entities.len() < self.limits.max_parts;
        let boundary = media
            .param(b"boundary")
            .filter(|b| !b.is_empty())
            .map(<[u8]>::to_vec);
        let (kind, stop) = match header_stop {
            Some(stop) if media.is_message() => (Kind::Message(None), stop),
            Some(stop) if media.is_multipart() => (Kind::Multipart(Vec::new()), stop),
            Some(stop) => (Kind::Leaf, stop),
            None if media.is_multipart() => match boundary {
                Some(boundary) if descend => {
                    let digest = media.sub == b"DIGEST";
                    let (parts, stop) = self.multipart(body_start, depth, boundary, digest);
                    (Kind::Multipart(parts), stop)
                }
                _ => (Kind::Multipart(Vec::new()), self.scan(body_start)),
            },
            None if media.is_message() && descend => {
                let (inner, stop) = self.entity(body_start, depth + 1, false);
                (Kind::Message(Some(inner)), stop)
            }
            None if media.is_message() => (Kind::Message(None), self.scan(body_start)),
            None => (Kind::Leaf, self.scan(body_start)),
        };

        // The entity ends before the line break that precedes a delimiter (RFC 2046 section
        // 5.1.1). When that line break is the header's blank line, or the header was cut
        // short, the header loses it too: header and body always tile the entity exactly.
        let end = self.content_end(stop, start);
        let split = body_start.min(end);
        if let Some(entity) = self.tree.entities.get_mut(id) {
            entity.header = start..split;
            entity.body = split..end;
            entity.fields = fields;
            entity.media = media;
            entity.kind = kind;
        }
        (id, stop)
    }

    /// Reads header lines from `start` to the blank line and records the fields. Returns
    /// where the body starts, or the delimiter that cut the header short.
    fn header(&mut self, start: usize) -> (usize, Option<Stop>) {
        let raw = self.raw;
        let first_field = self.tree.fields.len();
        let mut pos = start;
        loop {
            if pos >= raw.len() {
                return (raw.len(), None);
            }
            if let Some(stop) = self.delimiter_at(pos) {
                return (pos, Some(stop));
            }

            let line_end = memchr::memchr(b'\n', &raw[pos..]).map_or(raw.len(), |i| pos + i + 1);
            let line = &raw[pos..line_end];
            if line == b"\n" || line == b"\r\n" {
                return (line_end, None);
            }

            // A line that starts with white space continues the previous field (RFC 5322
            // section 2.2.3); at the very start it is a field of its own, with no name.
            let value_end = strip_line_break(raw, pos, line_end);
            let continues = line.first().copied().is_some_and(fields::is_wsp)
                && self.tree.fields.len() > first_field;
            match self.tree.fields.last_mut() {
                Some(field) if continues => {
                    field.line.end = line_end;
                    field.value.end = value_end;
                }
                _ => {
                    let colon = line.iter().position(|&b| b == b':');
                    let field = match colon {
                        Some(colon) => {
                            let name_end = line[..colon]
                                .iter()
                                .rposition(|&b| !fields::is_wsp(b))
                                .map_or(pos, |i| pos + i + 1);
                            Field {
                                name: (name_end > pos).then_some(pos..name_end),
                                line: pos..line_end,
                                value: (pos + colon + 1).min(value_end)..value_end,
                            }
                        }
                        None => Field {
                            name: None,
                            line: pos..line_end,
                            value: pos..value_end,
                        },
                    };
                    self.tree.fields.push(field);
                }
            }
            pos = line_end;
        }
    }

    /// The media type from the first `Content-Type` among `fields`, or the default.
    fn media_type(&self, fields: Range<usize>, in_digest: bool) -> MediaType {
        let raw = self.raw;
        let field = self
            .tree
            .fields
            .get(fields)
            .unwrap_or_default()
            .iter()
            .find(|field| {
                field
                    .name
                    .as_ref()
                    .is_some_and(|name| raw[name.clone()].eq_ignore_ascii_case(b"content-type"))
            });
        match field {
            Some(field) => fields::content_type(&fields::unfold(&raw[field.value.clone()]))
                .unwrap_or_else(MediaType::text_plain),
            None if in_digest => MediaType::message_rfc822(),
            None => MediaType::text_plain(),
        }
    }

    /// Parses the parts of a multipart body (RFC 2046 section 5.1.1): preamble, parts between
    /// delimiter lines, close delimiter, epilogue. A missing close delimiter ends the
    /// multipart where an enclosing one's delimiter or the message ends.
    fn multipart(
        &mut self,
        body_start: usize,
        depth: usize,
        boundary: Vec<u8>,
        digest: bool,
    ) -> (Vec<usize>, Stop) {
        self.boundaries.push(boundary);
        let level = self.boundaries.len() - 1;
        let mut parts = Vec::new();

        // The preamble is skipped: it ends at the first delimiter line.
        let mut stop = self.scan(body_start);
        let stop = loop {
            match stop {
                Stop::Delimiter {
                    level: found,
                    next,
                    close: false,
                    ..
                } if found == level => {
                    if self.tree.entities.len() < self.limits.max_parts {
                        let (part, part_stop) = self.entity(next, depth + 1, digest);
                        parts.push(part);
                        stop = part_stop;
                    } else {
                        // Past the part limit the remaining parts are stepped over unparsed.
                        stop = self.scan(next);
                    }
                }
                Stop::Delimiter {
                    level: found,
                    next,
                    close: true,
                    ..
                } if found == level => {
                    // The epilogue runs to an enclosing delimiter or the end; this boundary
                    // no longer counts in it.
                    self.boundaries.truncate(level);
                    break self.scan(next);
                }
                other => break other,
            }
        };
        self.boundaries.truncate(level);
        (parts, stop)
    }

    /// Finds the next delimiter line of an open boundary at or after the line start `pos`.
    fn scan(&self, mut pos: usize) -> Stop {
        if self.boundaries.is_empty() {
            return Stop::Eof;
        }
        loop {
            if let Some(stop) = self.delimiter_at(pos) {
                return stop;
            }
            // Only lines that begin with `--` can be delimiters; jump between them.
            let rest = self.raw.get(pos..).unwrap_or_default();
            match self.finder.find(rest) {
                Some(i) => pos += i + 1,
                None => return Stop::Eof,
            }
        }
    }

    /// Whether the line at `pos` is a delimiter line of an open boundary, innermost first.
    /// RFC 2046 section 5.1.1 compares the boundary with the start of the line; what follows
    /// it on the line (transport padding, or junk) does not matter.
    fn delimiter_at(&self, pos: usize) -> Option<Stop> {
        let rest = self.raw.get(pos..)?.strip_prefix(b"--")?;
        let (level, boundary) = self
            .boundaries
            .iter()
            .enumerate()
            .rev()
            .find(|(_, boundary)| rest.starts_with(boundary))?;
        let after = &rest[boundary.len()..];
        let close = after.starts_with(b"--");
        let next = memchr::memchr(b'\n', after)
            .map_or(self.raw.len(), |i| pos + 2 + boundary.len() + i + 1);
        Some(Stop::Delimiter {
            level,
            line: pos,
            next,
            close,
        })
    }

    /// Where content that began at `from` ends when scanning stopped at `stop`: the end of
    /// the message, or before the line break that precedes the delimiter line.
    fn content_end(&self, stop: Stop, from: usize) -> usize {
        match stop {
            Stop::Eof => self.raw.len(),
            Stop::Delimiter { line, .. } => strip_line_break(self.raw, from, line).max(from),
        }
    }
}

/// The deepest nesting parsed whatever [`MimeLimits::max_depth`] says, so that recursion stays
/// far from the stack's end.
const MAX_DEPTH: usize = 100;

/// `end` moved back over a line break (`CRLF` or bare `LF`) that ends just before it, not
/// below `from`.
fn strip_line_break(raw: &[u8], from: usize, end: usize) -> usize {
    let mut end = end.min(raw.len());
    if end > from && raw[end - 1] == b'\n' {
        end -= 1;
        if end > from && raw[end - 1] == b'\r' {
            end -= 1;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Tree {
        Tree::parse(raw, &MimeLimits::default())
    }

    fn text<'a>(raw: &'a [u8], range: &Range<usize>) -> &'a str {
        std::str::from_utf8(&raw[range.clone()]).unwrap()
    }

    #[test]
    fn a_message_without_blank_line_is_all_header() {
        let raw = b"Subject: x\r\nFrom: y";
        let tree = parse(raw);
        assert_eq!(tree.entities.len(), 1);
        assert_eq!(tree.entities[0].header, 0..raw.len());
        assert_eq!(tree.entities[0].body, raw.len()..raw.len());
        assert_eq!(tree.fields.len(), 2);
        assert_eq!(text(raw, &tree.fields[1].value), " y");
    }

    #[test]
    fn folded_fields_keep_their_lines() {
        let raw = b" lead\r\nSubject: a\r\n  b\r\nX : y\r\n\r\nbody";
        let tree = parse(raw);
        let names: Vec<_> = tree
            .fields
            .iter()
            .map(|f| f.name.as_ref().map(|n| text(raw, n)))
            .collect();
        assert_eq!(names, [None, Some("Subject"), Some("X")]);
        assert_eq!(text(raw, &tree.fields[1].line), "Subject: a\r\n  b\r\n");
        assert_eq!(text(raw, &tree.fields[1].value), " a\r\n  b");
        assert_eq!(text(raw, &tree.entities[0].body), "body");
    }

    #[test]
    fn delimiters_only_count_at_line_starts() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\npre --b\r\n--b\r\n\r\n\
                    one --b\r\n--b \r\nContent-Type: text/html\r\n\r\ntwo\r\n\r\n--b--\r\nepi";
        let tree = parse(raw);
        let Kind::Multipart(parts) = &tree.entities[0].kind else {
            panic!("not a multipart");
        };
        assert_eq!(parts.len(), 2);
        assert_eq!(text(raw, &tree.entities[parts[0]].body), "one --b");
        assert_eq!(text(raw, &tree.entities[parts[0]].header), "\r\n");
        assert_eq!(text(raw, &tree.entities[parts[1]].body), "two\r\n");
        assert_eq!(tree.entities[parts[1]].media.sub, b"HTML");
        assert_eq!(tree.entities[0].body.end, raw.len());
    }

    #[test]
    fn an_inner_multipart_without_close_ends_at_the_outer_delimiter() {
        let raw = b"Content-Type: multipart/mixed; boundary=out\n\n--out\n\
                    Content-Type: multipart/alternative; boundary=in\n\n--in\n\nA\n\
                    --out\n\nB\n--out--\n";
        let tree = parse(raw);
        let Kind::Multipart(outer) = &tree.entities[0].kind else {
            panic!("not a multipart");
        };
        assert_eq!(outer.len(), 2);
        let Kind::Multipart(inner) = &tree.entities[outer[0]].kind else {
            panic!("not a multipart");
        };
        assert_eq!(inner.len(), 1);
        assert_eq!(text(raw, &tree.entities[inner[0]].body), "A");
        assert_eq!(text(raw, &tree.entities[outer[1]].body), "B");
    }

    #[test]
    fn a_delimiter_inside_a_part_header_ends_the_part() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX: 1\r\n--b--\r\n";
        let tree = parse(raw);
        let Kind::Multipart(parts) = &tree.entities[0].kind else {
            panic!("not a multipart");
        };
        let part = &tree.entities[parts[0]];
        assert_eq!(text(raw, &part.header), "X: 1");
        assert!(part.body.is_empty());
    }

    #[test]
    fn depth_and_part_limits_hold() {
        let mut raw = Vec::new();
        for i in 0..50 {
            raw.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=_{i}_\r\n\r\n--_{i}_\r\n")
                    .as_bytes(),
            );
        }
        let limits = MimeLimits::default();
        let tree = Tree::parse(&raw, &limits);
        assert!(tree.entities.len() <= limits.max_depth + 1);

        let mut raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
        raw.extend_from_slice(&b"--b\r\n".repeat(limits.max_parts * 2));
        let tree = Tree::parse(&raw, &limits);
        assert_eq!(tree.entities.len(), limits.max_parts);
    }
}
