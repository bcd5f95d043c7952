//! A real SMTP server (mailin-embedded, over TCP on a random loopback port) that keeps what it
//! receives, and an app over a fresh database with an organization and a pending invitation.

#![allow(dead_code)]

pub mod fixtures;

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mailin_embedded::response::{NO_MAILBOX, OK};
use mailin_embedded::{Handler, Response, Server, SslConfig};
use rollcall_app::audit::Meta;
use rollcall_app::config::{SmtpConfig, SmtpSecurity};
use rollcall_app::{App, Clock, Config};
use rollcall_store::invitations;
use rollcall_store::orgs::Organization;
use rollcall_store::outbox::OutboxMessage;
use rollcall_store::testing::TestDb;
use rollcall_store::{Sql, new_id};
use sqlx::Row;
use uuid::Uuid;

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA: headers and body, as sent.
    pub data: String,
}

pub struct SmtpServer {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

#[derive(Clone)]
struct Collect {
    all: Arc<Mutex<Vec<Received>>>,
    current: Option<Received>,
    refuse: Arc<Vec<String>>,
}

impl Handler for Collect {
    fn rcpt(&mut self, to: &str) -> Response {
        if self.refuse.iter().any(|r| r == to) {
            NO_MAILBOX
        } else {
            OK
        }
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received {
            from: from.to_string(),
            to: to.to_vec(),
            data: String::new(),
        });
        OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(m) = &mut self.current {
            m.data.push_str(&String::from_utf8_lossy(buf));
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(m) = self.current.take() {
            self.all.lock().unwrap().push(m);
        }
        OK
    }
}

impl SmtpServer {
    /// A server on a random port.
    pub fn start() -> SmtpServer {
        SmtpServer::serve(TcpListener::bind("127.0.0.1:0").unwrap(), Vec::new())
    }

    /// A server on a given port (e.g. one that was refusing connections until now).
    pub fn start_on(port: u16) -> SmtpServer {
        SmtpServer::serve(TcpListener::bind(("127.0.0.1", port)).unwrap(), Vec::new())
    }

    /// A server that offers STARTTLS with a self-signed certificate (for localhost and
    /// 127.0.0.1) that no client trusts.
    pub fn with_untrusted_tls() -> SmtpServer {
        // mailin-embedded asks rustls for the process's default provider; this build has two.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = std::env::temp_dir().join(format!("rollcall-smtp-tls-{}", new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, SELF_SIGNED_CERT).unwrap();
        std::fs::write(&key, SELF_SIGNED_KEY).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let mut server = Server::new(Collect {
            all: received.clone(),
            current: None,
            refuse: Arc::new(Vec::new()),
        });
        server
            .with_name("localhost")
            .with_ssl(SslConfig::SelfSigned {
                cert_path: cert.display().to_string(),
                key_path: key.display().to_string(),
            })
            .unwrap()
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpServer { port, received }
    }

    /// A server that answers 550 to RCPT TO for the given addresses.
    pub fn refusing(addresses: &[&str]) -> SmtpServer {
        SmtpServer::serve(
            TcpListener::bind("127.0.0.1:0").unwrap(),
            addresses.iter().map(|a| a.to_string()).collect(),
        )
    }

