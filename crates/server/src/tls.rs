//! TLS on the listeners: certificate and key files read again when they change (a renewed
//! certificate is served without a restart), and a local CA for trying it (`clearance
//! dev-cert`).

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use clearance_grpc::PeerIdentity;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

/// How often the files are looked at for a change, at most.
const RELOAD_CHECK: Duration = Duration::from_secs(2);
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle TCP connections are probed after this long.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);
/// Connections accepted but not yet taken by the server.
const ACCEPT_QUEUE: usize = 128;

/// Certificate chain and private key files (PEM) for both listeners, and optionally the CA
/// whose client certificates (mTLS, for ERP systems) are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsConfig {
    /// The server's certificate, followed by any intermediates.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// CA certificates (PEM) that sign client certificates. A client certificate's subject
    /// organisation (O) binds the connection: tokens used over it must act for that
    /// organisation.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Refuse connections without a client certificate (only with `client_ca_file`).
    #[serde(default)]
    pub require_client_certificate: bool,
}

/// The rustls configuration serving `tls`'s files, reloaded when they change.
pub fn server_config(tls: &TlsConfig) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let resolver = ReloadingCert::load(tls.clone())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &tls.client_ca_file {
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca_file).with_context(|| {
                format!("reading client CA certificates from {}", ca_file.display())
            })? {
                roots
                    .add(cert.with_context(|| format!("reading {}", ca_file.display()))?)
                    .with_context(|| format!("a client CA certificate in {}", ca_file.display()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let verifier = if tls.require_client_certificate {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            builder
                .with_client_cert_verifier(verifier.build().context("client certificate verifier")?)
        }
        None => {
            anyhow::ensure!(
                !tls.require_client_certificate,
                "tls.require_client_certificate needs tls.client_ca_file"
            );
            builder.with_no_client_auth()
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    // gRPC is HTTP/2 only.
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn certified_key(tls: &TlsConfig) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .with_context(|| format!("reading certificates from {}", tls.cert_file.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no certificate",
        tls.cert_file.display()
    );
    let key = PrivateKeyDer::from_pem_file(&tls.key_file)
        .with_context(|| format!("reading the private key from {}", tls.key_file.display()))?;
    let signing = any_supported_type(&key)
        .with_context(|| format!("{} is not a usable private key", tls.key_file.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().with_context(|| {
        format!(
            "{} does not match {}",
            tls.key_file.display(),
            tls.cert_file.display()
        )
    })?;
    Ok(certified)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Serves the current certificate; looks for changed files at most every [`RELOAD_CHECK`] and
/// keeps the previous certificate if the new files do not load.
#[derive(Debug)]
struct ReloadingCert {
    tls: TlsConfig,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    stamps: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

impl ReloadingCert {
    fn load(tls: TlsConfig) -> anyhow::Result<Self> {
        let key = Arc::new(certified_key(&tls)?);
        let stamps = (modified(&tls.cert_file), modified(&tls.key_file));
        Ok(ReloadingCert {
            tls,
            state: Mutex::new(Loaded {
                key,
                stamps,
                checked: Instant::now(),
            }),
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // A poisoned lock only means a reload panicked; the loaded certificate is still whole.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.checked.elapsed() >= RELOAD_CHECK {
            state.checked = Instant::now();
            let stamps = (modified(&self.tls.cert_file), modified(&self.tls.key_file));
            if stamps != state.stamps {
                match certified_key(&self.tls) {
                    Ok(key) => {
                        state.key = Arc::new(key);
                        state.stamps = stamps;
                        tracing::info!(cert = %self.tls.cert_file.display(), "TLS certificate reloaded");
                    }
                    // Perhaps half written: keep serving the old one and look again later.
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "TLS certificate not reloaded; serving the previous one")
                    }
                }
            }
        }
        Some(state.key.clone())
    }
}

/// An accepted connection, with or without TLS.
pub enum Connection {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connected for Connection {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> Self::ConnectInfo {
        match self {
            Connection::Plain(tcp) => PeerIdentity {
                remote_addr: tcp.peer_addr().ok(),
                certificate_organisation: None,
            },
            Connection::Tls(tls) => {
                let (tcp, session) = tls.get_ref();
                PeerIdentity {
                    remote_addr: tcp.peer_addr().ok(),
                    certificate_organisation: session
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(|cert| certificate_organisation(cert)),
                }
            }
        }
    }
}

/// The subject's organisation (O) of a verified client certificate.
fn certificate_organisation(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    parsed
        .subject()
        .iter_organization()
        .next()
        .and_then(|o| o.as_str().ok())
        .map(str::to_owned)
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Connection::Plain(s) => s.is_write_vectored(),
            Connection::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_flush(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Connection::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Accepts connections on `listener` (with `tls`, completing each handshake in its own task so
/// a slow client delays no other) until the stream is dropped. A client that speaks plaintext
/// to a TLS listener fails its handshake and is closed.
pub fn incoming(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> ReceiverStream<io::Result<Connection>> {
    let (tx, rx) = mpsc::channel(ACCEPT_QUEUE);
    let acceptor = tls.map(TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                // The server stopped taking connections.
                _ = tx.closed() => return,
            };
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors, say: back off briefly rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Without TCP_NODELAY a reply's trailer waits for the client's delayed ACK (~40 ms).
            // TCP keep-alive finds peers that vanished without closing (a pulled cable, a
            // dead NAT).
            let _ = stream.set_nodelay(true);
            let _ = socket2::SockRef::from(&stream)
                .set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(TCP_KEEPALIVE));
            match &acceptor {
                None => {
                    if tx.send(Ok(Connection::Plain(stream))).await.is_err() {
                        return;
                    }
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        {
                            Ok(Ok(tls)) => {
                                let _ = tx.send(Ok(Connection::Tls(Box::new(tls)))).await;
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Writes a local certificate authority and a server certificate it signed for `hosts`
/// (names and IP addresses) into `dir`: `ca.pem` (for clients), `server.pem` and
/// `server-key.pem` (for `[tls]`). For trying TLS, never for production.
pub fn write_dev_certificates(
    dir: &Path,
    hosts: &[String],
    client_organisations: &[String],
) -> anyhow::Result<()> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Clearance development CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;

    let mut params = CertificateParams::new(hosts.to_vec())?;
    params.distinguished_name.push(
        DnType::CommonName,
        hosts.first().map_or("localhost", String::as_str),
    );
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca, &ca_key)?;

    // Client certificates for ERP systems: the subject's organisation (O) binds them.
    for organisation in client_organisations {
        anyhow::ensure!(
            !organisation.is_empty()
                && organisation
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "--client takes an organisation id (letters, digits, - and _), not '{organisation}'"
        );
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::OrganizationName, organisation.as_str());
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{organisation} ERP"));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca, &ca_key)?;
        write_file(
            &dir.join(format!("client-{organisation}.pem")),
            cert.pem().as_bytes(),
            false,
        )?;
        write_file(
            &dir.join(format!("client-{organisation}-key.pem")),
            key.serialize_pem().as_bytes(),
            true,
        )?;
    }
    write_file(&dir.join("ca.pem"), ca.pem().as_bytes(), false)?;
    write_file(&dir.join("server.pem"), cert.pem().as_bytes(), false)?;
    write_file(
        &dir.join("server-key.pem"),
        key.serialize_pem().as_bytes(),
        true,
    )?;
    Ok(())
}

/// Writes aside and renames, so a server reloading the files never reads half of one.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    let draft = path.with_extension("pem.draft");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = secret;
        use std::io::Write;
        options
            .open(&draft)
            .and_then(|mut f| f.write_all(bytes))
            .with_context(|| format!("writing {}", draft.display()))?;
    }
    std::fs::rename(&draft, path).with_context(|| format!("writing {}", path.display()))
}
