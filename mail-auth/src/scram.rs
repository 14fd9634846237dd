//! SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677), server and client.
//!
//! SCRAM proves to the server that the client knows the password without sending it, proves
//! to the client that the server knows the account's keys, and with the `-PLUS` variant binds
//! the exchange to the TLS connection (RFC 5056), so a man in the middle who terminates TLS
//! cannot relay it. The server stores only [`ScramSecret`]: a salt, an iteration count,
//! StoredKey and ServerKey, none of which lets its holder log in as the user.
//!
//! An exchange has four messages (RFC 5802 section 3):
//!
//! ```text
//! C: n,,n=user,r=<client nonce>                        client-first-message
//! S: r=<client nonce><server nonce>,s=<salt>,i=4096     server-first-message
//! C: c=biws,r=<both nonces>,p=<ClientProof>            client-final-message
//! S: v=<ServerSignature>                                server-final-message
//! ```
//!
//! [`Scram`] is the server side, a [`ServerMechanism`]: it answers the client-first message
//! with [`Progress::Lookup`], the server-first message once it has the credentials, and
//! [`Progress::Success`] carrying the server-final message as additional data.
//! [`ScramClient`] is the client side, a [`ClientMechanism`].
//!
//! # Channel binding
//!
//! The host takes the binding data from its TLS library and passes it as a
//! [`ChannelBinding`]: `tls-exporter` (RFC 9266) on TLS 1.3, or `tls-server-end-point`
//! (RFC 5929) where the exporter is not available. A server that offers SCRAM-SHA-256-PLUS on a
//! connection must say so to its plain SCRAM-SHA-256 too ([`Scram::with_plus_advertised`]):
//! a client that supports binding but did not see `-PLUS` advertised sends the `y` flag, and
//! the server then knows that someone removed `-PLUS` from its list (RFC 5802 section 6).
//!
//! # One salt per account
//!
//! The server-first message carries one salt and one iteration count, before the server knows
//! which password the client will use. [`Credentials::set_password`] and
//! [`Credentials::add_app_password`] therefore give every password of an account the same
//! SCRAM salt, and the server checks the client's proof against each of them. Secrets made
//! some other way, with salts of their own, are checked only when they share the salt sent
//! (the primary password's when two-factor is off, otherwise the first app password's); they
//! still work with PLAIN and LOGIN.
//!
//! [`Credentials::set_password`]: crate::credentials::Credentials::set_password
//! [`Credentials::add_app_password`]: crate::credentials::Credentials::add_app_password
//!
//! # Preparing strings
//!
//! Passwords and user names are prepared with SASLprep (RFC 4013) as RFC 5802 section 5.1
//! asks, on both sides, so that `IX` and `Ⅸ` are the same password. The server prepares the
//! user name as a stored string (unassigned code points are refused), which is stricter than
//! the query-string preparation RFC 5802 allows.
//!
//! # Example
//!
//! ```
//! use mail_auth::credentials::{Credentials, DeriveOptions, PasswordSecrets};
//! use mail_auth::sasl::{ClientMechanism, Context, Progress, ServerMechanism};
//! use mail_auth::scram::{Scram, ScramClient};
//!
//! let options = DeriveOptions::default();
//! # // Cheap Argon2 for the doctest only; the defaults are what a server should use.
//! # let mut options = options;
//! # options.argon2.memory_kib = 64;
//! # options.argon2.iterations = 1;
//! let mut account = Credentials::new("user");
//! account.password = Some(PasswordSecrets::derive("user", b"pencil", &options).unwrap());
//!
//! let mut client = ScramClient::new("user", "pencil", None).unwrap();
//! let mut server = Scram::new();
//!
//! let client_first = client.initial_response().unwrap();
//! let Progress::Lookup { authentication_id } = server.start(Some(&client_first)) else {
//!     panic!("the server asks for the account");
//! };
//! assert_eq!(authentication_id, "user");
//!
//! let Progress::Challenge(server_first) = server.credentials(Some(&account), &Context::new(0))
//! else {
//!     panic!("the server sends its first message");
//! };
//! let client_final = client.respond(&server_first).unwrap();
//! let Progress::Success(done) = server.respond(&client_final) else {
//!     panic!("the password is right");
//! };
//! client.respond(&done.additional_data.unwrap()).unwrap();
//! assert!(client.server_verified());
//! ```

use std::fmt;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::Secret;
use crate::credentials::{CredentialError, Credentials, ct_eq, random_bytes};
use crate::sasl::{
    Authenticated, ClientError, ClientMechanism, Context, CredentialUsed, Failure, MAX_MESSAGE,
    MechanismName, Progress, ServerMechanism,
};

/// RFC 7677 section 4: the iteration count SHOULD be at least 4096; [`ScramSecret::derive`]
/// refuses less, and so does [`ScramClient`] when a server announces less.
pub const MIN_ITERATIONS: u32 = 4096;

/// The largest iteration count [`ScramClient`] accepts by default, so that a hostile server
/// cannot make the client spin for minutes; about a third of a second of PBKDF2 on a server
/// CPU. [`ScramClient::with_max_iterations`] changes it.
pub const DEFAULT_MAX_ITERATIONS: u32 = 1_000_000;

/// Length of a salt that [`crate::credentials::PasswordSecrets::derive`] makes; the salt the
/// server invents for an unknown account has the same length, so it looks alike.
const SALT_LEN: usize = 16;

/// Random bytes in a nonce: 18 bytes are 144 bits, 24 characters of base64 without padding.
const NONCE_BYTES: usize = 18;

/// The output length of SHA-256, and so of every key, signature and proof.
const KEY_LEN: usize = 32;

const NAME: &str = "SCRAM-SHA-256";
const NAME_PLUS: &str = "SCRAM-SHA-256-PLUS";

// ---------------------------------------------------------------------------------------------
// Stored keys

/// The keys an account stores for SCRAM-SHA-256 (RFC 5802 section 3).
///
/// StoredKey lets the server check a client's proof; ServerKey lets it prove itself to the
/// client. Neither lets its holder log in: the proof needs ClientKey, which only the password
/// gives. Whoever holds ServerKey can impersonate the server to clients, and both keys can be
/// attacked by guessing passwords at the iteration count's cost, so they are still secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramSecret {
    /// The salt, sent to the client in the server-first message.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count, sent with the salt.
    pub iterations: u32,
    /// StoredKey = H(ClientKey).
    pub stored_key: [u8; 32],
    /// ServerKey = HMAC(SaltedPassword, "Server Key").
    pub server_key: [u8; 32],
}

impl fmt::Debug for ScramSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramSecret")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramSecret {
    /// Derives the keys from a password (RFC 5802 section 3):
    ///
    /// ```text
    /// SaltedPassword = Hi(Normalize(password), salt, i)
    /// ClientKey      = HMAC(SaltedPassword, "Client Key")
    /// StoredKey      = H(ClientKey)
    /// ServerKey      = HMAC(SaltedPassword, "Server Key")
    /// ```
    ///
    /// `Normalize` is SASLprep. A password that is not UTF-8, or that SASLprep refuses, is
    /// [`CredentialError::InvalidPassword`]: no SCRAM client could send it. Fewer than
    /// [`MIN_ITERATIONS`] iterations is [`CredentialError::InvalidParameters`].
    pub fn derive(password: &[u8], salt: &[u8], iterations: u32) -> Result<Self, CredentialError> {
        if iterations < MIN_ITERATIONS {
            return Err(CredentialError::InvalidParameters);
        }
        let password =
            std::str::from_utf8(password).map_err(|_| CredentialError::InvalidPassword)?;
        let password = saslprep(password).ok_or(CredentialError::InvalidPassword)?;

        let keys = Keys::derive(password.as_bytes(), salt, iterations);
        Ok(Self {
            salt: salt.to_vec(),
            iterations,
            stored_key: keys.stored_key,
            server_key: keys.server_key,
        })
    }
}

/// The keys of RFC 5802 section 3, as both sides compute them from a password.
struct Keys {
    client_key: [u8; KEY_LEN],
    stored_key: [u8; KEY_LEN],
    server_key: [u8; KEY_LEN],
}

impl Keys {
    /// `password` is already prepared.
    fn derive(password: &[u8], salt: &[u8], iterations: u32) -> Self {
        // Hi() is PBKDF2 with HMAC as the PRF and one block of output (RFC 5802 section 2.2).
        let mut salted_password = [0u8; KEY_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut salted_password);

        let client_key = hmac_sha256(&salted_password, b"Client Key");
        Self {
            client_key,
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac_sha256(&salted_password, b"Server Key"),
        }
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; KEY_LEN] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn xor(a: &[u8; KEY_LEN], b: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// SASLprep (RFC 4013) as a stored string, or `None` when it refuses the string.
fn saslprep(text: &str) -> Option<String> {
    stringprep::saslprep(text)
        .ok()
        .map(|prepared| prepared.into_owned())
}

// ---------------------------------------------------------------------------------------------
// Channel binding

/// A channel-binding type a SCRAM-SHA-256-PLUS exchange can use (RFC 5056).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelBindingType {
    /// `tls-exporter` (RFC 9266): 32 bytes exported with the label
    /// `EXPORTER-Channel-Binding` and an empty context. The type to use with TLS 1.3, where
    /// `tls-unique` is not defined; with TLS 1.2 only when the extended master secret
    /// (RFC 7627) was negotiated.
    TlsExporter,
    /// `tls-server-end-point` (RFC 5929 section 4): the hash of the server's certificate,
    /// with the certificate's signature hash (SHA-256 for MD5 and SHA-1).
    TlsServerEndPoint,
}

impl ChannelBindingType {
    /// The name sent in the gs2 header (`p=tls-exporter`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TlsExporter => "tls-exporter",
            Self::TlsServerEndPoint => "tls-server-end-point",
        }
    }
}

/// The binding data of the TLS connection the exchange runs on, which the host reads from its
/// TLS library (both ends of a connection compute the same bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// Which binding the data is.
    pub kind: ChannelBindingType,
    /// The binding data (`cbind-data`, RFC 5802 section 7). It must not be empty: the
    /// grammar requires at least one byte, and a server given none fails every exchange.
    pub data: Vec<u8>,
}

impl fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBinding")
            .field("kind", &self.kind)
            .field("data", &format_args!("{} bytes", self.data.len()))
            .finish()
    }
}

impl ChannelBinding {
    /// Binding data of type `kind`.
    pub fn new(kind: ChannelBindingType, data: Vec<u8>) -> Self {
        Self { kind, data }
    }
}

/// A nonce given to `with_nonce` is not `1*printable` (RFC 5802 section 7: ASCII from `!` to
/// `~` without `,`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a SCRAM nonce is one or more printable ASCII characters other than ','")]
pub struct InvalidNonce;

/// A fresh nonce of [`NONCE_BYTES`] random bytes in base64, whose alphabet is all
/// `printable`.
fn random_nonce() -> Result<String, CredentialError> {
    Ok(BASE64.encode(random_bytes::<NONCE_BYTES>()?))
}

fn checked_nonce(nonce: &str) -> Result<String, InvalidNonce> {
    match printable(nonce) {
        Ok(()) => Ok(nonce.to_owned()),
        Err(Malformed) => Err(InvalidNonce),
    }
}

// ---------------------------------------------------------------------------------------------
// Grammar (RFC 5802 section 7)
//
// Every attribute value is free of ',' (saslnames escape it as "=2C"), so a message splits on
// ',' into its attributes before any rule runs.

/// A message does not follow RFC 5802 section 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Malformed;

type Parsed<T> = Result<T, Malformed>;

/// Letters that RFC 5802 gives a meaning. An extension named by one of them would be read one
/// way here and maybe another way elsewhere, so it is refused rather than ignored.
const DEFINED_ATTRIBUTES: &[u8] = b"anmrcsipve";

