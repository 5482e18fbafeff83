//! `colcon build` and `ros2 launch`, as a robotics engineer runs them (issue: colcon build and
//! ros2 launch: install like any ROS 2 package).
//!
//! 1. `colcon_build_install_layout`: a fresh workspace with this repository linked into
//!    `src/`, `colcon build` with the ROS 2 of the environment (`source scripts/env.sh`), and the
//!    install space that `ros2 run` / `ros2 launch` need: the executable in
//!    `lib/amr_mqtt_bridge/`, package.xml, launch and config files and the JSON Schemas (with
//!    the official VDA 5050 ones and their MIT notice) in `share/amr_mqtt_bridge/`, the ament
//!    index marker, and `install/setup.bash` making the package findable.
//! 2. `launch_file_command_line_starts_node`: there is no `ros2 launch` here (no launch/launch_ros
//!    on PyPI), so the test derives from the installed `bridge.launch.xml` the exact command line
//!    that launch_ros would give the node (same order, one temporary parameters file per
//!    `<param>`, as launch_ros writes them; checked once against launch_ros's Jazzy source, see
//!    docs/robot.md), starts the installed executable with it and checks that the node comes up
//!    under the name and namespace the launch file gives it and stays up.
//! 3. `launch_file_node_bridges_one_message`: that node bridges one Odometry to MQTT, through
//!    the test's own Mosquitto and an rclpy publisher.
//!
//! Needs the environment of `scripts/env.sh` (ROS 2, colcon, colcon-ros-cargo,
//! cargo-ament-build, Mosquitto); without it the tests fail and say so. The workspace with its
//! install space is `CARGO_TARGET_TMPDIR/colcon_launch/ws`, made anew by each run (one run per
//! target dir at a time: nextest runs these tests one after the other, `.config/nextest.toml`);
//! its build base points colcon-ros-cargo at this suite's own target dir, so colcon installs
//! the crate that the suite built instead of compiling it again (`scripts/colcon_check` builds
//! it from nothing).
//! The broker, ports, processes and ROS environment are those of the common harness: every
//! process that starts (or looks for) a ROS node gets ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and
//! the ROS domain the harness hands its test.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PKG: &str = "amr_mqtt_bridge";
/// How long the node started from the launch file's command line must stay up.
const STAY_UP: Duration = Duration::from_secs(3);

/// The launch arguments the run test passes, as on `ros2 launch amr_mqtt_bridge
/// bridge.launch.xml robot_id:=AMR061 namespace:=robot61 ...` (broker and port are added).
const RUN_ARGS: &[(&str, &str)] = &[
    ("robot_id", "AMR061"),
    ("namespace", "robot61"),
    ("log_level", "debug"),
    ("respawn", "false"),
];

// ---------------------------------------------------------------------------------------------
// The environment

/// Panics with what to do when the environment of scripts/env.sh is missing.
fn require_environment() {
    require_env();
    let hint = "run the tests in the environment of scripts/env.sh: \
                `source scripts/env.sh && cargo test --test colcon_launch`";
    if std::env::var_os("ROS_DISTRO").is_none() || std::env::var_os("AMENT_PREFIX_PATH").is_none() {
        panic!("no ROS 2 in the environment (ROS_DISTRO / AMENT_PREFIX_PATH unset); {hint}");
    }
    for (tool, what) in [
        ("colcon", "colcon (pip: colcon-common-extensions colcon-ros-cargo)"),
        ("cargo-ament-build", "cargo-ament-build (pip: cargo-ament-build, or cargo install cargo-ament-build --locked)"),
        ("bash", "bash"),
    ] {
        if which(tool).is_none() {
            panic!("{what} is not on PATH; {hint}");
        }
    }
    // colcon-ros-cargo registers the ament_cargo build task.
    let exts = Command::new("colcon")
        .args(["extensions", "colcon_core.task.build"])
        .output();
    match exts {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            if !text.contains("ament_cargo") {
                panic!(
                    "colcon has no ament_cargo build task (colcon-ros-cargo missing); {hint}\n{text}"
                );
            }
        }
        Ok(o) => panic!(
            "`colcon extensions` failed: {}; {hint}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run colcon: {e}; {hint}"),
    }
}

