//! A byte-counting TCP proxy to a local registry for the fault tests: it
//! can stall or cut a connection after N response bytes, and logs, strips or
//! spoils requests' `Range` headers.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a proxy does once a connection has carried `limit` response bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Stop forwarding but keep the connection open.
    Stall,
    /// Close the connection.
    Cut,
}

/// A TCP proxy to a local port that counts response bytes and can inject
/// a fault per connection. Stops (and releases stalled connections) on drop.
pub struct Proxy {
    pub port: u16,
    pub bytes: Arc<AtomicU64>,
    pub fault: Arc<Mutex<Option<(u64, Fault)>>>,
    /// Rename requests' `Range` headers, so the registry answers 200 with
    /// the whole blob (a registry without range support).
    pub strip_range: Arc<AtomicBool>,
    /// Make ranges other than `bytes=0-` unsatisfiable (the registry then
    /// answers 416).
    pub spoil_range: Arc<AtomicBool>,
    /// Range headers seen in requests (before any stripping).
    pub ranges: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy {
            port,
            bytes: Arc::default(),
            fault: Arc::default(),
            strip_range: Arc::default(),
            spoil_range: Arc::default(),
            ranges: Arc::default(),
            stop: Arc::default(),
        };
        let (bytes, fault, stop) = (proxy.bytes.clone(), proxy.fault.clone(), proxy.stop.clone());
        let (strip, ranges) = (proxy.strip_range.clone(), proxy.ranges.clone());
        let spoil = proxy.spoil_range.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let limit = *fault.lock().unwrap();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (strip, ranges, spoil) = (strip.clone(), ranges.clone(), spoil.clone());
                std::thread::spawn(move || requests(c2, s2, &strip, &spoil, &ranges));
                let (bytes, stop) = (bytes.clone(), stop.clone());
                std::thread::spawn(move || pipe(server, client, Some(&bytes), limit, Some(&stop)));
            }
        });
        proxy
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies requests client → server, noting `Range` headers and renaming
/// them when `strip` is set (headers arrive whole in one read here: the
/// requests are small).
fn requests(
    mut from: TcpStream,
    mut to: TcpStream,
    strip: &AtomicBool,
    spoil: &AtomicBool,
    ranges: &Mutex<Vec<String>>,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut data = buf[..n].to_vec();
        let text = String::from_utf8_lossy(&data).into_owned();
        for line in text.split("\r\n") {
            if line.len() > 6 && line[..6].eq_ignore_ascii_case("range:") {
                ranges.lock().unwrap().push(line[6..].trim().to_string());
            }
        }
        if spoil.load(Ordering::SeqCst) {
            let mut spoiled = String::new();
            for line in text.split_inclusive("\r\n") {
                if line.len() > 6
                    && line[..6].eq_ignore_ascii_case("range:")
                    && line[6..].trim() != "bytes=0-"
                {
                    spoiled += "range: bytes=999999999-\r\n";
                } else {
                    spoiled += line;
                }
            }
            data = spoiled.into_bytes();
        }
        if strip.load(Ordering::SeqCst) {
            for i in 0..data.len().saturating_sub(8) {
                if data[i..i + 2] == *b"\r\n" && data[i + 2..i + 8].eq_ignore_ascii_case(b"range:")
                {
                    data[i + 2..i + 8].copy_from_slice(b"x-nop:");
                }
            }
        }
        if to.write_all(&data).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// Copies `from` → `to`, counting bytes and applying `fault` after `limit`.
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    counter: Option<&AtomicU64>,
    fault: Option<(u64, Fault)>,
    stop: Option<&AtomicBool>,
) {
    let mut buf = [0u8; 16 * 1024];
    let mut sent: u64 = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut n = n;
        if let Some((limit, kind)) = fault
            && sent + n as u64 > limit
        {
            n = (limit - sent) as usize;
            let _ = to.write_all(&buf[..n]);
            if kind == Fault::Stall {
                // Bounded: the test's stall timeout is seconds.
                for _ in 0..600 {
                    if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
        if let Some(c) = counter {
            c.fetch_add(n as u64, Ordering::SeqCst);
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
