//! The MQTT link's event loop: drives rumqttc, feeds its events to the [`Session`], hands
//! fleet messages to the [`Dispatch`], and publishes what the bridge sends.
//!
//! rumqttc moves nothing unless `EventLoop::poll` is polled, and a poll future dropped half
//! way through loses what it was doing: a CONNECT in progress, to a broker tens of
//! milliseconds away, would never complete while messages keep coming. So one poll future is
//! kept until it completes, and outbound messages are taken beside it without cancelling it.
//! After an error, rumqttc's own retransmission queue is emptied (it would keep only what a
//! resumed session allows, and forget the rest): the session sends everything again itself.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttState, Outgoing, Packet, Publish,
    StateError,
};
use tokio::sync::mpsc;

use super::offline_queue::Pushed;
use super::options::{self, LinkSettings, INFLIGHT, MAX_IN_FLIGHT_BYTES, REQUEST_CAPACITY};
use super::session::Session;
use super::wire::Wire;
use super::{qos, Dispatch, Inbound, LinkEvent, MqttError, Outbound, OutboxRx};
use crate::diagnostics::Stats;
use crate::envelope::{self, Presence};
use crate::shutdown::Shutdown;

/// How long a shutdown may take to hand over what is left and say `offline`.
const DRAIN_TIME: Duration = Duration::from_secs(2);
/// Bounds of a batch: bigger messages go alone, as rumqttc writes them.
const MAX_BATCHED: usize = 64 * 1024;
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Runs the connection until the bridge shuts down: then what is still queued goes out (for
/// at most [`DRAIN_TIME`]), `offline` is published and the connection closed.
pub async fn run(
    settings: LinkSettings,
    mut outbound: OutboxRx,
    dispatch: impl Dispatch,
    events: mpsc::Sender<LinkEvent>,
    stats: Arc<Stats>,
    mut shutdown: Shutdown,
) -> Result<(), MqttError> {
    let wire = outbound.wire().clone();
    let (mut link, mut eventloop) = Link::new(settings, &wire, dispatch, events, stats);
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
        if !wire.is_open() && link.caught_up() && drain_until.is_none() {
            wire.open(|| outbound.is_empty());
        }
        let mut d = Drive {
            outbound: &mut outbound,
            taken: &mut taken,
            drain_until: &mut drain_until,
            open: &mut open,
        };
        let step = if let Some(at) = retry_at.take() {
            // Waiting out the backoff: fleet-bound messages keep coming into the queue.
            let idle = async {
                tokio::time::sleep_until(at).await;
                None
            };
            let resume = || retry_at = Some(at);
            link.serve(idle, &mut d, stop.as_mut(), Some(resume)).await
        } else if let Some(batch) = link.next_batch() {
            let write = write_batch(&mut eventloop, batch, link.write_timeout)
                .map(|r| Some(r.map(|()| None)));
            // Not cut short when the producers are gone: the batch is theirs.
            link.serve(write, &mut d, stop.as_mut(), None::<fn()>).await
        } else {
            let poll = eventloop.poll().map(|r| Some(r.map(Some)));
            link.serve(poll, &mut d, stop.as_mut(), Some(|| {})).await
        };
        match step {
            Some(Ok(Some(event))) => link.on_event(event),
            Some(Ok(None)) | None => {}
            Some(Err(e)) => match link.on_error(e, &mut eventloop) {
                Ok(delay) => retry_at = Some(tokio::time::Instant::now() + delay),
                Err(gave_up) => return Err(gave_up),
            },
        }
    }
    // From here on everything goes through rumqttc, and nothing after its DISCONNECT.
    wire.close();
    link.finish(&mut eventloop).await;
    Ok(())
}

struct Link<D> {
    settings: LinkSettings,
    client: AsyncClient,
    session: Session,
    /// The spin thread's side of the connection.
    wire: Wire,
    dispatch: D,
    events: mpsc::Sender<LinkEvent>,
    stats: Arc<Stats>,
    /// `host:port`, for the log.
    broker: String,
    /// QoS 0 messages that came while rumqttc wrote an earlier one: written together, with
    /// one flush, as soon as its poll returns (see [`write_batch`]).
    batch: VecDeque<Outbound>,
    batch_bytes: usize,
    /// How long a write may take: rumqttc's own flush timeout.
    write_timeout: Duration,
}

