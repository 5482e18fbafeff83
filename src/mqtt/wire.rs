//! The connection's write side, shared by rumqttc and the spin thread.
//!
//! Handing each message from the spin thread to the link's thread costs a wake-up of that
//! thread per message, and on a VM that costs more than converting the message. So while the
//! link has nothing of ours waiting anywhere (connected, nothing queued, nothing that rumqttc
//! still has to write), it opens the wire, and the spin thread writes QoS 0 and QoS 1
//! publishes into the socket itself, a spin's worth in one write after the spin. Its QoS 1
//! publishes carry packet ids above rumqttc's range, and their PUBACKs are taken out of the
//! broker's bytes before rumqttc reads them ([`super::acks`]); until then they wait here,
//! and if their connection ends they go back to the link, which sends them again. Anything
//! else (QoS 2, big payloads, more than 5k a second, too many unacknowledged), or a write
//! that the socket does not take whole, closes the wire, and what follows goes the usual
//! way, behind what went before: a stream keeps its order. The link opens it again once it
//! has caught up.
//!
//! Both writers put whole packets on the wire: a write that the socket takes only in part
//! leaves the rest in `pending`, and everything waits behind it. rumqttc's stream
//! ([`WireStream`]) writes `pending` out first, also from its reads, which the event loop
//! always has waiting while connected (the spin thread wakes that read after a short write).
//!
//! rumqttc gets the stream through a hook on every new plain TCP connection
//! (`third_party/rumqttc/PATCH.md`). Over TLS the hook is never called and the wire stays
//! closed.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::acks::{AckFilter, FIRST_DIRECT_PKID};
use super::Outbound;
use crate::diagnostics::Stats;

/// Bigger publishes go through rumqttc (which checks its packet size bound).
const MAX_DIRECT: usize = 64 * 1024;
/// Above [`BUSY_MESSAGES`] direct writes within [`BUSY_WINDOW`] (5k msg/s), the wire closes
/// for the rest of the window. A write per message is cheaper than a wake-up per message,
/// but at tens of thousands a second the link's thread writes what queued meanwhile in one
/// go, beside the spin thread, and that keeps up where one write each does not (measured:
/// 97 % of 44k msg/s delivered with every message written by the spin thread, against
/// 100 % of 46k handed over).
const BUSY_WINDOW: Duration = Duration::from_millis(100);
const BUSY_MESSAGES: u32 = 500;
/// QoS 1 publishes of the spin thread's that wait for their PUBACK, at most (a broker that
/// stopped acknowledging gets the rest through rumqttc, which stops at its own bound).
const MAX_UNACKED: usize = 256;
const MAX_UNACKED_BYTES: usize = 4 * 1024 * 1024;
/// What one read of the socket takes at most.
const READ_CHUNK: usize = 8 * 1024;

/// The shared write side; cloning shares it.
#[derive(Clone)]
pub struct Wire {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// `state.open`, readable without the lock.
    open: AtomicBool,
    stats: Arc<Stats>,
}

#[derive(Default)]
struct State {
    /// The current connection's socket: rumqttc's stream owns it, gone with it.
    socket: Weak<TcpStream>,
    /// Taken but not written yet: written before anything else.
    pending: Vec<u8>,
    /// Whether the spin thread may write.
    open: bool,
    /// rumqttc's waiting read, which writes `pending` out.
    reader: Option<Waker>,
    /// The spin thread's packets since its last write (one spin's worth).
    spin: Vec<u8>,
    /// The QoS 0 publishes among them (lost, and counted, if they cannot be written).
    spin_qos0: u64,
    /// The spin thread's QoS 1 publishes on this connection without a PUBACK yet, in the
    /// order written, and their payloads' bytes.
    unacked: VecDeque<(u16, Outbound)>,
    unacked_bytes: usize,
    /// The packet id given out last.
    last_pkid: u16,
    /// What was unacknowledged when its connection ended: for the link to send again.
    lost: Vec<Outbound>,
    /// The current window of [`BUSY_WINDOW`]: its start and its direct writes so far.
    window: Option<(Instant, u32)>,
    /// The wire stays closed until then (the window was busy).
    closed_until: Option<Instant>,
}

/// The wire, locked: see [`WireGuard::publish`].
pub struct WireGuard<'a> {
    state: MutexGuard<'a, State>,
    shared: &'a Shared,
}