    fn serve(listener: TcpListener, refuse: Vec<String>) -> SmtpServer {
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let handler = Collect {
            all: received.clone(),
            current: None,
            refuse: Arc::new(refuse),
        };
        let mut server = Server::new(handler);
        server
            .with_name("smtp.test")
            .with_num_threads(32)
            .with_tcp_listener(listener);
        // The listener is bound already, so connections queue until the thread accepts them.
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpServer { port, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn smtp_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        username: None,
        password: None,
        from: "Rollcall <no-reply@rollcall.test>".into(),
        pool_size: 4,
    }
}

pub struct Harness {
    pub app: App,
    pub org: Organization,
    /// A pending invitation (the organization's admin, not yet set up) to link messages to.
    pub invitation_id: Uuid,
    pub db: TestDb,
}

/// An app over a fresh database, sending email to `smtp_port` (or to the local mailbox).
pub async fn harness(t: TestDb, smtp_port: Option<u16>) -> Harness {
    let mut config = Config::for_tests(t.url());
    config.smtp = smtp_port.map(smtp_config);
    let app = App::with_db(t.db.clone(), config, Clock::system());
    let meta = Meta::system("test");
    let org =
        rollcall_app::org::create_org(&app, "alpha", "Alpha Therapy", "America/Chicago", &meta)
            .await
            .unwrap();
    let operator = rollcall_app::Principal::operator(&app, org.id, "test")
        .await
        .unwrap();
    rollcall_app::org::create_location(&app, &operator, "Downtown", "DT", &meta)
        .await
        .unwrap();
    let (_, token) =
        rollcall_app::org::create_admin(&app, &org, "ana@alpha.example", "Ana", "Silva", &meta)
            .await
            .unwrap();
    let mut conn = app.db().read_conn().await.unwrap();
    let invitation = invitations::by_token_hash(&mut conn, &rollcall_app::secret::hash(&token))
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    Harness {
        app,
        org,
        invitation_id: invitation.id,
        db: t,
    }
}

impl Harness {
    /// An email for `to`, due now.
    pub fn message(&self, to: &str, invitation: Option<Uuid>) -> OutboxMessage {
        let now = self.app.clock.now();
        OutboxMessage {
            id: new_id(),
            org_id: self.org.id,
            kind: if invitation.is_some() {
                "invitation"
            } else {
                "notice"
            }
            .into(),
            medium: "email".into(),
            recipient: to.into(),
            subject: "You are invited to Alpha Therapy".into(),
            body_text: "Register here: http://rollcall.test/register/abc123\n".into(),
            body_html: Some(
                "<p>Register <a href=\"http://rollcall.test/register/abc123\">here</a>.</p>".into(),
            ),
            invitation_id: invitation,
            send_at: now,
            created_at: now,
        }
    }

