//! Every unsafe call of the run-time types: an rcl context and node of their own (through the
//! `r2r_rcl` bindings, as r2r makes its own), a type support handle loaded from its library,
//! subscriptions that take serialized messages, publishers that publish them, a guard
//! condition, a wait set and the graph query for the publishers of a topic.
//!
//! Rules kept here (rcl's): the context, node, guard condition, subscriptions and publishers
//! live in boxes (rcl keeps pointers to them) and are finalized in reverse order of creation,
//! each with the node it was made on; a wait set, a take and the creation or removal of a
//! subscription happen on one thread (the runtime's); `rcl_publish_serialized_message` and
//! `rcl_trigger_guard_condition` may be called from any thread. Every return code is checked,
//! and a failure carries rcutils' error string (then reset, as rcl expects).

use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};
use std::ptr;
use std::time::Duration;

use r2r_rcl::*;

use super::msg::TypeName;
use super::qos::{Durability, Offer, Qos, Reliability};

/// A failed rcl call, or a type support that could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RclError {
    #[error("{call} failed ({code}): {message}")]
    Call {
        call: &'static str,
        code: i32,
        message: String,
    },
    #[error("`{0}` holds a NUL character")]
    Nul(String),
    #[error("cannot load the type support of {ty} from {}: {why}", lib.display())]
    Load {
        ty: String,
        lib: PathBuf,
        why: String,
    },
}

/// Checks an rcl return code; on failure takes (and resets) rcutils' error string.
fn check(call: &'static str, code: rcl_ret_t) -> Result<(), RclError> {
    if code == RCL_RET_OK as rcl_ret_t {
        return Ok(());
    }
    // SAFETY: rcutils keeps the error state per thread; reading and resetting it is always
    // allowed, and the string is copied out before the reset.
    let message = unsafe {
        let e = rcutils_get_error_string();
        let text = CStr::from_ptr(e.str_.as_ptr())
            .to_string_lossy()
            .into_owned();
        rcutils_reset_error();
        text
    };
    Err(RclError::Call {
        call,
        code,
        message,
    })
}

/// A finalizer's return code: nothing can be done about a failure but say it.
fn finished(call: &'static str, code: rcl_ret_t) {
    if let Err(e) = check(call, code) {
        log::warn!("run-time types: {e}");
    }
}

fn cstring(s: &str) -> Result<CString, RclError> {
    CString::new(s).map_err(|_| RclError::Nul(s.to_owned()))
}

/// A message type's C type support: static data in a library that is never unloaded.
#[derive(Debug, Clone, Copy)]
pub struct TypeSupport(*const rosidl_message_type_support_t);

// SAFETY: the handle points to immutable static data of a library that stays loaded for the
// life of the process (see `load`); rcl only reads it.
unsafe impl Send for TypeSupport {}
unsafe impl Sync for TypeSupport {}

impl TypeSupport {
    /// Loads `lib` (the package's `lib<pkg>__rosidl_typesupport_c.so`) and gets the handle of
    /// `ty` from it. The library is never unloaded: the handle and the serialization code
    /// that rmw finds through it live there, for as long as any subscription or publisher.
    pub fn load(lib: &Path, ty: &TypeName) -> Result<TypeSupport, RclError> {
        let fail = |why: String| RclError::Load {
            ty: ty.to_string(),
            lib: lib.to_owned(),
            why,
        };
        let symbol = format!(
            "rosidl_typesupport_c__get_message_type_support_handle__{}__msg__{}\0",
            ty.package, ty.name
        );
        // SAFETY: loading runs the library's initializers, which for a rosidl type support
        // library only register static data. The symbol has the signature rosidl generates:
        // `const rosidl_message_type_support_t * (void)`.
        let handle = unsafe {
            let library = libloading::Library::new(lib).map_err(|e| fail(e.to_string()))?;
            let get: libloading::Symbol<
                unsafe extern "C" fn() -> *const rosidl_message_type_support_t,
            > = library
                .get(symbol.as_bytes())
                .map_err(|e| fail(e.to_string()))?;
            let handle = get();
            std::mem::forget(library);
            handle
        };
        if handle.is_null() {
            return Err(fail("its handle is null".into()));
        }
        Ok(TypeSupport(handle))
    }
}

