//! Broadcast and fork (rpcx's `Broadcast` and `Fork` fail modes): one call sent to every
//! instance the client may call now — each copy pinned to its instance ([`Want::Only`]),
//! through the client's call-level layers (which do not retry a pinned copy elsewhere).
//!
//! - [`Client::broadcast`]: every instance must answer; all answers, in the discovered
//!   order, or the first failure in that order (its message naming the instance). It waits
//!   for every copy, so each instance's outcome is known when it returns (a cache flush, a
//!   configuration reload).
//! - [`Client::fork`]: the first success wins and the other copies are cancelled (their
//!   futures dropped: CANCEL frames); if every copy fails, the last failure.
//!
//! The instances are the discovered ones in the client's subset, whatever their breaker or
//! health (a broadcast is meant for all of them: a broken one is a failure to see); a client
//! of one address has that one instance.

use erpc_codec::Message;
use erpc_transport::Address;
use futures_util::future::{BoxFuture, join_all, select_ok};

use crate::client::call::{decode, prepare};
use crate::client::{CallOptions, Client, ClientRequest, ClientResponse};
use crate::discovery::{Steer, Want};
use crate::protocol::ByteStr;
use crate::status::Status;

impl Client {
    /// Send `request` to every instance; every answer in the discovered order, or the first
    /// failure in that order, its message prefixed with the instance's address.
    /// `unavailable` when no instance is known.
    pub async fn broadcast_invoke(
        &self,
        request: ClientRequest,
    ) -> Result<Vec<ClientResponse>, Status> {
        let (addrs, copies) = self.copies(request)?;
        let results = join_all(copies).await;
        addrs
            .iter()
            .zip(results)
            .map(|(addr, result)| result.map_err(|status| naming(addr, status)))
            .collect()
    }

    /// Send `request` to every instance; the first success, the other copies cancelled. If
    /// every copy fails, the last failure. `unavailable` when no instance is known.
    pub async fn fork_invoke(&self, request: ClientRequest) -> Result<ClientResponse, Status> {
        let (_, copies) = self.copies(request)?;
        select_ok(copies)
            .await
            .map(|(response, _cancelled)| response)
    }

    /// A typed [`Client::broadcast_invoke`]: `request` to `service.method` on every
    /// instance, with `options` (a timeout, metadata), every answer decoded.
    ///
    /// ```no_run
    /// # use erpc_core as erpc;
    /// # async fn run(client: erpc::Client) -> Result<(), erpc::Status> {
    /// let flushed: Vec<u64> = client
    ///     .broadcast("Cache", "flush", &(), erpc::CallOptions::new())
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn broadcast<Req: Message, Resp: Message>(
        &self,
        service: impl Into<ByteStr>,
        method: impl Into<ByteStr>,
        request: &Req,
        options: CallOptions,
    ) -> Result<Vec<Resp>, Status> {
        let request = prepare(self, service.into(), method.into(), request, options, false)?;
        let call = (request.service.clone(), request.method.clone());
        let responses = self.broadcast_invoke(request).await?;
        responses
            .into_iter()
            .map(|response| decode(self, response, &call))
            .collect()
    }

    /// A typed [`Client::fork_invoke`]: `request` to `service.method` on every instance, the
    /// first success decoded, the other copies cancelled.
    pub async fn fork<Req: Message, Resp: Message>(
        &self,
        service: impl Into<ByteStr>,
        method: impl Into<ByteStr>,
        request: &Req,
        options: CallOptions,
    ) -> Result<Resp, Status> {
        let request = prepare(self, service.into(), method.into(), request, options, false)?;
        let call = (request.service.clone(), request.method.clone());
        let response = self.fork_invoke(request).await?;
        decode(self, response, &call)
    }

    /// One copy of `request` per instance, each pinned to it, through the layers.
    #[allow(clippy::type_complexity)]
    fn copies(
        &self,
        request: ClientRequest,
    ) -> Result<
        (
            Vec<Address>,
            Vec<BoxFuture<'static, Result<ClientResponse, Status>>>,
        ),
        Status,
    > {
        if request.stream || request.oneway {
            return Err(Status::invalid_argument(
                "broadcast and fork send request-response calls, not streams or oneway calls",
            ));
        }
        let addrs = self.target().instances();
        if addrs.is_empty() {
            return Err(Status::unavailable(format!(
                "no instance of {} is known to broadcast {}.{} to",
                self.target().describe(),
                request.service,
                request.method
            )));
        }
        let copies = addrs
            .iter()
            .map(|addr| {
                let mut copy = request.clone();
                copy.steer = Steer::new(Want::Only(addr.clone()), Vec::new());
                self.through_layers(copy)
            })
            .collect();
        Ok((addrs, copies))
    }
}

/// `status` with its message prefixed by the instance it came from.
fn naming(addr: &Address, status: Status) -> Status {
    Status::new(status.code(), format!("{addr}: {}", status.message()))
        .with_details(status.details().clone())
}
