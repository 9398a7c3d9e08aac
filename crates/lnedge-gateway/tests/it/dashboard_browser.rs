//! The dashboard in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` + `chromium-driver`, installed by `scripts/chromium.sh`; `CHROMEDRIVER` names the
//! driver, else `chromedriver` on the PATH). With `LNEDGE_SCREENSHOTS=<dir>` the pages are saved
//! there as PNG (`docs/screenshots/` holds the committed ones).

use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::dashboard::{seed_sales, wallet_login, Dash, ADMIN, VIEWER};
use crate::support::now_secs;

/// How long a page may take to show what the test waits for (generous: a busy 2-core machine).
const PAGE: Duration = Duration::from_secs(30);

/// chromedriver on a free port; stopped (with its browsers) when dropped.
struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let port = crate::support::free_addr().port();
        let child = tokio::process::Command::new(&bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} ({e}): run bash scripts/chromium.sh"));
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = http
                .get(format!("{url}/status"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .ok()
                .map(|r| r.text());
            if let Some(body) = ready {
                if body.await.is_ok_and(|b| b.contains("\"ready\":true")) {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Driver { child, url }
    }

    async fn browser(&self) -> Client {
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox",
                "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"]}
        });
        let caps = caps.as_object().cloned().expect("an object");
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a headless Chromium session")
    }

    /// Stops chromedriver and the browsers it started.
    async fn stop(mut self) {
        let _ = reqwest::get(format!("{}/shutdown", self.url)).await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// Saves a screenshot of the page as `<LNEDGE_SCREENSHOTS>/<name>.png` (when set); checks it
/// is a PNG either way.
async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    if let Ok(dir) = std::env::var("LNEDGE_SCREENSHOTS") {
        // A relative directory is the workspace's (tests run in the crate's directory).
        let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = workspace.join(dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }
}

/// The text of `css` once the page shows it. Found and read again on failure: a page that
/// reloads itself (the provisioning and LNURL pages) can replace the element in between.
async fn text(c: &Client, css: &str) -> String {
    let deadline = Instant::now() + PAGE;
    loop {
        let last = match c.find(Locator::Css(css)).await {
            Ok(el) => match el.text().await {
                Ok(t) => return t,
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        assert!(Instant::now() < deadline, "no {css}: {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Attribute `name` of `css`, read again on failure like [`text`].
async fn attr(c: &Client, css: &str, name: &str) -> Option<String> {
    let deadline = Instant::now() + PAGE;
    loop {
        let last = match c.find(Locator::Css(css)).await {
            Ok(el) => match el.attr(name).await {
                Ok(v) => return v,
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        assert!(Instant::now() < deadline, "no {css}[{name}]: {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of `css` once `ready` accepts it (polled: the page may still be loading).
async fn text_when(c: &Client, css: &str, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PAGE;
    loop {
        let t = match c.find(Locator::Css(css)).await {
            Ok(el) => el.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if ready(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "{css} never became ready; last: {t:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fill(c: &Client, css: &str, value: &str) {
    let el = c.wait().at_most(PAGE).for_element(Locator::Css(css)).await.expect(css);
    el.clear().await.expect("clear");
    el.send_keys(value).await.expect("type");
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(PAGE)
        .for_element(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("click");
}

async fn absent(c: &Client, css: &str) -> bool {
    matches!(c.find(Locator::Css(css)).await, Err(e) if e.is_no_such_element())
}

async fn log_in(c: &Client, base: &str, (name, password): (&str, &str)) {
    c.goto(&format!("{base}/ui/")).await.expect("goto");
    fill(c, "#name", name).await;
    fill(c, "#password", password).await;
    click(c, "#login button").await;
    let who = text(c, "#who").await;
    assert!(who.starts_with(name), "logged in as {who}");
}

/// The whole operator story in Chromium.
async fn story(c: &Client, base: &str, d: &Dash) {
    let now = now_secs();
    let (_, machine_b) = seed_sales(d.store.as_ref(), now).await;

    // Not logged in: the login page. A wrong password says so.
    c.goto(&format!("{base}/ui/")).await.expect("goto");
    assert!(c.current_url().await.expect("url").path().ends_with("/ui/login"));
    fill(c, "#name", ADMIN.0).await;
    fill(c, "#password", "wrong password!!").await;
    click(c, "#login button").await;
    assert!(text(c, "#login-error").await.contains("wrong"));
    shot(c, "login").await;

    // Log in with a password; the overview.
    log_in(c, base, ADMIN).await;
    assert_eq!(text(c, "#refunds-due").await, "1");
    assert!(text(c, "#alerts").await.contains("claimed but not paid"));
    shot(c, "overview").await;

    // Enrol a device.
    click(c, "nav a[href='/ui/devices']").await;
    fill(c, "#device_name", "Station lobby").await;
    fill(c, "#products", "1, Coffee, 1500\n2, Tea, 900").await;
    click(c, "#enrol-submit").await;
    // The click returns before the next page is there: wait for it, not for any h1.
    text_when(c, "h1", |t| t == "Station lobby").await;
    assert!(text(c, "#products").await.contains("Coffee"));

    // Provision a pool and watch the progress bar finish (the page refreshes itself).
    fill(c, "#entries", "40").await;
    click(c, "#provision-submit").await;
    assert_eq!(attr(c, "#progress", "max").await.as_deref(), Some("80"));
    shot(c, "provisioning").await;
    let done = c
        .wait()
        .at_most(Duration::from_secs(180))
        .for_element(Locator::Css("#job-done"))
        .await
        .expect("the job finished");
    assert!(done.text().await.expect("text").contains("80 invoices"));
    let value =
        c.find(Locator::Css("#progress")).await.expect("bar").attr("value").await.expect("v");
    assert_eq!(value.as_deref(), Some("80"), "the bar is full");
    shot(c, "provisioned").await;

    // The device page lists the pool with its ledger counts.
    click(c, "#to-device").await;
    let pools = text(c, "#pools").await;
    assert!(pools.contains("unused 80"), "{pools}");
    shot(c, "device").await;

    // The fleet lists the device's unused invoices per product (from the books' snapshot, which
    // is refreshed in the background: reload until it has caught up).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        c.goto(&format!("{base}/ui/devices")).await.expect("goto");
        if text(c, "#devices").await.contains("1: 40 · 2: 40") {
            break;
        }
        assert!(Instant::now() < deadline, "the devices page never showed the new pool's invoices");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Sales: filter by device and status, the table and the CSV say the same rows.
    c.goto(&format!("{base}/ui/sales")).await.expect("goto");
    c.find(Locator::Css("#f-device"))
        .await
        .expect("select")
        .select_by_value(&machine_b.to_string())
        .await
        .expect("device");
    c.find(Locator::Css("#f-status"))
        .await
        .expect("select")
        .select_by_value("delivered")
        .await
        .expect("status");
    click(c, "#filter-submit").await;
    let summary = text_when(c, "#summary", |t| t.starts_with("2 rows")).await;
    assert!(summary.contains("2,000 sat"), "{summary}");
    let shown = c.find_all(Locator::Css("#sales tbody tr")).await.expect("rows").len();
    assert_eq!(shown, 2);
    shot(c, "sales").await;
    let href = c
        .find(Locator::Css("#csv"))
        .await
        .expect("csv")
        .attr("href")
        .await
        .expect("href")
        .expect("a link");
    let cookie = c.get_named_cookie("lnedge_session").await.expect("the session cookie");
    let csv = reqwest::Client::new()
        .get(format!("{base}{href}"))
        .header("cookie", format!("lnedge_session={}", cookie.value()))
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("csv text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "header + the 2 rows shown: {csv}");
    assert!(lines[1..]
        .iter()
        .all(|l| l.contains(&machine_b.to_string()) && l.contains("delivered")));

    // The audit log shows the enrolment and the provisioning by alice.
    c.goto(&format!("{base}/ui/audit")).await.expect("goto");
    let audit = text(c, "#audit").await;
    assert!(audit.contains("device.enrol") && audit.contains("pool.provision"), "{audit}");
    shot(c, "audit").await;

    // Alice links her Lightning wallet (lnurl-rs, LUD-05 keys) from her account page.
    let seed = [0x5e; 32];
    click(c, "#who").await;
    click(c, "#link-submit").await;
    let link_lnurl = text(c, "#lnurl").await;
    let (key, reply) = wallet_login(&link_lnurl, seed).await;
    assert!(matches!(reply, lnurl::Response::Ok(())), "{reply:?}");
    text_when(c, "#linked", |t| t.contains(&key)).await;
    shot(c, "account").await;

    // A form posted without the CSRF token is refused, and nothing changes.
    c.goto(&format!("{base}/ui/devices")).await.expect("goto");
    fill(c, "#device_name", "Forged").await;
    fill(c, "#products", "1, Nothing, 1").await;
    c.execute("document.querySelector('#enrol input[name=csrf]').remove()", vec![])
        .await
        .expect("js");
    click(c, "#enrol-submit").await;
    text_when(c, "#error", |t| t.contains("CSRF")).await;
    let names: Vec<String> =
        d.store.devices().await.expect("devices").into_iter().map(|d| d.name).collect();
    assert!(!names.iter().any(|n| n == "Forged"), "{names:?}");

    // Log out.
    click(c, "#logout").await;
    c.wait().at_most(PAGE).for_element(Locator::Css("#login")).await.expect("the login page");
    c.goto(&format!("{base}/ui/")).await.expect("goto");
    assert!(c.current_url().await.expect("url").path().ends_with("/ui/login"), "logged out");

    // A viewer: no control that changes anything, and a crafted POST is refused.
    log_in(c, base, VIEWER).await;
    c.goto(&format!("{base}/ui/devices")).await.expect("goto");
    assert!(absent(c, "#enrol").await, "no enrolment form for a viewer");
    click(c, "#devices tbody a").await;
    text(c, "#device").await;
    assert!(absent(c, "#toggle").await && absent(c, "#provision").await);
    shot(c, "viewer-device").await;
    c.execute(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/ui/devices';
         for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value],
                              ['device_id', '11'.repeat(16)], ['name', 'By a viewer'],
                              ['products', '1, X, 1']]) {
           const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v;
           f.appendChild(i); }
         document.body.appendChild(f); f.submit();",
        vec![],
    )
    .await
    .expect("js");
    text_when(c, "#error", |t| t.contains("is a viewer")).await;
    let names: Vec<String> =
        d.store.devices().await.expect("devices").into_iter().map(|d| d.name).collect();
    assert!(!names.iter().any(|n| n == "By a viewer"), "{names:?}");
    c.goto(&format!("{base}/ui/")).await.expect("goto");
    click(c, "#logout").await;

    // LNURL-auth: alice's linked wallet; she scans the login page's QR code and the page logs
    // her in once the wallet has signed.
    c.wait().at_most(PAGE).for_element(Locator::Css("#lnurl-submit")).await.expect("login page");
    click(c, "#lnurl-submit").await;
    let lnurl = text(c, "#lnurl").await;
    assert!(lnurl.starts_with("LNURL1"), "{lnurl}");
    assert!(attr(c, ".qr svg", "viewBox").await.is_some(), "a QR code");
    shot(c, "lnurl-login").await;
    let (signed, reply) = wallet_login(&lnurl, seed).await;
    assert!(matches!(reply, lnurl::Response::Ok(())), "{reply:?}");
    assert_eq!(signed, key);
    let who = text_when(c, "#who", |t| !t.is_empty()).await;
    assert!(who.starts_with("alice"), "{who}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver (bash scripts/chromium.sh; run by .ci/run)"]
async fn an_operator_works_the_dashboard_in_chromium() {
    let d = Dash::new().await;
    let state = d.state.clone();
    let (base, server) = crate::support::serve_with_url(|url| {
        lnedge_gateway::api::app(state.reconfigured(|g| g.public_url(url)))
    })
    .await;
    let driver = Driver::start().await;
    let c = driver.browser().await;
    // The story runs in its own task so that a failed assertion still closes the browser.
    let outcome = {
        let (c2, base2) = (c.clone(), base.clone());
        let d = std::sync::Arc::new(d);
        let d2 = d.clone();
        tokio::spawn(async move { story(&c2, &base2, &d2).await }).await
    };
    let _ = c.close().await;
    driver.stop().await;
    server.abort();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// An admin cancels a payment held for an offline payee from the relay list, in Chromium: the
/// button is there for the held payment, the page then says `cancelled`, and the payer (a real
/// LDK node of the sandbox) got its HTLC failed back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromedriver (bash scripts/chromium.sh; run by .ci/run)"]
async fn an_admin_cancels_a_held_relay_payment_in_chromium() {
    use crate::relay::{held, Payee, World};
    use lnedge_gateway::operators::{add_operator, Role};

    let w = World::new().await;
    let store = w.store();
    let state = lnedge_gateway::api::AppState::new(
        store.clone(),
        w.gateway.clone(),
        std::sync::Arc::new(lnedge_gateway::provision::PoolKey::generate()),
        w.master,
        "t",
    );
    add_operator(store.as_ref(), now_secs(), ADMIN.0, Role::Admin, Some(ADMIN.1), "test")
        .await
        .expect("operator");
    let relay = state.gateway.relay();
    let payee = Payee::enrol(&relay, 1).await;
    let (offer, paying, _) = held(&w, &relay, &payee, "parking meter 7").await;
    let (base, server) = crate::support::serve(lnedge_gateway::api::app(state)).await;
    let driver = Driver::start().await;
    let c = driver.browser().await;
    let row = format!("#relay-{}", hex::encode(offer.payment_hash));
    let outcome = {
        let (c2, base2, row2) = (c.clone(), base.clone(), row.clone());
        tokio::spawn(async move {
            log_in(&c2, &base2, ADMIN).await;
            c2.goto(&format!("{base2}/ui/relay")).await.expect("goto");
            assert_eq!(text(&c2, &format!("{row2} .state")).await, "held");
            shot(&c2, "relay").await;
            click(&c2, &format!("{row2} button")).await;
            text_when(&c2, &format!("{row2} .state"), |t| t == "cancelled").await;
            assert!(absent(&c2, &format!("{row2} button")).await, "no button once cancelled");
        })
        .await
    };
    let _ = c.close().await;
    driver.stop().await;
    server.abort();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
    assert!(paying.await.expect("join").is_err(), "the payer was refunded");
    w.net.shutdown().await;
}
