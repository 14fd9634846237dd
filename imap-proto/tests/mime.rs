//! Whole messages through every MIME view: ENVELOPE, BODY, BODYSTRUCTURE, sections, BINARY,
//! and the SEARCH helpers. Expected responses are written out in full.

use imap_proto::command::{Section, SectionText};
use imap_proto::mime::{MimeLimits, MimeMessage, UnknownCte, fuzz_views};

fn envelope(raw: &[u8]) -> String {
    let mut out = Vec::new();
    MimeMessage::parse(raw).write_envelope(&mut out);
    String::from_utf8(out).expect("UTF-8 for these messages")
}

fn bodystructure(raw: &[u8]) -> String {
    let mut out = Vec::new();
    MimeMessage::parse(raw).write_body_structure(&mut out, true);
    String::from_utf8(out).expect("UTF-8 for these messages")
}

fn body(raw: &[u8]) -> String {
    let mut out = Vec::new();
    MimeMessage::parse(raw).write_body_structure(&mut out, false);
    String::from_utf8(out).expect("UTF-8 for these messages")
}

/// `BODY[section]` as text, `None` for a section that does not exist.
fn section(raw: &[u8], part: &[u32], text: Option<SectionText>) -> Option<String> {
    let section = Section {
        part: part.to_vec(),
        text,
    };
    MimeMessage::parse(raw)
        .section(&section)
        .map(|octets| String::from_utf8(octets).expect("UTF-8 for these messages"))
}

fn fields(names: &[&str]) -> Option<SectionText> {
    Some(SectionText::HeaderFields(
        names.iter().map(|n| n.to_string()).collect(),
    ))
}

const SIMPLE: &[u8] = b"From: Alice Example <alice@example.com>\r\n\
To: bob@example.org\r\n\
Subject: Hello\r\n\
Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n\
Message-ID: <1234@example.com>\r\n\
\r\n\
Hi Bob,\r\n\
Bye.\r\n";

#[test]
fn a_simple_text_message() {
    assert_eq!(
        envelope(SIMPLE),
        "(\"Tue, 1 Jul 2003 10:52:37 +0200\" \"Hello\" \
         ((\"Alice Example\" NIL \"alice\" \"example.com\")) \
         ((\"Alice Example\" NIL \"alice\" \"example.com\")) \
         ((\"Alice Example\" NIL \"alice\" \"example.com\")) \
         ((NIL NIL \"bob\" \"example.org\")) NIL NIL NIL \"<1234@example.com>\")"
    );
    assert_eq!(
        bodystructure(SIMPLE),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 15 2 NIL NIL NIL NIL)"
    );
    assert_eq!(
        body(SIMPLE),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 15 2)"
    );

    // A message that is not multipart has one part, its body; 1.MIME is its header.
    assert_eq!(
        section(SIMPLE, &[1], None).as_deref(),
        Some("Hi Bob,\r\nBye.\r\n")
    );
    assert_eq!(
        section(SIMPLE, &[], Some(SectionText::Text)),
        section(SIMPLE, &[1], None)
    );
    assert_eq!(
        section(SIMPLE, &[1], Some(SectionText::Mime)),
        section(SIMPLE, &[], Some(SectionText::Header))
    );
    assert_eq!(section(SIMPLE, &[2], None), None);
    assert_eq!(section(SIMPLE, &[1, 1], None), None);
    assert_eq!(section(SIMPLE, &[1], Some(SectionText::Header)), None);

    assert_eq!(
        section(SIMPLE, &[], fields(&["subject", "FROM", "X-None"])).as_deref(),
        Some("From: Alice Example <alice@example.com>\r\nSubject: Hello\r\n\r\n")
    );
    assert_eq!(
        section(
            SIMPLE,
            &[],
            Some(SectionText::HeaderFieldsNot(vec![
                "from".into(),
                "to".into(),
                "date".into()
            ]))
        )
        .as_deref(),
        Some("Subject: Hello\r\nMessage-ID: <1234@example.com>\r\n\r\n")
    );

    let message = MimeMessage::parse(SIMPLE);
    assert_eq!(
        message.binary(&[1]),
        Ok(Some(b"Hi Bob,\r\nBye.\r\n".to_vec()))
    );
    assert_eq!(message.binary(&[]), Ok(Some(SIMPLE.to_vec())));
    assert_eq!(message.binary(&[2]), Ok(None));
    assert_eq!(message.sent_date(), Some(1_057_049_557));
    assert_eq!(message.body_text(), "Hi Bob,\r\nBye.\r\n\n");
    fuzz_views(SIMPLE);
}