/// `gs2-cbind-flag = ("p=" cb-name) / "n" / "y"`
#[derive(Debug, Clone, PartialEq, Eq)]
enum CbindFlag {
    /// `n`: the client does not support channel binding.
    No,
    /// `y`: the client supports channel binding but thinks the server does not.
    ClientOnly,
    /// `p=cb-name`: the client requires channel binding of this type.
    Required(String),
}

/// `gs2-header = gs2-cbind-flag "," [ authzid ] ","`
#[derive(Debug, Clone, PartialEq, Eq)]
struct Gs2Header {
    flag: CbindFlag,
    /// The decoded `saslname` of the authzid, if the client sent one.
    authzid: Option<String>,
}

impl Gs2Header {
    /// The header as it goes on the wire (and into `c=`).
    fn encode(&self) -> String {
        let mut out = match &self.flag {
            CbindFlag::No => "n,".to_owned(),
            CbindFlag::ClientOnly => "y,".to_owned(),
            CbindFlag::Required(name) => format!("p={name},"),
        };
        if let Some(authzid) = &self.authzid {
            out.push_str("a=");
            out.push_str(&escape_saslname(authzid));
        }
        out.push(',');
        out
    }
}

/// `client-first-message = gs2-header client-first-message-bare`, borrowed from the message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientFirst<'a> {
    gs2_header: Gs2Header,
    /// The gs2 header exactly as sent, which `c=` must repeat.
    raw_gs2_header: &'a str,
    /// `client-first-message-bare` as sent, which enters the AuthMessage.
    bare: &'a str,
    /// The decoded, not yet prepared, user name.
    username: String,
    client_nonce: &'a str,
}

/// `client-final-message = client-final-message-without-proof "," proof`
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientFinal<'a> {
    /// The decoded `cbind-input`.
    channel_binding: Vec<u8>,
    nonce: &'a str,
    proof: Vec<u8>,
    /// `client-final-message-without-proof` as sent, which enters the AuthMessage.
    without_proof: &'a str,
}

/// `server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
/// ["," extensions]`
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

/// `server-final-message = (server-error / verifier) ["," extensions]`
#[derive(Debug, Clone, PartialEq, Eq)]
enum ServerFinal<'a> {
    /// `verifier = "v=" base64`: the decoded ServerSignature.
    Verifier(Vec<u8>),
    /// `server-error = "e=" server-error-value`
    Error(&'a str),
}

/// Decodes a message: bounded by [`MAX_MESSAGE`], UTF-8, and free of NUL, which no rule of
/// RFC 5802 section 7 allows (`value-safe-char` starts at %x01).
fn message_text(message: &[u8]) -> Parsed<&str> {
    if message.len() > MAX_MESSAGE || message.contains(&0) {
        return Err(Malformed);
    }
    std::str::from_utf8(message).map_err(|_| Malformed)
}

/// ```text
/// client-first-message = gs2-header client-first-message-bare
/// ```
fn client_first_message(input: &str) -> Parsed<ClientFirst<'_>> {
    let (gs2_header, bare) = gs2_header(input)?;
    let raw_gs2_header = &input[..input.len() - bare.len()];
    let (username, client_nonce) = client_first_message_bare(bare)?;
    Ok(ClientFirst {
        gs2_header,
        raw_gs2_header,
        bare,
        username,
        client_nonce,
    })
}

/// ```text
/// gs2-header = gs2-cbind-flag "," [ authzid ] ","
/// ```
///
/// Returns the header and the rest of the message.
fn gs2_header(input: &str) -> Parsed<(Gs2Header, &str)> {
    let (flag, rest) = input.split_once(',').ok_or(Malformed)?;
    let flag = gs2_cbind_flag(flag)?;

    let (authzid_field, rest) = rest.split_once(',').ok_or(Malformed)?;
    let authzid = match authzid_field {
        "" => None,
        field => Some(authzid(field)?),
    };

    Ok((Gs2Header { flag, authzid }, rest))
}

/// ```text
/// gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
/// ```
fn gs2_cbind_flag(field: &str) -> Parsed<CbindFlag> {
    match field {
        "n" => Ok(CbindFlag::No),
        "y" => Ok(CbindFlag::ClientOnly),
        _ => {
            let name = field.strip_prefix("p=").ok_or(Malformed)?;
            cb_name(name)?;
            Ok(CbindFlag::Required(name.to_owned()))
        }
    }
}

/// ```text
/// cb-name = 1*(ALPHA / DIGIT / "." / "-")
/// ```
fn cb_name(name: &str) -> Parsed<()> {
    let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    if name.is_empty() || !name.bytes().all(valid) {
        return Err(Malformed);
    }
    Ok(())
}

/// ```text
/// authzid = "a=" saslname
/// ```
fn authzid(field: &str) -> Parsed<String> {
    saslname(field.strip_prefix("a=").ok_or(Malformed)?)
}

/// ```text
/// client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
/// ```
///
/// Returns the decoded user name and the client nonce. A `reserved-mext` is refused: "In this
/// version of SCRAM, its presence in a client or a server message MUST cause authentication
/// failure" (RFC 5802 section 5.1).
fn client_first_message_bare(bare: &str) -> Parsed<(String, &str)> {
    let mut fields = bare.split(',');

    let first = fields.next().ok_or(Malformed)?;
    if first.starts_with("m=") {
        return Err(Malformed);
    }
    let username = username(first)?;

    let nonce = nonce(fields.next().ok_or(Malformed)?)?;
    extensions(fields)?;
    Ok((username, nonce))
}

/// ```text
/// username = "n=" saslname
/// ```
fn username(field: &str) -> Parsed<String> {
    saslname(field.strip_prefix("n=").ok_or(Malformed)?)
}

/// ```text
/// saslname = 1*(value-safe-char / "=2C" / "=3D")
/// ```
///
/// Returns the name with its escapes decoded. RFC 5802 section 5.1: a server that receives
/// `=` not followed by `2C` or `3D` MUST fail the exchange; the escapes are upper case there,
/// and only upper case is accepted.
fn saslname(value: &str) -> Parsed<String> {
    if value.is_empty() {
        return Err(Malformed);
    }

    let mut decoded = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('=') {
        decoded.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).ok_or(Malformed)?;
        decoded.push(match escape {
            "=2C" => ',',
            "=3D" => '=',
            _ => return Err(Malformed),
        });
        rest = &rest[at + 3..];
    }
    decoded.push_str(rest);
    Ok(decoded)
}

/// The inverse of [`saslname`]: `=` becomes `=3D`, then `,` becomes `=2C`.
fn escape_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// ```text
/// nonce   = "r=" c-nonce [s-nonce]
/// c-nonce = printable
/// s-nonce = printable
/// ```
///
/// Read as `1*printable`: the grammar's `printable` is one character, but its prose and every
/// implementation mean a string of them.
fn nonce(field: &str) -> Parsed<&str> {
    let nonce = field.strip_prefix("r=").ok_or(Malformed)?;
    printable(nonce)?;
    Ok(nonce)
}

/// ```text
/// printable = %x21-2B / %x2D-7E
///             ;; Printable ASCII except ",".
/// ```
///
/// Checked for `1*printable`.
fn printable(text: &str) -> Parsed<()> {
    let valid = |b: u8| matches!(b, 0x21..=0x2B | 0x2D..=0x7E);
    if text.is_empty() || !text.bytes().all(valid) {
        return Err(Malformed);
    }
    Ok(())
}

/// ```text
/// extensions = attr-val *("," attr-val)
///              ;; All extensions are optional,
///              ;; i.e., unrecognized attributes
///              ;; not defined in this document
///              ;; MUST be ignored.
/// ```
///
/// Unknown extensions are checked for their grammar and ignored; one that reuses a letter
/// RFC 5802 defines is refused ([`DEFINED_ATTRIBUTES`]).
fn extensions<'a>(fields: impl Iterator<Item = &'a str>) -> Parsed<()> {
    for field in fields {
        let (name, _) = attr_val(field)?;
        if DEFINED_ATTRIBUTES.contains(&name) {
            return Err(Malformed);
        }
    }
    Ok(())
}

/// ```text
/// attr-val = ALPHA "=" value
/// value    = 1*value-char
/// ```
///
/// Returns the attribute's letter and its value. `value-char` is any UTF-8 character but NUL
/// and `,`, which [`message_text`] and the split on `,` have already removed.
fn attr_val(field: &str) -> Parsed<(u8, &str)> {
    match field.as_bytes() {
        [name, b'=', _, ..] if name.is_ascii_alphabetic() => Ok((*name, &field[2..])),
        _ => Err(Malformed),
    }
}

/// ```text
/// base64 = *base64-4 [base64-3 / base64-2]
/// ```
///
/// Padding is required and must be canonical, as the rule says.
fn base64(value: &str) -> Parsed<Vec<u8>> {
    BASE64.decode(value).map_err(|_| Malformed)
}

/// ```text
/// client-final-message-without-proof = channel-binding "," nonce ["," extensions]
/// client-final-message = client-final-message-without-proof "," proof
/// ```
///
/// The proof is the last attribute by this rule: the AuthMessage covers everything before
/// it, so nothing may follow it.
fn client_final_message(input: &str) -> Parsed<ClientFinal<'_>> {
    let (without_proof, proof_field) = input.rsplit_once(',').ok_or(Malformed)?;
    let proof = proof(proof_field)?;

    let mut fields = without_proof.split(',');
    let channel_binding = channel_binding(fields.next().ok_or(Malformed)?)?;
    let nonce = nonce(fields.next().ok_or(Malformed)?)?;
    extensions(fields)?;

    Ok(ClientFinal {
        channel_binding,
        nonce,
        proof,
        without_proof,
    })
}

/// ```text
/// channel-binding = "c=" base64
///                   ;; base64 encoding of cbind-input.
/// ```
fn channel_binding(field: &str) -> Parsed<Vec<u8>> {
    base64(field.strip_prefix("c=").ok_or(Malformed)?)
}

/// ```text
/// proof = "p=" base64
/// ```
///
/// A SHA-256 proof is 32 bytes; any other length cannot be one.
fn proof(field: &str) -> Parsed<Vec<u8>> {
    let proof = base64(field.strip_prefix("p=").ok_or(Malformed)?)?;
    if proof.len() != KEY_LEN {
        return Err(Malformed);
    }
    Ok(proof)
}

/// ```text
/// server-first-message = [reserved-mext ","] nonce "," salt ","
///                        iteration-count ["," extensions]
/// ```
///
/// A `reserved-mext` is refused, as RFC 5802 section 5.1 requires of both ends.
fn server_first_message(input: &str) -> Parsed<ServerFirst<'_>> {
    let mut fields = input.split(',');

    let first = fields.next().ok_or(Malformed)?;
    if first.starts_with("m=") {
        return Err(Malformed);
    }
    let nonce = nonce(first)?;
    let salt = salt(fields.next().ok_or(Malformed)?)?;
    let iterations = iteration_count(fields.next().ok_or(Malformed)?)?;
    extensions(fields)?;

    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

/// ```text
/// salt = "s=" base64
/// ```
///
/// An empty salt is refused: it would make the stored keys the same for every account with
/// the same password.
fn salt(field: &str) -> Parsed<Vec<u8>> {
    let salt = base64(field.strip_prefix("s=").ok_or(Malformed)?)?;
    if salt.is_empty() {
        return Err(Malformed);
    }
    Ok(salt)
}

/// ```text
/// iteration-count = "i=" posit-number
/// posit-number    = %x31-39 *DIGIT
/// ```
///
/// A count beyond `u32` is refused (PBKDF2 counts in 32 bits).
fn iteration_count(field: &str) -> Parsed<u32> {
    let number = field.strip_prefix("i=").ok_or(Malformed)?;
    match number.as_bytes() {
        [b'1'..=b'9', rest @ ..] if rest.iter().all(u8::is_ascii_digit) => {
            number.parse().map_err(|_| Malformed)
        }
        _ => Err(Malformed),
    }
}