impl Wire {
    pub fn new(stats: Arc<Stats>) -> Wire {
        Wire {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                open: AtomicBool::new(false),
                stats,
            }),
        }
    }

    /// Holds the wire: the caller decides between writing and queueing under it, so that the
    /// link cannot open the wire in between (see [`Wire::open`]).
    pub fn lock(&self) -> WireGuard<'_> {
        WireGuard {
            state: self.shared.lock(),
            shared: &self.shared,
        }
    }

    pub fn is_open(&self) -> bool {
        self.shared.open.load(Ordering::Acquire)
    }

    /// Opens the wire to the spin thread if a connection is up, nothing is left to write, and
    /// `caught_up()` (checked under the lock: nothing of the spin thread's waits in between).
    pub fn open(&self, caught_up: impl FnOnce() -> bool) {
        let mut s = self.shared.lock();
        let busy = s.closed_until.is_some_and(|t| Instant::now() < t);
        if !s.open && !busy && s.pending.is_empty() && s.socket.strong_count() > 0 && caught_up() {
            self.shared.set_open(&mut s, true);
        }
    }

    /// Closes the wire: the spin thread's sends go through the link again.
    pub fn close(&self) {
        self.shared.lock().close(&self.shared);
    }

    /// Writes what the spin thread took since the last call, in one write: the spin thread
    /// calls it after each spin (after ringing for the link, which works meanwhile). What the
    /// socket does not take at once waits in `pending`, and the wire closes.
    pub fn flush(&self) {
        let mut guard = self.shared.lock();
        let s = &mut *guard;
        if s.spin.is_empty() {
            return;
        }
        let Some(io) = s.socket.upgrade() else {
            // Gone with the connection, like what rumqttc had not written yet; counted.
            s.drop_spin(&self.shared);
            return;
        };
        if !s.pending.is_empty() {
            // rumqttc found the socket full meanwhile: behind its bytes.
            s.close(&self.shared);
            return;
        }
        match io.try_write(&s.spin) {
            Ok(n) if n == s.spin.len() => {
                s.spin.clear();
                s.spin_qos0 = 0;
            }
            Ok(n) => {
                s.spin.drain(..n);
                s.close(&self.shared);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => s.close(&self.shared),
            // Broken: the link sees it and drops the connection; these are lost with it.
            Err(_) => {
                s.drop_spin(&self.shared);
                s.close(&self.shared);
            }
        }
    }

    /// The spin thread's QoS 1 publishes on the current connection without a PUBACK yet.
    pub fn unacked(&self) -> usize {
        self.shared.lock().unacked.len()
    }

    /// The spin thread's QoS 1 publishes whose connection ended before their PUBACK came,
    /// oldest first: the link sends them again.
    pub fn take_lost(&self) -> Vec<Outbound> {
        std::mem::take(&mut self.shared.lock().lost)
    }

    /// The stream for rumqttc on a new connection (the hook of the patched rumqttc).
    pub fn hook(&self) -> rumqttc::TcpStreamHook {
        let shared = self.shared.clone();
        Arc::new(move |tcp| {
            let io = Arc::new(tcp);
            shared.lock().attach(&shared, Arc::downgrade(&io));
            Box::new(WireStream {
                io,
                shared: shared.clone(),
                acks: AckFilter::default(),
            })
        })
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state whole; a panic ends the process anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_open(&self, s: &mut State, open: bool) {
        s.open = open;
        self.open.store(open, Ordering::Release);
    }
}

impl State {
    /// The wire on a new connection's socket, or on none: closed, nothing of the one before
    /// left to write, what it did not acknowledge kept for the link.
    fn attach(&mut self, shared: &Shared, socket: Weak<TcpStream>) {
        shared.set_open(self, false);
        self.socket = socket;
        self.pending.clear();
        self.drop_spin(shared);
        self.reader = None;
        self.lost.extend(self.unacked.drain(..).map(|(_, m)| m));
        self.unacked_bytes = 0;
    }

    /// The spin thread's unwritten packets, lost with their connection: the QoS 0 ones are
    /// counted (the QoS 1 ones wait for their PUBACK, and go again without it).
    fn drop_spin(&mut self, shared: &Shared) {
        let lost = std::mem::take(&mut self.spin_qos0);
        self.spin.clear();
        shared
            .stats
            .outbound_dropped
            .fetch_add(lost, Ordering::Relaxed);
    }

    /// Closes the wire. What the spin thread took and did not write yet goes before anything
    /// written after it; rumqttc's stream writes it (its read is woken for that).
    fn close(&mut self, shared: &Shared) {
        shared.set_open(self, false);
        if self.spin.is_empty() {
            return;
        }
        self.pending.append(&mut self.spin);
        self.spin_qos0 = 0;
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    /// Counts a direct write made at `now`: true if the window has had too many (then the
    /// wire stays closed until the window ends).
    fn busy(&mut self, now: Instant) -> bool {
        let (start, n) = match self.window {
            Some((start, n)) if now.saturating_duration_since(start) < BUSY_WINDOW => (start, n),
            _ => (now, 0),
        };
        self.window = Some((start, n + 1));
        if n + 1 > BUSY_MESSAGES {
            self.closed_until = Some(start + BUSY_WINDOW);
            return true;
        }
        false
    }

    /// The packet id for the next QoS 1 publish of `size` bytes, if one may wait for its
    /// PUBACK now.
    fn next_pkid(&self, size: usize) -> Option<u16> {
        let next = match self.last_pkid {
            p if p < FIRST_DIRECT_PKID || p == u16::MAX => FIRST_DIRECT_PKID,
            p => p + 1,
        };
        // Ids go round in order, so only the oldest unacknowledged can be the next one.
        let free = self.unacked.front().is_none_or(|(p, _)| *p != next);
        let room =
            self.unacked.len() < MAX_UNACKED && self.unacked_bytes + size <= MAX_UNACKED_BYTES;
        (free && room).then_some(next)
    }

    /// The broker acknowledged these publishes (in order, normally: found at the front).
    fn ack(&mut self, pkids: &[u16]) {
        for &pkid in pkids {
            let i = self.unacked.iter().position(|(p, _)| *p == pkid);
            if let Some((_, m)) = i.and_then(|i| self.unacked.remove(i)) {
                self.unacked_bytes -= m.payload.len();
            }
        }
    }
}

impl WireGuard<'_> {
    /// Takes `m` for the spin thread's next write ([`Wire::flush`]) if the wire is open and
    /// `m` may go this way; gives it back if it must go the usual way (the wire is closed
    /// then, so what follows goes that way too).
    pub fn publish(&mut self, m: Outbound) -> Result<(), Outbound> {
        let s = &mut *self.state;
        if !s.open {
            return Err(m);
        }
        let size = m.payload.len();
        let fits = size <= MAX_DIRECT && m.topic.len() <= usize::from(u16::MAX);
        let pkid = match m.qos.0 {
            0 => Some(None),
            1 => s.next_pkid(size).map(Some),
            _ => None,
        };
        let (true, Some(pkid)) = (fits, pkid) else {
            s.close(self.shared);
            return Err(m);
        };
        if s.busy(m.since) {
            s.close(self.shared);
            return Err(m);
        }
        encode_head(&mut s.spin, &m, pkid);
        s.spin.extend_from_slice(&m.payload);
        let stats = &self.shared.stats;
        stats.direct.fetch_add(1, Ordering::Relaxed);
        stats.latency(m.since.elapsed());
        match pkid {
            None => s.spin_qos0 += 1,
            Some(p) => {
                s.last_pkid = p;
                s.unacked_bytes += size;
                s.unacked.push_back((p, m));
            }
        }
        Ok(())
    }
}

/// The fixed header, remaining length, topic and packet id (QoS 1 if there is one, else
/// QoS 0) of a PUBLISH (MQTT 3.1.1, 3.3). Appended to `head`.
fn encode_head(head: &mut Vec<u8>, m: &Outbound, pkid: Option<u16>) {
    let qos = if pkid.is_some() { 0x02 } else { 0 };
    head.push(0x30 | qos | u8::from(m.retain));
    let id_len = if pkid.is_some() { 2 } else { 0 };
    let mut len = 2 + m.topic.len() + id_len + m.payload.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        head.push(byte);
        if len == 0 {
            break;
        }
    }
    head.extend_from_slice(&(m.topic.len() as u16).to_be_bytes());
    head.extend_from_slice(m.topic.as_bytes());
    if let Some(p) = pkid {
        head.extend_from_slice(&p.to_be_bytes());
    }
}

