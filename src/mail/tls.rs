//! TLS for the mail connections: the public web PKI roots plus, when configured, the
//! certificates of `mail.ca_file` (an internal CA or a self-signed server).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The certificates of a PEM file (for lettre, which takes them as PEM).
pub fn read_pem(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("mail.ca_file {} cannot be read", path.display()))
}

/// A client configuration trusting the web PKI and the certificates in `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let pem = read_pem(path)?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert =
                cert.with_context(|| format!("mail.ca_file {} holds a malformed certificate", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("mail.ca_file {} holds an unusable certificate", path.display()))?;
            added += 1;
        }
        if added == 0 {
            anyhow::bail!("mail.ca_file {} holds no certificate", path.display());
        }
    }
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    Ok(Arc::new(config))
}
