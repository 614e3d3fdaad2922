//! A real headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs), for tests that check what
//! an agent sees and clicks. Screenshots go to
//! `$CARGO_TARGET_TMPDIR/screenshots/`.

#![allow(dead_code)] // each test binary uses a different subset

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::future::Future;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

impl Browser {
    pub async fn start() -> Browser {
        let port = free_port();
        let chromedriver = program("RESONANZ_CHROMEDRIVER", "/usr/bin/chromedriver");
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("{chromedriver} does not start ({err}); .ci/run installs chromium and chromium-driver")
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("a browser profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": program("RESONANZ_CHROMIUM", "/usr/bin/chromium"),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--window-size=1366,900", "--lang=de-DE",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                // What a German office browser asks for.
                "prefs": {"intl.accept_languages": "de-DE,de"},
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session in headless Chromium");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page loads");
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("a URL")
            .path()
            .to_owned()
    }

    /// The element, once it exists (the page may still be updating).
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(err) => {
                let shot = self.screenshot("failed-find").await;
                let source = self.client.source().await.unwrap_or_default();
                panic!(
                    "no element {css} ({err}); screenshot {}; page:\n{source}",
                    shot.display()
                )
            }
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_default()
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
            .is_empty()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("the field clears");
        field.send_keys(text).await.expect("typing works");
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|err| panic!("click {css}: {err}"));
    }

    /// Presses keys on the page once its script has attached the shortcuts.
    pub async fn press(&self, keys: &str) {
        self.until("the page's script", || async {
            self.eval("return document.body.dataset.ready === '1';")
                .await
                == serde_json::json!(true)
        })
        .await;
        self.find("body")
            .await
            .send_keys(keys)
            .await
            .expect("keys reach the page");
    }

    /// Logs in through the login form.
    pub async fn login(&self, base: &str, name: &str, password: &str) {
        self.goto(&format!("{base}/login")).await;
        self.fill("#name", name).await;
        self.fill("#password", password).await;
        self.click("#login-submit").await;
        self.until("the inbox after login", || async {
            self.path().await == "/inbox"
        })
        .await;
    }

    /// Waits until `check` holds (the page updates by itself).
    pub async fn until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if check().await {
                return;
            }
            if Instant::now() > deadline {
                self.screenshot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                panic!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG of the window; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(&path, png).expect("screenshot written");
        }
        path
    }

    /// Runs script in the page and returns its JSON result.
    pub async fn eval(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|err| panic!("script failed: {err}"))
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