fn rmw_qos(q: Qos) -> rmw_qos_profile_t {
    let zero = rmw_time_s { sec: 0, nsec: 0 };
    rmw_qos_profile_t {
        history: rmw_qos_history_policy_e::RMW_QOS_POLICY_HISTORY_KEEP_LAST,
        depth: q.depth,
        reliability: match q.reliability {
            Reliability::Reliable => {
                rmw_qos_reliability_policy_e::RMW_QOS_POLICY_RELIABILITY_RELIABLE
            }
            Reliability::BestEffort => {
                rmw_qos_reliability_policy_e::RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT
            }
        },
        durability: match q.durability {
            Durability::Volatile => rmw_qos_durability_policy_e::RMW_QOS_POLICY_DURABILITY_VOLATILE,
            Durability::TransientLocal => {
                rmw_qos_durability_policy_e::RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL
            }
        },
        deadline: zero,
        lifespan: zero,
        liveliness: rmw_qos_liveliness_policy_e::RMW_QOS_POLICY_LIVELINESS_SYSTEM_DEFAULT,
        liveliness_lease_duration: zero,
        avoid_ros_namespace_conventions: false,
    }
}

/// An rcl context with one node on it; finalized (node, shutdown, context) when dropped.
pub struct Node {
    context: Box<rcl_context_t>,
    node: Box<rcl_node_t>,
}

// SAFETY: the node is created, used for subscriptions, waits and graph queries, and finalized
// on one thread (the runtime's); it is only moved there, never shared.
unsafe impl Send for Node {}

impl Node {
    /// `rcl_init` with `args` (the process's, so that `--ros-args` remapping and namespaces
    /// apply as to r2r's node; reads `ROS_DOMAIN_ID`), then a node `name` in `namespace`.
    pub fn new(args: &[String], name: &str, namespace: &str) -> Result<Node, RclError> {
        let c_args: Vec<CString> = args.iter().map(|a| cstring(a)).collect::<Result<_, _>>()?;
        let argv: Vec<*const c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
        let argc = i32::try_from(argv.len()).map_err(|_| RclError::Nul("argc".into()))?;
        let (name, namespace) = (cstring(name)?, cstring(namespace)?);
        // SAFETY: zero-initialized structs as rcl wants them; the context is boxed before
        // init (rcl keeps its address) and finalized on every failure path below. `argv`
        // outlives the call (rcl copies what it keeps).
        unsafe {
            let mut context = Box::new(rcl_get_zero_initialized_context());
            let mut options = rcl_get_zero_initialized_init_options();
            check(
                "rcl_init_options_init",
                rcl_init_options_init(&mut options, rcutils_get_default_allocator()),
            )?;
            let argv_ptr = if argv.is_empty() {
                ptr::null()
            } else {
                argv.as_ptr()
            };
            let init = check(
                "rcl_init",
                rcl_init(argc, argv_ptr, &options, context.as_mut()),
            );
            check("rcl_init_options_fini", rcl_init_options_fini(&mut options))?;
            init?;
            let mut node = Box::new(rcl_get_zero_initialized_node());
            let made = check(
                "rcl_node_init",
                rcl_node_init(
                    node.as_mut(),
                    name.as_ptr(),
                    namespace.as_ptr(),
                    context.as_mut(),
                    &rcl_node_get_default_options(),
                ),
            );
            if let Err(e) = made {
                finished("rcl_shutdown", rcl_shutdown(context.as_mut()));
                finished("rcl_context_fini", rcl_context_fini(context.as_mut()));
                return Err(e);
            }
            Ok(Node { context, node })
        }
    }

