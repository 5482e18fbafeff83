//! The MQTT link: one task that owns rumqttc's event loop and writes every packet of ours
//! itself, in batches.
//!
//! rumqttc's own request channel writes one request and flushes, one by one (rumqtt #810):
//! a write to the socket, a TLS record and a wake-up of the broker for every message. The
//! link drives rumqttc's state machine through its public API instead: each publish goes
//! through `MqttState::handle_outgoing_packet` (rumqttc gives the packet id, keeps the
//! message until it is acknowledged, holds it back on an id collision), is encoded into the
//! connection's buffer by rumqttc's `Network::write`, and the whole batch gets one `flush`.
//! So plain TCP and TLS take the same path, rumqttc owns every packet id, and its `inflight`
//! is the bound on what the broker has not acknowledged.
//!
//! rumqttc's `poll` still does the rest: connecting, reading, acknowledging, pinging. A poll
//! future dropped half way through a connect loses it (a broker tens of milliseconds away
//! would never be reached while messages keep coming), so a poll that connects is kept until
//! it completes. A poll on an established connection is cut short when messages come to be
//! written: then it only waits on the socket or a timer. Its reads keep partial packets in
//! their buffer; its flushes keep the unwritten bytes; and the acknowledgements and pings it
//! writes are encoded before any wait, since the connection's buffer is always below the
//! encoder's backpressure mark when a poll starts (the link's own flush has completed, or
//! its failure has dropped the connection).
//!
//! With a durable offline store (`spool`), what waits for the broker waits on disk, and the
//! store's answers come into the same select loop; several broker addresses (`failover`)
//! are tried in turn, the options made anew for each.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{
    ConnectionError, Disconnect, Event, EventLoop, MqttState, Packet, Publish, Request, StateError,
    Subscribe, SubscribeFilter,
};
use tokio::sync::mpsc;

use super::failover::{Address, Failover};
use super::offline_queue::Pushed;
use super::options::{self, LinkSettings, INFLIGHT, MAX_IN_FLIGHT_BYTES};
use super::session::Session;
use super::spool::Spool;
use super::store::StoreEvent;
use super::{qos, Dispatch, Inbound, LinkEvent, MqttError, Outbound, OutboxRx};
use crate::diagnostics::Stats;
use crate::envelope::{self, Presence as State};
use crate::shutdown::Shutdown;

/// How long a shutdown may take to hand over what is left and say `offline`.
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// How long a shutdown may then take to put what is still unacknowledged on disk.
const STORE_TIME: Duration = Duration::from_secs(1);
/// What one write takes at most before the link reads again (fleet commands, PUBACKs): one
/// bigger message goes alone.
const MAX_WRITE_BYTES: usize = 256 * 1024;
/// What waits to be written while the connection is up; beyond it the oldest go to the
/// offline queue, whose bounds and latest-value rule then apply.
const MAX_READY: usize = 4096;
const MAX_READY_BYTES: usize = 16 * 1024 * 1024;