/// ```text
/// server-final-message = (server-error / verifier) ["," extensions]
/// server-error         = "e=" server-error-value
/// verifier             = "v=" base64
/// ```
fn server_final_message(input: &str) -> Parsed<ServerFinal<'_>> {
    let mut fields = input.split(',');

    let first = fields.next().ok_or(Malformed)?;
    let outcome = if let Some(error) = first.strip_prefix("e=") {
        // server-error-value-ext = value
        if error.is_empty() {
            return Err(Malformed);
        }
        ServerFinal::Error(error)
    } else {
        ServerFinal::Verifier(base64(first.strip_prefix("v=").ok_or(Malformed)?)?)
    };
    extensions(fields)?;

    Ok(outcome)
}

// ---------------------------------------------------------------------------------------------
// Server

/// The server side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, a [`ServerMechanism`].
///
/// The host calls [`ServerMechanism::start`] with the client-first message (or `None`, and
/// the mechanism answers with an empty challenge that asks for it), looks up the account the
/// mechanism names in [`Progress::Lookup`], hands it to [`ServerMechanism::credentials`],
/// sends the server-first challenge, and gives the client-final message to
/// [`ServerMechanism::respond`]. On success, [`Authenticated::additional_data`] holds the
/// server-final message (`v=...`), which the protocol sends with its success reply or as a
/// last challenge.
///
/// Every failure is a [`Failure`]: grammar errors and calls out of order are
/// [`Failure::Malformed`]; a wrong proof, an unknown account, a refused authorization
/// identity and every channel-binding disagreement (which RFC 5802 section 6 treats as a
/// possible attack) are [`Failure::InvalidCredentials`]. The `e=` server-error messages of
/// RFC 5802 are not sent: the protocol's failure reply carries the outcome.
pub struct Scram {
    binding: ServerBinding,
    /// The server nonce: given by `with_nonce`, or drawn when the exchange starts.
    server_nonce: Option<String>,
    unknown_user: UnknownUser,
    state: ServerState,
}

/// What the server knows about channel binding on this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ServerBinding {
    /// SCRAM-SHA-256; `plus_advertised` when the host also offers SCRAM-SHA-256-PLUS here.
    Unbound { plus_advertised: bool },
    /// SCRAM-SHA-256-PLUS, bound to this channel.
    Plus(ChannelBinding),
}

/// How the server pretends an account without SCRAM keys exists.
#[derive(Clone, Copy)]
struct UnknownUser {
    iterations: u32,
    /// The key that derives the invented salt; `None`: a random key for this process.
    key: Option<[u8; KEY_LEN]>,
}

enum ServerState {
    /// Nothing received yet.
    Start,
    /// An empty challenge was sent to ask for the client-first message.
    AwaitingClientFirst,
    /// The account was asked for.
    AwaitingCredentials(ClientFirstOwned),
    /// The server-first message was sent.
    AwaitingClientFinal(Box<Exchange>),
    /// Succeeded or failed; every further call is out of order.
    Done,
}

/// What the server keeps of the client-first message.
struct ClientFirstOwned {
    raw_gs2_header: String,
    authzid: Option<String>,
    bare: String,
    /// Prepared with SASLprep.
    username: String,
    client_nonce: String,
}

/// What the server keeps between the server-first and the client-final messages.
struct Exchange {
    first: ClientFirstOwned,
    server_first: String,
    /// `c-nonce s-nonce`, which the client-final message must repeat.
    nonce: String,
    /// Whose credentials these are.
    authentication_id: String,
    /// The account's secrets that share the salt sent; empty for an unknown account.
    candidates: Vec<Candidate>,
    /// Whether the account may act as the authzid; decided at the end, so that a refusal
    /// looks like any other failure.
    authzid_allowed: bool,
}

/// One secret the client may prove it knows.
struct Candidate {
    used: CredentialUsed,
    stored_key: [u8; KEY_LEN],
    server_key: [u8; KEY_LEN],
}

impl Default for Scram {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Scram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            ServerState::Start => "Start",
            ServerState::AwaitingClientFirst => "AwaitingClientFirst",
            ServerState::AwaitingCredentials(_) => "AwaitingCredentials",
            ServerState::AwaitingClientFinal(_) => "AwaitingClientFinal",
            ServerState::Done => "Done",
        };
        f.debug_struct("Scram")
            .field("name", &self.name())
            .field("binding", &self.binding)
            .field("state", &state)
            .finish()
    }
}

impl Scram {
    /// SCRAM-SHA-256 without channel binding, on a connection where SCRAM-SHA-256-PLUS is
    /// not offered ([`Scram::with_plus_advertised`] says otherwise).
    pub fn new() -> Self {
        Self {
            binding: ServerBinding::Unbound {
                plus_advertised: false,
            },
            server_nonce: None,
            unknown_user: UnknownUser {
                iterations: MIN_ITERATIONS,
                key: None,
            },
            state: ServerState::Start,
        }
    }

    /// SCRAM-SHA-256-PLUS, bound to the TLS connection whose binding data the host read
    /// from its TLS library. Clients must use the same binding type (`p=` in the gs2
    /// header); the others fail.
    pub fn plus(channel_binding: ChannelBinding) -> Self {
        Self {
            binding: ServerBinding::Plus(channel_binding),
            ..Self::new()
        }
    }

    /// Tells SCRAM-SHA-256 whether SCRAM-SHA-256-PLUS is advertised on this connection.
    /// When it is, a client that sends the `y` flag (it supports binding but saw no
    /// `-PLUS`) has had the mechanism list tampered with, and fails (RFC 5802 section 6).
    /// It has no effect on SCRAM-SHA-256-PLUS.
    pub fn with_plus_advertised(mut self, advertised: bool) -> Self {
        if let ServerBinding::Unbound { plus_advertised } = &mut self.binding {
            *plus_advertised = advertised;
        }
        self
    }

    /// Uses `server_nonce` instead of a random one: for tests and test vectors only, since a
    /// predictable nonce lets a recorded exchange be replayed.
    pub fn with_nonce(mut self, server_nonce: &str) -> Result<Self, InvalidNonce> {
        self.server_nonce = Some(checked_nonce(server_nonce)?);
        Ok(self)
    }

    /// The iteration count announced for an account that does not exist or has no SCRAM
    /// keys (default and minimum [`MIN_ITERATIONS`], below which no real account's keys can
    /// be derived). Set it to the count real accounts use
    /// ([`crate::credentials::DeriveOptions::scram_iterations`]) so the two look alike.
    pub fn with_unknown_user_iterations(mut self, iterations: u32) -> Self {
        self.unknown_user.iterations = iterations.max(MIN_ITERATIONS);
        self
    }

    /// The key from which the salts of unknown accounts are derived (HMAC-SHA-256 of the user
    /// name). By default it is random for each process, so an unknown account's salt is
    /// stable while the server runs but changes when it restarts, which a patient client
    /// can notice; a host that keeps a secret key across restarts removes that difference.
    pub fn with_unknown_user_key(mut self, key: [u8; 32]) -> Self {
        self.unknown_user.key = Some(key);
        self
    }

    /// Reads the client-first message, checks its channel-binding flag, and asks for the
    /// account.
    fn client_first(&mut self, message: &[u8]) -> Progress {
        let Ok(first) = message_text(message).and_then(client_first_message) else {
            return self.fail(Failure::Malformed);
        };

        // RFC 5802 section 5.1: the server prepares the user name with SASLprep and fails
        // when that fails or leaves nothing.
        let username = match saslprep(&first.username) {
            Some(name) if !name.is_empty() => name,
            _ => return self.fail(Failure::Malformed),
        };

        if !self.binding_flag_acceptable(&first.gs2_header.flag) {
            return self.fail(Failure::InvalidCredentials);
        }

        // The nonce is drawn now, so that `new()` cannot fail.
        if self.server_nonce.is_none() {
            match random_nonce() {
                Ok(nonce) => self.server_nonce = Some(nonce),
                Err(_) => return self.fail(Failure::Temporary),
            }
        }

        self.state = ServerState::AwaitingCredentials(ClientFirstOwned {
            raw_gs2_header: first.raw_gs2_header.to_owned(),
            authzid: first.gs2_header.authzid,
            bare: first.bare.to_owned(),
            username: username.clone(),
            client_nonce: first.client_nonce.to_owned(),
        });
        Progress::Lookup {
            authentication_id: username,
        }
    }

    /// RFC 5802 section 6: whether the client's channel-binding flag agrees with what this
    /// server does.
    fn binding_flag_acceptable(&self, flag: &CbindFlag) -> bool {
        match (&self.binding, flag) {
            // The client cannot bind: fine for SCRAM-SHA-256, but -PLUS exists to bind.
            (ServerBinding::Unbound { .. }, CbindFlag::No) => true,

            // "If the flag is set to "y" and the server supports channel binding, the server
            // MUST fail authentication": someone removed -PLUS from the list the client saw.
            (ServerBinding::Unbound { plus_advertised }, CbindFlag::ClientOnly) => !plus_advertised,

            // The -PLUS names exist to negotiate binding (RFC 5802 sections 4 and 6): a
            // client that binds selects SCRAM-SHA-256-PLUS, and this mechanism has no binding
            // data to check its `c=` against.
            (ServerBinding::Unbound { .. }, CbindFlag::Required(_)) => false,

            // "If the channel binding flag was "p" and the server does not support the
            // indicated channel binding type, then the server MUST fail authentication."
            // Empty binding data means the host had none to give: nothing can be bound.
            (ServerBinding::Plus(binding), CbindFlag::Required(name)) => {
                name == binding.kind.as_str() && !binding.data.is_empty()
            }
            (ServerBinding::Plus(_), CbindFlag::No | CbindFlag::ClientOnly) => false,
        }
    }

    /// Chooses the secrets the client will be checked against and sends the server-first
    /// message.
    fn server_first(
        &mut self,
        first: ClientFirstOwned,
        credentials: Option<&Credentials>,
    ) -> Progress {
        // The salt sent must be the one the client's keys were derived with, so only the
        // first SCRAM secret's salt can be sent; the others that share it stay candidates
        // (see the module documentation, "One salt per account").
        let mut secrets = credentials
            .into_iter()
            .flat_map(Credentials::challenge_response_candidates)
            .filter_map(|(used, secrets)| secrets.scram_sha256.as_ref().map(|s| (used, s)))
            .peekable();
        let chosen = secrets.peek().map(|(_, s)| (s.salt.clone(), s.iterations));
        let candidates: Vec<Candidate> = match &chosen {
            Some((salt, iterations)) => secrets
                .filter(|(_, s)| s.salt == *salt && s.iterations == *iterations)
                .map(|(used, s)| Candidate {
                    used,
                    stored_key: s.stored_key,
                    server_key: s.server_key,
                })
                .collect(),
            None => Vec::new(),
        };

        // An account that does not exist, or has no SCRAM keys, gets a salt that looks like
        // a real one and stays the same for the same name, so the client cannot tell
        // (the contract of ServerMechanism); it fails at the end like a wrong password.
        let (salt, iterations) = match chosen {
            Some(chosen) => chosen,
            None => match self.unknown_user_salt(&first.username) {
                Some(salt) => (salt, self.unknown_user.iterations),
                None => return self.fail(Failure::Temporary),
            },
        };

        let server_nonce = self.server_nonce.as_deref().unwrap_or_default();
        let nonce = format!("{}{server_nonce}", first.client_nonce);
        let server_first = format!("r={nonce},s={},i={iterations}", BASE64.encode(&salt));

        let authzid = first.authzid.as_deref().unwrap_or_default();
        let authzid_allowed = credentials.is_some_and(|c| c.may_act_as(authzid));
        let authentication_id = match credentials {
            Some(credentials) => credentials.authentication_id.clone(),
            None => first.username.clone(),
        };

        let challenge = server_first.clone().into_bytes();
        self.state = ServerState::AwaitingClientFinal(Box::new(Exchange {
            first,
            server_first,
            nonce,
            authentication_id,
            candidates,
            authzid_allowed,
        }));
        Progress::Challenge(challenge)
    }

