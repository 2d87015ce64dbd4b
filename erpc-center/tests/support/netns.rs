//! A network namespace joined to this one by a veth pair: a second host on this machine,
//! whose link can be cut (packets dropped, no connection reset) and healed.

use std::process::Command;

/// A namespace `name` at `ns_ip`, reaching this host at `host_ip`; deleted when dropped.
pub struct Netns {
    /// The namespace's name (for `ip netns exec`).
    pub name: String,
    /// This side of the link.
    pub host_ip: String,
    /// The namespace's side of the link.
    pub ns_ip: String,
    host_if: String,
}

/// iproute2's `ip`, wherever it is (`/usr/sbin` may not be on a CI runner's PATH).
pub fn ip_program() -> &'static str {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("ip")
}

fn ip(args: &[&str]) {
    let out = Command::new(ip_program())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e} (is iproute2 installed?)"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether this process may create namespaces (root); tests say so and skip otherwise.
pub fn permitted() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Netns {
    /// Create the namespace and its link; `tag` (0–249) keeps parallel tests' addresses and
    /// names apart.
    pub fn create(tag: u8) -> Netns {
        let pid = std::process::id();
        // Interface names are bounded (15 bytes), so they take the PID's last digits; the
        // namespace's name carries the whole PID so a later run can tell a dead run's
        // leftovers (see `sweep_stale`).
        let name = format!("erpc-{pid}-{tag}");
        let (host_if, ns_if) = link_names(pid, &tag.to_string());
        let subnet = format!("10.{}.{}", 200 + tag % 50, pid % 250);
        let (host_ip, ns_ip) = (format!("{subnet}.1"), format!("{subnet}.2"));
        sweep_stale();
        // A namespace of this name is this process's own leftover (a test that panicked
        // before dropping it): it goes first.
        let _ = Command::new(ip_program())
            .args(["netns", "del", &name])
            .output();
        // So does a host-side interface of an earlier run that shared the PID's last digits.
        let _ = Command::new(ip_program())
            .args(["link", "del", &host_if])
            .output();
        ip(&["netns", "add", &name]);
        let ns = Netns {
            name,
            host_ip,
            ns_ip,
            host_if,
        };
        let n = ns.name.as_str();
        ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", n]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", ns.host_ip),
            "dev",
            &ns.host_if,
        ]);
        ip(&["link", "set", &ns.host_if, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", n, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&["addr", "add", &format!("{}/24", ns.ns_ip), "dev", &ns_if]);
        inside(&["link", "set", &ns_if, "up"]);
        inside(&["link", "set", "lo", "up"]);
        ns
    }

    /// Cut the link: packets both ways are dropped; nobody is told.
    pub fn cut(&self) {
        ip(&["link", "set", &self.host_if, "down"]);
    }

    /// Heal the link.
    pub fn heal(&self) {
        ip(&["link", "set", &self.host_if, "up"]);
    }
}

/// The veth pair's interface names (host side, namespace side) of run `pid`'s namespace
/// `tag`. Interface names are bounded (15 bytes), so they take the PID's last digits.
fn link_names(pid: u32, tag: &str) -> (String, String) {
    let id = format!("{}{tag}", pid % 100_000);
    (format!("eh{id}"), format!("en{id}"))
}

/// The PID and tag of a namespace named `erpc-PID-TAG`.
fn run_of(name: &str) -> Option<(u32, &str)> {
    let mut parts = name.strip_prefix("erpc-")?.split('-');
    match (parts.next()?.parse().ok()?, parts.next()?, parts.next()) {
        (pid, tag, None) => Some((pid, tag)),
        _ => None,
    }
}

/// The namespace names (`erpc-PID-TAG`) a test run left behind when it was killed before
/// its `Drop` ran: those whose PID no longer runs.
pub fn stale_names(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| {
            run_of(name)
                .is_some_and(|(pid, _)| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        })
        .map(str::to_owned)
        .collect()
}

/// The host-side interface of a stale namespace `name` (`erpc-PID-TAG`), which outlives
/// the namespace's deletion while a process still runs inside it.
pub fn stale_host_link(name: &str) -> Option<String> {
    run_of(name).map(|(pid, tag)| link_names(pid, tag).0)
}

/// The PIDs that `ip netns pids NAME` printed, one a line.
pub fn pids_in(listing: &str) -> Vec<u32> {
    listing
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// Held while stale namespaces are swept, and by a test that makes a dead run's namespace
/// on purpose (registry.rs) until it has swept it itself: else another test's
/// [`Netns::create`], running meanwhile, sweeps it first — mid-setup.
static SWEEPING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// [`SWEEPING`], for a test that makes a dead run's namespace (it then sweeps with
/// [`sweep_stale_held`]).
pub fn hold_sweeps() -> std::sync::MutexGuard<'static, ()> {
    SWEEPING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Clear up after killed runs: SIGKILL the processes still inside each stale namespace (a
/// leftover provider keeps the namespace, and with it the veth pair, alive after `netns
/// del`), delete the namespace, then the host side of its link if it remains; so that
/// interrupted soaks do not pile up processes, namespaces and links on the machine.
pub fn sweep_stale() {
    let _sweeping = hold_sweeps();
    sweep_stale_held();
}

/// [`sweep_stale`] by a caller holding [`hold_sweeps`].
pub fn sweep_stale_held() {
    let ip = ip_program();
    let Ok(out) = Command::new(ip).args(["netns", "list"]).output() else {
        return;
    };
    for name in stale_names(&String::from_utf8_lossy(&out.stdout)) {
        eprintln!("netns: deleting {name}, left by a run that is gone");
        if let Ok(pids) = Command::new(ip).args(["netns", "pids", &name]).output() {
            for pid in pids_in(&String::from_utf8_lossy(&pids.stdout)) {
                // SAFETY: kill(2) with a PID the kernel just listed in the namespace.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
        }
        let _ = Command::new(ip).args(["netns", "del", &name]).output();
        if let Some(link) = stale_host_link(&name) {
            let _ = Command::new(ip).args(["link", "del", &link]).output();
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its end of the veth pair, and with it ours.
        let _ = Command::new(ip_program())
            .args(["netns", "del", &self.name])
            .output();
        let _ = Command::new(ip_program())
            .args(["link", "del", &self.host_if])
            .output();
    }
}
