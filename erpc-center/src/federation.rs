//! Centers federated across data centers (CENTER.md, "Federation"): a center follows the
//! centers of peer data centers (`--follow`) and mirrors their own registrations, read-only,
//! into its registry, so its discover and watch serve local and remote instances alike, each
//! with its home data center (metadata `dc`).
//!
//! Per peer, one follower: list every instance (`discover("")`), then watch every change
//! from the listing's revision and epoch; after a broken watch that had delivered a change,
//! resume from the last revision seen, and list again when the peer refuses the resume
//! (`out_of_range`) or when nothing shows the peer answered the watch (a listing that fails
//! marks the peer unreachable). Only the peer's
//! own registrations are mirrored — instances carrying [`REMOTE_KEY`] are the peer's mirrors
//! of a third center and are skipped — so no change travels in a loop, and nothing is ever
//! written to a peer.
//!
//! Cut off from a peer, the center keeps serving the last known remote list with each entry
//! marked stale ([`STALE_SINCE_KEY`], and its age in discover results); it drops them once
//! the peer has been unreachable for `remote_stale_after`, and when the peer answers again
//! it lists again and converges. A peer's failure never touches local registrations.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use erpc_core::{Code, Status};
use tokio::time::Instant;

use crate::backend::local::{Local, Mirror};
use crate::model::{Change, Filter, Instance, REMOTE_KEY, STALE_AGE_KEY, STALE_SINCE_KEY};
use crate::registries::follow::{FIRST_BACKOFF, jittered};
use crate::service::{CenterClient, CenterConfig};

/// How long a peer's instances are kept, marked stale, after the peer became unreachable,
/// unless `--remote-stale-after` says otherwise.
pub const DEFAULT_REMOTE_STALE_AFTER: Duration = Duration::from_secs(60);

/// Heartbeats on the connection to a peer: a link that goes silent (packets dropped, no
/// reset) is given up after 1 s × 3, and the peer counts as unreachable.
const PEER_HEARTBEAT: (Duration, u32) = (Duration::from_secs(1), 3);

/// The largest ceiling of the wait between attempts at an unreachable peer: a center
/// follows a few peers, so trying each every second costs nothing, and a healed link is
/// listed again within about a second.
const PEER_MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How often an idle follower checks that its center still exists.
const ALIVE_CHECK: Duration = Duration::from_secs(1);

/// Start one follower per peer at `peers` (erpc addresses), mirroring into `local`, and
/// remove the mirrored instances of peers no longer followed (a restart with another
/// `--follow` list). A peer given under two spellings (`127.0.0.1:7070`, `localhost:7070`:
/// addresses that resolve to a common one) is followed once, under the first, with a
/// warning naming both; a peer that is this center itself (resolves to one of its
/// `config.listen` addresses, or to a local address on the port of a wildcard listen such as
/// `0.0.0.0:7070`) is not followed, with a warning. Followers stop once `local` is dropped.
/// `invalid_argument` naming a peer address that does not parse or is given twice.
pub(crate) fn follow_peers(local: &Arc<Local>, config: &CenterConfig) -> Result<(), Status> {
    let peers = &config.follow;
    let mut followers = Vec::with_capacity(peers.len());
    for (i, peer) in peers.iter().enumerate() {
        if peers[..i].contains(peer) {
            return Err(Status::invalid_argument(format!(
                "--follow {peer:?} is given twice"
            )));
        }
        followers.push(Follower {
            peer: peer.clone(),
            client: peer_client(
                peer,
                config.follow_token.as_deref(),
                &config.follow_transport,
            )?,
            token_given: config.follow_token.is_some(),
            local: Arc::downgrade(local),
            stale_after: config.remote_stale_after,
        });
    }
    let local = Arc::downgrade(local);
    let listen = config.listen.clone();
    // Resolving names waits on DNS: done here, not in the center's start.
    tokio::spawn(async move {
        let followers = once_each(followers, &listen).await;
        let Some(local) = local.upgrade() else {
            return;
        };
        let followed: Vec<&str> = followers.iter().map(|f| f.peer.as_str()).collect();
        let orphans: Vec<Mirror> = local
            .mirrored()
            .into_iter()
            .filter(|i| {
                i.metadata
                    .get(REMOTE_KEY)
                    .is_none_or(|p| !followed.contains(&p.as_str()))
            })
            .map(|i| removal(i, "its data center is no longer followed"))
            .collect();
        if !orphans.is_empty()
            && let Err(e) = local.mirror(orphans).await
        {
            tracing::warn!(error = %e, "could not remove instances of peers no longer followed");
        }
        drop(local);
        for follower in followers {
            tokio::spawn(follower.run());
        }
    });
    Ok(())
}