    /// HMAC-SHA-256 of the user name under the unknown-user key, cut to a salt's length.
    fn unknown_user_salt(&self, username: &str) -> Option<Vec<u8>> {
        static PROCESS_KEY: OnceLock<[u8; KEY_LEN]> = OnceLock::new();
        let key = match self.unknown_user.key {
            Some(key) => key,
            None => match PROCESS_KEY.get() {
                Some(key) => *key,
                None => {
                    let fresh = random_bytes::<KEY_LEN>().ok()?;
                    *PROCESS_KEY.get_or_init(|| fresh)
                }
            },
        };

        let mut input = b"SCRAM-SHA-256 salt for an unknown user\0".to_vec();
        input.extend_from_slice(username.as_bytes());
        Some(hmac_sha256(&key, &input)[..SALT_LEN].to_vec())
    }

    /// Checks the client-final message: channel binding, nonce, and proof.
    fn client_final(&mut self, exchange: Box<Exchange>, message: &[u8]) -> Progress {
        let Ok(last) = message_text(message).and_then(client_final_message) else {
            return self.fail(Failure::Malformed);
        };

        // RFC 5802 section 5.1: `c=` must be exactly the gs2 header the client sent, followed
        // by the channel's binding data for "p". Comparing the header again catches a
        // man in the middle who rewrote the flag of the first message (a `y` made `n`).
        let mut cbind_input = exchange.first.raw_gs2_header.as_bytes().to_vec();
        if let ServerBinding::Plus(binding) = &self.binding {
            cbind_input.extend_from_slice(&binding.data);
        }
        if last.channel_binding != cbind_input {
            return self.fail(Failure::InvalidCredentials);
        }

        // The nonce must be the one of the server-first message, or the proof could be one
        // recorded from another exchange.
        if last.nonce != exchange.nonce {
            return self.fail(Failure::InvalidCredentials);
        }

        // AuthMessage = client-first-message-bare "," server-first-message ","
        //               client-final-message-without-proof
        let auth_message = format!(
            "{},{},{}",
            exchange.first.bare, exchange.server_first, last.without_proof
        );
        let proof: [u8; KEY_LEN] = last
            .proof
            .as_slice()
            .try_into()
            .expect("proof() checks the length");

        let Some(candidate) = verify_proof(&exchange.candidates, auth_message.as_bytes(), &proof)
        else {
            return self.fail(Failure::InvalidCredentials);
        };
        if !exchange.authzid_allowed {
            return self.fail(Failure::InvalidCredentials);
        }

        // ServerSignature = HMAC(ServerKey, AuthMessage), sent as "v=" so the client knows
        // the server holds the account's keys.
        let server_signature = hmac_sha256(&candidate.server_key, auth_message.as_bytes());
        let server_final = format!("v={}", BASE64.encode(server_signature));

        let authorization_id = match exchange.first.authzid {
            Some(authzid) if !authzid.eq_ignore_ascii_case(&exchange.authentication_id) => authzid,
            _ => exchange.authentication_id.clone(),
        };
        let authenticated = Authenticated {
            authentication_id: exchange.authentication_id.clone(),
            authorization_id,
            credential: candidate.used.clone(),
            totp_step: None,
            additional_data: Some(server_final.into_bytes()),
        };
        self.state = ServerState::Done;
        Progress::Success(authenticated)
    }

    fn fail(&mut self, failure: Failure) -> Progress {
        self.state = ServerState::Done;
        Progress::Failure(failure)
    }
}

/// RFC 5802 section 3: the first candidate whose StoredKey the proof opens.
///
/// ```text
/// ClientSignature = HMAC(StoredKey, AuthMessage)
/// ClientKey       = ClientProof XOR ClientSignature
/// accept when H(ClientKey) == StoredKey
/// ```
///
/// Every candidate is checked, and a stand-in when there is none, so the time taken does not
/// say which matched or whether the account exists.
fn verify_proof<'a>(
    candidates: &'a [Candidate],
    auth_message: &[u8],
    proof: &[u8; KEY_LEN],
) -> Option<&'a Candidate> {
    let opens = |stored_key: &[u8; KEY_LEN]| {
        let client_signature = hmac_sha256(stored_key, auth_message);
        let client_key = xor(proof, &client_signature);
        ct_eq(&Sha256::digest(client_key), stored_key)
    };

    if candidates.is_empty() {
        std::hint::black_box(opens(&[0; KEY_LEN]));
        return None;
    }

    let mut matched = None;
    for candidate in candidates {
        if opens(&candidate.stored_key) && matched.is_none() {
            matched = Some(candidate);
        }
    }
    matched
}

impl ServerMechanism for Scram {
    fn name(&self) -> MechanismName {
        let name = match self.binding {
            ServerBinding::Unbound { .. } => NAME,
            ServerBinding::Plus(_) => NAME_PLUS,
        };
        MechanismName::new(name).expect("both SCRAM names are valid mechanism names")
    }

    fn start(&mut self, initial_response: Option<&[u8]>) -> Progress {
        if !matches!(self.state, ServerState::Start) {
            return self.fail(Failure::Malformed);
        }

        match initial_response {
            Some(message) => self.client_first(message),
            // SCRAM is client-first (RFC 5802 section 5): an empty challenge asks for it.
            None => {
                self.state = ServerState::AwaitingClientFirst;
                Progress::Challenge(Vec::new())
            }
        }
    }

    fn respond(&mut self, response: &[u8]) -> Progress {
        match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::AwaitingClientFirst => self.client_first(response),
            ServerState::AwaitingClientFinal(exchange) => self.client_final(exchange, response),
            _ => self.fail(Failure::Malformed),
        }
    }

    fn credentials(&mut self, credentials: Option<&Credentials>, _context: &Context) -> Progress {
        match std::mem::replace(&mut self.state, ServerState::Done) {
            ServerState::AwaitingCredentials(first) => self.server_first(first, credentials),
            _ => self.fail(Failure::Malformed),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Client

/// What a [`ScramClient`] does about channel binding (RFC 5802 section 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientChannelBinding {
    /// The client cannot bind (no TLS, or no binding data): flag `n`, SCRAM-SHA-256.
    Unsupported,
    /// The client could bind, but the server did not advertise SCRAM-SHA-256-PLUS: flag `y`,
    /// SCRAM-SHA-256, so a server that does support binding detects the downgrade.
    NotOffered,
    /// Bind to this channel: flag `p`, SCRAM-SHA-256-PLUS.
    Bind(ChannelBinding),
}

/// Why a [`ScramClient`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScramClientError {
    /// The user name is empty or SASLprep refuses it.
    #[error("the user name is empty or contains characters that are not allowed")]
    InvalidUsername,
    /// SASLprep refuses the password.
    #[error("the password contains characters that are not allowed")]
    InvalidPassword,
    /// The authorization identity is empty or contains NUL.
    #[error("the authorization identity is empty or contains NUL")]
    InvalidAuthorizationId,
    /// No randomness for the nonce.
    #[error("no randomness available from the operating system")]
    Random,
}

/// The client side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, a [`ClientMechanism`].
///
/// [`ClientMechanism::initial_response`] gives the client-first message (a server that sends
/// an empty challenge first gets it from [`ClientMechanism::respond`] instead); `respond`
/// answers the server-first message with the client-final one, and checks the server-final
/// message, answering with an empty response.
///
/// A session must not take the protocol's success reply as proof of the server unless
/// [`ScramClient::server_verified`] is true: a server that skips the server-final message
/// has not shown that it knows the account's keys.
pub struct ScramClient {
    /// Prepared with SASLprep.
    username: String,
    /// Prepared with SASLprep.
    password: Secret,
    authzid: Option<String>,
    binding: ClientChannelBinding,
    client_nonce: String,
    max_iterations: u32,
    state: ClientState,
}

enum ClientState {
    /// Nothing sent yet.
    Initial,
    /// The client-first message was sent.
    SentFirst { gs2_header: String, bare: String },
    /// The client-final message was sent.
    SentFinal { server_signature: [u8; KEY_LEN] },
    /// The server-final message proved the server.
    Verified,
    /// The exchange failed.
    Failed,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            ClientState::Initial => "Initial",
            ClientState::SentFirst { .. } => "SentFirst",
            ClientState::SentFinal { .. } => "SentFinal",
            ClientState::Verified => "Verified",
            ClientState::Failed => "Failed",
        };
        f.debug_struct("ScramClient")
            .field("username", &self.username)
            .field("authzid", &self.authzid)
            .field("binding", &self.binding)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// A SCRAM-SHA-256 client for `username` with `password`, acting as `authzid` when one
    /// is given. Both strings are prepared with SASLprep (RFC 5802 section 5.1).
    pub fn new(
        username: &str,
        password: &str,
        authzid: Option<&str>,
    ) -> Result<Self, ScramClientError> {
        let username = match saslprep(username) {
            Some(name) if !name.is_empty() => name,
            _ => return Err(ScramClientError::InvalidUsername),
        };
        let password = saslprep(password).ok_or(ScramClientError::InvalidPassword)?;
        if authzid.is_some_and(|id| id.is_empty() || id.contains('\0')) {
            return Err(ScramClientError::InvalidAuthorizationId);
        }
        let client_nonce = random_nonce().map_err(|_| ScramClientError::Random)?;

        Ok(Self {
            username,
            password: Secret::new(password.into_bytes()),
            authzid: authzid.map(str::to_owned),
            binding: ClientChannelBinding::Unsupported,
            client_nonce,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            state: ClientState::Initial,
        })
    }

    /// Sets what the client does about channel binding; [`ClientChannelBinding::Bind`] makes
    /// it SCRAM-SHA-256-PLUS.
    pub fn with_channel_binding(mut self, binding: ClientChannelBinding) -> Self {
        self.binding = binding;
        self
    }

    /// Uses `client_nonce` instead of a random one: for tests and test vectors only.
    pub fn with_nonce(mut self, client_nonce: &str) -> Result<Self, InvalidNonce> {
        self.client_nonce = checked_nonce(client_nonce)?;
        Ok(self)
    }

    /// The largest iteration count the client accepts from a server (default
    /// [`DEFAULT_MAX_ITERATIONS`]); never below [`MIN_ITERATIONS`].
    pub fn with_max_iterations(mut self, max_iterations: u32) -> Self {
        self.max_iterations = max_iterations.max(MIN_ITERATIONS);
        self
    }

    /// Whether the server proved, with its server-final message, that it holds the
    /// account's keys.
    pub fn server_verified(&self) -> bool {
        matches!(self.state, ClientState::Verified)
    }

    /// ```text
    /// client-first-message = gs2-header client-first-message-bare
    /// ```
    fn client_first(&mut self) -> Vec<u8> {
        let flag = match &self.binding {
            ClientChannelBinding::Unsupported => CbindFlag::No,
            ClientChannelBinding::NotOffered => CbindFlag::ClientOnly,
            ClientChannelBinding::Bind(binding) => {
                CbindFlag::Required(binding.kind.as_str().to_owned())
            }
        };
        let gs2_header = Gs2Header {
            flag,
            authzid: self.authzid.clone(),
        }
        .encode();
        let bare = format!(
            "n={},r={}",
            escape_saslname(&self.username),
            self.client_nonce
        );

        let message = format!("{gs2_header}{bare}").into_bytes();
        self.state = ClientState::SentFirst { gs2_header, bare };
        message
    }

    /// Answers the server-first message with the client-final message.
    fn client_final(
        &mut self,
        gs2_header: &str,
        bare: &str,
        challenge: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let server_first = message_text(challenge).map_err(|_| ClientError::MalformedChallenge)?;
        let parsed =
            server_first_message(server_first).map_err(|_| ClientError::MalformedChallenge)?;

        // RFC 5802 section 5.1: the nonce must begin with the client's and the server must
        // add its own part, or the exchange could be a replay.
        let fresh = parsed
            .nonce
            .strip_prefix(self.client_nonce.as_str())
            .is_some_and(|server_part| !server_part.is_empty());
        if !fresh {
            return Err(ClientError::MalformedChallenge);
        }

        // A count below RFC 7677's minimum lets whoever answered in the server's place
        // guess the password from the proof cheaply; one above the limit is a way to burn
        // the client's CPU.
        if !(MIN_ITERATIONS..=self.max_iterations).contains(&parsed.iterations) {
            return Err(ClientError::MalformedChallenge);
        }

        let keys = Keys::derive(self.password.expose(), &parsed.salt, parsed.iterations);

        // cbind-input = gs2-header [ cbind-data ]
        let mut cbind_input = gs2_header.as_bytes().to_vec();
        if let ClientChannelBinding::Bind(binding) = &self.binding {
            cbind_input.extend_from_slice(&binding.data);
        }
        let without_proof = format!("c={},r={}", BASE64.encode(&cbind_input), parsed.nonce);

        // ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage)
        let auth_message = format!("{bare},{server_first},{without_proof}");
        let client_signature = hmac_sha256(&keys.stored_key, auth_message.as_bytes());
        let proof = xor(&keys.client_key, &client_signature);
        let server_signature = hmac_sha256(&keys.server_key, auth_message.as_bytes());

        self.state = ClientState::SentFinal { server_signature };
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// Checks the server-final message against the ServerSignature the client computed.
    fn server_final(
        &mut self,
        server_signature: &[u8; KEY_LEN],
        challenge: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let text = message_text(challenge).map_err(|_| ClientError::MalformedChallenge)?;
        match server_final_message(text).map_err(|_| ClientError::MalformedChallenge)? {
            ServerFinal::Verifier(signature) if ct_eq(&signature, server_signature) => {
                self.state = ClientState::Verified;
                Ok(Vec::new())
            }
            // A wrong signature, or the server's own report that the exchange failed: either
            // way the server has not proved itself.
            ServerFinal::Verifier(_) | ServerFinal::Error(_) => Err(ClientError::ServerNotVerified),
        }
    }
}