// ---------------------------------------------------------------------------------------------
// colcon build, once per test binary

struct Workspace {
    /// `CARGO_TARGET_TMPDIR/colcon_launch/ws`, made anew by each run (a static is never dropped,
    /// so a temporary directory would be left behind): src/, install/, log/, launch_params/.
    root: PathBuf,
    /// The colcon install base (isolated layout: the package prefix is install/amr_mqtt_bridge).
    install: PathBuf,
}

impl Workspace {
    fn prefix(&self) -> PathBuf {
        self.install.join(PKG)
    }
}

fn workspace() -> &'static Workspace {
    static WS: OnceLock<Result<Workspace, String>> = OnceLock::new();
    match WS.get_or_init(colcon_build) {
        Ok(ws) => ws,
        Err(e) => panic!("{e}"),
    }
}

/// The colcon build base: `<base>/amr_mqtt_bridge` is the cargo target dir that colcon-ros-cargo
/// builds in. It points at this suite's own target dir, whose debug build of the same sources
/// is done already: colcon then runs the real `cargo ament-build` (install layout, ament index,
/// share/ files) without compiling the crate a second time. `scripts/colcon_check --cold` times
/// a build from nothing.
fn colcon_build_base(root: &Path) -> Result<PathBuf, String> {
    let base = root.join("build");
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(Path::to_path_buf)
        .ok_or("CARGO_TARGET_TMPDIR has no parent")?;
    std::fs::create_dir_all(&base).map_err(|e| format!("create {}: {e}", base.display()))?;
    std::os::unix::fs::symlink(&target, base.join(PKG))
        .map_err(|e| format!("link {} into {}: {e}", target.display(), base.display()))?;
    Ok(base)
}