/// The connection as rumqttc sees it: reads from the socket without the spin thread's
/// PUBACKs; writes behind `pending`, taken whole (so that no publish of the spin thread's can
/// come into the middle of a packet).
struct WireStream {
    io: Arc<TcpStream>,
    shared: Arc<Shared>,
    acks: AckFilter,
}

impl WireStream {
    /// Writes `pending` out: Ready once it is empty.
    fn poll_pending(&self, cx: &mut Context<'_>, s: &mut State) -> Poll<io::Result<()>> {
        while !s.pending.is_empty() {
            match self.io.try_write(&s.pending) {
                Ok(n) => {
                    s.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.io.poll_write_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for WireStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Not while the spin thread writes: it wakes this read if it leaves anything pending
        // (the waker of this task, from an earlier read), and reads never wait for it.
        if let Ok(mut s) = this.shared.state.try_lock() {
            if !s.reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                s.reader = Some(cx.waker().clone());
            }
            // Waiting for the socket to take it is not a reason not to read.
            if let Poll::Ready(Err(e)) = this.poll_pending(cx, &mut s) {
                return Poll::Ready(Err(e));
            }
        }
        let mut acked = Vec::new();
        loop {
            let want = buf.remaining().min(this.acks.held());
            let n = this.acks.take(buf.initialize_unfilled_to(want), &mut acked);
            if !acked.is_empty() {
                this.shared.lock().ack(&acked);
                acked.clear();
            }
            if n > 0 || buf.remaining() == 0 {
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            ready!(this.io.poll_read_ready(cx))?;
            match this.acks.read_with(READ_CHUNK, |b| this.io.try_read(b)) {
                // The end: nothing more to give.
                Ok(0) => return Poll::Ready(Ok(())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for WireStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = self.shared.lock();
        ready!(self.poll_pending(cx, &mut s))?;
        match self.io.try_write(buf) {
            Ok(n) => {
                s.pending.extend_from_slice(&buf[n..]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => s.pending.extend_from_slice(buf),
            Err(e) => return Poll::Ready(Err(e)),
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.shared.lock();
        self.poll_pending(cx, &mut s)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The socket closes when the stream is dropped.
        self.poll_flush(cx)
    }
}

impl Drop for WireStream {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        if std::ptr::eq(s.socket.as_ptr(), Arc::as_ptr(&self.io)) {
            s.attach(&self.shared, Weak::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Qos;

    fn msg(topic: &str, payload: &[u8], retain: bool) -> Outbound {
        Outbound::new(Arc::from(topic), Qos(0), retain, payload.to_vec())
    }

    #[test]
    fn the_head_is_a_qos0_publish_header() {
        let mut head = Vec::new();
        encode_head(&mut head, &msg("a/b", b"xyz", false), None);
        assert_eq!(head, [0x30, 8, 0, 3, b'a', b'/', b'b']);
        head.clear();
        encode_head(&mut head, &msg("t", &[0; 200], true), None);
        // 2 + 1 + 200 = 203: two bytes of remaining length, low 7 bits first.
        assert_eq!(head, [0x31, 0xcb, 0x01, 0, 1, b't']);
    }

    /// A wire on a real loopback connection: rumqttc's stream, and the broker's end.
    async fn connected(stats: Arc<Stats>) -> (Wire, Box<dyn rumqttc::AsyncReadWrite>, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (broker, _) = listener.accept().await.expect("accept");
        let wire = Wire::new(stats);
        let stream = (wire.hook())(client);
        (wire, stream, broker)
    }

    #[tokio::test]
    async fn a_closed_wire_takes_nothing() {
        let wire = Wire::new(Arc::new(Stats::default()));
        wire.open(|| true);
        assert!(!wire.is_open(), "no connection, no opening");
        assert!(wire.lock().publish(msg("t", b"x", false)).is_err());
    }

    /// A QoS 1 publish of the spin thread's waits for its PUBACK, which rumqttc never reads;
    /// rumqttc's own acknowledgements pass. Unacknowledged when the connection ends, it is
    /// kept for the link to send again.
    #[tokio::test]
    async fn qos1_waits_for_its_puback_which_rumqttc_never_sees() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (wire, mut stream, mut broker) = connected(Arc::new(Stats::default())).await;
        let publish = |body: &str| {
            wire.open(|| true);
            let m = Outbound::new(Arc::from("s/p"), Qos(1), true, body.as_bytes().to_vec());
            assert!(wire.lock().publish(m).is_ok(), "the wire takes QoS 1");
            wire.flush();
        };
        publish("one");
        let mut packet = [0; 2 + 2 + 3 + 2 + 3];
        broker.read_exact(&mut packet).await.expect("read");
        assert_eq!(
            packet[..7],
            [0x33, 10, 0, 3, b's', b'/', b'p'],
            "QoS 1, retained"
        );
        let pkid = u16::from_be_bytes([packet[7], packet[8]]);
        assert!(pkid >= FIRST_DIRECT_PKID, "above rumqttc's ids: {pkid}");
        assert_eq!(&packet[9..], b"one");
        assert_eq!(wire.unacked(), 1);
        // The broker acknowledges it, and a publish of rumqttc's (id 7).
        let [hi, lo] = pkid.to_be_bytes();
        broker
            .write_all(&[0x40, 2, hi, lo, 0x40, 2, 0, 7])
            .await
            .expect("write");
        let mut got = [0; 16];
        let n = stream.read(&mut got).await.expect("read");
        assert_eq!(got[..n], [0x40, 2, 0, 7], "only rumqttc's own");
        assert_eq!(wire.unacked(), 0, "acknowledged");
        publish("two");
        assert_eq!(wire.unacked(), 1);
        drop(stream);
        let lost = wire.take_lost();
        assert_eq!(lost.len(), 1, "kept for the link");
        assert_eq!(lost[0].payload, "two".as_bytes());
        assert_eq!(wire.unacked(), 0);
    }

    /// Splits `bytes` into QoS 0 publishes (as `encode_head` writes them): topic, payload.
    fn parse_publishes(mut bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut got = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0] & 0xf0, 0x30, "a publish starts every packet");
            let (mut len, mut at) = (0usize, 1);
            loop {
                let b = bytes[at];
                len |= usize::from(b & 0x7f) << (7 * (at - 1));
                at += 1;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let body = &bytes[at..at + len];
            let tlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
            let topic = String::from_utf8(body[2..2 + tlen].to_vec()).expect("topic");
            got.push((topic, body[2 + tlen..].to_vec()));
            bytes = &bytes[at + len..];
        }
        got
    }

    /// Both writers fill a socket that nobody reads: every packet still arrives whole, and in
    /// the order in which each writer's call returned.
    #[tokio::test]
    async fn a_full_socket_never_splits_a_packet() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stats = Arc::new(Stats::default());
        let (wire, mut stream, mut peer) = connected(stats.clone()).await;
        let payload = vec![b'p'; 50_000];
        let mut expected = Vec::new();
        // The spin thread's side: until the socket is full and the wire closes.
        for i in 0.. {
            wire.open(|| true);
            if !wire.is_open() {
                break;
            }
            let topic = format!("direct/{i}");
            if wire.lock().publish(msg(&topic, &payload, false)).is_err() {
                break;
            }
            expected.push(topic);
            wire.flush();
            assert!(i < 10_000, "a socket that nobody reads fills up");
        }
        assert!(!wire.is_open(), "a full socket closes the wire");
        assert!(
            !wire.shared.lock().pending.is_empty(),
            "what the socket did not take waits (the case under test)"
        );
        // The broker reads a little: the socket has room again while the rest of a packet is
        // still pending. rumqttc's own packet must go behind that rest.
        let mut bytes = vec![0; 256 * 1024];
        peer.read_exact(&mut bytes).await.expect("read");
        let mut own = Vec::new();
        encode_head(&mut own, &msg("rumqttc", b"own", false), None);
        own.extend_from_slice(b"own");
        let write = async move {
            stream.write_all(&own).await.expect("write");
            stream.flush().await.expect("flush");
            // Closes the socket: the reader sees the end.
        };
        let mut rest = Vec::new();
        let ((), read) = tokio::join!(write, peer.read_to_end(&mut rest));
        read.expect("read to the end");
        bytes.extend_from_slice(&rest);
        let got = parse_publishes(&bytes);
        let topics: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        expected.push("rumqttc".into());
        assert_eq!(topics, expected);
        assert!(got[..got.len() - 1].iter().all(|(_, p)| *p == payload));
        assert_eq!(got[got.len() - 1].1, b"own");
        let direct = stats.direct.load(Ordering::Relaxed);
        assert_eq!(
            direct as usize,
            expected.len() - 1,
            "each direct write counted"
        );
        wire.open(|| true);
        assert!(
            !wire.is_open(),
            "the connection gone, the wire stays closed"
        );
    }
}
