//! The current order as the vehicle holds it (`orderId`, `orderUpdateId`, the nodes and edges
//! still to traverse, the last node reached) and the text's process of accepting an order or
//! an order update (figure 8 of 6.6.2, and 6.6.4):
//!
//! - a new `orderId` while the vehicle still executes one (nodes left, or actions not
//!   finished) is refused (`orderError`): cancel first;
//! - the same `orderId` with a lower `orderUpdateId` is refused (`orderUpdateError`), the
//!   current order goes on; the same `orderUpdateId` again is ignored;
//! - a higher `orderUpdateId` must start at the decision point: the last base node still
//!   ahead, or, when the base is done, the last node reached (`lastNodeId` and
//!   `lastNodeSequenceId`), else `orderUpdateError`. The stitching node keeps the first
//!   order's content; the old horizon is replaced;
//! - an update of a cancelled order is refused (`orderUpdateError`): after `cancelOrder` a new
//!   order needs a new `orderId` (3.0 names this `ORDER_UPDATE_FOLLOWING_CANCEL`; 2.1's figure
//!   would take it, which could set the robot moving on a stale plan).
//!
//! The first node's reachability (step 4) is left to the robot's navigation: odometry in a
//! configured map is not localisation enough to judge it.

use super::errors::{ActiveError, ErrorKind, Scope};
use super::msg::order::Order;
use super::msg::state::{EdgeState, NodeState};

#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub id: String,
    pub sequence_id: u32,
    pub released: bool,
}

/// What an order message is to the current order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    New,
    Update,
    /// The same `orderId` and `orderUpdateId` again: ignored (master control resends when
    /// it did not see the state in time).
    Repeat,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderBook {
    /// `""` before the first order.
    pub order_id: String,
    pub order_update_id: u32,
    pub zone_set_id: Option<String>,
    /// `""` until a node is reached.
    pub last_node_id: String,
    pub last_node_sequence_id: u32,
    /// Still to traverse, base then horizon.
    pub nodes: Vec<Element>,
    pub edges: Vec<Element>,
    /// Cancelled (or cleared by an operating mode): updates of it are refused.
    pub cancelled: bool,
}

fn update_error(why: String) -> ActiveError {
    ActiveError::new(ErrorKind::OrderUpdate, Scope::Order, why)
}

impl OrderBook {
    /// Executing, or waiting for an update (nodes left), or its actions still run.
    pub fn active(&self, actions_running: bool) -> bool {
        !self.nodes.is_empty() || actions_running
    }

    /// Where an update must start: the last released node still ahead, else the last node
    /// reached.
    pub fn decision_point(&self) -> (&str, u32) {
        match self.nodes.iter().rev().find(|n| n.released) {
            Some(n) => (&n.id, n.sequence_id),
            None => (&self.last_node_id, self.last_node_sequence_id),
        }
    }

    /// Judges a validated order (`validate::check`) against the current one.
    pub fn judge(
        &self,
        o: &Order,
        actions_running: bool,
        max_nodes: usize,
    ) -> Result<Verdict, ActiveError> {
        if o.order_id != self.order_id {
            if self.active(actions_running) {
                return Err(ActiveError::new(
                    ErrorKind::Order,
                    Scope::Order,
                    format!(
                        "order `{}` is still active (nodes or actions left): cancel it with \
                         cancelOrder before sending another orderId",
                        self.order_id
                    ),
                ));
            }
            return Ok(Verdict::New);
        }
        if self.cancelled {
            return Err(update_error(format!(
                "order `{}` was cancelled: a new order needs a new orderId",
                self.order_id
            )));
        }
        if o.order_update_id < self.order_update_id {
            return Err(update_error(format!(
                "orderUpdateId {} is older than the current {}: the current order goes on",
                o.order_update_id, self.order_update_id
            )));
        }
        if o.order_update_id == self.order_update_id {
            return Ok(Verdict::Repeat);
        }
        let (id, seq) = self.decision_point();
        let Some(first) = o.nodes.first() else {
            return Err(update_error("an order update needs a node".into()));
        };
        if first.node_id != id || first.sequence_id != seq {
            return Err(update_error(format!(
                "the update starts at node `{}` (sequenceId {}), not at the decision point \
                 `{id}` (sequenceId {seq}): the base cannot change",
                first.node_id, first.sequence_id
            )));
        }
        let kept = self.nodes.iter().filter(|n| n.released).count();
        let total = kept + o.nodes.len().saturating_sub(1);
        if total > max_nodes {
            return Err(ActiveError::new(
                ErrorKind::Order,
                Scope::Order,
                format!(
                    "the update makes {total} nodes to traverse, more than this vehicle takes \
                     ({max_nodes}, vda5050.limits.max_nodes)"
                ),
            ));
        }
        Ok(Verdict::Update)
    }

