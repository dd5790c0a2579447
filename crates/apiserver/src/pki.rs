//! TLS identities of the cluster, created at first start the way k3s does.
//!
//! Owns: the cluster CA, the API server's serving certificate and the admin
//! client certificate (files in `<data-dir>/server/tls`), the rustls server
//! configuration that presents them, the mapping of a verified client
//! certificate to a user (kube-apiserver's x509 authenticator), and the admin
//! kubeconfig.
//! Does not own: authorization of that user, token authentication, or the
//! listener itself.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::error::X509Error;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::x509::X509Name;

const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const SERVING_CERT: &str = "serving.crt";
const SERVING_KEY: &str = "serving.key";
const ADMIN_CERT: &str = "admin.crt";
const ADMIN_KEY: &str = "admin.key";

const CA_VALIDITY: Duration = Duration::days(3650);
const LEAF_VALIDITY: Duration = Duration::days(365);
/// k3s renews its certificates when they expire within 90 days; so do we.
const RENEW_BEFORE: Duration = Duration::days(90);
/// Backdate `notBefore` so a node whose clock lags a little still accepts a
/// fresh certificate (client-go `GenerateSelfSignedCertKey` backdates one hour).
const BACKDATE: Duration = Duration::hours(1);

/// The username every certificate-authenticated user gets as a group
/// (kube-apiserver `user.AllAuthenticated`).
const ALL_AUTHENTICATED: &str = "system:authenticated";

