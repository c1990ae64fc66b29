//! Throw-away certificates for servers started with TLS: a CA (`ca.crt`) and a server
//! certificate it signed for 127.0.0.1 and localhost (`server.crt`, `server.key`), made
//! with `openssl` in the server's folder.

use std::path::Path;
use std::process::Command;

/// A CA, and a server certificate it signed for 127.0.0.1 and localhost, in `dir`.
pub(crate) fn make(dir: &Path) {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run openssl ({e}); install it (apt-get install -y openssl)")
            });
        if !output.status.success() {
            panic!(
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=sql-client test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap_or_else(|e| panic!("cannot write the certificate extensions: {e}"));
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
    // Servers refuse a private key that others can read.
    let key = dir.join("server.key");
    let chmod = Command::new("chmod").arg("600").arg(&key).status();
    if !chmod.is_ok_and(|s| s.success()) {
        panic!("cannot restrict {}", key.display());
    }
}
