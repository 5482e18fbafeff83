//! A second rcl context on a thread of its own, for the message types r2r was not built with:
//! subscriptions that deliver every message's CDR bytes to a bounded queue (each ready
//! subscription drained at every wake, unlike r2r's one take per spin; a full queue drops the
//! message and counts it), publishers of CDR bytes, and the QoS of `Auto` subscriptions kept
//! matched to the publishers on their topics (the graph is read every [`GRAPH_PERIOD`]; a
//! subscription whose match changed is made anew, the new one before the old one goes, so a
//! message published at that moment may arrive twice but none is lost to the switch).
//!
//! Everything rcl is made, waited on and finalized on the thread; other threads send it
//! commands and wake it with a guard condition. Publishing happens on the caller's thread.
//! The context costs a second DDS participant: make the runtime only when a mapping needs a
//! type that the build does not know.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::msg::TypeName;
use super::qos::{matched, Qos, SubQos};
use super::queue::Queue;
use super::rcl::{self, GuardCondition, Node, RclError, SerializedBuffer, TypeSupport, WaitSet};
use super::types::{Registry, TypeError};

/// How often `Auto` subscriptions look at the publishers of their topic.
pub const GRAPH_PERIOD: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error("ROS (run-time types): {0}")]
    Rcl(#[from] RclError),
    #[error("the run-time types' ROS thread has stopped")]
    Stopped,
    #[error("cannot start the run-time types' ROS thread: {0}")]
    Thread(String),
}

/// Who the runtime is in the ROS graph.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub node_name: String,
    pub namespace: String,
    /// Given to `rcl_init`: the process's arguments, so that its `--ros-args` (remapping,
    /// `__ns`) apply to this node's topics as to r2r's node.
    pub args: Vec<String>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            node_name: "amr_mqtt_bridge_types".into(),
            namespace: String::new(),
            args: std::env::args().collect(),
        }
    }
}

/// A message type and the library of its C type support (`Registry::typesupport_library`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRef {
    pub name: TypeName,
    pub library: PathBuf,
}

impl TypeRef {
    /// The type `ty` (`pkg/msg/Type`) as installed: its library found by the registry's
    /// prefixes, and in `LD_LIBRARY_PATH`.
    pub fn find(registry: &Registry, ty: &str) -> Result<TypeRef, TypeError> {
        let name = TypeName::parse(ty).map_err(TypeError::Name)?;
        let library = registry.typesupport_library(&name)?;
        Ok(TypeRef { name, library })
    }
}

/// What a subscription needs.
pub struct SubscribeOptions {
    pub topic: String,
    pub ty: TypeRef,
    pub qos: SubQos,
    /// Messages waiting to be taken at most, and their bytes at most (one bigger message may
    /// wait alone); more are dropped and counted.
    pub max_messages: usize,
    pub max_bytes: usize,
    /// Called on the runtime thread after messages were queued (e.g. to ring a converter).
    pub notify: Option<Box<dyn Fn() + Send>>,
}

/// The runtime: its thread and the way to reach it.
pub struct Runtime {
    link: Arc<Link>,
    thread: Option<JoinHandle<()>>,
}

/// What other threads share with the runtime thread.
struct Link {
    commands: Mutex<Sender<Command>>,
    /// `None` once the thread has finalized it.
    guard: Mutex<Option<Arc<GuardCondition>>>,
}

impl Link {
    fn send(&self, c: Command) -> Result<(), RuntimeError> {
        let sent = self
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(c);
        sent.map_err(|_| RuntimeError::Stopped)?;
        self.wake()
    }

    fn wake(&self) -> Result<(), RuntimeError> {
        match &*self.guard.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(g) => Ok(g.trigger()?),
            None => Err(RuntimeError::Stopped),
        }
    }
}

type Reply<T> = SyncSender<Result<T, RuntimeError>>;

enum Command {
    Subscribe(
        SubscribeOptions,
        Arc<SubState>,
        SyncSender<Result<u64, RuntimeError>>,
    ),
    Unsubscribe(u64),
    Publisher(String, TypeRef, Qos, Reply<Arc<PubSlot>>),
    DropPublisher(u64),
    Stop,
}

