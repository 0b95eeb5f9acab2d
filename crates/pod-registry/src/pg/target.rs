//! The database named without its password, for every message and log line. Built
//! from the parsed connection settings (host, port, user, database), never by editing
//! the string the user gave, so no spelling of a password can slip through.

use postgres::config::Host;

/// `postgres://user@host:port/db` (no password), or a placeholder when the string
/// does not parse.
pub(crate) fn redacted(conninfo: &str) -> String {
    let parsed = super::tls::split(conninfo).map(|s| s.driver.parse::<postgres::Config>());
    let Ok(Ok(c)) = parsed else {
        return "<unparsable registry url>".into();
    };
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(s) => s.clone(),
                Host::Unix(p) => p.display().to_string(),
            };
            match c.get_ports().get(i).or(c.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    format!(
        "postgres://{}{}/{}",
        c.get_user().map(|u| format!("{u}@")).unwrap_or_default(),
        hosts.join(","),
        c.get_dbname().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_appear() {
        for s in [
            "postgres://alice:s3cr3t@db.example:5433/pods",
            "host=db.example port=5433 user=alice password=s3cr3t dbname=pods",
            "postgres://alice:s3cr3t@db.example/pods?password=s3cr3t",
        ] {
            let r = redacted(s);
            assert!(!r.contains("s3cr3t"), "{r}");
            assert!(r.contains("alice@db.example"), "{r}");
        }
        assert_eq!(redacted("::nonsense s3cr3t"), "<unparsable registry url>");
    }
}