fn colcon_build() -> Result<Workspace, String> {
    require_environment();
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("colcon_launch");
    let root = base.join("ws");
    if root.exists() {
        std::fs::remove_dir_all(&root).map_err(|e| format!("remove {}: {e}", root.display()))?;
    }
    std::fs::create_dir_all(root.join("src"))
        .map_err(|e| format!("create {}/src: {e}", root.display()))?;
    std::os::unix::fs::symlink(repo(), root.join("src").join(PKG))
        .map_err(|e| format!("link the repository into {}/src: {e}", root.display()))?;
    let build_base = colcon_build_base(&root)?;
    let install = root.join("install");

    let started = Instant::now();
    // cwd = the workspace: colcon-ros-cargo writes .cargo/config.toml into the current directory.
    let mut colcon = Command::new("colcon");
    // What cargo set for this test process (CARGO_MANIFEST_DIR and the like) would reach the
    // build scripts' rerun checks and rebuild the crate for nothing, twice.
    for (k, _) in std::env::vars_os() {
        if k.to_str()
            .is_some_and(|k| k.starts_with("CARGO_") && k != "CARGO_HOME")
        {
            colcon.env_remove(k);
        }
    }
    let out = colcon
        .current_dir(&root)
        .arg("build")
        .args(["--base-paths", "src"])
        .arg("--build-base")
        .arg(&build_base)
        .arg("--install-base")
        .arg(&install)
        .args(["--packages-select", PKG])
        // The suite's own build has every target (tests bring dev-dependencies, whose features
        // cargo unifies): the same, so that colcon finds it done and installs that binary.
        .args(["--cargo-args", "--all-targets"])
        .args(["--event-handlers", "summary+"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run colcon: {e}"))?;
    eprintln!(
        "colcon build took {:.1} s (build base {})",
        started.elapsed().as_secs_f64(),
        build_base.display()
    );
    if !out.status.success() {
        let log = root
            .join("log/latest_build")
            .join(PKG)
            .join("stdout_stderr.log");
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!(
            "colcon build failed in {}:\n{}\n--- {PKG} build log ---\n{log}",
            root.display(),
            show(&out)
        ));
    }
    Ok(Workspace { root, install })
}

// ---------------------------------------------------------------------------------------------
// 1. The install layout

#[test]
fn colcon_build_install_layout() {
    let ws = workspace();
    let prefix = ws.prefix();
    let share = prefix.join("share").join(PKG);
    let mut missing = Vec::new();
    let mut expect = |p: PathBuf, what: &str| {
        if !p.exists() {
            missing.push(format!("{what}: {}", p.display()));
        }
    };
    expect(prefix.join("lib").join(PKG).join(PKG), "the executable");
    expect(share.join("package.xml"), "package.xml");
    expect(
        share.join("launch/bridge.launch.xml"),
        "the XML launch file",
    );
    expect(
        share.join("launch/bridge.launch.py"),
        "the Python launch file",
    );
    expect(share.join("launch/demo.launch.xml"), "the demo launch file");
    expect(
        share.join("config/bridge.yaml"),
        "the example config (default of config_file)",
    );
    expect(share.join("config/mqtt_config.yaml"), "the seed config");
    expect(
        share.join("schemas/status_position.schema.json"),
        "the JSON Schemas (Cargo.toml [package.metadata.ros] install_to_share)",
    );
    expect(
        prefix
            .join("share/ament_index/resource_index/packages")
            .join(PKG),
        "the ament index marker",
    );
    expect(ws.install.join("setup.bash"), "install/setup.bash");
    expect(
        ws.install.join("local_setup.bash"),
        "install/local_setup.bash",
    );
    if repo().join("scripts/sim_robot.py").exists() {
        // demo.launch.xml starts it as <node pkg="amr_mqtt_bridge" exec="sim_robot.py">.
        expect(
            prefix.join("lib").join(PKG).join("sim_robot.py"),
            "the simulated robot (Cargo.toml [package.metadata.ros]: install_to_include = [] and \
             install_to_lib = [\"scripts/sim_robot.py\"]; install_to_lib is ignored without \
             install_to_include)",
        );
    }
    assert!(
        missing.is_empty(),
        "install space {} lacks:\n  {}\n(a package.xml that catkin_pkg rejects makes colcon build \
         the package as plain cargo: binary in bin/, no ament index)",
        ws.install.display(),
        missing.join("\n  ")
    );
    assert!(
        !prefix.join("bin").join(PKG).exists(),
        "bin/{PKG} exists: colcon built the package as a plain cargo package, not ament_cargo"
    );
    assert!(is_executable(&prefix.join("lib").join(PKG).join(PKG)));
    if repo().join("scripts/sim_robot.py").exists() {
        assert!(is_executable(
            &prefix.join("lib").join(PKG).join("sim_robot.py")
        ));
    }
    for f in [
        "package.xml",
        "launch/bridge.launch.xml",
        "launch/bridge.launch.py",
    ] {
        assert_eq!(
            std::fs::read(share.join(f)).expect("the installed file"),
            std::fs::read(repo().join(f)).expect("the source file"),
            "installed {f} differs from the source"
        );
    }

    // The fleet's contract: every JSON Schema of schemas/, as it is in the repository.
    let schemas: Vec<String> = std::fs::read_dir(repo().join("schemas"))
        .expect("schemas/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".schema.json"))
        .collect();
    assert!(schemas.len() >= 15, "schemas/ has {schemas:?}");
    for f in schemas.iter().map(|n| format!("schemas/{n}")) {
        assert_eq!(
            std::fs::read(share.join(&f)).unwrap_or_default(),
            std::fs::read(repo().join(&f)).expect("the source file"),
            "installed {f} differs from the source (or is missing)"
        );
    }
    // The official VDA 5050 schemas, with their MIT notice.
    let vda = "schemas/vda5050/2.1.0";
    let official: Vec<String> = std::fs::read_dir(repo().join(vda))
        .expect("schemas/vda5050/2.1.0/")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".schema"))
        .collect();
    assert_eq!(official.len(), 6, "{vda} has {official:?}");
    for f in official
        .iter()
        .map(|n| format!("{vda}/{n}"))
        .chain([format!("{vda}/LICENSE.txt")])
    {
        assert_eq!(
            std::fs::read(share.join(&f)).unwrap_or_default(),
            std::fs::read(repo().join(&f)).expect("the source file"),
            "installed {f} differs from the source (or is missing)"
        );
    }

    // bridge.launch.py cannot run here (no launch/launch_ros): check that it is valid Python and
    // only includes the XML file next to it, which the next test runs.
    let py_launch = share.join("launch/bridge.launch.py");
    let out = Command::new(python())
        .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
        .arg(&py_launch)
        .output()
        .expect("python");
    assert!(out.status.success(), "bridge.launch.py:\n{}", show(&out));
    let text = std::fs::read_to_string(&py_launch).expect("bridge.launch.py");
    assert!(
        text.contains("with_name('bridge.launch.xml')")
            && text.contains("XMLLaunchDescriptionSource"),
        "bridge.launch.py must include bridge.launch.xml (the file the launch test derives from)"
    );

    // What `ros2 run amr_mqtt_bridge amr_mqtt_bridge` and `ros2 launch amr_mqtt_bridge ...`
    // do after `source install/setup.bash`: look the package up in the ament index.
    let script = format!(
        "import json; from ament_index_python.packages import get_package_prefix, \
         get_package_share_directory as s; print(json.dumps([get_package_prefix('{PKG}'), s('{PKG}')]))"
    );
    let domain = Domain::new();
    let out = in_sourced_workspace(ws, domain.id(), &[python().as_str(), "-c", &script]);
    assert!(
        out.status.success(),
        "ament index lookup failed:\n{}",
        show(&out)
    );
    let found: (String, String) =
        serde_json::from_slice(&out.stdout).expect("two paths from the ament index lookup");
    assert_eq!(Path::new(&found.0), prefix, "get_package_prefix");
    assert_eq!(Path::new(&found.1), share, "get_package_share_directory");
}

