//! Fault injection for the link between the bridge and the broker, with std threads only.
//!
//! [`Proxy`]: a TCP proxy on a free 127.0.0.1 port that forwards to a target port (the
//! broker's). The bridge connects to `proxy.port` instead of the broker's port:
//! - one-way latency per direction (`set_latency(up, down)`; up = bridge to broker): every
//!   chunk read is stamped with the time it may leave, and a writer thread per direction sends
//!   each chunk when it is due, so many chunks are in flight at once (the throughput is not one
//!   chunk per delay) and the order is kept;
//! - `freeze()` / `thaw()`: stop forwarding in both directions, sockets left open (a hung
//!   broker; while frozen nothing is read either, so the kernel buffers fill up as they would);
//! - `cut()`: close every current connection (both sides);
//! - `refuse(true)`: every new connection is closed at once, until `refuse(false)`: a test
//!   decides when the bridge may reconnect;
//! - counters: `accepted()` (connections forwarded, or attempted: the upstream connect may
//!   still fail), `refused()`, `upstream_failed()`, `active()`, bytes each way, and when each
//!   connection was accepted (`accepted_at()`: a fleet's connection rate).
//!
//! A connection whose other side closes is closed too, after the data still in flight was
//! delivered (a broker that dies behind the proxy looks dead to the bridge one latency later).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub struct Proxy {
    /// The port the bridge connects to.
    pub port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    target: AtomicU16,
    /// One-way latencies in nanoseconds: bridge to broker, broker to bridge.
    up_ns: AtomicU64,
    down_ns: AtomicU64,
    frozen: AtomicBool,
    refusing: AtomicBool,
    closed: AtomicBool,
    accepted: AtomicUsize,
    accepted_at: Mutex<Vec<Instant>>,
    refused: AtomicUsize,
    upstream_failed: AtomicUsize,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    conns: Mutex<Vec<Arc<Conn>>>,
}

/// One proxied connection: the bridge's socket and the broker's.
struct Conn {
    client: TcpStream,
    server: TcpStream,
    dead: AtomicBool,
}

impl Conn {
    fn kill(&self) {
        self.dead.store(true, SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }

    fn dead(&self) -> bool {
        self.dead.load(SeqCst)
    }
}

#[derive(Clone, Copy)]
enum Dir {
    Up,
    Down,
}

impl Proxy {
    /// A proxy to `127.0.0.1:<target>` without latency.
    pub fn start(target: u16) -> Proxy {
        Proxy::with_latency(target, Duration::ZERO)
    }