    /// Takes `o` as a new order.
    pub fn start(&mut self, o: &Order) {
        self.order_id = o.order_id.clone();
        self.order_update_id = o.order_update_id;
        self.zone_set_id = o.zone_set_id.clone();
        self.nodes = o
            .nodes
            .iter()
            .map(|n| element(&n.node_id, n.sequence_id, n.released))
            .collect();
        self.edges = o
            .edges
            .iter()
            .map(|e| element(&e.edge_id, e.sequence_id, e.released))
            .collect();
        self.cancelled = false;
    }

    /// The sequence ids of the horizon, which an update replaces.
    pub fn horizon(&self) -> Vec<u32> {
        let nodes = self.nodes.iter().filter(|n| !n.released);
        let edges = self.edges.iter().filter(|e| !e.released);
        nodes.chain(edges).map(|x| x.sequence_id).collect()
    }

    /// Stitches the update `o` (judged [`Verdict::Update`]) on: the horizon goes, the
    /// update's nodes after the stitching node and all its edges follow the base.
    pub fn extend(&mut self, o: &Order) {
        self.nodes.retain(|n| n.released);
        self.edges.retain(|e| e.released);
        self.order_update_id = o.order_update_id;
        self.zone_set_id = o.zone_set_id.clone();
        let nodes = o.nodes.iter().skip(1);
        self.nodes
            .extend(nodes.map(|n| element(&n.node_id, n.sequence_id, n.released)));
        self.edges.extend(
            o.edges
                .iter()
                .map(|e| element(&e.edge_id, e.sequence_id, e.released)),
        );
    }

    /// The navigation reached node `id` (`seq`): it and everything before it are traversed.
    /// `Ok(false)`: already known. While no order runs (cancelled, or done) the node is taken
    /// as the vehicle's last node as it is: there is nothing to check it against.
    pub fn reached(&mut self, id: &str, seq: u32) -> Result<bool, String> {
        if id == self.last_node_id && seq == self.last_node_sequence_id {
            return Ok(false);
        }
        if !self.nodes.is_empty() {
            let Some(at) = self
                .nodes
                .iter()
                .position(|n| n.id == id && n.sequence_id == seq)
            else {
                return Err(format!(
                    "the navigation reports node `{id}` (sequenceId {seq}), which is not ahead \
                     in order `{}`",
                    self.order_id
                ));
            };
            if self.nodes.get(at).is_some_and(|n| !n.released) {
                return Err(format!(
                    "the navigation reports node `{id}` (sequenceId {seq}) of the horizon, \
                     which is not released"
                ));
            }
            self.nodes.drain(..=at);
            self.edges.retain(|e| e.sequence_id > seq);
        }
        self.last_node_id = id.to_owned();
        self.last_node_sequence_id = seq;
        Ok(true)
    }

    /// Drops what is left of the order (`cancelOrder`, an operating mode that clears orders);
    /// `orderId` and `orderUpdateId` stay, as the text says.
    pub fn clear(&mut self) {
        self.nodes.clear();
        self.edges.clear();
        self.cancelled = true;
    }

    pub fn node_states(&self) -> Vec<NodeState> {
        let state = |n: &Element| NodeState {
            node_id: n.id.clone(),
            sequence_id: n.sequence_id,
            released: n.released,
        };
        self.nodes.iter().map(state).collect()
    }

    pub fn edge_states(&self) -> Vec<EdgeState> {
        let state = |e: &Element| EdgeState {
            edge_id: e.id.clone(),
            sequence_id: e.sequence_id,
            released: e.released,
        };
        self.edges.iter().map(state).collect()
    }
}

fn element(id: &str, sequence_id: u32, released: bool) -> Element {
    Element {
        id: id.to_owned(),
        sequence_id,
        released,
    }
}
