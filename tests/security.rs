//! SPEC section 9: username/password, TLS with a CA file, and mutual TLS with client
//! certificates, against a real Mosquitto configured for each; certificates made by openssl.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The bridge reaches the broker by name, as the certificates say.
const BY_NAME: &[&str] = &["-p", "broker:=localhost"];

fn openssl(dir: &Path, args: &[&str]) {
    run(
        Command::new("openssl").args(args).current_dir(dir),
        &format!("openssl {args:?}"),
    );
}

/// Mosquitto drops to its own user when started as root: it must read these files.
fn readable(dir: &Path, files: &[&str]) {
    for f in files {
        let _ = Command::new("chmod").arg("644").arg(dir.join(f)).status();
    }
    let _ = Command::new("chmod").arg("755").arg(dir).status();
}

/// A certificate `<name>.crt` (key `<name>.key`) for `cn`, signed by the test CA, X.509 v3
/// with the extension line `ext` (rustls refuses v1 certificates).
fn issue(dir: &Path, name: &str, cn: &str, ext: &str) {
    let (key, csr, crt, extfile) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.ext"),
    );
    std::fs::write(dir.join(&extfile), format!("{ext}\n")).expect("ext");
    let subj = format!("/CN={cn}");
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", &subj, "-keyout", &key, "-out", &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &extfile,
            "-out",
            &crt,
        ],
    );
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate.
fn make_pki(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    issue(
        dir,
        "server",
        "localhost",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
    );
    issue(dir, "client", "robot", "extendedKeyUsage=clientAuth");
    readable(dir, &["ca.crt", "server.crt", "server.key"]);
}

/// `config("")` with more keys under `mqtt:`.
fn mqtt_config(keys: &str) -> String {
    config("").replace("mqtt:\n", &format!("mqtt:\n{keys}"))
}

/// Odometry reaches status/position through this site's broker (an authenticated local
/// listener on `sub_port` lets the test's own subscriber in).
fn bridges_odometry(site: &Site, sub_port: u16, yaml: &str, id: &str) {
    let _bridge = site.bridge(id, yaml, BY_NAME);
    let topic = format!("amr/{id}/status/position");
    let mut sub = MqttSub::start(sub_port, &topic);
    let odom = json!({"pose": {"pose": {"position": {"x": 3.5}}}});
    let _p = site
        .ros(ros_type::ODOMETRY, "/odom")
        .publish(&odom, 5.0, 15, "reliable");
    let m = sub.expect(
        &topic,
        Duration::from_secs(15),
        "odometry over the secured link",
        |_| true,
    );
    assert_eq!(m.json()["data"]["position"]["x"].as_f64(), Some(3.5));
}

#[test]
fn username_and_password_from_a_file() {
    let domain = Domain::new();
    let dir = tempfile::tempdir().expect("dir");
    let pw = dir.path().join("passwd");
    run(
        Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&pw)
            .args(["robot", "s3cret"]),
        "mosquitto_passwd",
    );
    readable(dir.path(), &["passwd"]);
    let open_port = free_port();
    let broker = Broker::start_custom(|port| {
        format!(
            "per_listener_settings true\nlistener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
             listener {open_port} 127.0.0.1\nallow_anonymous true\n",
            pw.display()
        )
    });
    let site = Site::on(domain, broker);
    // The first listener (the broker's port) needs the password; the second is for the test.
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").expect("secret");
    let yaml = mqtt_config(&format!(
        "  username: robot\n  password_file: {}\n",
        secret.display()
    ));
    bridges_odometry(&site, open_port, &yaml, "SEC51");
    // A wrong password never connects.
    let bad = mqtt_config("  username: robot\n  password: wrong\n");
    let b = site.spawn_bridge("SEC52", &bad, BY_NAME);
    std::thread::sleep(Duration::from_secs(3));
    let log = b.log_text();
    assert!(
        !log.contains("connected to"),
        "must not connect with a wrong password:\n{log}"
    );
    assert!(log.contains("cannot connect"), "says why:\n{log}");
}

#[test]
fn tls_with_a_ca_file_and_mutual_tls() {
    let domain = Domain::new();
    let pki = tempfile::tempdir().expect("dir");
    make_pki(pki.path());
    let p = |f: &str| pki.path().join(f).display().to_string();
    let open_port = free_port();
    // TLS listener requiring a client certificate, and a plain one for the test's subscriber.
    let broker = Broker::start_custom(|port| {
        format!(
            "per_listener_settings true\nlistener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
             require_certificate true\nallow_anonymous true\nlistener {open_port} 127.0.0.1\nallow_anonymous true\n",
            p("ca.crt"),
            p("server.crt"),
            p("server.key")
        )
    });
    let site = Site::on(domain, broker);
    let yaml = mqtt_config(&format!(
        "  use_ssl: true\n  tls: {{ca_file: {}, cert_file: {}, key_file: {}}}\n",
        p("ca.crt"),
        p("client.crt"),
        p("client.key")
    ));
    bridges_odometry(&site, open_port, &yaml, "SEC53");
    // Without the client certificate the broker refuses the robot.
    let no_cert = mqtt_config(&format!(
        "  use_ssl: true\n  tls: {{ca_file: {}}}\n",
        p("ca.crt")
    ));
    let b = site.spawn_bridge("SEC54", &no_cert, BY_NAME);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !b.log_text().contains("connected to"),
        "mutual TLS must refuse:\n{}",
        b.log_text()
    );
}
