//! One connection type for a single Redis server and for a Redis Cluster, so that every store
//! issues its commands the same way on both.
//!
//! On a cluster, the client routes each command by its first key's slot (following `MOVED`
//! and `ASK` as slots move), a pipeline or `MULTI` to the slot of its first keyed command, and
//! a script to the slot of its first key. That is right only when every key of one command,
//! pipeline or script is in one slot, which the `{group}` hash tag of [`RedisDb::key`] makes
//! so. What has no key, or must reach a particular node, is routed here: [`RedisConn::at_key`]
//! sends a command to the master of a key's slot (`WAIT` after a write), and
//! [`RedisConn::masters`] gives a connection to each master (the durability check, `SCAN`).
//!
//! [`RedisDb::key`]: super::RedisDb::key

use redis::{
    Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, RedisResult, Value,
    aio::{ConnectionLike, ConnectionManager},
    cluster_async::ClusterConnection,
    cluster_routing::{
        MultipleNodeRoutingInfo, Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr,
    },
};

/// A handle for issuing commands, to one server or to a Redis Cluster; cheap to clone (clones
/// share the connections). Implements [`ConnectionLike`], so `query_async(&mut conn)` works on
/// both.
#[derive(Clone)]
pub struct RedisConn(Inner);

#[derive(Clone)]
enum Inner {
    /// One server, through a reconnecting multiplexed connection.
    Single(ConnectionManager),
    /// A cluster: one multiplexed connection per node, with the slot map the client keeps.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Inner::Single(_) => "RedisConn::Single",
            Inner::Cluster(_) => "RedisConn::Cluster",
        })
    }
}

/// A connection to one master: the server itself, or one node of a cluster.
#[derive(Clone)]
pub(super) struct Master {
    /// `host:port`, for messages.
    pub(super) addr: String,
    conn: MasterConn,
}

#[derive(Clone)]
enum MasterConn {
    Single(ConnectionManager),
    Node {
        cluster: ClusterConnection,
        host: String,
        port: u16,
    },
}

impl RedisConn {
    pub(super) fn single(conn: ConnectionManager) -> Self {
        Self(Inner::Single(conn))
    }

    pub(super) fn cluster(conn: ClusterConnection) -> Self {
        Self(Inner::Cluster(conn))
    }

    /// True on a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.0, Inner::Cluster(_))
    }

    /// Runs `cmd`, which names no key (or not as its first argument), on the master holding
    /// `key`'s slot; on one server, on that server.
    pub async fn at_key<T: FromRedisValue>(&mut self, cmd: &Cmd, key: &str) -> RedisResult<T> {
        match &mut self.0 {
            Inner::Single(conn) => cmd.query_async(conn).await,
            Inner::Cluster(conn) => {
                let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                let value = conn
                    .route_command(
                        cmd.clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await?;
                Ok(redis::from_redis_value(value)?)
            }
        }
    }

    /// A connection to every master: the server, named `single_addr`, or each master the
    /// cluster's slot map holds now.
    pub(super) async fn masters(&mut self, single_addr: &str) -> RedisResult<Vec<Master>> {
        match &mut self.0 {
            Inner::Single(conn) => Ok(vec![Master {
                addr: single_addr.to_owned(),
                conn: MasterConn::Single(conn.clone()),
            }]),
            Inner::Cluster(conn) => {
                // Sent to every master without a response policy, a command answers with a
                // map from each master's address to its reply: the client's own list.
                let replies = conn
                    .route_command(
                        redis::cmd("PING"),
                        RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)),
                    )
                    .await?;
                let Value::Map(replies) = replies else {
                    return Err(unexpected("PING to every master", &replies));
                };
                let mut masters = Vec::with_capacity(replies.len());
                for (addr, _) in replies {
                    let addr: String = redis::from_redis_value(addr)?;
                    let (host, port) = addr
                        .rsplit_once(':')
                        .and_then(|(host, port)| Some((host.to_owned(), port.parse().ok()?)))
                        .ok_or_else(|| {
                            RedisError::from((
                                redis::ErrorKind::Client,
                                "a cluster node address without a port",
                                addr.clone(),
                            ))
                        })?;
                    masters.push(Master {
                        addr,
                        conn: MasterConn::Node {
                            cluster: conn.clone(),
                            host,
                            port,
                        },
                    });
                }
                masters.sort_by(|a, b| a.addr.cmp(&b.addr));
                Ok(masters)
            }
        }
    }
}

fn unexpected(what: &'static str, value: &Value) -> RedisError {
    RedisError::from((
        redis::ErrorKind::Client,
        "unexpected reply",
        format!("{what}: {value:?}"),
    ))
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match &mut self.0 {
            Inner::Single(conn) => conn.req_packed_command(cmd),
            Inner::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match &mut self.0 {
            Inner::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Inner::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match &self.0 {
            Inner::Single(conn) => conn.get_db(),
            Inner::Cluster(conn) => conn.get_db(),
        }
    }
}

impl MasterConn {
    fn route(&self) -> SingleNodeRoutingInfo {
        match self {
            MasterConn::Node { host, port, .. } => SingleNodeRoutingInfo::ByAddress {
                host: host.clone(),
                port: *port,
            },
            MasterConn::Single(_) => SingleNodeRoutingInfo::Random,
        }
    }
}

impl ConnectionLike for Master {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let route = self.conn.route();
        match &mut self.conn {
            MasterConn::Single(conn) => conn.req_packed_command(cmd),
            MasterConn::Node { cluster, .. } => {
                Box::pin(cluster.route_command(cmd.clone(), RoutingInfo::SingleNode(route)))
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let route = self.conn.route();
        match &mut self.conn {
            MasterConn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            MasterConn::Node { cluster, .. } => {
                Box::pin(cluster.route_pipeline(pipeline.clone(), offset, count, route))
            }
        }
    }

    fn get_db(&self) -> i64 {
        match &self.conn {
            MasterConn::Single(conn) => conn.get_db(),
            MasterConn::Node { cluster, .. } => cluster.get_db(),
        }
    }
}

#[cfg(test)]
mod tests;