/// Errors of loading, creating and using the cluster's TLS identities.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to create directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{cert} exists but its private key {key} is missing")]
    MissingKey { cert: PathBuf, key: PathBuf },
    #[error("failed to decode the PEM certificate in {path}")]
    Pem {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("failed to parse the certificate in {path}")]
    ParseCert {
        path: PathBuf,
        #[source]
        source: X509Error,
    },
    #[error("failed to parse the private key in {path}")]
    ParseKey {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("the subject of the CA certificate in {path} cannot be reproduced to sign with it")]
    CaSubject { path: PathBuf },
    #[error("failed to generate the {what}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[error("failed to decode the {what} for TLS")]
    TlsPem {
        what: &'static str,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("failed to build the client certificate verifier")]
    ClientVerifier {
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    #[error("failed to build the TLS server configuration")]
    Tls {
        #[source]
        source: rustls::Error,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The names and addresses the serving certificate must cover.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sans {
    /// DNS names, lowercase.
    pub dns: Vec<String>,
    /// IP addresses.
    pub ips: Vec<IpAddr>,
}

impl Sans {
    /// The SANs of an API server: the in-cluster names of the `kubernetes`
    /// Service, `localhost`, the loopback addresses, this machine's hostname and
    /// non-loopback addresses, the first service IP, and every `--tls-san`
    /// value (an IP if it parses as one, else a DNS name).
    pub fn new<S: AsRef<str>>(tls_sans: impl IntoIterator<Item = S>, service_ip: IpAddr) -> Sans {
        let mut sans = Sans::default();
        for name in [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ] {
            sans.push_dns(name);
        }
        sans.push_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        sans.push_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        if let Some(hostname) = read_hostname() {
            sans.push_dns(&hostname);
        }
        for ip in host_addresses() {
            sans.push_ip(ip);
        }
        sans.push_ip(service_ip);
        for san in tls_sans {
            sans.push(san.as_ref());
        }
        sans
    }

    /// Adds `value` as an IP if it parses as one, else as a DNS name.
    pub fn push(&mut self, value: &str) {
        let value = value.trim();
        match value.parse::<IpAddr>() {
            Ok(ip) => self.push_ip(ip),
            Err(_) => self.push_dns(value),
        }
    }

    fn push_dns(&mut self, name: &str) {
        // DNS names compare case-insensitively; keep one spelling.
        let name = name.trim().to_ascii_lowercase();
        if !name.is_empty() && !self.dns.contains(&name) {
            self.dns.push(name);
        }
    }

    fn push_ip(&mut self, ip: IpAddr) {
        if !self.ips.contains(&ip) {
            self.ips.push(ip);
        }
    }

    /// Whether every name and address of `self` is in `other`.
    fn covered_by(&self, other: &Sans) -> bool {
        self.dns.iter().all(|d| other.dns.contains(d))
            && self.ips.iter().all(|ip| other.ips.contains(ip))
    }
}

/// The cluster's TLS identities as PEM, and where they live.
#[derive(Clone)]
pub struct Pki {
    /// The directory holding the files (`<data-dir>/server/tls`).
    pub dir: PathBuf,
    /// The cluster CA certificate: what clients and agents trust.
    pub ca_cert_pem: String,
    /// The cluster CA's private key (PKCS#8).
    pub ca_key_pem: String,
    /// The API server's serving certificate.
    pub serving_cert_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub serving_key_pem: String,
    /// The `system:admin` client certificate.
    pub admin_cert_pem: String,
    /// The admin certificate's private key (PKCS#8).
    pub admin_key_pem: String,
}

impl Pki {
    /// Path of the CA certificate.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }
    /// Path of the CA private key.
    pub fn ca_key_path(&self) -> PathBuf {
        self.dir.join(CA_KEY)
    }
    /// Path of the serving certificate.
    pub fn serving_cert_path(&self) -> PathBuf {
        self.dir.join(SERVING_CERT)
    }
    /// Path of the serving private key.
    pub fn serving_key_path(&self) -> PathBuf {
        self.dir.join(SERVING_KEY)
    }
    /// Path of the admin client certificate.
    pub fn admin_cert_path(&self) -> PathBuf {
        self.dir.join(ADMIN_CERT)
    }
    /// Path of the admin client private key.
    pub fn admin_key_path(&self) -> PathBuf {
        self.dir.join(ADMIN_KEY)
    }
}

impl fmt::Debug for Pki {
    // Private keys must not end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A certificate and its key as loaded from or written to disk.
struct Identity {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key_pem: String,
    key: KeyPair,
}

/// Loads the identities in `dir`, creating what is missing.
///
/// The CA is created once and never regenerated: agents and kubeconfigs trust
/// it. The serving certificate is reissued when it no longer covers `sans`,
/// expires within 90 days, or was not issued by the CA; the admin certificate
/// on expiry or a CA mismatch. A damaged leaf is reissued, a damaged CA is an
/// error.
pub fn load_or_create(dir: &Path, sans: &Sans) -> Result<Pki> {
    load_or_create_at(dir, sans, OffsetDateTime::now_utc())
}

fn load_or_create_at(dir: &Path, sans: &Sans, now: OffsetDateTime) -> Result<Pki> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::CreateDir {
            path: dir.to_owned(),
            source,
        })?;

    let (ca, ca_created) = load_or_create_ca(dir, now)?;
    let signer = Signer::new(&ca, &dir.join(CA_CERT))?;
    let issuer = Issuer::from_params(&signer.params, &ca.key);

    let serving = load_or_issue(
        dir,
        SERVING_CERT,
        SERVING_KEY,
        ca_created,
        |cert| signer.issued(cert, now) && sans.covered_by(&cert_sans(cert)),
        || signer.check(issue_serving(&issuer, sans, now)?),
    )?;
    let admin = load_or_issue(
        dir,
        ADMIN_CERT,
        ADMIN_KEY,
        ca_created,
        |cert| signer.issued(cert, now),
        || signer.check(issue_admin(&issuer, now)?),
    )?;

    Ok(Pki {
        dir: dir.to_owned(),
        ca_cert_pem: ca.cert_pem,
        ca_key_pem: ca.key_pem,
        serving_cert_pem: serving.cert_pem,
        serving_key_pem: serving.key_pem,
        admin_cert_pem: admin.cert_pem,
        admin_key_pem: admin.key_pem,
    })
}

fn load_or_create_ca(dir: &Path, now: OffsetDateTime) -> Result<(Identity, bool)> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    // The key is written before the certificate, so a missing certificate
    // means the CA was never completely created and may be (re)made.
    if let Some(ca) = load_identity(&cert_path, &key_path)? {
        if let Ok(cert) = parse_cert(&ca.cert_der, &cert_path)
            && cert.validity().not_after.timestamp() < (now + RENEW_BEFORE).unix_timestamp()
        {
            tracing::warn!(path = %cert_path.display(), "the cluster CA expires within 90 days; rotate it by hand");
        }
        return Ok((ca, false));
    }

    let key = KeyPair::generate().map_err(|source| Error::Generate {
        what: "CA key",
        source,
    })?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    // k3s names its CA `k3s-server-ca@<unix time>`: unique per cluster, so
    // certificates of an older cluster are told apart by their issuer.
    params.distinguished_name.push(
        DnType::CommonName,
        format!("skiff-server-ca@{}", now.unix_timestamp()),
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - BACKDATE;
    params.not_after = now + CA_VALIDITY;
    let cert = params.self_signed(&key).map_err(|source| Error::Generate {
        what: "CA certificate",
        source,
    })?;
    let ca = Identity {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key_pem: key.serialize_pem(),
        key,
    };
    save_identity(&ca, &cert_path, &key_path)?;
    tracing::info!(path = %cert_path.display(), "created the cluster CA");
    Ok((ca, true))
}

/// Reads a certificate and its key. `None` if the certificate does not exist;
/// an error if it exists without a matching, readable key.
fn load_identity(cert_path: &Path, key_path: &Path) -> Result<Option<Identity>> {
    let Some(cert_pem) = read_optional(cert_path)? else {
        return Ok(None);
    };
    let Some(key_pem) = read_optional(key_path)? else {
        return Err(Error::MissingKey {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
        });
    };
    let cert_der =
        CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|source| Error::Pem {
            path: cert_path.to_owned(),
            source,
        })?;
    let key = KeyPair::from_pem(&key_pem).map_err(|source| Error::ParseKey {
        path: key_path.to_owned(),
        source,
    })?;
    let cert = parse_cert(&cert_der, cert_path)?;
    if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(Error::KeyMismatch {
            cert: cert_path.to_owned(),
            key: key_path.to_owned(),
        });
    }
    Ok(Some(Identity {
        cert_pem,
        cert_der,
        key_pem,
        key,
    }))
}

