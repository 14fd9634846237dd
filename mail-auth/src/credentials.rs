//! What an account stores to authenticate its user, and how a store hands it over.
//!
//! No plaintext password is ever stored. Setting a password derives, once:
//!
//! - **Argon2id PHC string** (PLAIN, LOGIN): not password-equivalent; it can only be attacked
//!   by guessing, slowly.
//! - **HMAC-MD5 inner and outer states** (CRAM-MD5): **password-equivalent**: whoever has
//!   them can log in with CRAM-MD5, and they fall to fast guessing.
//! - **`H({ username ":" realm ":" password })` per realm** (DIGEST-MD5):
//!   **password-equivalent** for that realm, and fast to guess.
//! - **SCRAM salt, iteration count, StoredKey, ServerKey** (SCRAM-SHA-256): not
//!   password-equivalent for logging in (the client proof needs the ClientKey); but ServerKey
//!   lets its holder impersonate the server, and both are open to guessing at the iteration
//!   count's cost.
//!
//! An operator who does not need CRAM-MD5 or DIGEST-MD5 should turn them off in
//! [`DeriveOptions`]: the store then holds nothing password-equivalent.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use subtle::ConstantTimeEq;

use crate::cram_md5::CramMd5Secret;
use crate::digest_md5::DigestMd5Secret;
use crate::scram::ScramSecret;
use crate::totp::TotpState;

/// Everything an account keeps for authentication.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credentials {
    /// The authentication identity, as the user types it (usually the address).
    pub authentication_id: String,
    /// The primary password's secrets; `None` for an account without a password.
    pub password: Option<PasswordSecrets>,
    /// App passwords: generated, named and revocable, each with its own secrets.
    pub app_passwords: Vec<AppPassword>,
    /// TOTP two-factor state; when present, the primary password works only as
    /// `password$CODE` over PLAIN and LOGIN, and app passwords work everywhere.
    pub totp: Option<TotpState>,
    /// Other identities this account may act as (RFC 4422 authorization identities), for
    /// example a shared mailbox. The account's own identity is always allowed.
    pub authorized_ids: Vec<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<&str> = self
            .app_passwords
            .iter()
            .map(|a| a.label.as_str())
            .collect();
        f.debug_struct("Credentials")
            .field("authentication_id", &self.authentication_id)
            .field("password", &self.password.is_some())
            .field("app_passwords", &labels)
            .field("totp", &self.totp.is_some())
            .field("authorized_ids", &self.authorized_ids)
            .finish()
    }
}

impl Credentials {
    /// An account with no secrets yet.
    pub fn new(authentication_id: impl Into<String>) -> Self {
        Self {
            authentication_id: authentication_id.into(),
            password: None,
            app_passwords: Vec::new(),
            totp: None,
            authorized_ids: Vec::new(),
        }
    }

    /// Whether the client may act as `authorization_id` (empty means "as myself").
    pub fn may_act_as(&self, authorization_id: &str) -> bool {
        authorization_id.is_empty()
            || authorization_id.eq_ignore_ascii_case(&self.authentication_id)
            || self
                .authorized_ids
                .iter()
                .any(|id| id.eq_ignore_ascii_case(authorization_id))
    }

    /// The identity a client of this account acts as when it asked for `requested` (empty:
    /// itself), or `None` when the account may not act as that identity.
    pub fn authorize(&self, requested: &str) -> Option<String> {
        if !self.may_act_as(requested) {
            return None;
        }
        let own = requested.is_empty() || requested.eq_ignore_ascii_case(&self.authentication_id);
        Some(if own {
            self.authentication_id.clone()
        } else {
            requested.to_owned()
        })
    }

    /// The secrets a challenge-response mechanism may check a client against: the primary
    /// password unless two-factor is on (a challenge-response mechanism cannot carry a TOTP
    /// code), then every app password.
    pub fn challenge_response_candidates(
        &self,
    ) -> impl Iterator<Item = (CredentialUsed, &PasswordSecrets)> {
        let primary = self.password.as_ref().filter(|_| self.totp.is_none());
        let primary = primary.map(|secrets| (CredentialUsed::Password, secrets));
        let apps = self
            .app_passwords
            .iter()
            .map(|app| (CredentialUsed::AppPassword(app.label.clone()), &app.secrets));
        primary.into_iter().chain(apps)
    }