impl ClientMechanism for ScramClient {
    fn name(&self) -> MechanismName {
        let name = match self.binding {
            ClientChannelBinding::Bind(_) => NAME_PLUS,
            _ => NAME,
        };
        MechanismName::new(name).expect("both SCRAM names are valid mechanism names")
    }

    /// The client-first message, or `None` once the exchange has begun.
    fn initial_response(&mut self) -> Option<Vec<u8>> {
        matches!(self.state, ClientState::Initial).then(|| self.client_first())
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ClientError> {
        let result = match std::mem::replace(&mut self.state, ClientState::Failed) {
            // The server sent an empty challenge instead of taking an initial response.
            ClientState::Initial if challenge.is_empty() => Ok(self.client_first()),
            ClientState::SentFirst { gs2_header, bare } => {
                self.client_final(&gs2_header, &bare, challenge)
            }
            ClientState::SentFinal { server_signature } => {
                self.server_final(&server_signature, challenge)
            }
            _ => Err(ClientError::UnexpectedChallenge),
        };
        if result.is_err() {
            self.state = ClientState::Failed;
        }
        result
    }

    fn finish(&mut self) -> Result<(), ClientError> {
        // RFC 5802 section 5: the client must not trust a success without the server's
        // signature, or a server that never knew the keys could pass as the real one.
        if self.server_verified() {
            Ok(())
        } else {
            Err(ClientError::ServerNotVerified)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fuzzing

/// The account the fuzz harness authenticates against: RFC 7677's `user` / `pencil`.
fn fuzz_credentials() -> &'static Credentials {
    static CREDENTIALS: OnceLock<Credentials> = OnceLock::new();
    CREDENTIALS.get_or_init(|| {
        let salt = BASE64
            .decode("W22ZaJ0SNY7soEsUEjb6gQ==")
            .expect("valid base64");
        let secret = ScramSecret::derive(b"pencil", &salt, MIN_ITERATIONS).expect("valid password");
        let mut credentials = Credentials::new("user");
        credentials.password = Some(crate::credentials::PasswordSecrets {
            argon2: String::new(),
            cram_md5: None,
            digest_md5: Vec::new(),
            scram_sha256: Some(secret),
        });
        credentials.authorized_ids.push("shared".into());
        credentials
    })
}

/// The fuzz target's harness: the parsers on `data`, then whole exchanges in which `data`'s
/// first line is the client-first message and the rest the client-final one, and a client
/// that reads the same two parts as server messages. Panics only when an invariant breaks.
///
/// The server nonce is RFC 7677's, so a seed can carry the RFC's exchange and reach success.
#[doc(hidden)]
pub fn fuzz_messages(data: &[u8]) {
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";

    // The parsers never panic, and what the client-first and client-final parsers accept
    // encodes back to a message they read the same way.
    if let Ok(text) = message_text(data) {
        if let Ok(first) = client_first_message(text) {
            let bare = format!(
                "n={},r={}",
                escape_saslname(&first.username),
                first.client_nonce
            );
            let message = format!("{}{bare}", first.gs2_header.encode());
            let again = client_first_message(&message).expect("an encoded client-first parses");
            assert_eq!(again.gs2_header, first.gs2_header);
            assert_eq!(
                (again.username, again.client_nonce),
                (first.username, first.client_nonce)
            );
        }
        if let Ok(last) = client_final_message(text) {
            let message = format!(
                "c={},r={},p={}",
                BASE64.encode(&last.channel_binding),
                last.nonce,
                BASE64.encode(&last.proof)
            );
            let again = client_final_message(&message).expect("an encoded client-final parses");
            assert_eq!(
                (again.channel_binding, again.nonce, again.proof),
                (last.channel_binding, last.nonce, last.proof)
            );
        }
        let _ = server_first_message(text);
        let _ = server_final_message(text);
    }

    // Whole exchanges, under each channel-binding setting, with and without the account.
    let (first, last) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let binding = ChannelBinding::new(ChannelBindingType::TlsExporter, b"fuzz-binding".to_vec());
    for known in [true, false] {
        for server in [
            Scram::new(),
            Scram::new().with_plus_advertised(true),
            Scram::plus(binding.clone()),
        ] {
            let mut server = server.with_nonce(SERVER_NONCE).expect("valid nonce");
            fuzz_exchange(&mut server, known.then(fuzz_credentials), first, last);
        }
    }

    // A client reading the two parts as the server-first and server-final messages; the
    // iteration limit keeps each run short.
    let client = ScramClient::new("user", "pencil", None).expect("valid user");
    let mut client = client
        .with_nonce(CLIENT_NONCE)
        .expect("valid nonce")
        .with_max_iterations(MIN_ITERATIONS);
    let _ = client.initial_response();
    if client.respond(first).is_ok() {
        let _ = client.respond(last);
    }
    assert!(
        client.respond(b"").is_err(),
        "a finished client takes no more challenges"
    );
}

fn fuzz_exchange(server: &mut Scram, credentials: Option<&Credentials>, first: &[u8], last: &[u8]) {
    let context = Context::new(0);
    let mut progress = server.start(Some(first));
    if let Progress::Lookup { .. } = progress {
        progress = server.credentials(credentials, &context);
    }
    if let Progress::Challenge(server_first) = &progress {
        assert!(server_first.starts_with(b"r="), "a server-first message");
        progress = server.respond(last);
    }

    if let Progress::Success(authenticated) = &progress {
        assert!(credentials.is_some(), "success without an account");
        let data = authenticated.additional_data.as_deref().unwrap_or_default();
        assert!(
            data.starts_with(b"v="),
            "success carries the server signature"
        );
    }
    assert_eq!(
        server.respond(last),
        Progress::Failure(Failure::Malformed),
        "a finished exchange takes no more messages"
    );
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    use super::*;
    use crate::credentials::{AppPassword, PasswordSecrets};
    use crate::totp::TotpState;

    const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";

    // RFC 7677 section 3, the whole exchange.
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn context() -> Context {
        Context::new(0)
    }

    fn secrets(password: &str, salt: &[u8]) -> PasswordSecrets {
        PasswordSecrets {
            argon2: String::new(),
            cram_md5: None,
            digest_md5: Vec::new(),
            scram_sha256: Some(ScramSecret::derive(password.as_bytes(), salt, 4096).unwrap()),
        }
    }

    /// RFC 7677's account: `user` with password `pencil` and the RFC's salt.
    fn rfc_account() -> Credentials {
        let mut account = Credentials::new("user");
        account.password = Some(secrets("pencil", &BASE64.decode(SALT).unwrap()));
        account
    }

    fn named_account(name: &str, password: &str) -> Credentials {
        let mut account = Credentials::new(name);
        let salt = format!("salt of {name}");
        account.password = Some(secrets(password, salt.as_bytes()));
        account
    }

    fn app_password(label: &str, password: &str, salt: &[u8]) -> AppPassword {
        AppPassword {
            label: label.to_owned(),
            created: 0,
            secrets: secrets(password, salt),
        }
    }

    fn server() -> Scram {
        Scram::new().with_nonce(SERVER_NONCE).unwrap()
    }

    fn user_client(username: &str, password: &str) -> ScramClient {
        ScramClient::new(username, password, None).unwrap()
    }

    fn lookup(progress: Progress) -> String {
        match progress {
            Progress::Lookup { authentication_id } => authentication_id,
            other => panic!("expected a lookup, got {other:?}"),
        }
    }

    fn challenge(progress: Progress) -> Vec<u8> {
        match progress {
            Progress::Challenge(challenge) => challenge,
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    fn success(progress: Progress) -> Authenticated {
        match progress {
            Progress::Success(authenticated) => authenticated,
            other => panic!("expected success, got {other:?}"),
        }
    }

    /// Runs `client` against `server` with `credentials`; returns the server's last word.
    /// The client checks the server-final message when there is one.
    fn exchange(
        server: &mut Scram,
        client: &mut ScramClient,
        credentials: Option<&Credentials>,
    ) -> Progress {
        let first = client.initial_response().unwrap();
        let progress = server.start(Some(&first));
        let Progress::Lookup { .. } = progress else {
            return progress;
        };

        let server_first = challenge(server.credentials(credentials, &context()));
        let last = client.respond(&server_first).unwrap();
        let progress = server.respond(&last);
        if let Progress::Success(authenticated) = &progress {
            let server_final = authenticated.additional_data.as_ref().unwrap();
            assert_eq!(client.respond(server_final), Ok(Vec::new()));
            assert!(client.server_verified());
        }
        progress
    }

    /// The server after the RFC's client-first message and the account lookup.
    fn server_after_first(first: &str, credentials: Option<&Credentials>) -> Scram {
        let mut server = server();
        lookup(server.start(Some(first.as_bytes())));
        challenge(server.credentials(credentials, &context()));
        server
    }

    #[test]
    fn rfc_7677_example_server_side() {
        let mut server = server();
        assert_eq!(server.name().as_str(), "SCRAM-SHA-256");

        let authentication_id = lookup(server.start(Some(CLIENT_FIRST.as_bytes())));
        assert_eq!(authentication_id, "user");

        let account = rfc_account();
        let server_first = challenge(server.credentials(Some(&account), &context()));
        assert_eq!(String::from_utf8(server_first).unwrap(), SERVER_FIRST);

        let authenticated = success(server.respond(CLIENT_FINAL.as_bytes()));
        assert_eq!(authenticated.authentication_id, "user");
        assert_eq!(authenticated.authorization_id, "user");
        assert_eq!(authenticated.credential, CredentialUsed::Password);
        assert_eq!(authenticated.totp_step, None);
        assert_eq!(
            authenticated.additional_data.as_deref(),
            Some(SERVER_FINAL.as_bytes())
        );
    }

    #[test]
    fn rfc_7677_example_client_side() {
        let mut client = user_client("user", "pencil")
            .with_nonce(CLIENT_NONCE)
            .unwrap();
        assert_eq!(client.name().as_str(), "SCRAM-SHA-256");

        assert_eq!(client.initial_response().unwrap(), CLIENT_FIRST.as_bytes());
        assert_eq!(client.initial_response(), None, "sent once");
        let last = client.respond(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(last).unwrap(), CLIENT_FINAL);
        assert!(!client.server_verified());
        assert_eq!(
            client.finish(),
            Err(ClientError::ServerNotVerified),
            "no proof yet"
        );
        assert_eq!(client.respond(SERVER_FINAL.as_bytes()), Ok(Vec::new()));
        assert!(client.server_verified());
        assert_eq!(client.finish(), Ok(()));
        assert_eq!(client.respond(b""), Err(ClientError::UnexpectedChallenge));
    }

    #[test]
    fn client_answers_an_empty_first_challenge() {
        let mut client = user_client("user", "pencil")
            .with_nonce(CLIENT_NONCE)
            .unwrap();
        assert_eq!(client.respond(b"").unwrap(), CLIENT_FIRST.as_bytes());
        let last = client.respond(SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(last, CLIENT_FINAL.as_bytes());
    }

    #[test]
    fn derive_follows_rfc_5802() {
        let salt = BASE64.decode(SALT).unwrap();
        let secret = ScramSecret::derive(b"pencil", &salt, 4096).unwrap();
        assert_eq!(secret.salt, salt);
        assert_eq!(secret.iterations, 4096);
        let keys = Keys::derive(b"pencil", &salt, 4096);
        assert_eq!(secret.stored_key, keys.stored_key);
        assert_eq!(secret.server_key, keys.server_key);
        assert_eq!(
            secret.stored_key,
            <[u8; 32]>::from(Sha256::digest(keys.client_key))
        );
        assert_ne!(secret.stored_key, secret.server_key);
        assert!(!format!("{secret:?}").contains("key"));
    }

    #[test]
    fn derive_refuses_weak_counts_and_prohibited_passwords() {
        assert_eq!(
            ScramSecret::derive(b"pencil", b"salt", 4095).unwrap_err(),
            CredentialError::InvalidParameters
        );
        assert_eq!(
            ScramSecret::derive(b"pencil", b"salt", 0).unwrap_err(),
            CredentialError::InvalidParameters
        );
        // RFC 4013 section 2.3: control characters are prohibited output.
        assert_eq!(
            ScramSecret::derive(b"pen\x07cil", b"salt", 4096).unwrap_err(),
            CredentialError::InvalidPassword
        );
        assert_eq!(
            ScramSecret::derive(b"\xff\xfe", b"salt", 4096).unwrap_err(),
            CredentialError::InvalidPassword
        );
    }

    #[test]
    fn saslprep_maps_passwords() {
        // RFC 4013 section 3: soft hyphen maps to nothing, ROMAN NUMERAL NINE to "IX".
        let plain = ScramSecret::derive(b"IX", b"salt", 4096).unwrap();
        let soft_hyphen = ScramSecret::derive("I\u{00AD}X".as_bytes(), b"salt", 4096).unwrap();
        let numeral = ScramSecret::derive("\u{2168}".as_bytes(), b"salt", 4096).unwrap();
        assert_eq!(plain, soft_hyphen);
        assert_eq!(plain, numeral);

        let mut account = Credentials::new("user");
        account.password = Some(secrets("IX", b"salt"));
        let mut client = user_client("user", "\u{2168}");
        success(exchange(&mut Scram::new(), &mut client, Some(&account)));
    }

    #[test]
    fn round_trip_with_random_nonces() {
        let account = named_account("alice@example.org", "correct horse");
        let mut server = Scram::new();
        let mut client = user_client("alice@example.org", "correct horse");
        let authenticated = success(exchange(&mut server, &mut client, Some(&account)));
        assert_eq!(authenticated.authorization_id, "alice@example.org");
        assert_eq!(authenticated.credential, CredentialUsed::Password);
    }

    #[test]
    fn nonces_are_random_and_long_enough() {
        let nonce = |progress: Progress| {
            let server_first = String::from_utf8(challenge(progress)).unwrap();
            let nonce = server_first.split(',').next().unwrap().to_owned();
            nonce.strip_prefix("r=abc").unwrap().to_owned()
        };
        let run = || {
            let mut server = Scram::new();
            lookup(server.start(Some(b"n,,n=user,r=abc")));
            nonce(server.credentials(None, &context()))
        };
        let (one, two) = (run(), run());
        assert!(one.len() >= 24, "18 random bytes in base64");
        assert_ne!(one, two);

        let mut a = user_client("user", "pencil");
        let mut b = user_client("user", "pencil");
        assert_ne!(a.initial_response(), b.initial_response());
    }

    #[test]
    fn wrong_password_fails() {
        let account = rfc_account();
        let mut client = user_client("user", "pencil2");
        let progress = exchange(&mut Scram::new(), &mut client, Some(&account));
        assert_eq!(progress, Progress::Failure(Failure::InvalidCredentials));
    }

    #[test]
    fn unknown_user_looks_like_a_real_one_until_the_end() {
        let server_first = |name: &str| {
            let mut server = server();
            let first = format!("n,,n={name},r={CLIENT_NONCE}");
            lookup(server.start(Some(first.as_bytes())));
            String::from_utf8(challenge(server.credentials(None, &context()))).unwrap()
        };

        let ghost = server_first("ghost");
        let fields: Vec<&str> = ghost.split(',').collect();
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0], format!("r={CLIENT_NONCE}{SERVER_NONCE}"));
        let salt = BASE64
            .decode(fields[1].strip_prefix("s=").unwrap())
            .unwrap();
        assert_eq!(salt.len(), SALT_LEN, "as long as a real salt");
        assert_eq!(fields[2], "i=4096");
        assert_eq!(server_first("ghost"), ghost, "stable for the same name");
        assert_ne!(server_first("phantom"), ghost, "different for another name");

        let mut client = user_client("ghost", "pencil");
        let progress = exchange(&mut Scram::new(), &mut client, None);
        assert_eq!(progress, Progress::Failure(Failure::InvalidCredentials));
    }

    #[test]
    fn unknown_user_settings_follow_the_host() {
        let mut slow = server()
            .with_unknown_user_iterations(10_000)
            .with_unknown_user_key([7; 32]);
        lookup(slow.start(Some(CLIENT_FIRST.as_bytes())));
        let first = String::from_utf8(challenge(slow.credentials(None, &context()))).unwrap();
        assert!(first.ends_with(",i=10000"));

        let mut again = server().with_unknown_user_key([7; 32]);
        lookup(again.start(Some(CLIENT_FIRST.as_bytes())));
        let second = String::from_utf8(challenge(again.credentials(None, &context()))).unwrap();
        assert_eq!(
            first.split(',').nth(1),
            second.split(',').nth(1),
            "same key, same salt"
        );
    }

    #[test]
    fn account_without_scram_keys_is_treated_as_unknown() {
        let mut account = rfc_account();
        account.password.as_mut().unwrap().scram_sha256 = None;
        let mut server = server();
        lookup(server.start(Some(CLIENT_FIRST.as_bytes())));
        let first = String::from_utf8(challenge(server.credentials(Some(&account), &context())));
        assert!(first.unwrap().ends_with(",i=4096"));
        assert_eq!(
            server.respond(CLIENT_FINAL.as_bytes()),
            Progress::Failure(Failure::InvalidCredentials)
        );
    }

    #[test]
    fn tampered_nonce_fails() {
        let account = rfc_account();
        let tampered = CLIENT_FINAL.replace("k0,", "k1,");
        let mut server = server_after_first(CLIENT_FIRST, Some(&account));
        assert_eq!(
            server.respond(tampered.as_bytes()),
            Progress::Failure(Failure::InvalidCredentials)
        );

        // A client refuses a server nonce that does not extend its own, or adds nothing.
        for server_first in [
            SERVER_FIRST.replace("r=rOpr", "r=xOpr"),
            format!("r={CLIENT_NONCE},s={SALT},i=4096"),
        ] {
            let mut client = user_client("user", "pencil")
                .with_nonce(CLIENT_NONCE)
                .unwrap();
            client.initial_response();
            assert_eq!(
                client.respond(server_first.as_bytes()),
                Err(ClientError::MalformedChallenge)
            );
        }
    }

    #[test]
    fn tampered_channel_binding_fails() {
        let account = rfc_account();
        // "eSws" is "y,,", "bixhPXVzZXIs" is "n,a=user,": not the header that was sent.
        for c in ["c=eSws", "c=bixhPXVzZXIs", "c="] {
            let tampered = CLIENT_FINAL.replace("c=biws", c);
            let mut server = server_after_first(CLIENT_FIRST, Some(&account));
            assert_eq!(
                server.respond(tampered.as_bytes()),
                Progress::Failure(Failure::InvalidCredentials),
                "{c}"
            );
        }
    }

    #[test]
    fn y_flag_fails_only_when_plus_is_advertised() {
        let account = rfc_account();
        let not_offered =
            || user_client("user", "pencil").with_channel_binding(ClientChannelBinding::NotOffered);

        let mut advertised = server().with_plus_advertised(true);
        let progress = exchange(&mut advertised, &mut not_offered(), Some(&account));
        assert_eq!(progress, Progress::Failure(Failure::InvalidCredentials));

        let mut plain = server().with_plus_advertised(false);
        let mut client = not_offered();
        success(exchange(&mut plain, &mut client, Some(&account)));
        assert_eq!(client.name().as_str(), "SCRAM-SHA-256");
    }

    #[test]
    fn plus_binds_to_the_channel() {
        let account = rfc_account();
        let data = vec![0x42; 32];
        let bound = |data: Vec<u8>, kind| {
            let binding = ChannelBinding::new(kind, data);
            user_client("user", "pencil").with_channel_binding(ClientChannelBinding::Bind(binding))
        };
        let plus = || {
            let binding = ChannelBinding::new(ChannelBindingType::TlsExporter, vec![0x42; 32]);
            Scram::plus(binding)
        };

        let mut server = plus();
        assert_eq!(server.name().as_str(), "SCRAM-SHA-256-PLUS");
        let mut client = bound(data.clone(), ChannelBindingType::TlsExporter);
        assert_eq!(client.name().as_str(), "SCRAM-SHA-256-PLUS");
        success(exchange(&mut server, &mut client, Some(&account)));

        // Other binding data (a relayed exchange), another binding type, no binding at all.
        let failures = [
            bound(vec![0x43; 32], ChannelBindingType::TlsExporter),
            bound(data.clone(), ChannelBindingType::TlsServerEndPoint),
            user_client("user", "pencil"),
            user_client("user", "pencil").with_channel_binding(ClientChannelBinding::NotOffered),
        ];
        for mut client in failures {
            let progress = exchange(&mut plus(), &mut client, Some(&account));
            assert_eq!(
                progress,
                Progress::Failure(Failure::InvalidCredentials),
                "{client:?}"
            );
        }

        // A client that binds must not pick plain SCRAM-SHA-256.
        let mut client = bound(data.clone(), ChannelBindingType::TlsExporter);
        let progress = exchange(&mut Scram::new(), &mut client, Some(&account));
        assert_eq!(progress, Progress::Failure(Failure::InvalidCredentials));

        // A host without binding data binds nothing.
        let mut empty = Scram::plus(ChannelBinding::new(ChannelBindingType::TlsExporter, vec![]));
        let mut client = bound(data, ChannelBindingType::TlsExporter);
        let progress = exchange(&mut empty, &mut client, Some(&account));
        assert_eq!(progress, Progress::Failure(Failure::InvalidCredentials));
    }

    #[test]
    fn proof_must_come_last() {
        let account = rfc_account();
        let (without_proof, proof) = CLIENT_FINAL.rsplit_once(',').unwrap();
        let (binding, nonce) = without_proof.split_once(',').unwrap();
        for message in [
            format!("{CLIENT_FINAL},x=extension"),
            format!("{binding},{proof},{nonce}"),
            format!("{proof},{binding},{nonce}"),
            without_proof.to_owned(),
        ] {
            let mut server = server_after_first(CLIENT_FIRST, Some(&account));
            assert_eq!(
                server.respond(message.as_bytes()),
                Progress::Failure(Failure::Malformed),
                "{message}"
            );
        }
    }

    #[test]
    fn unknown_extensions_are_ignored_but_may_not_reuse_defined_names() {
        let account = rfc_account();

        // Ignored in the client-first message; the proof then covers a different message.
        let mut server = server();
        lookup(server.start(Some(b"n,,n=user,r=abc,x=ext=value")));

        let (without_proof, proof) = CLIENT_FINAL.rsplit_once(',').unwrap();
        let extended = format!("{without_proof},x=1,{proof}");
        let mut server = server_after_first(CLIENT_FIRST, Some(&account));
        assert_eq!(
            server.respond(extended.as_bytes()),
            Progress::Failure(Failure::InvalidCredentials),
            "well-formed, but the proof was made without the extension"
        );

        for message in [
            format!("{without_proof},p=AAAA,{proof}"),
            format!("{without_proof},r=again,{proof}"),
            format!("{without_proof},1=digit,{proof}"),
            format!("{without_proof},x=,{proof}"),
            format!("{without_proof},,{proof}"),
        ] {
            let mut server = server_after_first(CLIENT_FIRST, Some(&account));
            assert_eq!(
                server.respond(message.as_bytes()),
                Progress::Failure(Failure::Malformed),
                "{message}"
            );
        }
    }

    #[test]
    fn mandatory_extensions_are_refused() {
        let mut server = server();
        assert_eq!(
            server.start(Some(b"n,,m=ext,n=user,r=abc")),
            Progress::Failure(Failure::Malformed)
        );

        let mut client = user_client("user", "pencil")
            .with_nonce(CLIENT_NONCE)
            .unwrap();
        client.initial_response();
        let server_first = format!("m=ext,{SERVER_FIRST}");
        assert_eq!(
            client.respond(server_first.as_bytes()),
            Err(ClientError::MalformedChallenge)
        );
    }

    #[test]
    fn usernames_are_unescaped_and_bad_escapes_refused() {
        let mut server = server();
        let name = lookup(server.start(Some(b"n,,n=a=2Cb=3Dc,r=abc")));
        assert_eq!(name, "a,b=c");

        for bad in [
            "n=a=2Db",
            "n=a=",
            "n=a=2",
            "n=a=2cb",
            "n=",
            "n=\u{0007}",
            "x=user",
        ] {
            let message = format!("n,,{bad},r=abc");
            assert_eq!(
                Scram::new().start(Some(message.as_bytes())),
                Progress::Failure(Failure::Malformed),
                "{bad}"
            );
        }

        // The client escapes, and the server finds the account under the decoded name.
        let account = named_account("a,b=c", "pw");
        let mut client = user_client("a,b=c", "pw");
        let first = client.initial_response().unwrap();
        assert!(first.starts_with(b"n,,n=a=2Cb=3Dc,r="));
        let mut client = ScramClient::new("a,b=c", "pw", None).unwrap();
        let authenticated = success(exchange(&mut Scram::new(), &mut client, Some(&account)));
        assert_eq!(authenticated.authentication_id, "a,b=c");
    }

    #[test]
    fn authorization_identities() {
        let mut account = named_account("alice", "pw");
        account.authorized_ids.push("shared,box".into());

        let mut client = ScramClient::new("alice", "pw", Some("shared,box")).unwrap();
        let first = client.initial_response().unwrap();
        assert!(first.starts_with(b"n,a=shared=2Cbox,n=alice,r="));
        let mut client = ScramClient::new("alice", "pw", Some("shared,box")).unwrap();
        let authenticated = success(exchange(&mut Scram::new(), &mut client, Some(&account)));
        assert_eq!(authenticated.authentication_id, "alice");
        assert_eq!(authenticated.authorization_id, "shared,box");

        // Naming oneself is acting as oneself.
        let mut client = ScramClient::new("alice", "pw", Some("ALICE")).unwrap();
        let authenticated = success(exchange(&mut Scram::new(), &mut client, Some(&account)));
        assert_eq!(authenticated.authorization_id, "alice");

        // Refused only at the end, after a normal server-first message.
        let mut client = ScramClient::new("alice", "pw", Some("bob")).unwrap();
        let progress = exchange(&mut Scram::new(), &mut client, Some(&account));
        assert_eq!(progress, Progress::Failure(Failure::InvalidCredentials));

        assert_eq!(
            ScramClient::new("alice", "pw", Some("")).unwrap_err(),
            ScramClientError::InvalidAuthorizationId
        );
        assert_eq!(
            Scram::new().start(Some(b"n,a=,n=alice,r=abc")),
            Progress::Failure(Failure::Malformed)
        );
    }

    #[test]
    fn two_factor_accounts_use_their_app_passwords() {
        let mut account = Credentials::new("user");
        account.password = Some(secrets("primary", b"primary salt"));
        account.totp = Some(TotpState::new(Secret::new(vec![7; 20])));
        account
            .app_passwords
            .push(app_password("phone", "phone-pw", b"app salt"));
        account
            .app_passwords
            .push(app_password("laptop", "laptop-pw", b"app salt"));
        account
            .app_passwords
            .push(app_password("tablet", "tablet-pw", b"other salt"));

        // The salt sent is the first app password's.
        let mut server = Scram::new();
        lookup(server.start(Some(b"n,,n=user,r=abc")));
        let first = String::from_utf8(challenge(server.credentials(Some(&account), &context())));
        let salt = format!("s={}", BASE64.encode(b"app salt"));
        assert!(first.unwrap().contains(&salt));

        // Every app password with that salt works; the primary password does not (it needs
        // a TOTP code SCRAM cannot carry), nor an app password with another salt.
        for (password, label) in [("phone-pw", "phone"), ("laptop-pw", "laptop")] {
            let mut client = user_client("user", password);
            let authenticated = success(exchange(&mut Scram::new(), &mut client, Some(&account)));
            assert_eq!(
                authenticated.credential,
                CredentialUsed::AppPassword(label.into())
            );
        }
        for password in ["primary", "tablet-pw"] {
            let mut client = user_client("user", password);
            let progress = exchange(&mut Scram::new(), &mut client, Some(&account));
            assert_eq!(
                progress,
                Progress::Failure(Failure::InvalidCredentials),
                "{password}"
            );
        }

        // Without two-factor the primary password's salt is sent and it works.
        account.totp = None;
        let mut client = user_client("user", "primary");
        let authenticated = success(exchange(&mut Scram::new(), &mut client, Some(&account)));
        assert_eq!(authenticated.credential, CredentialUsed::Password);
    }

    #[test]
    fn every_call_out_of_order_is_malformed() {
        let account = rfc_account();
        let malformed = Progress::Failure(Failure::Malformed);

        // A response before start, credentials before a lookup.
        assert_eq!(server().respond(CLIENT_FIRST.as_bytes()), malformed);
        assert_eq!(server().credentials(Some(&account), &context()), malformed);

        // Start twice.
        let mut server1 = server();
        lookup(server1.start(Some(CLIENT_FIRST.as_bytes())));
        assert_eq!(server1.start(Some(CLIENT_FIRST.as_bytes())), malformed);

        // A response while the lookup is pending.
        let mut server2 = server();
        lookup(server2.start(Some(CLIENT_FIRST.as_bytes())));
        assert_eq!(server2.respond(CLIENT_FINAL.as_bytes()), malformed);

        // Credentials twice.
        let mut server3 = server_after_first(CLIENT_FIRST, Some(&account));
        assert_eq!(server3.credentials(Some(&account), &context()), malformed);

        // Credentials while waiting for the client-first message.
        let mut server4 = server();
        assert_eq!(server4.start(None), Progress::Challenge(Vec::new()));
        assert_eq!(server4.credentials(Some(&account), &context()), malformed);

        // Anything after success, anything after failure.
        let mut server5 = server_after_first(CLIENT_FIRST, Some(&account));
        success(server5.respond(CLIENT_FINAL.as_bytes()));
        assert_eq!(server5.respond(CLIENT_FINAL.as_bytes()), malformed);
        assert_eq!(server5.credentials(Some(&account), &context()), malformed);
        assert_eq!(server5.start(None), malformed);

        let mut server6 = server();
        assert_eq!(server6.start(Some(b"garbage")), malformed);
        assert_eq!(server6.respond(CLIENT_FIRST.as_bytes()), malformed);

        // The client: a non-empty challenge before the first message, anything after a
        // failure.
        let mut client = user_client("user", "pencil");
        assert_eq!(
            client.respond(b"r=x"),
            Err(ClientError::UnexpectedChallenge)
        );
        assert_eq!(client.respond(b""), Err(ClientError::UnexpectedChallenge));
    }

    #[test]
    fn empty_challenge_asks_for_the_client_first_message() {
        let account = rfc_account();
        let mut server = server();
        assert_eq!(server.start(None), Progress::Challenge(Vec::new()));
        lookup(server.respond(CLIENT_FIRST.as_bytes()));
        challenge(server.credentials(Some(&account), &context()));
        success(server.respond(CLIENT_FINAL.as_bytes()));
    }

    #[test]
    fn over_long_or_undecodable_input_is_malformed() {
        let account = rfc_account();
        let malformed = Progress::Failure(Failure::Malformed);

        let long_nonce = "a".repeat(MAX_MESSAGE);
        let long_first = format!("n,,n=user,r={long_nonce}");
        assert_eq!(server().start(Some(long_first.as_bytes())), malformed);
        let at_limit = format!("n,,n=user,r={}", &long_nonce[..MAX_MESSAGE - 12]);
        lookup(server().start(Some(at_limit.as_bytes())));

        let long_final = format!("{CLIENT_FINAL},x={long_nonce}");
        let mut server1 = server_after_first(CLIENT_FIRST, Some(&account));
        assert_eq!(server1.respond(long_final.as_bytes()), malformed);

        for first in [
            &b"n,,n=us\xffer,r=abc"[..],
            b"n,,n=us\0er,r=abc",
            b"",
            b"n,,",
            b"n,,n=user",
            b"n,,n=user,r=",
            b"n,,n=user,r=a b",
            b"x,,n=user,r=abc",
            b"p=,,n=user,r=abc",
            b"p=tls_exporter,,n=user,r=abc",
            b"n,n=user,r=abc",
        ] {
            assert_eq!(server().start(Some(first)), malformed, "{first:?}");
        }

        let (_, proof) = CLIENT_FINAL.rsplit_once(",p=").unwrap();
        let nonce = format!("r={CLIENT_NONCE}{SERVER_NONCE}");
        for last in [
            format!("c=biws,{nonce},p=!!!!"),
            format!("c=biw,{nonce},p={proof}"),
            format!("c=biws,{nonce},p=AAAA"),
            format!("c=biws,{nonce},p={}", &proof[..proof.len() - 1]),
            format!("c=biws,{nonce}\0,p={proof}"),
            format!("c=biws,p={proof}"),
            String::new(),
        ] {
            let mut server = server_after_first(CLIENT_FIRST, Some(&account));
            assert_eq!(server.respond(last.as_bytes()), malformed, "{last}");
        }
    }

    #[test]
    fn client_checks_the_server() {
        let fresh = || {
            let mut client = user_client("user", "pencil")
                .with_nonce(CLIENT_NONCE)
                .unwrap();
            client.initial_response();
            client.respond(SERVER_FIRST.as_bytes()).unwrap();
            client
        };

        let mut client = fresh();
        let wrong = SERVER_FINAL.replace("v=6", "v=7");
        assert_eq!(
            client.respond(wrong.as_bytes()),
            Err(ClientError::ServerNotVerified)
        );
        assert!(!client.server_verified());
        assert_eq!(
            client.respond(SERVER_FINAL.as_bytes()),
            Err(ClientError::UnexpectedChallenge)
        );

        let mut client = fresh();
        assert_eq!(
            client.respond(b"e=invalid-proof"),
            Err(ClientError::ServerNotVerified)
        );

        let mut client = fresh();
        assert_eq!(
            client.respond(b"v=@@"),
            Err(ClientError::MalformedChallenge)
        );

        // Extensions after the verifier are ignored.
        let mut client = fresh();
        let extended = format!("{SERVER_FINAL},x=1");
        assert_eq!(client.respond(extended.as_bytes()), Ok(Vec::new()));
        assert!(client.server_verified());
    }

    #[test]
    fn client_refuses_weak_or_excessive_iteration_counts() {
        for (count, max) in [
            ("4095", None),
            ("0", None),
            ("4097", Some(4096)),
            ("99999999999", None),
        ] {
            let mut client = user_client("user", "pencil")
                .with_nonce(CLIENT_NONCE)
                .unwrap();
            if let Some(max) = max {
                client = client.with_max_iterations(max);
            }
            client.initial_response();
            let server_first = SERVER_FIRST.replace("i=4096", &format!("i={count}"));
            assert_eq!(
                client.respond(server_first.as_bytes()),
                Err(ClientError::MalformedChallenge),
                "{count}"
            );
        }
    }

    #[test]
    fn client_refuses_bad_identities() {
        assert_eq!(
            ScramClient::new("", "pw", None).unwrap_err(),
            ScramClientError::InvalidUsername
        );
        assert_eq!(
            ScramClient::new("us\u{0007}er", "pw", None).unwrap_err(),
            ScramClientError::InvalidUsername
        );
        assert_eq!(
            ScramClient::new("user", "p\u{0007}w", None).unwrap_err(),
            ScramClientError::InvalidPassword
        );
        assert_eq!(
            user_client("user", "pw").with_nonce("a,b").unwrap_err(),
            InvalidNonce
        );
        assert_eq!(server().with_nonce("").unwrap_err(), InvalidNonce);
    }

    #[test]
    fn debug_shows_no_secrets() {
        let client = user_client("user", "pencil");
        assert!(!format!("{client:?}").contains("pencil"));
        let binding = ChannelBinding::new(ChannelBindingType::TlsExporter, vec![0xAB; 32]);
        assert!(format!("{binding:?}").contains("32 bytes"));
        let mut server = server_after_first(CLIENT_FIRST, Some(&rfc_account()));
        assert!(format!("{server:?}").contains("AwaitingClientFinal"));
        let authenticated = success(server.respond(CLIENT_FINAL.as_bytes()));
        assert!(!format!("{authenticated:?}").contains("v="));
    }

    #[test]
    fn fuzz_harness_survives_prefixes_of_the_rfc_exchange() {
        let transcript = format!("{CLIENT_FIRST}\n{CLIENT_FINAL}");
        for end in 0..=transcript.len() {
            fuzz_messages(&transcript.as_bytes()[..end]);
        }
        fuzz_messages(format!("{SERVER_FIRST}\n{SERVER_FINAL}").as_bytes());
        fuzz_messages(b"\xff\xfe\n\0");
    }

    /// Replays the seed corpus of the `auth_scram` fuzz target, as the other crates replay
    /// theirs.
    #[test]
    fn fuzz_corpus_replays() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut count = 0;
        for folder in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(folder).join("auth_scram")) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                fuzz_messages(&std::fs::read(&path).unwrap());
                count += 1;
            }
        }
        assert!(count > 0, "no corpus for auth_scram");
    }

