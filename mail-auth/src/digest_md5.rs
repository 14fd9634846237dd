//! DIGEST-MD5 (RFC 2831), initial authentication with `qop=auth` only.
//!
//! The server sends a nonce and its realms; the client answers with a list of directives whose
//! `response` proves it knows `H({ username ":" realm ":" password })`, bound to the server's
//! nonce, its own cnonce and the service it means to reach (`digest-uri`). On success the
//! server proves the same knowledge back with `rspauth`.
//!
//! ```text
//! S: realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",charset=utf-8,
//!    algorithm=md5-sess
//! C: charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",
//!    nc=00000001,cnonce="OA6MHXh6VqTrRk",digest-uri="imap/elwood.innosoft.com",
//!    response=d388dad90d4bbd760a152321f2143af7,qop=auth
//! S: rspauth=ea40f60335c427b5527b84dbabcdfffd
//! ```
//!
//! Not supported: subsequent authentication (section 2.2, which reuses a nonce with a growing
//! nonce count), integrity and confidentiality layers (`auth-int`, `auth-conf`). RFC 6331
//! moved DIGEST-MD5 to Historic; it is kept for old clients, and the stored secret is
//! password-equivalent for its realm.

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use data_encoding::HEXLOWER;
use md5::{Digest, Md5};

use crate::credentials::{CredentialError, Credentials, ct_eq, random_bytes};
use crate::sasl::{Authenticated, Context, Failure, MAX_MESSAGE, MechanismName, Progress};
use crate::sasl::{CredentialUsed, ServerMechanism};

/// `H({ username ":" realm ":" password })` for one realm (password-equivalent).
#[derive(Clone, PartialEq, Eq)]
pub struct DigestMd5Secret {
    /// The realm it works in, exactly as the server offers it.
    pub realm: String,
    /// `H({ username ":" realm ":" password })`, the first part of A1 (section 2.1.2.1).
    pub h_a1: [u8; 16],
}

impl fmt::Debug for DigestMd5Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DigestMd5Secret({:?})", self.realm)
    }
}

impl DigestMd5Secret {
    /// Derives the secret of `username` in `realm`.
    ///
    /// RFC 2831 section 2.1.2.1: with `charset=utf-8`, a user name or password whose
    /// characters all fit in ISO 8859-1 is hashed in ISO 8859-1, so that the hash is the one
    /// HTTP Digest stores. Clients apply the same rule to the realm, and a client that sends
    /// no charset uses ISO 8859-1 anyway, so each part is converted when it can be.
    pub fn derive(username: &str, realm: &str, password: &[u8]) -> Self {
        let h_a1 = md5(&[
            &iso_8859_1_if_possible(username.as_bytes()),
            b":",
            &iso_8859_1_if_possible(realm.as_bytes()),
            b":",
            &iso_8859_1_if_possible(password),
        ]);
        Self {
            realm: realm.to_owned(),
            h_a1,
        }
    }
}

/// `text` in ISO 8859-1 when it is UTF-8 whose characters all fit there; otherwise as it is.
fn iso_8859_1_if_possible(text: &[u8]) -> Cow<'_, [u8]> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    let Ok(utf8) = std::str::from_utf8(text) else {
        return Cow::Borrowed(text);
    };

    let latin1: Option<Vec<u8>> = utf8.chars().map(|c| u8::try_from(c).ok()).collect();
    latin1.map_or(Cow::Borrowed(text), Cow::Owned)
}

/// `H(s)`: MD5 of the concatenation of `parts` (RFC 2831 section 2.1.2.1).
fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// `HEX(H(s))`: the hash in lower-case hexadecimal.
fn hex_md5(parts: &[&[u8]]) -> String {
    HEXLOWER.encode(&md5(parts))
}

// ---------------------------------------------------------------------------------------------
// The directive-list grammar (RFC 2831 sections 7.1 and 7.2).

/// One `name "=" value` element of a directive list, with the value unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Directive<'a> {
    name: &'a [u8],
    value: Vec<u8>,
}

/// The unread rest of the input.
struct Input<'a> {
    rest: &'a [u8],
}

impl Input<'_> {
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        match self.rest.split_first() {
            Some((&first, rest)) if first == byte => {
                self.rest = rest;
                true
            }
            _ => false,
        }
    }
}

/// `separators = "(" | ")" | "<" | ">" | "@" | "," | ";" | ":" | "\" | <"> | "/" | "[" |
/// "]" | "?" | "=" | "{" | "}" | SP | HT` (section 7.2).
const SEPARATORS: &[u8] = b"()<>@,;:\\\"/[]?={} \t";

/// `1#directive` (section 7.1, the `#rule`): directives separated by commas and optional
/// linear white space, where empty elements are allowed and do not count.
fn directive_list(data: &[u8]) -> Option<Vec<Directive<'_>>> {
    let mut input = Input { rest: data };
    let mut directives = Vec::new();
    loop {
        lws(&mut input);
        if input.rest.is_empty() {
            break;
        }
        if input.eat(b',') {
            continue;
        }

        directives.push(directive(&mut input)?);

        // After an element: the end, or a comma before the next one.
        lws(&mut input);
        if !input.rest.is_empty() && !input.eat(b',') {
            return None;
        }
    }
    (!directives.is_empty()).then_some(directives)
}

/// `directive = token "=" ( token | quoted-string )`, the shape of every directive in
/// section 2.1.2 and of `auth-param`. Section 7.1's implied `*LWS` may surround the `=`.
///
/// Tolerance: the RFC quotes some values (`username`, `nonce`, `digest-uri`...) and not others
/// (`nc`, `qop`, `response`), and clients differ in which they quote; since quoting changes
/// nothing once the value is read, either form is accepted for every directive.
fn directive<'a>(input: &mut Input<'a>) -> Option<Directive<'a>> {
    let name = token(input)?;
    lws(input);
    if !input.eat(b'=') {
        return None;
    }
    lws(input);

    let value = if input.peek() == Some(b'"') {
        quoted_string(input)?
    } else {
        token(input)?.to_vec()
    };
    Some(Directive { name, value })
}

/// `token = 1*<any CHAR except CTLs or separators>` (section 7.2).
fn token<'a>(input: &mut Input<'a>) -> Option<&'a [u8]> {
    let is_token_char = |b: &u8| b.is_ascii() && !b.is_ascii_control() && !SEPARATORS.contains(b);
    let len = input.rest.iter().take_while(|b| is_token_char(b)).count();
    if len == 0 {
        return None;
    }

    let (token, rest) = input.rest.split_at(len);
    input.rest = rest;
    Some(token)
}

