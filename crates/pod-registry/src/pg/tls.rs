//! TLS to the registry database, with libpq's `sslmode` meanings (rustls; no OpenSSL).
//!
//! The driver understands `sslmode=disable|prefer|require` only; `verify-ca`,
//! `verify-full` and `sslrootcert` (a CA file) are taken out of the connection string
//! here and become the certificate check of the rustls connector:
//!
//! - `verify-full`: the chain must lead to a trusted root and the certificate must
//!   name the host (what a registry on a shared network should use);
//! - `verify-ca`: the chain only;
//! - `require` / `prefer` (the default): encrypted; checked like `verify-ca` when
//!   `sslrootcert` is given, else not at all (libpq does the same);
//! - `disable`: no TLS.
//!
//! Trusted roots: the `sslrootcert` file (PEM) if given, else the system's store
//! (libpq would read `~/.postgresql/root.crt`; a shared registry more often has a
//! certificate from the organisation's CA, which the system store already holds).
//! PostgreSQL never uses TLS over a Unix socket, whatever the mode says.

use std::path::PathBuf;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

/// What the server's certificate must satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// A connection string split into what the driver reads and the TLS settings.
#[derive(Debug)]
pub(crate) struct Split {
    /// The string without `sslrootcert`, with `verify-*` modes as `require`.
    pub driver: String,
    mode: Option<String>,
    root_cert: Option<PathBuf>,
}

impl Split {
    /// What protects the connection, for `pod doctor` (`unix_only`: every host is a
    /// Unix socket, where PostgreSQL never uses TLS).
    pub(crate) fn describe(&self, unix_only: bool) -> String {
        if unix_only {
            return "Unix socket, no TLS".into();
        }
        let roots = match &self.root_cert {
            Some(p) => format!("the CA in {}", p.display()),
            None => "the system's trusted roots".into(),
        };
        match (self.mode.as_deref(), self.root_cert.is_some()) {
            (Some("disable"), _) => "no TLS (sslmode=disable)".into(),
            (Some("verify-full"), _) => {
                format!("TLS, certificate and host name checked against {roots}")
            }
            (Some("verify-ca"), _) | (_, true) => {
                format!("TLS, certificate chain checked against {roots} (host name not checked)")
            }
            (Some("require"), false) => "TLS, certificate not checked (sslmode=require)".into(),
            _ => "TLS when the server offers it, certificate not checked (sslmode=prefer)".into(),
        }
    }
}

/// Splits `conninfo` (URL or `key=value` form); `Err` says what is wrong.
pub(crate) fn split(conninfo: &str) -> Result<Split, String> {
    let mut mode = None;
    let mut root_cert = None;
    let mut visit = |key: &str, value: String| -> Option<String> {
        match key {
            "sslmode" => {
                let driver = match value.as_str() {
                    "verify-ca" | "verify-full" => "require".to_owned(),
                    v => v.to_owned(),
                };
                mode = Some(value);
                Some(driver)
            }
            "sslrootcert" => {
                root_cert = Some(PathBuf::from(value));
                None
            }
            _ => Some(value),
        }
    };
    let driver = if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
        rewrite_url(conninfo, &mut visit)?
    } else {
        rewrite_pairs(conninfo, &mut visit)?
    };
    Ok(Split {
        driver,
        mode,
        root_cert,
    })
}

/// The rustls connector for these settings (reads the CA file or the system roots).
pub(crate) fn connector(s: &Split) -> Result<MakeRustlsConnect, String> {
    let check = match s.mode.as_deref() {
        Some("verify-full") => Check::ChainAndName,
        Some("verify-ca") => Check::Chain,
        _ if s.root_cert.is_some() => Check::Chain,
        _ => Check::Nothing,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let config = if check == Check::Nothing {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
            .with_no_client_auth()
    } else {
        let roots = Arc::new(roots(s.root_cert.as_ref())?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::Chain => Arc::new(ChainOnly(webpki)),
            _ => webpki,
        };
        builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth()
    };
    Ok(MakeRustlsConnect::new(config))
}

fn roots(file: Option<&PathBuf>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "sslrootcert {}: no certificate in it",
                    path.display()
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(
                    "verifying the database's certificate needs trusted roots: name a CA file with sslrootcert=PATH (none found in the system's store)"
                        .into(),
                );
            }
        }
    }
    Ok(store)
}

