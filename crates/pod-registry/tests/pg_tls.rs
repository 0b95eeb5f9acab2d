//! TLS to the registry database: a cluster serving TCP only over TLS with a
//! certificate from a CA made here (rcgen); `sslmode=verify-full` with that CA as
//! `sslrootcert` works, a certificate for another name is refused by verify-full but
//! accepted by verify-ca, a CA that did not sign it is refused, and without TLS the
//! server lets nobody in over TCP (so the connections that worked used TLS).
// Tests may unwrap: a panic here is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use pod_registry::{MachineId, PgOptions, PgRegistry, Registry, RegistryError};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A CA (PEM) and a server certificate and key it signed for `names`.
fn ca_and_server(names: &[&str]) -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_pem, cert.pem(), key.serialize_pem())
}

fn connect(url: &str) -> Result<PgRegistry, RegistryError> {
    PgRegistry::connect(PgOptions {
        conninfo: url.to_owned(),
        lease: Duration::from_secs(30),
        lock_timeout: Duration::from_secs(10),
        machine: MachineId::local().unwrap(),
    })
}

fn url(port: u16, db: &str, tls: &str, ca: &Path) -> String {
    format!(
        "postgres://{}@127.0.0.1:{port}/{db}?connect_timeout=5&{tls}&sslrootcert={}",
        pg_fixture::USER,
        ca.display().to_string().replace('/', "%2F")
    )
}

#[test]
fn the_registry_reaches_its_database_over_verified_tls() {
    let dir = tempfile::tempdir().unwrap();
    // Signed for another name than the one the client dials: verify-ca passes,
    // verify-full must not.
    let (other_ca, wrong_name_cert, wrong_name_key) = ca_and_server(&["db.elsewhere"]);
    let (ca, cert, key) = ca_and_server(&["127.0.0.1", "localhost"]);
    let (ca_file, other_ca_file) = (dir.path().join("ca.pem"), dir.path().join("other.pem"));
    std::fs::write(&ca_file, &ca).unwrap();
    std::fs::write(&other_ca_file, &other_ca).unwrap();

    let cluster = pg_fixture::Cluster::start_tls(&cert, &key).unwrap();
    let conninfo = cluster.create_database().unwrap();
    let db = conninfo
        .split("dbname=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let port = cluster.tcp_port();

    let reg = connect(&url(port, db, "sslmode=verify-full", &ca_file)).unwrap();
    reg.register(register_req("over-tls", me(), vec![w("/w")]))
        .unwrap();
    assert_eq!(reg.list().unwrap().len(), 1);
    assert!(
        reg.tls()
            .starts_with("TLS, certificate and host name checked against the CA in "),
        "{}",
        reg.tls()
    );
    // The password-free name in messages, without the TLS options.
    assert_eq!(
        reg.target(),
        format!("postgres://pods@127.0.0.1:{port}/{db}")
    );

    // A rejected certificate or a refused user is told apart from an outage: it
    // says what to check, and waiting would not help.
    let refused = |u: &str| match connect(u) {
        Err(e @ RegistryError::Refused { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("check the url's user and password, sslmode and sslrootcert"),
                "{text}"
            );
            text
        }
        Err(e) => panic!("{u}: not a refusal: {e:?}"),
        Ok(_) => panic!("{u} connected"),
    };
    let e = refused(&url(port, db, "sslmode=verify-full", &other_ca_file));
    assert!(
        e.contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );
    let e = refused(&format!(
        "postgres://{}@127.0.0.1:{port}/{db}?connect_timeout=5&sslmode=disable",
        pg_fixture::USER
    ));
    assert!(
        e.contains("no pg_hba.conf entry") || e.contains("SSL off"),
        "{e}"
    );
    drop(cluster);

    let cluster = pg_fixture::Cluster::start_tls(&wrong_name_cert, &wrong_name_key).unwrap();
    let conninfo = cluster.create_database().unwrap();
    let db = conninfo
        .split("dbname=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let port = cluster.tcp_port();
    let e = refused(&url(port, db, "sslmode=verify-full", &other_ca_file));
    assert!(
        e.contains("NotValidForName") || e.contains("not valid for name"),
        "{e}"
    );
    let reg = connect(&url(port, db, "sslmode=verify-ca", &other_ca_file)).unwrap();
    assert!(reg.list().unwrap().is_empty());
    let e = refused(&url(port, db, "sslmode=verify-ca", &ca_file));
    assert!(
        e.contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );
}

/// A server that declines TLS (its answer to the SSL request is `N`) when the URL
/// requires it is a refusal to fix in the URL or the server, not an outage.
#[test]
fn a_server_without_tls_is_a_refusal_when_the_url_requires_tls() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(1) {
            let mut conn = conn.unwrap();
            let mut ssl_request = [0u8; 8];
            conn.read_exact(&mut ssl_request).unwrap();
            conn.write_all(b"N").unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let (ca_pem, _, _) = ca_and_server(&["localhost"]);
    std::fs::write(&ca, ca_pem).unwrap();
    match connect(&url(port, "pods", "sslmode=verify-full", &ca)) {
        Err(e @ RegistryError::Refused { .. }) => {
            assert!(e.to_string().contains("server does not support TLS"), "{e}")
        }
        Err(e) => panic!("not a refusal: {e:?}"),
        Ok(_) => panic!("connected without TLS"),
    }
}