/// How long resolving a peer's name may take; past it the peer is known by its spelling.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// `followers` without those whose peer is one listed before under another spelling (an
/// address in common once resolved), each dropped with a warning naming both spellings,
/// and without those whose peer is this center itself (listening on `listen`): following
/// itself, a center would mirror its own registrations and keep them after they leave.
async fn once_each(followers: Vec<Follower>, listen: &[String]) -> Vec<Follower> {
    let mut own = BTreeSet::new();
    for addr in listen {
        let found = resolved(addr).await;
        own.extend(found.iter().filter_map(|a| wildcard(a, false)));
        own.extend(found);
    }
    let mut kept: Vec<(Follower, BTreeSet<String>)> = Vec::with_capacity(followers.len());
    for follower in followers {
        let found = resolved(&follower.peer).await;
        let forms: BTreeSet<String> = found.iter().filter_map(|a| wildcard(a, true)).collect();
        if !own.is_disjoint(&found) || !own.is_disjoint(&forms) {
            tracing::warn!(
                peer = %follower.peer,
                listen = ?listen,
                "--follow names this center itself; not followed"
            );
            continue;
        }
        if let Some((first, _)) = kept.iter().find(|(_, at)| !at.is_disjoint(&found)) {
            tracing::warn!(
                followed = %first.peer,
                dropped = %follower.peer,
                "--follow names the same peer under two spellings; following it once, as the first"
            );
            continue;
        }
        kept.push((follower, found));
    }
    kept.into_iter().map(|(follower, _)| follower).collect()
}

/// The addresses `peer` stands for: its host resolved (each address with the resolved
/// `ip:port`), or `peer` itself for an address with no host or a name that does not
/// resolve now.
async fn resolved(peer: &str) -> BTreeSet<String> {
    let itself = BTreeSet::from([peer.to_owned()]);
    let Ok(addr) = peer.parse::<erpc_core::Address>() else {
        return itself;
    };
    let Some(hostport) = addr.hostport() else {
        return itself;
    };
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(hostport)).await {
        Ok(Ok(found)) => {
            let found: BTreeSet<String> = found
                .map(|at| addr.with_hostport(at.to_string()).to_string())
                .collect();
            if found.is_empty() { itself } else { found }
        }
        _ => itself,
    }
}

/// The form `addr` (resolved, `scheme://ip:port`) matches a wildcard listen by: the
/// address with the host `*`. A listen address (`peer: false`) has that form only if its IP
/// is unspecified (`0.0.0.0`, `[::]`), a peer's (`peer: true`) only if its IP is one of this
/// machine's (a socket can be bound to it). `None` otherwise.
fn wildcard(addr: &str, peer: bool) -> Option<String> {
    let parsed = addr.parse::<erpc_core::Address>().ok()?;
    let at: std::net::SocketAddr = parsed.hostport()?.parse().ok()?;
    let matches = if peer {
        at.ip().is_loopback() || std::net::UdpSocket::bind((at.ip(), 0)).is_ok()
    } else {
        at.ip().is_unspecified()
    };
    matches.then(|| parsed.with_hostport(format!("*:{}", at.port())).to_string())
}

/// A client of a peer: no deadline on watches, 3 s on unary calls, quick redials (a peer
/// that comes back is listed again within a fraction of a second), heartbeats that notice a
/// silent link within seconds; `token` sent on every call if given; over `transport` (the
/// CA of TLS peers).
fn peer_client(
    peer: &str,
    token: Option<&str>,
    transport: &erpc_transport::Options,
) -> Result<CenterClient, Status> {
    let builder = match token {
        Some(token) => erpc_core::Client::builder()
            .middleware(erpc_core::auth::Credentials::bearer(token.to_owned())),
        None => erpc_core::Client::builder(),
    };
    let client = builder
        .timeout(Duration::from_secs(3))
        .backoff(Duration::from_millis(50), Duration::from_millis(250))
        .heartbeat(PEER_HEARTBEAT.0, PEER_HEARTBEAT.1)
        .transport(transport.clone())
        .build(peer)
        .map_err(|e| Status::invalid_argument(format!("--follow {peer:?}: {e}")))?;
    Ok(CenterClient::new(client))
}