/// Runs the connection until the bridge shuts down: then what is still queued goes out (for
/// at most [`DRAIN_TIME`]), `offline` is published and the connection closed. Opens the
/// durable offline store first, when the settings have one: an error when this bridge may not
/// use it (another process holds it).
pub async fn run(
    mut settings: LinkSettings,
    mut outbound: OutboxRx,
    dispatch: impl Dispatch,
    events: mpsc::Sender<LinkEvent>,
    stats: Arc<Stats>,
    mut shutdown: Shutdown,
) -> Result<(), MqttError> {
    let spool = Spool::open(settings.store.take(), stats.clone())
        .await
        .map_err(MqttError::Store)?;
    let (mut link, mut eventloop) = Link::new(settings, spool, dispatch, events, stats);
    let mut store_events = link.spool.take_events();
    link.tell_store_failure();
    // One wait for the whole run: made anew for every message it cost a tenth of the link.
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut drain_until: Option<tokio::time::Instant> = None;
    let mut open = true;
    let mut taken = VecDeque::new();
    loop {
        if !open || drain_until.is_some_and(|t| tokio::time::Instant::now() >= t) {
            break;
        }
        let mut d = Drive {
            outbound: &mut outbound,
            taken: &mut taken,
            drain_until: &mut drain_until,
            open: &mut open,
            store: &mut store_events,
        };
        link.flush_store();
        let batch = match link.prepare(&mut eventloop.state) {
            Ok(b) => b,
            Err(e) => {
                link.lost(e.into(), 0, &mut eventloop, &mut retry_at)?;
                continue;
            }
        };
        if let Some(batch) = batch {
            let qos0 = batch.qos0;
            let write = write(&mut eventloop, batch.packets, link.write_timeout);
            match link.serve(write, &mut d, stop.as_mut(), Cut::Never).await {
                Some(Ok(())) => {
                    link.stats.writes.fetch_add(1, Relaxed);
                }
                Some(Err(e)) => {
                    link.lost(e, qos0, &mut eventloop, &mut retry_at)?;
                    continue;
                }
                // The drain time is over: nothing more will be written.
                None => break,
            };
            if link.has_writable() {
                // Read what is there before the next write, never wait for it.
                let poll = futures::FutureExt::now_or_never(eventloop.poll());
                link.polled(poll, &mut eventloop, &mut retry_at)?;
                continue;
            }
        }
        let step = if let Some(at) = retry_at.take() {
            // Waiting out the backoff: fleet-bound messages keep coming into the queue.
            let idle = async {
                tokio::time::sleep_until(at).await;
                Ok::<_, ConnectionError>(None)
            };
            let r = link.serve(idle, &mut d, stop.as_mut(), Cut::OnClose).await;
            if r.is_none() {
                retry_at = Some(at);
            }
            r
        } else {
            let cut = if eventloop.network.is_some() {
                Cut::OnOutbound
            } else {
                Cut::OnClose
            };
            let poll = async { eventloop.poll().await.map(Some) };
            link.serve(poll, &mut d, stop.as_mut(), cut).await
        };
        if let Some(r) = step {
            let r = r.transpose();
            link.polled(r, &mut eventloop, &mut retry_at)?;
        }
    }
    link.finish(&mut eventloop, &mut store_events).await;
    Ok(())
}

/// When [`Link::serve`] may return before its step is done.
#[derive(Clone, Copy, PartialEq)]
enum Cut {
    /// Never: a write in progress, or the drain time is over.
    Never,
    /// Once every producer is gone (a poll that connects, the backoff).
    OnClose,
    /// Also as soon as messages come (a poll on an established connection).
    OnOutbound,
}

/// Packets encoded by rumqttc's state, to be written with one flush.
#[derive(Default)]
struct Batch {
    packets: Vec<Packet>,
    bytes: usize,
    /// QoS 0 messages in it: lost if the write fails (counted).
    qos0: u64,
}

struct Link<D> {
    settings: LinkSettings,
    session: Session,
    /// The durable offline store's side of the link (off without one).
    spool: Spool,
    /// The broker's addresses, and where the next attempt goes.
    failover: Failover,
    /// Where the last connection was: landing elsewhere says `online` again later.
    last_connected: Option<Address>,
    /// When to say `online` once more on a node that the bridge just moved to.
    reassert_at: Option<tokio::time::Instant>,
    dispatch: D,
    events: mpsc::Sender<LinkEvent>,
    stats: Arc<Stats>,
    /// `host:port`, for the log.
    broker: String,
    /// Taken from the outbox while connected, in order, for the next write.
    ready: VecDeque<Outbound>,
    ready_bytes: usize,
    /// To write before any publish: subscriptions, and what a kept session must get again.
    control: Vec<Request>,
    /// How long a write may take: rumqttc's own flush timeout.
    write_timeout: Duration,
}

impl<D: Dispatch> Link<D> {
    fn new(
        settings: LinkSettings,
        spool: Spool,
        dispatch: D,
        events: mpsc::Sender<LinkEvent>,
        stats: Arc<Stats>,
    ) -> (Link<D>, EventLoop) {
        let mut settings = settings;
        let mut options = settings.options.clone();
        options.set_last_will(settings.presence.will());
        // Nothing goes through rumqttc's request channel: a capacity of 1 is enough.
        let mut eventloop = EventLoop::new(options, 1);
        // Small JSON messages at hundreds per second: without TCP_NODELAY, Nagle holds a
        // write back until the broker ACKs the previous one (up to the 40 ms delayed ACK).
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let (host, port) = settings.options.broker_address();
        let failover = Failover::new(Address { host, port }, settings.failover.clone());
        log::info!(
            "mqtt: connecting to {} as {}",
            failover.current(),
            settings.options.client_id()
        );
        let write_timeout = Duration::from_secs(eventloop.network_options().connection_timeout());
        let link = Link {
            broker: failover.current().to_string(),
            spool,
            failover,
            last_connected: None,
            reassert_at: None,
            ready: VecDeque::new(),
            ready_bytes: 0,
            control: Vec::new(),
            write_timeout,
            session: Session::new(
                settings.reconnect.clone(),
                settings.offline_queue,
                MAX_IN_FLIGHT_BYTES,
            ),
            settings,
            dispatch,
            events,
            stats,
        };
        (link, eventloop)
    }