/// Loads a leaf identity and keeps it if `still_good`, else issues a new one.
fn load_or_issue(
    dir: &Path,
    cert_name: &str,
    key_name: &str,
    force: bool,
    still_good: impl FnOnce(&X509Certificate<'_>) -> bool,
    issue: impl FnOnce() -> Result<Identity>,
) -> Result<Identity> {
    let cert_path = dir.join(cert_name);
    let key_path = dir.join(key_name);
    if !force {
        match load_identity(&cert_path, &key_path) {
            Ok(Some(leaf)) => {
                let keep = parse_cert(&leaf.cert_der, &cert_path)
                    .map(|cert| still_good(&cert))
                    .unwrap_or(false);
                if keep {
                    return Ok(leaf);
                }
                tracing::info!(path = %cert_path.display(), "reissuing certificate (SANs, expiry or issuer changed)");
            }
            Ok(None) => {}
            // An unreadable file is a permission or disk problem: report it.
            Err(err @ Error::Read { .. }) => return Err(err),
            // A damaged leaf is ours to replace; only the CA is precious.
            Err(err) => {
                tracing::warn!(path = %cert_path.display(), error = %err, "replacing damaged certificate");
            }
        }
    }
    let leaf = issue()?;
    save_identity(&leaf, &cert_path, &key_path)?;
    Ok(leaf)
}

fn issue_serving(
    issuer: &Issuer<'_, &KeyPair>,
    sans: &Sans,
    now: OffsetDateTime,
) -> Result<Identity> {
    let what = "serving certificate";
    let mut params = leaf_params(now, "kube-apiserver", &[]);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    for name in &sans.dns {
        let name = name
            .as_str()
            .try_into()
            .map_err(|source| Error::Generate { what, source })?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    params
        .subject_alt_names
        .extend(sans.ips.iter().copied().map(SanType::IpAddress));
    issue_leaf(issuer, &params, what)
}

fn issue_admin(issuer: &Issuer<'_, &KeyPair>, now: OffsetDateTime) -> Result<Identity> {
    // kube-apiserver maps CN to the user and O to groups; `system:masters`
    // is bound to cluster-admin by the bootstrap RBAC policy.
    let mut params = leaf_params(now, "system:admin", &["system:masters"]);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    issue_leaf(issuer, &params, "admin certificate")
}

fn leaf_params(now: OffsetDateTime, common_name: &str, orgs: &[&str]) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    // rcgen keeps one value per attribute type, which is enough for one O.
    for org in orgs {
        params
            .distinguished_name
            .push(DnType::OrganizationName, *org);
    }
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - BACKDATE;
    params.not_after = now + LEAF_VALIDITY;
    params
}

fn issue_leaf(
    issuer: &Issuer<'_, &KeyPair>,
    params: &CertificateParams,
    what: &'static str,
) -> Result<Identity> {
    let key = KeyPair::generate().map_err(|source| Error::Generate { what, source })?;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(|source| Error::Generate { what, source })?;
    Ok(Identity {
        cert_pem: cert.pem(),
        cert_der: cert.der().clone(),
        key_pem: key.serialize_pem(),
        key,
    })
}

/// What leaves are checked and signed against: the CA's subject and key
/// identifier as bytes, and its subject rebuilt for rcgen.
struct Signer {
    path: PathBuf,
    subject: Vec<u8>,
    key_id: Option<Vec<u8>>,
    params: CertificateParams,
}

impl Signer {
    fn new(ca: &Identity, path: &Path) -> Result<Signer> {
        let cert = parse_cert(&ca.cert_der, path)?;
        let unreproducible = || Error::CaSubject {
            path: path.to_owned(),
        };
        // rcgen signs with a subject it encodes itself, not the CA's bytes;
        // rebuild it attribute by attribute. `check` catches what this misses
        // (multi-valued RDNs, repeated types, other string types).
        let mut dn = DistinguishedName::new();
        for attr in cert.subject().iter_attributes() {
            let oid: Vec<u64> = attr
                .attr_type()
                .iter()
                .ok_or_else(unreproducible)?
                .collect();
            let text = attr.as_str().map_err(|_| unreproducible())?;
            let value = match attr.attr_value().tag() {
                Tag::Utf8String => DnValue::Utf8String(text.to_owned()),
                Tag::PrintableString => {
                    DnValue::PrintableString(text.try_into().map_err(|_| unreproducible())?)
                }
                _ => return Err(unreproducible()),
            };
            dn.push(DnType::from_oid(&oid), value);
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        Ok(Signer {
            path: path.to_owned(),
            subject: cert.subject().as_raw().to_vec(),
            key_id: subject_key_id(&cert),
            params,
        })
    }

    /// Whether `leaf` was issued by this CA and is not about to expire.
    fn issued(&self, leaf: &X509Certificate<'_>, now: OffsetDateTime) -> bool {
        // Same-named CAs differ in their key: compare the key identifiers too.
        let same_key = match (&self.key_id, authority_key_id(leaf)) {
            (Some(ca), Some(leaf)) => *ca == leaf,
            _ => true,
        };
        leaf.issuer().as_raw() == self.subject.as_slice()
            && same_key
            && leaf.validity().not_after.timestamp() > (now + RENEW_BEFORE).unix_timestamp()
    }

    /// Rejects a freshly issued leaf whose issuer name is not byte-identical
    /// to the CA's subject: no client could build its chain.
    fn check(&self, leaf: Identity) -> Result<Identity> {
        let cert = parse_cert(&leaf.cert_der, &self.path)?;
        if cert.issuer().as_raw() != self.subject.as_slice() {
            return Err(Error::CaSubject {
                path: self.path.clone(),
            });
        }
        Ok(leaf)
    }
}

fn subject_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
}

fn authority_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|id| id.0.to_vec())
            }
            _ => None,
        })
}