    /// The seeds that carry whole exchanges reach success, so the fuzzer starts from the
    /// deepest state.
    #[test]
    fn corpus_exchanges_succeed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        for seed in ["rfc7677-exchange", "exchange-y-flag", "exchange-authzid"] {
            let data = std::fs::read(root.join("auth_scram").join(seed)).unwrap();
            let text = std::str::from_utf8(&data).unwrap();
            let (first, last) = text.split_once('\n').unwrap();
            let mut server = server();
            lookup(server.start(Some(first.as_bytes())));
            challenge(server.credentials(Some(fuzz_credentials()), &context()));
            success(server.respond(last.as_bytes()));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Interoperability with scramp, a third-party SCRAM implementation in Python.

    /// A scramp client or server that exchanges one message per line over stdin and stdout.
    /// Arguments are hex so that no locale can garble them.
    const SCRAMP: &str = r#"
import base64, sys
try:
    import scramp
except ImportError:
    print("missing-scramp", flush=True)
    sys.exit(3)

def send(line):
    print(line, flush=True)

def recv():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)  # the Rust side ended the exchange
    return line.rstrip("\n")

args = [bytes.fromhex(a).decode() for a in sys.argv[2:]]
try:
    if sys.argv[1] == "client":
        mechanism, user, password, cb_type, cb_data = args
        binding = None if cb_type == "" else (cb_type, cb_data.encode())
        client = scramp.ScramClient([mechanism], user, password, channel_binding=binding)
        send(client.get_client_first())
        client.set_server_first(recv())
        send(client.get_client_final())
        client.set_server_final(recv())
        send("verified")
    else:
        password, salt, iterations = args
        mechanism = scramp.ScramMechanism("SCRAM-SHA-256")
        info = mechanism.make_auth_info(
            password, iteration_count=int(iterations), salt=base64.b64decode(salt))
        server = mechanism.make_server(lambda username: info)
        server.set_client_first(recv())
        send(server.get_server_first())
        try:
            server.set_client_final(recv())
        except scramp.ScramException:
            pass  # get_server_final() then reports the error as "e=..."
        send(server.get_server_final())
except scramp.ScramException as e:
    send("error: " + str(e))
"#;