    /// Checks a password sent in the clear (PLAIN, LOGIN, or a protocol's own login
    /// command). With two-factor on, the primary password must come as `password$CODE`;
    /// an app password works alone. Returns what matched and the TOTP step used.
    pub fn verify_plaintext(
        &self,
        password: &[u8],
        context: &Context,
    ) -> Option<(CredentialUsed, Option<u64>)> {
        // App passwords first: they are random, so matching one says nothing about the
        // primary password. A cheap pre-filter (the CRAM-MD5 states) avoids running Argon2
        // once per app password on every login.
        if let Some(label) = self.match_app_password(password) {
            return Some((CredentialUsed::AppPassword(label), None));
        }

        let primary = self.password.as_ref()?;
        match &self.totp {
            None => primary
                .verify(password)
                .then_some((CredentialUsed::Password, None)),
            Some(totp) => {
                let at = password.iter().rposition(|&b| b == b'$')?;
                let (password, code) = (&password[..at], &password[at + 1..]);
                let code = std::str::from_utf8(code).ok()?;

                // Both checks always run, so timing does not tell which one failed.
                let step = totp.verify(code, context.unix_time);
                let password_ok = primary.verify(password);
                let step = step.filter(|_| password_ok)?;
                Some((CredentialUsed::Password, Some(step)))
            }
        }
    }

    /// Sets the primary password, deriving its secrets. The account's SCRAM salt is kept, so
    /// that the primary and the app passwords can all be checked after one server-first
    /// message (SCRAM sends a single salt before it knows which password the client has).
    pub fn set_password(
        &mut self,
        password: &[u8],
        options: &DeriveOptions,
    ) -> Result<(), CredentialError> {
        let salt = self.scram_salt();
        let secrets = PasswordSecrets::derive_with_salt(
            &self.authentication_id,
            password,
            options,
            salt.as_deref(),
        )?;
        self.password = Some(secrets);
        Ok(())
    }

    /// Creates an app password named `label`, returning the password to show the user once.
    pub fn add_app_password(
        &mut self,
        label: &str,
        created: u64,
        options: &DeriveOptions,
    ) -> Result<String, CredentialError> {
        if self.app_passwords.iter().any(|app| app.label == label) {
            return Err(CredentialError::DuplicateLabel);
        }
        if self.app_passwords.len() >= MAX_APP_PASSWORDS {
            return Err(CredentialError::TooManyAppPasswords);
        }

        let password = generate_app_password()?;
        let salt = self.scram_salt();
        let secrets = PasswordSecrets::derive_with_salt(
            &self.authentication_id,
            password.as_bytes(),
            options,
            salt.as_deref(),
        )?;
        let label = label.to_owned();
        self.app_passwords.push(AppPassword {
            label,
            created,
            secrets,
        });
        Ok(password)
    }

    /// Revokes the app password named `label`; false if there is none.
    pub fn revoke_app_password(&mut self, label: &str) -> bool {
        let before = self.app_passwords.len();
        self.app_passwords.retain(|app| app.label != label);
        self.app_passwords.len() != before
    }

    /// The SCRAM salt the account's secrets share, once one exists.
    fn scram_salt(&self) -> Option<Vec<u8>> {
        let primary = self.password.iter();
        let all = primary.chain(self.app_passwords.iter().map(|app| &app.secrets));
        all.filter_map(|secrets| secrets.scram_sha256.as_ref())
            .map(|s| s.salt.clone())
            .next()
    }

    fn match_app_password(&self, password: &[u8]) -> Option<String> {
        let cram = CramMd5Secret::derive(password);
        self.app_passwords
            .iter()
            .find(|app| match &app.secrets.cram_md5 {
                Some(stored) => stored.ct_eq(&cram) && app.secrets.verify(password),
                None => app.secrets.verify(password),
            })
            .map(|app| app.label.clone())
    }
}

use crate::sasl::{Context, CredentialUsed};