/// `quoted-string = ( <"> qdstr-val <"> )`, `qdstr-val = *( qdtext | quoted-pair )`,
/// `qdtext = <any TEXT except <">>`, `quoted-pair = "\" CHAR` (section 7.2).
///
/// `TEXT` allows folded white space (`CRLF 1*( SP | HT )`) inside a value, but whether it then
/// stands for itself or for one space is not said, and the value enters a hash; no SASL client
/// folds, so CR and LF are refused like the other control characters. A quoted-pair may not
/// smuggle in a control character either.
fn quoted_string(input: &mut Input<'_>) -> Option<Vec<u8>> {
    if !input.eat(b'"') {
        return None;
    }

    let mut value = Vec::new();
    loop {
        let (&byte, rest) = input.rest.split_first()?;
        input.rest = rest;
        let byte = match byte {
            b'"' => return Some(value),
            b'\\' => {
                let (&escaped, rest) = input.rest.split_first()?;
                input.rest = rest;
                if !escaped.is_ascii() {
                    return None;
                }
                escaped
            }
            _ => byte,
        };
        if byte.is_ascii_control() && byte != b'\t' {
            return None;
        }
        value.push(byte);
    }
}

/// `*LWS`, with `LWS = [CRLF] 1*( SP | HT )` (section 7.2).
fn lws(input: &mut Input<'_>) {
    loop {
        let rest = input.rest.strip_prefix(b"\r\n").unwrap_or(input.rest);
        match rest.split_first() {
            Some((b' ' | b'\t', rest)) => input.rest = rest,
            _ => return,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The digest-response (RFC 2831 section 2.1.2).

/// The directives of a `digest-response` that this server uses, unquoted and decoded.
///
/// ```text
/// digest-response  = 1#( username | realm | nonce | cnonce |
///                        nonce-count | qop | digest-uri | response |
///                        maxbuf | charset | cipher | authzid |
///                        auth-param )
/// ```
struct DigestResponse {
    username: String,
    /// `None` when the client sent no realm directive.
    realm: Option<String>,
    nonce: Vec<u8>,
    cnonce: Vec<u8>,
    nc: Vec<u8>,
    /// As the client wrote it (it enters the hash), `auth` when absent.
    qop: Vec<u8>,
    digest_uri: Vec<u8>,
    /// `response-value = 32LHEX`.
    response: Vec<u8>,
    authzid: Option<String>,
}

/// The raw values of the directives RFC 2831 defines for a response, each at most once.
#[derive(Default)]
struct Slots {
    username: Option<Vec<u8>>,
    realm: Option<Vec<u8>>,
    nonce: Option<Vec<u8>>,
    cnonce: Option<Vec<u8>>,
    nc: Option<Vec<u8>>,
    qop: Option<Vec<u8>>,
    digest_uri: Option<Vec<u8>>,
    response: Option<Vec<u8>>,
    maxbuf: Option<Vec<u8>>,
    charset: Option<Vec<u8>>,
    cipher: Option<Vec<u8>>,
    authzid: Option<Vec<u8>>,
}

impl Slots {
    /// Sorts directives into slots. Section 2.1.2 allows each directive at most once, and a
    /// duplicate is refused rather than resolved (first or last wins), so that no two
    /// readers of the same message can disagree. Unknown directives are ignored, as section
    /// 2.1.2 requires for `auth-param`.
    fn fill(directives: Vec<Directive<'_>>) -> Option<Self> {
        let mut slots = Self::default();
        for Directive { name, value } in directives {
            let slot = match name.to_ascii_lowercase().as_slice() {
                b"username" => &mut slots.username,
                b"realm" => &mut slots.realm,
                b"nonce" => &mut slots.nonce,
                b"cnonce" => &mut slots.cnonce,
                b"nc" => &mut slots.nc,
                b"qop" => &mut slots.qop,
                b"digest-uri" => &mut slots.digest_uri,
                b"response" => &mut slots.response,
                b"maxbuf" => &mut slots.maxbuf,
                b"charset" => &mut slots.charset,
                b"cipher" => &mut slots.cipher,
                b"authzid" => &mut slots.authzid,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return None;
            }
        }
        Some(slots)
    }
}

impl DigestResponse {
    /// Reads a `digest-response`; `None` when it breaks the grammar or lacks a directive.
    fn parse(data: &[u8]) -> Option<Self> {
        let slots = Slots::fill(directive_list(data)?)?;

        // `charset = "charset" "=" "utf-8"`: without it, user name and realm are ISO 8859-1.
        let utf8 = match &slots.charset {
            None => false,
            Some(charset) => charset.eq_ignore_ascii_case(b"utf-8").then_some(true)?,
        };

        // `response-value = 32LHEX`.
        let response = slots.response?;
        let lhex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
        if response.len() != 32 || !response.iter().all(lhex) {
            return None;
        }

        let realm = match slots.realm {
            Some(realm) => Some(decode_text(realm, utf8)?),
            None => None,
        };

        Some(Self {
            username: decode_text(slots.username?, utf8)?,
            realm,
            nonce: slots.nonce?,
            cnonce: slots.cnonce?,
            nc: slots.nc?,
            qop: slots.qop.unwrap_or_else(|| b"auth".to_vec()),
            digest_uri: slots.digest_uri?,
            response,
            // Section 2.1.2: the authzid is always UTF-8, whatever the charset.
            authzid: slots.authzid.map(String::from_utf8).transpose().ok()?,
        })
    }
}

/// A user name or realm as text: UTF-8 with `charset=utf-8`, otherwise ISO 8859-1, whose
/// bytes are the first 256 Unicode code points.
fn decode_text(value: Vec<u8>, utf8: bool) -> Option<String> {
    if utf8 {
        String::from_utf8(value).ok()
    } else {
        Some(value.iter().copied().map(char::from).collect())
    }
}

/// `host = 1*( ALPHA | DIGIT | "-" | "." )` (section 2.1.2).
fn is_host(host: &[u8]) -> bool {
    let host_char = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.';
    !host.is_empty() && host.iter().all(host_char)
}

/// `response-value = HEX( KD ( HEX(H(A1)), { nonce-value, ":" nc-value, ":", cnonce-value,
/// ":", qop-value, ":", HEX(H(A2)) }))` with `KD(k, s) = H({k, ":", s})` and
/// `A1 = { H( { username-value, ":", realm-value, ":", passwd } ), ":", nonce-value, ":",
/// cnonce-value [ ":", authzid-value ] }` (section 2.1.2.1).
///
/// `a2_prefix` is `AUTHENTICATE` for the client's `response` (`A2 = { "AUTHENTICATE:",
/// digest-uri-value }`) and empty for the server's `rspauth` (`A2 = { ":", digest-uri-value
/// }`, section 2.1.3).
fn response_value(h_base: &[u8; 16], response: &DigestResponse, a2_prefix: &[u8]) -> String {
    let r = response;
    let h_a1 = match &r.authzid {
        Some(authzid) => hex_md5(&[
            h_base,
            b":",
            &r.nonce,
            b":",
            &r.cnonce,
            b":",
            authzid.as_bytes(),
        ]),
        None => hex_md5(&[h_base, b":", &r.nonce, b":", &r.cnonce]),
    };
    let h_a2 = hex_md5(&[a2_prefix, b":", &r.digest_uri]);

    hex_md5(&[
        h_a1.as_bytes(),
        b":",
        &r.nonce,
        b":",
        &r.nc,
        b":",
        &r.cnonce,
        b":",
        &r.qop,
        b":",
        h_a2.as_bytes(),
    ])
}

// ---------------------------------------------------------------------------------------------
// The mechanism.

/// A digest-response must be shorter than this (RFC 2831 section 2.1.2).
const RESPONSE_SIZE_LIMIT: usize = 4096;

/// The server side of DIGEST-MD5.
///
/// Each exchange issues a fresh nonce and accepts it once, with `nc=00000001`: a response
/// recorded from another exchange never verifies here, because its nonce is not this one.
pub struct DigestMd5 {
    realms: Vec<String>,
    service: String,
    host: String,
    nonce: String,
    state: State,
}

enum State {
    /// Nothing sent yet.
    Start,
    /// The challenge was sent; waiting for the digest-response.
    Challenged,
    /// The response is well-formed and answers our challenge; waiting for credentials.
    Lookup {
        response: Box<DigestResponse>,
        realm: String,
    },
    /// Success or failure was reported; every further call is out of order.
    Done,
}

impl DigestMd5 {
    /// A new exchange for `service` (`smtp`, `imap` or `pop`, the `serv-type` of section
    /// 2.1.2) on `host` (the server's host name, which clients put in `digest-uri`), offering
    /// `realms`. Each realm needs a matching secret in [`crate::credentials::DeriveOptions`]
    /// (`digest_md5_realms`); with no realm, no client can authenticate.
    ///
    /// The nonce is 128 random bits. Fails only when the operating system has no randomness.
    pub fn new(realms: Vec<String>, service: &str, host: &str) -> Result<Self, CredentialError> {
        let random = random_bytes::<16>()?;
        let nonce = base64::engine::general_purpose::STANDARD_NO_PAD.encode(random);
        Ok(Self::with_nonce(realms, service, host, nonce))
    }

    /// A new exchange with a nonce of the caller's choice, for tests and RFC vectors. A nonce
    /// that is ever issued twice lets a recorded response be replayed.
    pub fn with_nonce(realms: Vec<String>, service: &str, host: &str, nonce: String) -> Self {
        Self {
            realms,
            service: service.to_owned(),
            host: host.to_owned(),
            nonce,
            state: State::Start,
        }
    }

    /// The `digest-challenge` (section 2.1.1): one realm directive per realm, the nonce,
    /// and the only options this server has, `qop="auth"` and `charset=utf-8`.
    /// `algorithm=md5-sess` is required, and is the only algorithm the RFC defines.
    fn challenge(&self) -> Vec<u8> {
        let mut challenge = String::new();
        for realm in &self.realms {
            challenge.push_str(&format!("realm={},", quote(realm)));
        }
        challenge.push_str(&format!(
            "nonce={},qop=\"auth\",charset=utf-8,algorithm=md5-sess",
            quote(&self.nonce)
        ));
        challenge.into_bytes()
    }

    /// Checks that the response answers this exchange's challenge and asks for nothing this
    /// server does not do; returns the realm it authenticates in.
    fn answers_challenge(&self, response: &DigestResponse) -> Option<String> {
        // Section 2.1.2: the nonce must be the one we sent, and a nonce count other than one
        // would be subsequent authentication (section 2.2), which is not supported.
        let fresh = response.nonce == self.nonce.as_bytes() && response.nc == b"00000001";

        // The cnonce is what protects the client against chosen plaintext, so it may not be
        // empty; an empty user name names no account.
        let filled = !response.cnonce.is_empty() && !response.username.is_empty();

        // Only authentication: `auth-int` and `auth-conf` would need a security layer.
        let qop = response.qop.eq_ignore_ascii_case(b"auth");

        if !(fresh && filled && qop && self.is_our_digest_uri(&response.digest_uri)) {
            return None;
        }
        self.realm(response.realm.as_deref())
    }

    /// `digest-uri-value = serv-type "/" host [ "/" serv-name ]` (section 2.1.2). The server
    /// "SHOULD check that the supplied value is correct", which is what stops a response
    /// meant for another service or host from being relayed here. Host names compare
    /// without case. Tolerance: a `serv-name`, meant for replicated services, is accepted
    /// whatever it names, as long as the host is ours.
    fn is_our_digest_uri(&self, uri: &[u8]) -> bool {
        let mut parts = uri.split(|&b| b == b'/');
        let (Some(serv_type), Some(host)) = (parts.next(), parts.next()) else {
            return false;
        };
        let serv_name = parts.next();

        parts.next().is_none()
            && serv_type.eq_ignore_ascii_case(self.service.as_bytes())
            && host.eq_ignore_ascii_case(self.host.as_bytes())
            && serv_name.is_none_or(is_host)
    }

    /// The realm the client chose, which must be one we offered. Tolerance: RFC 2831 makes
    /// the directive required when the server offered realms, but a client that leaves it
    /// out when there is only one can only mean that one.
    fn realm(&self, chosen: Option<&str>) -> Option<String> {
        match chosen {
            Some(realm) => self.realms.iter().find(|ours| *ours == realm).cloned(),
            None if self.realms.len() == 1 => self.realms.first().cloned(),
            None => None,
        }
    }

    fn fail(&mut self, failure: Failure) -> Progress {
        self.state = State::Done;
        Progress::Failure(failure)
    }
}

/// `quoted-string` for a value of ours: quotes and backslashes escaped as quoted-pairs.
fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// Checks the response against every challenge-response secret of the account that has one
/// for `realm`; returns what matched and the `rspauth` that proves it back.
fn verify(
    credentials: &Credentials,
    response: &DigestResponse,
    realm: &str,
) -> Option<(CredentialUsed, String)> {
    let mut checked_any = false;
    for (used, secrets) in credentials.challenge_response_candidates() {
        let Some(secret) = secrets.digest_md5.iter().find(|s| s.realm == realm) else {
            continue;
        };
        checked_any = true;

        let expected = response_value(&secret.h_a1, response, b"AUTHENTICATE");
        if ct_eq(expected.as_bytes(), &response.response) {
            return Some((used, response_value(&secret.h_a1, response, b"")));
        }
    }

    // An account without a secret for this realm must take as long to refuse as a wrong
    // password.
    if !checked_any {
        equalize(response);
    }
    None
}

/// Spends the work of one response check, for an account that has nothing to check against.
fn equalize(response: &DigestResponse) {
    let expected = response_value(&[0; 16], response, b"AUTHENTICATE");
    let _ = ct_eq(expected.as_bytes(), &response.response);
}

impl ServerMechanism for DigestMd5 {
    fn name(&self) -> MechanismName {
        MechanismName::new("DIGEST-MD5").expect("valid mechanism name")
    }

    fn start(&mut self, initial_response: Option<&[u8]>) -> Progress {
        // Initial authentication is server-first (section 2.1): an initial response could
        // only be subsequent authentication, which is not supported. An empty one is the
        // client waiting for the challenge.
        let waiting = initial_response.is_none_or(<[u8]>::is_empty);
        if !matches!(self.state, State::Start) || !waiting {
            return self.fail(Failure::Malformed);
        }

        self.state = State::Challenged;
        Progress::Challenge(self.challenge())
    }

    fn respond(&mut self, data: &[u8]) -> Progress {
        // Section 2.1.2: "The size of a digest-response MUST be less than 4096 bytes", which
        // is well within the crate-wide bound.
        let too_long = data.len() >= RESPONSE_SIZE_LIMIT || data.len() > MAX_MESSAGE;
        if !matches!(self.state, State::Challenged) || too_long {
            return self.fail(Failure::Malformed);
        }
        let Some(response) = DigestResponse::parse(data) else {
            return self.fail(Failure::Malformed);
        };
        let Some(realm) = self.answers_challenge(&response) else {
            return self.fail(Failure::Malformed);
        };

        let authentication_id = response.username.clone();
        self.state = State::Lookup {
            response: Box::new(response),
            realm,
        };
        Progress::Lookup { authentication_id }
    }

    fn credentials(&mut self, credentials: Option<&Credentials>, _context: &Context) -> Progress {
        let State::Lookup { response, realm } = std::mem::replace(&mut self.state, State::Done)
        else {
            return self.fail(Failure::Malformed);
        };

        let Some(credentials) = credentials else {
            equalize(&response);
            return Progress::Failure(Failure::InvalidCredentials);
        };
        let Some((credential, rspauth)) = verify(credentials, &response, &realm) else {
            return Progress::Failure(Failure::InvalidCredentials);
        };

        // The proof is good; the identity asked for must also be one this account may
        // assume (an empty authzid means the account itself).
        let authzid = response.authzid.as_deref().unwrap_or("");
        if !credentials.may_act_as(authzid) {
            return Progress::Failure(Failure::InvalidCredentials);
        }
        let authorization_id = match authzid {
            "" => credentials.authentication_id.clone(),
            other => other.to_owned(),
        };

        // Section 2.1.3: `response-auth = "rspauth" "=" response-value`.
        Progress::Success(Authenticated {
            authentication_id: credentials.authentication_id.clone(),
            authorization_id,
            credential,
            totp_step: None,
            additional_data: Some(format!("rspauth={rspauth}").into_bytes()),
        })
    }
}

/// Fuzzing entry point: runs the directive parser, then a whole exchange against a fixed
/// account, on arbitrary bytes. It must never panic, and it checks the mechanism's contract
/// (nothing goes on after the result) on the way.
///
/// The exchange is the one of RFC 2831 section 4 (user `chris`, password `secret`, realm and
/// host `elwood.innosoft.com`, service `imap`, nonce `OA6MG9tEQGm2hh`), so the RFC's response
/// is a seed that reaches success.
#[doc(hidden)]
pub fn fuzz_response(data: &[u8]) {
    if let Some(directives) = directive_list(data) {
        let _ = Slots::fill(directives);
    }

    let mut mechanism = DigestMd5::with_nonce(
        vec![fuzz::REALM.into()],
        "imap",
        fuzz::REALM,
        fuzz::NONCE.into(),
    );
    assert!(matches!(mechanism.start(None), Progress::Challenge(_)));
    match mechanism.respond(data) {
        Progress::Lookup { authentication_id } => {
            let credentials = fuzz::account(&authentication_id);
            let result = mechanism.credentials(Some(&credentials), &Context::new(0));
            assert!(matches!(
                result,
                Progress::Success(_) | Progress::Failure(Failure::InvalidCredentials)
            ));
        }
        Progress::Failure(failure) => assert_eq!(failure, Failure::Malformed),
        other => panic!("unexpected step after a response: {other:?}"),
    }

    // Whatever happened, the exchange is over.
    assert_eq!(
        mechanism.respond(data),
        Progress::Failure(Failure::Malformed)
    );
}

/// The fixed account [`fuzz_response`] checks against.
mod fuzz {
    use std::sync::OnceLock;

    use crate::credentials::{Argon2Params, Credentials, DeriveOptions, PasswordSecrets};

    pub(super) const REALM: &str = "elwood.innosoft.com";
    pub(super) const NONCE: &str = "OA6MG9tEQGm2hh";

    /// `chris` with password `secret`, under whatever name the input asked for (so that an
    /// arbitrary user name still reaches the proof check).
    pub(super) fn account(name: &str) -> Credentials {
        static SECRETS: OnceLock<Option<PasswordSecrets>> = OnceLock::new();
        let secrets = SECRETS.get_or_init(|| {
            let options = DeriveOptions {
                argon2: Argon2Params {
                    memory_kib: 64,
                    iterations: 1,
                    lanes: 1,
                },
                digest_md5_realms: vec![REALM.into()],
                scram_iterations: None,
                ..DeriveOptions::default()
            };
            PasswordSecrets::derive("chris", b"secret", &options).ok()
        });

        let mut credentials = Credentials::new(name);
        credentials.password = secrets.clone();
        credentials
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::credentials::{Argon2Params, DeriveOptions, PasswordSecrets};

    const REALM: &str = "elwood.innosoft.com";
    const NONCE: &str = "OA6MG9tEQGm2hh";

    /// RFC 2831 section 4, the IMAP example: the server's challenge and the client's
    /// response, on one line each.
    const RFC_CHALLENGE: &str = "realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",\
                                 qop=\"auth\",charset=utf-8,algorithm=md5-sess";
    const RFC_RESPONSE: &str = "charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\",\
                                nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\",\
                                digest-uri=\"imap/elwood.innosoft.com\",\
                                response=d388dad90d4bbd760a152321f2143af7,qop=auth";
    const RFC_RSPAUTH: &[u8] = b"rspauth=ea40f60335c427b5527b84dbabcdfffd";

    /// Cheap Argon2 parameters: these tests check DIGEST-MD5, not password hashing.
    fn options(realms: &[&str]) -> DeriveOptions {
        DeriveOptions {
            argon2: Argon2Params {
                memory_kib: 64,
                iterations: 1,
                lanes: 1,
            },
            digest_md5_realms: realms.iter().map(|r| r.to_string()).collect(),
            scram_iterations: None,
            ..DeriveOptions::default()
        }
    }

    fn account(name: &str, password: &str, realms: &[&str]) -> Credentials {
        let mut credentials = Credentials::new(name);
        let secrets = PasswordSecrets::derive(name, password.as_bytes(), &options(realms));
        credentials.password = Some(secrets.expect("derivable"));
        credentials
    }

    fn chris() -> Credentials {
        account("chris", "secret", &[REALM, "other.example"])
    }

    fn rfc_mechanism() -> DigestMd5 {
        DigestMd5::with_nonce(vec![REALM.into()], "imap", REALM, NONCE.into())
    }

    /// Runs one exchange on `mechanism`: challenge, `response`, then `credentials` if asked.
    fn exchange(
        mut mechanism: DigestMd5,
        response: &[u8],
        credentials: Option<&Credentials>,
    ) -> Progress {
        assert!(matches!(mechanism.start(None), Progress::Challenge(_)));
        match mechanism.respond(response) {
            Progress::Lookup { .. } => mechanism.credentials(credentials, &Context::new(0)),
            other => other,
        }
    }

    fn run(response: &str, credentials: Option<&Credentials>) -> Progress {
        exchange(rfc_mechanism(), response.as_bytes(), credentials)
    }

    /// A client written from the RFC's formulas, independently of the server's code.
    struct Client<'a> {
        username: &'a str,
        password: &'a str,
        realm: Option<&'a str>,
        nonce: &'a str,
        cnonce: &'a str,
        digest_uri: &'a str,
        authzid: Option<&'a str>,
    }

    impl Client<'_> {
        fn rfc() -> Self {
            Client {
                username: "chris",
                password: "secret",
                realm: Some(REALM),
                nonce: NONCE,
                cnonce: "OA6MHXh6VqTrRk",
                digest_uri: "imap/elwood.innosoft.com",
                authzid: None,
            }
        }

        fn response(&self) -> String {
            let hex = |data: &[u8]| HEXLOWER.encode(&Md5::digest(data));
            let base = Md5::digest(
                format!(
                    "{}:{}:{}",
                    self.username,
                    self.realm.unwrap_or(""),
                    self.password
                )
                .as_bytes(),
            );
            let mut a1 = base.to_vec();
            a1.extend_from_slice(format!(":{}:{}", self.nonce, self.cnonce).as_bytes());
            if let Some(authzid) = self.authzid {
                a1.extend_from_slice(format!(":{authzid}").as_bytes());
            }
            let a2 = format!("AUTHENTICATE:{}", self.digest_uri);
            let kd = format!(
                "{}:{}:00000001:{}:auth:{}",
                hex(&a1),
                self.nonce,
                self.cnonce,
                hex(a2.as_bytes())
            );

            let mut out = format!("username={},", quote(self.username));
            if let Some(realm) = self.realm {
                out.push_str(&format!("realm={},", quote(realm)));
            }
            if let Some(authzid) = self.authzid {
                out.push_str(&format!("authzid={},", quote(authzid)));
            }
            out.push_str(&format!(
                "nonce={},cnonce={},nc=00000001,qop=auth,digest-uri={},response={}",
                quote(self.nonce),
                quote(self.cnonce),
                quote(self.digest_uri),
                hex(kd.as_bytes())
            ));
            out
        }
    }

    #[test]
    fn rfc_2831_imap_example() {
        let mut mechanism = rfc_mechanism();
        assert_eq!(mechanism.name().as_str(), "DIGEST-MD5");
        assert_eq!(
            mechanism.start(None),
            Progress::Challenge(RFC_CHALLENGE.as_bytes().to_vec())
        );
        assert_eq!(
            mechanism.respond(RFC_RESPONSE.as_bytes()),
            Progress::Lookup {
                authentication_id: "chris".into()
            }
        );
        let Progress::Success(ok) = mechanism.credentials(Some(&chris()), &Context::new(0)) else {
            panic!("chris logs in")
        };
        assert_eq!(ok.authentication_id, "chris");
        assert_eq!(ok.authorization_id, "chris");
        assert_eq!(ok.credential, CredentialUsed::Password);
        assert_eq!(ok.totp_step, None);
        assert_eq!(ok.additional_data.as_deref(), Some(RFC_RSPAUTH));
    }

    #[test]
    fn secret_is_the_rfc_h_base() {
        let secret = DigestMd5Secret::derive("chris", REALM, b"secret");
        assert_eq!(secret.realm, REALM);
        assert_eq!(
            secret.h_a1,
            md5(&[b"chris:elwood.innosoft.com:secret"]),
            "H({{ username-value, \":\", realm-value, \":\", passwd }})"
        );
        assert_eq!(
            format!("{secret:?}"),
            "DigestMd5Secret(\"elwood.innosoft.com\")"
        );

        // Section 2.1.2.1: what fits in ISO 8859-1 is hashed in ISO 8859-1; the rest is not.
        let latin1 = DigestMd5Secret::derive("j\u{f6}rg", "r", "\u{e4}".as_bytes());
        assert_eq!(latin1.h_a1, md5(&[b"j\xf6rg:r:\xe4"]));
        let utf8 = DigestMd5Secret::derive("\u{20ac}", "r", b"p");
        assert_eq!(utf8.h_a1, md5(&["\u{20ac}:r:p".as_bytes()]));
    }

    #[test]
    fn the_test_client_agrees_with_the_rfc() {
        assert_eq!(
            Client::rfc().response(),
            "username=\"chris\",realm=\"elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",\
             cnonce=\"OA6MHXh6VqTrRk\",nc=00000001,qop=auth,\
             digest-uri=\"imap/elwood.innosoft.com\",response=d388dad90d4bbd760a152321f2143af7"
        );
        assert!(matches!(
            run(&Client::rfc().response(), Some(&chris())),
            Progress::Success(_)
        ));
    }

    /// The client's response as a Python (`hashlib`) client computes it for `challenge`.
    fn python_response(challenge: &[u8], user: &str, password: &str, uri: &str) -> String {
        let script = r#"
import hashlib, re, sys
challenge, user, password, uri = sys.argv[1:5]
nonce = re.search(r'nonce="([^"]*)"', challenge).group(1)
realm = re.search(r'realm="([^"]*)"', challenge).group(1)
cnonce = "fMZKnPvXhDxw0PlyNvSTeA"

def enc(s):
    # RFC 2831 2.1.2.1: ISO 8859-1 when every character fits, else UTF-8.
    try:
        return s.encode("latin-1")
    except UnicodeEncodeError:
        return s.encode("utf-8")

def hexmd5(b):
    return hashlib.md5(b).hexdigest()

base = hashlib.md5(enc(user) + b":" + enc(realm) + b":" + enc(password)).digest()
a1 = base + (":" + nonce + ":" + cnonce).encode()
a2 = ("AUTHENTICATE:" + uri).encode()
kd = hexmd5(a1) + ":" + nonce + ":00000001:" + cnonce + ":auth:" + hexmd5(a2)
print('charset=utf-8,username="%s",realm="%s",nonce="%s",nc=00000001,cnonce="%s",'
      'digest-uri="%s",response=%s,qop=auth'
      % (user, realm, nonce, cnonce, uri, hexmd5(kd.encode())))
"#;
        let challenge = std::str::from_utf8(challenge).expect("ASCII challenge");
        let output = Command::new("python3")
            .args(["-c", script, challenge, user, password, uri])
            .output()
            .expect("python3 runs (it is needed for the interop tests)");
        assert!(output.status.success(), "python3 failed: {output:?}");
        String::from_utf8(output.stdout)
            .expect("UTF-8 response")
            .trim()
            .to_owned()
    }

    #[test]
    fn python_client_interoperates() {
        for (user, password) in [
            ("alice@example.org", "correct horse"),
            ("j\u{f6}rg", "p\u{e4}ssw\u{f6}rd"),
            ("\u{20ac}uro", "\u{20ac}"),
        ] {
            let mut mechanism =
                DigestMd5::new(vec!["example.org".into()], "smtp", "mx.example.org")
                    .expect("random");
            let Progress::Challenge(challenge) = mechanism.start(Some(b"")) else {
                panic!("challenge first")
            };
            let response = python_response(&challenge, user, password, "smtp/mx.example.org");
            assert_eq!(
                mechanism.respond(response.as_bytes()),
                Progress::Lookup {
                    authentication_id: user.into()
                },
                "{response}"
            );

            let credentials = account(user, password, &["example.org"]);
            let result = mechanism.credentials(Some(&credentials), &Context::new(0));
            assert!(matches!(result, Progress::Success(_)), "{user}: {result:?}");
        }
    }

    #[test]
    fn nonces_are_fresh_and_long() {
        let a = DigestMd5::new(vec![], "imap", "h").expect("random");
        let b = DigestMd5::new(vec![], "imap", "h").expect("random");
        assert_ne!(a.nonce, b.nonce);
        assert!(a.nonce.len() >= 16, "at least 64 bits in base64");
    }

    #[test]
    fn challenge_lists_every_realm_quoted() {
        let mut mechanism = DigestMd5::with_nonce(
            vec!["a.example".into(), "odd \"realm\\".into()],
            "pop",
            "h",
            "n".into(),
        );
        assert_eq!(
            mechanism.start(None),
            Progress::Challenge(
                b"realm=\"a.example\",realm=\"odd \\\"realm\\\\\",nonce=\"n\",qop=\"auth\",\
                  charset=utf-8,algorithm=md5-sess"
                    .to_vec()
            )
        );
    }

    #[test]
    fn wrong_password_and_unknown_user_look_alike() {
        let chris = account("chris", "not the password", &[REALM]);
        assert_eq!(
            run(RFC_RESPONSE, Some(&chris)),
            Progress::Failure(Failure::InvalidCredentials)
        );
        assert_eq!(
            run(RFC_RESPONSE, None),
            Progress::Failure(Failure::InvalidCredentials)
        );

        // An account with no DIGEST-MD5 secret for the realm fails the same way.
        let elsewhere = account("chris", "secret", &["other.example"]);
        assert_eq!(
            run(RFC_RESPONSE, Some(&elsewhere)),
            Progress::Failure(Failure::InvalidCredentials)
        );
    }

    #[test]
    fn responses_to_another_challenge_are_refused() {
        // A different nonce: a replay from another exchange, or a made-up one.
        let mut client = Client::rfc();
        client.nonce = "OA6MG9tEQGm2hi";
        assert_eq!(
            run(&client.response(), Some(&chris())),
            Progress::Failure(Failure::Malformed)
        );

        // The RFC's response against a server that issued another nonce.
        let mechanism = DigestMd5::with_nonce(vec![REALM.into()], "imap", REALM, "fresh".into());
        assert_eq!(
            exchange(mechanism, RFC_RESPONSE.as_bytes(), Some(&chris())),
            Progress::Failure(Failure::Malformed)
        );
    }

    #[test]
    fn only_a_first_authentication_is_accepted() {
        for nc in ["00000002", "00000000", "0000001", "1"] {
            let response = RFC_RESPONSE.replace("nc=00000001", &format!("nc={nc}"));
            assert_eq!(
                run(&response, Some(&chris())),
                Progress::Failure(Failure::Malformed),
                "nc={nc}"
            );
        }
    }

    #[test]
    fn digest_uri_must_name_this_service_and_host() {
        for uri in [
            "smtp/elwood.innosoft.com",
            "imap/other.innosoft.com",
            "imap",
            "imap/",
            "/elwood.innosoft.com",
            "imap/elwood.innosoft.com/a/b",
            "imap/elwood.innosoft.com/bad name",
        ] {
            let mut client = Client::rfc();
            client.digest_uri = uri;
            assert_eq!(
                run(&client.response(), Some(&chris())),
                Progress::Failure(Failure::Malformed),
                "{uri}"
            );
        }

        // Case does not matter, and a serv-name is tolerated.
        for uri in [
            "IMAP/Elwood.Innosoft.COM",
            "imap/elwood.innosoft.com/innosoft.com",
        ] {
            let mut client = Client::rfc();
            client.digest_uri = uri;
            assert!(
                matches!(
                    run(&client.response(), Some(&chris())),
                    Progress::Success(_)
                ),
                "{uri}"
            );
        }
    }

    #[test]
    fn realm_must_be_one_we_offered() {
        let mut client = Client::rfc();
        client.realm = Some("other.example");
        assert_eq!(
            run(&client.response(), Some(&chris())),
            Progress::Failure(Failure::Malformed)
        );
        client.realm = Some("ELWOOD.innosoft.com");
        assert_eq!(
            run(&client.response(), Some(&chris())),
            Progress::Failure(Failure::Malformed)
        );

        // A second offered realm works, when the account has a secret for it.
        let two = || {
            DigestMd5::with_nonce(
                vec![REALM.into(), "other.example".into()],
                "imap",
                REALM,
                NONCE.into(),
            )
        };
        client.realm = Some("other.example");
        let response = client.response();
        assert!(matches!(
            exchange(two(), response.as_bytes(), Some(&chris())),
            Progress::Success(_)
        ));

        // No realm directive: the only realm we offered, but ambiguous among two.
        let response = RFC_RESPONSE.replace("realm=\"elwood.innosoft.com\",", "");
        assert!(matches!(
            run(&response, Some(&chris())),
            Progress::Success(_)
        ));
        assert_eq!(
            exchange(two(), response.as_bytes(), Some(&chris())),
            Progress::Failure(Failure::Malformed)
        );
    }

    #[test]
    fn only_qop_auth() {
        for qop in ["auth-int", "auth-conf", "\"auth,auth-int\"", "none"] {
            let response = RFC_RESPONSE.replace("qop=auth", &format!("qop={qop}"));
            assert_eq!(
                run(&response, Some(&chris())),
                Progress::Failure(Failure::Malformed),
                "qop={qop}"
            );
        }

        // Absent means auth; the case the client used enters the hash, so `AUTH` parses
        // but must come with a proof computed over `AUTH`.
        let response = RFC_RESPONSE.replace(",qop=auth", "");
        assert!(matches!(
            run(&response, Some(&chris())),
            Progress::Success(_)
        ));
        let response = RFC_RESPONSE.replace("qop=auth", "qop=\"AUTH\"");
        assert_eq!(
            run(&response, Some(&chris())),
            Progress::Failure(Failure::InvalidCredentials)
        );
    }

    #[test]
    fn charset_must_be_utf_8_or_absent() {
        let response = RFC_RESPONSE.replace("charset=utf-8", "charset=\"UTF-8\"");
        assert!(matches!(
            run(&response, Some(&chris())),
            Progress::Success(_)
        ));
        let response = RFC_RESPONSE.replace("charset=utf-8", "charset=iso-8859-1");
        assert_eq!(
            run(&response, Some(&chris())),
            Progress::Failure(Failure::Malformed)
        );

        // Without a charset the user name is ISO 8859-1; with one it must be UTF-8.
        let latin1 = b"username=\"j\xf6rg\",nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"x\",\
                       digest-uri=\"imap/elwood.innosoft.com\",\
                       response=00000000000000000000000000000000";
        let mut mechanism = rfc_mechanism();
        mechanism.start(None);
        assert_eq!(
            mechanism.respond(latin1),
            Progress::Lookup {
                authentication_id: "j\u{f6}rg".into()
            }
        );
        let utf8 = [b"charset=utf-8,".as_slice(), latin1].concat();
        assert_eq!(
            exchange(rfc_mechanism(), &utf8, None),
            Progress::Failure(Failure::Malformed)
        );
    }

    #[test]
    fn missing_directives() {
        for name in [
            "username",
            "nonce",
            "cnonce",
            "nc",
            "digest-uri",
            "response",
        ] {
            let kept: Vec<&str> = RFC_RESPONSE
                .split(',')
                .filter(|directive| !directive.starts_with(&format!("{name}=")))
                .collect();
            assert_eq!(
                run(&kept.join(","), Some(&chris())),
                Progress::Failure(Failure::Malformed),
                "without {name}"
            );
        }

        // Present but empty where a value is needed.
        for (from, to) in [
            ("username=\"chris\"", "username=\"\""),
            ("cnonce=\"OA6MHXh6VqTrRk\"", "cnonce=\"\""),
        ] {
            assert_eq!(
                run(&RFC_RESPONSE.replace(from, to), Some(&chris())),
                Progress::Failure(Failure::Malformed),
                "{to}"
            );
        }
    }

    #[test]
    fn duplicate_directives() {
        for extra in [
            "username=\"chris\"",
            "nonce=\"OA6MG9tEQGm2hh\"",
            "qop=auth",
            "realm=\"elwood.innosoft.com\"",
            "NC=00000001",
            "charset=utf-8",
            "authzid=\"chris\",authzid=\"chris\"",
            "maxbuf=1024,maxbuf=1024",
        ] {
            assert_eq!(
                run(&format!("{RFC_RESPONSE},{extra}"), Some(&chris())),
                Progress::Failure(Failure::Malformed),
                "{extra}"
            );
        }
    }

    #[test]
    fn unknown_directives_are_ignored() {
        let response = format!("{RFC_RESPONSE},x-future=\"1\",x-future=2,maxbuf=65536");
        assert!(matches!(
            run(&response, Some(&chris())),
            Progress::Success(_)
        ));
    }

    #[test]
    fn list_syntax_follows_section_7_1() {
        // Linear white space anywhere between words, empty elements, names in any case,
        // tokens where the RFC quotes and quotes where it does not, quoted-pairs.
        let response = " ,, CHARSET = utf-8 ,\r\n\tusername=chris , realm=\"elwood.innosoft.com\" ,\
                        nonce=\"OA6MG9tEQGm2hh\",nc=\"00000001\",cnonce=\"OA6\\MHXh6VqTrRk\",\
                        Digest-URI=\"imap/elwood.innosoft.com\",\
                        response=\"d388dad90d4bbd760a152321f2143af7\",qop=auth,, ";
        assert!(matches!(
            run(response, Some(&chris())),
            Progress::Success(_)
        ));

        let list = directive_list(b"a=\"x\\\"y\\\\z\",b=tok").expect("valid list");
        assert_eq!(
            list,
            vec![
                Directive {
                    name: b"a",
                    value: b"x\"y\\z".to_vec()
                },
                Directive {
                    name: b"b",
                    value: b"tok".to_vec()
                },
            ]
        );
    }

    #[test]
    fn malformed_syntax() {
        for bad in [
            &b""[..],
            b",, ,",
            b"username",
            b"username=",
            b"username=\"chris",
            b"username=\"chris\\",
            b"username=\"chris\"x",
            b"username=\"chris\" realm=\"r\"",
            b"username=chris\"",
            b"=chris",
            b"user name=chris",
            b"username=\"a\rb\"",
            b"username=\"a\nb\"",
            b"username=\"a\\\x01\"",
            b"username=\"a\\\xc3\xa4\"",
            b"username=\"\x7f\"",
            b"username=\"a\"\r\n",
            b"username=\"a\"\r\nx=1",
            b"username=a@b",
            b"username=a/b",
        ] {
            assert_eq!(
                directive_list(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }

        // And the whole response: bad quoting is Malformed, before any lookup.
        let response = RFC_RESPONSE.replace("\"chris\"", "\"chris");
        assert_eq!(run(&response, None), Progress::Failure(Failure::Malformed));
        let response = RFC_RESPONSE.replace("response=d388", "response=D388");
        assert_eq!(run(&response, None), Progress::Failure(Failure::Malformed));
    }

    #[test]
    fn over_long_responses() {
        // Section 2.1.2: a digest-response MUST be shorter than 4096 bytes.
        let padded = |len: usize| {
            let room = len - RFC_RESPONSE.len() - ",x-pad=\"\"".len();
            format!("{RFC_RESPONSE},x-pad=\"{}\"", "p".repeat(room))
        };
        assert!(matches!(
            run(&padded(4095), Some(&chris())),
            Progress::Success(_)
        ));
        for len in [4096, MAX_MESSAGE + 1] {
            assert_eq!(
                run(&padded(len), Some(&chris())),
                Progress::Failure(Failure::Malformed),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn authorization_identities() {
        let mut client = Client::rfc();
        client.authzid = Some("shared@innosoft.com");
        let response = client.response();

        // Refused until the account may act as the shared identity, even with a good proof.
        assert_eq!(
            run(&response, Some(&chris())),
            Progress::Failure(Failure::InvalidCredentials)
        );
        let mut chris = chris();
        chris.authorized_ids.push("shared@innosoft.com".into());
        let Progress::Success(ok) = run(&response, Some(&chris)) else {
            panic!("authzid allowed")
        };
        assert_eq!(ok.authentication_id, "chris");
        assert_eq!(ok.authorization_id, "shared@innosoft.com");

        // The authzid is part of A1: changing it breaks the proof.
        let tampered = response.replace("shared@", "other@");
        chris.authorized_ids.push("other@innosoft.com".into());
        assert_eq!(
            run(&tampered, Some(&chris)),
            Progress::Failure(Failure::InvalidCredentials)
        );

        // An empty authzid means the account itself, and still enters A1.
        client.authzid = Some("");
        let Progress::Success(ok) = run(&client.response(), Some(&chris)) else {
            panic!("empty authzid")
        };
        assert_eq!(ok.authorization_id, "chris");
    }

    #[test]
    fn steps_out_of_order() {
        let context = Context::new(0);
        let response = RFC_RESPONSE.as_bytes();

        // No initial response: that would be subsequent authentication.
        let mut mechanism = rfc_mechanism();
        assert_eq!(
            mechanism.start(Some(response)),
            Progress::Failure(Failure::Malformed)
        );
        assert_eq!(
            mechanism.respond(response),
            Progress::Failure(Failure::Malformed)
        );

        // A response before the challenge; credentials nobody asked for; a second start.
        let mut mechanism = rfc_mechanism();
        assert_eq!(
            mechanism.respond(response),
            Progress::Failure(Failure::Malformed)
        );
        let mut mechanism = rfc_mechanism();
        mechanism.start(None);
        assert_eq!(
            mechanism.credentials(Some(&chris()), &context),
            Progress::Failure(Failure::Malformed)
        );
        let mut mechanism = rfc_mechanism();
        mechanism.start(None);
        assert_eq!(mechanism.start(None), Progress::Failure(Failure::Malformed));

        // A second response while the lookup is pending.
        let mut mechanism = rfc_mechanism();
        mechanism.start(None);
        mechanism.respond(response);
        assert_eq!(
            mechanism.respond(response),
            Progress::Failure(Failure::Malformed)
        );

        // Nothing goes on after success, and credentials are asked for only once. (The
        // empty answer to rspauth is the protocol session's business, not the mechanism's.)
        let mut mechanism = rfc_mechanism();
        mechanism.start(None);
        mechanism.respond(response);
        assert!(matches!(
            mechanism.credentials(Some(&chris()), &context),
            Progress::Success(_)
        ));
        assert_eq!(
            mechanism.credentials(Some(&chris()), &context),
            Progress::Failure(Failure::Malformed)
        );
        assert_eq!(
            mechanism.respond(b""),
            Progress::Failure(Failure::Malformed)
        );
    }

    #[test]
    fn fuzz_entry_point_survives_odd_input() {
        fuzz_response(RFC_RESPONSE.as_bytes());
        fuzz_response(b"");
        fuzz_response(b"\"");
        fuzz_response(b"a=\"\\");
        fuzz_response(&[b','; 10_000]);
        fuzz_response(&[0xff; 100]);
        let mut bytes = RFC_RESPONSE.as_bytes().to_vec();
        for i in 0..bytes.len() {
            let original = bytes[i];
            for replacement in [b'"', b'\\', b',', b'=', b' ', 0, 0x80] {
                bytes[i] = replacement;
                fuzz_response(&bytes);
            }
            bytes[i] = original;
            fuzz_response(&bytes[..i]);
        }
    }
}