    struct Scramp {
        child: std::process::Child,
        stdin: Option<std::process::ChildStdin>,
        stdout: BufReader<std::process::ChildStdout>,
    }

    impl Scramp {
        fn spawn(args: &[&str]) -> Self {
            let hex = |arg: &&str| arg.bytes().map(|b| format!("{b:02x}")).collect::<String>();
            let mut child = Command::new("python3")
                .arg("-c")
                .arg(SCRAMP)
                .arg(args[0])
                .args(args[1..].iter().map(hex))
                .env("PYTHONIOENCODING", "utf-8")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 is needed for the scramp interop tests (`pip install scramp`)");
            let stdin = child.stdin.take();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            Self {
                child,
                stdin,
                stdout,
            }
        }

        fn recv(&mut self) -> String {
            let mut line = String::new();
            self.stdout.read_line(&mut line).unwrap();
            assert_ne!(
                line.trim_end(),
                "missing-scramp",
                "the interop tests need the Python package scramp: `pip install scramp`"
            );
            line.trim_end_matches('\n').to_owned()
        }

        fn send(&mut self, message: &[u8]) {
            let stdin = self.stdin.as_mut().unwrap();
            stdin.write_all(message).unwrap();
            stdin.write_all(b"\n").unwrap();
            stdin.flush().unwrap();
        }

