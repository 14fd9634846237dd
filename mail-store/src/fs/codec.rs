//! The text formats of the filesystem store: escaping, checksummed journal lines, and the
//! account, routing and queue records.
//!
//! Every record is line-oriented UTF-8 with tab-separated fields, so an operator can read it
//! with `less` and a backup script can diff it. Free-text fields are escaped with `%XX` for
//! `%`, tab, CR, LF and other control characters, which keeps one record on one line.

use std::fmt::Write as _;

use mail_auth::Secret;
use mail_auth::cram_md5::CramMd5Secret;
use mail_auth::credentials::{AppPassword, Credentials, PasswordSecrets};
use mail_auth::digest_md5::DigestMd5Secret;
use mail_auth::scram::ScramSecret;
use mail_auth::totp::TotpState;

use crate::{Account, Flag, Flags, QueueEntry, Quota, RecipientStatus, Result, StoreError};

/// The first line of an account record.
const ACCOUNT_MAGIC: &str = "rampart-account 1";

/// The first line of the routing file (aliases and catch-alls).
const ROUTING_MAGIC: &str = "rampart-routing 1";

/// The first line of a queue entry.
const QUEUE_MAGIC: &str = "rampart-queue 1";

/// A [`StoreError::Corrupted`] naming what failed to parse.
pub(super) fn corrupted(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupted(what.to_string())
}

