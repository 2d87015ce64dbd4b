//! Security on the real server with real clients: bearer tokens and JWTs (HS256 and ES256,
//! signed here with keys made here) checked by `erpc::auth::Authenticate`, client
//! credentials with refresh, the mutual-TLS peer identity, per-method ACLs, and RELIABILITY
//! 23 — refusals happen before the body is decompressed or decoded.

use crate::support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use erpc::auth::{
    Acl, Authenticate, BearerTokens, Credentials, Jwt, JwtKey, JwtKeys, Principal, Rule, Token,
};
use erpc::per_method::PerMethod;
use erpc::server::CallHead;
use erpc::transport::ServerTls;
use erpc::{ClientConfig, Code, CompressionId, Context, Raw, ServerConfig, Status};
use erpc::{ServerBuilder, TransportOptions};
use jsonwebtoken::{EncodingKey, Header};
use serde::{Deserialize, Serialize};
use support::ca::Ca;
use support::*;

/// What a handler knows of its caller.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Who {
    pub subject: Option<String>,
    pub roles: Vec<String>,
    pub cert_subject: Option<String>,
    pub cert_sans: Vec<String>,
}

#[erpc::service]
pub trait Whoami {
    /// The caller as the handler's `Context` has it.
    async fn whoami(&self, cx: Context) -> Result<Who, Status>;
}

#[derive(Clone, Default)]
pub struct WhoamiImpl;

impl Whoami for WhoamiImpl {
    async fn whoami(&self, cx: Context) -> Result<Who, Status> {
        let principal = cx.principal();
        let identity = cx.peer_identity();
        Ok(Who {
            subject: principal.map(|p| p.subject.clone()),
            roles: principal.map(|p| p.roles.clone()).unwrap_or_default(),
            cert_subject: identity.map(|id| id.subject.clone()),
            cert_sans: identity.map(|id| id.sans.clone()).unwrap_or_default(),
        })
    }
}

/// Counts the calls that get past the header-level hooks to the handlers' layers.
#[derive(Clone, Default)]
pub struct Reached(Arc<AtomicU64>);

