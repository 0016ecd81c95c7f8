//! `clearance console` serves the web console as its own process, on loopback only.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

#[test]
fn the_console_runs_as_its_own_process_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_clearance"))
        .args(["console", "--listen", "0.0.0.0:0"])
        .current_dir(dir.path())
        .env("CLEARANCE_AUTH__DEV_KEY_DIR", dir.path().join("keys"))
        .output()
        .expect("clearance runs");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("refusing to serve the console on 0.0.0.0"),
        "{stderr}"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_clearance"))
        .args(["console", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("CLEARANCE_AUTH__DEV_KEY_DIR", dir.path().join("keys"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("clearance console");
    let stderr = child.stderr.take().unwrap();
    let address = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            line.strip_prefix("web console at http://")
                .and_then(|rest| rest.split_once('/'))
                .map(|(addr, _)| addr.to_owned())
        })
        .expect("the console says where it is");
    let mut stream = std::net::TcpStream::connect(&address).expect("connect");
    write!(
        stream,
        "GET /sign-in HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<h1>Sign in</h1>"), "{page}");
}