/// The secrets derived from one password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasswordSecrets {
    /// Argon2id PHC string, for mechanisms that receive the password itself.
    pub argon2: String,
    /// CRAM-MD5's HMAC-MD5 states, if CRAM-MD5 is kept.
    pub cram_md5: Option<CramMd5Secret>,
    /// DIGEST-MD5's H(A1) base, one per realm, if DIGEST-MD5 is kept.
    pub digest_md5: Vec<DigestMd5Secret>,
    /// SCRAM-SHA-256's salted keys, if SCRAM is kept.
    pub scram_sha256: Option<ScramSecret>,
}

impl fmt::Debug for PasswordSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordSecrets(..)")
    }
}

impl PasswordSecrets {
    /// Derives every secret `options` asks for from `password`. `username` enters the
    /// DIGEST-MD5 secret, so renaming an account invalidates that one.
    pub fn derive(
        username: &str,
        password: &[u8],
        options: &DeriveOptions,
    ) -> Result<Self, CredentialError> {
        Self::derive_with_salt(username, password, options, None)
    }

    /// [`PasswordSecrets::derive`] with a given SCRAM salt (a fresh one when `None`).
    fn derive_with_salt(
        username: &str,
        password: &[u8],
        options: &DeriveOptions,
        scram_salt: Option<&[u8]>,
    ) -> Result<Self, CredentialError> {
        let argon2 = options.argon2.hasher()?;
        let salt = random_bytes::<16>()?;
        let phc = argon2
            .hash_password_with_salt(password, &salt)
            .map_err(|_| CredentialError::Hashing)?
            .to_string();

        let cram_md5 = options.cram_md5.then(|| CramMd5Secret::derive(password));
        let digest_md5 = options
            .digest_md5_realms
            .iter()
            .map(|realm| DigestMd5Secret::derive(username, realm, password))
            .collect();
        let scram_sha256 = match options.scram_iterations {
            Some(iterations) => {
                let salt = match scram_salt {
                    Some(salt) => salt.to_vec(),
                    None => random_bytes::<16>()?.to_vec(),
                };
                Some(ScramSecret::derive(password, &salt, iterations)?)
            }
            None => None,
        };

        Ok(Self {
            argon2: phc,
            cram_md5,
            digest_md5,
            scram_sha256,
        })
    }

    /// Secrets read back from storage: the Argon2id PHC string, with the optional secrets
    /// empty for the store to fill in from its record.
    pub fn from_argon2(phc: String) -> Self {
        Self {
            argon2: phc,
            cram_md5: None,
            digest_md5: Vec::new(),
            scram_sha256: None,
        }
    }

    /// Checks `password` against the Argon2id hash. The parameters come from the PHC
    /// string, so hashes made under older settings keep working.
    pub fn verify(&self, password: &[u8]) -> bool {
        argon2::Argon2::default()
            .verify_password(password, self.argon2.as_str())
            .is_ok()
    }
}

/// The most app passwords one account may have: each costs a check on every failed login.
pub const MAX_APP_PASSWORDS: usize = 20;

/// A generated, named, revocable password for a mail client that cannot do two-factor.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppPassword {
    /// The user's name for it ("phone", "laptop"); unique within the account.
    pub label: String,
    /// When it was made, in seconds since the Unix epoch.
    pub created: u64,
    /// Its secrets, derived like a password's.
    pub secrets: PasswordSecrets,
}

impl fmt::Debug for AppPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppPassword({:?})", self.label)
    }
}

impl AppPassword {
    /// An app password read back from storage.
    pub fn from_parts(label: String, created: u64, secrets: PasswordSecrets) -> Self {
        Self {
            label,
            created,
            secrets,
        }
    }

    /// Generates a new app password: returns the record to store and the password to show
    /// the user once (it is not kept anywhere).
    pub fn generate(
        username: &str,
        label: &str,
        created: u64,
        options: &DeriveOptions,
    ) -> Result<(Self, String), CredentialError> {
        let password = generate_app_password()?;
        let secrets = PasswordSecrets::derive(username, password.as_bytes(), options)?;
        Ok((
            Self {
                label: label.to_owned(),
                created,
                secrets,
            },
            password,
        ))
    }
}