impl<D: Dispatch> Link<D> {
    fn new(
        settings: LinkSettings,
        wire: &Wire,
        dispatch: D,
        events: mpsc::Sender<LinkEvent>,
        stats: Arc<Stats>,
    ) -> (Link<D>, EventLoop) {
        let mut options = settings.options.clone();
        options.set_tcp_stream_hook(wire.hook());
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        // Small JSON messages at hundreds per second: without TCP_NODELAY, Nagle holds a
        // write back until the broker ACKs the previous one (up to the 40 ms delayed ACK).
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let (host, port) = settings.options.broker_address();
        log::info!(
            "mqtt: connecting to {host}:{port} as {}",
            settings.options.client_id()
        );
        let write_timeout = Duration::from_secs(eventloop.network_options().connection_timeout());
        let link = Link {
            broker: format!("{host}:{port}"),
            batch: VecDeque::new(),
            batch_bytes: 0,
            write_timeout,
            session: Session::new(
                settings.reconnect.clone(),
                settings.offline_queue,
                MAX_IN_FLIGHT_BYTES,
            ),
            settings,
            client,
            wire: wire.clone(),
            dispatch,
            events,
            stats,
        };
        (link, eventloop)
    }

    /// Runs `step` to completion (a poll, a batch write, or the backoff wait) while taking
    /// outbound messages beside it and watching `stop` (the shutdown). Returns its result, or
    /// None when it was cut short: by the end of the drain time, or the outbound queue
    /// closing if `interrupted` is given (it is then called, so a backoff can be resumed).
    async fn serve<T>(
        &mut self,
        step: impl Future<Output = Option<T>>,
        d: &mut Drive<'_>,
        mut stop: Pin<&mut impl Future<Output = ()>>,
        mut interrupted: Option<impl FnOnce()>,
    ) -> Option<T> {
        tokio::pin!(step);
        loop {
            let deadline = *d.drain_until;
            tokio::select! {
                biased;
                // Polled until it fires, never after: the drain deadline is set then.
                _ = stop.as_mut(), if deadline.is_none() => {
                    *d.drain_until = Some(tokio::time::Instant::now() + DRAIN_TIME);
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    if let Some(f) = interrupted.take() {
                        f();
                    }
                    return None;
                }
                out = &mut step => return out,
                more = d.outbound.recv_all(d.taken), if *d.open => {
                    // All that was queued (a spin's worth, or more under load) at once.
                    while let Some(m) = d.taken.pop_front() {
                        self.accept(m);
                    }
                    if !more {
                        // Every producer is gone: only a shutdown does that.
                        *d.open = false;
                        if let Some(f) = interrupted.take() {
                            f();
                            return None;
                        }
                    }
                }
            }
        }
    }

    /// A QoS 0 message that comes while rumqttc still has one of ours to write joins the
    /// batch written right after it; anything else goes the usual way.
    fn accept(&mut self, m: Outbound) {
        if m.qos.0 == 0 {
            let size = m.payload.len();
            let fits = size <= MAX_BATCHED && self.batch_bytes + size <= MAX_BATCH_BYTES;
            if fits && self.session.writing() && self.session.may_send_directly(size) {
                self.batch_bytes += size;
                self.batch.push_back(m);
                return;
            }
            // A stream keeps its order: the batch goes first.
            self.spill();
        }
        self.publish(m);
    }

    /// The batch the usual way, in order.
    fn spill(&mut self) {
        self.batch_bytes = 0;
        while let Some(m) = self.batch.pop_front() {
            self.publish(m);
        }
    }

    /// The batch to write now: once rumqttc wrote everything handed to it before (the
    /// batch comes after it), and only while connected with nothing waiting in the queue.
    fn next_batch(&mut self) -> Option<VecDeque<Outbound>> {
        if self.batch.is_empty() || self.session.writing() {
            return None;
        }
        if !self.session.connected() || !self.session.queue.is_empty() {
            self.spill();
            return None;
        }
        for m in &self.batch {
            self.stats.latency(m.since.elapsed());
        }
        let n = self.batch.len() as u64;
        self.stats.batched.fetch_add(n, Relaxed);
        self.batch_bytes = 0;
        Some(std::mem::take(&mut self.batch))
    }

