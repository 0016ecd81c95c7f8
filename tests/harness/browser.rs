//! A real browser for the console's tests: Debian's Chromium, headless, driven through
//! ChromeDriver (WebDriver) with fantoccini; axe-core from npm checks accessibility.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

/// A ChromeDriver process and a browser session on it; both end when this is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // ChromeDriver's browser would outlive it (and pile up over many runs): end the
        // whole process group it leads.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Whether a missing tool fails the test (under `CI=true`) or skips it with a notice.
fn missing(what: &str) -> Option<Browser> {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} is required under CI=true (apt-get install chromium chromium-driver)");
    }
    eprintln!("NOTICE: skipping a browser test: {what} is not installed");
    None
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium; `None` (with a notice) outside CI when
    /// they are not installed.
    pub async fn start() -> Option<Browser> {
        let Some(driver_path) = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
        else {
            return missing("chromedriver");
        };
        let Some(chromium) = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]) else {
            return missing("chromium");
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        use std::os::unix::process::CommandExt;
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            // Its own process group, with the browser it starts, so both end together.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1024"],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Some(Browser { client, driver }),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start a browser: {last:?}");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// The text of the page's main content (empty while a page is loading).
    pub async fn main_text(&self) -> String {
        match self.client.find(Locator::Css("main")).await {
            Ok(main) => main.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits (up to 10 s) for the page's main content to contain `needle`, as a click's page
    /// loads; answers the text. Fails with the text last seen.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let mut text = String::new();
        for _ in 0..100 {
            text = self.main_text().await;
            if text.contains(needle) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {needle:?}; it shows:\n{text}");
    }

    /// Waits (up to 10 s) for the address to contain `needle`, as a form's page loads.
    pub async fn wait_for_url(&self, needle: &str) {
        let mut url = String::new();
        for _ in 0..100 {
            url = self
                .client
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            if url.contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the address never came to contain {needle:?}; it is {url}");
    }

    /// Fills the named fields of the form matching `css` and submits it with its button.
    pub async fn submit_form(&self, css: &str, fields: &[(&str, &str)]) {
        let form = self.client.form(Locator::Css(css)).await.expect("the form");
        for (name, value) in fields {
            form.set_by_name(name, value).await.expect("set a field");
        }
        form.submit().await.expect("submit");
    }

    /// Saves a PNG of the page.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// axe-core's serious and critical violations on the page, one line each; `None` (with a
    /// notice) outside CI when axe-core cannot be had from npm.
    pub async fn accessibility_violations(&self) -> Option<Vec<String>> {
        let source = axe_source()?;
        self.client
            .execute(&format!("{source}\nreturn true;"), vec![])
            .await
            .expect("load axe-core");
        let found = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] })
                  .then(r => done(r.violations
                    .filter(v => v.impact === 'serious' || v.impact === 'critical')
                    .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                  .catch(e => done(['axe failed: ' + e]));"#,
                vec![],
            )
            .await
            .expect("run axe-core");
        Some(
            found
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }
}

/// axe-core's browser script: `AXE_CORE_JS`, or installed from npm under the target directory.
fn axe_source() -> Option<String> {
    let path = match std::env::var("AXE_CORE_JS") {
        Ok(path) => PathBuf::from(path),
        Err(_) => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/axe-core");
            let script = dir.join("node_modules/axe-core/axe.min.js");
            if !script.exists() {
                let installed = Command::new("npm")
                    .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                    .arg(&dir)
                    .arg("axe-core@4")
                    .status();
                if !installed.is_ok_and(|s| s.success()) {
                    if std::env::var("CI").as_deref() == Ok("true") {
                        panic!("axe-core could not be installed from npm");
                    }
                    eprintln!(
                        "NOTICE: skipping the accessibility check: npm install axe-core failed"
                    );
                    return None;
                }
            }
            script
        }
    };
    Some(std::fs::read_to_string(&path).expect("axe-core's script"))
}