    /// Queues messages in a transaction of their own, as a use case would.
    pub async fn enqueue(&self, msgs: &[OutboxMessage]) {
        let mut tx = self.app.db().begin().await.unwrap();
        rollcall_store::outbox::enqueue(&mut tx, msgs)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    /// The invitation's delivery record: (delivery_state, attempts, last_error, sent_at).
    pub async fn invitation_delivery(&self) -> (String, i64, Option<String>, Option<i64>) {
        let mut q = Sql::new(
            "SELECT delivery_state, attempts, last_error, sent_at FROM invitations WHERE id = ",
        );
        q.bind(self.invitation_id.to_string());
        let mut conn = self.app.db().read_conn().await.unwrap();
        let r = q.fetch_one(&mut conn).await.unwrap();
        (
            r.get::<String, _>(0),
            r.get::<i64, _>(1),
            r.get::<Option<String>, _>(2),
            r.get::<Option<i64>, _>(3),
        )
    }
}

/// A self-signed certificate for localhost and 127.0.0.1 (valid until 2125) and its key: test
/// material only.
const SELF_SIGNED_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIDJzCCAg+gAwIBAgIUfPBFrqpxmgQNpSCPY40eu9IkxUkwDQYJKoZIhvcNAQEL
BQAwFDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMjE4MDkxNloYDzIxMjYx
MDI5MTgwOTE2WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwggEiMA0GCSqGSIb3DQEB
AQUAA4IBDwAwggEKAoIBAQDJs9A2//oVUIYW/mY2ByNAQYXOAvcNEZEEVe7jzL5A
OtwB4dzNtpp89GuuQQ7DYEPz4hFfDHEJjMSzXeDLbPWkpLuSrANtRPINmykVc1D+
urKfrGf4aTPRkYtruXjxdHxGKgu25TlgjpddLqhO1RUezDzEEsicuGzt7T4Onzgw
AWAiagsP4lxeW5nk2KVlUA3sYZ8d8TqbQZ7hJV6bb7txq2BUdupMgZfWuAF72Ksu
jCuUmr3EOkGTbjIfv1G8XHVHPKsUFeygF+sgYDPYhyTuQ2EcndpIdlw6IC/37kH2
bvsifxOp6BdD8C82qjNzqrpmA6GJU2iyY28ZIlzWmtI7AgMBAAGjbzBtMB0GA1Ud
DgQWBBTrN0cXZ6GloJn/Cd8kh6W64jmDAjAfBgNVHSMEGDAWgBTrN0cXZ6GloJn/
Cd8kh6W64jmDAjAPBgNVHRMBAf8EBTADAQH/MBoGA1UdEQQTMBGCCWxvY2FsaG9z
dIcEfwAAATANBgkqhkiG9w0BAQsFAAOCAQEAh6DNXkhnreIeu2CeDPpRzloIc49g
y5Khil8kd/3ih60ba7MsIO69v5HOq1lFQqtdxWcL9xc1GdZANb2QpcOnpSxyorDT
0xRVHEj+16DOzM8wOxEXXS3bpnIMHh6UYqyxTelytUAYkeLD11BQ9fupTlsEugdC
ul4fDtMfYnJEtuu6nP1kfoAEQ7mClyCXjW6dRIKC8VX7vJ+xjhEPnMA+srbzJhAv
UVSBlLoB0/VD1GQ4TEYmjlLcaKmLoNCwovQwlox71ge3aX7/NWLUvYHZi4sQElRM
2F0YOcdk7RWKF2iwxfTAioHvCkiXrEOysrCWl1ehnIOisQCz4USmppzQPQ==
-----END CERTIFICATE-----\n";
const SELF_SIGNED_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIIEuwIBADANBgkqhkiG9w0BAQEFAASCBKUwggShAgEAAoIBAQDJs9A2//oVUIYW
/mY2ByNAQYXOAvcNEZEEVe7jzL5AOtwB4dzNtpp89GuuQQ7DYEPz4hFfDHEJjMSz
XeDLbPWkpLuSrANtRPINmykVc1D+urKfrGf4aTPRkYtruXjxdHxGKgu25Tlgjpdd
LqhO1RUezDzEEsicuGzt7T4OnzgwAWAiagsP4lxeW5nk2KVlUA3sYZ8d8TqbQZ7h
JV6bb7txq2BUdupMgZfWuAF72KsujCuUmr3EOkGTbjIfv1G8XHVHPKsUFeygF+sg
YDPYhyTuQ2EcndpIdlw6IC/37kH2bvsifxOp6BdD8C82qjNzqrpmA6GJU2iyY28Z
IlzWmtI7AgMBAAECggEACTHQtokhsdILYsXzC9h0c2vpORRqhaZ82Vk/fBPrwkrM
l6tfoOMHlNWhiP5/OUnMnzP5fb838esAVnrbkfpkEj7OLCf6OgNwE0206Dzq/sms
9dlqnejRy2ZamC0Kxdr9BUfKY+p8HJozbTSAyKMvBMnjpT6D9Zz0nj3327vHWGzK
2IImcfZB3jLxW0NsjoisZ2GfWTGhkAh7ZUQ76I2bMFk0l16y6+n0zrGOQ9QSf+lu
tX74AmLAlZyk8XI8tGxEYPKZl/qQexJUOxzePp82/KyDGIQgAt8dYHzNQBgISK3U
nwCPf4uWebCATRiwfja3bWqyKQ2nE236xlRrErmYNQKBgQD12YYnMk3jd/WBG6UR
8igWzOR1B++dKfkQAvxMMkKAjK9WGFM9S3+js0OabCT7KS+IP4lFA+1K5fusThQr
UeaSqyNuQMZfOw32pOThafvtml8kUMK3eLgS7+bjd58Ti320RAhnY/3tAcdtjryb
CEK7wg566qWlqVUW32cRre71dQKBgQDSB64flQaVZVKN/iJTJI7temd3DTmMgSzX
5caZQ0zfNavLzZLrdmn2e213GGnWU25+fdd1du1g5wL98vyV+JSUUC3BxG4Pwszq
49gYE9gSMMIx/zVdmGtcDCA2yaLTWoXhjfEf3EBIOe9YP5nTTBGFYI0zqpAaFvnY
3PSLB13C7wKBgFO15Gr2QvUgBHUYn6UzqhjRXTzIHfuKriaYjaW4O1KgFJehIr6t
NWHdCTjMd+8ZP/kJgUkBpEurcX1i/JUfhv4Lzb2dyq3kYsXHsbNbLg/iT2EDKrnk
HfE8xIZRVdYG2h+GRsJFltGbmHcice/r6SUbV2jc+tgkhzeJjAPGEKZ9An9aPvKS
n3Y0u1S9rnURRKQlZnMOtKAFv3uFSTYMpN5jCqzG5Y47nqXpQx/GDLdtYGwZ7fim
gHN/L8QZWk8uIaG2GL2QhNbF7u4d/8jaj6xIJKtM0Fwd22BGLO+qmvlb14mvYU46
Ymk8n6g4QxvVrtnYdaQ2jxNcIoM4q7hoBMJFAoGBAORtmeRzIVc/3MYXqLW8nPA/
Sv9Tt93W+LnGKxmUHodbq4F3hrpTdRz3xleD9NG5D0aR7c84nqSksAezpSVAMbeL
XXnZQ75fx3PIibYVjUuc7H/aiLIe7NiM0KccT9TlYj/FRXbKofI79+exgZnOx3mf
58KyedhLPrDv5RG743HO
-----END PRIVATE KEY-----\n";
