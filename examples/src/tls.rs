//! The server's TLS configuration: the configured certificate, or a self-signed one for the
//! hostname that is generated on first start and reused afterwards; reloaded from the same
//! files on SIGHUP, so a renewed certificate needs no restart.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ServerConfig, version};
use tokio_rustls::{Accept, TlsAcceptor};

use crate::config::Config;

/// The crypto provider (ring), also installed as the process default so that any rustls
/// builder that does not name a provider finds the same one.
pub fn rustls_provider() -> Arc<CryptoProvider> {
    // An error only means a default is installed already, which is fine.
    let _ = ring::default_provider().install_default();
    Arc::new(ring::default_provider())
}

/// Loads the certificate and key named by `[tls]` (defaults under `data_dir`), generating a
/// self-signed pair first when neither file exists, and builds the acceptor that every
/// listener hands its TLS handshakes to.
pub fn load_or_generate(config: &Config, data_dir: &Path) -> Result<Acceptor, String> {
    let (cert_path, key_path) = config.tls.paths(data_dir);

    // Generate only when both are absent: one file without the other is an operator's
    // mistake that overwriting would hide (and might destroy a real key).
    match (cert_path.exists(), key_path.exists()) {
        (false, false) => generate(&config.server.hostname, &cert_path, &key_path)?,
        (true, false) => {
            return Err(format!(
                "{} exists but {} does not",
                cert_path.display(),
                key_path.display()
            ));
        }
        (false, true) => {
            return Err(format!(
                "{} exists but {} does not",
                key_path.display(),
                cert_path.display()
            ));
        }
        (true, true) => {}
    }

    let server = server_config(&cert_path, &key_path)?;
    Ok(Acceptor {
        current: RwLock::new(server),
        cert_path,
        key_path,
    })
}

/// The TLS side of every listener: the server configuration of the certificate loaded
/// last, which [`Acceptor::reload`] replaces while the server runs (on SIGHUP).
///
/// A handshake takes the configuration current when it starts and keeps it, so replacing
/// it changes only the handshakes that follow; open connections are left as they are.
pub struct Acceptor {
    current: RwLock<Arc<ServerConfig>>,
    cert_path: PathBuf,
    key_path: PathBuf,
}

impl Acceptor {
    /// Starts a server handshake on `stream` with the current certificate.
    pub fn accept<IO>(&self, stream: IO) -> Accept<IO>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        TlsAcceptor::from(self.current()).accept(stream)
    }

    /// The configuration new handshakes use.
    pub fn current(&self) -> Arc<ServerConfig> {
        // A panic elsewhere cannot leave a half-written Arc behind, so a poisoned lock
        // still holds a usable configuration.
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        Arc::clone(&current)
    }

    /// Reads the certificate and key files again and, when both load and match, uses them
    /// for every handshake from now on. On error the old pair stays in use, so a botched
    /// renewal never leaves the server without a certificate.
    pub fn reload(&self) -> Result<(), String> {
        let server = server_config(&self.cert_path, &self.key_path)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = server;
        Ok(())
    }

    /// The certificate file, for the log.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }
}

/// Builds a server configuration from PEM files that speaks TLS 1.3 and 1.2 only and asks
/// for no client certificate; it fails when the key does not belong to the certificate.
fn server_config(cert_path: &Path, key_path: &Path) -> Result<Arc<ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(cert_path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("cannot read certificate {}: {error}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in the file",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|error| format!("cannot read private key {}: {error}", key_path.display()))?;

    let server = ServerConfig::builder_with_provider(rustls_provider())
        .with_protocol_versions(&[&version::TLS13, &version::TLS12])
        .map_err(|error| format!("TLS setup: {error}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| format!("{}: {error}", cert_path.display()))?;
    Ok(Arc::new(server))
}

/// Writes a self-signed certificate for `hostname`, `localhost`, 127.0.0.1 and ::1.
fn generate(hostname: &str, cert_path: &Path, key_path: &Path) -> Result<(), String> {
    let mut names = vec![hostname.to_owned()];
    for extra in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|name| name == extra) {
            names.push(extra.to_owned());
        }
    }
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|error| format!("cannot generate a certificate for {hostname}: {error}"))?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed certificate");

    // The key first: a certificate without its key would block the next start.
    write_atomically(
        key_path,
        generated.signing_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_atomically(cert_path, generated.cert.pem().as_bytes(), 0o644)
}

/// Writes `contents` to a temporary file beside `path` with `mode`, then renames it into
/// place, so that a crash leaves either no file or a complete one.
fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    let fail = |error: std::io::Error| format!("cannot write {}: {error}", path.display());
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        fs::create_dir_all(parent).map_err(fail)?;
    }

    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let written = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(contents)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if let Err(error) = written {
        let _ = fs::remove_file(&temp);
        return Err(fail(error));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reuses() {
        let dir = std::env::temp_dir().join(format!("rampart-tls-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let config = Config::default();

        load_or_generate(&config, &dir).expect("first start generates");
        let (cert_path, key_path) = config.tls.paths(&dir);
        let cert = fs::read(&cert_path).expect("certificate written");
        assert!(fs::read(&key_path).is_ok_and(|key| !key.is_empty()));
        let mode = fs::metadata(&key_path)
            .map(|meta| std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777);
        assert_eq!(mode.ok(), Some(0o600));

        load_or_generate(&config, &dir).expect("second start loads");
        assert_eq!(fs::read(&cert_path).ok(), Some(cert));

        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn reload_replaces_a_good_pair_and_keeps_the_old_on_error() {
        let dir = std::env::temp_dir().join(format!("rampart-reload-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let config = Config::default();
        let acceptor = load_or_generate(&config, &dir).expect("first start generates");
        let first = acceptor.current();

        // A new pair in place of the old one is taken up.
        let (cert_path, key_path) = config.tls.paths(&dir);
        fs::remove_file(&cert_path).expect("remove the certificate");
        fs::remove_file(&key_path).expect("remove the key");
        generate("localhost", &cert_path, &key_path).expect("a second pair");
        acceptor.reload().expect("the new pair loads");
        let second = acceptor.current();
        assert!(!Arc::ptr_eq(&first, &second));

        // A broken certificate, then a key that is not the certificate's, are refused.
        let good_cert = fs::read(&cert_path).expect("read the certificate");
        fs::write(&cert_path, "not a certificate\n").expect("break the certificate");
        let broken = acceptor.reload().expect_err("a file without a certificate");
        assert!(broken.contains("no certificate"), "{broken}");
        let other = dir.join("other");
        generate("localhost", &other.join("cert.pem"), &other.join("key.pem")).expect("pair");
        fs::write(&cert_path, good_cert).expect("restore the certificate");
        fs::copy(other.join("key.pem"), &key_path).expect("a foreign key");
        assert!(acceptor.reload().is_err(), "a key of another certificate");
        assert!(Arc::ptr_eq(&second, &acceptor.current()));

        let _ = fs::remove_dir_all(&dir);
    }
}