/// Escapes a free-text field so that it holds no tab, CR, LF or other control character.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '%' || c.is_control() {
            for byte in c.to_string().bytes() {
                let _ = write!(out, "%{byte:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverses [`escape`].
pub(super) fn unescape(text: &str) -> Result<String> {
    let bytes = percent_decode(text).ok_or_else(|| corrupted(format!("escape in {text:?}")))?;
    String::from_utf8(bytes).map_err(|_| corrupted(format!("UTF-8 in {text:?}")))
}

/// Maps a name (an account address, one level of a mailbox name) to a directory name that
/// cannot escape its parent: only ASCII letters, digits and `-_+,@=` stay as they are, every
/// other byte (`.`, `/`, `%`, spaces, non-ASCII) becomes `%XX`. `..` therefore becomes
/// `%2E%2E`, and the Maildir++ separator `.` never occurs inside a level.
pub(super) fn dir_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_+,@=".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Reverses [`dir_name`]; `None` for a name this store did not make.
pub(super) fn from_dir_name(name: &str) -> Option<String> {
    String::from_utf8(percent_decode(name)?).ok()
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Lower-case hexadecimal.
pub(super) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Reverses [`hex`].
pub(super) fn unhex(text: &str) -> Result<Vec<u8>> {
    let bad = || corrupted(format!("hex {text:?}"));
    if !text.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            let pair = text.get(i..i + 2).ok_or_else(bad)?;
            u8::from_str_radix(pair, 16).map_err(|_| bad())
        })
        .collect()
}

fn unhex_array<const N: usize>(text: &str) -> Result<[u8; N]> {
    unhex(text)?
        .try_into()
        .map_err(|_| corrupted(format!("length of {text:?}")))
}

/// Parses a decimal field.
pub(super) fn number<T: std::str::FromStr>(text: &str) -> Result<T> {
    text.parse()
        .map_err(|_| corrupted(format!("number {text:?}")))
}

fn optional_number(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

fn parse_optional_number(text: &str) -> Result<Option<u64>> {
    if text == "-" {
        Ok(None)
    } else {
        number(text).map(Some)
    }
}

/// FNV-1a, 32 bits: enough to tell a torn or zero-filled journal line from a written one
/// (it is not a defence against tampering, which needs write access to the store anyway).
fn checksum(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// A journal line: the fields, tab-separated, then their checksum, then LF.
pub(super) fn journal_line(body: &str) -> String {
    format!("{body}\t{:08x}\n", checksum(body))
}

/// The body of a journal line whose checksum matches, without the line end.
pub(super) fn check_journal_line(line: &str) -> Option<&str> {
    let (body, sum) = line.rsplit_once('\t')?;
    (u32::from_str_radix(sum, 16).ok()? == checksum(body)).then_some(body)
}

/// Flags as one field: IMAP spellings separated by spaces (keywords are atoms, which hold
/// neither spaces nor tabs).
pub(super) fn flags_field(flags: &Flags) -> String {
    let names: Vec<String> = flags.iter().map(Flag::to_string).collect();
    names.join(" ")
}

/// Reverses [`flags_field`].
pub(super) fn parse_flags(text: &str) -> Result<Flags> {
    text.split(' ')
        .filter(|name| !name.is_empty())
        .map(|name| Flag::parse(name).ok_or_else(|| corrupted(format!("flag {name:?}"))))
        .collect()
}

/// The Maildir info suffix for a message's system flags (`:2,` and the letters in ASCII
/// order, as the Maildir specification asks). Keywords are not in file names.
pub(super) fn maildir_info(flags: &Flags) -> String {
    let mut info = String::from(":2,");
    for (flag, letter) in [
        (Flag::Draft, 'D'),
        (Flag::Flagged, 'F'),
        (Flag::Answered, 'R'),
        (Flag::Seen, 'S'),
        (Flag::Deleted, 'T'),
    ] {
        if flags.contains(&flag) {
            info.push(letter);
        }
    }
    info
}

/// Encodes an account record.
pub(super) fn encode_account(account: &Account) -> String {
    let mut out = format!("{ACCOUNT_MAGIC}\naddress\t{}\n", escape(&account.address));
    let quota = &account.quota;
    let _ = writeln!(
        out,
        "quota\t{}\t{}",
        optional_number(quota.max_bytes),
        optional_number(quota.max_messages)
    );

    let credentials = &account.credentials;
    let _ = writeln!(
        out,
        "authentication-id\t{}",
        escape(&credentials.authentication_id)
    );
    for id in &credentials.authorized_ids {
        let _ = writeln!(out, "authorized-id\t{}", escape(id));
    }
    if let Some(secrets) = &credentials.password {
        out.push_str("password\n");
        encode_secrets(&mut out, secrets);
    }
    for app in &credentials.app_passwords {
        let _ = writeln!(out, "app-password\t{}\t{}", escape(&app.label), app.created);
        encode_secrets(&mut out, &app.secrets);
    }
    if let Some(totp) = &credentials.totp {
        let last = optional_number(totp.last_used_step);
        let _ = writeln!(out, "totp\t{}\t{last}", hex(totp.secret.expose()));
    }
    out.push_str("end\n");
    out
}

fn encode_secrets(out: &mut String, secrets: &PasswordSecrets) {
    let _ = writeln!(out, "argon2\t{}", escape(&secrets.argon2));
    if let Some(cram) = &secrets.cram_md5 {
        let _ = writeln!(out, "cram-md5\t{}\t{}", hex(&cram.inner), hex(&cram.outer));
    }
    for digest in &secrets.digest_md5 {
        let _ = writeln!(
            out,
            "digest-md5\t{}\t{}",
            escape(&digest.realm),
            hex(&digest.h_a1)
        );
    }
    if let Some(scram) = &secrets.scram_sha256 {
        let _ = writeln!(
            out,
            "scram-sha-256\t{}\t{}\t{}\t{}",
            hex(&scram.salt),
            scram.iterations,
            hex(&scram.stored_key),
            hex(&scram.server_key)
        );
    }
}

/// Where the secret lines of an account record go: the primary password or the last app
/// password opened.
enum SecretsTarget {
    None,
    Password,
    App,
}

/// Decodes an account record.
pub(super) fn decode_account(text: &str) -> Result<Account> {
    let mut lines = text.lines();
    if lines.next() != Some(ACCOUNT_MAGIC) {
        return Err(corrupted("account record version"));
    }

    let mut address = None;
    let mut quota = Quota::default();
    let mut credentials = Credentials::new("");
    let mut target = SecretsTarget::None;
    let mut complete = false;
    for line in lines {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["address", value] => address = Some(unescape(value)?),
            ["quota", bytes, messages] => {
                quota.max_bytes = parse_optional_number(bytes)?;
                quota.max_messages = parse_optional_number(messages)?;
            }
            ["authentication-id", id] => credentials.authentication_id = unescape(id)?,
            ["authorized-id", id] => credentials.authorized_ids.push(unescape(id)?),
            ["password"] => {
                credentials.password = Some(PasswordSecrets::from_argon2(String::new()));
                target = SecretsTarget::Password;
            }
            ["app-password", label, created] => {
                let secrets = PasswordSecrets::from_argon2(String::new());
                let app = AppPassword::from_parts(unescape(label)?, number(created)?, secrets);
                credentials.app_passwords.push(app);
                target = SecretsTarget::App;
            }
            ["totp", secret, last] => {
                let mut totp = TotpState::new(Secret::new(unhex(secret)?));
                totp.last_used_step = parse_optional_number(last)?;
                credentials.totp = Some(totp);
            }
            ["end"] => complete = true,
            _ => {
                let secrets = match target {
                    SecretsTarget::Password => credentials.password.as_mut(),
                    SecretsTarget::App => {
                        credentials.app_passwords.last_mut().map(|a| &mut a.secrets)
                    }
                    SecretsTarget::None => None,
                };
                let secrets = secrets.ok_or_else(|| corrupted(format!("line {line:?}")))?;
                decode_secret_line(secrets, &fields)?;
            }
        }
    }

    // A record is written whole and renamed into place, so a missing end means damage.
    let address = address
        .filter(|_| complete)
        .ok_or_else(|| corrupted("account record"))?;
    Ok(Account {
        address,
        credentials,
        quota,
    })
}

fn decode_secret_line(secrets: &mut PasswordSecrets, fields: &[&str]) -> Result<()> {
    match fields {
        ["argon2", phc] => secrets.argon2 = unescape(phc)?,
        ["cram-md5", inner, outer] => {
            secrets.cram_md5 = Some(CramMd5Secret {
                inner: unhex_array(inner)?,
                outer: unhex_array(outer)?,
            });
        }
        ["digest-md5", realm, h_a1] => secrets.digest_md5.push(DigestMd5Secret {
            realm: unescape(realm)?,
            h_a1: unhex_array(h_a1)?,
        }),
        ["scram-sha-256", salt, iterations, stored, server] => {
            secrets.scram_sha256 = Some(ScramSecret {
                salt: unhex(salt)?,
                iterations: number(iterations)?,
                stored_key: unhex_array(stored)?,
                server_key: unhex_array(server)?,
            });
        }
        _ => return Err(corrupted(format!("account line {:?}", fields.join("\t")))),
    }
    Ok(())
}

/// The cheapest derivation there is: no optional secrets and Argon2's minimum cost.
#[cfg(test)]
fn cheapest_options() -> mail_auth::credentials::DeriveOptions {
    let mut options = mail_auth::credentials::DeriveOptions::default();
    options.argon2 = mail_auth::credentials::Argon2Params {
        memory_kib: 8,
        iterations: 1,
        lanes: 1,
    };
    options.cram_md5 = false;
    options.digest_md5_realms.clear();
    options.scram_iterations = None;
    options
}

/// Aliases and catch-alls.
#[derive(Debug, Default, Clone)]
pub(super) struct Routing {
    /// Alias address to account address.
    pub(super) aliases: std::collections::BTreeMap<String, String>,
    /// Domain to account address.
    pub(super) catch_alls: std::collections::BTreeMap<String, String>,
}

/// Encodes the routing file.
pub(super) fn encode_routing(routing: &Routing) -> String {
    let mut out = format!("{ROUTING_MAGIC}\n");
    for (alias, account) in &routing.aliases {
        let _ = writeln!(out, "alias\t{}\t{}", escape(alias), escape(account));
    }
    for (domain, account) in &routing.catch_alls {
        let _ = writeln!(out, "catch-all\t{}\t{}", escape(domain), escape(account));
    }
    out.push_str("end\n");
    out
}

/// Decodes the routing file.
pub(super) fn decode_routing(text: &str) -> Result<Routing> {
    let mut lines = text.lines();
    if lines.next() != Some(ROUTING_MAGIC) {
        return Err(corrupted("routing file version"));
    }
    let mut routing = Routing::default();
    let mut complete = false;
    for line in lines {
        match line.split('\t').collect::<Vec<_>>().as_slice() {
            ["alias", alias, account] => {
                routing.aliases.insert(unescape(alias)?, unescape(account)?);
            }
            ["catch-all", domain, account] => {
                routing
                    .catch_alls
                    .insert(unescape(domain)?, unescape(account)?);
            }
            ["end"] => complete = true,
            _ => return Err(corrupted(format!("routing line {line:?}"))),
        }
    }
    complete
        .then_some(routing)
        .ok_or_else(|| corrupted("routing file"))
}

/// Encodes a queue entry.
pub(super) fn encode_queue_entry(entry: &QueueEntry) -> String {
    let mut out = format!("{QUEUE_MAGIC}\nid\t{}\n", entry.id);
    let _ = writeln!(out, "sender\t{}", escape(&entry.sender));
    let _ = writeln!(out, "created\t{}", entry.created);
    let _ = writeln!(out, "next-attempt\t{}", entry.next_attempt);
    let _ = writeln!(out, "attempts\t{}", entry.attempts);
    for (recipient, status) in &entry.recipients {
        let recipient = escape(recipient);
        let _ = match status {
            RecipientStatus::Pending => writeln!(out, "rcpt\t{recipient}\tpending"),
            RecipientStatus::Delivered => writeln!(out, "rcpt\t{recipient}\tdelivered"),
            RecipientStatus::Failed(text) => {
                writeln!(out, "rcpt\t{recipient}\tfailed\t{}", escape(text))
            }
            RecipientStatus::Deferred(text) => {
                writeln!(out, "rcpt\t{recipient}\tdeferred\t{}", escape(text))
            }
        };
    }
    out.push_str("end\n");
    out
}

/// Decodes a queue entry.
pub(super) fn decode_queue_entry(text: &str) -> Result<QueueEntry> {
    let mut lines = text.lines();
    if lines.next() != Some(QUEUE_MAGIC) {
        return Err(corrupted("queue entry version"));
    }
    let mut entry = QueueEntry {
        id: 0,
        sender: String::new(),
        recipients: Vec::new(),
        next_attempt: 0,
        attempts: 0,
        created: 0,
    };
    let mut complete = false;
    for line in lines {
        match line.split('\t').collect::<Vec<_>>().as_slice() {
            ["id", id] => entry.id = number(id)?,
            ["sender", sender] => entry.sender = unescape(sender)?,
            ["created", created] => entry.created = number(created)?,
            ["next-attempt", next] => entry.next_attempt = number(next)?,
            ["attempts", attempts] => entry.attempts = number(attempts)?,
            ["rcpt", recipient, "pending"] => {
                entry
                    .recipients
                    .push((unescape(recipient)?, RecipientStatus::Pending));
            }
            ["rcpt", recipient, "delivered"] => {
                entry
                    .recipients
                    .push((unescape(recipient)?, RecipientStatus::Delivered));
            }
            ["rcpt", recipient, "failed", text] => entry.recipients.push((
                unescape(recipient)?,
                RecipientStatus::Failed(unescape(text)?),
            )),
            ["rcpt", recipient, "deferred", text] => entry.recipients.push((
                unescape(recipient)?,
                RecipientStatus::Deferred(unescape(text)?),
            )),
            ["end"] => complete = true,
            _ => return Err(corrupted(format!("queue line {line:?}"))),
        }
    }
    complete
        .then_some(entry)
        .ok_or_else(|| corrupted("queue entry"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        assert_eq!(dir_name(".."), "%2E%2E");
        assert_eq!(dir_name("a/b"), "a%2Fb");
        assert_eq!(dir_name("alice@example.org"), "alice@example%2Eorg");
        assert_eq!(dir_name("Ünï"), "%C3%9Cn%C3%AF");
        for name in ["..", "a/b.c", "Ünï", "%41", ""] {
            assert_eq!(from_dir_name(&dir_name(name)).unwrap(), name);
        }
    }

    #[test]
    fn journal_lines_detect_tearing() {
        let line = journal_line("A\t1\t2");
        let body = line.trim_end_matches('\n');
        assert_eq!(check_journal_line(body), Some("A\t1\t2"));
        assert_eq!(check_journal_line(&body[..body.len() - 1]), None);
        assert_eq!(check_journal_line("\0\0\0\0"), None);
    }

    #[test]
    fn escapes_round_trip() {
        for text in ["plain", "tab\there", "100%", "line\r\nbreak", ""] {
            assert_eq!(unescape(&escape(text)).unwrap(), text);
            assert!(!escape(text).contains(['\t', '\n']));
        }
    }

    #[test]
    fn accounts_round_trip() {
        let mut options = cheapest_options();
        options.cram_md5 = true;
        options.digest_md5_realms = vec!["example.org".into()];
        options.scram_iterations = Some(4096);
        let mut credentials = Credentials::new("alice@example.org");
        credentials.set_password(b"secret", &options).unwrap();
        credentials
            .add_app_password("phone\tx", 7, &options)
            .unwrap();
        let mut totp = TotpState::generate().unwrap();
        totp.last_used_step = Some(42);
        credentials.totp = Some(totp);
        credentials.authorized_ids.push("shared@example.org".into());
        let account = Account {
            address: "alice@example.org".into(),
            credentials,
            quota: Quota {
                max_bytes: Some(10),
                max_messages: None,
            },
        };
        assert_eq!(decode_account(&encode_account(&account)).unwrap(), account);
    }

    #[test]
    fn queue_entries_round_trip() {
        let entry = QueueEntry {
            id: 9,
            sender: String::new(),
            recipients: vec![
                ("a@x".into(), RecipientStatus::Pending),
                ("b@x".into(), RecipientStatus::Failed("550 no\tsuch".into())),
                ("c@x".into(), RecipientStatus::Deferred("451 later".into())),
                ("d@x".into(), RecipientStatus::Delivered),
            ],
            next_attempt: 5,
            attempts: 2,
            created: -1,
        };
        assert_eq!(
            decode_queue_entry(&encode_queue_entry(&entry)).unwrap(),
            entry
        );
    }
}