        fn finish(mut self) {
            drop(self.stdin.take());
            assert!(self.child.wait().unwrap().success());
        }
    }

    /// Runs a scramp client against `server`; returns the server's last word and what the
    /// client said about the server-final message.
    fn scramp_client(
        server: &mut Scram,
        credentials: Option<&Credentials>,
        args: &[&str],
    ) -> (Progress, Option<String>) {
        let mut python = Scramp::spawn(&[&["client"][..], args].concat());
        let first = python.recv();
        let progress = server.start(Some(first.as_bytes()));
        if !matches!(progress, Progress::Lookup { .. }) {
            python.finish();
            return (progress, None);
        }

        let server_first = challenge(server.credentials(credentials, &context()));
        python.send(&server_first);
        let last = python.recv();
        let progress = server.respond(last.as_bytes());
        let verdict = match &progress {
            Progress::Success(authenticated) => {
                python.send(authenticated.additional_data.as_ref().unwrap());
                Some(python.recv())
            }
            _ => None,
        };
        python.finish();
        (progress, verdict)
    }

    #[test]
    fn scramp_client_against_our_server() {
        let account = rfc_account();
        let args = ["SCRAM-SHA-256", "user", "pencil", "", ""];
        let (progress, verdict) = scramp_client(&mut Scram::new(), Some(&account), &args);
        assert_eq!(success(progress).authorization_id, "user");
        assert_eq!(verdict.as_deref(), Some("verified"));

        let args = ["SCRAM-SHA-256", "user", "pencil2", "", ""];
        let (progress, _) = scramp_client(&mut Scram::new(), Some(&account), &args);
        assert_eq!(progress, Progress::Failure(Failure::InvalidCredentials));

        // scramp prepares the password with SASLprep as we do.
        let mut numeral = Credentials::new("user");
        numeral.password = Some(secrets("IX", b"a salt scramp accepts"));
        let args = ["SCRAM-SHA-256", "user", "I\u{00AD}X", "", ""];
        let (progress, verdict) = scramp_client(&mut Scram::new(), Some(&numeral), &args);
        success(progress);
        assert_eq!(verdict.as_deref(), Some("verified"));

        // And escapes user names as we read them.
        let odd = named_account("a,b=c", "pw");
        let args = ["SCRAM-SHA-256", "a,b=c", "pw", "", ""];
        let (progress, _) = scramp_client(&mut Scram::new(), Some(&odd), &args);
        assert_eq!(success(progress).authentication_id, "a,b=c");
    }

    #[test]
    fn scramp_client_with_channel_binding() {
        // scramp has no tls-exporter, so tls-server-end-point carries the test.
        let account = rfc_account();
        let data = "certificate hash";
        let plus = |data: &str| {
            let kind = ChannelBindingType::TlsServerEndPoint;
            Scram::plus(ChannelBinding::new(kind, data.as_bytes().to_vec()))
        };

        let args = [
            "SCRAM-SHA-256-PLUS",
            "user",
            "pencil",
            "tls-server-end-point",
            data,
        ];
        let (progress, verdict) = scramp_client(&mut plus(data), Some(&account), &args);
        success(progress);
        assert_eq!(verdict.as_deref(), Some("verified"));

        let (progress, _) = scramp_client(&mut plus("another hash"), Some(&account), &args);
        assert_eq!(progress, Progress::Failure(Failure::InvalidCredentials));

        // Binding data but plain SCRAM-SHA-256 chosen: scramp sends "y".
        let args = [
            "SCRAM-SHA-256",
            "user",
            "pencil",
            "tls-server-end-point",
            data,
        ];
        let (progress, _) = scramp_client(&mut Scram::new(), Some(&account), &args);
        success(progress);
        let mut advertised = Scram::new().with_plus_advertised(true);
        let (progress, _) = scramp_client(&mut advertised, Some(&account), &args);
        assert_eq!(progress, Progress::Failure(Failure::InvalidCredentials));
    }

    #[test]
    fn our_client_against_a_scramp_server() {
        let run = |password: &str| {
            let mut python = Scramp::spawn(&["server", "pencil", SALT, "4096"]);
            let mut client = user_client("user", password);
            python.send(&client.initial_response().unwrap());
            let server_first = python.recv();
            assert!(
                server_first.contains(&format!("s={SALT},i=4096")),
                "{server_first}"
            );
            python.send(&client.respond(server_first.as_bytes()).unwrap());
            let server_final = python.recv();
            let result = client.respond(server_final.as_bytes());
            python.finish();
            (result, client.server_verified(), server_final)
        };

        let (result, verified, _) = run("pencil");
        assert_eq!(result, Ok(Vec::new()));
        assert!(verified);

        let (result, verified, server_final) = run("pencil2");
        assert_eq!(server_final, "e=invalid-proof");
        assert_eq!(result, Err(ClientError::ServerNotVerified));
        assert!(!verified);
    }
}