    /// Runs `step` to completion (a poll, a write, or the backoff wait) while taking
    /// outbound messages beside it and watching `stop` (the shutdown). Returns its result, or
    /// None when it was cut short: by the end of the drain time, or as `cut` allows.
    async fn serve<T>(
        &mut self,
        step: impl Future<Output = T>,
        d: &mut Drive<'_>,
        mut stop: Pin<&mut impl Future<Output = ()>>,
        cut: Cut,
    ) -> Option<T> {
        tokio::pin!(step);
        loop {
            let deadline = *d.drain_until;
            let reassert = self.reassert_at;
            tokio::select! {
                biased;
                // Polled until it fires, never after: the drain deadline is set then.
                _ = stop.as_mut(), if deadline.is_none() => {
                    *d.drain_until = Some(tokio::time::Instant::now() + DRAIN_TIME);
                }
                _ = sleep_until(deadline), if deadline.is_some() => return None,
                out = &mut step => return Some(out),
                event = recv_store(d.store), if d.store.is_some() => {
                    match event {
                        Some(e) => self.on_store(e),
                        None => *d.store = None,
                    }
                    if cut == Cut::OnOutbound && self.has_writable() {
                        return None;
                    }
                }
                _ = sleep_until(reassert), if reassert.is_some() => {
                    self.reassert_online();
                    if cut == Cut::OnOutbound {
                        return None;
                    }
                }
                more = d.outbound.recv_all(d.taken), if *d.open => {
                    // All that was queued (a spin's worth, or more under load) at once.
                    while let Some(m) = d.taken.pop_front() {
                        self.accept(m);
                    }
                    // What goes to disk goes now, not after the step (a backoff may be long).
                    self.flush_store();
                    if !more {
                        // Every producer is gone: only a shutdown does that.
                        *d.open = false;
                    }
                    let closed = !more && cut == Cut::OnClose;
                    if cut == Cut::OnOutbound || closed {
                        return None;
                    }
                }
            }
        }
    }

    /// Connected: `m` waits for the next write (or, behind a backlog on disk, goes there);
    /// otherwise in the offline queue or the store.
    fn accept(&mut self, m: Outbound) {
        if !self.session.connected() || self.spool.diverts(&m, true) {
            self.enqueue(m);
            return;
        }
        self.ready_bytes += m.payload.len();
        self.ready.push_back(m);
        // Writes that cannot keep up: the oldest go to the offline queue (which is written
        // first, so the order holds), where its bounds and latest-value rule apply.
        while self.ready.len() > MAX_READY || self.ready_bytes > MAX_READY_BYTES {
            match self.ready.pop_front() {
                Some(old) => {
                    self.ready_bytes -= old.payload.len();
                    self.enqueue(old);
                }
                None => break,
            }
        }
    }

    /// `m` waits for the broker: on disk when the store takes it, else in memory.
    fn enqueue(&mut self, m: Outbound) {
        if self.spool.diverts(&m, self.session.connected()) {
            self.spool.stage(m);
        } else {
            self.keep_in_memory(m);
        }
    }

    fn keep_in_memory(&mut self, m: Outbound) {
        match self.session.enqueue(m) {
            Pushed::Kept => {}
            Pushed::Dropped(n) => {
                self.stats.offline_dropped.fetch_add(n as u64, Relaxed);
            }
            Pushed::Replaced => {
                self.stats.offline_replaced.fetch_add(1, Relaxed);
            }
        }
        self.stats
            .mqtt_queue
            .store(self.session.queue.len(), Relaxed);
    }

