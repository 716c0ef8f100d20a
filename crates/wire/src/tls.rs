//! TLS on rustls, with libpq's `sslmode` semantics: [`SslMode`], [`SslRootCert`],
//! [`ChannelBinding`], [`SslNegotiation`], and the handshake after `SSLRequest`.
//!
//! # What each mode checks
//! ```text
//! sslmode       TLS?                               certificate chain   host name
//! disable       never                              -                   -
//! allow         only if plain is refused           no                  no
//! prefer        if the server offers it            no                  no
//! require       always                             no (yes with a root certificate: verify-ca)
//! verify-ca     always                             yes                 no
//! verify-full   always                             yes                 yes (DNS or IP SAN)
//! ```
//! As in libpq, `require` with a root certificate (set, or `~/.postgresql/root.crt` present)
//! behaves as `verify-ca`, and the client certificate defaults to `~/.postgresql/postgresql.crt`
//! and `.key` when they exist. TLS is never used on a unix socket (libpq ignores `sslmode`
//! there too).
//!
//! Unverified modes still check the handshake's signatures with the server's key: what they
//! skip is trusting that key.
//!
//! # Safety of the negotiation
//! After the server answers `S` to `SSLRequest`, nothing it sent may already be waiting: bytes
//! sent before the handshake would otherwise be taken as if they had come over TLS (the
//! CVE-2021-23222 class of bug), so they are a protocol error. `N` with `require` or stricter
//! fails; it never falls back to plain. Authentication (and so any password) starts only after
//! the handshake and the certificate checks have passed.
//!
//! # Channel binding
//! Over TLS, when the server offers `SCRAM-SHA-256-PLUS`, the client binds the SCRAM exchange
//! to the server's certificate (`tls-server-end-point`: a hash of the certificate, with the
//! hash of its signature algorithm, SHA-256 at least), so a man in the middle holding another
//! certificate cannot relay the authentication. `channel_binding=require` refuses any
//! authentication without it: plain TCP, md5, cleartext, trust, or SCRAM without `-PLUS`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::Error;

/// libpq's `sslmode`: whether TLS is used and what is verified. See the module docs' table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// Plain first; TLS only if the server refuses a plain connection.
    Allow,
    /// TLS if the server offers it, plain otherwise (libpq's default, and tarn-wire's).
    #[default]
    Prefer,
    /// TLS always; the certificate is not verified (unless a root certificate is configured,
    /// which makes this [`SslMode::VerifyCa`]).
    Require,
    /// TLS always; the certificate chain must lead to a configured root.
    VerifyCa,
    /// TLS always; the chain must lead to a configured root and the certificate must name the
    /// host (a DNS name SAN, or an IP address SAN for an address).
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's spelling (`disable`, `allow`, `prefer`, `require`, `verify-ca`,
    /// `verify-full`).
    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// True for the modes that fail rather than connect without TLS.
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        )
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where trusted root certificates come from (libpq's `sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SslRootCert {
    /// A PEM file of one or more CA certificates.
    File(PathBuf),
    /// The operating system's trust store (`sslrootcert=system`), read once per process.
    System,
}

/// libpq's `channel_binding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChannelBinding {
    /// Never bind (plain `SCRAM-SHA-256`).
    Disable,
    /// Bind when TLS is used and the server offers `SCRAM-SHA-256-PLUS` (the default).
    #[default]
    Prefer,
    /// Authenticate only with channel binding: refuses plain TCP and every other method.
    Require,
}

impl ChannelBinding {
    /// Parses libpq's spelling (`disable`, `prefer`, `require`).
    pub fn parse(s: &str) -> Option<ChannelBinding> {
        Some(match s {
            "disable" => ChannelBinding::Disable,
            "prefer" => ChannelBinding::Prefer,
            "require" => ChannelBinding::Require,
            _ => return None,
        })
    }
}

/// libpq's `sslnegotiation`: how TLS starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SslNegotiation {
    /// Ask with `SSLRequest` first (every server version).
    #[default]
    Postgres,
    /// Start the TLS handshake at once, with ALPN `postgresql` (PostgreSQL 17 and later);
    /// saves a round trip. Needs an `sslmode` of `require` or stricter, as in libpq.
    Direct,
}

