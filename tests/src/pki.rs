//! Certificates made at test time: a CA, server certificates for `localhost`, and client
//! certificates naming a principal in a SPIFFE URI SAN. No key is ever committed.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// A certificate authority for one test.
pub struct Ca(CertifiedIssuer<'static, KeyPair>);

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// A certificate and its key, PEM.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
}

impl Issued {
    /// Writes `<name>.crt` and `<name>.key` into `dir`.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert).expect("write certificate");
        std::fs::write(&key, &self.key).expect("write key");
        (cert, key)
    }
}

impl Ca {
    /// A fresh CA.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        Self(CertifiedIssuer::self_signed(params, key).expect("ca certificate"))
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.0.pem()
    }

    /// Writes the CA certificate to `dir/<name>`.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.pem()).expect("write ca");
        path
    }

    /// A certificate for `localhost` and 127.0.0.1 usable by servers and clients, with URI
    /// SANs `uris`, valid from now for `valid_days` (negative: already expired).
    pub fn issue(&self, uris: &[&str], valid_days: i64) -> Issued {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let mut params = CertificateParams::new(names).expect("params");
        for uri in uris {
            params
                .subject_alt_names
                .push(SanType::URI((*uri).try_into().expect("uri")));
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = time::OffsetDateTime::now_utc();
        if valid_days < 0 {
            params.not_before = now - time::Duration::days(30);
            params.not_after = now + time::Duration::days(valid_days);
        } else {
            params.not_before = now - time::Duration::hours(1);
            params.not_after = now + time::Duration::days(valid_days);
        }
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.0).expect("certificate");
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}