    /// Whether the next [`Link::prepare`] would have something to write right now.
    fn has_writable(&self) -> bool {
        self.session.connected()
            && !(self.ready.is_empty()
                && self.control.is_empty()
                && self.session.queue.is_empty()
                && !self.spool.has_replay())
    }

    /// Hands what this turn staged for the disk and what the broker acknowledged to the
    /// store's thread; what it cannot take now waits in memory.
    fn flush_store(&mut self) {
        for m in self.spool.flush() {
            self.keep_in_memory(m);
        }
    }

    /// An answer of the store's thread.
    fn on_store(&mut self, e: StoreEvent) {
        for m in self.spool.on_event(e, &mut self.session) {
            self.keep_in_memory(m);
        }
        self.tell_store_failure();
    }

    /// The alert of a store that fell back to memory, once.
    fn tell_store_failure(&mut self) {
        if let Some(event) = self.spool.take_failure() {
            if self.events.try_send(event).is_err() {
                log::debug!("mqtt: nobody listens to link events");
            }
        }
    }

    /// Runs what may be written now through rumqttc's state, in order: control packets, the
    /// offline queue (QoS 1/2 while the in-flight window has room), the backlog on disk
    /// (oldest first, as the window takes it), the latest sensor values, then what came while
    /// connected. QoS 1/2 that cannot go yet waits in the offline queue (or on disk, behind
    /// a backlog there), in order. None when there is nothing to write.
    fn prepare(&mut self, state: &mut MqttState) -> Result<Option<Batch>, StateError> {
        if !self.session.connected() {
            return Ok(None);
        }
        let mut b = Batch::default();
        for r in std::mem::take(&mut self.control) {
            if let Some(p) = state.handle_outgoing_packet(r)? {
                b.packets.push(p);
            }
        }
        while b.bytes < MAX_WRITE_BYTES {
            let Some(m) = self.session.pop_sendable(window_open(state)) else {
                break;
            };
            self.write_publish(state, m, &mut b)?;
        }
        while b.bytes < MAX_WRITE_BYTES && window_open(state) {
            let free = usize::from(INFLIGHT.saturating_sub(state.inflight()));
            let session = &self.session;
            let Some(m) = self
                .spool
                .next(free, MAX_WRITE_BYTES, |m| session.may_write(m))
            else {
                break;
            };
            self.write_publish(state, m, &mut b)?;
        }
        while b.bytes < MAX_WRITE_BYTES {
            let Some(m) = self.session.queue.pop_latest() else {
                break;
            };
            self.write_publish(state, m, &mut b)?;
        }
        while b.bytes < MAX_WRITE_BYTES {
            let Some(m) = self.ready.pop_front() else {
                break;
            };
            self.ready_bytes -= m.payload.len();
            let waits = m.qos.0 > 0
                && (self.session.queue.ordered_len() > 0
                    || self.spool.diverts(&m, true)
                    || !window_open(state)
                    || !self.session.may_write(&m));
            if waits {
                self.enqueue(m);
            } else {
                self.write_publish(state, m, &mut b)?;
            }
        }
        self.stats
            .mqtt_queue
            .store(self.session.queue.len(), Relaxed);
        self.take_events(state);
        Ok((!b.packets.is_empty()).then_some(b))
    }

    /// `m` through rumqttc's state into the batch; the session keeps QoS 1/2 until acknowledged.
    fn write_publish(
        &mut self,
        state: &mut MqttState,
        m: Outbound,
        b: &mut Batch,
    ) -> Result<(), StateError> {
        let mut p = Publish::from_bytes(&*m.topic, qos(m.qos), m.payload.clone());
        p.retain = m.retain;
        let packet = state.handle_outgoing_packet(Request::Publish(p))?;
        self.stats.latency(m.since.elapsed());
        b.bytes += m.payload.len();
        // None: the id is still taken by an older message; rumqttc writes this one when that
        // one is acknowledged.
        let pkid = match &packet {
            Some(Packet::Publish(p)) => p.pkid,
            _ => state.collision.as_ref().map_or(0, |p| p.pkid),
        };
        b.packets.extend(packet);
        if m.qos.0 == 0 {
            b.qos0 += 1;
        } else {
            self.spool.written(&m);
            self.session.on_written(pkid, m);
        }
        Ok(())
    }