/// The client's TLS settings, as set on [`Config`](crate::Config).
#[derive(Clone, Default)]
pub(crate) struct TlsSettings {
    pub(crate) mode: SslMode,
    pub(crate) root_cert: Option<SslRootCert>,
    pub(crate) client_cert: Option<PathBuf>,
    pub(crate) client_key: Option<PathBuf>,
    pub(crate) channel_binding: ChannelBinding,
    pub(crate) negotiation: SslNegotiation,
    /// A caller-supplied rustls configuration, used as it is.
    pub(crate) custom: Option<Arc<rustls::ClientConfig>>,
    /// The rustls configuration built from the settings above, once.
    pub(crate) built: Arc<OnceLock<Result<Built, String>>>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("mode", &self.mode)
            .field("root_cert", &self.root_cert)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key.as_ref().map(|_| "<path>"))
            .field("channel_binding", &self.channel_binding)
            .field("negotiation", &self.negotiation)
            .field("custom", &self.custom.is_some())
            .finish()
    }
}

/// What a connect needs from the built configuration.
#[derive(Clone)]
pub(crate) struct Built {
    pub(crate) config: Arc<rustls::ClientConfig>,
    /// The mode after libpq's promotion of `require` to `verify-ca` with a root certificate.
    pub(crate) effective: SslMode,
}

impl TlsSettings {
    /// Forgets a built configuration after a setting changed.
    pub(crate) fn changed(&mut self) {
        self.built = Arc::new(OnceLock::new());
    }

    /// The rustls configuration for these settings, built on first use.
    pub(crate) fn build(&self) -> Result<Built, Error> {
        self.built
            .get_or_init(|| self.build_now())
            .clone()
            .map_err(Error::tls)
    }

    fn build_now(&self) -> Result<Built, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        if let Some(custom) = &self.custom {
            // The caller's configuration decides what is verified; the mode only decides
            // whether TLS is used.
            return Ok(Built {
                config: with_alpn(custom),
                effective: self.mode,
            });
        }
        let home = home_postgresql_dir();
        let root = self.root_cert.clone().or_else(|| {
            home.as_ref()
                .map(|d| d.join("root.crt"))
                .filter(|p| p.exists())
                .map(SslRootCert::File)
        });
        let effective = match (self.mode, &root) {
            (SslMode::Require, Some(_)) => SslMode::VerifyCa,
            (mode, _) => mode,
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?;
        let builder = match effective {
            SslMode::VerifyCa | SslMode::VerifyFull => {
                let Some(root) = &root else {
                    return Err(format!(
                        "sslmode={effective} needs a root certificate to verify the server \
                         against: set sslrootcert (a CA file, or `system`)"
                    ));
                };
                let roots = Arc::new(load_roots(root)?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| format!("TLS setup failed: {e}"))?;
                let verifier: Arc<dyn ServerCertVerifier> = if effective == SslMode::VerifyFull {
                    webpki
                } else {
                    Arc::new(ChainOnly(webpki))
                };
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(verifier)
            }
            _ => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unverified(provider.clone()))),
        };
        let cert = self.client_cert.clone().or_else(|| {
            home.as_ref()
                .map(|d| d.join("postgresql.crt"))
                .filter(|p| p.exists())
        });
        let key = self.client_key.clone().or_else(|| {
            home.as_ref()
                .map(|d| d.join("postgresql.key"))
                .filter(|p| p.exists())
        });
        let config = match (cert, key) {
            (Some(cert), Some(key)) => {
                let chain = load_certs(&cert, "sslcert")?;
                let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
                    format!(
                        "sslkey {}: no usable private key (PEM, PKCS#8, PKCS#1 or SEC1; \
                         encrypted keys are not supported): {e}",
                        key.display()
                    )
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("sslcert/sslkey: {e}"))?
            }
            (Some(cert), None) if self.client_cert.is_some() => {
                return Err(format!("sslcert {} is set but no sslkey", cert.display()));
            }
            (None, Some(_)) if self.client_key.is_some() => {
                return Err("sslkey is set but no sslcert".to_owned());
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Built {
            config: with_alpn(&Arc::new(config)),
            effective,
        })
    }
}

/// Adds ALPN `postgresql`: direct negotiation requires it (the server refuses a direct
/// handshake without it), and after SSLRequest it is sent too, as libpq 17 does (servers that
/// do not know ALPN ignore it).
fn with_alpn(config: &Arc<rustls::ClientConfig>) -> Arc<rustls::ClientConfig> {
    if config.alpn_protocols.iter().any(|p| p == b"postgresql") {
        return Arc::clone(config);
    }
    let mut config = (**config).clone();
    config.alpn_protocols.push(b"postgresql".to_vec());
    Arc::new(config)
}

