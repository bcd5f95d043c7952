//! SMS through an HTTP provider: each message is POSTed as JSON `{to, from, body}`, with the
//! configured token as a bearer token.

use std::time::Duration;

use futures::future::BoxFuture;
use rollcall_store::outbox::OutboxMessage;
use serde::Serialize;

use super::{SendError, Sender};
use crate::config::SmsConfig;

/// Requests in flight at once.
const CONCURRENCY: usize = 8;
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct HttpSmsSender {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    from: String,
}

#[derive(Serialize)]
struct Payload<'a> {
    to: &'a str,
    from: &'a str,
    body: &'a str,
}

impl HttpSmsSender {
    pub fn new(config: &SmsConfig) -> Result<HttpSmsSender, String> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("the SMS client could not be set up: {e}"))?;
        Ok(HttpSmsSender {
            client,
            url: config.url.clone(),
            token: config.token.clone(),
            from: config.from.clone(),
        })
    }
}

impl Sender for HttpSmsSender {
    fn send<'a>(&'a self, msg: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let mut request = self.client.post(&self.url).json(&Payload {
                to: &msg.recipient,
                from: &self.from,
                body: &msg.body_text,
            });
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.map_err(|e| {
                SendError::transient(format!("could not reach the SMS provider: {}", plain(e)))
            })?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let detail: String = response
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            let reason = format!(
                "the SMS provider answered HTTP {}{}{}",
                status.as_u16(),
                if detail.trim().is_empty() { "" } else { ": " },
                detail.trim()
            );
            // The provider judged this message (number, text) unacceptable: retrying cannot help.
            // Anything else (overload, outage, a bad token the operator can fix) is retried.
            match status.as_u16() {
                400 | 404 | 410 | 422 => Err(SendError::permanent(reason)),
                _ => Err(SendError::transient(reason)),
            }
        })
    }

    fn concurrency(&self) -> usize {
        CONCURRENCY
    }
}

/// reqwest's error with its causes, without the URL (which may carry credentials).
fn plain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
