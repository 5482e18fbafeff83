//! `instantActions` as received: a header and actions (the order's action type), closed.

use super::headed;
use super::order::Action;

headed!(InstantActions {
    pub actions: Vec<Action>,
});
