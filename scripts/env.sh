# shellcheck shell=bash
# Source me: `source scripts/env.sh`.
#
# Gives this shell a ROS 2 that r2r can build against and the tools the tests use.
# - A ROS 2 that is already sourced (ROS_DISTRO set, as after /opt/ros/<distro>/setup.bash)
#   or installed under /opt/ros is used as it is.
# - Otherwise ROS 2 Jazzy is provisioned from the PyPI wheels into a cache outside the clone
#   (AMR_BRIDGE_CACHE, default ~/.cache/amr_mqtt_bridge), reused by later clones.
# Idempotent: a second source only exports the environment again.
# Always exported: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, so DDS never leaves this host.

_amr_env_main() {
  local here cache venv py_libdir pkgs missing_deb
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  cache=${AMR_BRIDGE_CACHE:-$HOME/.cache/amr_mqtt_bridge}

  # 1. Debian packages: clang for r2r's bindgen, Mosquitto for the demo and the tests.
  missing_deb=()
  command -v clang >/dev/null 2>&1 || missing_deb+=(clang)
  ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || missing_deb+=(libclang-dev)
  command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing_deb+=(mosquitto)
  command -v mosquitto_pub >/dev/null 2>&1 || missing_deb+=(mosquitto-clients)
  if [ ${#missing_deb[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "env.sh: installing Debian packages: ${missing_deb[*]}" >&2
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_deb[@]}") >&2 ||
        { echo "env.sh: apt-get install ${missing_deb[*]} failed" >&2; return 1; }
    else
      echo "env.sh: missing ${missing_deb[*]}; install them: sudo apt-get install -y ${missing_deb[*]}" >&2
      return 1
    fi
  fi
  # Debian keeps the broker in /usr/sbin, which a non-root PATH may lack.
  case ":$PATH:" in *:/usr/sbin:*) ;; *) export PATH="$PATH:/usr/sbin" ;; esac

  # 2. ROS 2: an existing install wins.
  if [ -z "${ROS_DISTRO:-}" ]; then
    local setup
    for setup in /opt/ros/jazzy/setup.bash /opt/ros/humble/setup.bash /opt/ros/*/setup.bash; do
      if [ -f "$setup" ]; then
        echo "env.sh: using $(dirname "$setup")" >&2
        # shellcheck disable=SC1090
        set +u; source "$setup"; set -u 2>/dev/null || true
        break
      fi
    done
  fi

  if [ -n "${ROS_DISTRO:-}" ] && [ -z "${AMR_BRIDGE_WHEEL_ROS:-}" ]; then
    export AMR_BRIDGE_PY=${AMR_BRIDGE_PY:-python3}
  else
    _amr_env_wheels "$cache" || return 1
    _amr_env_test_types "$cache" || return 1
  fi
  _amr_env_jsonschema "$cache" || return 1

  # 3. colcon for `colcon build` of this ament_cargo package (docs/robot.md).
  _amr_env_colcon

  # 4. Always: DDS stays on this host, and r2r generates only the message packages we use.
  export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
  export IDL_PACKAGE_FILTER=${IDL_PACKAGE_FILTER:-"std_msgs;geometry_msgs;nav_msgs;sensor_msgs;builtin_interfaces;action_msgs;unique_identifier_msgs;rcl_interfaces;diagnostic_msgs;service_msgs;type_description_interfaces"}
  export AMR_BRIDGE_ENV_READY=1
  return 0
}

# ROS 2 Jazzy from PyPI wheels (see shared docs: ros2-environment.md).
_amr_env_wheels() {
  local cache=$1 venv py py_libdir stamp d ldp
  venv=$cache/ros-jazzy
  # v2: jsonschema (the tests validate every payload against schemas/). A cache provisioned
  # by an older version keeps its venv and gets what the list added.
  stamp=$venv/.amr_provisioned_v2
  py=${AMR_BRIDGE_SYSTEM_PY:-python3}
  if [ ! -f "$stamp" ]; then
    if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
      echo "env.sh: the ROS 2 Jazzy wheels are built for CPython 3.11; $py is $("$py" --version 2>&1)." >&2
      echo "env.sh: set AMR_BRIDGE_SYSTEM_PY to a python3.11, or source a ROS 2 install first." >&2
      return 1
    fi
    echo "env.sh: provisioning ROS 2 Jazzy from PyPI into $venv (once, about a minute)" >&2
    mkdir -p "$cache"
    if [ -x "$venv/bin/python" ]; then
      :
    elif ! "$py" -m venv "$venv" >&2; then
      # Debian's python3 keeps venv in its own package.
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2 || true
        rm -rf "$venv"
      fi
      "$py" -m venv "$venv" >&2 || { echo "env.sh: python3 -m venv failed (apt-get install python3-venv)" >&2; return 1; }
    fi
    # shellcheck disable=SC2086
    "$venv/bin/pip" install -q --disable-pip-version-check \
      ros-jazzy-rclpy ros-jazzy-rmw-fastrtps-cpp ros-jazzy-std-msgs ros-jazzy-geometry-msgs \
      ros-jazzy-nav-msgs ros-jazzy-sensor-msgs ros-jazzy-diagnostic-msgs ros-jazzy-std-srvs \
      rosbags pyyaml colcon-common-extensions colcon-ros-cargo cargo-ament-build \
      $_AMR_SCHEMA_PIP >&2 ||
      { echo "env.sh: pip install of the ROS 2 wheels failed" >&2; return 1; }
    # The wheels link rcl to one RMW directly; r2r links librmw_implementation.
    [ -e "$venv/lib/librmw_implementation.so" ] ||
      ln -sf librmw_fastrtps_cpp.so "$venv/lib/librmw_implementation.so"
    touch "$stamp"
  fi
  py_libdir=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))")
  ldp=$venv/lib
  for d in "$venv"/lib/python3.11/site-packages/*.libs; do [ -d "$d" ] && ldp="$ldp:$d"; done
  ldp="$ldp:$py_libdir"
  export ROS_DISTRO=jazzy ROS_VERSION=2 ROS_PYTHON_VERSION=3
  export AMENT_PREFIX_PATH=$venv CMAKE_PREFIX_PATH=$venv
  export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
  export AMR_BRIDGE_WHEEL_ROS=$venv
  export AMR_BRIDGE_PY=$venv/bin/python
  case ":$PATH:" in *":$venv/bin:"*) ;; *) export PATH="$venv/bin:$PATH" ;; esac
  case ":${LD_LIBRARY_PATH:-}:" in *":$venv/lib:"*) ;; *) export LD_LIBRARY_PATH="$ldp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;; esac
  # librcl of these wheels pulls in *__rosidl_generator_py.so, which needs libpython's symbols.
  export AMR_BRIDGE_LD_PRELOAD=$py_libdir/libpython3.11.so.1.0
  case ":${LD_PRELOAD:-}:" in *":$AMR_BRIDGE_LD_PRELOAD:"*) ;; *) export LD_PRELOAD="$AMR_BRIDGE_LD_PRELOAD${LD_PRELOAD:+:$LD_PRELOAD}" ;; esac
  return 0
}

# Message packages that the build does NOT generate bindings for (not in IDL_PACKAGE_FILTER),
# installed into a prefix of their own that is NOT on AMENT_PREFIX_PATH: tests/dyntype.rs adds it
# (AMENT_PREFIX_PATH, LD_LIBRARY_PATH, PYTHONPATH) only to the processes of its tests, which shows
# that a type installed beside the bridge needs no rebuild. Pinned to the wheels' ROS versions.
_amr_env_test_types() {
  local prefix=$1/ros-jazzy-testpkgs
  if [ ! -f "$prefix/.amr_provisioned_v1" ]; then
    echo "env.sh: installing test message packages into $prefix (once)" >&2
    "$AMR_BRIDGE_WHEEL_ROS/bin/pip" install -q --disable-pip-version-check --no-deps --prefix "$prefix" \
      ros-test-msgs==2.0.3 ros-visualization-msgs==5.3.6 >&2 ||
      { echo "env.sh: pip install of the test message packages failed" >&2; return 1; }
    touch "$prefix/.amr_provisioned_v1"
  fi
  export AMR_BRIDGE_TEST_PREFIX=$prefix
}

# The independent JSON Schema validator of the tests (tests/common/schema.rs): Python jsonschema,
# with rfc3339-validator so that `format: date-time` is checked. AMR_BRIDGE_SCHEMA_PY is a Python
# that has them: the ROS Python when it does (the wheel venv always), else a small venv in the
# cache (a sourced ROS 2's system Python may not take pip installs).
_AMR_SCHEMA_PIP="jsonschema>=4.18 rfc3339-validator"
_amr_env_jsonschema() {
  local cache=$1 venv=$1/jsonschema
  local check='import jsonschema, rfc3339_validator'
  if "$AMR_BRIDGE_PY" -c "$check" >/dev/null 2>&1; then
    export AMR_BRIDGE_SCHEMA_PY=$AMR_BRIDGE_PY
    return 0
  fi
  if ! "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
    echo "env.sh: installing Python jsonschema into $venv (once)" >&2
    mkdir -p "$cache"
    { [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2; } &&
      # shellcheck disable=SC2086
      "$venv/bin/pip" install -q --disable-pip-version-check $_AMR_SCHEMA_PIP >&2 ||
      { echo "env.sh: cannot install jsonschema (python3 -m venv needs python3-venv)" >&2; return 1; }
  fi
  export AMR_BRIDGE_SCHEMA_PY=$venv/bin/python
}

# colcon-ros-cargo runs `cargo ament-build`. The wheel venv has colcon, colcon-ros-cargo and
# cargo-ament-build from pip (step 2); with a ROS 2 install, colcon comes from its distribution and
# cargo-ament-build is installed here with cargo once. Never fatal: only `colcon build` needs them.
_amr_env_colcon() {
  command -v cargo-ament-build >/dev/null 2>&1 && return 0
  if [ -n "${AMR_BRIDGE_WHEEL_ROS:-}" ] &&
    "$AMR_BRIDGE_WHEEL_ROS/bin/pip" install -q --disable-pip-version-check cargo-ament-build >&2; then
    return 0
  fi
  if command -v cargo >/dev/null 2>&1; then
    echo "env.sh: installing cargo-ament-build (cargo install, once, about a minute)" >&2
    cargo install cargo-ament-build --locked >&2 && return 0
  fi
  echo "env.sh: no cargo-ament-build; colcon build of this package will fail (cargo install cargo-ament-build --locked)" >&2
  return 0
}

_amr_env_main || { echo "env.sh: the environment is NOT ready" >&2; false; }
