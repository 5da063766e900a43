//! A real S3 server on loopback for the tests — moto (`moto[server]` from PyPI, installed into
//! the checkout's venv by the test command) — and a TCP proxy in front of it that can cut every
//! connection at a chosen request, as if the server went away mid-operation.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A moto S3 server on a free loopback port, stopped when dropped.
pub struct S3Server {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// `moto_server` next to the test Python (`TAGFUSION_PYTHON`, else the checkout's venv).
fn moto_server() -> PathBuf {
    let bin = match std::env::var("TAGFUSION_PYTHON") {
        Ok(python) => Path::new(&python)
            .parent()
            .map(|d| d.join("moto_server"))
            .unwrap_or_default(),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server"),
    };
    assert!(
        bin.exists(),
        "{} is missing: run `bash scripts/test.sh` (it installs tests/requirements.txt)",
        bin.display()
    );
    bin
}

/// One HTTP/1.1 request without a body; returns the response head and body.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

impl S3Server {
    /// A server that accepts any credentials.
    pub fn start() -> Self {
        Self::spawn(&[])
    }

    /// A server that checks signatures against its (empty) IAM: every access key is refused.
    pub fn start_checking_credentials() -> Self {
        Self::spawn(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
    }

    fn spawn(env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http(port, "GET", "/").is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (moto takes unsigned requests unless it checks credentials).
    pub fn create_bucket(&self, bucket: &str) {
        let response = http(self.port, "PUT", &format!("/{bucket}")).expect("create bucket");
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "create bucket: {response}"
        );
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The AWS environment that points a process at `endpoint`, with short retries so a failure
/// shows quickly.
pub fn aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", endpoint.into()),
        ("AWS_ALLOW_HTTP", "true".into()),
        ("TAGFUSION_S3_MAX_RETRIES", "2".into()),
        ("TAGFUSION_S3_RETRY_TIMEOUT", "10".into()),
    ]
}

/// A TCP proxy to a port. Armed with [`FaultProxy::cut_at`], it drops every connection the
/// moment a request containing the given text passes (that request never arrives) and refuses
/// service until [`FaultProxy::restore`].
pub struct FaultProxy {
    port: u16,
    state: Arc<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    down: AtomicBool,
    trigger: Mutex<Option<String>>,
    cut: AtomicBool,
    live: Mutex<Vec<TcpStream>>,
}

impl ProxyState {
    fn cut_all(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut.store(true, Ordering::SeqCst);
        if let Ok(mut live) = self.live.lock() {
            for stream in live.drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

impl FaultProxy {
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let port = listener.local_addr().expect("proxy addr").port();
        let state = Arc::new(ProxyState::default());
        let accept_state = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if accept_state.down.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                if let (Ok(mut live), Ok(c), Ok(s)) = (
                    accept_state.live.lock(),
                    client.try_clone(),
                    server.try_clone(),
                ) {
                    live.push(c);
                    live.push(s);
                }
                Self::pump(client, server, accept_state.clone());
            }
        });
        Self { port, state }
    }

    fn pump(client: TcpStream, server: TcpStream, state: Arc<ProxyState>) {
        let (Ok(mut client_in), Ok(mut server_out)) = (client.try_clone(), server.try_clone())
        else {
            return;
        };
        let (mut server_in, mut client_out) = (server, client);
        let up_state = state.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = client_in.read(&mut buf) {
                if n == 0 || up_state.down.load(Ordering::SeqCst) {
                    break;
                }
                let trigger = up_state.trigger.lock().ok().and_then(|t| t.clone());
                if let Some(text) = trigger
                    && String::from_utf8_lossy(&buf[..n]).contains(&text)
                {
                    up_state.cut_all();
                    break;
                }
                if server_out.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = server_out.shutdown(Shutdown::Both);
        });
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut server_in, &mut client_out);
            let _ = client_out.shutdown(Shutdown::Both);
        });
        drop(state);
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Cut everything when a request containing `text` comes through.
    pub fn cut_at(&self, text: &str) {
        if let Ok(mut trigger) = self.state.trigger.lock() {
            *trigger = Some(text.to_string());
        }
    }

    /// Whether the cut happened.
    pub fn was_cut(&self) -> bool {
        self.state.cut.load(Ordering::SeqCst)
    }

    /// Serve again, disarmed.
    pub fn restore(&self) {
        if let Ok(mut trigger) = self.state.trigger.lock() {
            *trigger = None;
        }
        self.state.down.store(false, Ordering::SeqCst);
    }
}