/// `verify-ca`: the chain is checked, the name is not.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
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

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require` without a CA file: encrypted, the certificate not checked (libpq's
/// meaning; the handshake's signatures still are).
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
        verify_tls12_signature(
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
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

type Visit<'a> = dyn FnMut(&str, String) -> Option<String> + 'a;

/// `postgres://…?k=v&…`: each query parameter through `visit` (decoded value in,
/// value to keep out, re-encoded).
fn rewrite_url(url: &str, visit: &mut Visit<'_>) -> Result<String, String> {
    let Some((head, query)) = url.split_once('?') else {
        return Ok(url.to_owned());
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode_str(v)
            .decode_utf8()
            .map_err(|e| format!("parameter {k} of the registry url is not UTF-8: {e}"))?;
        if let Some(v) = visit(k, value.into_owned()) {
            let enc = percent_encoding::utf8_percent_encode(&v, percent_encoding::NON_ALPHANUMERIC);
            kept.push(format!("{k}={enc}"));
        }
    }
    Ok(match kept.is_empty() {
        true => head.to_owned(),
        false => format!("{head}?{}", kept.join("&")),
    })
}

/// `k=v k='quoted \' value' …` (libpq's form): each pair through `visit`. A small
/// scanner rather than a crate: the grammar is three rules, and the driver parses
/// the result again anyway.
fn rewrite_pairs(s: &str, visit: &mut Visit<'_>) -> Result<String, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("registry url: `{key}` has no `=value`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => return Err(format!("registry url: unterminated quote after {key}=")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                match c {
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        }
        if let Some(v) = visit(&key, value) {
            out.push(format!(
                "{key}='{}'",
                v.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    Ok(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_and_the_ca_file_leave_the_driver_string() {
        let s = split("postgres://u:p%40ss@h:5433/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x")
            .unwrap();
        assert_eq!(
            s.driver,
            "postgres://u:p%40ss@h:5433/db?sslmode=require&application_name=x"
        );
        assert_eq!(s.mode.as_deref(), Some("verify-full"));
        assert_eq!(s.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        let s =
            split(r"host=h sslmode = verify-ca sslrootcert='/a b/c\'a.pem' password=x\ y").unwrap();
        assert_eq!(s.driver, r"host='h' sslmode='require' password='x y'");
        assert_eq!(s.mode.as_deref(), Some("verify-ca"));
        assert_eq!(s.root_cert, Some(PathBuf::from("/a b/c'a.pem")));
        let parsed: postgres::Config = s.driver.parse().unwrap();
        assert_eq!(parsed.get_password(), Some(&b"x y"[..]));
        assert!(split("host=h sslrootcert").is_err());
        assert!(split("host='h").is_err());
    }

    #[test]
    fn the_description_says_what_is_checked() {
        let d = |c: &str| split(c).unwrap().describe(false);
        assert_eq!(
            d("postgres://h/db?sslmode=verify-full&sslrootcert=%2Fca.pem"),
            "TLS, certificate and host name checked against the CA in /ca.pem"
        );
        assert_eq!(
            d("host=h sslmode=verify-ca"),
            "TLS, certificate chain checked against the system's trusted roots (host name not checked)"
        );
        assert!(d("host=h sslmode=require sslrootcert=/ca.pem").contains("chain checked"));
        assert!(d("host=h sslmode=require").contains("not checked (sslmode=require)"));
        assert!(d("host=h").contains("sslmode=prefer"));
        assert_eq!(d("host=h sslmode=disable"), "no TLS (sslmode=disable)");
        assert_eq!(
            split("host=/run/pg sslmode=verify-full")
                .unwrap()
                .describe(true),
            "Unix socket, no TLS"
        );
    }
}