    /// Connected, and nothing of ours waits: not in the offline queue, not in a batch, not in
    /// rumqttc unwritten. The spin thread may then write to the socket itself.
    fn caught_up(&self) -> bool {
        self.session.connected()
            && self.session.queue.is_empty()
            && self.batch.is_empty()
            && !self.session.writing()
    }

    /// Hands `m` to rumqttc, behind anything that waits; or queues it.
    fn publish(&mut self, m: Outbound) {
        if self.session.may_send_directly(m.payload.len()) {
            if let Err(m) = self.hand_over(m) {
                self.enqueue(m);
            }
        } else {
            self.enqueue(m);
            self.flush();
        }
    }

    fn enqueue(&mut self, m: Outbound) {
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

    /// Gives `m` to rumqttc's request channel, or back when it is full.
    fn hand_over(&mut self, m: Outbound) -> Result<(), Outbound> {
        let sent = self
            .client
            .publish_bytes(&*m.topic, qos(m.qos), m.retain, m.payload.clone())
            .now_or_never();
        match sent {
            Some(Ok(())) => {
                self.stats.latency(m.since.elapsed());
                self.session.on_handed(&m);
                Ok(())
            }
            _ => Err(m),
        }
    }

    /// Queued messages to rumqttc until its channel is full.
    fn flush(&mut self) {
        while let Some(m) = self.session.queue.pop() {
            if !self.session.has_room(m.payload.len()) {
                self.session.queue.unpop(m);
                break;
            }
            if let Err(m) = self.hand_over(m) {
                self.session.queue.unpop(m);
                break;
            }
        }
        self.stats
            .mqtt_queue
            .store(self.session.queue.len(), Relaxed);
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => self.on_connack(ack.session_present),
            Event::Incoming(Packet::Publish(p)) => self.dispatch.dispatch(Inbound {
                topic: p.topic,
                size: p.payload.len(),
                payload: p.payload,
                retain: p.retain,
            }),
            Event::Incoming(Packet::PubAck(a)) => self.session.on_acked(a.pkid),
            Event::Incoming(Packet::PubComp(c)) => self.session.on_acked(c.pkid),
            Event::Outgoing(Outgoing::Publish(pkid)) => self.session.on_written(pkid),
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => self.session.on_collision(pkid),
            _ => {}
        }
        if self.session.connected() && !self.session.queue.is_empty() {
            self.flush();
        }
    }

    fn on_connack(&mut self, session_present: bool) {
        let first = !self.session.ever_connected();
        let restored = self.session.on_connected(Instant::now());
        self.stats.connected.store(true, Relaxed);
        match &restored {
            Some(_) => {
                self.stats.reconnects.fetch_add(1, Relaxed);
                log::info!("mqtt: connection to {} restored", self.broker);
            }
            None => log::info!("mqtt: connected to {}", self.broker),
        }
        // A resumed session still holds the subscriptions; subscribing again would replay
        // every retained message at each short outage. A new process subscribes anyway: the
        // session it finds may be an older configuration's.
        if first || !session_present {
            for (topic, q) in &self.settings.subscriptions {
                if let Err(e) = self.client.try_subscribe(topic, *q) {
                    log::error!("mqtt: cannot subscribe to {topic}: {e}");
                }
            }
        }
        // `online` goes first, then whatever waited.
        let online = Outbound::new(
            Arc::from(self.settings.presence_topic.as_str()),
            crate::config::Qos(1),
            true,
            envelope::presence(&self.settings.robot_id, Presence::Online),
        );
        self.session.queue.requeue(std::iter::once(online));
        self.flush();
        if let Some(event) = restored {
            if self.events.try_send(event).is_err() {
                log::debug!("mqtt: nobody listens to link events");
            }
        }
    }