/// Add to each stale mirrored instance its age: metadata [`STALE_AGE_KEY`], the milliseconds
/// since its [`STALE_SINCE_KEY`].
pub(crate) fn add_stale_ages(instances: &mut [Instance]) {
    let now = unix_ms();
    for instance in instances {
        let since = instance
            .metadata
            .get(STALE_SINCE_KEY)
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(since) = since {
            let age = now.saturating_sub(since);
            instance
                .metadata
                .insert(STALE_AGE_KEY.to_owned(), age.to_string());
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The removal of a mirrored instance, for the peer it is mirrored from.
fn removal(instance: Instance, reason: &str) -> Mirror {
    Mirror::Remove {
        peer: instance
            .metadata
            .get(REMOTE_KEY)
            .cloned()
            .unwrap_or_default(),
        service: instance.service,
        id: instance.id,
        reason: reason.to_owned(),
    }
}

/// Since when a peer is unreachable.
struct Lost {
    since: Instant,
    /// Its instances were dropped (the bound passed).
    dropped: bool,
    /// Why, as last logged: logged again when it changes.
    cause: Cause,
}

/// Why listing a peer failed, in words that say what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// `unauthenticated`/`permission_denied` though `--follow-token` was given.
    TokenRefused,
    /// `unauthenticated`/`permission_denied` with no `--follow-token`.
    TokenMissing,
    /// `unimplemented`: the address serves no `erpc.Center`.
    NotACenter,
    /// Anything else: the peer did not answer (or failed).
    NoAnswer,
}

impl Cause {
    fn of(error: &Status, token_given: bool) -> Cause {
        match error.code() {
            Code::Unauthenticated | Code::PermissionDenied if token_given => Cause::TokenRefused,
            Code::Unauthenticated | Code::PermissionDenied => Cause::TokenMissing,
            Code::Unimplemented => Cause::NotACenter,
            _ => Cause::NoAnswer,
        }
    }

    fn says(self) -> &'static str {
        match self {
            Cause::TokenRefused => {
                "the peer refused this center's --follow-token: check it against the peer's --token"
            }
            Cause::TokenMissing => {
                "the peer protects reads (--protect-reads): give its token with --follow-token"
            }
            Cause::NotACenter => {
                "the address is not an erpc-center (it serves no erpc.Center): check --follow"
            }
            Cause::NoAnswer => "peer unreachable",
        }
    }
}

/// Why a watch on the peer ended.
enum Ended {
    /// The center this follower mirrors into is gone: stop.
    CenterGone,
    /// The watch failed or ended; whether it delivered a change first (the only proof that
    /// the peer answered it: opening a stream carries no acknowledgement).
    Failed { error: Status, delivered: bool },
}

/// Mirrors one peer's own instances into the local center.
struct Follower {
    peer: String,
    client: CenterClient,
    /// Whether `--follow-token` was given (what an `unauthenticated` refusal means).
    token_given: bool,
    local: Weak<Local>,
    stale_after: Duration,
}

impl Follower {
    async fn run(self) {
        // Where the mirror is in the peer's history: (revision, epoch); `None`: list first.
        let mut at: Option<(u64, u64)> = None;
        let mut lost: Option<Lost> = None;
        // Whether the peer was ever listed: a follower that never reached it has nothing to
        // mark stale.
        let mut listed = false;
        let mut backoff = FIRST_BACKOFF;
        loop {
            if at.is_none() || lost.is_some() {
                match self.client.discover(String::new(), Filter::default()).await {
                    Ok(listing) => {
                        if !self.replace(listing.instances).await {
                            return;
                        }
                        if let Some(lost) = lost.take() {
                            tracing::info!(peer = %self.peer, unreachable_for = ?lost.since.elapsed(), "peer reachable again; its instances listed again");
                        }
                        at = Some((listing.revision, listing.epoch));
                        listed = true;
                    }
                    Err(error) => {
                        if !self.unreachable(&mut lost, &error, listed).await
                            || !self.pause(&lost, &mut backoff).await
                        {
                            return;
                        }
                        continue;
                    }
                }
            }
            let Some(from) = at.as_mut() else { continue };
            match self.watch(from).await {
                Ended::CenterGone => return,
                Ended::Failed { error, .. } if error.code() == Code::OutOfRange => {
                    // The peer cannot replay from our revision (too old, or another history:
                    // restarted on the memory store, restored): what we hold may be wrong.
                    tracing::info!(peer = %self.peer, error = %error, "cannot resume the peer's watch; listing again");
                    at = None;
                }
                Ended::Failed {
                    error,
                    delivered: true,
                } => {
                    // The peer was answering: resume from the last revision at once.
                    tracing::debug!(peer = %self.peer, error = %error, "peer watch broke; resuming");
                    backoff = FIRST_BACKOFF;
                }
                Ended::Failed { error, .. } => {
                    // Nothing shows the peer answered this watch (an idle watch, a resume that
                    // failed, a link that went silent): list again, which tells — a listing
                    // converges the mirror, a failure marks the peer unreachable.
                    tracing::debug!(peer = %self.peer, error = %error, "peer watch failed; listing again");
                    at = None;
                    if !self.pause(&lost, &mut backoff).await {
                        return;
                    }
                }
            }
        }
    }

    /// Follow the peer's watch from `from`, applying each change, until it ends.
    async fn watch(&self, from: &mut (u64, u64)) -> Ended {
        let mut delivered = false;
        let failed = |error: Status, delivered: bool| Ended::Failed { error, delivered };
        let mut stream = match self.client.watch(String::new(), from.0, from.1).await {
            Ok(stream) => stream,
            Err(error) => return failed(error, delivered),
        };
        let mut alive = tokio::time::interval(ALIVE_CHECK);
        loop {
            let next = tokio::select! {
                _ = alive.tick() => {
                    if self.local.strong_count() == 0 {
                        return Ended::CenterGone;
                    }
                    continue;
                }
                next = stream.message() => next,
            };
            let event = match next {
                Ok(Some(event)) => event,
                Ok(None) => return failed(Status::unavailable("the watch ended"), delivered),
                Err(error) => return failed(error, delivered),
            };
            from.0 = event.revision;
            delivered = true;
            if let Some(change) = self.mirror_of(event.change)
                && !self.apply(vec![change]).await
            {
                return Ended::CenterGone;
            }
        }
    }

    /// What a change of the peer does to the mirror: its own registrations are mirrored,
    /// its mirrors of other centers skipped.
    fn mirror_of(&self, change: Change) -> Option<Mirror> {
        match change {
            // The peer now lists its mirror of another center's copy: its own copy is gone
            // (hidden behind a local one there, or deregistered with that mirror listed in
            // its place, which sends no `Deregistered`), so the copy held here ends too.
            Change::Registered(instance) if instance.metadata.contains_key(REMOTE_KEY) => {
                Some(Mirror::Remove {
                    reason: format!("{} lists another center's copy in its place", self.peer),
                    service: instance.service,
                    id: instance.id,
                    peer: self.peer.clone(),
                })
            }
            Change::Registered(instance) => Some(Mirror::Put(self.own(instance))),
            Change::Deregistered {
                service,
                id,
                reason,
            } => Some(Mirror::Remove {
                service,
                id,
                peer: self.peer.clone(),
                reason: format!("{reason} at {}", self.peer),
            }),
            Change::ConfigSet { .. } | Change::ConfigDeleted { .. } => None,
        }
    }

    /// A peer's instance as mirrored here: marked with the peer it comes from.
    fn own(&self, mut instance: Instance) -> Instance {
        instance
            .metadata
            .insert(REMOTE_KEY.to_owned(), self.peer.clone());
        instance.metadata.remove(STALE_SINCE_KEY);
        instance
    }

    /// The instances mirrored from this peer now.
    fn held(&self) -> Vec<Instance> {
        let Some(local) = self.local.upgrade() else {
            return Vec::new();
        };
        local
            .mirrored()
            .into_iter()
            .filter(|i| i.metadata.get(REMOTE_KEY) == Some(&self.peer))
            .collect()
    }

    /// Make the mirror exactly the peer's listing (its own registrations): what it lacks is
    /// removed, the rest put (fresh: no stale mark). `false` if the center is gone.
    async fn replace(&self, listed: Vec<Instance>) -> bool {
        let wanted: BTreeMap<(String, String), Instance> = listed
            .into_iter()
            .filter(|i| !i.metadata.contains_key(REMOTE_KEY))
            .map(|i| ((i.service.clone(), i.id.clone()), self.own(i)))
            .collect();
        let reason = format!("gone from {} (listed again)", self.peer);
        let mut changes: Vec<Mirror> = self
            .held()
            .into_iter()
            .filter(|i| !wanted.contains_key(&(i.service.clone(), i.id.clone())))
            .map(|i| removal(i, &reason))
            .collect();
        changes.extend(wanted.into_values().map(Mirror::Put));
        self.apply(changes).await
    }

    /// Log why the peer is not followed now: `listed` says whether it ever was (whether
    /// there are instances to mark stale).
    fn log_cause(&self, cause: Cause, error: &Status, listed: bool) {
        let (peer, keep_for, says) = (&self.peer, self.stale_after, cause.says());
        match (listed, cause) {
            (true, _) => {
                tracing::warn!(%peer, %error, ?keep_for, "{says}; its instances are kept, marked stale")
            }
            (false, Cause::NoAnswer) => {
                tracing::warn!(%peer, %error, "the peer has never answered (nothing listed from it yet); trying again every second")
            }
            (false, _) => tracing::warn!(%peer, %error, "{says}; nothing listed from it yet"),
        }
    }

    /// The peer did not answer: on the first failure mark its instances stale; once it has
    /// been unreachable for the bound, drop them. Each cause is logged when it starts
    /// (`listed`: whether the peer was ever listed). `false` if the center is gone.
    async fn unreachable(&self, lost: &mut Option<Lost>, error: &Status, listed: bool) -> bool {
        let cause = Cause::of(error, self.token_given);
        let Some(state) = lost else {
            self.log_cause(cause, error, listed);
            *lost = Some(Lost {
                since: Instant::now(),
                dropped: false,
                cause,
            });
            let since = unix_ms().to_string();
            let changes = self
                .held()
                .into_iter()
                .map(|mut i| {
                    i.metadata.insert(STALE_SINCE_KEY.to_owned(), since.clone());
                    Mirror::Put(i)
                })
                .collect();
            return self.apply(changes).await;
        };
        if state.cause != cause {
            state.cause = cause;
            self.log_cause(cause, error, listed && !state.dropped);
        }
        if state.dropped || state.since.elapsed() < self.stale_after {
            return true;
        }
        state.dropped = true;
        tracing::warn!(peer = %self.peer, unreachable_for = ?state.since.elapsed(), "peer still unreachable; its instances dropped");
        let reason = format!(
            "{} unreachable for longer than {:?}",
            self.peer, self.stale_after
        );
        let changes = self
            .held()
            .into_iter()
            .map(|i| removal(i, &reason))
            .collect();
        self.apply(changes).await
    }

    /// Wait before trying the peer again: a random time below `backoff` (doubling it), but
    /// never past the moment its instances are due to be dropped. `false` if the center is
    /// gone.
    async fn pause(&self, lost: &Option<Lost>, backoff: &mut Duration) -> bool {
        let mut wait = jittered(*backoff);
        if let Some(lost) = lost.as_ref().filter(|l| !l.dropped) {
            let due = (lost.since + self.stale_after).saturating_duration_since(Instant::now());
            wait = wait.min(due);
        }
        tokio::time::sleep(wait).await;
        *backoff = (*backoff * 2).min(PEER_MAX_BACKOFF);
        self.local.strong_count() > 0
    }

    /// Apply changes to the mirror. `false` if the center is gone; a store failure is
    /// logged (the center refuses every change until restarted).
    async fn apply(&self, changes: Vec<Mirror>) -> bool {
        if changes.is_empty() {
            return self.local.strong_count() > 0;
        }
        let Some(local) = self.local.upgrade() else {
            return false;
        };
        if let Err(e) = local.mirror(changes).await {
            tracing::error!(peer = %self.peer, error = %e, "could not mirror the peer's change");
        }
        true
    }
}
