//! The store on a thread of its own (`mqtt-store`), so that no disk write ever holds up the
//! link's tokio worker, let alone the ROS spin thread: an `fdatasync` takes from
//! microseconds to tens of milliseconds on a robot's flash.
//!
//! The link asks without waiting: each request is a `try_send`, and a full queue hands the
//! messages back to keep in memory. Outcomes come back as [`StoreEvent`]s, in the order of
//! the requests, for the link's select loop. Appends that queued up while the thread was
//! busy are written together with one sync (group commit), so the number of syncs follows
//! the disk's speed, not the message rate.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use super::queue::{Options, ReadBatch, Recovery, Store};
use super::StoreError;
use crate::diagnostics::StoreGauge;
use crate::mqtt::Outbound;

/// Requests of one group, at most: a group's outcomes wait for its sync.
const MAX_GROUP: usize = 256;

#[derive(Debug)]
pub enum StoreEvent {
    /// One append's QoS 1/2 messages are stored (synced, with `Durability::Fsync`): `ids` as
    /// [`super::Appended::ids`], `dropped` to add to the offline drop counter.
    Stored {
        ids: Vec<Option<u64>>,
        dropped: usize,
    },
    /// One append's messages are not stored and are the link's again (to keep in memory);
    /// the store is failed from now on. `dropped` older ones went before the failure.
    NotStored {
        messages: Vec<Outbound>,
        error: Arc<StoreError>,
        dropped: usize,
    },
    /// The answer to [`StoreWorker::read`].
    Read {
        after: u64,
        result: Result<ReadBatch, Arc<StoreError>>,
    },
    /// Pending messages dropped outside an append (to make room for acknowledgements).
    Dropped(usize),
    /// Acknowledgements could not be written: the store is failed (they are forgotten in
    /// memory, but would come back after a restart).
    Failed(Arc<StoreError>),
}

enum Request {
    Append(Vec<Outbound>),
    Ack(Vec<u64>),
    Read {
        after: u64,
        max_count: usize,
        max_bytes: usize,
    },
    Close(oneshot::Sender<()>),
}

/// The link's handle on the store's thread. Dropping it ends the thread (after a sync).
pub struct StoreWorker {
    requests: mpsc::Sender<Request>,
    _thread: JoinHandle<()>,
}

impl StoreWorker {
    /// Opens the store on its thread (recovery reads the whole store: never on the caller's)
    /// and returns once it is open, with its events and what recovery found. `capacity`
    /// bounds the requests and the events waiting; `gauge` gets the store's pending messages
    /// and bytes after each turn of the thread.
    pub async fn open(
        dir: PathBuf,
        options: Options,
        capacity: usize,
        gauge: Arc<StoreGauge>,
    ) -> Result<(StoreWorker, mpsc::Receiver<StoreEvent>, Recovery), StoreError> {
        let (requests, rx) = mpsc::channel(capacity.max(1));
        let (events, events_rx) = mpsc::channel(capacity.max(1));
        let (opened, opened_rx) = oneshot::channel();
        let thread_dir = dir.clone();
        let thread = std::thread::Builder::new()
            .name("mqtt-store".into())
            .spawn(move || match Store::open(&thread_dir, options) {
                Ok((store, recovery)) => {
                    measure(&store, &gauge);
                    if opened.send(Ok(recovery)).is_ok() {
                        run(store, rx, events, &gauge);
                    }
                }
                Err(e) => {
                    let _ = opened.send(Err(e));
                }
            })
            .map_err(StoreError::io(&dir, "start the store's thread"))?;
        let recovery = opened_rx
            .await
            .map_err(|_| StoreError::Stopped { dir: dir.clone() })??;
        let worker = StoreWorker {
            requests,
            _thread: thread,
        };
        Ok((worker, events_rx, recovery))
    }

    /// Queues `batch` to be stored (QoS 0 messages in it are passed over); the outcome comes
    /// as one `Stored` or `NotStored` event. When the queue is full, or the thread gone, the
    /// messages come back at once.
    pub fn append(&self, batch: Vec<Outbound>) -> Result<(), Vec<Outbound>> {
        self.requests
            .try_send(Request::Append(batch))
            .map_err(|e| match e.into_inner() {
                Request::Append(batch) => batch,
                _ => Vec::new(),
            })
    }

    /// Queues acknowledgements (no event unless something was dropped or failed); false when
    /// the queue is full: the messages may then come back after a restart (at least once).
    pub fn ack(&self, ids: Vec<u64>) -> bool {
        self.requests.try_send(Request::Ack(ids)).is_ok()
    }

