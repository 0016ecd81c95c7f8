//! A TCP proxy between a server and its database that a test can turn against it: stop the
//! database (every connection cut, new ones refused, as a stopped or restarting server does),
//! freeze it (connections stay open and nothing moves, as a hung server or a network partition
//! does), and bring it back.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Up,
    Stopped,
    Frozen,
}

/// See the module documentation; the proxy runs until dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy in front of the database of `url` (PostgreSQL), and the URL that goes through it.
    pub async fn before(url: &str) -> (FaultProxy, String) {
        let (start, end) = host_span(url);
        let host_port = &url[start..end];
        let host_port = if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:5432")
        };
        let upstream = tokio::net::lookup_host(host_port.as_str())
            .await
            .expect("database host")
            .next()
            .expect("database address");
        let proxy = FaultProxy::start(upstream).await;
        let through = format!("{}{}{}", &url[..start], proxy.addr, &url[end..]);
        (proxy, through)
    }

    /// Listens on a free local port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        // A socket bound and never listening holds the port while the proxy is stopped, so
        // connections are refused there (nothing listens) and no other socket takes it.
        let holder = reusable_socket("127.0.0.1:0".parse().expect("address"));
        let addr = holder.local_addr().expect("proxy address");
        let (mode, mut watching) = watch::channel(Mode::Up);
        let task = tokio::spawn(async move {
            let _holder = holder;
            loop {
                if watching.wait_for(|m| *m != Mode::Stopped).await.is_err() {
                    return;
                }
                let listener = reusable_socket(addr).listen(1024).expect("proxy listens");
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            if let Ok((client, _)) = accepted {
                                tokio::spawn(forward(client, upstream, watching.clone()));
                            }
                        }
                        changed = watching.changed() => {
                            if changed.is_err() {
                                return;
                            }
                            if *watching.borrow() == Mode::Stopped {
                                break; // the listener closes: connections are refused
                            }
                        }
                    }
                }
            }
        });
        FaultProxy { addr, mode, task }
    }

    /// The address to give the server instead of the database's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The database stops: open connections are cut and new ones refused until [`resume`].
    ///
    /// [`resume`]: FaultProxy::resume
    pub fn stop(&self) {
        self.mode.send_replace(Mode::Stopped);
    }

    /// The database hangs: connections stay open and nothing passes until [`resume`].
    ///
    /// [`resume`]: FaultProxy::resume
    pub fn freeze(&self) {
        self.mode.send_replace(Mode::Frozen);
    }

    /// The database is back.
    pub fn resume(&self) {
        self.mode.send_replace(Mode::Up);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.mode.send_replace(Mode::Stopped);
    }
}

/// A socket on `addr` that others with the same options may share.
fn reusable_socket(addr: SocketAddr) -> TcpSocket {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.set_reuseport(true).expect("SO_REUSEPORT");
    socket.bind(addr).expect("proxy port");
    socket
}

/// Copies both ways until either side closes or the database is stopped.
async fn forward(client: TcpStream, upstream: SocketAddr, watching: watch::Receiver<Mode>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        _ = pump(client_read, server_write, watching.clone()) => {}
        _ = pump(server_read, client_write, watching) => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut watching: watch::Receiver<Mode>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        // Frozen: hold everything (reading nothing) until the database is up or stopped.
        match watching.wait_for(|m| *m != Mode::Frozen).await.map(|m| *m) {
            Ok(Mode::Up) => {}
            _ => return,
        }
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = watching.changed() => continue,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if *watching.borrow() == Mode::Stopped || to.write_all(&buffer[..n]).await.is_err()
                {
                    return;
                }
            }
        }
    }
}

/// Where the host and port of a PostgreSQL URL are: (start, end) of `host[:port]`.
fn host_span(url: &str) -> (usize, usize) {
    let start = url.find("://").expect("a URL") + 3;
    let start = url[start..].find('@').map_or(start, |at| start + at + 1);
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    (start, end)
}
