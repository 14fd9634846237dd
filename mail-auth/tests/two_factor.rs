//! Two-factor accounts across the mechanisms: the primary password works only as
//! `password$CODE` over PLAIN and LOGIN, a used code is refused, and app passwords work
//! alone everywhere.

use mail_auth::Secret;
use mail_auth::cram_md5::CramMd5;
use mail_auth::credentials::PasswordSecrets;
use mail_auth::credentials::{AppPassword, Argon2Params, Credentials, DeriveOptions};
use mail_auth::login::Login;
use mail_auth::plain::Plain;
use mail_auth::sasl::{Context, CredentialUsed, Failure, Progress, ServerMechanism};
use mail_auth::totp::TotpState;

const NOW: u64 = 1_700_000_000;

fn options() -> DeriveOptions {
    let mut options = DeriveOptions::default();
    options.argon2 = Argon2Params {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };
    options
}

/// An account with password "primary", TOTP on, and an app password for the phone.
fn account() -> (Credentials, String) {
    let mut alice = Credentials::new("alice");
    alice.password = Some(PasswordSecrets::derive("alice", b"primary", &options()).unwrap());
    alice.totp = Some(TotpState::new(Secret::new(
        b"12345678901234567890".to_vec(),
    )));
    let (app, shown) = AppPassword::generate("alice", "phone", NOW, &options()).unwrap();
    alice.app_passwords.push(app);
    (alice, shown)
}

fn plain(credentials: &Credentials, password: &str, unix_time: u64) -> Progress {
    let mut plain = Plain::new();
    let message = format!("\0alice\0{password}");
    assert!(matches!(
        plain.start(Some(message.as_bytes())),
        Progress::Lookup { .. }
    ));
    plain.credentials(Some(credentials), &Context::new(unix_time))
}

fn code(credentials: &Credentials, unix_time: u64) -> String {
    credentials.totp.as_ref().unwrap().code_at(unix_time)
}

#[test]
fn the_primary_password_needs_its_code() {
    let (mut alice, _) = account();
    assert_eq!(
        plain(&alice, "primary", NOW),
        Progress::Failure(Failure::InvalidCredentials)
    );
    assert_eq!(
        plain(&alice, "primary$000000", NOW),
        Progress::Failure(Failure::InvalidCredentials)
    );
    let wrong_password = format!("wrong${}", code(&alice, NOW));
    assert_eq!(
        plain(&alice, &wrong_password, NOW),
        Progress::Failure(Failure::InvalidCredentials)
    );

    let with_code = format!("primary${}", code(&alice, NOW));
    let Progress::Success(ok) = plain(&alice, &with_code, NOW) else {
        panic!("password and code")
    };
    assert_eq!(ok.credential, CredentialUsed::Password);
    let step = ok.totp_step.expect("the step to store");
    assert_eq!(step, NOW / 30);

    // The host stores the step; the same code is then refused.
    alice.totp.as_mut().unwrap().last_used_step = Some(step);
    assert_eq!(
        plain(&alice, &with_code, NOW),
        Progress::Failure(Failure::InvalidCredentials)
    );

    // The next step's code works.
    let next = format!("primary${}", code(&alice, NOW + 30));
    assert!(matches!(
        plain(&alice, &next, NOW + 30),
        Progress::Success(_)
    ));
}

#[test]
fn login_carries_the_code_too() {
    let (alice, _) = account();
    let mut login = Login::new();
    login.start(None);
    login.respond(b"alice");
    login.respond(format!("primary${}", code(&alice, NOW)).as_bytes());
    let outcome = login.credentials(Some(&alice), &Context::new(NOW));
    assert!(matches!(outcome, Progress::Success(ok) if ok.totp_step.is_some()));
}

#[test]
fn app_passwords_work_alone_everywhere() {
    let (alice, shown) = account();
    let Progress::Success(ok) = plain(&alice, &shown, NOW) else {
        panic!("app password")
    };
    assert_eq!(ok.credential, CredentialUsed::AppPassword("phone".into()));
    assert_eq!(ok.totp_step, None);

    // CRAM-MD5 cannot carry a code: the primary password is refused there, the app
    // password accepted.
    let challenge = "<1.2@mx.example.org>";
    for (password, accepted) in [("primary", false), (shown.as_str(), true)] {
        let mut cram = CramMd5::with_challenge(challenge.into());
        cram.start(None);
        let digest = hmac_md5(password.as_bytes(), challenge.as_bytes());
        let lookup = cram.respond(format!("alice {digest}").as_bytes());
        assert!(matches!(lookup, Progress::Lookup { .. }));
        let outcome = cram.credentials(Some(&alice), &Context::new(NOW));
        assert_eq!(
            matches!(outcome, Progress::Success(_)),
            accepted,
            "{password}"
        );
    }
}

/// HMAC-MD5 as a CRAM-MD5 client computes it, from the password itself.
fn hmac_md5(key: &[u8], message: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<md5::Md5>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_revoked_app_password_stops_working() {
    let (mut alice, shown) = account();
    alice.app_passwords.retain(|app| app.label != "phone");
    assert_eq!(
        plain(&alice, &shown, NOW),
        Progress::Failure(Failure::InvalidCredentials)
    );
}
