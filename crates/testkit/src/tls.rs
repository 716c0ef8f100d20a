//! TLS material for test servers, made at run time: [`TestCerts`] (two CAs, server certificates
//! for the right name, a wrong name and an expired one, client certificates for the
//! certificate-authenticated roles) and [`TlsSetup`], what `PgServer::builder().tls(..)` needs to
//! start a server with `ssl=on`.
//!
//! # How it works
//!
//! [`TestCerts::generate`] makes every key and certificate with `rcgen` (ECDSA P-256 keys, one
//! RSA 2048 key for the client certificate whose key is also written in PKCS#1) and writes them
//! as PEM files into a temp dir `tarn-certs-XXXX` (mode 0700; keys 0600, certificates 0644),
//! owned by the test process's user so that libpq accepts the client keys (it refuses a key
//! readable by group or others). A server never reads this dir: `PgServer` copies its
//! certificate, key and CA into its own dir, handed to the `postgres` user when running as root
//! (PostgreSQL refuses a key not owned by it, or by root, with mode 0600; see `server.rs`).
//!
//! As for servers, `Drop` removes the dir, and a reaper (`reaper.rs`) removes it when the test
//! process exits without dropping it (the shared set is a `static`) or is killed.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256,
};

use crate::error::{Error, Result};
use crate::params::TlsRole;
use crate::reaper;

/// The first CA's common name: it signs every server and trusted client certificate.
pub const CA_NAME: &str = "tarn test CA";
/// The second, unrelated CA's common name, for "unknown CA" tests.
pub const OTHER_CA_NAME: &str = "tarn other test CA";
/// The only name (DNS SAN) of the wrong-name server certificate.
pub const WRONG_NAME: &str = "wrong.example";

/// One PEM file of a [`TestCerts`] set: where it is and what it holds.
#[derive(Clone, PartialEq, Eq)]
pub struct PemFile {
    path: PathBuf,
    pem: String,
}

impl PemFile {
    /// The file's path (absolute, in the set's temp dir).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's PEM text.
    pub fn pem(&self) -> &str {
        &self.pem
    }
}

impl fmt::Debug for PemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The text is long and, for keys, not worth printing.
        f.debug_tuple("PemFile").field(&self.path).finish()
    }
}

/// A client certificate and its key, for a role that logs in with one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    user: &'static str,
    cert: PemFile,
    key: PemFile,
    key_pkcs1: Option<PemFile>,
}

impl ClientCert {
    /// The certificate's common name: the user it logs in as.
    pub fn user(&self) -> &'static str {
        self.user
    }

    /// The certificate (`sslcert`).
    pub fn cert(&self) -> &PemFile {
        &self.cert
    }

    /// The key in PKCS#8 (`-----BEGIN PRIVATE KEY-----`), the format `sslkey` usually holds.
    pub fn key(&self) -> &PemFile {
        &self.key
    }

    /// The same key in PKCS#1 (`-----BEGIN RSA PRIVATE KEY-----`), when it is an RSA key.
    pub fn key_pkcs1(&self) -> Option<&PemFile> {
        self.key_pkcs1.as_ref()
    }
}

/// Keys and certificates for TLS tests, made at run time into a temp dir (see the module docs
/// for the layout). `Drop` removes the dir.
///
/// ```no_run
/// # fn main() -> Result<(), tarn_testkit::Error> {
/// use tarn_testkit::{PgServer, TestCerts, TlsRole, TlsSetup};
///
/// let certs = TestCerts::shared()?;
/// let server = PgServer::builder().tls(TlsSetup::new(certs)).start()?;
/// let params = server.tls_params(TlsRole::Cert, "postgres"); // cert_user, no password
/// let (ca, cert, key) = (certs.ca_cert().path(), certs.client().cert().path(), certs.client().key().path());
/// # let _ = (params, ca, cert, key);
/// # Ok(()) }
/// ```
pub struct TestCerts {
    dir: PathBuf,
    ca_cert: PemFile,
    ca_key: PemFile,
    other_ca_cert: PemFile,
    server_cert: PemFile,
    server_key: PemFile,
    wrong_name_cert: PemFile,
    wrong_name_key: PemFile,
    expired_cert: PemFile,
    expired_key: PemFile,
    client: ClientCert,
    client_ec: ClientCert,
    client_cert_and_password: ClientCert,
    untrusted_client: ClientCert,
    reaper: Option<Child>,
}

static SHARED: OnceLock<std::result::Result<TestCerts, String>> = OnceLock::new();

