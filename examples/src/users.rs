//! The `user` commands: accounts, passwords, TOTP and app passwords, over the file store.

use std::io::BufRead;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use mail_auth::credentials::{Credentials, DeriveOptions};
use mail_auth::totp::TotpState;
use mail_store::fs::FsStore;
use mail_store::{Account, Quota, Store};
use smtp_proto::address::{Domain, Mailbox};

use crate::config::Config;

/// One `user` subcommand, its arguments already parsed.
#[derive(Debug, Clone)]
pub enum UserAction {
    /// Create an account; the password comes from stdin.
    Add(String),
    /// Set a new password from stdin, keeping app passwords and TOTP.
    Passwd(String),
    /// Delete an account.
    Del(String),
    /// Print every account.
    List,
    /// Turn on TOTP and print the otpauth:// URI.
    Totp(String),
    /// Create an app password with a label and print it.
    AppPassword(String, String),
}

/// Which secrets a new password gets, following the mechanisms `[auth]` offers: the
/// password-equivalent CRAM-MD5 and DIGEST-MD5 secrets only while those are enabled.
pub fn derive_options(config: &Config) -> DeriveOptions {
    let enabled = |name: &str| {
        config
            .auth
            .mechanisms
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name))
    };
    let scram = enabled("SCRAM-SHA-256") || enabled("SCRAM-SHA-256-PLUS");

    let mut options = DeriveOptions::default();
    options.cram_md5 = enabled("CRAM-MD5");
    options.digest_md5_realms = if enabled("DIGEST-MD5") {
        vec![config.server.hostname.clone()]
    } else {
        Vec::new()
    };
    options.scram_iterations = scram.then_some(4096);
    options
}

/// Runs one `user` command, writing its output to stdout.
pub fn run(data_dir: &Path, config: &Config, action: UserAction) -> Result<(), String> {
    // Check the address before touching the store, so a typo creates nothing.
    let address = match &action {
        UserAction::List => None,
        UserAction::Add(email)
        | UserAction::Passwd(email)
        | UserAction::Del(email)
        | UserAction::Totp(email)
        | UserAction::AppPassword(email, _) => Some(local_address(config, email)?),
    };

    let store_dir = data_dir.join("store");
    let store = FsStore::open(&store_dir)
        .map_err(|error| format!("cannot open the store {}: {error}", store_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    runtime.block_on(execute(&store, config, action, address))
}

async fn execute(
    store: &FsStore,
    config: &Config,
    action: UserAction,
    address: Option<String>,
) -> Result<(), String> {
    let options = derive_options(config);
    let address = address.unwrap_or_default();
    let failed = |error: mail_store::StoreError| format!("{address}: {error}");

    match action {
        UserAction::List => {
            for account in store.list_accounts().await.map_err(|e| e.to_string())? {
                println!("{account}");
            }
        }
        UserAction::Add(_) => {
            if store.account(&address).await.map_err(failed)?.is_some() {
                return Err(format!("{address}: the account exists already"));
            }
            let password = read_password()?;
            let mut credentials = Credentials::new(address.clone());
            credentials
                .set_password(password.as_bytes(), &options)
                .map_err(|e| e.to_string())?;
            store
                .create_account(&address, credentials, Quota::default())
                .await
                .map_err(failed)?;
            println!("created {address}");
        }
        UserAction::Passwd(_) => {
            let mut credentials = existing(store, &address).await?.credentials;
            let password = read_password()?;
            credentials
                .set_password(password.as_bytes(), &options)
                .map_err(|e| e.to_string())?;
            store
                .set_credentials(&address, credentials)
                .await
                .map_err(failed)?;
            println!("password changed for {address}");
        }
        UserAction::Del(_) => {
            existing(store, &address).await?;
            store.delete_account(&address).await.map_err(failed)?;
            println!("deleted {address}");
        }
        UserAction::Totp(_) => {
            let mut credentials = existing(store, &address).await?.credentials;
            let state = TotpState::generate().map_err(|e| e.to_string())?;
            let uri = state.otpauth_uri(&config.server.hostname, &address);
            credentials.totp = Some(state);
            store
                .set_credentials(&address, credentials)
                .await
                .map_err(failed)?;
            println!("{uri}");
        }
        UserAction::AppPassword(_, label) => {
            if label.is_empty() || label.chars().any(char::is_control) {
                return Err(format!("invalid app password label {label:?}"));
            }
            let mut credentials = existing(store, &address).await?.credentials;
            let password = credentials
                .add_app_password(&label, unix_now(), &options)
                .map_err(|e| format!("{address}: {e}"))?;
            store
                .set_credentials(&address, credentials)
                .await
                .map_err(failed)?;
            println!("app password {label:?} for {address} (shown once):");
            println!("{password}");
        }
    }
    Ok(())
}

/// The account of `address`, or an error naming it.
async fn existing(store: &FsStore, address: &str) -> Result<Account, String> {
    store
        .account(address)
        .await
        .map_err(|error| format!("{address}: {error}"))?
        .ok_or_else(|| format!("{address}: no such account"))
}

/// Parses `email` as an RFC 5321 mailbox of one of the local domains and returns its
/// canonical (lower-case) form.
fn local_address(config: &Config, email: &str) -> Result<String, String> {
    let mailbox: Mailbox = email
        .parse()
        .map_err(|error| format!("{email:?} is not a valid address: {error}"))?;
    let Domain::Name(domain) = &mailbox.domain else {
        return Err(format!(
            "{email}: address literals cannot be local accounts"
        ));
    };
    if !config
        .server
        .domains
        .iter()
        .any(|local| local.eq_ignore_ascii_case(domain))
    {
        return Err(format!(
            "{email}: {domain} is not one of the local domains (server.domains)"
        ));
    }
    Ok(mail_store::canonical_address(email))
}

/// Reads one line from stdin, without its line ending; refuses an empty password.
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| format!("cannot read the password from stdin: {error}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err("empty password (give it on stdin, one line)".into());
    }
    Ok(password.to_owned())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_options_follow_mechanisms() {
        let mut config = Config::default();
        let options = derive_options(&config);
        assert!(!options.cram_md5);
        assert!(options.digest_md5_realms.is_empty());
        assert_eq!(options.scram_iterations, Some(4096));

        config.auth.mechanisms = vec!["PLAIN".into(), "cram-md5".into(), "DIGEST-MD5".into()];
        let options = derive_options(&config);
        assert!(options.cram_md5);
        assert_eq!(options.digest_md5_realms, vec!["localhost".to_owned()]);
        assert_eq!(options.scram_iterations, None);
    }

    #[test]
    fn addresses_must_be_local() {
        let config = Config::default();
        assert_eq!(
            local_address(&config, "Alice@LocalHost").ok(),
            Some("alice@localhost".into())
        );
        assert!(local_address(&config, "alice@example.com").is_err());
        assert!(local_address(&config, "not an address").is_err());
        assert!(local_address(&config, "a@[127.0.0.1]").is_err());
    }
}
