//! Email over SMTP with lettre: STARTTLS, TLS or plain, optional authentication, pooled
//! connections, multipart text + HTML.
//!
//! Why a pool of our own instead of lettre's `AsyncSmtpTransport` pool: lettre connects its
//! sockets itself and never sets TCP_NODELAY, and it writes each message body and the closing
//! `\r\n.\r\n` as two separate writes. With Nagle's algorithm the second write waits for the
//! server to acknowledge the first, and the server delays that ACK (40 ms on Linux) because it
//! is still waiting for the end of the data: every message stalls, about 22 messages/s per
//! connection whatever the server's speed. lettre 0.11 offers no hook to supply the socket to
//! its transport (its `Executor` trait is sealed), but `AsyncSmtpConnection::connect_with_transport`
//! takes a stream we connected ourselves. So we connect with `set_nodelay(true)` and keep those
//! connections in a small pool here. `SmtpStrategy::LettrePool` keeps lettre's own transport,
//! for comparison in the P6 benchmark.

use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use lettre::address::Envelope;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
#[allow(deprecated)]
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{Error as SmtpError, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rollcall_store::outbox::OutboxMessage;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use super::{SendError, Sender};
use crate::config::{SmtpConfig, SmtpSecurity};

/// Connecting, greeting, STARTTLS and authentication together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// One message, from MAIL FROM to the server's answer to the data.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections older than this are checked with NOOP before reuse…
const CHECK_AFTER: Duration = Duration::from_secs(5);
/// …and closed after this (servers drop idle clients after a few minutes).
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// How the sender holds its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpStrategy {
    /// Our pool of connections with TCP_NODELAY (the default).
    NoDelayPool,
    /// lettre's `AsyncSmtpTransport` and its pool, as lettre connects them (Nagle on).
    LettrePool,
}

pub struct SmtpSender {
    from: Mailbox,
    /// The domain of the From address, for Message-IDs.
    domain: String,
    size: usize,
    transport: Transport,
}

enum Transport {
    Pool(Pool),
    Lettre(AsyncSmtpTransport<Tokio1Executor>),
}

impl SmtpSender {
    pub fn new(config: &SmtpConfig) -> Result<SmtpSender, String> {
        SmtpSender::with_strategy(config, SmtpStrategy::NoDelayPool)
    }

    pub fn with_strategy(
        config: &SmtpConfig,
        strategy: SmtpStrategy,
    ) -> Result<SmtpSender, String> {
        let from: Mailbox = config.from.parse().map_err(|e| {
            format!(
                "the SMTP From address “{}” is not usable: {e}; use e.g. “Rollcall <no-reply@clinic.example>”",
                config.from
            )
        })?;
        let domain = from.email.domain().to_string();
        let size = config.pool_size.max(1) as usize;
        let tls = match config.security {
            SmtpSecurity::None => None,
            SmtpSecurity::StartTls | SmtpSecurity::Tls => {
                Some(TlsParameters::new(config.host.clone()).map_err(|e| {
                    format!(
                        "TLS for the SMTP server {} could not be set up: {e}",
                        config.host
                    )
                })?)
            }
        };
        let credentials = match (&config.username, &config.password) {
            (Some(user), password) => Some(Credentials::new(
                user.clone(),
                password.clone().unwrap_or_default(),
            )),
            (None, _) => None,
        };
        let transport = match strategy {
            SmtpStrategy::NoDelayPool => Transport::Pool(Pool {
                host: config.host.clone(),
                port: config.port,
                security: config.security,
                tls,
                credentials,
                hello: ClientId::default(),
                idle: Mutex::new(Vec::new()),
                slots: Semaphore::new(size),
            }),
            SmtpStrategy::LettrePool => {
                let mut builder =
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
                        .port(config.port)
                        .timeout(Some(CONNECT_TIMEOUT))
                        .pool_config(PoolConfig::new().max_size(size as u32));
                builder = match (config.security, tls) {
                    (SmtpSecurity::StartTls, Some(t)) => builder.tls(Tls::Required(t)),
                    (SmtpSecurity::Tls, Some(t)) => builder.tls(Tls::Wrapper(t)),
                    _ => builder.tls(Tls::None),
                };
                if let Some(c) = credentials {
                    builder = builder.credentials(c);
                }
                Transport::Lettre(builder.build())
            }
        };
        Ok(SmtpSender {
            from,
            domain,
            size,
            transport,
        })
    }

    /// The message as sent: multipart/alternative when there is an HTML body, with a Message-ID
    /// derived from the outbox row so a receiver can recognise a retry of the same message.
    fn compose(&self, msg: &OutboxMessage) -> Result<Message, SendError> {
        let to: Mailbox = msg.recipient.parse().map_err(|e| {
            SendError::permanent(format!(
                "“{}” is not an address mail can be sent to: {e}",
                msg.recipient
            ))
        })?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(msg.subject.clone())
            .message_id(Some(format!("<{}@{}>", msg.id, self.domain)));
        let built = match &msg.body_html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                msg.body_text.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(msg.body_text.clone()),
        };
        built.map_err(|e| SendError::permanent(format!("the message could not be built: {e}")))
    }

    /// Closes idle connections politely (QUIT).
    pub async fn close(&self) {
        match &self.transport {
            Transport::Pool(pool) => pool.close().await,
            Transport::Lettre(t) => t.shutdown().await,
        }
    }
}