    /// What rumqttc's state reported: acknowledgements, fleet messages.
    fn take_events(&mut self, state: &mut MqttState) {
        while let Some(event) = state.events.pop_front() {
            self.on_event(event);
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Incoming(Packet::Publish(p)) => {
                let reply = self.dispatch.dispatch(Inbound {
                    topic: p.topic,
                    size: p.payload.len(),
                    payload: p.payload,
                    retain: p.retain,
                });
                if let Some(m) = reply {
                    self.accept(m);
                }
            }
            Event::Incoming(Packet::PubAck(a)) => self.acked(a.pkid),
            Event::Incoming(Packet::PubComp(c)) => self.acked(c.pkid),
            _ => {}
        }
    }

    /// The broker acknowledged `pkid`: delivered, and off the disk.
    fn acked(&mut self, pkid: u16) {
        if let Some(d) = self.session.on_acked(pkid) {
            self.spool.acked(&d);
        }
    }

    /// What a poll gave: an event (the first of those it read: the rest wait in the state),
    /// nothing, or the end of the connection.
    fn polled(
        &mut self,
        r: Option<Result<Event, ConnectionError>>,
        eventloop: &mut EventLoop,
        retry_at: &mut Option<tokio::time::Instant>,
    ) -> Result<(), MqttError> {
        match r {
            Some(Ok(Event::Incoming(Packet::ConnAck(ack)))) => {
                self.on_connack(ack.session_present, &mut eventloop.state)
            }
            Some(Ok(event)) => self.on_event(event),
            Some(Err(e)) => return self.lost(e, 0, eventloop, retry_at),
            None => {}
        }
        self.take_events(&mut eventloop.state);
        Ok(())
    }

    fn on_connack(&mut self, session_present: bool, state: &mut MqttState) {
        let first = !self.session.ever_connected();
        // Before the session requeues what was in flight: what the store has is read again.
        self.spool.on_connack(&mut self.session, session_present);
        let connected = self.session.on_connected(Instant::now(), session_present);
        if !session_present {
            // A publish rumqttc held back for an id of the old session waits for nothing now;
            // the session sends it again with the rest.
            state.collision = None;
        }
        self.stats.connected.store(true, Relaxed);
        let session = if session_present {
            format!(
                "session kept, {} in flight sent again",
                connected.resend.len()
            )
        } else {
            "new session".to_owned()
        };
        match &connected.restored {
            Some(_) => {
                self.stats.reconnects.fetch_add(1, Relaxed);
                log::info!("mqtt: connection to {} restored ({session})", self.broker);
            }
            None => log::info!("mqtt: connected to {} ({session})", self.broker),
        }
        self.landed();
        // A resumed session still holds the subscriptions; subscribing again would replay
        // every retained message at each short outage. A new process subscribes anyway: the
        // session it finds may be an older configuration's.
        if (first || !session_present) && !self.settings.subscriptions.is_empty() {
            let filters = self
                .settings
                .subscriptions
                .iter()
                .map(|(topic, q)| SubscribeFilter::new(topic.clone(), *q));
            self.control
                .push(Request::Subscribe(Subscribe::new_many(filters)));
        }
        // What the kept session must see again, as it was (DUP set), before anything new.
        self.control
            .extend(connected.resend.into_iter().map(|r| match r {
                Request::Publish(mut p) => {
                    p.dup = true;
                    Request::Publish(p)
                }
                other => other,
            }));
        // `online` goes first of the messages, then whatever waited.
        let online = self.presence(State::Online);
        self.session.queue.requeue(std::iter::once(online));
        let _ = self.events.try_send(LinkEvent::Connected);
        if let Some(event) = connected.restored {
            if self.events.try_send(event).is_err() {
                log::debug!("mqtt: nobody listens to link events");
            }
        }
    }

    /// A connection on another address than the last one. In a cluster, the node the bridge
    /// left may notice the lost connection only about 1.5 keepalives later and publish the
    /// retained `offline` Will then, after `online` here: `online` is said once more by then.
    fn landed(&mut self) {
        let here = self.failover.current().clone();
        let moved = self.last_connected.as_ref().is_some_and(|a| *a != here);
        if moved {
            let later = self.settings.options.keep_alive().mul_f64(1.5) + Duration::from_secs(1);
            log::info!(
                "mqtt: now on {here} (was {}): `online` again in {:.0} s, after a late Will of the old node",
                self.last_connected.as_ref().map_or(String::new(), Address::to_string),
                later.as_secs_f64()
            );
            self.reassert_at = Some(tokio::time::Instant::now() + later);
        }
        self.last_connected = Some(here);
    }

