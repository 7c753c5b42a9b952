//! A throwaway `redis-server` for tests: its own process on a free port with its own data
//! directory, stopped when dropped. Tests that need Redis start one of these and never skip:
//! a machine without `redis-server` fails them with the command that installs it.

use std::{
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running `redis-server` owned by the test that started it.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// The binary: `$BATON_REDIS_SERVER`, else `redis-server` on the `PATH`.
fn binary() -> PathBuf {
    std::env::var_os("BATON_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

/// Starts `redis-server` on `port` keeping its append-only file in `dir`.
fn spawn(port: u16, dir: &std::path::Path) -> std::io::Result<Child> {
    Command::new(binary())
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "yes", "--appendfsync", "always"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

impl RedisServer {
    /// Starts a server with an append-only file fsynced on every write (what production runs)
    /// and waits until it answers. Panics when none can be started.
    pub fn start() -> Self {
        let mut last = String::new();
        // A free port found by binding port 0 can be taken by someone else before the server
        // binds it; try a few.
        for _ in 0..5 {
            match Self::try_start() {
                Ok(server) => return server,
                Err(err) => last = err,
            }
        }
        panic!("could not start a test redis-server: {last}");
    }

    fn try_start() -> Result<Self, String> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let child = spawn(port, dir.path()).map_err(|e| {
            format!(
                "{} did not start ({e}); install it with `make redis-server` \
                     or point BATON_REDIS_SERVER at one",
                binary().display()
            )
        })?;
        let mut server = Self { child, port, dir };
        server.await_answer(Duration::from_secs(10))?;
        Ok(server)
    }

    /// Waits until the server answers PING, at most `within`; fails when it exits first.
    fn await_answer(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited: {status}",
                    self.port
                ));
            }
            if self.answers() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "redis-server on port {} did not answer within {within:?}",
            self.port
        ))
    }

    /// True when the server answers PING.
    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server at once (SIGKILL: no shutdown save) and starts a new one on the same
    /// port and data directory, as after a crash. Panics when it does not come back.
    pub fn crash_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The port may linger for a moment after the kill; a restart that cannot bind it
        // exits, and is tried again.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.child = spawn(self.port, self.dir.path()).expect("restart redis-server");
            let outcome = self.await_answer(Duration::from_secs(2));
            match outcome {
                Ok(()) => return,
                Err(err) => assert!(Instant::now() < deadline, "no restart: {err}"),
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
