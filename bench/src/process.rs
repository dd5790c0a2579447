//! Child server processes (skiff, etcd) owned by the harness: killed and
//! reaped on drop, so an error anywhere leaves nothing running; plus the
//! small facts read from the OS about them.

use std::net::{Ipv4Addr, TcpListener};
use std::process::Child;

use anyhow::{Context, Result, bail};

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Guard {
    child: Child,
    name: &'static str,
}

impl Guard {
    pub fn new(child: Child, name: &'static str) -> Guard {
        Guard { child, name }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the process has already exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(Some(status)) => bail!("{} exited early with {status}", self.name),
            Ok(None) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("failed to poll {}", self.name)),
        }
    }

    /// Resident set size (VmRSS) in MiB.
    pub fn rss_mib(&self) -> Result<f64> {
        self.status_mib("VmRSS:")
    }

    /// Peak resident set size since the start (VmHWM) in MiB.
    pub fn peak_rss_mib(&self) -> Result<f64> {
        self.status_mib("VmHWM:")
    }

    /// CPU time (user + system) the process used so far, in seconds.
    pub fn cpu_seconds(&self) -> Result<f64> {
        let path = format!("/proc/{}/stat", self.pid());
        let stat =
            std::fs::read_to_string(&path).with_context(|| format!("failed to read {path}"))?;
        cpu_seconds_of_stat(&stat).with_context(|| format!("unexpected contents of {path}"))
    }

    /// A `kB` line of `/proc/<pid>/status` in MiB.
    fn status_mib(&self, field: &str) -> Result<f64> {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("failed to read {path}"))?;
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("no {field} line in {path}"))?;
        Ok(kib / 1024.0)
    }
}

impl Guard {
    /// CPU time (user + system) the process has used so far, in seconds.
    pub fn cpu_s(&self) -> Result<f64> {
        let path = format!("/proc/{}/stat", self.pid());
        let stat =
            std::fs::read_to_string(&path).with_context(|| format!("failed to read {path}"))?;
        // The command name (field 2) may hold spaces: fields are counted
        // after its closing parenthesis, where utime and stime are the
        // 12th and 13th.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .with_context(|| format!("unexpected {path}"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> Result<f64> {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .with_context(|| format!("no field {i} after the name in {path}"))
        };
        // USER_HZ is 100 on every Linux architecture this runs on.
        Ok((ticks(11)? + ticks(12)?) / 100.0)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Wait too, so the data dir is no longer written when it is removed.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of a `/proc/<pid>/stat` line, in seconds. The fields are
/// counted after the command name, which is in parentheses and may hold
/// spaces; the kernel counts in USER_HZ, 100 on Linux.
fn cpu_seconds_of_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5), counting from 1 with pid and comm.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("failed to find a free port")?;
    Ok(listener
        .local_addr()
        .context("failed to read a local address")?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_from_proc_stat() {
        let stat =
            "1234 (skiff server) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0";
        assert_eq!(cpu_seconds_of_stat(stat), Some(3.0));
        assert_eq!(cpu_seconds_of_stat("garbage"), None);
    }
}
