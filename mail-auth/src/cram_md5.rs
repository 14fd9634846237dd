//! CRAM-MD5 (RFC 2195): the server sends a unique challenge, the client answers with its user
//! name and the HMAC-MD5 of the challenge keyed with its password.
//!
//! The password never crosses the wire, but the server must keep something
//! password-equivalent: the HMAC-MD5 inner and outer states ([`CramMd5Secret`]), the form
//! Dovecot's `CRAM-MD5` password scheme also stores. The exchange offers no protection against
//! an active attacker and no mutual authentication; it is kept for old clients.
//!
//! ```text
//! S: <1896.697170952@postoffice.reston.mci.net>
//! C: tim b913a602c7eda7a495b4e6e7334d3890
//! ```

use std::fmt;

use data_encoding::HEXLOWER;
use md5::Digest;
use md5::block_api::Md5Core;
use md5::digest::block_api::{Block, Buffer, FixedOutputCore, UpdateCore};
use md5::digest::common::hazmat::SerializableState;

use crate::credentials::{CredentialError, Credentials, ct_eq, random_bytes};
use crate::sasl::{Authenticated, Context, Failure, MAX_MESSAGE, MechanismName, Progress};
use crate::sasl::{CredentialUsed, ServerMechanism};

/// HMAC's block size for MD5 and its two pads (RFC 2104 section 2).
const BLOCK: usize = 64;
const IPAD: u8 = 0x36;
const OPAD: u8 = 0x5c;

/// The HMAC-MD5 inner and outer states of a password (password-equivalent).
///
/// Each is the MD5 chaining state after one 64-byte block, `key XOR ipad` or `key XOR opad`,
/// stored as four little-endian 32-bit words. From them alone [`CramMd5Secret::hmac`] finishes
/// any HMAC-MD5 keyed with the password, which is all CRAM-MD5 needs.
#[derive(Clone, PartialEq, Eq)]
pub struct CramMd5Secret {
    /// MD5 state after the key XOR ipad block.
    pub inner: [u8; 16],
    /// MD5 state after the key XOR opad block.
    pub outer: [u8; 16],
}

impl fmt::Debug for CramMd5Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CramMd5Secret(..)")
    }
}

impl CramMd5Secret {
    /// Derives the states from a password.
    pub fn derive(password: &[u8]) -> Self {
        // RFC 2104 section 2: a key longer than the block is replaced by its hash, and the key
        // is padded with zeros to the block size.
        let mut key = [0u8; BLOCK];
        if password.len() > BLOCK {
            key[..16].copy_from_slice(&md5::Md5::digest(password));
        } else {
            key[..password.len()].copy_from_slice(password);
        }

        Self {
            inner: state_after_block(key.map(|b| b ^ IPAD)),
            outer: state_after_block(key.map(|b| b ^ OPAD)),
        }
    }

    /// HMAC-MD5 of `message` under the password these states were derived from.
    pub fn hmac(&self, message: &[u8]) -> [u8; 16] {
        let inner = finish_md5(&self.inner, message);
        finish_md5(&self.outer, &inner)
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &Self) -> bool {
        ct_eq(&self.inner, &other.inner) & ct_eq(&self.outer, &other.outer)
    }
}

/// The MD5 state after compressing one block, as four little-endian words.
fn state_after_block(block: [u8; BLOCK]) -> [u8; 16] {
    let mut core = Md5Core::default();
    core.update_blocks(&[Block::<Md5Core>::from(block)]);

    // The serialized core is the four state words (little-endian), then the block count.
    let serialized = core.serialize();
    let mut state = [0u8; 16];
    state.copy_from_slice(&serialized[..16]);
    state
}

/// Finishes an MD5 computation that had processed exactly one block when `state` was taken.
fn finish_md5(state: &[u8; 16], message: &[u8]) -> [u8; 16] {
    // Resume with a block count of one, so that the padding encodes the length of the whole
    // input (the pad block plus `message`), as HMAC's inner and outer hashes require.
    let mut serialized = [0u8; 24];
    serialized[..16].copy_from_slice(state);
    serialized[16..].copy_from_slice(&1u64.to_le_bytes());
    let mut core = Md5Core::deserialize(&serialized.into())
        .expect("every 24-byte string is a valid serialized MD5 state");

    let mut buffer = Buffer::<Md5Core>::default();
    buffer.digest_blocks(message, |blocks| core.update_blocks(blocks));
    let mut digest = Default::default();
    core.finalize_fixed_core(&mut buffer, &mut digest);
    digest.into()
}

