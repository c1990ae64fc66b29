//! TLS to PostgreSQL, with rustls: used when the URL says `sslmode=require`, verifying
//! the server's certificate and name against `--postgres-ca-file` or, without it, the
//! system's roots. Other modes connect in plain text, as before; `prefer` does not try
//! TLS, because a server's self-signed certificate would then fail instead of falling
//! back.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres::config::SslMode;
use tokio_postgres::{CancelToken, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How connections (and cancel requests) reach the server.
#[derive(Clone)]
pub(super) enum Tls {
    Off,
    Rustls(MakeRustlsConnect),
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Off => "Tls::Off",
            Self::Rustls(_) => "Tls::Rustls",
        })
    }
}

impl Tls {
    /// The connector for `config`: rustls when it requires TLS.
    pub(super) fn for_config(
        config: &tokio_postgres::Config,
        ca_file: Option<&Path>,
    ) -> Result<Self, String> {
        if config.get_ssl_mode() != SslMode::Require {
            return Ok(Self::Off);
        }
        let mut roots = RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                    .map_err(|e| {
                        format!("cannot read CA certificates from {}: {e}", path.display())
                    })?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!("{} holds no usable CA certificate", path.display()));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(
                        "sslmode=require, but the system has no CA certificates; give --postgres-ca-file"
                            .to_owned(),
                    );
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up failed: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self::Rustls(MakeRustlsConnect::new(client)))
    }

    /// Sends a cancel request for `token`'s connection, the way it was connected.
    pub(super) async fn cancel(&self, token: &CancelToken) -> Result<(), tokio_postgres::Error> {
        match self {
            Self::Off => token.cancel_query(NoTls).await,
            Self::Rustls(tls) => token.cancel_query(tls.clone()).await,
        }
    }
}
