//! The operator's dashboard through the in-process router (no browser: `dashboard_browser.rs`
//! drives Chromium): logins, sessions, CSRF, roles, escaping, the sales filter and its CSV.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::operators::{add_operator, Role};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::sample::{self, SampleSale};
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_proto::ledger::EntryState;
use lnedge_proto::DeviceId;

use crate::support::now_secs;

pub(crate) const ADMIN: (&str, &str) = ("alice", "correct horse battery staple");
pub(crate) const VIEWER: (&str, &str) = ("victor", "viewer password 2026");

/// A gateway on a sandbox owner node with an admin and a viewer.
pub(crate) struct Dash {
    pub(crate) _net: SandboxNetwork,
    pub(crate) store: Arc<dyn GatewayStore>,
    pub(crate) state: AppState,
    pub(crate) router: Router,
}

impl Dash {
    pub(crate) async fn new() -> Dash {
        let net = SandboxNetwork::new().await.expect("sandbox network");
        let owner = net.add_node("owner").await.expect("owner node");
        let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::in_memory().expect("sqlite"));
        let state =
            AppState::new(store.clone(), owner, Arc::new(PoolKey::generate()), [5; 32], "t");
        for ((name, password), role) in [(ADMIN, Role::Admin), (VIEWER, Role::Viewer)] {
            add_operator(store.as_ref(), now_secs(), name, role, Some(password), "test")
                .await
                .expect("operator");
        }
        let router = app(state.clone());
        Dash { _net: net, store, state, router }
    }
}

/// An answer: status, headers, body as text.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) location: String,
    pub(crate) set_cookie: String,
    pub(crate) body: String,
}

pub(crate) async fn send(router: &Router, request: Request<Body>) -> Answer {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = router.clone().oneshot(request).await.expect("answer");
    let h = |name| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    let (status, location, set_cookie) =
        (response.status(), h(header::LOCATION), h(header::SET_COOKIE));
    let body = response.into_body().collect().await.expect("body").to_bytes();
    Answer { status, location, set_cookie, body: String::from_utf8_lossy(&body).into_owned() }
}

pub(crate) async fn get(router: &Router, uri: &str, cookie: Option<&str>) -> Answer {
    let mut r = Request::builder().uri(uri);
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    send(router, r.body(Body::empty()).expect("request")).await
}

pub(crate) async fn post(
    router: &Router,
    uri: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> Answer {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let mut r = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        r = r.header(header::COOKIE, c);
    }
    send(router, r.body(Body::from(body)).expect("request")).await
}

