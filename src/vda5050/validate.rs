//! One order message against the rules of the text, before it meets the current order
//! (`order::OrderBook`): first its form (`validationError`), then whether this vehicle can
//! execute it (`orderError`).
//!
//! Form: ids printable, not empty, at most `limits.max_id_len`; at least one node and one
//! edge less; nodes on even and edges on odd sequence ids, each 1 more than the one before
//! (node, edge, node, ...); each edge from the node before it to the node after it; the base
//! (released) before the horizon and ending on a node, the first node released; action ids
//! unique; the text's ranges where the schema has none or a looser one (theta and
//! orientation in [-pi, pi], `allowedDeviationTheta` in [0, pi], deviations, widths and
//! weights not negative, knots in [0, 1] and as many as control points + degree + 1).
//!
//! Execution: sizes within `limits`; nodes on the vehicle's map; only the actions and
//! optional fields the robot's navigation takes (`vda5050.navigation`); no instant action in
//! a node or an edge.

use std::collections::HashSet;

use super::config::{Limits, NavigationConfig, INSTANT_ONLY};
use super::errors::{ActiveError, ErrorKind, Scope};
use super::msg::order::{Action, Edge, Node, Order, Trajectory};
use crate::command::json::shown_as_is;

/// Pi as the 2.1 order schema bounds theta and orientation: rounded up, so that a master
/// control writing pi to 11 digits is not refused. (The vehicle's own `theta` stays within the
/// exact [-pi, pi].)
#[allow(clippy::approx_constant)]
const PI_WRITTEN: f64 = 3.14159265359;
/// The schema's bound of `allowedDeviationTheta` (the text: [0, pi]).
#[allow(clippy::approx_constant)]
const PI_DEVIATION: f64 = 3.141592654;

/// What an order is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub limits: &'a Limits,
    pub map_id: &'a str,
    pub navigation: &'a NavigationConfig,
}

fn invalid(why: impl AsRef<str>) -> ActiveError {
    ActiveError::new(ErrorKind::Validation, Scope::Order, why)
}

fn unusable(why: impl AsRef<str>) -> ActiveError {
    ActiveError::new(ErrorKind::Order, Scope::Order, why)
}

/// The first problem of `order`, if any.
pub fn check(order: &Order, rules: Rules<'_>) -> Result<(), ActiveError> {
    form(order, rules.limits)?;
    executable(order, rules)
}

/// An id the text can mean: printable, not empty, at most `max` characters.
pub fn id(what: &str, value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if value.chars().count() > max {
        return Err(format!(
            "{what} is longer than {max} characters (vda5050.limits.max_id_len)"
        ));
    }
    if !value.chars().all(shown_as_is) {
        return Err(format!(
            "{what} must be printable text (no control or invisible format characters)"
        ));
    }
    Ok(())
}

fn form(o: &Order, limits: &Limits) -> Result<(), ActiveError> {
    let max_id = limits.max_id_len;
    id("orderId", &o.order_id, max_id).map_err(invalid)?;
    if let Some(z) = &o.zone_set_id {
        id("zoneSetId", z, max_id).map_err(invalid)?;
    }
    if o.nodes.is_empty() {
        return Err(invalid("an order needs at least one node"));
    }
    if o.edges.len() + 1 != o.nodes.len() {
        return Err(invalid(format!(
            "{} nodes need {} edges, not {}",
            o.nodes.len(),
            o.nodes.len() - 1,
            o.edges.len()
        )));
    }
    let mut previous: Option<&Node> = None;
    for (i, node) in o.nodes.iter().enumerate() {
        let at = |e: ActiveError| e.with("nodeId", &node.node_id);
        node_form(node, i, previous, max_id).map_err(at)?;
        previous = Some(node);
    }
    for (i, edge) in o.edges.iter().enumerate() {
        // Both exist: edges.len() == nodes.len() - 1.
        let (Some(from), Some(to)) = (o.nodes.get(i), o.nodes.get(i + 1)) else {
            break;
        };
        edge_form(edge, i, from, to, max_id).map_err(|e| e.with("edgeId", &edge.edge_id))?;
    }
    released_form(o)?;
    let mut ids = HashSet::new();
    for a in all_actions(o) {
        id("actionId", &a.action_id, max_id).map_err(invalid)?;
        if !ids.insert(a.action_id.as_str()) {
            return Err(invalid(format!(
                "actionId `{}` is used twice: each action needs its own",
                a.action_id
            ))
            .with("actionId", &a.action_id));
        }
        action_form(a).map_err(|e| e.with("actionId", &a.action_id))?;
    }
    Ok(())
}