/// The shape of RFC 9051's BODYSTRUCTURE example: a text part and a base64 attachment.
const MIXED: &[u8] = b"MIME-Version: 1.0\r\n\
From: a@example.com\r\n\
Subject: report\r\n\
Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\
\r\n\
This is a multi-part message in MIME format.\r\n\
--XYZ\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
caf=C3=A9 au lait=\r\n\
\x20here\r\n\
--XYZ\r\n\
Content-Type: application/octet-stream; name=\"data.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"data.bin\"\r\n\
Content-Language: en, de\r\n\
\r\n\
AAECAwQF/w==\r\n\
--XYZ--\r\n\
epilogue\r\n";

#[test]
fn multipart_mixed_with_a_base64_attachment() {
    assert_eq!(
        bodystructure(MIXED),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 25 2 \
         NIL NIL NIL NIL)\
         (\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"data.bin\") NIL NIL \"BASE64\" 12 NIL \
         (\"ATTACHMENT\" (\"FILENAME\" \"data.bin\")) (\"en\" \"de\") NIL) \
         \"MIXED\" (\"BOUNDARY\" \"XYZ\") NIL NIL NIL)"
    );
    assert_eq!(
        body(MIXED),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" 25 2)\
         (\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"data.bin\") NIL NIL \"BASE64\" 12) \
         \"MIXED\")"
    );

    assert_eq!(
        section(MIXED, &[1], None).as_deref(),
        Some("caf=C3=A9 au lait=\r\n here")
    );
    assert_eq!(
        section(MIXED, &[2], Some(SectionText::Mime)).as_deref(),
        Some(
            "Content-Type: application/octet-stream; name=\"data.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"data.bin\"\r\n\
             Content-Language: en, de\r\n\r\n"
        )
    );
    assert_eq!(section(MIXED, &[3], None), None);
    assert_eq!(section(MIXED, &[2], Some(SectionText::Text)), None);

    // BINARY removes the transfer encodings.
    let message = MimeMessage::parse(MIXED);
    assert_eq!(
        message.binary(&[1]),
        Ok(Some("café au lait here".as_bytes().to_vec()))
    );
    assert_eq!(message.binary(&[2]), Ok(Some(vec![0, 1, 2, 3, 4, 5, 255])));
    assert_eq!(message.body_text(), "café au lait here\n");
    fuzz_views(MIXED);
}

const ALTERNATIVE: &[u8] = b"From: a@example.com\r\n\
Content-Type: multipart/mixed; boundary=outer\r\n\
\r\n\
--outer\r\n\
\r\n\
intro\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
plain\r\n\
--inner\r\n\
Content-Type: text/html\r\n\
\r\n\
<b>html</b>\r\n\
--inner--\r\n\
--outer--\r\n";

#[test]
fn alternative_inside_mixed_numbers_parts_1_2_1_2_2() {
    assert_eq!(
        body(ALTERNATIVE),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1)\
         ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 5 1)\
         (\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 11 1) \"ALTERNATIVE\") \"MIXED\")"
    );
    assert_eq!(
        bodystructure(ALTERNATIVE),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL)\
         ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL)\
         (\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 11 1 NIL NIL NIL NIL) \"ALTERNATIVE\" \
         (\"BOUNDARY\" \"inner\") NIL NIL NIL) \"MIXED\" (\"BOUNDARY\" \"outer\") NIL NIL NIL)"
    );

    assert_eq!(section(ALTERNATIVE, &[1], None).as_deref(), Some("intro"));
    assert_eq!(
        section(ALTERNATIVE, &[1], Some(SectionText::Mime)).as_deref(),
        Some("\r\n")
    );
    assert_eq!(
        section(ALTERNATIVE, &[2, 1], None).as_deref(),
        Some("plain")
    );
    assert_eq!(
        section(ALTERNATIVE, &[2, 2], None).as_deref(),
        Some("<b>html</b>")
    );
    assert_eq!(
        section(ALTERNATIVE, &[2, 2], Some(SectionText::Mime)).as_deref(),
        Some("Content-Type: text/html\r\n\r\n")
    );
    // A multipart's own body runs from its first delimiter to its close delimiter.
    assert_eq!(
        section(ALTERNATIVE, &[2], None).as_deref(),
        Some(
            "--inner\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nplain\r\n\
             --inner\r\nContent-Type: text/html\r\n\r\n<b>html</b>\r\n--inner--"
        )
    );
    assert_eq!(section(ALTERNATIVE, &[2, 3], None), None);
    assert_eq!(section(ALTERNATIVE, &[3], None), None);
    assert_eq!(section(ALTERNATIVE, &[1, 1], None), None);
    assert_eq!(section(ALTERNATIVE, &[0], None), None);

    // SEARCH sees every text part, HTML reduced to its text.
    assert_eq!(
        MimeMessage::parse(ALTERNATIVE).body_text(),
        "intro\nplain\nhtml\n"
    );
    fuzz_views(ALTERNATIVE);
}

