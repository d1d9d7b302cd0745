//! A minimal token service for docker-registry's `auth: token` mode, so the
//! Bearer flow runs for real: the registry answers 401 with a
//! `WWW-Authenticate: Bearer realm=…` challenge, the client asks this server
//! for a token (with Basic credentials), and presents the ES256 JWT it gets.
//! Only `USER`/`PASSWORD` get a token; it grants the scope's actions. The
//! OAuth2 refresh-token flow works too: `POST grant_type=refresh_token` with
//! `REFRESH_TOKEN` (form body), or, when POST support is switched off (the
//! server then answers 405 like registries without it), a GET with the
//! refresh token as Basic password. Every request is logged.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::SigningKey as _;

use super::{PASSWORD, USER};

pub const SERVICE: &str = "cradle-test-registry";
pub const ISSUER: &str = "cradle-test-issuer";
/// The identity (refresh) token the server accepts.
pub const REFRESH_TOKEN: &str = "refresh-0123456789";

/// Signs tokens; serves them until dropped.
pub struct TokenServer {
    pub port: u16,
    key: Arc<rcgen::KeyPair>,
    cert_der: Arc<Vec<u8>>,
    stop: Arc<AtomicBool>,
    /// Answer refresh-token POSTs (else 405).
    pub post_supported: Arc<AtomicBool>,
    /// `"<METHOD> <what was presented>"` per request, e.g.
    /// `POST refresh_token`, `GET basic`, `GET none`.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl TokenServer {
    /// Starts the server; writes the signing certificate (the registry's
    /// `rootcertbundle`) to `bundle`.
    pub fn start(bundle: &Path) -> TokenServer {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "cradle token signer");
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(bundle, cert.pem()).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = TokenServer {
            port: listener.local_addr().unwrap().port(),
            key: Arc::new(key),
            cert_der: Arc::new(cert.der().to_vec()),
            stop: Arc::default(),
            post_supported: Arc::new(AtomicBool::new(true)),
            log: Arc::default(),
        };
        let (key, cert_der, stop) = (
            server.key.clone(),
            server.cert_der.clone(),
            server.stop.clone(),
        );
        let (post, log) = (server.post_supported.clone(), server.log.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let _ = serve(conn, &key, &cert_der, &post, &log);
                }
            }
        });
        server
    }

    /// A token for `scope` (`repository:NAME:ACTIONS`), as the service issues.
    pub fn token(&self, scope: &str) -> String {
        sign(&self.key, &self.cert_der, scope)
    }

    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    conn: TcpStream,
    key: &rcgen::KeyPair,
    cert_der: &[u8],
    post_supported: &AtomicBool,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut basic = None;
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("authorization")
                && let Some(b64) = value.trim().strip_prefix("Basic ")
            {
                basic = Some(b64.to_string());
            }
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; content_length.min(64 << 10)];
    std::io::Read::read_exact(&mut reader, &mut body)?;
    let method = request_line.split(' ').next().unwrap_or("").to_string();
    let path = request_line.split(' ').nth(1).unwrap_or("");
    let query = path.split_once('?').map(|(_, q)| q).unwrap_or("");
    let param = |text: &str, name: &str| {
        text.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(percent_decode)
    };
    let (authorized, scope, entry) = if method == "POST" {
        let form = String::from_utf8_lossy(&body).into_owned();
        let ok = post_supported.load(Ordering::SeqCst)
            && param(&form, "grant_type").as_deref() == Some("refresh_token")
            && param(&form, "refresh_token").as_deref() == Some(REFRESH_TOKEN)
            && param(&form, "client_id").is_some_and(|c| !c.is_empty());
        let entry = format!("POST {}", param(&form, "grant_type").unwrap_or_default());
        (ok, param(&form, "scope").unwrap_or_default(), entry)
    } else {
        let ok = basic.as_deref().is_some_and(|b64| {
            b64 == STANDARD.encode(format!("{USER}:{PASSWORD}"))
                || b64 == STANDARD.encode(format!("<token>:{REFRESH_TOKEN}"))
        });
        let entry = format!("GET {}", if basic.is_some() { "basic" } else { "none" });
        (ok, param(query, "scope").unwrap_or_default(), entry)
    };
    log.lock().unwrap().push(entry);
    let (status, body) = if method == "POST" && !post_supported.load(Ordering::SeqCst) {
        ("405 Method Not Allowed", String::new())
    } else if authorized {
        let token = sign(key, cert_der, &scope);
        (
            "200 OK",
            serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
                .to_string(),
        )
    } else {
        (
            "401 Unauthorized",
            r#"{"details":"bad credentials"}"#.to_string(),
        )
    };
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An ES256 JWT granting `scope`'s actions, with the signer's certificate in
/// `x5c` (which the registry checks against its `rootcertbundle`).
fn sign(key: &rcgen::KeyPair, cert_der: &[u8], scope: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let access: Vec<serde_json::Value> = scope
        .split(' ')
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({"type": kind, "name": name,
                "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let header =
        serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [STANDARD.encode(cert_der)]});
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": USER, "aud": SERVICE,
        "exp": now + 300, "nbf": now - 10, "iat": now - 10,
        "jti": format!("{now}-{}", rand_suffix()), "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let der = key.sign(signing_input.as_bytes()).unwrap();
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(der_to_raw(&der))
    )
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// An ASN.1 `SEQUENCE { INTEGER r, INTEGER s }` → the 64-byte `r || s` JWS
/// wants.
fn der_to_raw(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30, "not a DER sequence");
    let mut i = if der[1] & 0x80 != 0 {
        2 + (der[1] & 0x7f) as usize
    } else {
        2
    };
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02, "not a DER integer");
        let len = der[i + 1] as usize;
        let int = &der[i + 2..i + 2 + len];
        let int = &int[int.len().saturating_sub(32)..];
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    out
}
