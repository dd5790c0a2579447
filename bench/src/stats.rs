//! Running one operation from N concurrent clients and summarising latency.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The outcome of one phase: every operation's latency and the wall time.
pub struct Run {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Run {
    pub fn from_latencies(mut latencies: Vec<Duration>, wall: Duration) -> Run {
        latencies.sort_unstable();
        Run { latencies, wall }
    }

    pub fn per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Latency at quantile `q` (nearest rank) in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        let i = rank.clamp(1, self.latencies.len()) - 1;
        self.latencies[i].as_secs_f64() * 1000.0
    }

    pub fn p50(&self) -> f64 {
        self.ms(0.50)
    }

    pub fn p99(&self) -> f64 {
        self.ms(0.99)
    }
}

/// Runs `op(conn, i)` for `i` in `0..total`, one task per connection, each
/// taking the next index when its previous operation finished (a closed
/// loop, like real clients). An operation takes the connection and hands it
/// back so that it can use it mutably across awaits. Fails on the first
/// error or once `limit` has passed.
pub async fn drive<C, F, Fut>(conns: Vec<C>, total: usize, limit: Duration, op: F) -> Result<Run>
where
    C: Send + 'static,
    F: Fn(C, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<C>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(conns.len());
    for mut conn in conns {
        let op = op.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok(latencies);
                }
                if start.elapsed() > limit {
                    bail!("gave up after {limit:?} with {i} of {total} operations started");
                }
                let t0 = Instant::now();
                conn = op(conn, i)
                    .await
                    .with_context(|| format!("operation {i} failed"))?;
                latencies.push(t0.elapsed());
            }
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        let part: Result<Vec<Duration>> = task.await.context("a client task panicked")?;
        latencies.extend(part?);
    }
    Ok(Run::from_latencies(latencies, start.elapsed()))
}

/// The median of a few samples in milliseconds.
pub fn median_ms(samples: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    match ms.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => ms[n / 2],
        n => (ms[n / 2 - 1] + ms[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let run = Run::from_latencies(
            (1..=100).rev().map(Duration::from_millis).collect(),
            Duration::from_secs(1),
        );
        assert_eq!(run.p50(), 50.0);
        assert_eq!(run.p99(), 99.0);
        assert_eq!(run.ms(1.0), 100.0);
        assert_eq!(run.per_s(), 100.0);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(median_ms(&ms(&[30, 10, 20])), 20.0);
        assert_eq!(median_ms(&ms(&[40, 10, 20, 30])), 25.0);
    }
}