fn parse_cert<'a>(der: &'a CertificateDer<'_>, path: &Path) -> Result<X509Certificate<'a>> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|err| Error::ParseCert {
            path: path.to_owned(),
            source: match err {
                x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => e,
                x509_parser::nom::Err::Incomplete(_) => X509Error::InvalidCertificate,
            },
        })
}

/// The SANs a certificate covers.
fn cert_sans(cert: &X509Certificate<'_>) -> Sans {
    let mut sans = Sans::default();
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return sans;
    };
    for name in &ext.value.general_names {
        match name {
            GeneralName::DNSName(dns) => sans.push_dns(dns),
            GeneralName::IPAddress(bytes) => {
                if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                    sans.push_ip(IpAddr::from(v4));
                } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                    sans.push_ip(IpAddr::from(v6));
                }
            }
            _ => {}
        }
    }
    sans
}

fn save_identity(id: &Identity, cert_path: &Path, key_path: &Path) -> Result<()> {
    // Key first: a certificate on disk then always has its key next to it.
    write_atomic(key_path, id.key_pem.as_bytes(), 0o600)?;
    write_atomic(cert_path, id.cert_pem.as_bytes(), 0o644)
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes `contents` to a temporary file with `mode` and renames it over
/// `path`, so readers see the old or the new file, never half of one, and a
/// private key is never readable by others, not even briefly.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let write_err = |source| Error::Write {
        path: path.to_owned(),
        source,
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp{}", std::process::id()));
    // A leftover from a crash may have another mode; `mode` applies only to
    // files the open creates.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(write_err(err)),
    }
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents)?;
        // Durable before the rename, or a crash could leave an empty CA.
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(err) = result {
        let _ = fs::remove_file(&tmp);
        return Err(write_err(err));
    }
    Ok(())
}

fn read_hostname() -> Option<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// This machine's non-loopback addresses, from procfs: `getifaddrs` would
/// need `unsafe`, which the workspace denies, and sending traffic to learn
/// the address is not acceptable at start-up. Missing files yield nothing.
fn host_addresses() -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = fs::read_to_string("/proc/net/fib_trie")
        .map(|t| parse_fib_trie(&t).into_iter().map(IpAddr::V4).collect())
        .unwrap_or_default();
    if let Ok(text) = fs::read_to_string("/proc/net/if_inet6") {
        ips.extend(parse_if_inet6(&text).into_iter().map(IpAddr::V6));
    }
    ips
}

