//! An S3-compatible server for tests: moto's (`pip install 'moto[server]'`), one per test
//! process, started on first use and stopped when the process ends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clearance_store::ObjectStorage;

/// The running server's address, or why there is none.
static SERVER: OnceLock<Result<SocketAddr, String>> = OnceLock::new();

fn start() -> Result<SocketAddr, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    // A shell watches this process and stops the server when it is gone, however the tests end.
    let script = format!(
        "moto_server -H 127.0.0.1 -p {port} >/dev/null 2>&1 & server=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1; done; \
         kill $server 2>/dev/null",
        parent = std::process::id()
    );
    let which = Command::new("sh")
        .args(["-c", "command -v moto_server"])
        .output()
        .map_err(|e| format!("sh: {e}"))?;
    if !which.status.success() {
        return Err("moto_server is not installed (pip install 'moto[server]')".into());
    }
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting moto_server: {e}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if TcpStream::connect(addr).is_ok() {
            return Ok(addr);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("moto_server did not answer within 60 s".into())
}

/// Sends one unsigned request (moto does not check signatures) and answers the status code.
fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("object storage answers");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send");
    stream.write_all(body).expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("receive");
    let status = String::from_utf8_lossy(&response[..response.len().min(12)]).into_owned();
    status
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// A new, empty bucket on the test server, as configuration; `None` (with a notice) when no
/// server can be started outside CI. Under `CI=true` a missing server fails the test.
pub fn new_bucket() -> Option<ObjectStorage> {
    let addr = match SERVER.get_or_init(start) {
        Ok(addr) => *addr,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("NOTICE: documents stay on the filesystem in this test: {e}");
            return None;
        }
        Err(e) => panic!("S3-compatible storage is required under CI=true: {e}"),
    };
    let bucket = format!("clearance-{}", uuid::Uuid::now_v7().simple());
    assert_eq!(request(addr, "PUT", &format!("/{bucket}"), b""), 200);
    Some(ObjectStorage {
        bucket,
        endpoint: format!("http://{addr}"),
        region: "us-east-1".into(),
        prefix: "documents".into(),
        allow_http: true,
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    })
}

fn address(s3: &ObjectStorage) -> SocketAddr {
    s3.endpoint
        .trim_start_matches("http://")
        .parse()
        .expect("the test server's address")
}

/// Whether the object `key` is in the configured bucket.
pub fn exists(s3: &ObjectStorage, key: &str) -> bool {
    match request(address(s3), "HEAD", &format!("/{}/{key}", s3.bucket), b"") {
        200 => true,
        404 => false,
        other => panic!("HEAD answered {other}"),
    }
}

/// Writes `bytes` over the object `key` of the configured bucket, as someone with access to
/// the storage could.
pub fn overwrite(s3: &ObjectStorage, key: &str, bytes: &[u8]) {
    assert_eq!(
        request(address(s3), "PUT", &format!("/{}/{key}", s3.bucket), bytes),
        200
    );
}