/// `~/.postgresql`, where libpq looks for default certificates.
fn home_postgresql_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".postgresql"))
}

fn load_certs(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{setting} {}: {e}", path.display()))?
        .collect();
    let certs = certs.map_err(|e| format!("{setting} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{setting} {}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(certs)
}

/// The operating system's roots, read once per process (reading them costs tens of ms).
fn system_roots() -> Result<RootCertStore, String> {
    static ROOTS: OnceLock<Result<RootCertStore, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                return Err(format!(
                    "sslrootcert=system: no usable certificate in the system trust store{why}"
                ));
            }
            Ok(store)
        })
        .clone()
}

fn load_roots(root: &SslRootCert) -> Result<RootCertStore, String> {
    match root {
        SslRootCert::System => system_roots(),
        SslRootCert::File(path) => {
            let mut store = RootCertStore::empty();
            for cert in load_certs(path, "sslrootcert")? {
                store
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            }
            Ok(store)
        }
    }
}

/// The name rustls checks the certificate against (and sends as SNI for a DNS name).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| Error::tls(format!("{host:?} is not a valid TLS server name")))
}

/// `require` and weaker: the handshake's signatures are checked with the server's key, but
/// the key itself is not trusted.
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full WebPKI check (chain, validity dates, usage), except the host name.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The `tls-server-end-point` channel binding data (RFC 5929): the hash of the server's
/// certificate, with the hash function of the certificate's signature algorithm, SHA-256 for
/// MD5 and SHA-1. `None` if the signature algorithm is not one this recognises (then the
/// client does not offer channel binding).
pub(crate) fn tls_server_end_point(cert: &[u8]) -> Option<Vec<u8>> {
    let algorithm = match signature_algorithm_oid(cert)? {
        // md5WithRSA, sha1WithRSA, sha256WithRSA, ecdsa-with-SHA1, ecdsa-with-SHA256,
        // RSASSA-PSS (its hash is in the parameters; SHA-256 is what PostgreSQL's own
        // servers use) and Ed25519 (PostgreSQL uses SHA-256 when the algorithm has no hash).
        OID_MD5_RSA | OID_SHA1_RSA | OID_SHA256_RSA | OID_ECDSA_SHA1 | OID_ECDSA_SHA256
        | OID_RSA_PSS | OID_ED25519 => &ring::digest::SHA256,
        OID_SHA384_RSA | OID_ECDSA_SHA384 => &ring::digest::SHA384,
        OID_SHA512_RSA | OID_ECDSA_SHA512 => &ring::digest::SHA512,
        _ => return None,
    };
    Some(ring::digest::digest(algorithm, cert).as_ref().to_vec())
}

const OID_MD5_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04];
const OID_SHA1_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
const OID_SHA256_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_SHA384_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const OID_SHA512_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Reads `Certificate.signatureAlgorithm.algorithm` from a DER certificate:
/// `SEQUENCE { tbsCertificate SEQUENCE, signatureAlgorithm SEQUENCE { OID, .. }, .. }`.
/// Every length is checked against what is left; anything unexpected gives `None`.
fn signature_algorithm_oid(cert: &[u8]) -> Option<&[u8]> {
    let (tag, certificate, _) = der_element(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, _tbs, rest) = der_element(certificate)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, algorithm, _) = der_element(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, oid, _) = der_element(algorithm)?;
    (tag == 0x06).then_some(oid)
}

/// One DER element: (tag, contents, what follows). Definite lengths only, as DER requires.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_libpq_spells_them() {
        for mode in [
            SslMode::Disable,
            SslMode::Allow,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            assert_eq!(SslMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(SslMode::parse("verify_full"), None);
        assert_eq!(SslMode::default(), SslMode::Prefer);
    }

    #[test]
    fn der_walk_refuses_truncated_and_oversized_lengths() {
        assert_eq!(der_element(&[]), None);
        assert_eq!(der_element(&[0x30]), None);
        assert_eq!(der_element(&[0x30, 0x05, 1, 2]), None);
        assert_eq!(der_element(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(der_element(&[0x30, 0x80]), None);
        assert_eq!(
            der_element(&[0x30, 0x02, 1, 2, 9]),
            Some((0x30, &[1u8, 2][..], &[9u8][..]))
        );
        assert_eq!(tls_server_end_point(&[0x30, 0x00]), None);
        assert_eq!(tls_server_end_point(b"not a certificate"), None);
    }
}
