//! Per-shard statistics (INFO stats, commandstats, errorstats) and the cheap cycle counter used
//! to time commands without a clock read per request.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::command::CommandId;

#[derive(Default, Clone, Copy, Debug)]
pub struct CommandStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

/// Counters one shard keeps; INFO sums them over shards.
pub struct ShardStats {
    pub commands: Vec<CommandStat>,
    pub errors: HashMap<String, u64>,
    pub total_commands_processed: u64,
    pub total_error_replies: u64,
    pub net_input_bytes: u64,
    pub net_output_bytes: u64,
    pub unknown_commands: u64,
    /// Changes made by the write commands run on this shard (Redis's dirty counter, INFO
    /// rdb_changes_since_last_save): one per successful write unless the command counts its
    /// own ([`crate::dispatch::Exec::dirty`]).
    pub dirty: u64,
    pub reads_processed: u64,
    pub writes_processed: u64,
    /// Redis's instantaneous_ops_per_sec: a rate sampled by the cron, averaged over 16 samples.
    ops_samples: [u64; 16],
    in_samples: [u64; 16],
    out_samples: [u64; 16],
    ops_idx: usize,
    ops_last: Option<(std::time::Instant, u64, u64, u64)>,
}

impl ShardStats {
    pub fn new(ncommands: usize) -> ShardStats {
        ShardStats {
            commands: vec![CommandStat::default(); ncommands],
            errors: HashMap::new(),
            total_commands_processed: 0,
            total_error_replies: 0,
            net_input_bytes: 0,
            net_output_bytes: 0,
            unknown_commands: 0,
            dirty: 0,
            reads_processed: 0,
            writes_processed: 0,
            in_samples: [0; 16],
            out_samples: [0; 16],
            ops_samples: [0; 16],
            ops_idx: 0,
            ops_last: None,
        }
    }

    /// Takes one ops/sec sample (called by the shard cron).
    pub fn sample_ops(&mut self) {
        let now = std::time::Instant::now();
        if let Some((t, n, i, o)) = self.ops_last {
            let ms = now.duration_since(t).as_millis().max(1) as u64;
            self.ops_samples[self.ops_idx] = (self.total_commands_processed.saturating_sub(n)) * 1000 / ms;
            self.in_samples[self.ops_idx] = (self.net_input_bytes.saturating_sub(i)) * 1000 / ms;
            self.out_samples[self.ops_idx] = (self.net_output_bytes.saturating_sub(o)) * 1000 / ms;
            self.ops_idx = (self.ops_idx + 1) % self.ops_samples.len();
        }
        self.ops_last = Some((now, self.total_commands_processed, self.net_input_bytes, self.net_output_bytes));
    }

    pub fn instantaneous_ops(&self) -> u64 {
        self.ops_samples.iter().sum::<u64>() / self.ops_samples.len() as u64
    }

    /// Input and output bytes per second, averaged over the samples.
    pub fn instantaneous_io(&self) -> (u64, u64) {
        let n = self.in_samples.len() as u64;
        (self.in_samples.iter().sum::<u64>() / n, self.out_samples.iter().sum::<u64>() / n)
    }

    /// Records one command: `failed` carries the error reply's text when it failed;
    /// `rejected` means it failed before running (arity, auth...).
    #[inline]
    pub fn record(&mut self, id: CommandId, failed: Option<&[u8]>, rejected: bool, us: u64) {
        let s = &mut self.commands[id as usize];
        if rejected {
            s.rejected_calls += 1;
        } else {
            s.calls += 1;
            s.usec += us;
            self.total_commands_processed += 1;
            if failed.is_some() {
                s.failed_calls += 1;
            }
        }
        if let Some(err) = failed {
            self.record_error(err);
        }
    }

    pub fn add_usec(&mut self, id: CommandId, us: u64) {
        self.commands[id as usize].usec += us;
    }

    /// Counts an error reply under its prefix (the first word: ERR, WRONGTYPE...).
    pub fn record_error(&mut self, text: &[u8]) {
        self.total_error_replies += 1;
        let word = text.split(|&b| b == b' ').next().unwrap_or(b"ERR");
        let word = String::from_utf8_lossy(word).into_owned();
        // Redis caps distinct error codes at 128 to bound memory (errorstats).
        if self.errors.len() < 128 || self.errors.contains_key(&word) {
            *self.errors.entry(word).or_insert(0) += 1;
        }
    }

    pub fn reset(&mut self) {
        let n = self.commands.len();
        *self = ShardStats::new(n);
    }
}

/// A cheap monotonic cycle counter (the TSC on x86_64; elsewhere a clock).
#[inline]
pub fn cycles() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static START: OnceLock<std::time::Instant> = OnceLock::new();
        START.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
    }
}

static CYCLES_PER_US: OnceLock<f64> = OnceLock::new();

/// Measures the cycle counter's rate once (a few milliseconds at startup).
pub fn calibrate() {
    CYCLES_PER_US.get_or_init(|| {
        let t0 = std::time::Instant::now();
        let c0 = cycles();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let c1 = cycles();
        let us = t0.elapsed().as_secs_f64() * 1e6;
        ((c1 - c0) as f64 / us).max(1e-3)
    });
}

#[inline]
pub fn cycles_to_us(c: u64) -> u64 {
    let rate = *CYCLES_PER_US.get().unwrap_or(&1000.0);
    (c as f64 / rate) as u64
}