fn node_form(
    node: &Node,
    i: usize,
    previous: Option<&Node>,
    max_id: usize,
) -> Result<(), ActiveError> {
    id(&format!("nodes[{i}].nodeId"), &node.node_id, max_id).map_err(invalid)?;
    let seq = node.sequence_id;
    if !seq.is_multiple_of(2) {
        return Err(invalid(format!(
            "nodes[{i}].sequenceId {seq} must be even (nodes even, edges odd)"
        )));
    }
    if let Some(p) = previous {
        if Some(seq) != p.sequence_id.checked_add(2) {
            return Err(invalid(format!(
                "nodes[{i}].sequenceId {seq} must follow {} by 2 (node, edge, node)",
                p.sequence_id
            )));
        }
    }
    if let Some(pos) = &node.node_position {
        id(
            &format!("nodes[{i}].nodePosition.mapId"),
            &pos.map_id,
            max_id,
        )
        .map_err(invalid)?;
        let f = format!("nodes[{i}].nodePosition");
        within(&format!("{f}.theta"), pos.theta, -PI_WRITTEN, PI_WRITTEN)?;
        within(
            &format!("{f}.allowedDeviationXY"),
            pos.allowed_deviation_xy,
            0.0,
            f64::MAX,
        )?;
        within(
            &format!("{f}.allowedDeviationTheta"),
            pos.allowed_deviation_theta,
            0.0,
            PI_DEVIATION,
        )?;
    }
    Ok(())
}

fn edge_form(
    edge: &Edge,
    i: usize,
    from: &Node,
    to: &Node,
    max_id: usize,
) -> Result<(), ActiveError> {
    id(&format!("edges[{i}].edgeId"), &edge.edge_id, max_id).map_err(invalid)?;
    if Some(edge.sequence_id) != from.sequence_id.checked_add(1) {
        return Err(invalid(format!(
            "edges[{i}].sequenceId {} must be 1 more than its start node's {} (node, edge, node)",
            edge.sequence_id, from.sequence_id
        )));
    }
    if edge.start_node_id != from.node_id || edge.end_node_id != to.node_id {
        return Err(invalid(format!(
            "edges[{i}] goes from `{}` to `{}`, but lies between nodes `{}` and `{}`",
            edge.start_node_id, edge.end_node_id, from.node_id, to.node_id
        )));
    }
    within(
        &format!("edges[{i}].orientation"),
        edge.orientation,
        -PI_WRITTEN,
        PI_WRITTEN,
    )?;
    if let Some(c) = &edge.corridor {
        within(
            &format!("edges[{i}].corridor.leftWidth"),
            Some(c.left_width),
            0.0,
            f64::MAX,
        )?;
        within(
            &format!("edges[{i}].corridor.rightWidth"),
            Some(c.right_width),
            0.0,
            f64::MAX,
        )?;
    }
    if let Some(t) = &edge.trajectory {
        trajectory_form(t, &format!("edges[{i}].trajectory"))?;
    }
    Ok(())
}

fn trajectory_form(t: &Trajectory, at: &str) -> Result<(), ActiveError> {
    if !(t.degree >= 1.0 && t.degree.fract() == 0.0) {
        return Err(invalid(format!(
            "{at}.degree must be an integer of at least 1, not {}",
            t.degree
        )));
    }
    for (k, knot) in t.knot_vector.iter().enumerate() {
        within(&format!("{at}.knotVector[{k}]"), Some(*knot), 0.0, 1.0)?;
    }
    for (k, p) in t.control_points.iter().enumerate() {
        within(
            &format!("{at}.controlPoints[{k}].weight"),
            p.weight,
            0.0,
            f64::MAX,
        )?;
    }
    // degree <= the payload's size in practice; f64 holds every count exactly.
    let want = t.control_points.len() as f64 + t.degree + 1.0;
    if t.knot_vector.len() as f64 != want {
        return Err(invalid(format!(
            "{at}.knotVector has {} knots; {} control points of degree {} need {want}",
            t.knot_vector.len(),
            t.control_points.len(),
            t.degree
        )));
    }
    Ok(())
}

