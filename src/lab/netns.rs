//! Network namespaces for tests and benchmarks (needs root).
//!
//! [`Lan`]: namespaces joined by veth "cables" that start unplugged and are plugged
//! in, unplugged and re-plugged while nodes run — a courier walking between halls, a
//! kiosk whose Wi-Fi joins after boot. No default route and no multicast route is
//! ever added: like a cable between two laptops, only the link's own subnet exists.
//!
//! [`Pair`]: two network namespaces that can reach each other only through the link emulator.
//!
//! On loopback, iroh finds the direct path between two endpoints and leaves the
//! emulated link after the handshake. Here the office and the kiosk each live in
//! their own namespace, joined to this one by a veth pair with no forwarding and no
//! route between them: the relay (in this namespace) is the only way across.
//! Threads enter a namespace with `setns`; threads they spawn (the node's runtime)
//! stay in it. Needs root.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use anyhow::{Context, Result, bail};

pub struct Pair {
    pub names: [String; 2],
    /// Address of each side inside its namespace.
    pub inner: [IpAddr; 2],
    /// Address of this namespace's end of each side's veth.
    pub outer: [IpAddr; 2],
}

fn ip(args: &[&str]) -> Result<()> {
    let s = Command::new("ip")
        .args(args)
        .status()
        .context("cannot run ip")?;
    if !s.success() {
        bail!("ip {} failed", args.join(" "));
    }
    Ok(())
}