/// Four groups of four letters from an alphabet without look-alikes: 16 symbols of 5 bits,
/// 80 bits in all, which is beyond guessing even at fast-hash speeds.
fn generate_app_password() -> Result<String, CredentialError> {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let random = random_bytes::<16>()?;
    let mut out = String::with_capacity(19);
    for (i, byte) in random.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[usize::from(byte & 31)]));
    }
    Ok(out)
}

/// Which secrets to derive when a password is set, and how expensive to make them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeriveOptions {
    /// Argon2id cost.
    pub argon2: Argon2Params,
    /// Keep CRAM-MD5's (password-equivalent) secret.
    pub cram_md5: bool,
    /// Keep DIGEST-MD5's (password-equivalent) secret for these realms; empty: none.
    pub digest_md5_realms: Vec<String>,
    /// Keep SCRAM-SHA-256 keys with this iteration count (RFC 7677 asks for at least 4096).
    pub scram_iterations: Option<u32>,
}

impl Default for DeriveOptions {
    fn default() -> Self {
        Self {
            argon2: Argon2Params::default(),
            cram_md5: true,
            digest_md5_realms: Vec::new(),
            scram_iterations: Some(4096),
        }
    }
}

/// Argon2id cost parameters. The default is OWASP's current recommendation for Argon2id
/// (19 MiB of memory, 2 passes, 1 lane), which costs a few tens of milliseconds per login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Degree of parallelism.
    pub lanes: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            lanes: 1,
        }
    }
}

impl Argon2Params {
    fn hasher(&self) -> Result<argon2::Argon2<'static>, CredentialError> {
        let params = argon2::Params::new(self.memory_kib, self.iterations, self.lanes, None)
            .map_err(|_| CredentialError::InvalidParameters)?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }
}

/// Why secrets could not be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The cost parameters are out of range.
    #[error("invalid password hashing parameters")]
    InvalidParameters,
    /// Hashing failed.
    #[error("password hashing failed")]
    Hashing,
    /// The operating system's random number generator failed.
    #[error("no randomness available from the operating system")]
    Random,
    /// An app password with this label exists already.
    #[error("an app password with this label exists")]
    DuplicateLabel,
    /// The account has [`MAX_APP_PASSWORDS`] app passwords already.
    #[error("too many app passwords")]
    TooManyAppPasswords,
    /// The password cannot be prepared (SASLprep refuses it).
    #[error("the password contains characters that are not allowed")]
    InvalidPassword,
}

/// Fills an array from the operating system's random number generator.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], CredentialError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| CredentialError::Random)?;
    Ok(bytes)
}

/// Compares two secrets in constant time (for equal lengths).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A future that a [`CredentialLookup`] returns.
pub type LookupFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Credentials>, LookupError>> + Send + 'a>>;

/// Where a host finds stored credentials: implemented by the store, called by the host when a
/// mechanism answers [`crate::sasl::Progress::Lookup`]. A boxed future keeps the trait
/// usable as a trait object, which a server that picks its store at run time needs.
pub trait CredentialLookup: Send + Sync {
    /// The credentials of `authentication_id`, or `None` when there is no such account.
    fn lookup<'a>(&'a self, authentication_id: &'a str) -> LookupFuture<'a>;
}