/// Runs `argv` in bash after `source install/setup.bash`, from the workspace root, with the
/// ROS environment of `domain`.
fn in_sourced_workspace(ws: &Workspace, domain: u32, argv: &[&str]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.current_dir(&ws.root)
        .arg("-c")
        .arg("source \"$0\" >/dev/null && exec \"$@\"")
        .arg(ws.install.join("setup.bash"))
        .args(argv)
        .stdin(Stdio::null());
    ros_env(&mut cmd, domain).output().expect("bash")
}

// ---------------------------------------------------------------------------------------------
// 2. The launch file's command line

/// What launch_ros would run for the one `<node>` of a launch file.
#[derive(Debug, serde::Deserialize)]
struct Derived {
    cmd: Vec<String>,
    /// The contents of each `--params-file` written, in command line order.
    params_files: Vec<(String, String)>,
    respawn: bool,
    respawn_delay: Option<f64>,
    /// AMENT_PREFIX_PATH after `source install/setup.bash`.
    ament_prefix_path: String,
}

/// Emulates `ros2 launch <file> name:=value ...` for the subset of launch XML this package uses
/// (`<arg>`, `<node>` with `<param>`/`<remap>`, `$(var)`, `$(find-pkg-share)`,
/// `$(find-pkg-prefix)`), following launch/launch_ros Jazzy (identical in Humble and Rolling):
/// launch_ros.actions.Node builds `exe [args] [--ros-args ros_args] --ros-args -r __node:=name
/// [-r __ns:=/ns] (--params-file f)* (-r from:=to)*`; each `<param name value>` is one dict, written
/// by `_create_params_file_from_dict` to a file of its own as
/// `{'/ns/name' or '/**': {'ros__parameters': {name: value}}}` with `yaml.dump(...,
/// default_flow_style=False)`; values follow launch's `coerce_to_type` (typed or YAML rules, an
/// empty string stays ''). Anything else in the file is an error, not silently skipped.
const DERIVE_PY: &str = r#"
import json, os, re, shlex, sys, tempfile
import xml.etree.ElementTree as ET
import yaml
from ament_index_python.packages import get_package_prefix, get_package_share_directory