impl Reached {
    fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl erpc::Middleware for Reached {
    async fn call(
        &self,
        request: erpc::Request,
        next: erpc::Next<'_>,
    ) -> Result<erpc::Response, Status> {
        self.0.fetch_add(1, Ordering::SeqCst);
        next.run(request).await
    }
}

/// A server of Echo and Whoami on `transport` with `tls` (if any), set up by `hooks`;
/// returns it, what reached the handlers and its address.
async fn serve(
    transport: &str,
    tls: Option<ServerTls>,
    hooks: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> (erpc::ServerHandle, Reached, String, Place) {
    let place = place(transport);
    let reached = Reached::default();
    let transport = match tls {
        Some(tls) => TransportOptions::default().server_tls(tls),
        None => server_options(),
    };
    let builder = erpc::Server::builder()
        .config(ServerConfig {
            transport,
            ..ServerConfig::default()
        })
        .middleware(reached.clone())
        .add_service(EchoServer::new(EchoImpl::default()))
        .add_service(WhoamiServer::new(WhoamiImpl));
    let server = hooks(builder).serve([place.addr.as_str()]).await.unwrap();
    let addr = server.local_addr().to_string();
    (server, reached, addr, place)
}

fn plain(addr: &str, credentials: Option<Credentials>) -> erpc::Client {
    let builder = erpc::Client::builder().transport(client_options());
    let builder = match credentials {
        Some(credentials) => builder.middleware(credentials),
        None => builder,
    };
    builder.build(addr).unwrap()
}

fn who(client: &erpc::Client) -> WhoamiClient {
    WhoamiClient::new(client.clone())
}

fn unauthenticated(result: Result<impl std::fmt::Debug, Status>, why: &str) {
    let err = result.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err}");
    assert!(err.message().contains(why), "wanted {why:?}: {err}");
}

const OPS_TOKEN: &str = "ops-0123456789abcdef0123456789abcdef";
const READER_TOKEN: &str = "rdr-0123456789abcdef0123456789abcdef";

fn bearer_tokens() -> BearerTokens {
    BearerTokens::new()
        .token(OPS_TOKEN, Principal::new("ops").with_roles(["admin"]))
        .token(READER_TOKEN, Principal::new("reader"))
}

#[tokio::test]
async fn bearer_tokens_admit_the_known_and_name_what_is_wrong_with_the_rest() {
    let (server, reached, addr, _place) = serve("tcp", None, |b| {
        b.admission(Authenticate::new(bearer_tokens()))
    })
    .await;

    let anonymous = plain(&addr, None);
    unauthenticated(
        who(&anonymous).whoami().await,
        "Whoami.whoami requires credentials: send metadata `authorization: Bearer <token>`",
    );
    unauthenticated(
        who(&anonymous)
            .whoami()
            .bearer_token("not-a-known-token")
            .await,
        "unknown bearer token",
    );
    let basic = who(&anonymous)
        .whoami()
        .metadata("authorization", "Basic b3BzOnB3")
        .await;
    unauthenticated(basic, "not a bearer token");

    let ops = plain(&addr, Some(Credentials::bearer(OPS_TOKEN)));
    let seen = who(&ops).whoami().await.unwrap();
    assert_eq!(seen.subject.as_deref(), Some("ops"));
    assert_eq!(seen.roles, ["admin"]);
    // A per-call credential wins over the client's.
    let seen = who(&ops).whoami().bearer_token(READER_TOKEN).await.unwrap();
    assert_eq!(seen.subject.as_deref(), Some("reader"));

    // Only the two admitted calls reached a handler.
    assert_eq!(reached.count(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_method_that_does_not_require_credentials_admits_anonymous_callers_but_not_bad_tokens() {
    let auth = Authenticate::new(bearer_tokens())
        .required(PerMethod::new(true).method("Whoami", "whoami", false));
    let (server, _probe, addr, _place) = serve("tcp", None, |b| b.admission(auth)).await;
    let anonymous = plain(&addr, None);
    assert_eq!(who(&anonymous).whoami().await.unwrap(), Who::default());
    unauthenticated(
        who(&anonymous).whoami().bearer_token("forged").await,
        "unknown bearer token",
    );
    unauthenticated(
        EchoClient::new(anonymous).len("x".into()).await,
        "Echo.len requires credentials",
    );
    server.shutdown().await;
}

/// Seconds since the epoch, `by` seconds from now.
fn at(by: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    now + by
}

/// A JWT signed with `key` under `kid`.
fn jwt(
    alg: jsonwebtoken::Algorithm,
    kid: &str,
    key: &EncodingKey,
    claims: serde_json::Value,
) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

fn claims(sub: &str, exp_in: i64) -> serde_json::Value {
    serde_json::json!({
        "sub": sub, "exp": at(exp_in), "iss": "erpc-tests", "aud": "bank", "roles": ["teller"]
    })
}

#[tokio::test]
async fn jwts_are_checked_for_signature_expiry_nbf_audience_and_issuer_and_keys_rotate_live() {
    use jsonwebtoken::Algorithm::{ES256, HS256};
    // HS256 with a shared secret under kid "h1"; ES256 with a P-256 pair made here, "e1".
    let secret = b"a shared secret of at least 32 bytes, for HS256".to_vec();
    let hs = EncodingKey::from_secret(&secret);
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let es = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
    let keys = JwtKeys::new();
    keys.insert("h1", JwtKey::hs256(&secret).unwrap());
    keys.insert(
        "e1",
        JwtKey::es256_pem(pair.public_key_pem().as_bytes()).unwrap(),
    );
    let verifier = Jwt::new(keys.clone())
        .issuer("erpc-tests")
        .audience("bank")
        .leeway(Duration::from_secs(0));
    let (server, reached, addr, _place) =
        serve("tcp", None, |b| b.admission(Authenticate::new(verifier))).await;
    let client = who(&plain(&addr, None));

    for (alg, kid, key) in [(HS256, "h1", &hs), (ES256, "e1", &es)] {
        let good = jwt(alg, kid, key, claims("alice", 600));
        let seen = client.whoami().bearer_token(&good).await.unwrap();
        assert_eq!(seen.subject.as_deref(), Some("alice"), "{alg:?}");
        assert_eq!(seen.roles, ["teller"], "{alg:?}");

        let expired = jwt(alg, kid, key, claims("alice", -60));
        unauthenticated(client.whoami().bearer_token(&expired).await, "JWT expired");
        let mut early = claims("alice", 600);
        early["nbf"] = at(300).into();
        let early = jwt(alg, kid, key, early);
        unauthenticated(client.whoami().bearer_token(&early).await, "not valid yet");
        let mut elsewhere = claims("alice", 600);
        elsewhere["aud"] = "shop".into();
        let elsewhere = jwt(alg, kid, key, elsewhere);
        unauthenticated(client.whoami().bearer_token(&elsewhere).await, "audience");
        let mut forged = claims("alice", 600);
        forged["iss"] = "someone-else".into();
        let forged = jwt(alg, kid, key, forged);
        unauthenticated(client.whoami().bearer_token(&forged).await, "issuer");
    }
    // Signed with another secret under a known kid.
    let other = EncodingKey::from_secret(b"not the shared secret, though just as long!!");
    let bad = jwt(HS256, "h1", &other, claims("mallory", 600));
    unauthenticated(client.whoami().bearer_token(&bad).await, "signature");
    // An HS256 token under the ES256 key's id: the token cannot choose the algorithm.
    let confused = jwt(HS256, "e1", &hs, claims("mallory", 600));
    unauthenticated(client.whoami().bearer_token(&confused).await, "ES256");
    unauthenticated(
        client.whoami().bearer_token("not.a.jwt").await,
        "malformed JWT",
    );

    // Rotation without a restart: h2 added, h1 removed.
    let h1_token = jwt(HS256, "h1", &hs, claims("alice", 600));
    let next_secret = b"the next shared secret, rotated in while serving".to_vec();
    let h2 = EncodingKey::from_secret(&next_secret);
    let h2_token = jwt(HS256, "h2", &h2, claims("bob", 600));
    unauthenticated(
        client.whoami().bearer_token(&h2_token).await,
        "JWT key id \"h2\" is not known",
    );
    keys.insert("h2", JwtKey::hs256(&next_secret).unwrap());
    assert_eq!(
        client
            .whoami()
            .bearer_token(&h2_token)
            .await
            .unwrap()
            .subject
            .as_deref(),
        Some("bob")
    );
    assert!(keys.remove("h1"));
    unauthenticated(
        client.whoami().bearer_token(&h1_token).await,
        "JWT key id \"h1\" is not known",
    );

    // Echo's refusals too; the three accepted tokens' calls alone reached a handler.
    let expired = jwt(HS256, "h2", &h2, claims("alice", -60));
    unauthenticated(
        EchoClient::new(plain(&addr, None))
            .len("x".into())
            .bearer_token(&expired)
            .await,
        "JWT expired",
    );
    assert_eq!(reached.count(), 3);
    server.shutdown().await;
}

/// A token source that hands out `{prefix}1`, `{prefix}2`, … each valid for `valid_for`, counting fetches.
#[derive(Clone)]
struct Issuer {
    prefix: &'static str,
    fetched: Arc<AtomicU64>,
    valid_for: Duration,
}

#[async_trait::async_trait]
impl erpc::auth::TokenSource for Issuer {
    async fn token(&self) -> Result<Token, Status> {
        let n = self.fetched.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Token::new(
            format!("{}{n}", self.prefix),
            Some(SystemTime::now() + self.valid_for),
        ))
    }
}

#[tokio::test]
async fn client_credentials_are_fetched_once_refreshed_near_expiry_and_after_a_refusal() {
    // The server accepts whatever tokens are in `valid`, as the principal named by the token.
    let valid: Arc<Mutex<HashSet<String>>> = Arc::default();
    let accepts = valid.clone();
    let check = move |token: &str, _call: &CallHead<'_>| {
        if accepts.lock().unwrap().contains(token) {
            Ok(Principal::new(token))
        } else {
            Err(Status::unauthenticated("token revoked"))
        }
    };
    let (server, _probe, addr, _place) =
        serve("tcp", None, |b| b.admission(Authenticate::new(check))).await;
    valid
        .lock()
        .unwrap()
        .extend(["t1", "t2", "x1", "x2"].map(String::from));

    // Valid for an hour: fetched once for many calls.
    let issuer = Issuer {
        prefix: "t",
        fetched: Arc::default(),
        valid_for: Duration::from_secs(3600),
    };
    let client = who(&plain(&addr, Some(Credentials::new(issuer.clone()))));
    for _ in 0..5 {
        let seen = client.whoami().await.unwrap();
        assert_eq!(seen.subject.as_deref(), Some("t1"));
    }
    assert_eq!(issuer.fetched.load(Ordering::SeqCst), 1);

    // Revoked on the server: the refusal makes the client fetch t2 and send the call again.
    valid.lock().unwrap().remove("t1");
    let seen = client.whoami().await.unwrap();
    assert_eq!(seen.subject.as_deref(), Some("t2"));
    assert_eq!(issuer.fetched.load(Ordering::SeqCst), 2);
    // A per-call credential is sent as it is, without the source.
    let refused = client.whoami().bearer_token("t1").await;
    unauthenticated(refused, "token revoked");
    assert_eq!(issuer.fetched.load(Ordering::SeqCst), 2);

    // Within refresh_before of its expiry, a token is replaced before it is sent.
    let expiring = Issuer {
        prefix: "x",
        fetched: Arc::default(),
        valid_for: Duration::from_secs(10),
    };
    let client = who(&plain(
        &addr,
        Some(Credentials::new(expiring.clone()).refresh_before(Duration::from_secs(30))),
    ));
    assert_eq!(
        client.whoami().await.unwrap().subject.as_deref(),
        Some("x1")
    );
    assert_eq!(
        client.whoami().await.unwrap().subject.as_deref(),
        Some("x2")
    );
    assert_eq!(expiring.fetched.load(Ordering::SeqCst), 2);

    // A source that fails fails the call with its status.
    let broken = Credentials::new(|| async { Err(Status::unavailable("login service down")) });
    let err = who(&plain(&addr, Some(broken))).whoami().await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(err.message(), "token source: login service down");
    server.shutdown().await;
}

fn denied(result: Result<impl std::fmt::Debug, Status>, why: &str) {
    let err = result.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err}");
    assert!(err.message().contains(why), "wanted {why:?}: {err}");
}

#[tokio::test]
async fn an_acl_allows_and_denies_by_role_subject_and_peer_address_and_denies_by_default() {
    let loopback = "127.0.0.0/8".parse().unwrap();
    let elsewhere = "10.0.0.0/8".parse().unwrap();
    let acl = Acl::default_deny(
        PerMethod::new(vec![])
            .method(
                "Whoami",
                "whoami",
                vec![Rule::allow("signed-in users").authenticated()],
            )
            .method(
                "Echo",
                "len",
                vec![
                    Rule::deny("readers may not").subject("reader"),
                    Rule::allow("admins on loopback")
                        .role("admin")
                        .peer(loopback),
                ],
            )
            .method(
                "Echo",
                "echo",
                vec![
                    Rule::allow("admins from 10/8")
                        .role("admin")
                        .peer(elsewhere),
                ],
            ),
    );
    let (server, reached, addr, _place) = serve("tcp", None, |b| {
        b.admission(Authenticate::new(bearer_tokens()))
            .admission(acl)
    })
    .await;
    let ops = plain(&addr, Some(Credentials::bearer(OPS_TOKEN)));
    let reader = plain(&addr, Some(Credentials::bearer(READER_TOKEN)));

    assert_eq!(
        who(&reader).whoami().await.unwrap().subject.as_deref(),
        Some("reader")
    );
    assert_eq!(
        EchoClient::new(ops.clone())
            .len("abc".into())
            .await
            .unwrap(),
        3
    );
    denied(
        EchoClient::new(reader.clone()).len("abc".into()).await,
        "Echo.len denied by rule \"readers may not\"",
    );
    // The admin is not calling from 10/8; nothing else allows echo.
    denied(
        EchoClient::new(ops.clone()).echo(Msg::new(1, 1)).await,
        "no rule allows Echo.echo (default deny)",
    );
    denied(
        EchoClient::new(ops).raw_len(Raw(vec![1].into())).await,
        "no rule allows Echo.raw_len (default deny)",
    );
    // Only the two admitted calls reached a handler.
    assert_eq!(reached.count(), 2);
    server.shutdown().await;
}

/// A client of `addr` over TLS with `tls`, and `credentials` if any.
fn tls_client(
    addr: &str,
    tls: erpc::transport::ClientTls,
    credentials: Option<Credentials>,
) -> erpc::Client {
    let builder = erpc::Client::builder().config(ClientConfig {
        transport: TransportOptions::default().client_tls(tls),
        ..ClientConfig::default()
    });
    let builder = match credentials {
        Some(credentials) => builder.middleware(credentials),
        None => builder,
    };
    builder.build(addr).unwrap()
}

#[tokio::test]
async fn the_mtls_identity_reaches_handlers_and_acls() {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    for transport in ["tls", "wss", "quic"] {
        let tls = server_ca.mutual_server(&client_ca);
        let acl = Acl::default_deny(
            PerMethod::new(vec![
                Rule::allow("the billing service").cert_name("billing.internal"),
            ])
            .service("Whoami", vec![Rule::allow("any client certificate")]),
        );
        let (server, _probe, addr, _place) =
            serve(transport, Some(tls), |b| b.admission(acl)).await;
        let holder = |names: &[&str]| {
            tls_client(&addr, server_ca.client_as(&client_ca, names, -1, 30), None)
        };
        let billing = holder(&["billing.internal", "spiffe://example.org/billing"]);
        let seen = who(&billing).whoami().await.unwrap();
        assert_eq!(
            seen.cert_subject.as_deref(),
            Some("CN=billing.internal"),
            "{transport}"
        );
        assert_eq!(
            seen.cert_sans,
            ["billing.internal", "spiffe://example.org/billing"],
            "{transport}"
        );
        assert_eq!(EchoClient::new(billing).len("ab".into()).await.unwrap(), 2);
        let other = holder(&["reports.internal"]);
        assert_eq!(
            who(&other).whoami().await.unwrap().cert_subject.as_deref(),
            Some("CN=reports.internal")
        );
        denied(
            EchoClient::new(other).len("ab".into()).await,
            "no rule allows Echo.len (default deny)",
        );
        server.shutdown().await;
    }
}

/// 16 MiB of zeros: a few KiB compressed, over the server's 4 MiB decompressed limit, so a
/// server that decompressed it would answer `resource_exhausted`.
fn bomb() -> Raw {
    Raw(vec![0u8; 16 << 20].into())
}

/// A call of `Echo.len` (which takes a string) whose MessagePack body no decoder accepts
/// (0xc1 is never used): a server that decoded it would answer `invalid_argument`.
fn undecodable(token: Option<&str>) -> erpc::ClientRequest {
    let mut call = erpc::ClientRequest::new("Echo", "len", vec![0xc1, 0xc1, 0xc1]);
    if let Some(token) = token {
        call.metadata
            .set("authorization", format!("Bearer {token}"));
    }
    call
}

/// RELIABILITY 23: a client certificate that is missing, from the wrong CA or expired fails
/// the handshake; a bad or expired token is `unauthenticated` and a denied method
/// `permission_denied` before the body is decompressed or decoded — the bomb and the
/// undecodable body get those answers, not the `resource_exhausted` / `invalid_argument` a
/// look at them would give (shown by the admitted control calls), and no handler runs.
#[tokio::test]
async fn reliability_23_refusals_come_before_the_body_is_decompressed_or_decoded() {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let stranger_ca = Ca::new("stranger CA");
    let secret = b"reliability 23: the HS256 secret of the test server".to_vec();
    let keys = JwtKeys::new();
    keys.insert_default(JwtKey::hs256(&secret).unwrap());
    let signer = EncodingKey::from_secret(&secret);
    let token = |sub: &str, roles: &[&str], exp_in: i64| {
        let claims = serde_json::json!({ "sub": sub, "roles": roles, "exp": at(exp_in) });
        jsonwebtoken::encode(&Header::default(), &claims, &signer).unwrap()
    };
    for transport in ["tls", "quic"] {
        let tls = server_ca.mutual_server(&client_ca);
        let acl = Acl::default_deny(PerMethod::new(vec![
            Rule::allow("uploaders").role("uploader"),
        ]));
        let (server, reached, addr, _place) = serve(transport, Some(tls), |b| {
            b.admission(Authenticate::new(Jwt::new(keys.clone())))
                .admission(acl)
        })
        .await;
        let member = || server_ca.client_as(&client_ca, &["client-1"], -1, 30);

        // The handshake: no certificate, a stranger's, an expired one.
        for (what, tls) in [
            ("no certificate", server_ca.client()),
            (
                "wrong CA",
                server_ca.client_as(&stranger_ca, &["intruder"], -1, 30),
            ),
            (
                "expired",
                server_ca.client_as(&client_ca, &["client-1"], -30, -1),
            ),
        ] {
            let client = EchoClient::new(tls_client(&addr, tls, None));
            let err = client.len("x".into()).await.unwrap_err();
            assert_eq!(err.code(), Code::Unavailable, "{transport} {what}: {err}");
        }

        let echo = EchoClient::new(tls_client(&addr, member(), None));
        let len = |token: Option<&str>| echo.client().invoke(undecodable(token));
        let expired = token("up", &["uploader"], -60);
        let viewer = token("viewer", &["viewer"], 600);
        let uploader = token("up", &["uploader"], 600);
        for compression in [CompressionId::GZIP, CompressionId::ZSTD] {
            let bombed = |t: &str| {
                echo.raw_len(bomb())
                    .compression(compression)
                    .timeout(Duration::from_secs(20))
                    .bearer_token(t.to_owned())
            };
            unauthenticated(bombed("garbage").await, "malformed JWT");
            unauthenticated(bombed(&expired).await, "JWT expired");
            denied(bombed(&viewer).await, "no rule allows Echo.raw_len");
            // Control: admitted, the server does open the bomb, and stops at its limit.
            let opened = bombed(&uploader).await.unwrap_err();
            assert_eq!(
                opened.code(),
                Code::ResourceExhausted,
                "{transport}: {opened}"
            );
        }
        unauthenticated(len(None).await, "requires credentials");
        unauthenticated(len(Some(&expired)).await, "JWT expired");
        denied(len(Some(&viewer)).await, "no rule allows Echo.len");
        // Control: admitted, the body is decoded and found wanting.
        let decoded = len(Some(&uploader)).await.unwrap_err();
        assert_eq!(
            decoded.code(),
            Code::InvalidArgument,
            "{transport}: {decoded}"
        );
        // The figure in RELIABILITY.md (printed with --nocapture): what a refusal costs the
        // caller next to an admitted call that is decoded.
        let timed = |token: String, want: Code| {
            let len = &len;
            async move {
                let start = std::time::Instant::now();
                for _ in 0..200 {
                    assert_eq!(len(Some(&token)).await.unwrap_err().code(), want);
                }
                start.elapsed() / 200
            }
        };
        let refused = timed(expired.clone(), Code::Unauthenticated).await;
        let admitted = timed(uploader.clone(), Code::InvalidArgument).await;
        eprintln!(
            "RELIABILITY 23, {transport}: refused (expired JWT) {refused:?} per call, admitted and decoded {admitted:?} per call"
        );
        // Only the undecodable controls (one, then 200 timed) reached the handlers' layers
        // (decoding happens in the handler); the admitted bombs were stopped at
        // decompression, before them.
        assert_eq!(reached.count(), 1 + 200, "{transport}");
        server.shutdown().await;
    }
}

/// A per-method setting naming nothing the server serves is refused when it starts, naming
/// what is served — not silently never applied. `"erpc.Health"` meant as the health service
/// (a key with a dot is `service.method`: service `erpc`, method `Health`) is told to write
/// `"erpc.Health.*"`; a misspelt method lists the service's methods.
#[tokio::test]
async fn a_per_method_name_that_matches_nothing_is_refused_when_the_server_starts() {
    async fn start(hook: impl erpc::server::Admission) -> Result<erpc::ServerHandle, String> {
        let builder = erpc::Server::builder()
            .add_service(EchoServer::new(EchoImpl::default()))
            .admission(hook);
        builder.serve(["tcp://127.0.0.1:0"]).await.map_err(|e| {
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
            e.to_string()
        })
    }
    let dotted = PerMethod::new(true).method("erpc", "Health", false);
    let why = start(Authenticate::new(bearer_tokens()).required(dotted))
        .await
        .unwrap_err();
    assert!(
        why.contains("Authenticate::required: \"erpc.Health\"")
            && why.contains("write \"erpc.Health.*\""),
        "{why}"
    );
    let misspelt = PerMethod::new(vec![]).method("Echo", "lenn", vec![Rule::allow("all")]);
    let why = start(Acl::default_allow(misspelt)).await.unwrap_err();
    assert!(
        why.contains(
            "Acl: \"Echo.lenn\" names method \"lenn\", which service \"Echo\" does not have"
        ) && why.contains("\"len\""),
        "{why}"
    );
    let caps = PerMethod::new(None).service("Ecko", Some(4));
    let hook = erpc::server::MethodConcurrencyLimit::new(caps).unwrap();
    let why = start(hook).await.unwrap_err();
    assert!(
        why.contains("names service \"Ecko\", which this server does not serve (it serves \"Echo\", \"erpc.Health\", \"erpc.Reflection\")"),
        "{why}"
    );
    // What is served passes: the health service by its name, a method of Echo.
    let served = PerMethod::new(true)
        .service("erpc.Health", false)
        .method("Echo", "len", false);
    let server = start(Authenticate::new(bearer_tokens()).required(served))
        .await
        .unwrap();
    server.shutdown().await;
}
