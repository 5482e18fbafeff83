//! The instant actions the bridge owns, and what each may do. Any other `actionType` is
//! FAILED with an `instantActionError`: never ignored.

use super::msg::order::Action;

/// Every supported instant action and what it does, as the factsheet tells master control.
pub const SUPPORTED: [(&str, &str); 5] = [
    (
        "startPause",
        "Pauses driving: the bridge's safety layer sends zero velocity within one command tick \
         and refuses any motion until stopPause; the navigation is told to pause. FINISHED \
         once the vehicle stands still.",
    ),
    (
        "stopPause",
        "Ends the pause: motion is allowed again and the navigation is told to resume.",
    ),
    (
        "cancelOrder",
        "The navigation stops and drops the order; its actions that did not finish FAIL. \
         FINISHED once the vehicle stands still.",
    ),
    ("stateRequest", "Sends a state message now."),
    ("factsheetRequest", "Sends the factsheet now."),
];

/// A supported instant action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    StartPause,
    StopPause,
    CancelOrder,
    StateRequest,
    FactsheetRequest,
}

impl Request {
    /// The request `action` makes, or why it cannot be carried out.
    pub fn of(action: &Action) -> Result<Request, String> {
        let request = match action.action_type.as_str() {
            "startPause" => Request::StartPause,
            "stopPause" => Request::StopPause,
            "cancelOrder" => Request::CancelOrder,
            "stateRequest" => Request::StateRequest,
            "factsheetRequest" => Request::FactsheetRequest,
            other => {
                return Err(format!(
                    "instant action `{other}` is not supported by this vehicle (supported: {})",
                    SUPPORTED.map(|(name, _)| name).join(", ")
                ))
            }
        };
        match action.action_parameters.as_deref() {
            Some([first, ..]) => Err(format!(
                "{} takes no parameters, got `{}`",
                action.action_type, first.key
            )),
            _ => Ok(request),
        }
    }

    /// Whether it may be obeyed from a retained or stale message: it only stops the robot or
    /// reports. `stopPause` lets the robot move again, so a replayed one must not.
    pub fn only_stops_or_reports(self) -> bool {
        self != Request::StopPause
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vda5050::msg::order::ActionParameter;
    use crate::vda5050::words::BlockingType;

    fn action(kind: &str, params: Option<Vec<ActionParameter>>) -> Action {
        Action {
            action_type: kind.into(),
            action_id: "a".into(),
            action_description: None,
            blocking_type: BlockingType::Hard,
            action_parameters: params,
        }
    }

    #[test]
    fn supported_unsupported_and_parameters() {
        assert_eq!(
            Request::of(&action("startPause", None)),
            Ok(Request::StartPause)
        );
        assert_eq!(
            Request::of(&action("factsheetRequest", Some(vec![]))),
            Ok(Request::FactsheetRequest)
        );
        let e = Request::of(&action("startCharging", None)).expect_err("unsupported");
        assert!(
            e.contains("`startCharging` is not supported") && e.contains("cancelOrder"),
            "{e}"
        );
        let p = ActionParameter {
            key: "duration".into(),
            value: serde_json::json!(5),
        };
        let e = Request::of(&action("stopPause", Some(vec![p]))).expect_err("parameters");
        assert_eq!(e, "stopPause takes no parameters, got `duration`");
        assert!(!Request::StopPause.only_stops_or_reports());
        assert!(Request::CancelOrder.only_stops_or_reports());
        assert_eq!(SUPPORTED.len(), 5);
    }
}
