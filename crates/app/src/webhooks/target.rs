//! Where a webhook may be sent: HTTPS to a host on the public internet. Checked when an
//! endpoint is saved and again at every delivery, where the client connects only to addresses
//! the check passed (its resolver drops the others), so a name that later resolves to an
//! internal address reaches nothing. Loopback, private and link-local addresses (and plain
//! HTTP on loopback) are allowed only when the operator says so (`--webhooks-allow-private`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use rollcall_domain::ValueError;
use rollcall_domain::webhook::{is_loopback, is_public};

fn invalid(code: &'static str, message: String) -> ValueError {
    ValueError::new("url", code, message)
}

/// The URL, parsed and checked for its form: scheme, host, no credentials.
pub fn parse(input: &str, allow_private: bool) -> Result<Url, ValueError> {
    let input = input.trim();
    let url = Url::parse(input).map_err(|e| {
        invalid(
            "url_invalid",
            format!("“{input}” is not a URL ({e}). Write the full address, e.g. https://scheduling.example.com/hooks/rollcall."),
        )
    })?;
    let Some(host) = url.host_str() else {
        return Err(invalid(
            "url_invalid",
            "The URL names no host. Write the full address, e.g. https://scheduling.example.com/hooks/rollcall.".into(),
        ));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "url_credentials",
            "Put no user name or password in the URL: receivers check the webhook signature instead.".into(),
        ));
    }
    let literal: Option<IpAddr> = host.trim_matches(|c| c == '[' || c == ']').parse().ok();
    let loopback = host == "localhost" || literal.is_some_and(is_loopback);
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback && allow_private => Ok(url),
        "http" if loopback => Err(invalid(
            "url_not_https",
            "Webhooks go over HTTPS. Plain HTTP is allowed only to this machine, and only when the server runs with --webhooks-allow-private.".into(),
        )),
        "http" => Err(invalid(
            "url_not_https",
            format!("Webhooks go over HTTPS: write https://{host}… instead of http://."),
        )),
        other => Err(invalid(
            "url_scheme",
            format!("“{other}:” is not a web address. Webhooks go to https:// URLs."),
        )),
    }
}

/// Why an address may not be reached, if it may not.
fn refused(host: &str, ip: IpAddr, allow_private: bool) -> Option<String> {
    (!allow_private && !is_public(ip)).then(|| {
        format!(
            "{host} resolves to {ip}, which is not a public internet address (loopback, private, link-local or reserved). Webhooks go to public HTTPS endpoints; an operator can allow internal ones with --webhooks-allow-private."
        )
    })
}

/// Resolves the URL's host and refuses it if any of its addresses may not be reached.
pub async fn check_reachable(url: &Url, allow_private: bool) -> Result<(), ValueError> {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(443);
    let bare = host.trim_matches(|c| c == '[' || c == ']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| {
                invalid(
                    "url_unresolved",
                    format!("{host} cannot be found ({e}). Check the host name."),
                )
            })?
            .collect(),
    };
    for a in &addrs {
        if let Some(why) = refused(host, a.ip(), allow_private) {
            return Err(invalid("url_not_public", why));
        }
    }
    Ok(())
}

/// The resolver of the delivery client: only addresses the check allows are connected to.
#[derive(Clone)]
pub struct CheckedResolver {
    pub allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| refused(&host, a.ip(), allow_private).is_none())
                .collect();
            if allowed.is_empty() {
                let ip = found
                    .first()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                let why: Box<dyn std::error::Error + Send + Sync> = match found.first() {
                    Some(a) => refused(&host, a.ip(), allow_private)
                        .unwrap_or_else(|| format!("{host} resolves to {ip}"))
                        .into(),
                    None => format!("{host} resolves to no address").into(),
                };
                return Err(why);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// The delivery client: the checked resolver, no proxy, no redirects (a redirect could lead
/// anywhere), 10 s per request.
pub fn client(allow_private: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(CheckedResolver { allow_private }))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(5))
        .user_agent(concat!("Rollcall-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the webhook client builds")
}

/// An IP literal host is connected to without the resolver: check it here.
pub fn literal_refusal(url: &Url, allow_private: bool) -> Option<String> {
    let host = url.host_str()?;
    let ip: IpAddr = host.trim_matches(|c| c == '[' || c == ']').parse().ok()?;
    refused(host, ip, allow_private)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required_except_on_loopback_when_allowed() {
        assert!(parse("https://hooks.example.com/x", false).is_ok());
        assert_eq!(
            parse("http://hooks.example.com/x", true).unwrap_err().code,
            "url_not_https"
        );
        assert!(parse("http://127.0.0.1:9000/x", true).is_ok());
        assert_eq!(
            parse("http://127.0.0.1:9000/x", false).unwrap_err().code,
            "url_not_https"
        );
        assert_eq!(
            parse("ftp://x.example", false).unwrap_err().code,
            "url_scheme"
        );
        assert_eq!(parse("not a url", false).unwrap_err().code, "url_invalid");
        assert_eq!(
            parse("https://u:p@x.example/", false).unwrap_err().code,
            "url_credentials"
        );
    }
}
