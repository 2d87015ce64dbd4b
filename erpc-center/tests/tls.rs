//! `erpc-center --listen tls://… | quic://… --cert PEM --key PEM [--client-ca PEM]`: the real
//! binary over TLS and QUIC with certificates made here (rcgen), and its clients — the
//! registry (`CenterRegistry::builder().transport(…)`) and `CenterClient` — given the CA:
//! registration, listing and the watch; mutual TLS; and the refusals at start.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use erpc_center::{CenterClient, CenterRegistry, Filter};
use erpc_core::Code;
use erpc_core::discovery::Discover;
use erpc_transport::{ClientTls, Options};
use support::process::spawn_center;

/// A certificate authority made here, and the PEM files of the center's certificate.
struct Pki {
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA named `name`, with a certificate it signed for `localhost`/`127.0.0.1` written to
    /// `cert.pem` and `key.pem` (and the CA to `ca.pem`) in a fresh directory.
    fn new(name: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let ca_key = KeyPair::generate().expect("CA key");
        let ca = params.self_signed(&ca_key).expect("CA certificate");
        let pki = Pki {
            ca,
            ca_key,
            dir: tempfile::tempdir().expect("tmp"),
        };
        let (cert, key) = pki.issue(&["localhost", "127.0.0.1"]);
        std::fs::write(pki.path("cert.pem"), cert).expect("written");
        std::fs::write(pki.path("key.pem"), key).expect("written");
        std::fs::write(pki.path("ca.pem"), pki.ca.pem()).expect("written");
        pki
    }

    /// A certificate this CA signed for `names`, and its key: PEM.
    fn issue(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).expect("leaf params");
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// `--cert … --key …` for the center.
    fn flags(&self) -> Vec<String> {
        let path = |f| self.path(f).display().to_string();
        vec![
            "--cert".into(),
            path("cert.pem"),
            "--key".into(),
            path("key.pem"),
        ]
    }

    /// A client's TLS trusting this CA.
    fn trust(&self) -> ClientTls {
        ClientTls::trust_pem(self.ca.pem().as_bytes()).expect("CA")
    }

    /// [`Pki::trust`], presenting a certificate this CA signed (mutual TLS).
    fn trust_as_client(&self) -> ClientTls {
        let (cert, key) = self.issue(&["provider-1"]);
        self.trust()
            .identity(cert.as_bytes(), key.as_bytes())
            .expect("identity")
    }
}

/// A registry over the center at `addr`, with `tls`.
fn registry(addr: &str, tls: ClientTls) -> CenterRegistry {
    CenterRegistry::builder()
        .transport(Options::default().client_tls(tls))
        .ttl(Duration::from_secs(2))
        .build([addr])
        .expect("address")
}

