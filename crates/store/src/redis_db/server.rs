//! A throwaway `redis-server` for tests: its own process on a free port with its own data
//! directory, stopped when dropped. Tests that need Redis start one of these and never skip:
//! a machine without `redis-server` fails them with the command that installs it.
//!
//! [`RedisServer::start`] runs what production must run (an append-only file fsynced on every
//! write); [`RedisServer::builder`] starts one that differs, to test what baton does then: a
//! password, TLS, weaker durability, any other `redis-server` argument.

use std::{
    ffi::OsString,
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running `redis-server` owned by the test that started it.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    /// The plain port, also with TLS: the readiness probe speaks plain RESP.
    port: u16,
    /// The TLS port, when the server serves TLS; [`RedisServer::url`] then points at it.
    tls_port: Option<u16>,
    /// What the readiness probe authenticates with, when the server requires a password.
    password: Option<String>,
    /// Every argument besides ports and data directory, given again on restart.
    args: Vec<OsString>,
    dir: tempfile::TempDir,
}

/// How a test server differs from production's; [`RedisServerBuilder::start`] starts it.
#[derive(Debug, Clone)]
pub struct RedisServerBuilder {
    appendonly: &'static str,
    appendfsync: &'static str,
    password: Option<String>,
    tls: Option<ServerTls>,
    args: Vec<String>,
}

/// The PEM material of a test server that serves TLS.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// The server's certificate (chain), which clients check.
    pub cert: String,
    /// Its private key; written to the server's temporary directory only.
    pub key: String,
    /// When set, clients must present a certificate signed by this CA
    /// (`tls-auth-clients yes`); else none is asked for.
    pub client_ca: Option<String>,
}

/// The binary: `$BATON_REDIS_SERVER`, else `redis-server` on the `PATH`.
pub(super) fn binary() -> PathBuf {
    std::env::var_os("BATON_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

/// Starts `redis-server` on `port` (and `tls_port`) with `args`, keeping its files in `dir`.
pub(super) fn spawn(
    port: u16,
    tls_port: Option<u16>,
    args: &[OsString],
    dir: &Path,
) -> std::io::Result<Child> {
    let mut command = Command::new(binary());
    command.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
    if let Some(tls_port) = tls_port {
        command.args(["--tls-port", &tls_port.to_string()]);
    }
    command
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// A port nobody listens on now (someone may take it before the server binds it).
pub(super) fn free_port() -> Result<TcpListener, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("no free port: {e}"))
}

pub(super) fn port_of(listener: &TcpListener) -> Result<u16, String> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl RedisServer {
    /// Starts a server with an append-only file fsynced on every write (what production runs)
    /// and waits until it answers. Panics when none can be started.
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// A server like [`RedisServer::start`]'s, to be changed before it starts.
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder {
            appendonly: "yes",
            appendfsync: "always",
            password: None,
            tls: None,
            args: Vec::new(),
        }
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

    /// True when the server answers PING (after AUTH, when it needs a password), which it
    /// does only once its append-only file is loaded.
    fn answers(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut request = Vec::new();
        let mut expected = Vec::new();
        if let Some(password) = &self.password {
            request.extend_from_slice(
                format!("*2\r\n$4\r\nAUTH\r\n${}\r\n{password}\r\n", password.len()).as_bytes(),
            );
            expected.extend_from_slice(b"+OK\r\n");
        }
        request.extend_from_slice(b"PING\r\n");
        expected.extend_from_slice(b"+PONG\r\n");
        let mut reply = vec![0u8; expected.len()];
        stream.write_all(&request).is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && reply == expected
    }

    /// `redis://127.0.0.1:<port>/`, or `rediss://127.0.0.1:<tls port>/` when it serves TLS.
    pub fn url(&self) -> String {
        match self.tls_port {
            Some(port) => format!("rediss://127.0.0.1:{port}/"),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// `127.0.0.1:<port>` of [`RedisServer::url`], as baton's messages name the server.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.tls_port.unwrap_or(self.port))
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
            self.child = spawn(self.port, self.tls_port, &self.args, self.dir.path())
                .expect("restart redis-server");
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

impl RedisServerBuilder {
    /// `appendonly` (`"yes"` or `"no"`; production: `"yes"`).
    pub fn appendonly(mut self, value: &'static str) -> Self {
        self.appendonly = value;
        self
    }

    /// `appendfsync` (`"always"`, `"everysec"` or `"no"`; production: `"always"`).
    pub fn appendfsync(mut self, value: &'static str) -> Self {
        self.appendfsync = value;
        self
    }

    /// Requires `password` of every client (`requirepass`).
    pub fn requirepass(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Serves TLS on a port of its own, which [`RedisServer::url`] then names.
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Any further `redis-server` arguments, such as `["--rename-command", "CONFIG", ""]`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Starts the server and waits until it answers. Panics when none can be started.
    pub fn start(self) -> RedisServer {
        let mut last = String::new();
        // A free port found by binding port 0 can be taken by someone else before the server
        // binds it; try a few.
        for _ in 0..5 {
            match self.try_start() {
                Ok(server) => return server,
                Err(err) => last = err,
            }
        }
        panic!("could not start a test redis-server: {last}");
    }

    fn try_start(&self) -> Result<RedisServer, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let mut args: Vec<OsString> = ["--save", "", "--appendonly", self.appendonly]
            .into_iter()
            .chain(["--appendfsync", self.appendfsync])
            .map(OsString::from)
            .collect();
        if let Some(password) = &self.password {
            args.extend(["--requirepass".into(), password.into()]);
        }
        // Both listeners at once, so that the two ports differ.
        let plain = free_port()?;
        let tls_listener = self.tls.as_ref().map(|_| free_port()).transpose()?;
        let port = port_of(&plain)?;
        let tls_port = tls_listener.as_ref().map(port_of).transpose()?;
        drop((plain, tls_listener));
        if let Some(tls) = &self.tls {
            args.extend(tls_args(tls, dir.path())?);
        }
        args.extend(self.args.iter().map(OsString::from));

        let child = spawn(port, tls_port, &args, dir.path()).map_err(|e| {
            format!(
                "{} did not start ({e}); install it with `make redis-server` \
                     or point BATON_REDIS_SERVER at one",
                binary().display()
            )
        })?;
        let mut server = RedisServer {
            child,
            port,
            tls_port,
            password: self.password.clone(),
            args,
            dir,
        };
        server.await_answer(Duration::from_secs(10))?;
        Ok(server)
    }
}

/// Writes the PEM files of `tls` into `dir` and returns the arguments that name them.
fn tls_args(tls: &ServerTls, dir: &Path) -> Result<Vec<OsString>, String> {
    let write = |name: &str, pem: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok::<_, String>(path.into_os_string())
    };
    let mut args = vec![
        "--tls-cert-file".into(),
        write("server.crt", &tls.cert)?,
        "--tls-key-file".into(),
        write("server.key", &tls.key)?,
    ];
    match &tls.client_ca {
        Some(ca) => args.extend([
            "--tls-auth-clients".into(),
            "yes".into(),
            "--tls-ca-cert-file".into(),
            write("client-ca.crt", ca)?,
        ]),
        None => args.extend(["--tls-auth-clients".into(), "no".into()]),
    }
    Ok(args)
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