    /// The connection's `online` or `offline` message: never stored (a stored `offline`
    /// replayed after a restart would mark a running robot offline).
    fn presence(&mut self, state: State) -> Outbound {
        let m = match state {
            State::Online => self.settings.presence.online(),
            State::Offline => self.settings.presence.offline(),
        };
        self.spool.never_store(m.topic.clone());
        m
    }

    /// Says `online` again (see [`Link::landed`]).
    fn reassert_online(&mut self) {
        self.reassert_at = None;
        if self.session.connected() {
            let online = self.presence(State::Online);
            self.accept(online);
        }
    }

    /// The connection died, or an attempt failed (`qos0`: QoS 0 messages of a write that
    /// failed, now lost). Takes rumqttc's record of what was in flight, and sets when to try
    /// again (at the next broker address when an attempt failed); an error when the link must
    /// give up.
    fn lost(
        &mut self,
        e: ConnectionError,
        qos0: u64,
        eventloop: &mut EventLoop,
        retry_at: &mut Option<tokio::time::Instant>,
    ) -> Result<(), MqttError> {
        let was_connected = self.session.connected();
        if was_connected {
            let _ = self.events.try_send(LinkEvent::Lost);
            log::warn!("mqtt: connection to {} lost: {e}", self.broker);
        } else if self.session.failures() == 0 {
            log::warn!("mqtt: cannot connect to {}: {e}", self.broker);
        } else {
            log::debug!("mqtt: cannot connect to {}: {e}", self.broker);
        }
        self.stats.connected.store(false, Relaxed);
        self.stats.offline_dropped.fetch_add(qos0, Relaxed);
        if !self.settings.reconnect.enabled && self.session.ever_connected() {
            return Err(MqttError::GaveUp(e.to_string()));
        }
        self.reassert_at = None;
        let next = self.failover.after(was_connected).clone();
        if next.to_string() != self.broker {
            eventloop.mqtt_options = options::with_address(&eventloop.mqtt_options, &next);
            log::info!("mqtt: next attempt at {next}");
            self.broker = next.to_string();
        }
        // rumqttc did this already after a failed poll, not after a failed write of ours
        // (idempotent).
        eventloop.clean();
        let in_flight = std::mem::take(&mut eventloop.pending);
        // A resumed session can hold a QoS 2 exchange that this client's state does not know
        // (rumqttc then fails every connection with it): start clean once, and from scratch.
        let unsolicited = matches!(e, ConnectionError::MqttState(StateError::Unsolicited(_)));
        if unsolicited {
            eventloop.state = MqttState::new(INFLIGHT, false);
        }
        eventloop.mqtt_options.set_clean_session(unsolicited);
        eventloop
            .mqtt_options
            .set_last_will(self.settings.presence.will());
        // Not written yet: waits for the next connection like anything else.
        self.control.clear();
        while let Some(m) = self.ready.pop_front() {
            self.enqueue(m);
        }
        self.ready_bytes = 0;
        let delay = self.session.on_lost(
            &e.to_string(),
            (Instant::now(), envelope::now_rfc3339()),
            in_flight,
            unsolicited,
            fastrand::f64(),
        );
        if was_connected {
            // What memory held goes to disk too: a crash during the outage keeps it.
            for m in self.spool.on_lost(&mut self.session) {
                self.keep_in_memory(m);
            }
        }
        self.flush_store();
        self.stats
            .mqtt_queue
            .store(self.session.queue.len(), Relaxed);
        *retry_at = Some(tokio::time::Instant::now() + delay);
        Ok(())
    }