/// In the sequence node, edge, node, ...: released ones first, then the horizon; the base
/// starts with the first node and ends on a node (an edge is released only with both ends).
fn released_form(o: &Order) -> Result<(), ActiveError> {
    let mut seq: Vec<(bool, &str, &str)> = Vec::with_capacity(o.nodes.len() * 2);
    for (i, node) in o.nodes.iter().enumerate() {
        seq.push((node.released, "node", &node.node_id));
        if let Some(edge) = o.edges.get(i) {
            seq.push((edge.released, "edge", &edge.edge_id));
        }
    }
    if !o.nodes.first().is_some_and(|n| n.released) {
        return Err(invalid(
            "the first node must be released: an order needs a base",
        ));
    }
    let base = seq.iter().take_while(|(released, ..)| *released).count();
    if let Some((_, what, name)) = seq.iter().skip(base).find(|(released, ..)| *released) {
        return Err(invalid(format!(
            "{what} `{name}` is released after the horizon began: the base comes first"
        )));
    }
    if let Some((_, "edge", name)) = base.checked_sub(1).and_then(|last| seq.get(last)) {
        return Err(invalid(format!(
            "edge `{name}` is released but its end node is not: the base ends on a node"
        )));
    }
    Ok(())
}

fn action_form(a: &Action) -> Result<(), ActiveError> {
    if a.action_type.is_empty() {
        return Err(invalid("actionType must not be empty"));
    }
    for (k, p) in a.action_parameters.iter().flatten().enumerate() {
        if p.key.is_empty() {
            return Err(invalid(format!(
                "actionParameters[{k}].key must not be empty"
            )));
        }
        if p.value.is_null() {
            return Err(invalid(format!(
                "actionParameters[{k}].value must not be null"
            )));
        }
    }
    Ok(())
}

/// `value`, when present, in `[min, max]`.
fn within(field: &str, value: Option<f64>, min: f64, max: f64) -> Result<(), ActiveError> {
    match value {
        Some(v) if !(min..=max).contains(&v) => {
            let range = if max == f64::MAX {
                format!("at least {min}")
            } else {
                format!("within [{min}, {max}]")
            };
            Err(invalid(format!("{field} {v} must be {range}")))
        }
        _ => Ok(()),
    }
}

fn all_actions(o: &Order) -> impl Iterator<Item = &Action> {
    let nodes = o.nodes.iter().flat_map(|n| &n.actions);
    nodes.chain(o.edges.iter().flat_map(|e| &e.actions))
}

fn executable(o: &Order, rules: Rules<'_>) -> Result<(), ActiveError> {
    let l = rules.limits;
    if o.nodes.len() > l.max_nodes {
        return Err(unusable(format!(
            "{} nodes are more than this vehicle takes ({}, vda5050.limits.max_nodes)",
            o.nodes.len(),
            l.max_nodes
        )));
    }
    for node in &o.nodes {
        let at = |e: ActiveError| e.with("nodeId", &node.node_id);
        count(
            "actions of a node",
            node.actions.len(),
            l.max_actions,
            "max_actions",
        )
        .map_err(at)?;
        if let Some(pos) = &node.node_position {
            if pos.map_id != rules.map_id {
                return Err(at(unusable(format!(
                    "node on map `{}`: this vehicle reports its position on `{}` (vda5050.map_id)",
                    pos.map_id, rules.map_id
                ))));
            }
        }
    }
    for edge in &o.edges {
        let at = |e: ActiveError| e.with("edgeId", &edge.edge_id);
        count(
            "actions of an edge",
            edge.actions.len(),
            l.max_actions,
            "max_actions",
        )
        .map_err(at)?;
        if let Some(t) = &edge.trajectory {
            let points = t.knot_vector.len().max(t.control_points.len());
            count(
                "trajectory points",
                points,
                l.max_trajectory_points,
                "max_trajectory_points",
            )
            .map_err(at)?;
        }
    }
    for a in all_actions(o) {
        let at = |e: ActiveError| {
            e.with("actionId", &a.action_id)
                .with("actionType", &a.action_type)
        };
        let params = a.action_parameters.as_ref().map_or(0, Vec::len);
        count(
            "action parameters",
            params,
            l.max_action_parameters,
            "max_action_parameters",
        )
        .map_err(at)?;
        if INSTANT_ONLY.contains(&a.action_type.as_str()) {
            return Err(at(unusable(format!(
                "`{}` is an instant action: send it on instantActions, not in an order",
                a.action_type
            ))));
        }
        if !rules.navigation.actions.contains(&a.action_type) {
            return Err(at(unusable(format!(
                "action `{}` is not one the robot's navigation executes \
                 (vda5050.navigation.actions)",
                a.action_type
            ))));
        }
    }
    if let Some((parameter, element)) = optional_parameters(o)
        .find(|(p, _)| !rules.navigation.optional_parameters.iter().any(|s| s == p))
    {
        let mut e = unusable(format!(
            "optional field `{parameter}` is not used by the robot's navigation \
             (vda5050.navigation.optional_parameters), and may not be ignored"
        ))
        .with("parameter", parameter);
        if let Some((key, value)) = element {
            e = e.with(key, value);
        }
        return Err(e);
    }
    Ok(())
}