    /// A proxy with the same one-way latency both ways (RTT = 2 * `one_way`).
    pub fn with_latency(target: u16, one_way: Duration) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy: bind");
        let port = listener.local_addr().expect("proxy: addr").port();
        listener.set_nonblocking(true).expect("proxy: nonblocking");
        let shared = Arc::new(Shared {
            target: AtomicU16::new(target),
            up_ns: AtomicU64::new(one_way.as_nanos() as u64),
            down_ns: AtomicU64::new(one_way.as_nanos() as u64),
            frozen: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            accepted_at: Mutex::new(Vec::new()),
            refused: AtomicUsize::new(0),
            upstream_failed: AtomicUsize::new(0),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let acceptor = thread::Builder::new()
            .name(format!("proxy-accept-{port}"))
            .spawn(move || accept_loop(listener, s))
            .expect("proxy: thread");
        Proxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// One-way latencies: `up` bridge to broker, `down` broker to bridge (new data only).
    pub fn set_latency(&self, up: Duration, down: Duration) {
        self.shared.up_ns.store(up.as_nanos() as u64, SeqCst);
        self.shared.down_ns.store(down.as_nanos() as u64, SeqCst);
    }

    /// Where new connections go.
    pub fn set_target(&self, port: u16) {
        self.shared.target.store(port, SeqCst);
    }

    /// Stop forwarding both ways; sockets stay open (a hung broker).
    pub fn freeze(&self) {
        self.shared.frozen.store(true, SeqCst);
    }

    pub fn thaw(&self) {
        self.shared.frozen.store(false, SeqCst);
    }

    /// Closes every current connection, both sides.
    pub fn cut(&self) {
        let conns =
            std::mem::take(&mut *self.shared.conns.lock().unwrap_or_else(|p| p.into_inner()));
        for c in conns {
            c.kill();
        }
    }

    /// While set, new connections are closed as soon as they are accepted.
    pub fn refuse(&self, on: bool) {
        self.shared.refusing.store(on, SeqCst);
    }

    /// Connections accepted and forwarded (or attempted: see `upstream_failed`).
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(SeqCst)
    }

    /// When each forwarded connection was accepted.
    pub fn accepted_at(&self) -> Vec<Instant> {
        self.shared
            .accepted_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Connections closed at once because of `refuse(true)`.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(SeqCst)
    }

    /// Accepted connections whose connect to the target failed (then closed).
    pub fn upstream_failed(&self) -> usize {
        self.shared.upstream_failed.load(SeqCst)
    }

    /// Connections open now.
    pub fn active(&self) -> usize {
        let mut conns = self.shared.conns.lock().unwrap_or_else(|p| p.into_inner());
        conns.retain(|c| !c.dead());
        conns.len()
    }

    /// Bytes forwarded (bridge to broker, broker to bridge).
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.shared.bytes_up.load(SeqCst),
            self.shared.bytes_down.load(SeqCst),
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.closed.store(true, SeqCst);
        self.thaw();
        self.cut();
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn accept_loop(listener: TcpListener, s: Arc<Shared>) {
    while !s.closed.load(SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                if s.refusing.load(SeqCst) {
                    s.refused.fetch_add(1, SeqCst);
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                s.accepted.fetch_add(1, SeqCst);
                s.accepted_at
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Instant::now());
                let s2 = s.clone();
                let _ = thread::Builder::new()
                    .name("proxy-conn".into())
                    .spawn(move || open(client, s2));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Connects upstream and starts the four pumps of one connection.
fn open(client: TcpStream, s: Arc<Shared>) {
    let _ = client.set_nonblocking(false);
    let target = ("127.0.0.1", s.target.load(SeqCst));
    let server = match std::net::ToSocketAddrs::to_socket_addrs(&target)
        .ok()
        .and_then(|mut a| a.next())
        .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok())
    {
        Some(server) => server,
        None => {
            s.upstream_failed.fetch_add(1, SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let conn = match (client.try_clone(), server.try_clone()) {
        (Ok(c), Ok(sv)) => Arc::new(Conn {
            client: c,
            server: sv,
            dead: AtomicBool::new(false),
        }),
        _ => return,
    };
    if s.closed.load(SeqCst) {
        conn.kill();
        return;
    }
    s.conns
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(conn.clone());
    let (Ok(client_w), Ok(server_w)) = (client.try_clone(), server.try_clone()) else {
        conn.kill();
        return;
    };
    pump(client, server_w, Dir::Up, conn.clone(), s.clone());
    pump(server, client_w, Dir::Down, conn, s);
}

/// One direction: a reader that stamps chunks with the time they may leave, a writer that
/// sends them then.
fn pump(mut from: TcpStream, mut to: TcpStream, dir: Dir, conn: Arc<Conn>, s: Arc<Shared>) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let (rc, rs) = (conn.clone(), s.clone());
    let _ = thread::Builder::new()
        .name("proxy-read".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                while rs.frozen.load(SeqCst) && !rc.dead() {
                    thread::sleep(Duration::from_millis(2));
                }
                if rc.dead() {
                    break;
                }
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let ns = match dir {
                            Dir::Up => rs.up_ns.load(SeqCst),
                            Dir::Down => rs.down_ns.load(SeqCst),
                        };
                        let due = Instant::now() + Duration::from_nanos(ns);
                        if tx.send((due, buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                }
            }
            // Dropping `tx` tells the writer: deliver what is in flight, then close.
        });
    let _ = thread::Builder::new()
        .name("proxy-write".into())
        .spawn(move || {
            loop {
                let (due, data) = match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(c) => c,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if conn.dead() {
                            break;
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                let now = Instant::now();
                if due > now {
                    thread::sleep(due - now);
                }
                while s.frozen.load(SeqCst) && !conn.dead() {
                    thread::sleep(Duration::from_millis(2));
                }
                if conn.dead() || to.write_all(&data).is_err() {
                    break;
                }
                match dir {
                    Dir::Up => s.bytes_up.fetch_add(data.len() as u64, SeqCst),
                    Dir::Down => s.bytes_down.fetch_add(data.len() as u64, SeqCst),
                };
            }
            conn.kill();
        });
}
