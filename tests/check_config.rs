//! `amr_mqtt_bridge --check-config FILE [-p ...] [--namespace /NS]` and `--version`, as CI
//! runs them: no broker anywhere, and no ROS graph (ROS_DOMAIN_ID is not a number, so a ROS
//! context cannot even be made: a start fails at once). Exit 0 with the effective topics and mappings when the bridge
//! would start; 2 with the file and the key named when it would not: the seed config (with a
//! robot id, and without: the id given at launch), and every bad-config case of
//! tests/foundation.rs and src/config/settings.rs.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// The binary with `args`, where no ROS context can be made.
fn bridge(args: &[&str]) -> Output {
    require_env();
    Command::new(env!("CARGO_BIN_EXE_amr_mqtt_bridge"))
        .args(args)
        .env("ROS_DOMAIN_ID", "not-a-domain")
        .env("RCUTILS_COLORIZED_OUTPUT", "0")
        .output()
        .expect("run amr_mqtt_bridge")
}

#[test]
fn no_ros_context_can_be_made_here() {
    let seed = repo().join("config/mqtt_config.yaml").display().to_string();
    let config_file = format!("config_file:={seed}");
    let o = bridge(&["--ros-args", "-p", &config_file, "-p", "robot_id:=R1"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a start must fail here: {}",
        show(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("ROS_DOMAIN_ID"),
        "{}",
        show(&o)
    );
}

fn check(file: &Path, more: &[&str]) -> (i32, String, String) {
    let file = file.display().to_string();
    let mut args = vec!["--check-config", file.as_str()];
    args.extend(more);
    let o = bridge(&args);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        o.status.code().unwrap_or(-1),
        text(&o.stdout),
        text(&o.stderr),
    )
}

#[test]
fn the_seed_config_would_start_and_its_topics_are_printed() {
    let seed = repo().join("config/mqtt_config.yaml");
    let (code, out, err) = check(&seed, &["-p", "robot_id:=AMR001", "-p", "port:=1884"]);
    assert_eq!(code, 0, "{out}{err}");
    for want in [
        "OK, the bridge would start",
        "localhost:1884",
        "amr/AMR001/command",
        "amr/AMR001/status/connection",
        "odom",
        "/odom",
        "nav_msgs/msg/Odometry",
        "amr/AMR001/status/position",
        "sensor_msgs/msg/LaserScan",
        "2 Hz",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    // The example of every key, in a namespace that gives the robot id.
    let example = repo().join("config/bridge.yaml");
    let (code, out, err) = check(&example, &["--namespace", "/fleet/robot7"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("amr/robot7/status/position"), "{out}");
    assert!(out.contains("/fleet/robot7/cmd_vel"), "{out}");
}

#[test]
fn every_bad_config_exits_2_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let generic = |extra: &str| {
        format!("mqtt: {{}}\nmappings:\n  - {{name: g, direction: mqtt_to_ros, ros_type: std_msgs/msg/Bool, {extra}}}\n")
    };
    let cases: Vec<(String, &str)> = vec![
        ("mqtt:\n  broker: localhost\n  brokr: x\n".into(), "mqtt.brokr"),
        ("mqtt:\n  port: \"eighteen\"\n".into(), "mqtt.port"),
        ("mqtt:\n  qos: {status: 7}\n".into(), "mqtt.qos.status"),
        ("mqtt: {}\ncommands: {max_linear_speed: fast}\n".into(), "commands.max_linear_speed"),
        ("mqtt: {}\ncommands: {rate_hz: 5000}\n".into(), "commands.rate_hz"),
        ("mqtt: {}\nrobot_id: \"a/b\"\n".into(), "robot_id"),
        ("mqtt: {}\nrobot_id: \"x y\"\n".into(), "robot_id"),
        (
            "mqtt: {}\nmappings:\n  - {name: mystery, ros_topic: x, ros_type: no_such_msgs/msg/Thing, mqtt_action: x}\n".into(),
            "mappings[0].ros_type",
        ),
        (generic("ros_topic: cmd_vel, mqtt_action: x"), "mappings[0].ros_topic"),
        (generic("ros_topic: /emergency_stop, mqtt_action: x"), "mappings[0].ros_topic"),
        (generic("ros_topic: x, mqtt_action: move"), "mappings[0].mqtt_action"),
        ("mqtt:\n  topics: {command: amr/all/command}\n".into(), "mqtt.topics.command"),
        ("mqtt:\n  topics: {command: 'amr/{robot_id}/status'}\n".into(), "mqtt.topics.command"),
        (
            "mqtt:\n  use_ssl: true\n  tls: {ca_file: /nonexistent/ca.pem}\n".into(),
            "mqtt.tls.ca_file",
        ),
        ("mqtt:\n  use_ssl: true\n  tls: {cert_file: /x.pem}\n".into(), "mqtt.tls.key_file"),
        (
            "mqtt:\n  password_env: AMR_BRIDGE_NO_SUCH_VARIABLE\n".into(),
            "mqtt.password_env",
        ),
        ("mqtt:\n  password_file: /nonexistent/secret\n".into(), "mqtt.password_file"),
        ("mqtt:\n  offline_store: {path: relative/dir}\n".into(), "mqtt.offline_store.path"),
        ("mqtt:\n  offline_store: {path: /s, max_bytes: 10}\n".into(), "mqtt.offline_store.max_bytes"),
        ("mqtt:\n  failover: [{broker: b2}, {broker: ''}]\n".into(), "mqtt.failover[1].broker"),
    ];
    for (i, (yaml, key)) in cases.iter().enumerate() {
        let f = dir.path().join(format!("bad{i}.yaml"));
        std::fs::write(&f, yaml).expect("write");
        let robot = if key.starts_with("robot_id") {
            vec![]
        } else {
            vec!["-p", "robot_id:=R1"]
        };
        let (code, out, err) = check(&f, &robot);
        assert_eq!(code, 2, "{key}: exit code\n{yaml}\n{out}{err}");
        assert!(
            err.contains(&f.display().to_string()),
            "{key}: names the file: {err}"
        );
        assert!(err.contains(key), "{key}: names the key: {err}");
        assert!(out.is_empty(), "{key}: nothing on stdout: {out}");
    }
    // Parameters as a start reads them, and a file that is not there.
    let seed = repo().join("config/mqtt_config.yaml");
    for (args, want) in [
        (vec!["-p", "robot_id:='+'"], "robot id"),
        (vec!["-p", "robot_id:=R1", "-p", "port:=99999"], "port"),
    ] {
        let (code, _, err) = check(&seed, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let (code, _, err) = check(&dir.path().join("missing.yaml"), &["-p", "robot_id:=R1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing.yaml"), "{err}");
}

/// A fleet keeps one file for all its robots (the seed's own) and gives each robot its id at
/// launch: checking that file passes and says where the id will come from, the topics showing
/// where it goes. The file is still checked whole. (A start without an id still fails:
/// tests/foundation.rs.)
#[test]
fn a_file_without_a_robot_id_checks_and_says_where_the_id_will_come_from() {
    let seed = repo().join("config/mqtt_config.yaml");
    for args in [vec![], vec!["-p", "robot_id:=''"], vec!["--namespace", "/"]] {
        let (code, out, err) = check(&seed, &args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        for want in [
            "OK, the bridge would start",
            "robot id   not set: given at launch by the parameter robot_id",
            "else the last segment of the node namespace",
            "amr/{robot_id}/command/#",
            "amr/{robot_id}/status/position",
            "amr/{robot_id}/status/connection",
            "client id amr_client_{robot_id}",
        ] {
            assert!(out.contains(want), "{args:?}: {want:?} not in:\n{out}");
        }
    }
    let dir = tempfile::tempdir().expect("dir");
    for (yaml, key) in [
        ("mqtt:\n  topics: {command: amr/all/command}\n", "mqtt.topics.command"),
        ("mqtt: {}\ncommands: {rate_hz: 5000}\n", "commands.rate_hz"),
        (
            "mqtt: {}\nmappings:\n  - {name: g, direction: mqtt_to_ros, ros_type: std_msgs/msg/Bool, ros_topic: cmd_vel, mqtt_action: x}\n",
            "mappings[0].ros_topic",
        ),
    ] {
        let f = dir.path().join("fleet.yaml");
        std::fs::write(&f, yaml).expect("write");
        let (code, out, err) = check(&f, &[]);
        assert_eq!(code, 2, "{key}: {out}{err}");
        assert!(err.contains(key), "{key}: names the key: {err}");
        assert!(out.is_empty(), "{key}: nothing on stdout: {out}");
    }
}

#[test]
fn usage_errors_exit_2_and_version_names_the_build() {
    for args in [
        vec!["--check-config"],
        vec!["--check-config", "x.yaml", "-p", "config_file:=y.yaml"],
        vec!["--no-such-flag"],
    ] {
        let o = bridge(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", show(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("usage:"),
            "{}",
            show(&o)
        );
    }
    let o = bridge(&["--version"]);
    assert!(o.status.success(), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with(&format!("amr_mqtt_bridge {}\n", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    let distro = std::env::var("ROS_DISTRO").expect("ROS_DISTRO");
    assert!(
        out.contains(&format!("ROS 2 distribution: {distro}")),
        "{out}"
    );
    for pkg in [
        "std_msgs",
        "geometry_msgs",
        "nav_msgs",
        "sensor_msgs",
        "diagnostic_msgs",
    ] {
        assert!(out.contains(pkg), "{pkg}: {out}");
    }
}