impl TestCerts {
    /// Makes a fresh set in a new temp dir (`tarn-certs-XXXX`).
    pub fn generate() -> Result<TestCerts> {
        let tmp = tempfile::Builder::new()
            .prefix("tarn-certs-")
            .tempdir()
            .map_err(|e| Error::io("could not create a temp dir for the test certificates", e))?;
        // On an error the TempDir removes itself.
        let mut certs = generate_into(tmp.path())?;
        let dir = tmp.keep();
        // A pid file that never exists: the reaper only waits for this process, then removes
        // the dir.
        let reaper = reaper::spawn(
            "tarn-certs-reaper",
            &dir,
            &dir.join("no-process.pid"),
            "TERM",
        );
        match reaper {
            Ok(child) => certs.reaper = Some(child),
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        }
        Ok(certs)
    }

    /// The set shared by every test in this test binary, made on first use and removed when
    /// the process exits.
    pub fn shared() -> Result<&'static TestCerts> {
        SHARED
            .get_or_init(|| Self::generate().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::msg(format!("the shared test certificates were not made: {e}")))
    }

    /// The temp dir holding the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ca.crt`: the CA ([`CA_NAME`]) that signed the server and client certificates; a client's
    /// `sslrootcert`, and the server's `ssl_ca_file` (for client certificates).
    pub fn ca_cert(&self) -> &PemFile {
        &self.ca_cert
    }

    /// `ca.key`: the CA's key (PKCS#8, ECDSA P-256), for a test that signs more certificates.
    pub fn ca_key(&self) -> &PemFile {
        &self.ca_key
    }

    /// `other-ca.crt`: an unrelated CA ([`OTHER_CA_NAME`]) that signed nothing a server
    /// presents: as `sslrootcert`, verification of any testkit server fails.
    pub fn other_ca_cert(&self) -> &PemFile {
        &self.other_ca_cert
    }

    /// `server.crt`: the server certificate, signed by the CA, with the names `localhost`,
    /// `127.0.0.1` and `::1` (subject alternative names; the common name is `localhost`).
    pub fn server_cert(&self) -> &PemFile {
        &self.server_cert
    }

    /// `server.key`: its key (PKCS#8, ECDSA P-256).
    pub fn server_key(&self) -> &PemFile {
        &self.server_key
    }

    /// `wrong-name.crt`: a server certificate signed by the CA for [`WRONG_NAME`] only, so
    /// `verify-full` fails for `localhost` and `127.0.0.1` while `verify-ca` passes.
    pub fn wrong_name_cert(&self) -> &PemFile {
        &self.wrong_name_cert
    }

    /// `wrong-name.key`: its key.
    pub fn wrong_name_key(&self) -> &PemFile {
        &self.wrong_name_key
    }

    /// `expired.crt`: a server certificate signed by the CA, with the right names, valid only
    /// from 2000-01-01 to 2001-01-01: `verify-ca` and `verify-full` fail, `require` passes.
    pub fn expired_cert(&self) -> &PemFile {
        &self.expired_cert
    }

    /// `expired.key`: its key.
    pub fn expired_key(&self) -> &PemFile {
        &self.expired_key
    }

    /// `client.crt` / `client.key` / `client.pkcs1.key`: the client certificate of
    /// [`TlsRole::Cert`] (common name `cert_user`), signed by the CA, with an RSA 2048 key in
    /// PKCS#8 and in PKCS#1.
    pub fn client(&self) -> &ClientCert {
        &self.client
    }

    /// `client-ec.crt` / `client-ec.key`: another client certificate for [`TlsRole::Cert`],
    /// with an ECDSA P-256 key (PKCS#8 only).
    pub fn client_ec(&self) -> &ClientCert {
        &self.client_ec
    }

    /// `client-cert-password.crt` / `.key`: the client certificate of
    /// [`TlsRole::CertAndPassword`] (common name `cert_password_user`, ECDSA P-256), who must
    /// present it and also give the role's password.
    pub fn client_cert_and_password(&self) -> &ClientCert {
        &self.client_cert_and_password
    }

    /// `untrusted-client.crt` / `.key`: a client certificate for `cert_user` signed by the
    /// *other* CA: the server does not trust it and ends the TLS handshake (whatever the role).
    pub fn untrusted_client(&self) -> &ClientCert {
        &self.untrusted_client
    }
}

impl fmt::Debug for TestCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCerts").field("dir", &self.dir).finish()
    }
}

impl Drop for TestCerts {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("tarn-testkit: could not remove {}: {e}", self.dir.display());
        }
        if let Some(mut reaper) = self.reaper.take() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
    }
}

/// Which server certificate a TLS server presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ServerCert {
    /// [`TestCerts::server_cert`]: verifies for `localhost`, `127.0.0.1` and `::1`.
    #[default]
    Valid,
    /// [`TestCerts::wrong_name_cert`]: the CA's, for another name.
    WrongName,
    /// [`TestCerts::expired_cert`]: the CA's, the right names, expired.
    Expired,
}

