//! Remote mode: the commands talk to a running server through its JSON API with a bearer token
//! (`--url`, `--token`), so the token's scopes apply and the server audits the changes to it.
//! The token is sent in one header and never printed or logged.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::exit::Lines;
use crate::output::s;

/// The longest a command waits in all for the server's rate limit before it reports the refusal.
const MAX_WAIT_SECS: u64 = 120;

pub struct Client {
    http: reqwest::Client,
    /// The server as given, for messages.
    url: String,
    api: String,
    token: String,
}

impl Client {
    pub fn new(url: &str, token: Option<&str>) -> anyhow::Result<Client> {
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            bail!("--url needs an API token: give --token or set ROLLCALL_TOKEN");
        };
        let url = url.trim_end_matches('/').to_string();
        if !url.starts_with("http://") && !url.starts_with("https://") {
            bail!("--url {url}: write the server's address with http:// or https://");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("rollcall-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            api: format!("{url}/api/v1"),
            url,
            http,
            token: token.to_string(),
        })
    }

    /// A request to an API path (e.g. `/users`), with the token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.request(Method::GET, path)).await
    }

    /// A text answer (a CSV export) as it is; a refusal as [`Client::send`] makes it.
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let res = self
            .request(Method::GET, path)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if res.status().is_success() {
            return res.text().await.map_err(|e| self.unreachable(&e));
        }
        Err(self
            .answer(res)
            .await
            .err()
            .unwrap_or_else(|| anyhow!("the server at {} answered without the export", self.url)))
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    /// Sends a request; a success answers its JSON (`null` when it has no body), anything else
    /// becomes an error a person can act on. Over the rate limit it waits as the server says and
    /// sends again: the limit refuses before the handler runs, so nothing was done twice.
    pub async fn send(&self, request: RequestBuilder) -> anyhow::Result<Value> {
        let mut waited = 0;
        loop {
            // The bodies sent here are JSON or bytes in memory, which clone.
            let attempt = request
                .try_clone()
                .context("a request that cannot be repeated")?;
            let res = attempt.send().await.map_err(|e| self.unreachable(&e))?;
            let wait = (res.status() == StatusCode::TOO_MANY_REQUESTS)
                .then(|| retry_after(&res))
                .flatten()
                .filter(|secs| waited + secs <= MAX_WAIT_SECS);
            let Some(secs) = wait else {
                return self.answer(res).await;
            };
            eprintln!("The server's rate limit is reached: waiting {secs} s…");
            tokio::time::sleep(Duration::from_secs(secs)).await;
            waited += secs;
        }
    }

    async fn answer(&self, res: reqwest::Response) -> anyhow::Result<Value> {
        let status = res.status();
        let is_json = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let body = res.bytes().await.map_err(|e| self.unreachable(&e))?;
        if status.is_success() {
            if body.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&body).with_context(|| {
                format!(
                    "the server at {} answered something that is not JSON",
                    self.url
                )
            });
        }
        let problem: Option<Value> = is_json
            .then(|| serde_json::from_slice(&body).ok())
            .flatten();
        Err(self.refusal(status, problem))
    }

    /// A transport failure in one line naming the server (never the token).
    fn unreachable(&self, e: &reqwest::Error) -> anyhow::Error {
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        if e.is_connect() {
            return anyhow!(
                "cannot reach the server at {}: {cause}; check --url (or ROLLCALL_URL) and that `rollcall serve` runs there",
                self.url
            );
        }
        if e.is_timeout() {
            return anyhow!("the server at {} did not answer in time", self.url);
        }
        anyhow!("the request to {} failed: {cause}", self.url)
    }

    /// The server's problem document as lines: its detail, or each field error on its own.
    fn refusal(&self, status: StatusCode, problem: Option<Value>) -> anyhow::Error {
        let Some(p) = problem else {
            return anyhow!(
                "the server at {} answered {status} without saying why; is --url the address of a Rollcall server?",
                self.url
            );
        };
        let detail = match s(&p, "detail") {
            "" => s(&p, "title").to_string(),
            d => d.to_string(),
        };
        if status == StatusCode::UNAUTHORIZED {
            return anyhow!("the token was refused ({detail}); check --token or ROLLCALL_TOKEN");
        }
        let rule = p["rule"]
            .as_str()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let fields: Vec<String> = p["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| format!("{}: {}", s(e, "field"), s(e, "detail")))
            .collect();
        // The detail of field errors repeats their sentences: the fields alone say it all.
        let mut lines = if fields.is_empty() {
            vec![format!("{detail}{rule}")]
        } else {
            fields
        };
        if let Some(last) = lines.last_mut()
            && !rule.is_empty()
            && !last.ends_with(&rule)
        {
            last.push_str(&rule);
        }
        Lines(lines).into()
    }

    /// Refuses an `--org` that is not the token's organization.
    pub async fn check_org(&self, org: Option<&str>) -> anyhow::Result<()> {
        let Some(org) = org else { return Ok(()) };
        let me = self.get("/me").await?;
        let (name, code) = (s(&me, "organization"), s(&me, "organization_code"));
        if org.trim().eq_ignore_ascii_case(code) {
            return Ok(());
        }
        bail!(
            "--org {org}: the token belongs to “{name}” ({code}); drop --org (remote commands act in the token's organization) or use that organization's token"
        )
    }

    /// A user by id, or by an exact address (case-insensitive).
    pub async fn user_id(&self, who: &str) -> anyhow::Result<Uuid> {
        if let Ok(id) = Uuid::parse_str(who) {
            return Ok(id);
        }
        let page = self
            .send(self.request(Method::GET, "/users").query(&[("email", who)]))
            .await?;
        page["users"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|u| s(u, "email").eq_ignore_ascii_case(who.trim()))
            .and_then(|u| Uuid::parse_str(s(u, "id")).ok())
            .with_context(|| format!("no user with the address “{who}” in the organization"))
    }
}

/// The seconds a 429 asks to wait (`Retry-After`), at least one.
fn retry_after(res: &reqwest::Response) -> Option<u64> {
    let secs = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(secs.max(1))
}