impl Runtime {
    /// Starts the thread with its context, node, guard condition and wait set.
    pub fn start(options: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let (tx, rx) = mpsc::channel();
        let link = Arc::new(Link {
            commands: Mutex::new(tx),
            guard: Mutex::new(None),
        });
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let for_thread = link.clone();
        let thread = std::thread::Builder::new()
            .name("ros-types".into())
            .spawn(move || Thread::run(options, for_thread, rx, ready_tx))
            .map_err(|e| RuntimeError::Thread(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Runtime {
                link,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(RuntimeError::Stopped),
        }
    }

    /// A subscription, made before this returns.
    pub fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription, RuntimeError> {
        let initial = match options.qos {
            SubQos::Fixed(q) => q,
            SubQos::Auto { depth } => Qos::any(depth),
        };
        let state = Arc::new(SubState {
            queue: Queue::new(options.max_messages, options.max_bytes),
            dropped: AtomicU64::new(0),
            received: AtomicU64::new(0),
            qos: Mutex::new(initial),
        });
        let topic = options.topic.clone();
        let (reply, answer) = mpsc::sync_channel(1);
        self.link
            .send(Command::Subscribe(options, state.clone(), reply))?;
        let id = answer.recv().map_err(|_| RuntimeError::Stopped)??;
        Ok(Subscription {
            id,
            topic,
            state,
            link: self.link.clone(),
        })
    }

    /// A publisher, made before this returns.
    pub fn publisher(&self, topic: &str, ty: TypeRef, qos: Qos) -> Result<Publisher, RuntimeError> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.link
            .send(Command::Publisher(topic.to_owned(), ty, qos, reply))?;
        let slot = answer.recv().map_err(|_| RuntimeError::Stopped)??;
        Ok(Publisher {
            slot,
            link: self.link.clone(),
        })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.link.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A subscription's side shared with the runtime thread.
struct SubState {
    queue: Queue,
    dropped: AtomicU64,
    received: AtomicU64,
    qos: Mutex<Qos>,
}

/// The messages of one subscription, as CDR bytes; unsubscribes when dropped.
pub struct Subscription {
    id: u64,
    topic: String,
    state: Arc<SubState>,
    link: Arc<Link>,
}

impl Subscription {
    /// The oldest message waiting, if any (never waits: `notify` says when to look).
    pub fn try_recv(&self) -> Option<Vec<u8>> {
        self.state.queue.pop()
    }

    /// Messages taken from DDS.
    pub fn received(&self) -> u64 {
        self.state.received.load(Ordering::Relaxed)
    }

    /// Messages dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.state.dropped.load(Ordering::Relaxed)
    }

    /// The QoS the subscription has now (for `Auto`: the one matched last).
    pub fn qos(&self) -> Qos {
        self.qos_watch().get()
    }

    /// Reads the subscription's QoS from any thread, for as long as anyone asks.
    pub fn qos_watch(&self) -> QosWatch {
        QosWatch(self.state.clone())
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
}

/// The QoS a subscription has now (for `Auto`: the one matched last).
#[derive(Clone)]
pub struct QosWatch(Arc<SubState>);

impl QosWatch {
    pub fn get(&self) -> Qos {
        *self.0.qos.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.link.send(Command::Unsubscribe(self.id));
    }
}

/// A publisher's rcl handle, shared by its handle (to publish) and the runtime (to finalize).
struct PubSlot {
    id: u64,
    publisher: Mutex<Option<rcl::Publisher>>,
}

/// Publishes CDR bytes of its type; removed when dropped.
pub struct Publisher {
    slot: Arc<PubSlot>,
    link: Arc<Link>,
}

impl Publisher {
    /// Publishes one message (its CDR, encapsulation header included).
    pub fn publish(&self, cdr: &[u8]) -> Result<(), RuntimeError> {
        match &*self
            .slot
            .publisher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
        {
            Some(p) => Ok(p.publish(cdr)?),
            None => Err(RuntimeError::Stopped),
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.link.send(Command::DropPublisher(self.slot.id));
    }
}

/// One subscription on the thread.
struct Sub {
    options: SubscribeOptions,
    /// The topic's fully qualified name, as the graph knows it.
    resolved: String,
    ts: TypeSupport,
    rcl: rcl::Subscription,
    state: Arc<SubState>,
}

/// The runtime thread's state. Field order is drop order: subscriptions and publishers, the
/// wait set and the guard condition go before the node and its context.
struct Thread {
    link: Arc<Link>,
    subs: HashMap<u64, Sub>,
    pubs: HashMap<u64, Arc<PubSlot>>,
    wait_set: WaitSet,
    guard: Arc<GuardCondition>,
    types: HashMap<TypeName, TypeSupport>,
    buf: SerializedBuffer,
    next_id: u64,
    next_graph: Instant,
    node: Node,
}

impl Thread {
    fn run(
        options: RuntimeOptions,
        link: Arc<Link>,
        commands: Receiver<Command>,
        ready: SyncSender<Result<(), RuntimeError>>,
    ) {
        let mut t = match Thread::new(&options, link) {
            Ok(t) => t,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        *t.link.guard.lock().unwrap_or_else(|p| p.into_inner()) = Some(t.guard.clone());
        if ready.send(Ok(())).is_err() {
            return;
        }
        log::info!(
            "run-time types: node {} on a ROS context of its own",
            t.node.fully_qualified_name()
        );
        while t.step(&commands) {}
    }

    fn new(o: &RuntimeOptions, link: Arc<Link>) -> Result<Thread, RuntimeError> {
        let mut node = Node::new(&o.args, &o.node_name, &o.namespace)?;
        Ok(Thread {
            link,
            subs: HashMap::new(),
            pubs: HashMap::new(),
            wait_set: WaitSet::new(&mut node)?,
            guard: Arc::new(GuardCondition::new(&mut node)?),
            types: HashMap::new(),
            buf: SerializedBuffer::new()?,
            next_id: 1,
            next_graph: Instant::now(),
            node,
        })
    }

    /// One round: commands, the graph when due, a wait, the takes. False once stopped.
    fn step(&mut self, commands: &Receiver<Command>) -> bool {
        while let Ok(c) = commands.try_recv() {
            if !self.command(c) {
                return false;
            }
        }
        let now = Instant::now();
        let auto = self
            .subs
            .values()
            .any(|s| matches!(s.options.qos, SubQos::Auto { .. }));
        if auto && now >= self.next_graph {
            self.next_graph = now + GRAPH_PERIOD;
            self.match_publishers();
        }
        let timeout = if auto {
            self.next_graph.saturating_duration_since(now)
        } else {
            Duration::from_secs(3600)
        };
        let ids: Vec<u64> = self.subs.keys().copied().collect();
        let ready = {
            let subs: Vec<&rcl::Subscription> = ids
                .iter()
                .filter_map(|id| self.subs.get(id))
                .map(|s| &s.rcl)
                .collect();
            self.wait_set.wait(&subs, &self.guard, timeout)
        };
        match ready {
            Ok(ready) => {
                for i in ready {
                    if let Some(id) = ids.get(i) {
                        self.drain(*id);
                    }
                }
            }
            Err(e) => {
                log::error!("run-time types: {e}");
                // Not a tight loop on a broken wait set: commands still get their turn.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        true
    }

    fn command(&mut self, c: Command) -> bool {
        match c {
            Command::Subscribe(options, state, reply) => {
                let made = self.subscribe(options, state);
                let _ = reply.send(made);
            }
            Command::Unsubscribe(id) => {
                self.subs.remove(&id);
            }
            Command::Publisher(topic, ty, qos, reply) => {
                let made = self.publisher(&topic, &ty, qos);
                let _ = reply.send(made);
            }
            Command::DropPublisher(id) => {
                if let Some(slot) = self.pubs.remove(&id) {
                    slot.publisher
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take();
                }
            }
            Command::Stop => {
                self.stop();
                return false;
            }
        }
        true
    }

    fn type_support(&mut self, ty: &TypeRef) -> Result<TypeSupport, RuntimeError> {
        if let Some(ts) = self.types.get(&ty.name) {
            return Ok(*ts);
        }
        let ts = TypeSupport::load(&ty.library, &ty.name)?;
        self.types.insert(ty.name.clone(), ts);
        Ok(ts)
    }

    fn subscribe(
        &mut self,
        options: SubscribeOptions,
        state: Arc<SubState>,
    ) -> Result<u64, RuntimeError> {
        let ts = self.type_support(&options.ty)?;
        let resolved = self.node.resolve_topic(&options.topic)?;
        let mut qos = *state.qos.lock().unwrap_or_else(|p| p.into_inner());
        if let SubQos::Auto { depth } = options.qos {
            // Publishers discovered already decide at once; the graph check does the rest.
            let want = options.ty.name.to_string();
            if let Some(q) = self
                .offers(&resolved, &want)
                .and_then(|o| matched(&o, depth))
            {
                qos = q;
            }
        }
        let rcl = rcl::Subscription::new(&mut self.node, ts, &options.topic, qos)?;
        *state.qos.lock().unwrap_or_else(|p| p.into_inner()) = qos;
        log::info!(
            "run-time types: subscribed to {resolved} ({}), {qos}",
            options.ty.name
        );
        let id = self.next_id;
        self.next_id += 1;
        self.subs.insert(
            id,
            Sub {
                options,
                resolved,
                ts,
                rcl,
                state,
            },
        );
        Ok(id)
    }

    fn publisher(
        &mut self,
        topic: &str,
        ty: &TypeRef,
        qos: Qos,
    ) -> Result<Arc<PubSlot>, RuntimeError> {
        let ts = self.type_support(ty)?;
        let p = rcl::Publisher::new(&mut self.node, ts, topic, qos)?;
        let slot = Arc::new(PubSlot {
            id: self.next_id,
            publisher: Mutex::new(Some(p)),
        });
        self.next_id += 1;
        self.pubs.insert(slot.id, slot.clone());
        Ok(slot)
    }

    /// The publishers of type `ty` on a topic (those of another type are logged, left out).
    fn offers(&self, topic: &str, ty: &str) -> Option<Vec<super::qos::Offer>> {
        let all = match self.node.publishers(topic) {
            Ok(o) => o,
            Err(e) => {
                log::warn!("run-time types: publishers of {topic}: {e}");
                return None;
            }
        };
        let (ours, others): (Vec<_>, Vec<_>) = all.into_iter().partition(|o| o.ros_type == ty);
        if let Some(o) = others.first() {
            log::debug!(
                "run-time types: {topic} also has a publisher of {}",
                o.ros_type
            );
        }
        Some(ours)
    }

    /// Re-creates every `Auto` subscription whose matching QoS changed.
    fn match_publishers(&mut self) {
        let ids: Vec<u64> = self.subs.keys().copied().collect();
        for id in ids {
            let Some(sub) = self.subs.get(&id) else {
                continue;
            };
            let SubQos::Auto { depth } = sub.options.qos else {
                continue;
            };
            let want = sub.options.ty.name.to_string();
            let Some(ours) = self.offers(&sub.resolved, &want) else {
                continue;
            };
            let current = *sub.state.qos.lock().unwrap_or_else(|p| p.into_inner());
            let Some(q) = matched(&ours, depth).filter(|q| *q != current) else {
                continue;
            };
            match rcl::Subscription::new(&mut self.node, sub.ts, &sub.options.topic, q) {
                Ok(fresh) => {
                    self.drain(id);
                    if let Some(sub) = self.subs.get_mut(&id) {
                        let old = std::mem::replace(&mut sub.rcl, fresh);
                        drop(old);
                        *sub.state.qos.lock().unwrap_or_else(|p| p.into_inner()) = q;
                        log::info!(
                            "run-time types: {} now {q} (matched to its publishers)",
                            sub.resolved
                        );
                    }
                }
                Err(e) => log::warn!(
                    "run-time types: {}: cannot change QoS to {q}: {e}",
                    sub.options.topic
                ),
            }
        }
    }

    /// Takes every message the subscription holds into its queue.
    fn drain(&mut self, id: u64) {
        let Some(sub) = self.subs.get(&id) else {
            return;
        };
        let mut any = false;
        loop {
            match sub.rcl.take(&mut self.buf) {
                Ok(true) => {
                    any = true;
                    sub.state.received.fetch_add(1, Ordering::Relaxed);
                    if !sub.state.queue.push(self.buf.bytes().to_vec()) {
                        sub.state.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(false) => break,
                Err(e) => {
                    log::warn!("run-time types: {}: {e}", sub.options.topic);
                    break;
                }
            }
        }
        if any {
            if let Some(n) = &sub.options.notify {
                n();
            }
        }
    }

    /// Finalizes what the handles may still reach; the rest goes with `self`, in field order
    /// (after `drop` below).
    fn stop(&mut self) {
        self.subs.clear();
        for slot in self.pubs.values() {
            slot.publisher
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
        }
        self.pubs.clear();
    }
}

impl Drop for Thread {
    /// The guard condition must go before the node: no other thread may reach it after this
    /// (they trigger it under the same lock), so the thread's is the last reference.
    fn drop(&mut self) {
        self.link
            .guard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.stop();
    }
}