/// The server side of CRAM-MD5.
///
/// The challenge must be unique: a recorded response replays against any server that issues
/// the same challenge again. [`CramMd5::new`] makes it from 64 random bits and the time.
pub struct CramMd5 {
    challenge: String,
    state: State,
}

enum State {
    /// Nothing sent yet.
    Start,
    /// The challenge was sent; waiting for `user SP digest`.
    Challenged,
    /// The client answered; waiting for its credentials.
    Lookup { digest: [u8; 16] },
    /// Success or failure was reported; every further call is out of order.
    Done,
}

impl CramMd5 {
    /// A new exchange whose challenge is `<random.unix_time@hostname>`: RFC 2195 section 2
    /// asks for "an presumptively arbitrary string of random digits, a timestamp, and the
    /// fully-qualified primary host name of the server", in the syntax of an RFC 822 msg-id.
    ///
    /// Fails only when the operating system has no randomness to give.
    pub fn new(hostname: &str, unix_time: u64) -> Result<Self, CredentialError> {
        let random = u64::from_le_bytes(random_bytes::<8>()?);
        Ok(Self::with_challenge(format!(
            "<{random}.{unix_time}@{hostname}>"
        )))
    }

    /// A new exchange with a challenge of the caller's choice, for tests and RFC vectors.
    /// A challenge that is ever issued twice lets a recorded response be replayed.
    pub fn with_challenge(challenge: String) -> Self {
        Self {
            challenge,
            state: State::Start,
        }
    }

    /// The challenge this exchange sends.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    fn fail(&mut self, failure: Failure) -> Progress {
        self.state = State::Done;
        Progress::Failure(failure)
    }
}

/// `response = user SP digest`, `digest = 32LHEX` (RFC 2195 section 2: "the user name, a
/// space, and a 'digest' ... sent in hexadecimal format, using lower-case ASCII characters").
/// The digest has no spaces, so the last space separates, and a user name may hold spaces.
fn parse_response(response: &[u8]) -> Option<(String, [u8; 16])> {
    let at = response.iter().rposition(|&b| b == b' ')?;
    let (user, digest) = (&response[..at], &response[at + 1..]);
    if user.is_empty() || digest.len() != 32 {
        return None;
    }

    let user = std::str::from_utf8(user).ok()?;
    let digest = HEXLOWER.decode(digest).ok()?.try_into().ok()?;
    Some((user.to_owned(), digest))
}

/// Checks `digest` against every challenge-response secret of the account.
fn verify(
    credentials: &Credentials,
    challenge: &[u8],
    digest: &[u8; 16],
) -> Option<CredentialUsed> {
    let mut checked_any = false;
    for (used, secrets) in credentials.challenge_response_candidates() {
        let Some(secret) = &secrets.cram_md5 else {
            continue;
        };
        checked_any = true;
        if ct_eq(&secret.hmac(challenge), digest) {
            return Some(used);
        }
    }

    // An account without a CRAM-MD5 secret must take as long to refuse as a wrong password.
    if !checked_any {
        equalize(challenge, digest);
    }
    None
}

/// Spends the work of one HMAC check, for an account that has nothing to check against.
fn equalize(challenge: &[u8], digest: &[u8; 16]) {
    let dummy = CramMd5Secret {
        inner: [0; 16],
        outer: [0; 16],
    };
    let _ = ct_eq(&dummy.hmac(challenge), digest);
}

impl ServerMechanism for CramMd5 {
    fn name(&self) -> MechanismName {
        MechanismName::new("CRAM-MD5").expect("valid mechanism name")
    }

    fn start(&mut self, initial_response: Option<&[u8]>) -> Progress {
        // CRAM-MD5 is server-first, so it has no initial response. An empty one (`AUTH
        // CRAM-MD5 =`) is only the client waiting for the challenge.
        let waiting = initial_response.is_none_or(<[u8]>::is_empty);
        if !matches!(self.state, State::Start) || !waiting {
            return self.fail(Failure::Malformed);
        }

        self.state = State::Challenged;
        Progress::Challenge(self.challenge.as_bytes().to_vec())
    }

