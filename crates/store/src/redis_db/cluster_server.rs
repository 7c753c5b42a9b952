//! A throwaway Redis Cluster for tests: three `redis-server` masters with `--cluster-enabled
//! yes` on free ports, each with its own data directory, the 16384 slots split between them,
//! stopped when dropped. Each master runs what production must (an append-only file fsynced on
//! every write), like [`RedisServer::start`](super::RedisServer::start)'s server.
//!
//! The cluster is formed by speaking RESP to the nodes directly (`CLUSTER ADDSLOTSRANGE`,
//! `CLUSTER MEET`), so nothing but `redis-server` is needed; `redis-cli` is not.

use std::{
    ffi::OsString,
    io::{BufRead, BufReader, Read, Write},
    net::{Ipv4Addr, TcpStream},
    process::Child,
    time::{Duration, Instant},
};

use super::{
    RedisOptions,
    server::{binary, free_port, port_of, spawn},
};

/// How many masters a test cluster has.
pub const CLUSTER_MASTERS: usize = 3;

/// A running Redis Cluster of [`CLUSTER_MASTERS`] masters owned by the test that started it.
#[derive(Debug)]
pub struct RedisCluster {
    /// The masters, in the order of their slot ranges, then the replica if there is one.
    nodes: Vec<Node>,
    /// What the nodes require of every client, and of each other.
    password: Option<String>,
    /// Every node's data directory, below this one.
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
struct Node {
    child: Child,
    port: u16,
}

impl RedisCluster {
    /// Starts the masters, splits the slots between them, joins them and waits until every
    /// node reports `cluster_state:ok`. Panics when no cluster can be formed.
    pub fn start() -> Self {
        Self::start_with(None, false)
    }

    /// Like [`RedisCluster::start`], with every node requiring `password` (`requirepass`, and
    /// `masterauth` between nodes).
    pub fn start_with_password(password: &str) -> Self {
        Self::start_with(Some(password), false)
    }

    /// Like [`RedisCluster::start`], plus one replica, of the first master (the one serving
    /// slots 0 to 5460) alone, so that a test can tell which master a `WAIT` reached.
    pub fn start_with_replica() -> Self {
        Self::start_with(None, true)
    }

    fn start_with(password: Option<&str>, replica: bool) -> Self {
        let mut last = String::new();
        // A free port found by binding port 0 can be taken by someone else before the server
        // binds it; try a few.
        for _ in 0..5 {
            match Self::try_start(password, replica) {
                Ok(cluster) => return cluster,
                Err(err) => last = err,
            }
        }
        panic!("could not start a test redis cluster: {last}");
    }

    /// The seed node urls of every master, comma-separated: what `BATON_REDIS_URL` holds for
    /// a cluster, given to [`RedisDb::connect_with`](super::RedisDb::connect_with) with
    /// [`RedisCluster::options`].
    pub fn url(&self) -> String {
        self.node_urls().join(",")
    }

    /// `redis://127.0.0.1:<port>/` of each master, in the order of their slot ranges.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes[..CLUSTER_MASTERS]
            .iter()
            .map(|node| format!("redis://127.0.0.1:{}/", node.port))
            .collect()
    }

    /// The options that connect to a cluster ([`RedisOptions::cluster`]).
    pub fn options() -> RedisOptions {
        RedisOptions {
            cluster: true,
            ..RedisOptions::default()
        }
    }

    fn try_start(password: Option<&str>, replica: bool) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let count = CLUSTER_MASTERS + usize::from(replica);
        // Every listener at once, so that no two ports are the same.
        let listeners = (0..count * 2)
            .map(|_| free_port())
            .collect::<Result<Vec<_>, _>>()?;
        let ports = listeners
            .iter()
            .map(port_of)
            .collect::<Result<Vec<_>, _>>()?;
        drop(listeners);

