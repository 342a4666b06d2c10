//! HTTPS for the station service (rustls on ring), and the certificates for a site without its
//! own PKI: `kiosk certs` makes a station CA and a server certificate for the station's names and
//! addresses. Kiosks and nurse stations trust the CA file (`station.ca_file`); the CA's key is
//! only needed to issue a new server certificate and should be kept offline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The station's certificate chain and key (PEM files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, server certificate first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// A TLS set-up problem, naming the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read or holds no usable PEM item.
    #[error(
        "TLS {what} {path}: {detail}. Give the PEM file of the station's {what} (`kiosk certs` makes one)"
    )]
    File {
        /// "certificate" or "key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The certificate and key do not make a server configuration.
    #[error("TLS certificate {cert} and key {key} do not fit together: {detail}")]
    Config {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// rustls's words.
        detail: String,
    },
    /// Making certificates failed.
    #[error("cannot make certificates: {0}")]
    Generate(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server configuration from `files`.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let file_err = |what, path: &Path, detail: String| TlsError::File { what, path: path.to_owned(), detail };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| file_err("certificate", &files.cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err("certificate", &files.cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_err("certificate", &files.cert, "no CERTIFICATE block found".into()));
    }
    let key =
        PrivateKeyDer::from_pem_file(&files.key).map_err(|e| file_err("key", &files.key, e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| TlsError::Config {
            cert: files.cert.clone(),
            key: files.key.clone(),
            detail: e.to_string(),
        })?;
    Ok(Arc::new(config))
}

/// Serves `app` over TLS on `listener` until `shutdown`: each connection's handshake (at most
/// 10 s) and requests run on their own task, so a slow client never holds up the others.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    config: Arc<rustls::ServerConfig>,
    shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(%peer, error = %e, "TLS handshake refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let io = hyper_util::rt::TokioIo::new(tls);
            let service = hyper_util::service::TowerToHyperService::new(app);
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(20))
                .serve_connection(io, service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}

/// The files `generate` wrote.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The CA certificate: give it to every kiosk and nurse station (`station.ca_file`).
    pub ca_cert: PathBuf,
    /// The CA's key: keep it offline; it only issues new server certificates.
    pub ca_key: PathBuf,
    /// The station's certificate (`station.tls_cert`).
    pub cert: PathBuf,
    /// The station's key (`station.tls_key`), readable by the service's user only.
    pub key: PathBuf,
}

/// Makes a station CA and a server certificate for `hosts` (DNS names or IP addresses), valid
/// for `days`, in `dir`. Existing files are not overwritten.
pub fn generate(dir: &Path, hosts: &[String], days: u32) -> Result<Generated, TlsError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let err = |e: &dyn std::fmt::Display| TlsError::Generate(e.to_string());
    if hosts.is_empty() {
        return Err(TlsError::Generate(
            "name at least one host (the station's DNS name or IP address)".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
    let out = Generated {
        ca_cert: dir.join("station-ca.pem"),
        ca_key: dir.join("station-ca.key"),
        cert: dir.join("station.pem"),
        key: dir.join("station.key"),
    };
    for p in [&out.ca_cert, &out.ca_key, &out.cert, &out.key] {
        if p.exists() {
            return Err(TlsError::Generate(format!("{} exists; move it away first", p.display())));
        }
    }
    let now = time_now();
    let until = now + Duration::from_secs(u64::from(days) * 86_400);
    let ca_key = KeyPair::generate().map_err(|e| err(&e))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| err(&e))?;
    ca.distinguished_name.push(DnType::CommonName, "Pre-consultation station CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now.into();
    ca.not_after = until.into();
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| err(&e))?;
    let key = KeyPair::generate().map_err(|e| err(&e))?;
    let mut params = CertificateParams::new(hosts.to_vec()).map_err(|e| err(&e))?;
    params.distinguished_name.push(DnType::CommonName, hosts[0].clone());
    params.not_before = now.into();
    params.not_after = until.into();
    let issuer = Issuer::from_params(&ca, &ca_key);
    let cert = params.signed_by(&key, &issuer).map_err(|e| err(&e))?;
    write_private(&out.ca_key, &ca_key.serialize_pem()).map_err(|e| err(&e))?;
    write_private(&out.key, &key.serialize_pem()).map_err(|e| err(&e))?;
    std::fs::write(&out.ca_cert, ca_cert.pem()).map_err(|e| err(&e))?;
    std::fs::write(&out.cert, cert.pem()).map_err(|e| err(&e))?;
    Ok(out)
}

fn time_now() -> std::time::SystemTime {
    std::time::SystemTime::now()
}

/// Writes a key readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
