//! `state.actionStates`: every action of the current order and every instant action since the
//! last order, in the order they came, bounded: when full, the oldest finished instant actions
//! go first, then the oldest finished order actions; one that still runs is never dropped.

use super::msg::state::ActionState;
use super::words::ActionStatus;

/// Where an action came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Instant,
    /// A node's or an edge's action: the element's sequence id.
    Order {
        sequence_id: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActionRecord {
    pub action_id: String,
    pub action_type: String,
    pub status: ActionStatus,
    pub result: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct ActionStates {
    list: Vec<ActionRecord>,
    max: usize,
    /// Finished records dropped to keep the bound.
    pub evicted: u64,
}

impl ActionStates {
    pub fn new(max: usize) -> ActionStates {
        ActionStates {
            list: Vec::new(),
            max: max.max(1),
            evicted: 0,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &ActionRecord> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn contains(&self, action_id: &str) -> bool {
        self.list.iter().any(|r| r.action_id == action_id)
    }

    pub fn get_mut(&mut self, action_id: &str) -> Option<&mut ActionRecord> {
        self.list.iter_mut().find(|r| r.action_id == action_id)
    }

    /// Room for `n` more without dropping a record that still runs.
    pub fn has_room(&self, n: usize) -> bool {
        let unfinished = self.list.iter().filter(|r| !r.status.is_final()).count();
        unfinished + n <= self.max
    }

    /// Adds `r`; when full, drops the oldest finished record before it (never `r` itself).
    pub fn push(&mut self, r: ActionRecord) {
        self.list.push(r);
        while self.list.len() > self.max {
            let older = self.list.len().saturating_sub(1);
            let finished = |instant: bool| {
                self.list
                    .iter()
                    .take(older)
                    .position(|r| r.status.is_final() && (r.origin == Origin::Instant) == instant)
            };
            match finished(true).or_else(|| finished(false)) {
                Some(i) => {
                    self.list.remove(i);
                    self.evicted += 1;
                }
                // Everything runs: callers check `has_room` first, so this is a bug.
                None => break,
            }
        }
    }

    /// Whether an order action has not finished yet (the order is still executing).
    pub fn order_running(&self) -> bool {
        self.list
            .iter()
            .any(|r| matches!(r.origin, Origin::Order { .. }) && !r.status.is_final())
    }

    /// A new order: only the instant actions that still run stay.
    pub fn new_order(&mut self) {
        self.list
            .retain(|r| r.origin == Origin::Instant && !r.status.is_final());
    }

    /// The horizon elements `sequence_ids` were replaced by an update: their actions go.
    pub fn drop_elements(&mut self, sequence_ids: &[u32]) {
        self.list.retain(
            |r| !matches!(r.origin, Origin::Order { sequence_id } if sequence_ids.contains(&sequence_id)),
        );
    }

    /// Every order action that has not finished fails with `why`. Returns whether any did.
    pub fn fail_order_actions(&mut self, why: &str) -> bool {
        let mut any = false;
        for r in &mut self.list {
            if matches!(r.origin, Origin::Order { .. }) && !r.status.is_final() {
                r.status = ActionStatus::Failed;
                r.result = Some(why.to_owned());
                any = true;
            }
        }
        any
    }

    pub fn to_msg(&self) -> Vec<ActionState> {
        self.list
            .iter()
            .map(|r| ActionState {
                action_id: r.action_id.clone(),
                action_type: Some(r.action_type.clone()),
                action_description: None,
                action_status: r.status,
                result_description: r.result.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, status: ActionStatus, origin: Origin) -> ActionRecord {
        ActionRecord {
            action_id: id.into(),
            action_type: "t".into(),
            status,
            result: None,
            origin,
        }
    }

    fn ids(a: &ActionStates) -> Vec<&str> {
        a.iter().map(|r| r.action_id.as_str()).collect()
    }

    #[test]
    fn bounded_oldest_finished_instant_first() {
        use ActionStatus::*;
        let order = Origin::Order { sequence_id: 0 };
        let mut a = ActionStates::new(3);
        a.push(rec("o1", Finished, order));
        a.push(rec("i1", Finished, Origin::Instant));
        a.push(rec("i2", Running, Origin::Instant));
        a.push(rec("i3", Finished, Origin::Instant));
        assert_eq!(ids(&a), ["o1", "i2", "i3"]);
        a.push(rec("i4", Waiting, Origin::Instant));
        assert_eq!(
            ids(&a),
            ["o1", "i2", "i4"],
            "then the next finished instant action"
        );
        a.push(rec("i5", Finished, Origin::Instant));
        assert_eq!(ids(&a), ["i2", "i4", "i5"], "then finished order actions");
        assert_eq!(a.evicted, 3);
        assert!(!a.has_room(2) && a.has_room(1));
    }

    #[test]
    fn orders_replace_and_fail_their_actions() {
        use ActionStatus::*;
        let mut a = ActionStates::new(10);
        a.push(rec("i1", Running, Origin::Instant));
        a.push(rec("i2", Finished, Origin::Instant));
        a.push(rec("n0", Waiting, Origin::Order { sequence_id: 0 }));
        a.push(rec("n2", Waiting, Origin::Order { sequence_id: 2 }));
        assert!(a.order_running());
        a.drop_elements(&[2]);
        assert_eq!(ids(&a), ["i1", "i2", "n0"]);
        assert!(a.fail_order_actions("cancelled"));
        assert!(!a.order_running());
        assert!(!a.fail_order_actions("again"));
        a.new_order();
        assert_eq!(ids(&a), ["i1"], "running instant actions stay");
    }
}