        let mut nodes = Vec::with_capacity(count);
        for (i, pair) in ports.chunks(2).enumerate() {
            let (port, bus_port) = (pair[0], pair[1]);
            let node_dir = dir.path().join(format!("node-{i}"));
            std::fs::create_dir(&node_dir).map_err(|e| format!("{}: {e}", node_dir.display()))?;
            let mut args: Vec<OsString> = [
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-port",
                &bus_port.to_string(),
                "--cluster-node-timeout",
                "5000",
            ]
            .into_iter()
            .map(OsString::from)
            .collect();
            if let Some(password) = password {
                args.extend(
                    ["--requirepass", password, "--masterauth", password].map(OsString::from),
                );
            }
            let child = spawn(port, None, &args, &node_dir).map_err(|e| {
                format!(
                    "{} did not start ({e}); install it with `make redis-server` \
                     or point BATON_REDIS_SERVER at one",
                    binary().display()
                )
            })?;
            nodes.push(Node { child, port });
        }
        // From here on, dropping `cluster` stops whatever was started.
        let mut cluster = RedisCluster {
            nodes,
            password: password.map(str::to_owned),
            _dir: dir,
        };
        cluster.await_answers(Duration::from_secs(10))?;
        cluster.form(&ports)?;
        cluster.await_ok(Duration::from_secs(30))?;
        if replica {
            cluster.replicate_first()?;
        }
        Ok(cluster)
    }

    /// Waits until every node answers PING, at most `within`; fails when one exits first.
    fn await_answers(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        for i in 0..self.nodes.len() {
            let port = self.nodes[i].port;
            loop {
                if let Ok(Some(status)) = self.nodes[i].child.try_wait() {
                    return Err(format!("redis-server on port {port} exited: {status}"));
                }
                if matches!(self.command(port, &["PING"]), Ok(Reply::Text(pong)) if pong == "PONG")
                {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "redis-server on port {port} did not answer within {within:?}"
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Gives each node an equal share of the slots and introduces every node to the first.
    fn form(&self, ports: &[u16]) -> Result<(), String> {
        let share = 16384 / CLUSTER_MASTERS;
        for (i, node) in self.nodes[..CLUSTER_MASTERS].iter().enumerate() {
            let first = i * share;
            let last = if i + 1 == CLUSTER_MASTERS {
                16383
            } else {
                first + share - 1
            };
            self.expect_ok(
                node.port,
                &[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &first.to_string(),
                    &last.to_string(),
                ],
            )?;
        }
        let first = self.nodes[0].port;
        for (i, pair) in ports.chunks(2).enumerate().skip(1) {
            let (port, bus_port) = (pair[0], pair[1]);
            debug_assert_eq!(self.nodes[i].port, port);
            self.expect_ok(
                first,
                &[
                    "CLUSTER",
                    "MEET",
                    "127.0.0.1",
                    &port.to_string(),
                    &bus_port.to_string(),
                ],
            )?;
        }
        Ok(())
    }

    /// Makes the last node a replica of the first and waits until the first counts it online.
    fn replicate_first(&self) -> Result<(), String> {
        let (first, replica) = (self.nodes[0].port, self.nodes[CLUSTER_MASTERS].port);
        let id = match self.command(first, &["CLUSTER", "MYID"])? {
            Reply::Text(id) => id,
            reply => return Err(format!("CLUSTER MYID on port {first}: {reply:?}")),
        };
        self.expect_ok(replica, &["CLUSTER", "REPLICATE", &id])?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let info = match self.command(first, &["INFO", "replication"])? {
                Reply::Text(info) | Reply::Error(info) => info,
            };
            if info.contains("connected_slaves:1") && info.contains("state=online") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("no replica of port {first} came online: {info}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every node knows every other and sees every slot served.
    fn await_ok(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let known = format!("cluster_known_nodes:{}", self.nodes.len());
        for node in &self.nodes {
            loop {
                let info = match self.command(node.port, &["CLUSTER", "INFO"]) {
                    Ok(Reply::Text(info)) => info,
                    Ok(Reply::Error(err)) => err,
                    Err(err) => err,
                };
                let has = |line: &str| info.lines().any(|l| l.trim_end() == line);
                if has("cluster_state:ok") && has(&known) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "redis cluster node on port {} not ready within {within:?}: {info}",
                        node.port
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }
}

/// A reply of the few commands sent here.
#[derive(Debug)]
enum Reply {
    /// A simple or bulk string.
    Text(String),
    /// An error reply.
    Error(String),
}

impl RedisCluster {
    /// Fails unless the node on `port` answers `args` with `+OK`.
    fn expect_ok(&self, port: u16, args: &[&str]) -> Result<(), String> {
        match self.command(port, args)? {
            Reply::Text(ok) if ok == "OK" => Ok(()),
            reply => Err(format!("{} on port {port}: {reply:?}", args.join(" "))),
        }
    }

    /// Sends `args` as one command to the node on `port` (after `AUTH`, when the nodes require
    /// a password) and reads its reply.
    fn command(&self, port: u16, args: &[&str]) -> Result<Reply, String> {
        let fail = |e: std::io::Error| format!("port {port}: {e}");
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(fail)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(fail)?;
        let mut reader = BufReader::new(stream.try_clone().map_err(fail)?);
        if let Some(password) = &self.password {
            send(&mut stream, &["AUTH", password]).map_err(fail)?;
            match read_reply(&mut reader, port)? {
                Reply::Text(ok) if ok == "OK" => {}
                reply => return Err(format!("AUTH on port {port}: {reply:?}")),
            }
        }
        send(&mut stream, args).map_err(fail)?;
        read_reply(&mut reader, port)
    }
}

/// Writes `args` as one RESP command.
fn send(stream: &mut TcpStream, args: &[&str]) -> std::io::Result<()> {
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    stream.write_all(&request)
}

/// Reads one reply: a string or an error (nothing else is asked for).
fn read_reply(reader: &mut BufReader<TcpStream>, port: u16) -> Result<Reply, String> {
    let fail = |e: std::io::Error| format!("port {port}: {e}");
    let mut line = String::new();
    reader.read_line(&mut line).map_err(fail)?;
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at(line.len().min(1));
    match kind {
        "+" => Ok(Reply::Text(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        "$" => {
            let len: usize = rest
                .parse()
                .map_err(|_| format!("port {port}: bad bulk length {rest:?}"))?;
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body).map_err(fail)?;
            body.truncate(len);
            Ok(Reply::Text(String::from_utf8_lossy(&body).into_owned()))
        }
        _ => Err(format!("port {port}: unexpected reply {line:?}")),
    }
}
