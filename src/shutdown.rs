//! Telling every task to stop, and knowing when it has. One [`Trigger`] fires; every task
//! holds a [`Shutdown`] that it selects on, finishes what it must (the runner's last zero
//! Twist, the link's `offline`), and returns; the owner then awaits each task.

use tokio::sync::watch;

/// Fires the shutdown, once, for every [`Shutdown`] made from it.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// A task's view of the shutdown.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    pub fn fire(&self) {
        self.0.send_replace(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// Resolves once the shutdown has fired (at once if it already has). A dropped trigger
    /// counts as fired: nobody could stop the task otherwise.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|fired| *fired).await;
    }

    pub fn fired(&self) -> bool {
        *self.0.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_copy_sees_the_trigger() {
        let (trigger, mut a) = channel();
        let mut b = a.clone();
        assert!(!a.fired());
        trigger.fire();
        a.wait().await;
        b.wait().await;
        assert!(b.fired());
        let mut late = trigger.subscribe();
        late.wait().await;
    }

    #[tokio::test]
    async fn a_dropped_trigger_stops_the_task() {
        let (trigger, mut s) = channel();
        drop(trigger);
        s.wait().await;
    }
}