/// Why the store could not answer a lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("credential lookup failed: {0}")]
pub struct LookupError(pub String);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Cheap parameters: these tests check logic, not cost.
    pub(crate) fn fast_options() -> DeriveOptions {
        DeriveOptions {
            argon2: Argon2Params {
                memory_kib: 64,
                iterations: 1,
                lanes: 1,
            },
            digest_md5_realms: vec!["example.org".into()],
            ..DeriveOptions::default()
        }
    }

    /// An account with a password, derived cheaply.
    pub(crate) fn account(name: &str, password: &str) -> Credentials {
        let mut credentials = Credentials::new(name);
        let secrets = PasswordSecrets::derive(name, password.as_bytes(), &fast_options());
        credentials.password = Some(secrets.unwrap());
        credentials
    }

    #[test]
    fn nothing_stored_is_the_password() {
        let credentials = account("alice@example.org", "correct horse");
        let secrets = credentials.password.as_ref().unwrap();
        assert!(secrets.argon2.starts_with("$argon2id$v=19$"));
        assert!(!secrets.argon2.contains("correct horse"));
        assert!(!format!("{credentials:?}").contains("argon2"));
        assert!(secrets.cram_md5.is_some() && secrets.scram_sha256.is_some());
        assert_eq!(secrets.digest_md5.len(), 1);
    }

    #[test]
    fn plaintext_passwords_verify() {
        let credentials = account("alice@example.org", "correct horse");
        let context = Context::new(0);
        assert_eq!(
            credentials.verify_plaintext(b"correct horse", &context),
            Some((CredentialUsed::Password, None))
        );
        assert_eq!(
            credentials.verify_plaintext(b"correct hors", &context),
            None
        );
        assert_eq!(credentials.verify_plaintext(b"", &context), None);
        assert_eq!(Credentials::new("x").verify_plaintext(b"", &context), None);
    }

    #[test]
    fn app_passwords_work_alone_and_are_revocable() {
        let mut credentials = account("alice@example.org", "primary");
        let (app, shown) =
            AppPassword::generate("alice@example.org", "phone", 1, &fast_options()).unwrap();
        assert_eq!(shown.len(), 19);
        assert!(
            shown
                .bytes()
                .all(|b| b == b'-' || b.is_ascii_alphanumeric())
        );
        credentials.app_passwords.push(app);

        let context = Context::new(0);
        assert_eq!(
            credentials.verify_plaintext(shown.as_bytes(), &context),
            Some((CredentialUsed::AppPassword("phone".into()), None))
        );
        credentials.app_passwords.clear();
        assert_eq!(
            credentials.verify_plaintext(shown.as_bytes(), &context),
            None
        );
    }

    #[test]
    fn an_account_shares_one_scram_salt() {
        let mut credentials = Credentials::new("alice");
        credentials
            .set_password(b"primary", &fast_options())
            .unwrap();
        let phone = credentials
            .add_app_password("phone", 1, &fast_options())
            .unwrap();
        credentials
            .set_password(b"changed", &fast_options())
            .unwrap();
        let salts: Vec<_> = credentials
            .challenge_response_candidates()
            .map(|(_, s)| s.scram_sha256.as_ref().unwrap().salt.clone())
            .collect();
        assert_eq!(salts.len(), 2);
        assert_eq!(salts[0], salts[1]);

        let context = Context::new(0);
        assert!(credentials.verify_plaintext(b"changed", &context).is_some());
        assert!(credentials.verify_plaintext(b"primary", &context).is_none());
        assert!(
            credentials
                .verify_plaintext(phone.as_bytes(), &context)
                .is_some()
        );
        assert_eq!(
            credentials.add_app_password("phone", 2, &fast_options()),
            Err(CredentialError::DuplicateLabel)
        );
        assert!(credentials.revoke_app_password("phone"));
        assert!(!credentials.revoke_app_password("phone"));
        assert!(
            credentials
                .verify_plaintext(phone.as_bytes(), &context)
                .is_none()
        );
    }

    #[test]
    fn app_passwords_are_capped() {
        let mut options = fast_options();
        options.cram_md5 = false;
        options.scram_iterations = None;
        let mut credentials = Credentials::new("alice");
        for n in 0..MAX_APP_PASSWORDS {
            credentials
                .add_app_password(&n.to_string(), 0, &options)
                .unwrap();
        }
        assert_eq!(
            credentials.add_app_password("one more", 0, &options),
            Err(CredentialError::TooManyAppPasswords)
        );
    }

    #[test]
    fn generated_app_passwords_differ() {
        assert_ne!(
            generate_app_password().unwrap(),
            generate_app_password().unwrap()
        );
    }

    #[test]
    fn authorization_identities() {
        let mut credentials = Credentials::new("alice@example.org");
        assert!(credentials.may_act_as(""));
        assert!(credentials.may_act_as("ALICE@example.org"));
        assert!(!credentials.may_act_as("bob@example.org"));
        credentials.authorized_ids.push("shared@example.org".into());
        assert!(credentials.may_act_as("shared@example.org"));
    }

    #[test]
    fn invalid_argon2_parameters_are_an_error() {
        let mut options = fast_options();
        options.argon2.memory_kib = 1;
        assert_eq!(
            PasswordSecrets::derive("a", b"b", &options).unwrap_err(),
            CredentialError::InvalidParameters
        );
    }
}
