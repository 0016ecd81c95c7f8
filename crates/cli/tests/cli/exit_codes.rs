//! Every exit code in the README's table, from the `clearancectl` binary itself, with the
//! message a person would read: 0 ok, 1 failure, 2 invalid input, 3 not found, 4 refused,
//! 5 not authenticated, 6 unavailable (nothing listening, or something that is not Clearance).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::process::Command;

use clearance_tests::{TestApp, TestDb, on_both_databases};

struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs clearancectl in text mode with `token` against `application` and `reviewer`.
fn ctl(application: &str, reviewer: &str, token: &str, args: &[&str]) -> Ran {
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_clearancectl"))
        .arg("--application-endpoint")
        .arg(application)
        .arg("--reviewer-endpoint")
        .arg(reviewer)
        .arg("--token")
        .arg(token)
        .args(args)
        .env("XDG_CONFIG_HOME", home.path())
        .env_remove("CLEARANCE_PROFILE")
        .output()
        .expect("clearancectl runs");
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port where something that is not a gRPC server answers (an HTTP/1 server).
fn not_grpc_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    port
}

async fn every_exit_code_means_what_the_readme_says(_db: &TestDb, app: TestApp) {
    let running = app.running.as_ref().unwrap();
    let application = format!("http://{}", running.application_addr.unwrap());
    let reviewer = format!("http://{}", running.reviewer_addr.unwrap());
    let officer = app.token_for("olivia@acme", &["applicant"], Some("acme"));
    let alice = app.token_for("alice@regulator", &["reviewer"], None);
    let run = |token: &str, args: &[&str]| ctl(&application, &reviewer, token, args);

    // 0: both services serving.
    let ok = run(&officer, &["health"]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(ok.stdout.contains("SERVING"), "{}", ok.stdout);

    // 1: a local failure (the input file is missing), named with its path.
    let missing = run(
        &officer,
        &["products", "create", "--file", "/nonexistent/product.json"],
    );
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(missing.stderr.contains("/nonexistent/product.json"));

    // 1: a profile whose token file is missing names the file.
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("clearance")).unwrap();
    std::fs::write(
        home.path().join("clearance/config.toml"),
        "[profiles.broken]\ntoken_file = \"/nonexistent/alice.token\"\n",
    )
    .unwrap();
    let broken = Command::new(env!("CARGO_BIN_EXE_clearancectl"))
        .args(["--profile", "broken", "health"])
        .env("XDG_CONFIG_HOME", home.path())
        .env_remove("CLEARANCE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(1));
    let said = String::from_utf8_lossy(&broken.stderr);
    assert!(said.contains("/nonexistent/alice.token"), "{said}");

    // 2: invalid input, with the field that is wrong.
    let invalid = run(&alice, &["cases", "list", "--filter", "colour = RED"]);
    assert_eq!(invalid.code, 2, "{}", invalid.stderr);
    assert!(invalid.stderr.contains("filter"), "{}", invalid.stderr);
    // An endpoint without a scheme is invalid input too, and the message says how to fix it.
    let no_scheme = ctl(
        &application.replace("http://", ""),
        &reviewer,
        &officer,
        &["products", "list"],
    );
    assert_eq!(no_scheme.code, 2, "{}", no_scheme.stderr);
    assert!(
        no_scheme.stderr.contains("try http://"),
        "{}",
        no_scheme.stderr
    );

    // 3: not found.
    let absent = format!("applications/{}", uuid::Uuid::now_v7());
    let not_found = run(&officer, &["applications", "get", &absent]);
    assert_eq!(not_found.code, 3, "{}", not_found.stderr);

    // 4: refused: a regulator calling an exporter's method.
    let refused = run(&alice, &["products", "list"]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(refused.stderr.contains("what to do"), "{}", refused.stderr);

    // 5: not authenticated, in words (no library type names).
    let garbage = run("not-a-token", &["products", "list"]);
    assert_eq!(garbage.code, 5, "{}", garbage.stderr);
    assert!(
        garbage.stderr.contains("well-formed JWT"),
        "{}",
        garbage.stderr
    );
    assert!(
        !garbage.stderr.contains("InvalidToken"),
        "{}",
        garbage.stderr
    );

    // 6: nothing listening: the endpoint and what to check are named.
    let nowhere = format!("http://127.0.0.1:{}", closed_port());
    let unreachable = ctl(&nowhere, &reviewer, &officer, &["products", "list"]);
    assert_eq!(unreachable.code, 6, "{}", unreachable.stderr);
    assert!(
        unreachable.stderr.contains(&nowhere),
        "{}",
        unreachable.stderr
    );
    assert!(
        unreachable.stderr.contains("--application-endpoint"),
        "{}",
        unreachable.stderr
    );
    // 6: a wrong port where something else answers.
    let other = format!("http://127.0.0.1:{}", not_grpc_port());
    let wrong_port = ctl(&other, &reviewer, &officer, &["products", "list"]);
    assert_eq!(wrong_port.code, 6, "{}", wrong_port.stderr);
    assert!(wrong_port.stderr.contains(&other), "{}", wrong_port.stderr);
    // 6: health says which service is down and fails.
    let half_down = ctl(&application, &nowhere, &officer, &["health"]);
    assert_eq!(half_down.code, 6, "{}", half_down.stderr);
    assert!(
        half_down.stdout.contains("unreachable"),
        "{}",
        half_down.stdout
    );
}

on_both_databases!(every_exit_code_means_what_the_readme_says);