/// What a TLS server is started with: a certificate and key to present, and the CA whose
/// client certificates it accepts (`ssl_ca_file`). Pass it to
/// [`PgServerBuilder::tls`](crate::PgServerBuilder::tls).
#[derive(Clone)]
pub struct TlsSetup {
    server_cert: ServerCert,
    cert_pem: String,
    key_pem: String,
    ca_pem: String,
}

impl TlsSetup {
    /// The valid server certificate of `certs`, and its CA for client certificates.
    pub fn new(certs: &TestCerts) -> Self {
        Self::with_server_cert(certs, ServerCert::Valid)
    }

    /// `which` server certificate of `certs` (for name-mismatch or expiry tests), and its CA for
    /// client certificates.
    pub fn with_server_cert(certs: &TestCerts, which: ServerCert) -> Self {
        let (cert, key) = match which {
            ServerCert::Valid => (&certs.server_cert, &certs.server_key),
            ServerCert::WrongName => (&certs.wrong_name_cert, &certs.wrong_name_key),
            ServerCert::Expired => (&certs.expired_cert, &certs.expired_key),
        };
        Self {
            server_cert: which,
            cert_pem: cert.pem.clone(),
            key_pem: key.pem.clone(),
            ca_pem: certs.ca_cert.pem.clone(),
        }
    }

    /// Which of the set's server certificates the server presents.
    pub fn server_cert(&self) -> ServerCert {
        self.server_cert
    }

    /// Writes `server.crt`, `server.key` (0600) and `ca.crt` into `dir` (created, 0700), handed
    /// to `owner` when given, and returns the server settings that use them.
    pub(crate) fn install(
        &self,
        dir: &Path,
        owner: Option<(u32, u32)>,
    ) -> std::io::Result<Vec<(String, String)>> {
        fs::create_dir(dir)?;
        fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        let files = [
            ("server.crt", &self.cert_pem, 0o644),
            ("server.key", &self.key_pem, 0o600),
            ("ca.crt", &self.ca_pem, 0o644),
        ];
        let mut paths = Vec::new();
        for (name, text, mode) in files {
            paths.push(write_file(dir, name, text, mode)?);
        }
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
            for path in &paths {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
            }
        }
        let setting = |name: &str, path: &Path| (name.to_owned(), path.display().to_string());
        Ok(vec![
            ("ssl".into(), "on".into()),
            setting("ssl_cert_file", &paths[0]),
            setting("ssl_key_file", &paths[1]),
            setting("ssl_ca_file", &paths[2]),
        ])
    }
}

impl fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSetup")
            .field("server_cert", &self.server_cert)
            .finish_non_exhaustive()
    }
}

fn cert_error(e: rcgen::Error) -> Error {
    Error::msg(format!("could not make the test certificates: {e}"))
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "tarn tests");
    name.push(DnType::CommonName, common_name);
    name
}

fn new_ca(common_name: &str) -> Result<(CertifiedIssuer<'static, KeyPair>, String)> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().map_err(cert_error)?;
    let key_pem = key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(params, key).map_err(cert_error)?;
    Ok((ca, key_pem))
}

/// What one end-entity certificate is for.
enum Leaf<'a> {
    /// A server certificate with these subject alternative names; `expired` puts its validity
    /// in 2000.
    Server { names: &'a [&'a str], expired: bool },
    /// A client certificate for this user (the common name).
    Client { user: &'a str },
}