const FORWARD: &[u8] = b"From: a@example.com\r\n\
Subject: Fwd: lunch\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain\r\n\
\r\n\
See below.\r\n\
--b\r\n\
Content-Type: message/rfc822\r\n\
Content-Description: forwarded\r\n\
\r\n\
From: Carol <carol@example.net>\r\n\
Subject: lunch\r\n\
\r\n\
Noon?\r\n\
--b--\r\n";

#[test]
fn an_encapsulated_message() {
    assert_eq!(
        bodystructure(FORWARD),
        "((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 1 NIL NIL NIL NIL)\
         (\"MESSAGE\" \"RFC822\" NIL NIL \"forwarded\" \"7BIT\" 56 \
         (NIL \"lunch\" ((\"Carol\" NIL \"carol\" \"example.net\")) \
         ((\"Carol\" NIL \"carol\" \"example.net\")) ((\"Carol\" NIL \"carol\" \"example.net\")) \
         NIL NIL NIL NIL NIL) \
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL) \
         4 NIL NIL NIL NIL) \
         \"MIXED\" (\"BOUNDARY\" \"b\") NIL NIL NIL)"
    );

    let inner = "From: Carol <carol@example.net>\r\nSubject: lunch\r\n\r\nNoon?";
    assert_eq!(section(FORWARD, &[2], None).as_deref(), Some(inner));
    assert_eq!(section(FORWARD, &[2, 1], None).as_deref(), Some("Noon?"));
    assert_eq!(
        section(FORWARD, &[2], Some(SectionText::Header)).as_deref(),
        Some("From: Carol <carol@example.net>\r\nSubject: lunch\r\n\r\n")
    );
    assert_eq!(
        section(FORWARD, &[2], Some(SectionText::Text)).as_deref(),
        Some("Noon?")
    );
    assert_eq!(
        section(FORWARD, &[2], fields(&["subject"])).as_deref(),
        Some("Subject: lunch\r\n\r\n")
    );
    assert_eq!(
        section(FORWARD, &[2], Some(SectionText::Mime)).as_deref(),
        Some("Content-Type: message/rfc822\r\nContent-Description: forwarded\r\n\r\n")
    );
    // The inner message is not multipart, so 2.1 is its body and 2.1.MIME its header.
    assert_eq!(
        section(FORWARD, &[2, 1], Some(SectionText::Mime)),
        section(FORWARD, &[2], Some(SectionText::Header))
    );
    assert_eq!(section(FORWARD, &[2, 2], None), None);
    assert_eq!(section(FORWARD, &[1], Some(SectionText::Header)), None);

    // The outer message's own header and text.
    assert_eq!(
        section(FORWARD, &[], fields(&["subject"])).as_deref(),
        Some("Subject: Fwd: lunch\r\n\r\n")
    );
    let message = MimeMessage::parse(FORWARD);
    assert_eq!(message.binary(&[2]), Ok(Some(inner.as_bytes().to_vec())));
    assert_eq!(message.body_text(), "See below.\nNoon?\n");
    fuzz_views(FORWARD);
}