    /// The node's name with its namespace, as the graph shows it.
    pub fn fully_qualified_name(&self) -> String {
        // SAFETY: a string owned by the node, copied while the node is alive.
        unsafe {
            let p = rcl_node_get_fully_qualified_name(self.node.as_ref());
            if p.is_null() {
                return String::new();
            }
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }

    /// `topic` as this node's subscriptions resolve it: expanded (namespace, `~`) and
    /// remapped. The graph knows topics only by such names.
    pub fn resolve_topic(&self, topic: &str) -> Result<String, RclError> {
        let name = cstring(topic)?;
        // SAFETY: rcl allocates the output with the allocator given; it is copied, then freed
        // with the same allocator.
        unsafe {
            let alloc = rcutils_get_default_allocator();
            let mut out: *mut c_char = ptr::null_mut();
            check(
                "rcl_node_resolve_name",
                rcl_node_resolve_name(
                    self.node.as_ref(),
                    name.as_ptr(),
                    alloc,
                    false,
                    false,
                    &mut out,
                ),
            )?;
            if out.is_null() {
                return Ok(topic.to_owned());
            }
            let resolved = CStr::from_ptr(out).to_string_lossy().into_owned();
            if let Some(free) = alloc.deallocate {
                free(out.cast(), alloc.state);
            }
            Ok(resolved)
        }
    }

    /// The publishers on `topic`, a fully qualified name (`resolve_topic`).
    pub fn publishers(&self, topic: &str) -> Result<Vec<Offer>, RclError> {
        let topic = cstring(topic)?;
        // SAFETY: the array is zero-initialized, filled by rcl with the allocator given, read
        // within its `size`, and finalized with the same allocator.
        unsafe {
            let mut alloc = rcutils_get_default_allocator();
            let mut arr = rmw_get_zero_initialized_topic_endpoint_info_array();
            check(
                "rcl_get_publishers_info_by_topic",
                rcl_get_publishers_info_by_topic(
                    self.node.as_ref(),
                    &mut alloc,
                    topic.as_ptr(),
                    false,
                    &mut arr,
                ),
            )?;
            let infos: &[rmw_topic_endpoint_info_t] = if arr.info_array.is_null() {
                &[]
            } else {
                std::slice::from_raw_parts(arr.info_array, arr.size)
            };
            let offers = infos.iter().map(offer).collect();
            check(
                "rmw_topic_endpoint_info_array_fini",
                rmw_topic_endpoint_info_array_fini(&mut arr, &mut alloc),
            )?;
            Ok(offers)
        }
    }

    fn node_ptr(&self) -> *const rcl_node_t {
        self.node.as_ref()
    }

    fn context_ptr(&mut self) -> *mut rcl_context_t {
        self.context.as_mut()
    }
}

fn offer(info: &rmw_topic_endpoint_info_t) -> Offer {
    use rmw_qos_durability_policy_e::*;
    use rmw_qos_reliability_policy_e::*;
    let q = &info.qos_profile;
    let ros_type = if info.topic_type.is_null() {
        String::new()
    } else {
        // SAFETY: a NUL-terminated string owned by the array, read before it is finalized.
        unsafe { CStr::from_ptr(info.topic_type) }
            .to_string_lossy()
            .into_owned()
    };
    Offer {
        ros_type,
        reliability: match q.reliability {
            RMW_QOS_POLICY_RELIABILITY_RELIABLE => Some(Reliability::Reliable),
            RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT => Some(Reliability::BestEffort),
            _ => None,
        },
        durability: match q.durability {
            RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL => Some(Durability::TransientLocal),
            RMW_QOS_POLICY_DURABILITY_VOLATILE => Some(Durability::Volatile),
            _ => None,
        },
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // SAFETY: every subscription, publisher, guard condition and wait set of this node
        // and context was finalized before (the runtime drops them first); return codes are
        // logged, there is nothing else to do with them at this point.
        unsafe {
            for (call, code) in [
                ("rcl_node_fini", rcl_node_fini(self.node.as_mut())),
                ("rcl_shutdown", rcl_shutdown(self.context.as_mut())),
                ("rcl_context_fini", rcl_context_fini(self.context.as_mut())),
            ] {
                finished(call, code);
            }
        }
    }
}

/// A subscription or a publisher: made on a node with a type support, a topic and a QoS,
/// and finalized with that node. Both are boxed (rcl keeps their address).
macro_rules! endpoint {
    ($(#[$doc:meta])* $name:ident, $t:ty, $zero:ident, $options:ident, $init:ident, $fini:ident) => {
        $(#[$doc])*
        pub struct $name {
            handle: Box<$t>,
            node: *mut rcl_node_t,
        }

        // SAFETY: a subscription is made, waited on, taken from and finalized on the runtime
        // thread only. rcl documents `rcl_publish_serialized_message` as thread-safe for
        // distinct publisher/message pairs; the runtime keeps each publisher behind a mutex
        // and finalizes it on its own thread, before the node.
        unsafe impl Send for $name {}

        impl $name {
            pub fn new(node: &mut Node, ts: TypeSupport, topic: &str, qos: Qos) -> Result<Self, RclError> {
                let topic = cstring(topic)?;
                // SAFETY: the handle is boxed before init; `node` outlives it (the runtime
                // drops endpoints before the node); the type support is static (see `load`).
                unsafe {
                    let mut handle = Box::new($zero());
                    let mut options = $options();
                    options.qos = rmw_qos(qos);
                    check(
                        stringify!($init),
                        $init(handle.as_mut(), node.node_ptr(), ts.0, topic.as_ptr(), &options),
                    )?;
                    Ok($name {
                        handle,
                        node: node.node.as_mut(),
                    })
                }
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                // SAFETY: the node is still valid (see `new`), and no wait set holds the
                // handle: the runtime clears its wait set at every wait.
                let code = unsafe { $fini(self.handle.as_mut(), self.node) };
                finished(stringify!($fini), code);
            }
        }
    };
}

endpoint!(
    /// A subscription that takes serialized (CDR) messages.
    Subscription,
    rcl_subscription_t,
    rcl_get_zero_initialized_subscription,
    rcl_subscription_get_default_options,
    rcl_subscription_init,
    rcl_subscription_fini
);

endpoint!(
    /// A publisher of serialized (CDR) messages.
    Publisher,
    rcl_publisher_t,
    rcl_get_zero_initialized_publisher,
    rcl_publisher_get_default_options,
    rcl_publisher_init,
    rcl_publisher_fini
);

impl Subscription {
    /// The next message into `buf`; false when there is none.
    pub fn take(&self, buf: &mut SerializedBuffer) -> Result<bool, RclError> {
        let mut info = rmw_message_info_t::default();
        // SAFETY: `buf` was initialized with the default allocator, which rmw may use to grow
        // it; the subscription is valid until dropped.
        let code = unsafe {
            rcl_take_serialized_message(
                self.handle.as_ref(),
                &mut buf.0,
                &mut info,
                ptr::null_mut(),
            )
        };
        if code == RCL_RET_SUBSCRIPTION_TAKE_FAILED as rcl_ret_t {
            return Ok(false);
        }
        check("rcl_take_serialized_message", code).map(|()| true)
    }
}

impl Publisher {
    /// Publishes one message's CDR (encapsulation header included).
    pub fn publish(&self, cdr: &[u8]) -> Result<(), RclError> {
        // SAFETY: rmw only reads the buffer, within `buffer_length`, during the call; the
        // `*mut` is what the C struct declares.
        unsafe {
            let msg = rcl_serialized_message_t {
                buffer: cdr.as_ptr().cast_mut(),
                buffer_length: cdr.len(),
                buffer_capacity: cdr.len(),
                allocator: rcutils_get_default_allocator(),
            };
            check(
                "rcl_publish_serialized_message",
                rcl_publish_serialized_message(self.handle.as_ref(), &msg, ptr::null_mut()),
            )
        }
    }
}

/// The buffer that takes reuse; rmw grows it to the largest message.
pub struct SerializedBuffer(rcutils_uint8_array_t);

// SAFETY: plain memory owned by this value, used by one thread at a time.
unsafe impl Send for SerializedBuffer {}

impl SerializedBuffer {
    pub fn new() -> Result<Self, RclError> {
        // SAFETY: initialized with the default allocator before any use; finalized on drop.
        unsafe {
            let mut arr = rcutils_get_zero_initialized_uint8_array();
            let alloc = rcutils_get_default_allocator();
            check(
                "rcutils_uint8_array_init",
                rcutils_uint8_array_init(&mut arr, 4096, &alloc),
            )?;
            Ok(SerializedBuffer(arr))
        }
    }

    /// The last message taken.
    pub fn bytes(&self) -> &[u8] {
        if self.0.buffer.is_null() {
            return &[];
        }
        // SAFETY: rmw wrote `buffer_length` bytes into the buffer it sized; they stay valid
        // until the next take, which needs `&mut self`.
        unsafe { std::slice::from_raw_parts(self.0.buffer, self.0.buffer_length) }
    }
}

impl Drop for SerializedBuffer {
    fn drop(&mut self) {
        // SAFETY: initialized in `new`, finalized once.
        let code = unsafe { rcutils_uint8_array_fini(&mut self.0) };
        finished("rcutils_uint8_array_fini", code);
    }
}

/// Wakes the runtime's wait from any thread.
pub struct GuardCondition(Box<rcl_guard_condition_t>);

// SAFETY: `rcl_trigger_guard_condition` may be called from any thread; the guard is
// finalized by its owner only after no other thread can reach it (the runtime's lock).
unsafe impl Send for GuardCondition {}
unsafe impl Sync for GuardCondition {}

impl GuardCondition {
    pub fn new(node: &mut Node) -> Result<Self, RclError> {
        // SAFETY: boxed before init; the context outlives it (dropped before the node).
        unsafe {
            let mut g = Box::new(rcl_get_zero_initialized_guard_condition());
            check(
                "rcl_guard_condition_init",
                rcl_guard_condition_init(
                    g.as_mut(),
                    node.context_ptr(),
                    rcl_guard_condition_get_default_options(),
                ),
            )?;
            Ok(GuardCondition(g))
        }
    }

    pub fn trigger(&self) -> Result<(), RclError> {
        // SAFETY: valid until dropped; rcl takes `*mut` but the trigger is thread-safe.
        let p = (self.0.as_ref() as *const rcl_guard_condition_t).cast_mut();
        check("rcl_trigger_guard_condition", unsafe {
            rcl_trigger_guard_condition(p)
        })
    }
}

impl Drop for GuardCondition {
    fn drop(&mut self) {
        // SAFETY: finalized once, before the context (the runtime's order).
        let code = unsafe { rcl_guard_condition_fini(self.0.as_mut()) };
        finished("rcl_guard_condition_fini", code);
    }
}

/// The wait set of the runtime thread: its subscriptions and one guard condition.
pub struct WaitSet {
    ws: rcl_wait_set_t,
    subscriptions: usize,
}

// SAFETY: used and finalized on the runtime thread only.
unsafe impl Send for WaitSet {}

impl WaitSet {
    pub fn new(node: &mut Node) -> Result<Self, RclError> {
        // SAFETY: zero-initialized, then initialized on the node's context; finalized on drop.
        unsafe {
            let mut ws = rcl_get_zero_initialized_wait_set();
            check(
                "rcl_wait_set_init",
                rcl_wait_set_init(
                    &mut ws,
                    0,
                    1,
                    0,
                    0,
                    0,
                    0,
                    node.context_ptr(),
                    rcutils_get_default_allocator(),
                ),
            )?;
            Ok(WaitSet {
                ws,
                subscriptions: 0,
            })
        }
    }

    /// Waits up to `timeout` for a message on any of `subs` or for `guard`; the indices of the
    /// subscriptions that have one.
    pub fn wait(
        &mut self,
        subs: &[&Subscription],
        guard: &GuardCondition,
        timeout: Duration,
    ) -> Result<Vec<usize>, RclError> {
        let timeout = i64::try_from(timeout.as_nanos()).unwrap_or(i64::MAX);
        // SAFETY: the wait set is cleared and refilled with handles that stay valid for the
        // call (borrowed); it is resized first so they fit. After `rcl_wait`, rcl has left
        // non-null entries for what is ready, within the sizes it was given.
        unsafe {
            if subs.len() != self.subscriptions {
                check(
                    "rcl_wait_set_resize",
                    rcl_wait_set_resize(&mut self.ws, subs.len(), 1, 0, 0, 0, 0),
                )?;
                self.subscriptions = subs.len();
            }
            check("rcl_wait_set_clear", rcl_wait_set_clear(&mut self.ws))?;
            for s in subs {
                check(
                    "rcl_wait_set_add_subscription",
                    rcl_wait_set_add_subscription(&mut self.ws, s.handle.as_ref(), ptr::null_mut()),
                )?;
            }
            check(
                "rcl_wait_set_add_guard_condition",
                rcl_wait_set_add_guard_condition(&mut self.ws, guard.0.as_ref(), ptr::null_mut()),
            )?;
            let code = rcl_wait(&mut self.ws, timeout);
            if code == RCL_RET_TIMEOUT as rcl_ret_t {
                return Ok(Vec::new());
            }
            check("rcl_wait", code)?;
            let ready = if self.ws.subscriptions.is_null() {
                &[]
            } else {
                std::slice::from_raw_parts(self.ws.subscriptions, self.ws.size_of_subscriptions)
            };
            Ok(ready
                .iter()
                .enumerate()
                .filter(|(i, p)| !p.is_null() && *i < subs.len())
                .map(|(i, _)| i)
                .collect())
        }
    }
}

impl Drop for WaitSet {
    fn drop(&mut self) {
        // SAFETY: initialized in `new`, finalized once, before the context.
        let code = unsafe { rcl_wait_set_fini(&mut self.ws) };
        finished("rcl_wait_set_fini", code);
    }
}