/// Logs in; answers the cookie pair (`lnedge_session=…`) and the page's CSRF token.
pub(crate) async fn login(router: &Router, (name, password): (&str, &str)) -> (String, String) {
    let a = post(router, "/ui/login", None, &[("name", name), ("password", password)]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let cookie = a.set_cookie.split(';').next().expect("cookie").to_owned();
    let page = get(router, "/ui/devices", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    (cookie, csrf_of(&page.body))
}

pub(crate) fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + 64].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_login_opens_a_session_that_logout_ends() {
    let d = Dash::new().await;
    let r = &d.router;
    let first = get(r, "/ui/", None).await;
    assert_eq!((first.status, first.location.as_str()), (StatusCode::SEE_OTHER, "/ui/login"));
    assert_eq!(get(r, "/", None).await.location, "/ui/");

    let wrong =
        post(r, "/ui/login", None, &[("name", ADMIN.0), ("password", "not it at all")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("the name or the password is wrong"), "{}", wrong.body);
    assert!(wrong.set_cookie.is_empty());
    let nobody = post(r, "/ui/login", None, &[("name", "mallory"), ("password", ADMIN.1)]).await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED, "same answer for no such name");

    let ok = post(r, "/ui/login", None, &[("name", ADMIN.0), ("password", ADMIN.1)]).await;
    assert_eq!((ok.status, ok.location.as_str()), (StatusCode::SEE_OTHER, "/ui/"));
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(ok.set_cookie.contains(attr), "{attr}: {}", ok.set_cookie);
    }
    assert!(!ok.set_cookie.contains("Secure"), "plain http here: {}", ok.set_cookie);
    let cookie = ok.set_cookie.split(';').next().expect("cookie").to_owned();
    let overview = get(r, "/ui/", Some(&cookie)).await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains("alice (admin)") && overview.body.contains("Needs attention"));
    // The owner node's liquidity (a sandbox node without channels here).
    assert!(overview.body.contains("id=\"channels\">0 usable of 0<"), "{}", overview.body);
    assert!(overview.body.contains("id=\"inbound\">0 sat<"), "{}", overview.body);
    let stored = d.store.operators().await.expect("operators");
    assert!(stored.iter().all(|o| !o
        .password_hash
        .as_deref()
        .unwrap_or_default()
        .contains(ADMIN.1)));

    let csrf = csrf_of(&overview.body);
    let out = post(r, "/ui/logout", Some(&cookie), &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location.as_str()), (StatusCode::SEE_OTHER, "/ui/login"));
    assert!(out.set_cookie.contains("Max-Age=0"), "{}", out.set_cookie);
    assert_eq!(get(r, "/ui/", Some(&cookie)).await.location, "/ui/login", "the session ended");
    let audit = d.state.gateway.operators().audit_log(None, 10).await.expect("audit");
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(&actions[..2], ["logout", "login"], "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_this_sessions_csrf_token_and_viewers_change_nothing() {
    let d = Dash::new().await;
    let r = &d.router;
    let (admin, admin_csrf) = login(r, ADMIN).await;
    let (viewer, viewer_csrf) = login(r, VIEWER).await;
    let id = hex::encode([0xd1u8; 16]);
    let enrol = |csrf: String| {
        vec![
            ("csrf", csrf),
            ("device_id", id.clone()),
            ("name", "Lobby <b>machine</b>".to_owned()),
            ("products", "1, Cola, 2500\n2, Water, 1.50 EUR".to_owned()),
        ]
    };
    let without_csrf: Vec<(&str, String)> = enrol(String::new()).into_iter().skip(1).collect();
    let send_form = |cookie: String, fields: Vec<(&'static str, String)>| async move {
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(r, "/ui/devices", Some(&cookie), &refs).await
    };

    // No token, a forged one, another session's: refused, nothing enrolled.
    let none = send_form(admin.clone(), without_csrf).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    assert!(none.body.contains("CSRF"), "{}", none.body);
    let forged = send_form(admin.clone(), enrol("00".repeat(32))).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let others = send_form(admin.clone(), enrol(viewer_csrf.clone())).await;
    assert_eq!(others.status, StatusCode::FORBIDDEN);
    // A viewer sees no enrolment form, and a crafted POST with their own token is refused.
    let page = get(r, "/ui/devices", Some(&viewer)).await;
    assert!(!page.body.contains("id=\"enrol\"") && page.body.contains("victor (viewer)"));
    let crafted = send_form(viewer.clone(), enrol(viewer_csrf.clone())).await;
    assert_eq!(crafted.status, StatusCode::FORBIDDEN);
    assert!(crafted.body.contains("is a viewer"), "{}", crafted.body);
    assert_eq!(get(r, "/ui/audit", Some(&viewer)).await.status, StatusCode::FORBIDDEN);
    assert!(d.store.devices().await.expect("devices").is_empty(), "nothing was enrolled");

    // The admin with the token enrols; what the device is called is shown escaped.
    let done = send_form(admin.clone(), enrol(admin_csrf.clone())).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location, format!("/ui/devices/{id}"));
    let device = get(r, &done.location, Some(&admin)).await;
    assert!(
        device.body.contains("Lobby &lt;b&gt;machine&lt;&#x2f;b&gt;")
            || device.body.contains("Lobby &lt;b&gt;machine&lt;/b&gt;"),
        "{}",
        device.body
    );
    assert!(!device.body.contains("<b>machine"));
    assert!(device.body.contains("1.50 EUR") && device.body.contains("2,500 sat"));
    let disable =
        post(r, &format!("/ui/devices/{id}/disable"), Some(&viewer), &[("csrf", &viewer_csrf)])
            .await;
    assert_eq!(disable.status, StatusCode::FORBIDDEN, "a viewer cannot disable");
    let disable =
        post(r, &format!("/ui/devices/{id}/disable"), Some(&admin), &[("csrf", &admin_csrf)]).await;
    assert_eq!(disable.status, StatusCode::SEE_OTHER);
    assert!(!d.store.devices().await.expect("devices")[0].enabled);

    let audit = get(r, "/ui/audit", Some(&admin)).await;
    assert!(audit.body.contains("device.disable") && audit.body.contains("device.enrol"));
    let entries = d.state.gateway.operators().audit_log(None, 20).await.expect("audit");
    let enrol_entry = entries.iter().find(|e| e.action == "device.enrol").expect("enrol audited");
    assert_eq!((enrol_entry.actor.as_str(), enrol_entry.target.as_str()), ("alice", id.as_str()));
    assert!(
        entries.iter().all(|e| e.actor != "victor" || e.action == "login"),
        "the viewer changed nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_name() {
    let d = Dash::new().await;
    // The engine's clock stands still, so the budget does not refill while the failures are
    // hashed, however slow this machine is right now; then a minute passes.
    let clock = std::sync::Arc::new(lnedge_gateway::clock::ManualClock::at(now_secs()));
    let router = app(d.state.reconfigured(|g| g.clock(clock.clone())));
    let r = &router;
    for _ in 0..lnedge_gateway::operators::LOGIN_FAILURES_PER_MINUTE {
        let a =
            post(r, "/ui/login", None, &[("name", VIEWER.0), ("password", "guess guess guess")])
                .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let right = post(r, "/ui/login", None, &[("name", VIEWER.0), ("password", VIEWER.1)]).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    assert!(right.body.contains("too many requests"), "{}", right.body);
    clock.advance(60);
    let later = post(r, "/ui/login", None, &[("name", VIEWER.0), ("password", VIEWER.1)]).await;
    assert_eq!(later.status, StatusCode::SEE_OTHER, "a minute later the budget is back");
}

/// Sales of two devices over three days: 4 delivered colas on device A yesterday, 2 waters
/// on device B today, 1 refund due on B today, 1 claimed-not-paid on A.
pub(crate) async fn seed_sales(store: &dyn GatewayStore, now: u64) -> (DeviceId, DeviceId) {
    let (a, b) = (DeviceId([0xaa; 16]), DeviceId([0xbb; 16]));
    sample::enrol(store, a, "Machine A", now - 5 * 86_400).await.expect("a");
    sample::enrol(store, b, "Machine B", now - 5 * 86_400).await.expect("b");
    let today = now - now % 86_400;
    let sale =
        |product, amount_msat, paid_at, state| SampleSale { product, amount_msat, paid_at, state };
    let mut on_a = vec![sale(1, 2_500_000, Some(today - 3_600), EntryState::Dispensed); 4];
    on_a.push(sale(1, 2_500_000, None, EntryState::Dispensed));
    sample::sell(store, a, now - 86_400, &on_a).await.expect("sell a");
    let on_b = [
        sale(2, 1_000_000, Some(today + 60), EntryState::Dispensed),
        sale(2, 1_000_000, Some(today + 120), EntryState::Dispensed),
        sale(1, 2_500_000, Some(today + 180), EntryState::Failed),
    ];
    sample::sell(store, b, now - 86_400, &on_b).await.expect("sell b");
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sales_filter_and_its_csv_say_the_same_rows() {
    let d = Dash::new().await;
    let r = &d.router;
    let now = now_secs();
    let (a, b) = seed_sales(d.store.as_ref(), now).await;
    let (viewer, _) = login(r, VIEWER).await;
    let all = get(r, "/ui/sales", Some(&viewer)).await;
    assert!(all.body.contains("8 rows"), "{}", all.body);
    let overview = get(r, "/ui/", Some(&viewer)).await;
    assert!(overview.body.contains("1 claimed but not paid"), "{}", overview.body);
    assert!(overview.body.contains("id=\"refunds-due\">1<"), "{}", overview.body);

    let filtered = get(r, &format!("/ui/sales?device={b}&status=delivered"), Some(&viewer)).await;
    assert!(
        filtered.body.contains("2 rows") && filtered.body.contains("2,000 sat"),
        "{}",
        filtered.body
    );
    let csv_link = format!("/ui/sales.csv?device={b}&amp;status=delivered");
    assert!(filtered.body.contains(&csv_link), "{}", filtered.body);
    let csv = get(r, &format!("/ui/sales.csv?device={b}&status=delivered"), Some(&viewer)).await;
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 3, "{}", csv.body);
    assert!(lines[1..].iter().all(|l| l.contains(&b.to_string()) && l.contains("delivered")));
    assert!(!csv.body.contains(&a.to_string()));

    let today = {
        let t = time::OffsetDateTime::from_unix_timestamp(now as i64).expect("now");
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    };
    let by_day = get(r, &format!("/ui/sales.csv?from={today}&to={today}"), Some(&viewer)).await;
    assert_eq!(by_day.body.lines().count(), 4, "the three paid today: {}", by_day.body);

    for (query, named) in
        [("device=xyz", "device"), ("status=lost", "status"), ("from=2026-02-30", "from")]
    {
        let bad = get(r, &format!("/ui/sales?{query}"), Some(&viewer)).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(bad.body.contains(named), "{query}: {}", bad.body);
    }
}

/// The LUD-05 linking key (secret, public hex) a wallet with `seed` uses for the domain of the
/// login LNURL `lnurl_text`, derived with lnurl-rs.
pub(crate) fn linking_key(
    lnurl_text: &str,
    seed: [u8; 32],
) -> (lnedge_node::bitcoin::secp256k1::SecretKey, String) {
    use std::str::FromStr;

    use lnedge_node::bitcoin::bip32::{DerivationPath, Xpriv};
    use lnedge_node::bitcoin::secp256k1::Secp256k1;
    use lnedge_node::bitcoin::NetworkKind;

    let lnurl = lnurl::lnurl::LnUrl::decode(lnurl_text.to_owned()).expect("LUD-01");
    let url = url::Url::parse(&lnurl.url).expect("url");
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(NetworkKind::Test, &seed).expect("seed");
    let hashing = master
        .derive_priv(&secp, &DerivationPath::from_str("m/138'/0").expect("path"))
        .expect("hashing key");
    let path =
        lnurl::get_derivation_path(hashing.private_key.secret_bytes(), &url).expect("LUD-05");
    let secret = master.derive_priv(&secp, &path).expect("linking key").private_key;
    (secret, secret.public_key(&secp).to_string())
}

/// A wallet we did not write (lnurl-rs) answering a login LNURL: it signs `k1` with its LUD-05
/// linking key for the LNURL's domain ([`linking_key`]) and calls back. Answers the linking key
/// (hex) and the wallet's view of the answer.
pub(crate) async fn wallet_login(
    lnurl_text: &str,
    seed: [u8; 32],
) -> (String, lnurl::Response<()>) {
    use lnedge_node::bitcoin::secp256k1::{Message, Secp256k1};

    let lnurl = lnurl::lnurl::LnUrl::decode(lnurl_text.to_owned()).expect("LUD-01");
    assert!(lnurl.is_lnurl_auth(), "{lnurl_text}");
    let url = url::Url::parse(&lnurl.url).expect("url");
    let k1 = url.query_pairs().find(|(k, _)| k == "k1").expect("k1").1.to_string();
    let (secret, key_hex) = linking_key(lnurl_text, seed);
    let secp = Secp256k1::new();
    let key = secret.public_key(&secp);
    let k1: [u8; 32] = hex::decode(&k1).expect("hex").try_into().expect("32 bytes");
    let sig = secp.sign_ecdsa(&Message::from_digest(k1), &secret);
    let client = lnurl::AsyncClient::from_client(reqwest::Client::new());
    let reply = client.lnurl_auth(lnurl, sig, key).await.expect("callback");
    (key_hex, reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_wallet_logs_in_with_lnurl_auth() {
    let d = Dash::new().await;
    let state = d.state.clone();
    let (base, server) =
        crate::support::serve_with_url(|url| app(state.reconfigured(|g| g.public_url(url)))).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let cookie_of = |r: &reqwest::Response, name: &str| -> Option<String> {
        r.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap_or_default().to_owned())
    };
    // Starts a wallet login; answers the auth cookie, the waiting page's path and its LNURL.
    let start = || async {
        let r = http.post(format!("{base}/ui/login/lnurl")).send().await.expect("start");
        assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
        let auth = cookie_of(&r, "lnedge_auth").expect("the challenge's cookie");
        assert!(!format!("{:?}", r.headers()).contains("lnedge_session"));
        let page = r.headers()["location"].to_str().expect("location").to_owned();
        let html =
            http.get(format!("{base}{page}")).header("cookie", &auth).send().await.expect("page");
        assert_eq!(html.status(), reqwest::StatusCode::OK, "waiting for the wallet");
        let html = html.text().await.expect("html");
        assert!(
            html.contains("<svg") && html.contains("http-equiv=\"refresh\""),
            "a QR, reloading"
        );
        let at = html.find("id=\"lnurl\">").expect("the LNURL") + 11;
        let lnurl = html[at..].split('<').next().expect("text").to_owned();
        (auth, page, lnurl)
    };

    // A wallet no operator is linked to: refused, naming its key.
    let (auth, page, lnurl) = start().await;
    let (stranger, reply) = wallet_login(&lnurl, [3; 32]).await;
    assert!(matches!(reply, lnurl::Response::Ok(())), "{reply:?}");
    let r = http.get(format!("{base}{page}")).header("cookie", &auth).send().await.expect("page");
    assert_eq!(r.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert!(r.text().await.expect("html").contains(&stranger));

    // Alice links her wallet from her account page (logged in with her password): the page
    // shows a challenge, the wallet signs it, and its key becomes hers.
    let seed = [7u8; 32];
    let (password_session, csrf) = login(&d.router, ADMIN).await;
    let r = http
        .post(format!("{base}/ui/account/link"))
        .header("cookie", &password_session)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("link");
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let link_cookie = cookie_of(&r, "lnedge_link").expect("the link challenge's cookie");
    let link_page = r.headers()["location"].to_str().expect("location").to_owned();
    let both = format!("{password_session}; {link_cookie}");
    let html =
        http.get(format!("{base}{link_page}")).header("cookie", &both).send().await.expect("page");
    let html = html.text().await.expect("html");
    let at = html.find("id=\"lnurl\">").expect("the LNURL") + 11;
    let link_lnurl = html[at..].split('<').next().expect("text").to_owned();
    let (expected_key, reply) = wallet_login(&link_lnurl, seed).await;
    assert!(matches!(reply, lnurl::Response::Ok(())), "{reply:?}");
    let r =
        http.get(format!("{base}{link_page}")).header("cookie", &both).send().await.expect("page");
    assert_eq!(r.headers()["location"], "/ui/account");
    let account =
        http.get(format!("{base}/ui/account")).header("cookie", &password_session).send().await;
    assert!(account.expect("account").text().await.expect("html").contains(&expected_key));
    // The key is per domain (LUD-05): the same wallet signs the login challenge with it.
    assert_eq!(linking_key(&link_lnurl, seed).1, expected_key);

    // Alice's wallet, now linked, logs her in.
    let (auth, page, lnurl) = start().await;
    let r = http.get(format!("{base}{page}")).header("cookie", &auth).send().await.expect("page");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "not signed yet: still waiting");
    let (signed_with, reply) = wallet_login(&lnurl, seed).await;
    assert!(matches!(reply, lnurl::Response::Ok(())), "{reply:?}");
    assert_eq!(signed_with, expected_key);
    let r = http.get(format!("{base}{page}")).header("cookie", &auth).send().await.expect("page");
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let session = cookie_of(&r, "lnedge_session").expect("a dashboard session");
    assert_eq!(
        cookie_of(&r, "lnedge_auth").as_deref(),
        Some("lnedge_auth="),
        "the challenge cookie goes"
    );
    let overview =
        http.get(format!("{base}/ui/")).header("cookie", &session).send().await.expect("overview");
    assert!(overview.text().await.expect("html").contains("alice (admin)"));
    let audit = d.state.gateway.operators().audit_log(None, 5).await.expect("audit");
    assert_eq!((audit[0].action.as_str(), audit[0].detail.as_str()), ("login", "lnurl-auth"));
    // The waiting page of a challenge started elsewhere is refused.
    let r = http.get(format!("{base}{page}")).send().await.expect("page");
    assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_books_snapshot_is_shared_then_refreshed_in_the_background() {
    let d = Dash::new().await;
    let g = &d.state.gateway;
    let now = now_secs();
    seed_sales(d.store.as_ref(), now).await;
    let first = g.books().await.expect("books");
    assert_eq!(first.rows.len(), 8);
    let late = SampleSale {
        product: 1,
        amount_msat: 1_000,
        paid_at: Some(now),
        state: EntryState::Dispensed,
    };
    sample::sell(d.store.as_ref(), DeviceId([0xaa; 16]), now, &[late]).await.expect("a later sale");
    let again = g.books().await.expect("books");
    assert!(std::sync::Arc::ptr_eq(&first.rows, &again.rows), "a fresh snapshot is shared");
    // Once it is older than the limit, a read starts a refresh; a later read sees the sale.
    let deadline = std::time::Instant::now() + lnedge_gateway::books::BOOKS_MAX_AGE * 12;
    loop {
        let books = g.books().await.expect("books");
        if books.rows.len() == 9 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the snapshot was never refreshed");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_deputy_sales_relay_and_cards_are_listed() {
    use lnedge_gateway::store::refunds::{RefundRecord, RefundState};
    let d = Dash::new().await;
    let r = &d.router;
    let (viewer, _) = login(r, VIEWER).await;
    for (path, table) in [
        ("/ui/refunds", "refunds"),
        ("/ui/deputy", "deputy"),
        ("/ui/relay", "relay"),
        ("/ui/cards", "cards"),
    ] {
        let page = get(r, path, Some(&viewer)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains(&format!("<table id=\"{table}\">")), "{path}");
        assert!(page.body.contains("None.") && page.body.contains("0 in all"), "{path}: empty");
    }
    let now = now_secs();
    let (a, _) = seed_sales(d.store.as_ref(), now).await;
    let refund = RefundRecord {
        payment_hash: [0x42; 32],
        device_id: a,
        pool_id: lnedge_proto::PoolId([0x11; 8]),
        index: 3,
        amount_msat: 2_500_000,
        state: RefundState::Due,
        attested: true,
        created_at: now,
        expires_at: now + 86_400,
        k1: None,
        claim_invoice: None,
        claimed_at: None,
        paid_at: None,
        last_error: None,
    };
    d.store.open_refund(&refund).await.expect("a refund");
    let page = get(r, "/ui/refunds", Some(&viewer)).await;
    assert!(page.body.contains("1 in all") && page.body.contains("2,500 sat"), "{}", page.body);
    assert!(page.body.contains(&format!("/ui/devices/{a}")) && page.body.contains(">due<"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_issues_a_card_with_its_programming_qr_and_disables_it() {
    let d = Dash::new().await;
    let router = app(d.state.reconfigured(|g| g.public_url("https://gw.example")));
    let r = &router;
    let (admin, csrf) = login(r, ADMIN).await;
    let (viewer, viewer_csrf) = login(r, VIEWER).await;
    let form = |csrf: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("name", "Alice's card".to_owned()),
            ("per_payment_sat", "5000".to_owned()),
            ("per_day_sat", "20000".to_owned()),
        ]
    };
    let send = |cookie: String, fields: Vec<(&'static str, String)>| async move {
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(r, "/ui/cards", Some(&cookie), &refs).await
    };
    assert!(!get(r, "/ui/cards", Some(&viewer)).await.body.contains("id=\"issue-card\""));
    assert_eq!(send(viewer.clone(), form(&viewer_csrf)).await.status, StatusCode::FORBIDDEN);
    let bad = send(
        admin.clone(),
        vec![("csrf", csrf.clone()), ("name", "x".into()), ("per_payment_sat", "lots".into())],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("per_payment_sat"), "{}", bad.body);

    let issued = send(admin.clone(), form(&csrf)).await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let shown = issued.body.replace("&#x2f;", "/");
    let link = "boltcard://program?url=https%3A%2F%2Fgw.example%2Fv1%2Fcards%2Fprogram%2F";
    assert!(shown.contains(link), "{}", issued.body);
    assert!(issued.body.contains("<svg") && issued.body.contains("5,000 sat"));
    let cards = d.store.payers().await.expect("payers");
    assert_eq!(cards.len(), 1);
    let id = cards[0].id.to_string();
    let list = get(r, "/ui/cards", Some(&admin)).await;
    assert!(
        list.body.contains("Alice&#x27;s card") || list.body.contains("Alice's card"),
        "{}",
        list.body
    );
    // Not programmed yet: no disable button (the engine refuses until the card is programmed).
    assert!(!list.body.contains(&format!("/ui/cards/{id}/disable")));
    let at = shown.find(link).expect("the link") + link.len();
    let code: String = shown[at..].chars().take_while(char::is_ascii_hexdigit).collect();
    d.state.gateway.payers().program(&code, &[1, 2, 3, 4, 5, 6, 7]).await.expect("programmed");
    let list = get(r, "/ui/cards", Some(&admin)).await;
    assert!(list.body.contains(&format!("/ui/cards/{id}/disable")), "{}", list.body);
    let off = post(r, &format!("/ui/cards/{id}/disable"), Some(&admin), &[("csrf", &csrf)]).await;
    assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
    assert_eq!(d.store.payers().await.expect("payers")[0].state.as_str(), "disabled");
    let audit = d.state.gateway.operators().audit_log(None, 5).await.expect("audit");
    assert_eq!(
        (audit[0].action.as_str(), audit[1].action.as_str()),
        ("card.disable", "card.issue")
    );

    // Its page: new limits (a viewer may not), then the wipe with its one-time reset link.
    let page = get(r, &format!("/ui/cards/{id}"), Some(&viewer)).await;
    assert!(page.body.contains("disabled") && !page.body.contains("id=\"limits\""));
    let limits = [("csrf", viewer_csrf.as_str()), ("per_payment_sat", "1"), ("per_day_sat", "2")];
    let refused = post(r, &format!("/ui/cards/{id}/limits"), Some(&viewer), &limits).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let limits = [("csrf", csrf.as_str()), ("per_payment_sat", "7000"), ("per_day_sat", "30000")];
    let set = post(r, &format!("/ui/cards/{id}/limits"), Some(&admin), &limits).await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let stored = &d.store.payers().await.expect("payers")[0];
    assert_eq!((stored.per_payment_msat, stored.per_day_msat), (7_000_000, 30_000_000));
    let wiped = post(r, &format!("/ui/cards/{id}/wipe"), Some(&admin), &[("csrf", &csrf)]).await;
    assert_eq!(wiped.status, StatusCode::OK, "{}", wiped.body);
    let shown = wiped.body.replace("&#x2f;", "/");
    let reset = "boltcard://reset?url=https%3A%2F%2Fgw.example%2Fv1%2Fcards%2Freset%2F";
    assert!(shown.contains(reset), "{}", wiped.body);
    assert_eq!(d.store.payers().await.expect("payers")[0].state.as_str(), "wiped");
    let audit = d.state.gateway.operators().audit_log(None, 2).await.expect("audit");
    let last: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(last, ["card.wipe", "card.limits"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_with_the_admin_token_are_audited_too() {
    let d = Dash::new().await;
    let device = hex::encode([0xe1u8; 16]);
    let body = serde_json::json!({"device_id": device, "name": "By script",
        "products": [{"id": 1, "description": "Tea", "price_msat": 900_000}]});
    let request = Request::builder()
        .method("POST")
        .uri("/v1/devices")
        .header(header::AUTHORIZATION, "Bearer t")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    assert_eq!(send(&d.router, request).await.status, StatusCode::CREATED);
    let read = Request::builder()
        .uri("/v1/devices")
        .header(header::AUTHORIZATION, "Bearer t")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&d.router, read).await.status, StatusCode::OK);
    let audit = d.state.gateway.operators().audit_log(None, 10).await.expect("audit");
    let api: Vec<_> = audit.iter().filter(|e| e.actor == "admin-token").collect();
    assert_eq!(api.len(), 1, "the change, not the read: {audit:?}");
    assert_eq!((api[0].action.as_str(), api[0].target.as_str()), ("api POST", "/v1/devices"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_stopped_syncing_is_named_with_its_last_sync() {
    use lnedge_wire::keys::device_sync_key;
    use lnedge_wire::sync::{SignedUpload, SyncRequest};
    let d = Dash::new().await;
    let clock = std::sync::Arc::new(lnedge_gateway::clock::ManualClock::at(now_secs()));
    let router = app(d.state.reconfigured(|g| g.clock(clock.clone())));
    let r = &router;
    let (synced, silent) = (DeviceId([0x51; 16]), DeviceId([0x52; 16]));
    sample::enrol(d.store.as_ref(), synced, "Synced machine", now_secs()).await.expect("enrol");
    sample::enrol(d.store.as_ref(), silent, "Silent machine", now_secs()).await.expect("enrol");
    let request = SyncRequest { counter: 1, reports: vec![], want_pool_files: false };
    let SignedUpload { body, signature } = request.signed(&device_sync_key(&[5; 32], &synced));
    let upload = Request::builder()
        .method("POST")
        .uri(format!("/v1/devices/{synced}/sync"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-lnedge-signature", signature)
        .body(Body::from(body))
        .expect("request");
    assert_eq!(send(r, upload).await.status, StatusCode::OK);
    let (viewer, _) = login(r, VIEWER).await;
    let overview = get(r, "/ui/", Some(&viewer)).await;
    assert!(overview.body.contains("Silent machine</a> has never synced"), "{}", overview.body);
    assert!(!overview.body.contains("Synced machine</a>"), "synced just now: not named");
    let page = get(r, &format!("/ui/devices/{synced}"), Some(&viewer)).await;
    assert!(page.body.contains("(counter 1)"), "{}", page.body);
    // Four days later it has not synced again.
    clock.advance(4 * 86_400);
    let (viewer, _) = login(r, VIEWER).await;
    let overview = get(r, "/ui/", Some(&viewer)).await;
    assert!(
        overview.body.contains("Synced machine</a> has not synced for 3 days or more (last "),
        "{}",
        overview.body
    );
}

/// The overview's node section on an operator's own LND (lnedge-testnodes' LND server): its
/// channel, what it can send and receive less the reserves, its confirmed on-chain balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_an_lnd_nodes_channels_and_balances() {
    use lnedge_node::lnd::{LndBackend, LndConfig};
    use lnedge_testnodes::lnd::LndNetwork;
    let dir = tempfile::tempdir().expect("dir");
    let network = LndNetwork::new();
    let lnd = network.start_node("operator").await.expect("lnd");
    let customer = network.start_node("customer").await.expect("customer");
    // The customer opened 2,000,000 sat to the operator and pushed 500,000 (1 % reserve each).
    network.open_channel(customer.node_id(), lnd.node_id(), 2_000_000, 500_000).expect("channel");
    network.set_wallet(lnd.node_id(), 150_000, 0);
    let (tls_cert, macaroon) = lnd.write_credentials(&dir.path().join("lnd")).expect("creds");
    let backend = LndBackend::connect(LndConfig {
        rest_url: lnd.url(),
        tls_cert,
        macaroon,
        data_dir: dir.path().join("backend"),
    })
    .await
    .expect("backend");
    let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::in_memory().expect("sqlite"));
    let state = AppState::new(
        store.clone(),
        Arc::new(backend),
        Arc::new(PoolKey::generate()),
        [5; 32],
        "t",
    );
    add_operator(store.as_ref(), now_secs(), ADMIN.0, Role::Admin, Some(ADMIN.1), "test")
        .await
        .expect("operator");
    let router = app(state);
    let (cookie, _) = login(&router, ADMIN).await;
    let page = get(&router, "/ui/", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    for shown in [
        "<dd id=\"channels\">1 usable of 1</dd>",
        "<dd id=\"outbound\">480,000 sat</dd>",
        "<dd id=\"inbound\">1,480,000 sat</dd>",
        "150,000 sat",
    ] {
        assert!(page.body.contains(shown), "{shown} in {}", page.body);
    }
}

/// A card issued with a PIN from the dashboard: the engine's checks name the field, the PIN is
/// kept only as its keyed hash, and the audit log says "with a PIN", never the PIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_is_issued_with_a_pin_that_is_never_shown_again() {
    let d = Dash::new().await;
    let router = app(d.state.reconfigured(|g| g.public_url("https://gw.example")));
    let r = &router;
    let (admin, csrf) = login(r, ADMIN).await;
    let page = get(r, "/ui/cards", Some(&admin)).await;
    assert!(page.body.contains("id=\"card-pin\"") && page.body.contains("type=\"password\""));
    let issue = |pin: &'static str, limit: &'static str| {
        let (admin, csrf) = (admin.clone(), csrf.clone());
        async move {
            let form = [
                ("csrf", csrf.as_str()),
                ("name", "Bob's card"),
                ("pin", pin),
                ("pin_limit_sat", limit),
            ];
            post(r, "/ui/cards", Some(&admin), &form).await
        }
    };
    let bad = issue("12ab", "").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("pin") && bad.body.contains("4 to 8 digits"), "{}", bad.body);
    let orphan = issue("", "2000").await;
    assert_eq!(orphan.status, StatusCode::BAD_REQUEST, "{}", orphan.body);
    assert!(orphan.body.contains("pin_limit"), "{}", orphan.body);
    assert!(d.store.payers().await.expect("payers").is_empty(), "nothing issued");

    let issued = issue("482913", "2000").await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    assert!(!issued.body.contains("482913"), "the PIN is not shown back");
    let card = &d.store.payers().await.expect("payers")[0];
    assert_eq!(card.pin_limit_msat, Some(2_000_000));
    assert!(card.pin_hash.is_some_and(|h| !h.windows(6).any(|w| w == b"482913")));
    let audit = d.state.gateway.operators().audit_log(None, 1).await.expect("audit");
    assert_eq!(audit[0].action, "card.issue");
    assert!(audit[0].detail.contains("with a PIN") && !audit[0].detail.contains("482913"));
}