    fn respond(&mut self, response: &[u8]) -> Progress {
        if !matches!(self.state, State::Challenged) || response.len() > MAX_MESSAGE {
            return self.fail(Failure::Malformed);
        }
        let Some((authentication_id, digest)) = parse_response(response) else {
            return self.fail(Failure::Malformed);
        };

        self.state = State::Lookup { digest };
        Progress::Lookup { authentication_id }
    }

    fn credentials(&mut self, credentials: Option<&Credentials>, _context: &Context) -> Progress {
        let State::Lookup { digest } = std::mem::replace(&mut self.state, State::Done) else {
            return self.fail(Failure::Malformed);
        };
        let challenge = self.challenge.as_bytes();

        let Some(credentials) = credentials else {
            equalize(challenge, &digest);
            return Progress::Failure(Failure::InvalidCredentials);
        };
        let Some(credential) = verify(credentials, challenge, &digest) else {
            return Progress::Failure(Failure::InvalidCredentials);
        };

        // CRAM-MD5 has no authorization identity: the client acts as itself, under the
        // account's own spelling of its name.
        Progress::Success(Authenticated {
            authentication_id: credentials.authentication_id.clone(),
            authorization_id: credentials.authentication_id.clone(),
            credential,
            totp_step: None,
            additional_data: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use hmac::{KeyInit, Mac};

    use super::*;
    use crate::credentials::{AppPassword, Argon2Params, DeriveOptions, PasswordSecrets};
    use crate::totp::TotpState;

    const RFC_CHALLENGE: &str = "<1896.697170952@postoffice.reston.mci.net>";

    /// Cheap Argon2 parameters: these tests check CRAM-MD5, not password hashing.
    fn options() -> DeriveOptions {
        DeriveOptions {
            argon2: Argon2Params {
                memory_kib: 64,
                iterations: 1,
                lanes: 1,
            },
            scram_iterations: None,
            ..DeriveOptions::default()
        }
    }

    fn account(name: &str, password: &str) -> Credentials {
        let mut credentials = Credentials::new(name);
        let secrets = PasswordSecrets::derive(name, password.as_bytes(), &options());
        credentials.password = Some(secrets.expect("derivable"));
        credentials
    }

    /// Runs one exchange: challenge, `response`, then `credentials` if asked for.
    fn run(challenge: &str, response: &[u8], credentials: Option<&Credentials>) -> Progress {
        let mut cram = CramMd5::with_challenge(challenge.to_owned());
        assert_eq!(
            cram.start(None),
            Progress::Challenge(challenge.as_bytes().to_vec())
        );
        match cram.respond(response) {
            Progress::Lookup { .. } => cram.credentials(credentials, &Context::new(0)),
            other => other,
        }
    }

    fn reference_hmac(key: &[u8], message: &[u8]) -> [u8; 16] {
        let mut mac = hmac::Hmac::<md5::Md5>::new_from_slice(key).expect("any key length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn stored_states_give_hmac_md5() {
        let long = [b'k'; 200];
        for key in [&b""[..], b"tanstaaftanstaaf", &[7; 64], &[7; 65], &long] {
            let secret = CramMd5Secret::derive(key);
            for message in [&b""[..], b"x", &[1; 55], &[1; 56], &[1; 64], &[1; 300]] {
                assert_eq!(
                    secret.hmac(message),
                    reference_hmac(key, message),
                    "key {} bytes, message {} bytes",
                    key.len(),
                    message.len()
                );
            }
        }
    }

    #[test]
    fn secrets_compare_and_hide() {
        let a = CramMd5Secret::derive(b"one");
        assert!(a.ct_eq(&CramMd5Secret::derive(b"one")));
        assert!(!a.ct_eq(&CramMd5Secret::derive(b"two")));
        assert_eq!(format!("{a:?}"), "CramMd5Secret(..)");
    }

    #[test]
    fn rfc_2195_example() {
        // S: <1896.697170952@postoffice.reston.mci.net>
        // C: tim b913a602c7eda7a495b4e6e7334d3890
        let tim = account("tim", "tanstaaftanstaaf");
        let response = b"tim b913a602c7eda7a495b4e6e7334d3890";

        let mut cram = CramMd5::with_challenge(RFC_CHALLENGE.to_owned());
        assert_eq!(cram.name().as_str(), "CRAM-MD5");
        assert_eq!(
            cram.start(None),
            Progress::Challenge(RFC_CHALLENGE.as_bytes().to_vec())
        );
        assert_eq!(
            cram.respond(response),
            Progress::Lookup {
                authentication_id: "tim".into()
            }
        );
        let Progress::Success(ok) = cram.credentials(Some(&tim), &Context::new(0)) else {
            panic!("tim logs in")
        };
        assert_eq!(ok.authentication_id, "tim");
        assert_eq!(ok.authorization_id, "tim");
        assert_eq!(ok.credential, CredentialUsed::Password);
        assert_eq!((ok.totp_step, ok.additional_data), (None, None));
    }

    /// The client's digest as Python's `hmac` module computes it.
    fn python_digest(password: &str, challenge: &str) -> String {
        let script = "import hashlib, hmac, sys\n\
                      key, msg = sys.argv[1].encode(), sys.argv[2].encode()\n\
                      print(hmac.new(key, msg, hashlib.md5).hexdigest())";
        let output = Command::new("python3")
            .args(["-c", script, password, challenge])
            .output()
            .expect("python3 runs (it is needed for the interop tests)");
        assert!(output.status.success(), "python3 failed: {output:?}");
        String::from_utf8(output.stdout)
            .expect("hex digits")
            .trim()
            .to_owned()
    }

    #[test]
    fn python_client_interoperates() {
        let long_password = "p".repeat(100);
        for (user, password) in [
            ("alice@example.org", "correct horse"),
            ("Jörg Müller", "pässwörd"),
            ("long", long_password.as_str()),
        ] {
            let mut cram = CramMd5::new("mail.example.org", 1_700_000_000).expect("random");
            let Progress::Challenge(challenge) = cram.start(Some(b"")) else {
                panic!("challenge first")
            };
            let challenge = String::from_utf8(challenge).expect("ASCII challenge");
            assert!(challenge.starts_with('<'));
            assert!(challenge.ends_with(".1700000000@mail.example.org>"));

            let response = format!("{user} {}", python_digest(password, &challenge));
            assert_eq!(
                cram.respond(response.as_bytes()),
                Progress::Lookup {
                    authentication_id: user.into()
                }
            );
            let credentials = account(user, password);
            assert!(
                matches!(
                    cram.credentials(Some(&credentials), &Context::new(0)),
                    Progress::Success(_)
                ),
                "{user}"
            );
        }
    }

    #[test]
    fn challenges_differ() {
        let a = CramMd5::new("h", 1).expect("random");
        let b = CramMd5::new("h", 1).expect("random");
        assert_ne!(a.challenge(), b.challenge());
    }

    #[test]
    fn wrong_password_and_unknown_user_look_alike() {
        let tim = account("tim", "not the password");
        let response = b"tim b913a602c7eda7a495b4e6e7334d3890";
        assert_eq!(
            run(RFC_CHALLENGE, response, Some(&tim)),
            Progress::Failure(Failure::InvalidCredentials)
        );
        assert_eq!(
            run(RFC_CHALLENGE, response, None),
            Progress::Failure(Failure::InvalidCredentials)
        );

        // The right digest for another challenge is a replay, not a login.
        let tim = account("tim", "tanstaaftanstaaf");
        assert_eq!(
            run(
                "<1897.697170952@postoffice.reston.mci.net>",
                response,
                Some(&tim)
            ),
            Progress::Failure(Failure::InvalidCredentials)
        );
    }

    #[test]
    fn account_without_cram_secret_is_refused() {
        let mut tim = Credentials::new("tim");
        let mut options = options();
        options.cram_md5 = false;
        tim.password = PasswordSecrets::derive("tim", b"tanstaaftanstaaf", &options).ok();
        assert_eq!(
            run(
                RFC_CHALLENGE,
                b"tim b913a602c7eda7a495b4e6e7334d3890",
                Some(&tim)
            ),
            Progress::Failure(Failure::InvalidCredentials)
        );
    }

    #[test]
    fn two_factor_accounts_need_an_app_password() {
        // With TOTP on, the primary password alone must not log in (CRAM-MD5 cannot carry a
        // code), but an app password does.
        let mut tim = account("tim", "tanstaaftanstaaf");
        tim.totp = Some(TotpState::new(crate::Secret::new(vec![7; 20])));
        let response = b"tim b913a602c7eda7a495b4e6e7334d3890";
        assert_eq!(
            run(RFC_CHALLENGE, response, Some(&tim)),
            Progress::Failure(Failure::InvalidCredentials)
        );

        let (app, shown) = AppPassword::generate("tim", "phone", 0, &options()).expect("app");
        tim.app_passwords.push(app);
        let digest = HEXLOWER.encode(&reference_hmac(shown.as_bytes(), RFC_CHALLENGE.as_bytes()));
        let Progress::Success(ok) = run(
            RFC_CHALLENGE,
            format!("tim {digest}").as_bytes(),
            Some(&tim),
        ) else {
            panic!("the app password logs in")
        };
        assert_eq!(ok.credential, CredentialUsed::AppPassword("phone".into()));
    }

    #[test]
    fn user_names_may_hold_spaces() {
        let key = b"secret";
        let digest = HEXLOWER.encode(&reference_hmac(key, RFC_CHALLENGE.as_bytes()));
        let mut cram = CramMd5::with_challenge(RFC_CHALLENGE.to_owned());
        cram.start(None);
        assert_eq!(
            cram.respond(format!("Tim Howes {digest}").as_bytes()),
            Progress::Lookup {
                authentication_id: "Tim Howes".into()
            }
        );
    }

    #[test]
    fn malformed_responses() {
        let too_long = [b"tim ".as_slice(), &[b'a'; MAX_MESSAGE]].concat();
        for response in [
            &b""[..],
            b"tim",
            b" b913a602c7eda7a495b4e6e7334d3890",
            b"tim b913a602c7eda7a495b4e6e7334d389",
            b"tim b913a602c7eda7a495b4e6e7334d38900",
            b"tim B913A602C7EDA7A495B4E6E7334D3890",
            b"tim b913a602c7eda7a495b4e6e7334d389g",
            b"tim b913a602c7eda7a495b4e6e7334d3890 ",
            b"t\xffm b913a602c7eda7a495b4e6e7334d3890",
            &too_long,
        ] {
            assert_eq!(
                run(RFC_CHALLENGE, response, None),
                Progress::Failure(Failure::Malformed),
                "{:?}",
                String::from_utf8_lossy(response)
            );
        }
    }

    #[test]
    fn steps_out_of_order() {
        let context = Context::new(0);
        let response = b"tim b913a602c7eda7a495b4e6e7334d3890";

        // CRAM-MD5 has no initial response.
        let mut cram = CramMd5::with_challenge(RFC_CHALLENGE.to_owned());
        assert_eq!(
            cram.start(Some(response)),
            Progress::Failure(Failure::Malformed)
        );
        assert_eq!(
            cram.respond(response),
            Progress::Failure(Failure::Malformed)
        );

        // A response before the challenge, credentials nobody asked for, a second start.
        let mut cram = CramMd5::with_challenge(RFC_CHALLENGE.to_owned());
        assert_eq!(
            cram.respond(response),
            Progress::Failure(Failure::Malformed)
        );
        let mut cram = CramMd5::with_challenge(RFC_CHALLENGE.to_owned());
        cram.start(None);
        assert_eq!(
            cram.credentials(None, &context),
            Progress::Failure(Failure::Malformed)
        );
        let mut cram = CramMd5::with_challenge(RFC_CHALLENGE.to_owned());
        cram.start(None);
        assert_eq!(cram.start(None), Progress::Failure(Failure::Malformed));

        // Nothing goes on after the result, and credentials are asked for only once.
        let tim = account("tim", "tanstaaftanstaaf");
        let mut cram = CramMd5::with_challenge(RFC_CHALLENGE.to_owned());
        cram.start(None);
        cram.respond(response);
        assert!(matches!(
            cram.credentials(Some(&tim), &context),
            Progress::Success(_)
        ));
        assert_eq!(
            cram.credentials(Some(&tim), &context),
            Progress::Failure(Failure::Malformed)
        );
        assert_eq!(
            cram.respond(response),
            Progress::Failure(Failure::Malformed)
        );
    }
}