#[test]
fn a_message_without_a_body_separator() {
    let raw = b"Subject: only a header\r\nFrom: x@example.com\r\n";
    assert_eq!(
        bodystructure(raw),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0 NIL NIL NIL NIL)"
    );
    assert_eq!(
        section(raw, &[], Some(SectionText::Header)).as_deref(),
        Some("Subject: only a header\r\nFrom: x@example.com\r\n")
    );
    assert_eq!(
        section(raw, &[], Some(SectionText::Text)).as_deref(),
        Some("")
    );
    assert_eq!(section(raw, &[1], None).as_deref(), Some(""));
    // No blank line in the message, so none is added (RFC 9051 section 6.4.5).
    assert_eq!(
        section(raw, &[], fields(&["subject"])).as_deref(),
        Some("Subject: only a header\r\n")
    );
    fuzz_views(raw);

    // Not even a header: the text is read as a header all the same, as there is no way
    // to tell, and the message keeps a part 1.
    let raw = b"just some words";
    assert_eq!(
        section(raw, &[], Some(SectionText::Header)).as_deref(),
        Some("just some words")
    );
    assert_eq!(section(raw, &[1], None).as_deref(), Some(""));
    fuzz_views(raw);
}

#[test]
fn bare_lf_messages_have_the_same_structure() {
    let crlf = ALTERNATIVE;
    let lf: Vec<u8> = crlf.iter().copied().filter(|&b| b != b'\r').collect();

    assert_eq!(
        body(&lf),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 5 1)\
         ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 5 1)\
         (\"TEXT\" \"HTML\" NIL NIL NIL \"7BIT\" 11 1) \"ALTERNATIVE\") \"MIXED\")"
    );
    assert_eq!(body(&lf), body(crlf));
    assert_eq!(section(&lf, &[2, 1], None).as_deref(), Some("plain"));
    assert_eq!(
        section(&lf, &[2, 2], Some(SectionText::Mime)).as_deref(),
        Some("Content-Type: text/html\n\n")
    );
    assert_eq!(
        section(&lf, &[], fields(&["from"])).as_deref(),
        Some("From: a@example.com\n\n")
    );

    // Line counts follow the line feeds, whichever line break is used.
    let lf_simple: Vec<u8> = SIMPLE.iter().copied().filter(|&b| b != b'\r').collect();
    assert_eq!(
        body(&lf_simple),
        "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 13 2)"
    );
    fuzz_views(&lf);
    fuzz_views(&lf_simple);
}

#[test]
fn encoded_word_subjects_are_decoded_for_search() {
    let raw = b"Subject: =?ISO-8859-1?Q?Andr=E9?= Pirard\r\n\
Subject: =?UTF-8?B?8J+Mjg==?= =?UTF-8?Q?_globe?=\r\n\
From: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>\r\n\
X-Folded: one\r\n two\r\n\
\r\n";
    let message = MimeMessage::parse(raw);
    assert_eq!(
        message.header_values("subject"),
        ["André Pirard", "🌎 globe"]
    );
    assert_eq!(message.header_values("From"), ["Jörg <jorg@example.com>"]);
    assert_eq!(message.header_values("x-folded"), ["one two"]);
    assert!(message.header_values("To").is_empty());
    assert_eq!(
        message.header_text(),
        "Subject: André Pirard\r\nSubject: 🌎 globe\r\nFrom: Jörg <jorg@example.com>\r\n\
         X-Folded: one two\r\n"
    );

    // ENVELOPE keeps the encoded words: the client decodes them.
    assert_eq!(
        envelope(raw),
        "(NIL \"=?ISO-8859-1?Q?Andr=E9?= Pirard\" \
         ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"jorg\" \"example.com\")) \
         ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"jorg\" \"example.com\")) \
         ((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"jorg\" \"example.com\")) NIL NIL NIL NIL NIL)"
    );
    fuzz_views(raw);
}

#[test]
fn group_addresses_in_the_envelope() {
    let raw = b"From: Boss <boss@example.com>\r\n\
Sender: \r\n\
Reply-To: replies@example.com\r\n\
To: undisclosed-recipients:;\r\n\
Cc: Friends: a@example.com, \"C. D.\" <c@example.org>;, e@example.net\r\n\
Bcc: (nobody)\r\n\
In-Reply-To: <a@b>\r\n\
\r\n";
    assert_eq!(
        envelope(raw),
        "(NIL NIL ((\"Boss\" NIL \"boss\" \"example.com\")) \
         ((\"Boss\" NIL \"boss\" \"example.com\")) \
         ((NIL NIL \"replies\" \"example.com\")) \
         ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) \
         ((NIL NIL \"Friends\" NIL)(NIL NIL \"a\" \"example.com\")\
         (\"C. D.\" NIL \"c\" \"example.org\")(NIL NIL NIL NIL)\
         (NIL NIL \"e\" \"example.net\")) \
         NIL \"<a@b>\" NIL)"
    );
    fuzz_views(raw);
}