/// Local IPv4 addresses: in the kernel's FIB dump, a `|-- <addr>` line
/// followed by `/32 host LOCAL` is an address assigned to an interface.
fn parse_fib_trie(text: &str) -> Vec<Ipv4Addr> {
    let mut ips = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(addr) = line.strip_prefix("|-- ") {
            last = addr.trim().parse().ok();
        } else if line.starts_with("/32 host LOCAL")
            && let Some(ip) = last
            && !ip.is_loopback()
            && !ips.contains(&ip)
        {
            ips.push(ip);
        }
    }
    ips
}

/// Global IPv6 addresses from `/proc/net/if_inet6`
/// (`<32 hex digits> <ifindex> <prefix> <scope> <flags> <name>`); link-local
/// and host scopes are useless in a certificate.
fn parse_if_inet6(text: &str) -> Vec<Ipv6Addr> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let hex = fields.next()?;
            let scope = fields.nth(2)?;
            if scope != "00" {
                return None;
            }
            let bits = u128::from_str_radix(hex, 16).ok()?;
            let ip = Ipv6Addr::from(bits);
            (!ip.is_loopback()).then_some(ip)
        })
        .collect()
}

/// The rustls configuration of the API server: the serving certificate,
/// ALPN `h2` and `http/1.1`, and optional client certificates verified
/// against the cluster CA. A client without one still gets through the
/// handshake so the server can answer 401 (or try a bearer token).
pub fn server_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(pki.ca_cert_pem.as_bytes()) {
        let ca = ca.map_err(|source| Error::TlsPem {
            what: "CA certificate",
            source,
        })?;
        roots.add(ca).map_err(|source| Error::Tls { source })?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .map_err(|source| Error::ClientVerifier { source })?;

    let chain = CertificateDer::pem_slice_iter(pki.serving_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| Error::TlsPem {
            what: "serving certificate",
            source,
        })?;
    let key = PrivateKeyDer::from_pem_slice(pki.serving_key_pem.as_bytes()).map_err(|source| {
        Error::TlsPem {
            what: "serving key",
            source,
        }
    })?;

    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| Error::Tls { source })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|source| Error::Tls { source })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A user authenticated by a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The username: the certificate's common name.
    pub name: String,
    /// The groups: each organization, then `system:authenticated`.
    pub groups: Vec<String>,
}

/// Maps a verified client certificate (DER, the leaf of the chain) to a user
/// like kube-apiserver's x509 `CommonNameUserConversion`: CN is the username,
/// each O a group; `None` if there is no CN. Like kube-apiserver's
/// `AuthenticatedGroupAdder`, `system:authenticated` is appended unless
/// present. The caller must only pass certificates rustls has verified.
pub fn user_from_client_cert(der: &[u8]) -> Option<UserInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject: &X509Name<'_> = cert.subject();
    // Go's pkix.Name keeps the last CN when several are present.
    let name = subject
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .last()?;
    if name.is_empty() {
        return None;
    }
    let mut groups: Vec<String> = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok())
        .map(str::to_owned)
        .collect();
    if !groups.iter().any(|g| g == ALL_AUTHENTICATED) {
        groups.push(ALL_AUTHENTICATED.to_owned());
    }
    Some(UserInfo {
        name: name.to_owned(),
        groups,
    })
}

/// A kubeconfig for the admin user against `server_url`, with the CA and the
/// admin credentials inline. The cluster, user and context are all named
/// `cluster_name` (skiff passes `default`, as k3s does).
pub fn kubeconfig_yaml(server_url: &str, pki: &Pki, cluster_name: &str) -> String {
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": cluster_name,
            "cluster": {
                "server": server_url,
                "certificate-authority-data": BASE64.encode(&pki.ca_cert_pem),
            },
        }],
        "users": [{
            "name": cluster_name,
            "user": {
                "client-certificate-data": BASE64.encode(&pki.admin_cert_pem),
                "client-key-data": BASE64.encode(&pki.admin_key_pem),
            },
        }],
        "contexts": [{
            "name": cluster_name,
            "context": {
                "cluster": cluster_name,
                "user": cluster_name,
            },
        }],
        "current-context": cluster_name,
        "preferences": {},
    });
    // A tree of strings, arrays and maps with string keys always serializes.
    serde_yaml::to_string(&doc).expect("a JSON tree of strings serializes to YAML")
}

/// Writes a kubeconfig atomically with mode 0600 (it holds the admin key),
/// creating parent directories.
pub fn write_kubeconfig(path: &Path, contents: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| Error::CreateDir {
            path: parent.to_owned(),
            source,
        })?;
    }
    write_atomic(path, contents.as_bytes(), 0o600)
}