    /// The clean stop: what is queued, then `offline` (the will is only for the unexpected),
    /// then DISCONNECT once everything is acknowledged, all within [`DRAIN_TIME`]. What could
    /// not be delivered by then is kept on disk for the next start (with a store, within
    /// [`STORE_TIME`] more), or counted; either is said.
    async fn finish(
        &mut self,
        eventloop: &mut EventLoop,
        store: &mut Option<mpsc::Receiver<StoreEvent>>,
    ) {
        let deadline = tokio::time::Instant::now() + DRAIN_TIME;
        // What is still on disk stays there: the stop does not wait for it.
        self.spool.stop_replay();
        if self.session.connected() {
            let offline = self.presence(State::Offline);
            self.accept(offline);
            while self.finish_step(eventloop, store, deadline).await.is_ok() {}
        }
        self.stats.connected.store(false, Relaxed);
        let mut left = self.session.take_undelivered();
        left.extend(self.spool.take_staged());
        left.extend(self.ready.drain(..).filter(|m| m.qos.0 > 0));
        let until = tokio::time::Instant::now() + STORE_TIME;
        let (kept, memory) = self
            .spool
            .close(left, store, &mut self.session, until)
            .await;
        if kept > 0 {
            log::warn!(
                "mqtt: {kept} QoS 1/2 messages not acknowledged by {}: kept in the offline store {}, sent first at the next start",
                self.broker,
                self.spool.dir()
            );
        }
        let n = memory.len();
        if n > 0 {
            self.stats.undelivered.fetch_add(n as u64, Relaxed);
            log::warn!(
                "mqtt: {n} QoS 1/2 messages not delivered at shutdown (not acknowledged by {} in time)",
                self.broker
            );
        }
    }

    /// One write or one read of the stop (or an answer of the store); Err when it is over.
    async fn finish_step(
        &mut self,
        eventloop: &mut EventLoop,
        store: &mut Option<mpsc::Receiver<StoreEvent>>,
        deadline: tokio::time::Instant,
    ) -> Result<(), ()> {
        let done =
            self.ready.is_empty() && self.session.queue.is_empty() && self.session.unacked() == 0;
        if done {
            // The last word: after it the broker drops the will.
            let bye = eventloop
                .state
                .handle_outgoing_packet(Request::Disconnect(Disconnect));
            if let Ok(Some(p)) = bye {
                let _ =
                    tokio::time::timeout_at(deadline, write(eventloop, vec![p], DRAIN_TIME)).await;
            }
            return Err(());
        }
        self.flush_store();
        match self.prepare(&mut eventloop.state) {
            Ok(Some(b)) => {
                let written =
                    tokio::time::timeout_at(deadline, write(eventloop, b.packets, DRAIN_TIME));
                match written.await {
                    Ok(Ok(())) => Ok(()),
                    _ => Err(()),
                }
            }
            Ok(None) => {
                let poll = tokio::time::timeout_at(deadline, eventloop.poll());
                tokio::select! {
                    polled = poll => match polled {
                        Ok(Ok(event)) => {
                            self.on_event(event);
                            self.take_events(&mut eventloop.state);
                            Ok(())
                        }
                        _ => Err(()),
                    },
                    event = recv_store(store), if store.is_some() => {
                        match event {
                            Some(e) => self.on_store(e),
                            None => *store = None,
                        }
                        Ok(())
                    }
                }
            }
            Err(_) => Err(()),
        }
    }
}

/// Whether rumqttc takes another QoS 1/2 publish now: its in-flight window has room and no
/// publish waits for an id.
fn window_open(state: &MqttState) -> bool {
    state.inflight() < INFLIGHT && state.collision.is_none()
}

/// Encodes `packets` into the connection's buffer and flushes once: one write to the socket
/// (and over TLS, as few records as the bytes need) for the lot.
async fn write(
    eventloop: &mut EventLoop,
    packets: Vec<Packet>,
    timeout: Duration,
) -> Result<(), ConnectionError> {
    let network = eventloop
        .network
        .as_mut()
        .ok_or_else(|| ConnectionError::Io(std::io::ErrorKind::NotConnected.into()))?;
    let write = async {
        for p in packets {
            network.write(p).await?;
        }
        network.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ConnectionError::FlushTimeout),
    }
}

/// The run loop's state that every step shares.
struct Drive<'a> {
    outbound: &'a mut OutboxRx,
    /// What was taken from the outbox, empty between two takes.
    taken: &'a mut VecDeque<Outbound>,
    drain_until: &'a mut Option<tokio::time::Instant>,
    open: &'a mut bool,
    /// The store's answers (none without a store, or once its thread ended).
    store: &'a mut Option<mpsc::Receiver<StoreEvent>>,
}

async fn recv_store(rx: &mut Option<mpsc::Receiver<StoreEvent>>) -> Option<StoreEvent> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