path, params_dir = sys.argv[1], sys.argv[2]
cli = dict(a.split(':=', 1) for a in sys.argv[3:])
configs = {}
SUBST = re.compile(r'\$\(([a-z-]+)((?: [^()\s]+)*)\)')

def subst(text):
    def one(m):
        kind, args = m.group(1), m.group(2).split()
        if kind == 'var':
            if args[0] not in configs:
                raise SystemExit(f'launch configuration {args[0]!r} is not set')
            return configs[args[0]]
        if kind == 'find-pkg-share':
            return get_package_share_directory(args[0])
        if kind == 'find-pkg-prefix':
            return get_package_prefix(args[0])
        raise SystemExit(f'substitution $({kind}) is not emulated by tests/colcon_launch.rs')
    out = SUBST.sub(one, text)
    if '$(' in out:
        raise SystemExit(f'unsupported (nested?) substitution in {text!r}')
    return out

def cmdline(text):
    # launch's ExecuteProcess._parse_cmdline: literal text is shlex-split, substitution results
    # are not split.
    subs = []
    def hold(m):
        subs.append(m.group(0))
        return f'\0{len(subs) - 1}\0'
    held = SUBST.sub(hold, text)
    return [subst(re.sub('\0(\\d+)\0', lambda m: subs[int(m.group(1))], tok))
            for tok in shlex.split(held)]

def typed(value, type_id):
    if type_id == 'str':
        return value
    if type_id in ('int', 'float'):
        return {'int': int, 'float': float}[type_id](value)
    if type_id == 'bool':
        value = {'1': 'true', '0': 'false'}.get(value, value)
    elif type_id is not None:
        raise SystemExit(f'param type {type_id!r} is not emulated')
    if not value:
        return value
    out = yaml.safe_load(value)
    if type_id == 'bool' and not isinstance(out, bool):
        raise SystemExit(f'{value!r} is not a bool')
    if not isinstance(out, (bool, int, float, str, list)):
        raise SystemExit(f'{value!r}: type {type(out)} is not allowed for a parameter')
    return out

def check_attrs(el, allowed):
    extra = set(el.attrib) - set(allowed)
    if extra:
        raise SystemExit(f'<{el.tag}> attributes {sorted(extra)} are not emulated')

root = ET.parse(path).getroot()
if root.tag != 'launch':
    raise SystemExit('root element is not <launch>')
nodes = []
for el in root:
    if el.tag == 'arg':
        check_attrs(el, ('name', 'default', 'description'))
        name = el.attrib['name']
        if name in cli:
            configs[name] = cli[name]
        elif 'default' in el.attrib:
            configs[name] = subst(el.attrib['default'])
        else:
            raise SystemExit(f'launch argument {name!r} has no default and was not given')
    elif el.tag == 'node':
        nodes.append(el)
    else:
        raise SystemExit(f'<{el.tag}> is not emulated by tests/colcon_launch.rs')
unknown = set(cli) - set(configs)
if unknown:
    raise SystemExit(f'launch arguments {sorted(unknown)} are not declared')
if len(nodes) != 1:
    raise SystemExit(f'expected one <node>, found {len(nodes)}')
node = nodes[0]
check_attrs(node, ('pkg', 'exec', 'name', 'namespace', 'output', 'respawn', 'respawn_delay',
                   'args', 'ros_args'))
a = node.attrib
exe = os.path.join(get_package_prefix(subst(a['pkg'])), 'lib', subst(a['pkg']), subst(a['exec']))
cmd = [exe] + cmdline(a.get('args', ''))
if 'ros_args' in a:
    cmd += ['--ros-args'] + cmdline(a['ros_args'])
cmd += ['--ros-args']
name = subst(a['name']) if 'name' in a else None
if name is not None:
    cmd += ['-r', f'__node:={name}']