impl Pair {
    /// Creates the namespaces; `tag` keeps concurrent runs apart.
    pub fn create(tag: &str) -> Result<Pair> {
        // Several pairs may exist at once (tests run in parallel): number them.
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Unique within this process for 1,000 pairs (W8 makes one per contact; the
        // kernel may still be tearing down an earlier pair's veths when the next one
        // is made, and a name in use fails the pair).
        let id = (std::process::id() % 1000) * 1000 + k % 1000;
        let names = [format!("cl-{tag}-a-{id}"), format!("cl-{tag}-b-{id}")];
        // A subnet pair no interface of this namespace already routes: a run that was
        // killed leaves its namespaces behind, and two veths on one subnet send the
        // relay's packets into the older one (whole contacts passed unanswered: W8's
        // "never connected" contacts, whose subnets were a function of the contact
        // number among only 25). Drawn at random among 12,800 pairs
        // (10.100-199.x.0/24), so another process creating a pair at the same moment
        // (other test runs share this namespace) is unlikely to draw the same one.
        let routes = Command::new("ip")
            .args(["-4", "route", "show"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let taken = |s: (u8, u8)| routes.contains(&format!("10.{}.{}.0/24", s.0, s.1));
        let draw = || {
            let x: u16 = rand::random_range(0..12_800);
            (100 + (x / 128) as u8, (x % 128) as u8 * 2)
        };
        let base = (0..64)
            .map(|_| draw())
            .find(|(a, b)| !taken((*a, *b)) && !taken((*a, b + 1)))
            .unwrap_or_else(draw);
        let subnet = |i: usize| (base.0, base.1 + i as u8);
        let mut p = Pair {
            names: names.clone(),
            inner: [Ipv4Addr::UNSPECIFIED.into(); 2],
            outer: [Ipv4Addr::UNSPECIFIED.into(); 2],
        };
        for (i, ns) in names.iter().enumerate() {
            ip(&["netns", "add", ns])?;
            let (o, n) = (format!("cl{id}o{i}"), format!("cl{id}n{i}"));
            let (a, b) = subnet(i);
            ip(&["link", "add", &o, "type", "veth", "peer", "name", &n])?;
            ip(&["link", "set", &n, "netns", ns])?;
            ip(&["addr", "add", &format!("10.{a}.{b}.1/24"), "dev", &o])?;
            ip(&["link", "set", &o, "up"])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("10.{a}.{b}.2/24"),
                "dev",
                &n,
            ])?;
            ip(&["-n", ns, "link", "set", &n, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            p.inner[i] = Ipv4Addr::new(10, a, b, 2).into();
            p.outer[i] = Ipv4Addr::new(10, a, b, 1).into();
        }
        Ok(p)
    }

    /// Runs `f` on a new thread inside namespace `i`.
    pub fn run_in<T: Send + 'static>(
        &self,
        i: usize,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let path = format!("/var/run/netns/{}", self.names[i]);
        std::thread::spawn(move || -> Result<T> {
            use std::os::fd::AsRawFd;
            let f_ns = std::fs::File::open(&path).with_context(|| format!("cannot open {path}"))?;
            // SAFETY: a valid namespace fd; affects only this thread (and its children).
            let r = unsafe { libc::setns(f_ns.as_raw_fd(), libc::CLONE_NEWNET) };
            if r != 0 {
                bail!(
                    "setns into {path} failed: {}",
                    std::io::Error::last_os_error()
                );
            }
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("namespace thread panicked"))?
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

/// Namespaces joined by veth links that start down and without addresses.
pub struct Lan {
    id: u32,
    names: Vec<String>,
    links: Vec<LanLink>,
}

struct LanLink {
    /// (namespace index, interface name, address with prefix) of each end.
    ends: [(usize, String, String); 2],
}

impl Lan {
    /// Creates `n` namespaces (loopback up, nothing else). `tag` keeps runs apart.
    pub fn create(tag: &str, n: usize) -> Result<Lan> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = (std::process::id() % 1000) * 10 + k % 10;
        let mut lan = Lan {
            id,
            names: Vec::new(),
            links: Vec::new(),
        };
        for i in 0..n {
            let ns = format!("cl-{tag}-{i}-{id}");
            ip(&["netns", "add", &ns])?;
            lan.names.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(lan)
    }

    /// Name of namespace `i`, for `ip netns exec`.
    pub fn ns(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Path of namespace `i`'s handle, for `setns`.
    pub fn ns_path(&self, i: usize) -> String {
        format!("/var/run/netns/{}", self.names[i])
    }

    /// Adds an unplugged cable between namespaces `a` and `b`; `addr_a`/`addr_b` (with
    /// prefix, e.g. `10.7.0.1/24`) are given when it is plugged in. Returns its number.
    pub fn add_link(&mut self, a: usize, b: usize, addr_a: &str, addr_b: &str) -> Result<usize> {
        let l = self.links.len();
        let (ia, ib) = (format!("cl{}l{l}a", self.id), format!("cl{}l{l}b", self.id));
        ip(&["link", "add", &ia, "type", "veth", "peer", "name", &ib])?;
        ip(&["link", "set", &ia, "netns", &self.names[a]])?;
        ip(&["link", "set", &ib, "netns", &self.names[b]])?;
        self.links.push(LanLink {
            ends: [(a, ia, addr_a.into()), (b, ib, addr_b.into())],
        });
        Ok(l)
    }

    /// Plugs cable `l` in: addresses assigned, both ends up (as DHCP or a static
    /// address would after a cable or Wi-Fi comes up).
    pub fn up(&self, l: usize) -> Result<()> {
        for (ns, dev, addr) in &self.links[l].ends {
            let ns = &self.names[*ns];
            ip(&["-n", ns, "addr", "replace", addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(())
    }

    /// Plugs cable `l` in with no address at all: both ends up, as a cable between two
    /// machines with no DHCP server (the kernel adds only IPv6 link-local addresses;
    /// an IPv4 link-local daemon may then claim 169.254/16 ones).
    pub fn up_bare(&self, l: usize) -> Result<()> {
        for (ns, dev, _) in &self.links[l].ends {
            ip(&["-n", &self.names[*ns], "link", "set", dev, "up"])?;
        }
        Ok(())
    }

    /// Namespace and interface name of end `end` (0 or 1) of cable `l`.
    pub fn end(&self, l: usize, end: usize) -> (&str, &str) {
        let (ns, dev, _) = &self.links[l].ends[end];
        (&self.names[*ns], dev)
    }

    /// Unplugs cable `l`: both ends down and their addresses gone.
    pub fn down(&self, l: usize) -> Result<()> {
        for (ns, dev, _) in &self.links[l].ends {
            let ns = &self.names[*ns];
            ip(&["-n", ns, "link", "set", dev, "down"])?;
            ip(&["-n", ns, "addr", "flush", "dev", dev])?;
        }
        Ok(())
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends inside it.
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}