fn count(what: &str, n: usize, max: usize, key: &str) -> Result<(), ActiveError> {
    if n > max {
        return Err(unusable(format!(
            "{n} {what} are more than this vehicle takes ({max}, vda5050.limits.{key})"
        )));
    }
    Ok(())
}

type Used<'a> = (&'static str, Option<(&'static str, &'a str)>);

/// Every optional field the order uses, by its factsheet name, with the element using it.
fn optional_parameters(o: &Order) -> impl Iterator<Item = Used<'_>> {
    let order = o.zone_set_id.iter().map(|_| ("order.zoneSetId", None));
    let nodes = o.nodes.iter().flat_map(|n| {
        let at = Some(("nodeId", n.node_id.as_str()));
        let mut used = Vec::new();
        if let Some(p) = &n.node_position {
            used.push("order.nodes.nodePosition");
            let fields = [
                (p.theta.is_some(), "order.nodes.nodePosition.theta"),
                (
                    p.allowed_deviation_xy.is_some(),
                    "order.nodes.nodePosition.allowedDeviationXY",
                ),
                (
                    p.allowed_deviation_theta.is_some(),
                    "order.nodes.nodePosition.allowedDeviationTheta",
                ),
            ];
            used.extend(fields.iter().filter(|(set, _)| *set).map(|(_, name)| *name));
        }
        if n.actions.iter().any(|a| a.action_parameters.is_some()) {
            used.push("order.nodes.actions.actionParameters");
        }
        used.into_iter().map(move |p| (p, at))
    });
    let edges = o.edges.iter().flat_map(|e| {
        let at = Some(("edgeId", e.edge_id.as_str()));
        #[rustfmt::skip]
        let fields = [
            (e.max_speed.is_some(), "order.edges.maxSpeed"),
            (e.max_height.is_some(), "order.edges.maxHeight"),
            (e.min_height.is_some(), "order.edges.minHeight"),
            (e.orientation.is_some(), "order.edges.orientation"),
            (e.orientation_type.is_some(), "order.edges.orientationType"),
            (e.direction.is_some(), "order.edges.direction"),
            (e.rotation_allowed.is_some(), "order.edges.rotationAllowed"),
            (e.max_rotation_speed.is_some(), "order.edges.maxRotationSpeed"),
            (e.length.is_some(), "order.edges.length"),
            (e.trajectory.is_some(), "order.edges.trajectory"),
            (e.corridor.is_some(), "order.edges.corridor"),
            (e.corridor.as_ref().is_some_and(|c| c.corridor_ref_point.is_some()), "order.edges.corridor.corridorRefPoint"),
            (e.actions.iter().any(|a| a.action_parameters.is_some()), "order.edges.actions.actionParameters"),
        ];
        fields
            .into_iter()
            .filter(|(set, _)| *set)
            .map(move |(_, p)| (p, at))
    });
    order.chain(nodes).chain(edges)
}