    /// Asks for pending messages with ids above `after` (see [`Store::read_after`]); the
    /// answer comes as a `Read` event. False when the queue is full: ask again later.
    pub fn read(&self, after: u64, max_count: usize, max_bytes: usize) -> bool {
        let r = Request::Read {
            after,
            max_count,
            max_bytes,
        };
        self.requests.try_send(r).is_ok()
    }

    /// Writes what is queued, syncs, releases the lock, and returns once that is done. The
    /// outcomes of appends still queued are sent only if there is room: wait for those
    /// first. The thread may be waiting to hand over an earlier event: keep taking events
    /// while this runs, or bound it with a timeout.
    pub async fn close(self) {
        let (done, wait) = oneshot::channel();
        if self.requests.send(Request::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

fn measure(store: &Store, gauge: &StoreGauge) {
    gauge.pending.store(store.pending() as u64, Relaxed);
    gauge.bytes.store(store.disk_bytes(), Relaxed);
}

fn run(
    mut store: Store,
    mut requests: mpsc::Receiver<Request>,
    events: mpsc::Sender<StoreEvent>,
    gauge: &StoreGauge,
) {
    // Waits while the link has not taken the events before: the requests then wait too,
    // and the link keeps what it cannot hand over in memory.
    let send = |e| events.blocking_send(e).is_ok();
    let mut appends = Vec::new();
    while let Some(first) = requests.blocking_recv() {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(request) = next.take() {
            taken += 1;
            let sent = match request {
                Request::Append(batch) => {
                    appends.push(batch);
                    true
                }
                Request::Close(done) => {
                    // The link may no longer read events while it waits for the close.
                    flush(&mut store, &mut appends, gauge, |e| {
                        let _ = events.try_send(e);
                        true
                    });
                    if let Err(e) = store.sync() {
                        log::warn!("{e}");
                    }
                    measure(&store, gauge);
                    drop(store);
                    let _ = done.send(());
                    return;
                }
                other => {
                    flush(&mut store, &mut appends, gauge, send) && serve(&mut store, other, send)
                }
            };
            if !sent {
                return;
            }
            if taken < MAX_GROUP {
                next = requests.try_recv().ok();
            }
        }
        let sent = flush(&mut store, &mut appends, gauge, send);
        measure(&store, gauge);
        if !sent {
            return;
        }
    }
    // Every handle is gone: what was written is synced on the way out.
    if store.failure().is_none() {
        if let Err(e) = store.sync() {
            log::warn!("{e}");
        }
    }
}

/// Writes the queued appends as one batch, measures the store, and `send`s one outcome per
/// append; false when nobody listens any more.
fn flush(
    store: &mut Store,
    appends: &mut Vec<Vec<Outbound>>,
    gauge: &StoreGauge,
    send: impl FnMut(StoreEvent) -> bool,
) -> bool {
    if appends.is_empty() {
        return true;
    }
    let lens: Vec<usize> = appends.iter().map(Vec::len).collect();
    let mut all: Vec<Outbound> = appends.drain(..).flatten().collect();
    let outcomes: Vec<StoreEvent> = match store.append(&all) {
        Ok(done) => {
            let mut ids = done.ids.into_iter();
            let mut dropped = Some(done.dropped);
            lens.iter()
                .map(|&n| StoreEvent::Stored {
                    ids: ids.by_ref().take(n).collect(),
                    dropped: dropped.take().unwrap_or(0),
                })
                .collect()
        }
        Err(failed) => {
            let error = Arc::new(failed.error);
            let mut dropped = Some(failed.dropped);
            let mut back: Vec<Vec<Outbound>> = lens
                .iter()
                .rev()
                .map(|&n| all.split_off(all.len() - n))
                .collect();
            back.reverse();
            back.into_iter()
                .map(|messages| StoreEvent::NotStored {
                    messages,
                    error: error.clone(),
                    dropped: dropped.take().unwrap_or(0),
                })
                .collect()
        }
    };
    measure(store, gauge);
    outcomes.into_iter().all(send)
}

/// Answers one request other than an append; false when nobody listens any more.
fn serve(store: &mut Store, request: Request, send: impl FnOnce(StoreEvent) -> bool) -> bool {
    let event = match request {
        Request::Ack(ids) => match store.ack(&ids) {
            Ok(acked) if acked.dropped > 0 => Some(StoreEvent::Dropped(acked.dropped)),
            Ok(_) => None,
            Err(e) if store.failure().is_some() && matches!(e, StoreError::Failed { .. }) => None,
            Err(e) => Some(StoreEvent::Failed(Arc::new(e))),
        },
        Request::Read {
            after,
            max_count,
            max_bytes,
        } => Some(StoreEvent::Read {
            after,
            result: store
                .read_after(after, max_count, max_bytes)
                .map_err(Arc::new),
        }),
        Request::Append(_) | Request::Close(_) => None,
    };
    event.is_none_or(send)
}
