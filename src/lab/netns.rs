//! Two network namespaces that can reach each other only through the link emulator.
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
        let id = (std::process::id() % 1000) * 10 + k % 10;
        let names = [format!("cl-{tag}-a-{id}"), format!("cl-{tag}-b-{id}")];
        let subnet = |i: usize| 200 + ((id + k) % 25) as u8 * 2 + i as u8;
        let mut p = Pair {
            names: names.clone(),
            inner: [Ipv4Addr::UNSPECIFIED.into(); 2],
            outer: [Ipv4Addr::UNSPECIFIED.into(); 2],
        };
        for (i, ns) in names.iter().enumerate() {
            ip(&["netns", "add", ns])?;
            let (o, n) = (format!("cl{id}o{i}"), format!("cl{id}n{i}"));
            let s = subnet(i);
            ip(&["link", "add", &o, "type", "veth", "peer", "name", &n])?;
            ip(&["link", "set", &n, "netns", ns])?;
            ip(&["addr", "add", &format!("10.{s}.0.1/24"), "dev", &o])?;
            ip(&["link", "set", &o, "up"])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("10.{s}.0.2/24"),
                "dev",
                &n,
            ])?;
            ip(&["-n", ns, "link", "set", &n, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            p.inner[i] = Ipv4Addr::new(10, s, 0, 2).into();
            p.outer[i] = Ipv4Addr::new(10, s, 0, 1).into();
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