// A failed unwrap in a test is a failed test, which is what it should be.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    fn service_ip() -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 43, 0, 1))
    }

    fn sans(extra: &[&str]) -> Sans {
        Sans::new(extra.iter().copied(), service_ip())
    }

    fn der_of(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn sans_of(pem: &str) -> Sans {
        let der = der_of(pem);
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        cert_sans(&cert)
    }

    #[test]
    fn sans_new_splits_ips_from_names_and_dedups() {
        let s = sans(&[
            "api.example.com",
            "192.0.2.10",
            "2001:db8::1",
            "API.example.com",
            "10.43.0.1",
            " ",
        ]);
        for name in [
            "localhost",
            "kubernetes.default.svc.cluster.local",
            "api.example.com",
        ] {
            assert!(s.dns.iter().any(|d| d == name), "{name} in {:?}", s.dns);
        }
        assert_eq!(s.dns.iter().filter(|d| *d == "api.example.com").count(), 1);
        for ip in ["127.0.0.1", "::1", "10.43.0.1", "192.0.2.10", "2001:db8::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(s.ips.iter().filter(|i| **i == ip).count(), 1, "{ip}");
        }
        assert!(
            !s.dns
                .iter()
                .any(|d| d.is_empty() || d.parse::<IpAddr>().is_ok())
        );
    }

    #[test]
    fn create_then_load_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("server/tls");
        let first = load_or_create(&tls, &sans(&[])).unwrap();
        let second = load_or_create(&tls, &sans(&[])).unwrap();
        assert_eq!(first.ca_cert_pem, second.ca_cert_pem);
        assert_eq!(first.ca_key_pem, second.ca_key_pem);
        assert_eq!(first.serving_cert_pem, second.serving_cert_pem);
        assert_eq!(first.admin_cert_pem, second.admin_cert_pem);
        assert_eq!(
            fs::read_to_string(first.ca_cert_path()).unwrap(),
            first.ca_cert_pem
        );

        let ca = der_of(&first.ca_cert_pem);
        let (_, ca) = x509_parser::parse_x509_certificate(&ca).unwrap();
        let cn = ca
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap();
        assert!(cn.starts_with("skiff-server-ca@"), "{cn}");
        assert!(ca.is_ca());
        let lifetime = ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp();
        assert!(lifetime > 9 * 365 * 86400, "{lifetime}");
    }

    #[test]
    fn serving_cert_has_the_sans() {
        let dir = tempfile::tempdir().unwrap();
        let requested = sans(&["skiff.example.com", "203.0.113.7"]);
        let pki = load_or_create(dir.path(), &requested).unwrap();
        let got = sans_of(&pki.serving_cert_pem);
        for name in [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "skiff.example.com",
        ] {
            assert!(
                got.dns.iter().any(|d| d == name),
                "{name} missing from {:?}",
                got.dns
            );
        }
        for ip in ["127.0.0.1", "::1", "10.43.0.1", "203.0.113.7"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(got.ips.contains(&ip), "{ip} missing from {:?}", got.ips);
        }
        if let Some(host) = read_hostname() {
            assert!(got.dns.contains(&host.to_ascii_lowercase()));
        }
        assert!(requested.covered_by(&got));
    }

    #[test]
    fn changed_sans_reissue_serving_cert_but_keep_ca() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), &sans(&[])).unwrap();
        let second = load_or_create(dir.path(), &sans(&["new.example.com"])).unwrap();
        assert_eq!(first.ca_cert_pem, second.ca_cert_pem);
        assert_eq!(first.ca_key_pem, second.ca_key_pem);
        assert_eq!(first.admin_cert_pem, second.admin_cert_pem);
        assert_ne!(first.serving_cert_pem, second.serving_cert_pem);
        assert_ne!(first.serving_key_pem, second.serving_key_pem);
        assert!(
            sans_of(&second.serving_cert_pem)
                .dns
                .iter()
                .any(|d| d == "new.example.com")
        );

        // A subset of what the certificate covers needs no new certificate.
        let third = load_or_create(dir.path(), &sans(&[])).unwrap();
        assert_eq!(second.serving_cert_pem, third.serving_cert_pem);

        // The reissued certificate chains to the unchanged CA.
        let serving = der_of(&second.serving_cert_pem);
        let (_, serving) = x509_parser::parse_x509_certificate(&serving).unwrap();
        let ca = der_of(&first.ca_cert_pem);
        let (_, ca) = x509_parser::parse_x509_certificate(&ca).unwrap();
        assert_eq!(serving.issuer().as_raw(), ca.subject().as_raw());
    }

    #[test]
    fn damaged_leaf_is_replaced_but_damaged_ca_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), &sans(&[])).unwrap();
        fs::write(first.admin_cert_path(), "garbage").unwrap();
        fs::remove_file(first.serving_key_path()).unwrap();
        let second = load_or_create(dir.path(), &sans(&[])).unwrap();
        assert_eq!(first.ca_cert_pem, second.ca_cert_pem);
        assert!(user_from_client_cert(&der_of(&second.admin_cert_pem)).is_some());
        assert_ne!(first.serving_cert_pem, second.serving_cert_pem);

        fs::remove_file(first.ca_key_path()).unwrap();
        let err = load_or_create(dir.path(), &sans(&[])).unwrap_err();
        assert!(matches!(err, Error::MissingKey { .. }), "{err:?}");
        // The CA certificate was not replaced behind the operator's back.
        assert_eq!(
            fs::read_to_string(first.ca_cert_path()).unwrap(),
            first.ca_cert_pem
        );
    }

    #[test]
    fn a_new_ca_reissues_the_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), &sans(&[])).unwrap();
        fs::remove_file(first.ca_cert_path()).unwrap();
        fs::remove_file(first.ca_key_path()).unwrap();
        let second = load_or_create(dir.path(), &sans(&[])).unwrap();
        assert_ne!(first.ca_key_pem, second.ca_key_pem);
        assert_ne!(first.admin_cert_pem, second.admin_cert_pem);
        assert_ne!(first.serving_cert_pem, second.serving_cert_pem);
    }

    #[test]
    fn leaves_of_a_replaced_ca_are_reissued() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let first = load_or_create(&a, &sans(&[])).unwrap();
        // Created within the same second, b's CA may well carry a's name.
        let other = load_or_create(&b, &sans(&[])).unwrap();
        for name in [CA_CERT, CA_KEY] {
            fs::copy(b.join(name), a.join(name)).unwrap();
        }
        let second = load_or_create(&a, &sans(&[])).unwrap();
        assert_eq!(second.ca_cert_pem, other.ca_cert_pem);
        assert_ne!(second.admin_cert_pem, first.admin_cert_pem);
        assert_ne!(second.serving_cert_pem, first.serving_cert_pem);
    }

    #[test]
    fn leaves_are_renewed_within_90_days_of_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let first = load_or_create_at(dir.path(), &sans(&[]), now).unwrap();
        let later = load_or_create_at(dir.path(), &sans(&[]), now + Duration::days(200)).unwrap();
        assert_eq!(first.serving_cert_pem, later.serving_cert_pem);
        let renewed = load_or_create_at(dir.path(), &sans(&[]), now + Duration::days(300)).unwrap();
        assert_eq!(first.ca_cert_pem, renewed.ca_cert_pem);
        assert_ne!(first.serving_cert_pem, renewed.serving_cert_pem);
        assert_ne!(first.admin_cert_pem, renewed.admin_cert_pem);
    }

    #[test]
    fn admin_cert_maps_to_system_admin_in_system_masters() {
        let dir = tempfile::tempdir().unwrap();
        let pki = load_or_create(dir.path(), &sans(&[])).unwrap();
        let user = user_from_client_cert(&der_of(&pki.admin_cert_pem)).unwrap();
        assert_eq!(
            user,
            UserInfo {
                name: "system:admin".into(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
            }
        );
        let der = der_of(&pki.admin_cert_pem);
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
    }

    #[test]
    fn user_from_cert_without_cn_is_none() {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "system:authenticated");
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(user_from_client_cert(cert.der()), None);
        assert_eq!(user_from_client_cert(b"not a certificate"), None);

        params.distinguished_name.push(DnType::CommonName, "alice");
        let cert = params.self_signed(&key).unwrap();
        let user = user_from_client_cert(cert.der()).unwrap();
        // Not added twice.
        assert_eq!(user.groups, vec!["system:authenticated".to_owned()]);
    }

    #[test]
    fn key_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let pki = load_or_create(dir.path(), &sans(&[])).unwrap();
        for path in [
            pki.ca_key_path(),
            pki.serving_key_path(),
            pki.admin_key_path(),
        ] {
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn kubeconfig_holds_the_admin_identity_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let pki = load_or_create(&dir.path().join("tls"), &sans(&[])).unwrap();
        let yaml = kubeconfig_yaml("https://127.0.0.1:6443", &pki, "default");
        let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(doc["current-context"].as_str(), Some("default"));
        assert_eq!(doc["clusters"][0]["name"].as_str(), Some("default"));
        assert_eq!(
            doc["clusters"][0]["cluster"]["server"].as_str(),
            Some("https://127.0.0.1:6443")
        );
        assert_eq!(
            doc["contexts"][0]["context"]["user"].as_str(),
            Some("default")
        );
        let decode = |v: &serde_yaml::Value| {
            String::from_utf8(BASE64.decode(v.as_str().unwrap()).unwrap()).unwrap()
        };
        assert_eq!(
            decode(&doc["clusters"][0]["cluster"]["certificate-authority-data"]),
            pki.ca_cert_pem
        );
        assert_eq!(
            decode(&doc["users"][0]["user"]["client-certificate-data"]),
            pki.admin_cert_pem
        );
        assert_eq!(
            decode(&doc["users"][0]["user"]["client-key-data"]),
            pki.admin_key_pem
        );

        let path = dir.path().join("etc/skiff/skiff.yaml");
        write_kubeconfig(&path, &yaml).unwrap();
        write_kubeconfig(&path, &yaml).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), yaml);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn procfs_address_parsing() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n\
                   \x20          |-- 127.0.0.1\n              /32 host LOCAL\n\
                   \x20          |-- 192.0.2.0\n              /24 link UNICAST\n\
                   \x20          |-- 192.0.2.2\n              /32 host LOCAL\n\
                   \x20       |-- 192.0.2.255\n           /32 link BROADCAST\n\
                   Local:\n           |-- 192.0.2.2\n              /32 host LOCAL\n";
        assert_eq!(parse_fib_trie(fib), vec![Ipv4Addr::new(192, 0, 2, 2)]);

        let inet6 = "fd000000000000000000000000000002 04 40 00 82     eth0\n\
                     fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n\
                     00000000000000000000000000000001 01 80 10 80       lo\n";
        assert_eq!(
            parse_if_inet6(inet6),
            vec!["fd00::2".parse::<Ipv6Addr>().unwrap()]
        );
    }

    fn client_config(pki: &Pki, with_cert: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der_of(&pki.ca_cert_pem)).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match with_cert {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![der_of(cert)],
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Arc::new(config)
    }

    /// Runs a handshake over an in-memory pipe; returns the leaf the server
    /// saw, or the server's error.
    async fn handshake(
        server: Arc<rustls::ServerConfig>,
        client: Arc<rustls::ClientConfig>,
        name: &str,
    ) -> Result<Option<Vec<u8>>, io::Error> {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
        let server_side = async move {
            let mut tls = tokio_rustls::TlsAcceptor::from(server)
                .accept(server_io)
                .await?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"ping");
            let (_, conn) = tls.get_ref();
            assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
            let leaf = conn
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.to_vec());
            tls.write_all(b"pong").await?;
            tls.shutdown().await?;
            Ok::<_, io::Error>(leaf)
        };
        let client_side = async move {
            let mut tls = tokio_rustls::TlsConnector::from(client)
                .connect(name, client_io)
                .await?;
            tls.write_all(b"ping").await?;
            let mut buf = Vec::new();
            tls.read_to_end(&mut buf).await?;
            Ok::<_, io::Error>(buf)
        };
        let (server_result, client_result) = tokio::join!(server_side, client_side);
        let leaf = server_result?;
        assert_eq!(client_result?, b"pong");
        Ok(leaf)
    }

    #[tokio::test]
    async fn tls_handshake_with_and_without_client_cert() {
        let dir = tempfile::tempdir().unwrap();
        let pki = load_or_create(dir.path(), &sans(&[])).unwrap();
        let server = server_config(&pki).unwrap();

        let admin = client_config(&pki, Some((&pki.admin_cert_pem, &pki.admin_key_pem)));
        let leaf = handshake(server.clone(), admin.clone(), "kubernetes.default.svc")
            .await
            .unwrap()
            .expect("server sees the client certificate");
        assert_eq!(user_from_client_cert(&leaf).unwrap().name, "system:admin");
        // The server is also reachable by IP.
        handshake(server.clone(), admin, "127.0.0.1").await.unwrap();

        let anonymous = client_config(&pki, None);
        let leaf = handshake(server.clone(), anonymous, "localhost")
            .await
            .unwrap();
        assert_eq!(leaf, None);
    }

    #[tokio::test]
    async fn tls_rejects_client_cert_of_another_ca() {
        let dir = tempfile::tempdir().unwrap();
        let pki = load_or_create(&dir.path().join("a"), &sans(&[])).unwrap();
        let other = load_or_create(&dir.path().join("b"), &sans(&[])).unwrap();
        let server = server_config(&pki).unwrap();
        let stranger = client_config(&pki, Some((&other.admin_cert_pem, &other.admin_key_pem)));
        assert!(handshake(server, stranger, "localhost").await.is_err());
    }
}
