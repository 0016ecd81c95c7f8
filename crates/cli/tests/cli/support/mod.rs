//! What the tests that run the clearancectl binary share.

#![allow(dead_code)] // not every helper is used by every module

use std::path::Path;
use std::process::Command;

use clearance_tests::TestApp;

/// clearancectl pointed at `app`'s two services, with `home` as its configuration directory
/// (no profile of the machine's user leaks in); the caller adds the token and the command.
pub fn clearancectl(app: &TestApp, home: &Path) -> Command {
    let running = app.running.as_ref().expect("the services run");
    let address = |addr: Option<std::net::SocketAddr>| {
        format!("http://{}", addr.expect("the service listens"))
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_clearancectl"));
    command
        .arg("--application-endpoint")
        .arg(address(running.application_addr))
        .arg("--reviewer-endpoint")
        .arg(address(running.reviewer_addr))
        .env("XDG_CONFIG_HOME", home)
        .env_remove("CLEARANCE_PROFILE");
    command
}

/// How a run of clearancectl ended.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Runs `command` to its end.
    pub fn of(command: &mut Command) -> Ran {
        let output = command.output().expect("clearancectl runs");
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}
