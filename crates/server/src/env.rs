//! The benchmark environment: `step` waits `wait_seconds` (the waiting itself is done by the
//! caller on a timer), and reports who served it.

use openenv_protocol::{EnvState, Observation, StepResponse};
use std::sync::atomic::{AtomicU64, Ordering};

/// Cheap process-wide random numbers (splitmix64), seeded once from the OS.
/// Session hashes and episode ids need to be unique, not secret.
pub(crate) fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    static SEEDED: std::sync::Once = std::sync::Once::new();
    SEEDED.call_once(|| {
        let mut seed = [0u8; 8];
        let ok = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), 8, 0) } == 8;
        let mut s = u64::from_le_bytes(seed);
        if !ok {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            s = t ^ ((std::process::id() as u64) << 32);
        }
        STATE.store(s, Ordering::Relaxed);
    });
    let mut z = STATE
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[derive(Debug, Clone, PartialEq)]
enum EpisodeId {
    /// A random UUID v4, kept as 16 bytes and formatted on demand.
    Random(u128),
    /// One the client chose (`reset` with `episode_id`).
    Custom(Box<str>),
}

/// Who answers: the same for every environment of one server worker.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    pub pid: u32,
    /// `<hostname>:<PORT>`.
    pub host_url: String,
}

/// One environment instance: one per WebSocket session, one per HTTP request.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchEnv {
    /// 48 random bits: `session_hash` is their 12 lowercase hex digits, stable for the instance.
    hash: u64,
    episode: EpisodeId,
    step_count: u64,
}

impl Default for BenchEnv {
    fn default() -> Self {
        Self::new()
    }
}

fn random_episode() -> EpisodeId {
    EpisodeId::Random(((random_u64() as u128) << 64) | random_u64() as u128)
}

impl BenchEnv {
    pub fn new() -> Self {
        BenchEnv {
            hash: random_u64() & 0xFFFF_FFFF_FFFF,
            episode: random_episode(),
            step_count: 0,
        }
    }

    /// `session_hash`: 12 lowercase hex characters.
    pub fn session_hash(&self) -> String {
        format!("{:012x}", self.hash)
    }

    /// The session's id as openenv 0.10 reports it (`openenv/session/create` over the session's
    /// own WebSocket): a UUID derived from the hash, so it costs no memory per session.
    pub fn session_id(&self) -> String {
        let mut z = self.hash ^ 0x5E55_1011_D000_0000;
        let mut bytes = [0u8; 16];
        for half in bytes.chunks_mut(8) {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            half.copy_from_slice(&(x ^ (x >> 31)).to_le_bytes());
        }
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .hyphenated()
            .to_string()
    }

    pub fn episode_id(&self) -> String {
        match &self.episode {
            EpisodeId::Random(bits) => uuid::Builder::from_random_bytes(bits.to_le_bytes())
                .into_uuid()
                .hyphenated()
                .to_string(),
            EpisodeId::Custom(s) => s.to_string(),
        }
    }

    pub fn step_count(&self) -> u64 {
        self.step_count
    }

    /// Start a new episode (step count 0, same instance so same `session_hash`).
    pub fn reset(&mut self, episode_id: Option<String>) {
        self.episode = match episode_id {
            Some(id) => EpisodeId::Custom(id.into_boxed_str()),
            None => random_episode(),
        };
        self.step_count = 0;
    }

    /// Count one step (the caller has already waited).
    pub fn step(&mut self) {
        self.step_count += 1;
    }

    pub fn observation(&self, waited_seconds: f64, who: &ServerIdentity) -> StepResponse {
        StepResponse {
            observation: Observation {
                waited_seconds,
                pid: who.pid,
                session_hash: self.session_hash(),
                host_url: who.host_url.clone(),
                step_count: self.step_count,
            },
            reward: None,
            done: false,
        }
    }

    pub fn state(&self) -> EnvState {
        EnvState {
            episode_id: Some(self.episode_id()),
            step_count: self.step_count,
        }
    }
}

/// The machine's hostname (`socket.gethostname()`), `localhost` if it cannot be read.
pub fn hostname() -> String {
    openenv_sys::hostname().unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_12_hex_and_stable_across_reset() {
        let mut env = BenchEnv::new();
        let h = env.session_hash();
        assert_eq!(h.len(), 12);
        assert!(h
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let e1 = env.episode_id();
        env.step();
        assert_eq!(env.step_count(), 1);
        env.reset(None);
        assert_eq!(env.session_hash(), h);
        assert_eq!(env.step_count(), 0);
        assert_ne!(env.episode_id(), e1);
        assert_eq!(uuid::Uuid::parse_str(&e1).unwrap().get_version_num(), 4);
        env.reset(Some("ep-1".into()));
        assert_eq!(env.episode_id(), "ep-1");
        assert_ne!(BenchEnv::new().session_hash(), h);
    }
}
