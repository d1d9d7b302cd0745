//! [`Bus`] over D-Bus with zbus: calls `org.freedesktop.systemd1.Manager`
//! on the system bus (or systemd's private socket) and waits, bounded,
//! for the JobRemoved signal of the job a start or stop queued.
//!
//! zbus runs helper threads (its executor, async-io's reactor); the
//! launcher calls this only from a child process ([`super::forked`]), so
//! `cradle-oci` itself stays single-threaded.

use std::time::Duration;

use futures_lite::StreamExt;
use zbus::message::Type;
use zbus::zvariant::{OwnedObjectPath, Value as ZValue};
use zbus::{Connection, MatchRule, MessageStream};

use crate::cgroups::systemd::bus::{Bus, BusError, JOB_TIMEOUT};
use crate::cgroups::systemd::host::BusAddress;
use crate::cgroups::systemd::properties::{Property, Value};

const DESTINATION: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// A connection to systemd's manager.
pub struct ZbusBus {
    conn: Connection,
    timeout: Duration,
}

impl ZbusBus {
    /// Connects to `address` (a bus, or systemd's socket peer to peer).
    pub fn connect(address: &BusAddress) -> Result<Self, BusError> {
        let failed = |e: zbus::Error| BusError::Connect {
            address: address.address.clone(),
            reason: e.to_string(),
        };
        let conn = zbus::block_on(async {
            // Bounds a call systemd never answers; the job wait has its own.
            let mut b = zbus::connection::Builder::address(address.address.as_str())?
                .method_timeout(JOB_TIMEOUT);
            if address.peer_to_peer {
                b = b.p2p();
            }
            b.build().await
        })
        .map_err(failed)?;
        Ok(ZbusBus {
            conn,
            timeout: JOB_TIMEOUT,
        })
    }

    async fn call<B>(&self, method: &str, body: &B) -> Result<zbus::Message, BusError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(Some(DESTINATION), PATH, Some(MANAGER), method, body)
            .await
            .map_err(bus_error)
    }

    /// Calls `method`, which queues a job, and waits for its JobRemoved.
    fn job<B>(&self, method: &str, body: &B) -> Result<String, BusError>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        zbus::block_on(async {
            // Listening before the call: the signal may come before the reply.
            let rule = MatchRule::builder()
                .msg_type(Type::Signal)
                .interface(MANAGER)
                .and_then(|r| r.member("JobRemoved"))
                .map_err(bus_error)?
                .build();
            let mut signals = MessageStream::for_match_rule(rule, &self.conn, Some(256))
                .await
                .map_err(bus_error)?;
            // systemd sends a job's signal to whoever queued it; subscribing
            // is for older versions that sent only to subscribers.
            let _ = self.call("Subscribe", &()).await;
            let reply = self.call(method, body).await?;
            let job: OwnedObjectPath = reply.body().deserialize().map_err(bus_error)?;
            let wait = async {
                while let Some(msg) = signals.next().await {
                    let Ok(msg) = msg else { continue };
                    let removed: Result<(u32, OwnedObjectPath, String, String), _> =
                        msg.body().deserialize();
                    if let Ok((_, path, _, result)) = removed
                        && path == job
                    {
                        return Ok(result);
                    }
                }
                Err(BusError::Other("the bus connection closed".into()))
            };
            let timeout = async {
                async_io::Timer::after(self.timeout).await;
                Err(BusError::Timeout(self.timeout.as_secs()))
            };
            futures_lite::future::or(wait, timeout).await
        })
    }
}

/// A property as D-Bus `(sv)`.
fn zvalue(p: &Property) -> (&str, ZValue<'_>) {
    let v = match &p.value {
        Value::Str(s) => ZValue::from(s.as_str()),
        Value::Bool(b) => ZValue::from(*b),
        Value::U64(n) => ZValue::from(*n),
        Value::U32s(v) => ZValue::from(v.clone()),
        Value::Bytes(b) => ZValue::from(b.clone()),
    };
    (p.name.as_str(), v)
}

/// systemd's error names the driver acts on, the rest as text.
fn bus_error(e: zbus::Error) -> BusError {
    if let zbus::Error::MethodError(name, detail, _) = &e {
        match name.as_str() {
            "org.freedesktop.systemd1.NoSuchUnit" => return BusError::NoSuchUnit,
            "org.freedesktop.systemd1.UnitExists" => return BusError::UnitExists,
            other => {
                return BusError::Other(format!("{other}: {}", detail.as_deref().unwrap_or("")));
            }
        }
    }
    BusError::Other(e.to_string())
}

impl Bus for ZbusBus {
    fn start_transient_unit(&self, name: &str, props: &[Property]) -> Result<String, BusError> {
        let props: Vec<(&str, ZValue<'_>)> = props.iter().map(zvalue).collect();
        let aux: Vec<(&str, Vec<(&str, ZValue<'_>)>)> = Vec::new();
        self.job("StartTransientUnit", &(name, "replace", props, aux))
    }

    fn set_unit_properties(&self, name: &str, props: &[Property]) -> Result<(), BusError> {
        let props: Vec<(&str, ZValue<'_>)> = props.iter().map(zvalue).collect();
        zbus::block_on(self.call("SetUnitProperties", &(name, true, props))).map(|_| ())
    }

    fn stop_unit(&self, name: &str) -> Result<String, BusError> {
        self.job("StopUnit", &(name, "replace"))
    }

    fn reset_failed_unit(&self, name: &str) -> Result<(), BusError> {
        zbus::block_on(self.call("ResetFailedUnit", &(name,))).map(|_| ())
    }
}

#[cfg(test)]
#[path = "zbus_bus_tests.rs"]
mod tests;