ns = None
if 'namespace' in a:
    ns = subst(a['namespace']).rstrip('/') if subst(a['namespace']) not in ('/',) else '/'
    ns = ns if ns.startswith('/') else '/' + ns
    cmd += ['-r', f'__ns:={ns}']
key = '/**'
if name is not None and ns is not None:
    key = (ns if ns != '/' else '') + '/' + name
params_files, remaps = [], []
for child in node:
    if child.tag == 'param':
        if 'from' in child.attrib:
            check_attrs(child, ('from',))
            f = os.path.abspath(subst(child.attrib['from']))
            if os.path.isfile(f):
                cmd += ['--params-file', f]
                params_files.append((f, open(f).read()))
            continue
        check_attrs(child, ('name', 'value', 'type'))
        value = typed(subst(child.attrib['value']), child.attrib.get('type'))
        fd, f = tempfile.mkstemp(prefix='launch_params_', dir=params_dir)
        with os.fdopen(fd, 'w') as h:
            yaml.dump({key: {'ros__parameters': {subst(child.attrib['name']): value}}}, h,
                      default_flow_style=False)
        cmd += ['--params-file', f]
        params_files.append((f, open(f).read()))
    elif child.tag == 'remap':
        check_attrs(child, ('from', 'to'))
        remaps += ['-r', f"{subst(child.attrib['from'])}:={subst(child.attrib['to'])}"]
    else:
        raise SystemExit(f'<node><{child.tag}> is not emulated')
cmd += remaps
respawn = subst(a.get('respawn', 'false')).lower()
if respawn not in ('true', 'false', '1', '0'):
    raise SystemExit(f'respawn={respawn!r} is not a bool')
print(json.dumps({
    'cmd': cmd,
    'params_files': params_files,
    'respawn': respawn in ('true', '1'),
    'respawn_delay': float(a['respawn_delay']) if 'respawn_delay' in a else None,
    'ament_prefix_path': os.environ.get('AMENT_PREFIX_PATH', ''),
}))
"#;

/// Derives the command line of the installed launch file `file` with launch arguments `args`.
fn derive(ws: &Workspace, domain: u32, file: &str, args: &[(&str, String)]) -> Derived {
    let launch = ws
        .prefix()
        .join("share")
        .join(PKG)
        .join("launch")
        .join(file);
    let params_dir = ws.root.join("launch_params");
    std::fs::create_dir_all(&params_dir).expect("the launch parameters directory");
    let py = python();
    let launch_s = launch.to_string_lossy().into_owned();
    let params_s = params_dir.to_string_lossy().into_owned();
    let mut argv: Vec<String> = vec![py, "-c".into(), DERIVE_PY.into(), launch_s, params_s];
    argv.extend(args.iter().map(|(k, v)| format!("{k}:={v}")));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = in_sourced_workspace(ws, domain, &argv);
    assert!(
        out.status.success(),
        "deriving the command line of {file} failed:\n{}",
        show(&out)
    );
    serde_json::from_slice(&out.stdout).expect("derive output")
}

/// The node, started like launch_ros starts it; SIGINT (as launch sends) then SIGKILL on drop.
struct Running {
    proc: Proc,
    log: PathBuf,
}