impl Sender for SmtpSender {
    fn send<'a>(&'a self, msg: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let email = self.compose(msg)?;
            let envelope = email.envelope().clone();
            let bytes = email.formatted();
            match &self.transport {
                Transport::Pool(pool) => pool.send(&envelope, &bytes).await,
                Transport::Lettre(t) => {
                    t.send_raw(&envelope, &bytes).await.map(drop).map_err(|e| {
                        let reason = format!("the mail server did not take the message: {e}");
                        if e.is_permanent() {
                            SendError::permanent(reason)
                        } else {
                            SendError::transient(reason)
                        }
                    })
                }
            }
        })
    }

    fn concurrency(&self) -> usize {
        self.size
    }
}

struct Pool {
    host: String,
    port: u16,
    security: SmtpSecurity,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// One permit per connection the pool may hold.
    slots: Semaphore,
}

impl Pool {
    async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .expect("the pool's semaphore is never closed");
        let mut conn = match self.take_idle().await {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        match tokio::time::timeout(SEND_TIMEOUT, conn.send(envelope, bytes)).await {
            Ok(Ok(_)) => {
                self.put_back(conn);
                Ok(())
            }
            Ok(Err(e)) => {
                // lettre has already sent QUIT and closed the connection on a negative reply.
                let reason = format!("the mail server did not take the message: {e}");
                if e.is_permanent() || e.is_client() {
                    Err(SendError::permanent(reason))
                } else {
                    Err(SendError::transient(reason))
                }
            }
            Err(_) => Err(SendError::transient(format!(
                "the mail server {}:{} did not answer within {} s",
                self.host,
                self.port,
                SEND_TIMEOUT.as_secs()
            ))),
        }
    }

    /// A pooled connection that is still usable, if there is one.
    async fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = self.idle.lock().expect("pool lock").pop()?;
            let idle_for = since.elapsed();
            if conn.has_broken() || idle_for > IDLE_LIMIT {
                continue;
            }
            if idle_for > CHECK_AFTER
                && !matches!(
                    tokio::time::timeout(CONNECT_TIMEOUT, conn.test_connected()).await,
                    Ok(true)
                )
            {
                continue;
            }
            return Some(conn);
        }
    }

    fn put_back(&self, conn: AsyncSmtpConnection) {
        if !conn.has_broken() {
            self.idle
                .lock()
                .expect("pool lock")
                .push((conn, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let connecting = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let stream: Box<dyn AsyncTokioStream> = match (self.security, &self.tls) {
                (SmtpSecurity::Tls, Some(tls)) => {
                    #[allow(deprecated)]
                    let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
                    stream
                        .upgrade_tls(tls.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                    Box::new(TlsStream(stream))
                }
                _ => Box::new(tcp),
            };
            let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
                .await
                .map_err(smtp_text)?;
            if let (SmtpSecurity::StartTls, Some(tls)) = (self.security, &self.tls) {
                conn.starttls(tls.clone(), &self.hello)
                    .await
                    .map_err(smtp_text)?;
            }
            if let Some(credentials) = &self.credentials {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                    .await
                    .map_err(|e| format!("authentication failed: {}", smtp_text(e)))?;
            }
            Ok::<_, String>(conn)
        };
        // Whatever goes wrong while connecting is about the server or the configuration, not
        // this message: always worth another attempt later.
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(SendError::transient(format!(
                "could not connect to the mail server {}:{}: {e}",
                self.host, self.port
            ))),
            Err(_) => Err(SendError::transient(format!(
                "could not connect to the mail server {}:{}: no answer within {} s",
                self.host,
                self.port,
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn close(&self) {
        let idle: Vec<_> = std::mem::take(&mut *self.idle.lock().expect("pool lock"));
        for (mut conn, _) in idle {
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.quit()).await;
        }
    }
}

fn smtp_text(e: SmtpError) -> String {
    e.to_string()
}

/// lettre's TLS stream (futures-io traits) seen as a tokio stream, so a connection that starts
/// with TLS (port 465) can also be handed to `connect_with_transport`.
#[allow(deprecated)]
#[derive(Debug)]
struct TlsStream(AsyncNetworkStream);

#[allow(deprecated)]
impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures::io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures::io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(from: &str) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: 25,
            security: SmtpSecurity::None,
            username: None,
            password: None,
            from: from.into(),
            pool_size: 2,
        }
    }

    #[test]
    fn a_from_address_that_does_not_parse_says_so() {
        let e = SmtpSender::new(&config("not an address")).err().unwrap();
        assert!(e.contains("not usable"), "{e}");
    }

    #[test]
    fn messages_are_multipart_with_a_message_id_from_the_outbox_row() {
        let sender = SmtpSender::new(&config("Rollcall <no-reply@clinic.example>")).unwrap();
        let msg = OutboxMessage {
            id: uuid::Uuid::now_v7(),
            org_id: uuid::Uuid::now_v7(),
            kind: "notice".into(),
            medium: "email".into(),
            recipient: "ana@example.com".into(),
            subject: "Hello".into(),
            body_text: "plain".into(),
            body_html: Some("<p>html</p>".into()),
            invitation_id: None,
            send_at: 0,
            created_at: 0,
        };
        let text = String::from_utf8(sender.compose(&msg).unwrap().formatted()).unwrap();
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(
            text.contains(&format!("Message-ID: <{}@clinic.example>", msg.id)),
            "{text}"
        );
        let bad = OutboxMessage {
            recipient: "nobody".into(),
            ..msg
        };
        assert!(sender.compose(&bad).unwrap_err().permanent);
    }
}