#[test]
fn missing_headers_are_nil() {
    assert_eq!(
        envelope(b"Subject: lonely\r\n\r\nbody\r\n"),
        "(NIL \"lonely\" NIL NIL NIL NIL NIL NIL NIL NIL)"
    );
    assert_eq!(
        envelope(b"\r\nbody"),
        "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    );
}

#[test]
fn binary_decodes_known_encodings_and_refuses_others() {
    let raw = b"Content-Type: multipart/mixed; boundary=z\r\n\
\r\n\
--z\r\n\
Content-Transfer-Encoding: Quoted-Printable\r\n\
\r\n\
a=3Db =\r\n\
c=0D=0A\r\n\
--z\r\n\
Content-Transfer-Encoding: BASE64\r\n\
\r\n\
aGVs\r\n\
bG8=\r\n\
--z\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: x-uuencode\r\n\
\r\n\
begin 644 x\r\n\
--z\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
caf\xc3\xa9\r\n\
--z--\r\n";
    let message = MimeMessage::parse(raw);
    assert_eq!(message.binary(&[1]), Ok(Some(b"a=b c\r\n".to_vec())));
    assert_eq!(message.binary(&[2]), Ok(Some(b"hello".to_vec())));
    assert_eq!(message.binary(&[3]), Err(UnknownCte));
    assert_eq!(message.binary(&[4]), Ok(Some("café".as_bytes().to_vec())));
    assert_eq!(message.binary(&[5]), Ok(None));
    assert_eq!(message.binary(&[3, 1]), Ok(None));

    // BODYSTRUCTURE reports the encodings as tokens, upper case.
    assert_eq!(
        body(raw),
        "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"QUOTED-PRINTABLE\" 16 2)\
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"BASE64\" 10 2)\
         (\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"X-UUENCODE\" 11)\
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"8BIT\" 5 1) \"MIXED\")"
    );
    fuzz_views(raw);
}

#[test]
fn rfc_2231_parameters_and_odd_parts() {
    let raw = b"Content-Type: multipart/mixed; boundary=\"=_x\"\r\n\
\r\n\
--=_x\r\n\
Content-Type: application/pdf;\r\n\
\x20name*0*=utf-8''%E2%82%AC; name*1*=.pdf\r\n\
Content-Disposition: inline\r\n\
Content-ID: <id@x>\r\n\
Content-Location: http://example.com/\r\n\
\x20a.pdf\r\n\
\r\n\
%PDF\r\n\
--=_x--\r\n";
    assert_eq!(
        bodystructure(raw),
        "((\"APPLICATION\" \"PDF\" (\"NAME*\" \"utf-8''%E2%82%AC.pdf\") \"<id@x>\" NIL \"7BIT\" \
         4 NIL (\"INLINE\" NIL) NIL \"http://example.com/ a.pdf\") \
         \"MIXED\" (\"BOUNDARY\" \"=_x\") NIL NIL NIL)"
    );
    fuzz_views(raw);
}

#[test]
fn limits_stop_the_descent() {
    let mut limits = MimeLimits::default();
    limits.max_depth = 1;
    let message = MimeMessage::parse_with(FORWARD, &limits);
    let mut out = Vec::new();
    message.write_body_structure(&mut out, false);

    // The encapsulated message lies past the limit: its envelope and body are empty, and
    // its parts cannot be addressed, but the part itself still can.
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "((\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 10 1)\
         (\"MESSAGE\" \"RFC822\" NIL NIL \"forwarded\" \"7BIT\" 56 \
         (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) \
         (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0) 4) \"MIXED\")"
    );
    let part = |path: &[u32], text| Section {
        part: path.to_vec(),
        text,
    };
    assert!(message.section(&part(&[2], None)).is_some());
    assert_eq!(message.section(&part(&[2, 1], None)), None);
    assert_eq!(
        message.section(&part(&[2], Some(SectionText::Header))),
        None
    );
}