impl Running {
    fn start(ws: &Workspace, domain: u32, d: &Derived, name: &str) -> Running {
        let log = ws.root.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("the node's log file");
        let mut cmd = Command::new(&d.cmd[0]);
        cmd.args(&d.cmd[1..])
            .current_dir(&ws.root)
            .env("AMENT_PREFIX_PATH", &d.ament_prefix_path)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the node's log file"))
            .stderr(file);
        let proc = Proc::spawn(ros_env(&mut cmd, domain), &d.cmd[0]);
        Running { proc, log }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ok if the process is still running after `d`; Err(explanation) if it exited.
    fn stays_up(&mut self, d: Duration) -> Result<(), String> {
        match self.proc.wait_exit(d) {
            Some(status) => Err(explain_exit(status, &self.output())),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.proc.alive() {
            self.proc.stop_with("INT", Duration::from_secs(5));
        }
    }
}

/// `RUN_ARGS` and the broker of `site`: the launch arguments of the test's robot.
fn robot_args(site: &Site) -> Vec<(&'static str, String)> {
    let mut args: Vec<(&str, String)> = RUN_ARGS.iter().map(|(k, v)| (*k, v.to_string())).collect();
    args.push(("broker", "127.0.0.1".into()));
    args.push(("port", site.port().to_string()));
    args
}

/// Says why the node exited, as far as its output tells.
fn explain_exit(status: std::process::ExitStatus, output: &str) -> String {
    let lower = output.to_lowercase();
    let why = if output.trim().is_empty() && status.success() {
        "it exited at once, successfully and silently: is src/main.rs still the stub `fn main() {}`?"
    } else if lower.contains("undefined symbol") || lower.contains("error while loading shared") {
        "the executable could not load its ROS libraries (LD_LIBRARY_PATH / LD_PRELOAD of scripts/env.sh?)"
    } else if lower.contains("--ros-args")
        || lower.contains("couldn't parse")
        || lower.contains("rcl_parse_arguments")
        || lower.contains("failed to parse")
    {
        "rcl (or the node) rejected the command line that the launch file gives it"
    } else if lower.contains("config") {
        "a configuration error (the config file or a parameter the launch file passes)"
    } else {
        "unclassified exit"
    };
    format!("the node exited within {STAY_UP:?} ({status}): {why}\n--- node output ---\n{output}")
}

/// Node names (full, with namespace) on the ROS graph of our domain, seen from rclpy within `d`,
/// waiting until `want` shows up.
fn ros_graph_has(ws: &Workspace, domain: u32, want: &str, d: Duration) -> Result<(), Vec<String>> {
    let script = format!(
        "import json, sys, time, rclpy\n\
         rclpy.init()\n\
         n = rclpy.create_node('colcon_launch_probe')\n\
         names = []\n\
         end = time.time() + {}\n\
         while time.time() < end:\n\
         \x20   rclpy.spin_once(n, timeout_sec=0.1)\n\
         \x20   names = [(ns.rstrip('/') + '/' + nm) for nm, ns in n.get_node_names_and_namespaces()]\n\
         \x20   if sys.argv[1] in names: break\n\
         print(json.dumps(names))\n\
         n.destroy_node(); rclpy.shutdown()\n",
        d.as_secs_f64()
    );
    let out = in_sourced_workspace(ws, domain, &[python().as_str(), "-c", &script, want]);
    assert!(
        out.status.success(),
        "rclpy graph probe failed:\n{}",
        show(&out)
    );
    let names: Vec<String> = serde_json::from_slice(&out.stdout).expect("probe output");
    if names.iter().any(|n| n == want) {
        Ok(())
    } else {
        Err(names)
    }
}

#[test]
fn launch_file_command_line_starts_node() {
    let ws = workspace();
    let site = Site::start();
    let domain = site.domain.id();
    let prefix = ws.prefix();
    let share = prefix.join("share").join(PKG);

    // The defaults, as `ros2 launch amr_mqtt_bridge bridge.launch.xml` without arguments.
    let defaults = derive(ws, domain, "bridge.launch.xml", &[]);
    eprintln!(
        "derived command line (defaults): {}",
        defaults.cmd.join(" ")
    );
    for (f, content) in &defaults.params_files {
        eprintln!("  {f}:\n{content}");
    }
    let exe = prefix.join("lib").join(PKG).join(PKG);
    let p = |f: usize| defaults.params_files[f].0.clone();
    assert_eq!(
        defaults.cmd,
        [
            exe.to_string_lossy().as_ref(),
            "--ros-args",
            "--log-level",
            "info",
            "--ros-args",
            "-r",
            "__node:=amr_mqtt_bridge",
            "-r",
            "__ns:=/",
            "--params-file",
            &p(0),
            "--params-file",
            &p(1),
            "--params-file",
            &p(2),
            "--params-file",
            &p(3),
        ]
    );
    let params: Vec<&str> = defaults
        .params_files
        .iter()
        .map(|(_, c)| c.as_str())
        .collect();
    let config = share.join("config/bridge.yaml");
    assert_eq!(
        params,
        [
            format!(
                "/amr_mqtt_bridge:\n  ros__parameters:\n    config_file: {}\n",
                config.display()
            )
            .as_str(),
            "/amr_mqtt_bridge:\n  ros__parameters:\n    robot_id: ''\n",
            "/amr_mqtt_bridge:\n  ros__parameters:\n    broker: ''\n",
            "/amr_mqtt_bridge:\n  ros__parameters:\n    port: ''\n",
        ]
    );
    assert!(defaults.respawn, "respawn defaults to true");
    assert_eq!(defaults.respawn_delay, Some(2.0));

    // A robot's arguments, with our own broker.
    let d = derive(ws, domain, "bridge.launch.xml", &robot_args(&site));
    eprintln!("derived command line (test run): {}", d.cmd.join(" "));
    for (f, content) in &d.params_files {
        eprintln!("  {f}:\n{content}");
    }
    assert!(!d.respawn);
    assert_eq!(&d.cmd[1..4], ["--ros-args", "--log-level", "debug"]);
    assert_eq!(
        &d.cmd[4..9],
        [
            "--ros-args",
            "-r",
            "__node:=amr_mqtt_bridge",
            "-r",
            "__ns:=/robot61"
        ]
    );
    let contents: Vec<&str> = d.params_files.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        contents[1],
        "/robot61/amr_mqtt_bridge:\n  ros__parameters:\n    robot_id: AMR061\n"
    );
    assert_eq!(
        contents[2],
        "/robot61/amr_mqtt_bridge:\n  ros__parameters:\n    broker: 127.0.0.1\n"
    );
    assert_eq!(
        contents[3],
        format!(
            "/robot61/amr_mqtt_bridge:\n  ros__parameters:\n    port: {}\n",
            site.port()
        )
    );

    let mut node = Running::start(ws, domain, &d, "bridge");
    if let Err(why) = node.stays_up(STAY_UP) {
        panic!("command line: {}\n{why}", d.cmd.join(" "));
    }
    let name = "/robot61/amr_mqtt_bridge";
    if let Err(names) = ros_graph_has(ws, domain, name, Duration::from_secs(10)) {
        panic!(
            "the node stayed up but {name} is not on the ROS graph \
             (domain {domain}); nodes seen: {names:?}\n--- node output ---\n{}",
            node.output()
        );
    }
    if let Err(why) = node.stays_up(Duration::from_millis(100)) {
        panic!("{why}");
    }
}

/// The node started from the launch file's command line bridges one message: an rclpy
/// Odometry on /robot61/odom reaches amr/AMR061/status/position through the test's broker.
#[test]
fn launch_file_node_bridges_one_message() {
    let ws = workspace();
    let site = Site::start();
    let domain = site.domain.id();
    let d = derive(ws, domain, "bridge.launch.xml", &robot_args(&site));
    let mut node = Running::start(ws, domain, &d, "bridge_message");
    if let Err(why) = node.stays_up(STAY_UP) {
        panic!("{why}");
    }
    let topic = "amr/AMR061/status/position";
    let mut sub = site.mqtt_sub(topic);
    let odom = json!({"pose": {"pose": {"position": {"x": 1.25, "y": -2.5}}}});
    let publisher = site.ros(ros_type::ODOMETRY, "/robot61/odom");
    let publisher = publisher.publish(&odom, 5.0, 25, "reliable");
    let m = sub
        .wait_for(topic, Duration::from_secs(30), |_| true)
        .unwrap_or_else(|| {
            panic!(
                "nothing on {topic} within 30 s\n--- node output ---\n{}",
                node.output()
            )
        });
    drop(publisher);
    let v = m.json();
    assert_eq!(v["robot_id"], "AMR061");
    assert_eq!(v["data"]["position"]["x"].as_f64(), Some(1.25));
    assert_eq!(v["data"]["position"]["y"].as_f64(), Some(-2.5));
}