    /// The connection died, or an attempt failed: empties rumqttc's queues (the session sends
    /// again what was not acknowledged) and says how long to wait before the next attempt.
    fn on_error(
        &mut self,
        e: ConnectionError,
        eventloop: &mut EventLoop,
    ) -> Result<Duration, MqttError> {
        let was_connected = self.session.connected();
        if was_connected {
            log::warn!("mqtt: connection to {} lost: {e}", self.broker);
        } else if self.session.failures() == 0 {
            log::warn!("mqtt: cannot connect to {}: {e}", self.broker);
        } else {
            log::debug!("mqtt: cannot connect to {}: {e}", self.broker);
        }
        self.stats.connected.store(false, Relaxed);
        if !self.settings.reconnect.enabled && self.session.ever_connected() {
            return Err(MqttError::GaveUp(e.to_string()));
        }
        // After a failed batch write the connection is still in place: drop it as a failed
        // poll does (idempotent after one).
        eventloop.clean();
        eventloop.pending.clear();
        eventloop.state = MqttState::new(INFLIGHT, false);
        // Not written yet: queued for the next connection like anything else.
        for m in std::mem::take(&mut self.batch) {
            self.enqueue(m);
        }
        self.batch_bytes = 0;
        // A resumed session can hold a QoS 2 exchange that this client's fresh state does not
        // know (rumqttc then fails every connection with it); start clean once to end it.
        let unsolicited = matches!(e, ConnectionError::MqttState(StateError::Unsolicited(_)));
        eventloop.mqtt_options.set_clean_session(unsolicited);
        eventloop.mqtt_options.set_last_will(options::last_will(
            &self.settings.presence_topic,
            &self.settings.robot_id,
        ));
        // The connection's stream is gone (`clean`): what the spin thread wrote on it without
        // a PUBACK yet goes again with the rest.
        let delay = self.session.on_lost(
            &e.to_string(),
            (Instant::now(), envelope::now_rfc3339()),
            self.wire.take_lost(),
            fastrand::f64(),
        );
        self.stats
            .mqtt_queue
            .store(self.session.queue.len(), Relaxed);
        Ok(delay)
    }

    /// The clean stop: what is queued, then `offline` (the will is only for the unexpected),
    /// then DISCONNECT, each for as long as the broker takes them, within [`DRAIN_TIME`].
    async fn finish(&mut self, eventloop: &mut EventLoop) {
        if !self.session.connected() {
            return;
        }
        self.spill();
        let offline = Outbound::new(
            Arc::from(self.settings.presence_topic.as_str()),
            crate::config::Qos(1),
            true,
            envelope::presence(&self.settings.robot_id, Presence::Offline),
        );
        self.enqueue(offline);
        let deadline = tokio::time::Instant::now() + DRAIN_TIME;
        let mut disconnecting = false;
        loop {
            self.flush();
            // The spin thread's PUBACKs come before `offline`'s, which is the last in flight.
            let acked = self.session.in_flight() == 0 && self.wire.unacked() == 0;
            if !disconnecting && self.session.queue.is_empty() && acked {
                let _ = self.client.try_disconnect();
                disconnecting = true;
            }
            match tokio::time::timeout_at(deadline, eventloop.poll()).await {
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) => break,
                Ok(Ok(ev)) => self.on_event(ev),
                Ok(Err(_)) | Err(_) => break,
            }
        }
        self.stats.connected.store(false, Relaxed);
    }
}

/// The run loop's state that every step shares.
struct Drive<'a> {
    outbound: &'a mut OutboxRx,
    /// What was taken from the outbox, empty between two takes.
    taken: &'a mut VecDeque<Outbound>,
    drain_until: &'a mut Option<tokio::time::Instant>,
    open: &'a mut bool,
}

/// Writes QoS 0 publishes into rumqttc's connection and flushes once. rumqttc flushes after
/// every request: a `writev` each, and the broker woken each time (in a profile of the
/// typical mix, 45 % of the link thread's time). Only between two polls: a poll owns the
/// connection while it runs.
/// QoS 0 needs no state of rumqttc's (no packet id, no event).
async fn write_batch(
    eventloop: &mut EventLoop,
    batch: VecDeque<Outbound>,
    timeout: Duration,
) -> Result<(), ConnectionError> {
    let network = eventloop
        .network
        .as_mut()
        .ok_or_else(|| ConnectionError::Io(std::io::ErrorKind::NotConnected.into()))?;
    let write = async {
        for m in batch {
            let mut p = Publish::from_bytes(&*m.topic, rumqttc::QoS::AtMostOnce, m.payload);
            p.retain = m.retain;
            network.write(Packet::Publish(p)).await?;
        }
        network.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(ConnectionError::FlushTimeout),
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
