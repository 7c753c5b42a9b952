//! The check, at connect, that the server keeps the promise "acknowledged means durable": an
//! append-only file fsynced on every write (`appendonly yes`, `appendfsync always`), without
//! which a crash of the Redis process loses up to a second of acknowledged commits. Replicas
//! (`wait_replicas`) do not replace it: the primary is checked all the same.
//!
//! The settings are read with `CONFIG GET`. Managed Redis services often rename or forbid
//! `CONFIG` (an "unknown command" or `NOPERM` answer); then `INFO persistence` still tells
//! whether the append-only file is on, though not its fsync policy. That case starts with a
//! warning rather than a refusal: refusing would make such services unusable, while the file
//! being on is the part a deployment most often gets wrong, and it is checked.
//!
//! On a Redis Cluster every master is checked, each on its own connection, and the first that
//! falls short is named; replicas are not (they hold no acknowledged write that their master
//! lacks, and `wait_replicas` counts them). A master added to the cluster later is not checked
//! until the next start.
//!
//! The check runs once, at connect: a server reconfigured later, or a failover to one set up
//! differently, goes unnoticed until the next start.

use std::collections::HashMap;

use redis::{RedisError, aio::ConnectionLike};

use crate::StoreError;

/// What the server says about its durability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Durability {
    /// Every acknowledged write is in an append-only file fsynced before the answer.
    Strong,
    /// Acknowledged writes could be lost on a crash; the setting responsible
    /// (`appendonly no`, `appendfsync everysec`).
    Weak(String),
    /// The append-only file is on, but `CONFIG` is refused, so the fsync policy is unknown.
    FsyncUnknown,
    /// Neither `CONFIG GET` nor `INFO persistence` answered; why.
    Unknown(String),
}

/// Reads the durability settings of the server behind `conn` (one server, or one node).
pub(super) async fn inspect<C>(conn: &mut C) -> Result<Durability, StoreError>
where
    C: ConnectionLike + Send,
{
    match config_get(conn).await {
        Ok(settings) => Ok(from_config(&settings)),
        Err(err) if is_refused(&err) => {
            let info: Result<String, RedisError> = redis::cmd("INFO")
                .arg("persistence")
                .query_async(conn)
                .await;
            match info {
                Ok(info) => Ok(from_info(&info)),
                Err(info_err) if is_refused(&info_err) => Ok(Durability::Unknown(format!(
                    "CONFIG GET: {err}; INFO persistence: {info_err}"
                ))),
                Err(info_err) => Err(info_err.into()),
            }
        }
        Err(err) => Err(err.into()),
    }
}

/// Starts on strong durability; refuses anything weaker unless `allow_weak`, then warns. An
/// unknown fsync policy with the file on only warns (see the module docs).
pub(super) fn enforce(
    durability: &Durability,
    addr: &str,
    allow_weak: bool,
) -> Result<(), StoreError> {
    const FIX: &str = "set appendonly yes and appendfsync always, \
                       or pass --redis-allow-weak-durability";
    match durability {
        Durability::Strong => Ok(()),
        Durability::FsyncUnknown => {
            tracing::warn!(
                redis = %addr,
                "redis refuses CONFIG GET: its append-only file is on, but whether it fsyncs \
                 every write (appendfsync always) could not be checked"
            );
            Ok(())
        }
        Durability::Weak(setting) if allow_weak => {
            tracing::warn!(
                redis = %addr,
                setting = %setting,
                "REDIS DOES NOT FSYNC EVERY WRITE: acknowledged writes could be lost on a crash; \
                 starting anyway because weak durability is allowed"
            );
            Ok(())
        }
        Durability::Unknown(why) if allow_weak => {
            tracing::warn!(
                redis = %addr,
                error = %why,
                "REDIS DURABILITY COULD NOT BE CHECKED: acknowledged writes could be lost on a \
                 crash; starting anyway because weak durability is allowed"
            );
            Ok(())
        }
        Durability::Weak(setting) => Err(StoreError::Config(format!(
            "redis at {addr} has {setting}: acknowledged writes could be lost on a crash; {FIX}"
        ))),
        Durability::Unknown(why) => Err(StoreError::Config(format!(
            "redis at {addr} answers neither CONFIG GET nor INFO persistence ({why}), so its \
             durability cannot be checked: allow one of them for this user, or pass \
             --redis-allow-weak-durability"
        ))),
    }
}

/// `appendonly` and `appendfsync`, in one round trip; any value Redis does not know is absent.
async fn config_get<C>(conn: &mut C) -> Result<HashMap<String, String>, RedisError>
where
    C: ConnectionLike + Send,
{
    let (appendonly, appendfsync): (HashMap<String, String>, HashMap<String, String>) =
        redis::pipe()
            .cmd("CONFIG")
            .arg("GET")
            .arg("appendonly")
            .cmd("CONFIG")
            .arg("GET")
            .arg("appendfsync")
            .query_async(conn)
            .await?;
    Ok(appendonly.into_iter().chain(appendfsync).collect())
}

fn from_config(settings: &HashMap<String, String>) -> Durability {
    let get = |name: &str| settings.get(name).map(|v| v.to_ascii_lowercase());
    match (get("appendonly"), get("appendfsync")) {
        (Some(on), Some(fsync)) if on == "yes" && fsync == "always" => Durability::Strong,
        (Some(on), _) if on != "yes" => Durability::Weak(format!("appendonly {on}")),
        (Some(_), Some(fsync)) => Durability::Weak(format!("appendfsync {fsync}")),
        _ => Durability::Unknown("CONFIG GET answered without appendonly or appendfsync".into()),
    }
}

/// From the `aof_enabled` line of `INFO persistence`.
fn from_info(info: &str) -> Durability {
    let enabled = info
        .lines()
        .find_map(|line| line.trim_end().strip_prefix("aof_enabled:"));
    match enabled {
        Some("1") => Durability::FsyncUnknown,
        Some(_) => Durability::Weak("appendonly no".to_owned()),
        None => Durability::Unknown("INFO persistence has no aof_enabled line".to_owned()),
    }
}

/// True when the server refused the command itself (renamed away, or not allowed to this
/// user), as opposed to failing to answer.
fn is_refused(err: &RedisError) -> bool {
    err.code() == Some("NOPERM") || err.to_string().contains("unknown command")
}

#[cfg(test)]
mod tests;