/// `erpc-center --listen listen --store memory` with `extra` flags.
async fn center(listen: &str, extra: &[String]) -> support::process::CenterProcess {
    let mut args = vec!["--store", "memory", "--min-ttl-ms", "100"];
    args.extend(extra.iter().map(String::as_str));
    spawn_center(listen, &args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn over_tls_and_quic_a_center_registers_lists_and_watches_for_clients_given_its_ca() {
    let pki = Pki::new("center CA");
    for listen in ["tls://127.0.0.1:0", "quic://127.0.0.1:0"] {
        let center = center(listen, &pki.flags()).await;
        let scheme = &listen[..listen.find(':').expect("scheme")];
        assert!(
            center.addr.starts_with(&format!("{scheme}://127.0.0.1:")),
            "{}",
            center.addr
        );
        let registry = registry(&center.addr, pki.trust());
        // Watch: followed before anything registers, so the instance arrives as a change.
        let mut list = registry.subscribe("Whoami").await.expect("subscribes");
        assert!(list.borrow().is_empty());
        // Register: a provider registers through the registry (and renews: TTL 2 s, held
        // past it below).
        let provider = support::provider(Arc::new(registry.clone()), "node-1").await;
        tokio::time::timeout(Duration::from_secs(10), list.wait_for(|l| l.len() == 1))
            .await
            .unwrap_or_else(|_| panic!("{listen}: the watch brings the registration"))
            .expect("followed");
        // List: the center's own API over the same TLS.
        let client = CenterClient::new(
            erpc_core::Client::builder()
                .transport(Options::default().client_tls(pki.trust()))
                .build(center.addr.as_str())
                .expect("address"),
        );
        let listing = client
            .discover("Whoami".into(), Filter::default())
            .await
            .expect("lists");
        assert_eq!(listing.instances.len(), 1, "{listen}");
        assert_eq!(listing.instances[0].id, "node-1");
        // Calls reach the provider found through the TLS center.
        let consumer = support::consumer(&registry).await;
        assert_eq!(
            support::answering(&consumer, 3).await,
            ["node-1".to_owned()].into()
        );
        // The lease outlives its TTL (renewals over TLS), then the shutdown's release
        // reaches the watch.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(list.borrow().len(), 1, "{listen}: renewed over TLS");
        provider.shutdown().await;
        tokio::time::timeout(Duration::from_secs(10), list.wait_for(|l| l.is_empty()))
            .await
            .unwrap_or_else(|_| panic!("{listen}: the watch brings the release"))
            .expect("followed");

        // Without the CA, or trusting another one, nothing gets through.
        let bare =
            CenterClient::new(erpc_core::Client::new(center.addr.as_str()).expect("address"));
        let refused = bare
            .discover("Whoami".into(), Filter::default())
            .await
            .expect_err("no TLS settings");
        assert!(
            refused.message().contains("needs TLS settings"),
            "{listen}: {refused}"
        );
        let stranger = Pki::new("another CA");
        let refused = registry_discover(&center.addr, stranger.trust()).await;
        assert_eq!(refused.code(), Code::Unavailable, "{listen}: {refused}");
    }
}

/// A `discover` through a registry with `tls`: its refusal.
async fn registry_discover(addr: &str, tls: ClientTls) -> erpc_core::Status {
    let client = CenterClient::new(
        erpc_core::Client::builder()
            .transport(Options::default().client_tls(tls))
            .timeout(Duration::from_secs(5))
            .build(addr)
            .expect("address"),
    );
    client
        .discover("Whoami".into(), Filter::default())
        .await
        .expect_err("refused")
}

#[tokio::test(flavor = "multi_thread")]
async fn with_client_ca_the_center_admits_only_clients_with_a_certificate_from_it() {
    let pki = Pki::new("center and clients CA");
    let mut flags = pki.flags();
    flags.extend([
        "--client-ca".into(),
        pki.path("ca.pem").display().to_string(),
    ]);
    for listen in ["tls://127.0.0.1:0", "quic://127.0.0.1:0"] {
        let center = center(listen, &flags).await;
        let refused = registry_discover(&center.addr, pki.trust()).await;
        assert_eq!(refused.code(), Code::Unavailable, "{listen}: {refused}");
        let registry = registry(&center.addr, pki.trust_as_client());
        let provider = support::provider(Arc::new(registry.clone()), "node-1").await;
        support::list_reaches(&registry, 1, Duration::from_secs(10)).await;
        provider.shutdown().await;
    }
}

/// `erpc-center ARGS` run to its end: its exit code and stderr.
async fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_erpc-center"))
            .args(["--store", "memory"])
            .args(args)
            .env("NO_COLOR", "1")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("exits in time")
    .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_tls_address_without_a_certificate_and_a_certificate_without_one_stop_the_center() {
    let pki = Pki::new("center CA");
    let cert = pki.path("cert.pem").display().to_string();
    let key = pki.path("key.pem").display().to_string();
    let missing = pki.path("missing.pem").display().to_string();
    let junk = pki.path("junk.pem");
    std::fs::write(&junk, "not PEM\n").expect("written");
    let junk = junk.display().to_string();
    for (args, says) in [
        (
            vec!["--listen", "tls://127.0.0.1:0"],
            vec!["--listen tls://127.0.0.1:0", "--cert", "--key"],
        ),
        (
            vec![
                "--listen",
                "tcp://127.0.0.1:0",
                "--listen",
                "quic://127.0.0.1:0",
            ],
            vec!["--listen quic://127.0.0.1:0", "--cert", "--key"],
        ),
        (
            vec![
                "--listen",
                "tcp://127.0.0.1:0",
                "--cert",
                &cert,
                "--key",
                &key,
            ],
            vec!["no --listen address uses TLS"],
        ),
        (
            vec!["--listen", "tls://127.0.0.1:0", "--cert", &cert],
            vec!["--cert needs --key"],
        ),
        (
            vec!["--listen", "tcp://127.0.0.1:0", "--client-ca", &cert],
            vec!["--client-ca needs", "--cert"],
        ),
        (
            vec![
                "--listen",
                "tls://127.0.0.1:0",
                "--cert",
                &missing,
                "--key",
                &key,
            ],
            vec!["--cert", &missing],
        ),
        (
            vec![
                "--listen",
                "tls://127.0.0.1:0",
                "--cert",
                &junk,
                "--key",
                &key,
            ],
            vec![&junk, "certificate"],
        ),
        (
            vec![
                "--listen",
                "tcp://127.0.0.1:0",
                "--follow",
                "quic://127.0.0.1:9",
            ],
            vec!["--follow quic://127.0.0.1:9", "--follow-ca"],
        ),
        (
            vec![
                "--listen",
                "tcp://127.0.0.1:0",
                "--follow",
                "tcp://127.0.0.1:9",
                "--follow-ca",
                &cert,
            ],
            vec!["--follow-ca", "no --follow peer is a TLS address"],
        ),
    ] {
        let (code, stderr) = run(&args).await;
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        for part in says {
            assert!(stderr.contains(part), "{args:?}: says {part:?}: {stderr}");
        }
    }
}

/// A config file with `yaml` (written next to the PEM files).
fn config(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("center.yaml");
    std::fs::write(&path, yaml).expect("written");
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn the_certificate_can_come_from_the_config_file_and_a_bad_one_is_named_with_its_line() {
    let pki = Pki::new("center CA");
    let file = config(
        pki.dir.path(),
        &format!(
            "center:\n  listen: [\"tls://127.0.0.1:0\"]\n  store: memory\n  tls:\n    cert: {}\n    key: {}\n",
            pki.path("cert.pem").display(),
            pki.path("key.pem").display()
        ),
    );
    let file = file.display().to_string();
    let center = spawn_center("tls://127.0.0.1:0", &["--config", &file]).await;
    let registry = registry(&center.addr, pki.trust());
    let provider = support::provider(Arc::new(registry.clone()), "node-1").await;
    support::list_reaches(&registry, 1, Duration::from_secs(10)).await;
    provider.shutdown().await;

    let bad = config(
        pki.dir.path(),
        "center:\n  listen: [\"tls://127.0.0.1:0\"]\n  tls:\n    key: /nonexistent/k.pem\n    cert: /nonexistent/c.pem\n",
    );
    let bad = bad.display().to_string();
    let (code, stderr) = run(&["--config", &bad]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{bad}:5: center.tls.cert")),
        "names the file, line and key: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_and_a_client_from_settings_reach_a_tls_center_with_their_tls_keys() {
    use erpc_center::config_client;
    let pki = Pki::new("center CA");
    for listen in ["tls://127.0.0.1:0", "quic://127.0.0.1:0"] {
        let center = center(listen, &pki.flags()).await;
        let at = &center.addr;
        let ca = pki.path("ca.pem").display().to_string();
        let file = config(
            pki.dir.path(),
            &format!(
                "server:\n  listen: [\"tcp://127.0.0.1:0\"]\n  registration:\n    centers: [\"{at}\"]\n    tls:\n      ca: {ca}\nclient:\n  discovery:\n    service: Whoami\n    centers: [\"{at}\"]\n    tls: {{ca: {ca}}}\n"
            ),
        );
        let settings = erpc_config::load_with_env(&file, Vec::new()).expect("loads");
        let server = config_client::register(
            &settings.server,
            settings.server.builder().expect("builder"),
        )
        .expect("a registry")
        .add_service(support::WhoamiServer::new(support::Named(
            "from-file".into(),
        )))
        .serve(settings.server.listen.iter().map(String::as_str))
        .await
        .expect("serves");
        let client = support::WhoamiClient::new(
            config_client::connect(&settings.client)
                .await
                .expect("discovers"),
        );
        assert_eq!(
            client.name().await.expect("answers"),
            "from-file",
            "{listen}"
        );
        server.shutdown().await;
    }
    // `tls` under discovery goes with centers, and its files are read at load.
    let bad = config(
        pki.dir.path(),
        "client:\n  discovery:\n    service: Whoami\n    centers: [\"tls://127.0.0.1:9\"]\n    tls:\n      ca: /nonexistent/ca.pem\n",
    );
    let e = erpc_config::load_with_env(&bad, Vec::new()).expect_err("no such CA file");
    assert!(
        e.to_string().contains(":6: client.discovery.tls.ca"),
        "names the line and key: {e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_center_follows_a_tls_or_quic_peer_given_its_ca() {
    let pki = Pki::new("federation CA");
    let ca = pki.path("ca.pem").display().to_string();
    for listen in ["tls://127.0.0.1:0", "quic://127.0.0.1:0"] {
        let mut flags = pki.flags();
        flags.extend(["--dc".into(), "a".into()]);
        let a = center(listen, &flags).await;
        let b = center(
            "tcp://127.0.0.1:0",
            &[
                "--dc".into(),
                "b".into(),
                "--follow".into(),
                a.addr.clone(),
                "--follow-ca".into(),
                ca.clone(),
            ],
        )
        .await;
        let provider = support::provider(Arc::new(registry(&a.addr, pki.trust())), "in-a").await;
        // Mirrored into b over the TLS peer link: b's own (plain) listing has it, from dc a.
        let in_b = CenterRegistry::new([b.addr.as_str()]).expect("address");
        support::list_reaches(&in_b, 1, Duration::from_secs(20)).await;
        let listing = CenterClient::new(erpc_core::Client::new(b.addr.as_str()).expect("address"))
            .discover("Whoami".into(), Filter::default())
            .await
            .expect("lists");
        assert_eq!(
            listing.instances[0].metadata.get("dc").map(String::as_str),
            Some("a"),
            "{listen}"
        );
        provider.shutdown().await;
        support::list_reaches(&in_b, 0, Duration::from_secs(20)).await;
    }
}