/// Signs a certificate for `key` by `issuer`; returns its PEM.
fn sign(issuer: &Issuer<'_, KeyPair>, key: &KeyPair, leaf: Leaf<'_>) -> Result<String> {
    let mut params;
    match leaf {
        Leaf::Server { names, expired } => {
            params =
                CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                    .map_err(cert_error)?;
            params.distinguished_name = distinguished_name(names.first().copied().unwrap_or(""));
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            if expired {
                params.not_before = rcgen::date_time_ymd(2000, 1, 1);
                params.not_after = rcgen::date_time_ymd(2001, 1, 1);
            }
        }
        Leaf::Client { user } => {
            params = CertificateParams::default();
            params.distinguished_name = distinguished_name(user);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    Ok(params.signed_by(key, issuer).map_err(cert_error)?.pem())
}

fn generate_into(dir: &Path) -> Result<TestCerts> {
    let write = |name: &str, pem: String, mode: u32| -> Result<PemFile> {
        let path = write_file(dir, name, &pem, mode)
            .map_err(|e| Error::io(format!("could not write {}", dir.join(name).display()), e))?;
        Ok(PemFile { path, pem })
    };
    let cert = |name: &str, pem: String| write(name, pem, 0o644);
    let key = |name: &str, pem: String| write(name, pem, 0o600);
    let ec_key = || KeyPair::generate().map_err(cert_error);

    let (ca, ca_key_pem) = new_ca(CA_NAME)?;
    let (other_ca, _) = new_ca(OTHER_CA_NAME)?;

    let server = |expired: bool, names: &[&str]| -> Result<(String, String)> {
        let k = ec_key()?;
        let pem = sign(&ca, &k, Leaf::Server { names, expired })?;
        Ok((pem, k.serialize_pem()))
    };
    let right_names = ["localhost", "127.0.0.1", "::1"];
    let (server_pem, server_key_pem) = server(false, &right_names)?;
    let (wrong_pem, wrong_key_pem) = server(false, &[WRONG_NAME])?;
    let (expired_pem, expired_key_pem) = server(true, &right_names)?;

    let client = |file: &str,
                  issuer: &Issuer<'_, KeyPair>,
                  role: TlsRole,
                  k: KeyPair|
     -> Result<ClientCert> {
        let user = role.user();
        let cert_pem = sign(issuer, &k, Leaf::Client { user })?;
        let key_pkcs1 = match pkcs1_from_pkcs8(k.serialized_der()) {
            Some(der) => Some(key(
                &format!("{file}.pkcs1.key"),
                pem::encode_config(
                    &pem::Pem::new("RSA PRIVATE KEY", der),
                    pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
                ),
            )?),
            None => None,
        };
        Ok(ClientCert {
            user,
            cert: cert(&format!("{file}.crt"), cert_pem)?,
            key: key(&format!("{file}.key"), k.serialize_pem())?,
            key_pkcs1,
        })
    };
    let rsa_key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(cert_error)?;

    Ok(TestCerts {
        dir: dir.to_path_buf(),
        ca_cert: cert("ca.crt", ca.pem())?,
        ca_key: key("ca.key", ca_key_pem)?,
        other_ca_cert: cert("other-ca.crt", other_ca.pem())?,
        server_cert: cert("server.crt", server_pem)?,
        server_key: key("server.key", server_key_pem)?,
        wrong_name_cert: cert("wrong-name.crt", wrong_pem)?,
        wrong_name_key: key("wrong-name.key", wrong_key_pem)?,
        expired_cert: cert("expired.crt", expired_pem)?,
        expired_key: key("expired.key", expired_key_pem)?,
        client: client("client", &ca, TlsRole::Cert, rsa_key)?,
        client_ec: client("client-ec", &ca, TlsRole::Cert, ec_key()?)?,
        client_cert_and_password: client(
            "client-cert-password",
            &ca,
            TlsRole::CertAndPassword,
            ec_key()?,
        )?,
        untrusted_client: client("untrusted-client", &other_ca, TlsRole::Cert, ec_key()?)?,
        reaper: None,
    })
}

/// Creates `dir/name` with `mode` (no other process sees it with looser bits) and returns its
/// path.
fn write_file(dir: &Path, name: &str, text: &str, mode: u32) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&path)?
        .write_all(text.as_bytes())?;
    // The umask may have taken bits away from a certificate's mode.
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    Ok(path)
}

/// The DER object at the front of `input`: (tag, contents, rest). Definite lengths only, as DER
/// requires.
fn der_next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > std::mem::size_of::<usize>() || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (RFC 5208), when the key is an RSA
/// key: the `privateKey` OCTET STRING holds exactly that structure.
fn pkcs1_from_pkcs8(der: &[u8]) -> Option<Vec<u8>> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    const OID: u8 = 0x06;
    /// 1.2.840.113549.1.1.1, rsaEncryption.
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

    let (SEQUENCE, info, _) = der_next(der)? else {
        return None;
    };
    let (INTEGER, _version, rest) = der_next(info)? else {
        return None;
    };
    let (SEQUENCE, algorithm, rest) = der_next(rest)? else {
        return None;
    };
    let (OID, oid, _) = der_next(algorithm)? else {
        return None;
    };
    if oid != RSA_ENCRYPTION {
        return None;
    }
    let (OCTET_STRING, key, _) = der_next(rest)? else {
        return None;
    };
    Some(key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_is_the_same_rsa_key() {
        let rsa = KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap();
        let der = pkcs1_from_pkcs8(rsa.serialized_der()).unwrap();
        let pem = pem::encode(&pem::Pem::new("RSA PRIVATE KEY", der));
        let back = KeyPair::from_pem(&pem).unwrap();
        assert_eq!(back.public_key_raw(), rsa.public_key_raw());
        // Not an RSA key: nothing to convert.
        let ec = KeyPair::generate().unwrap();
        assert!(pkcs1_from_pkcs8(ec.serialized_der()).is_none());
        assert!(pkcs1_from_pkcs8(&[0x30, 0x82, 0xff]).is_none());
    }
}
