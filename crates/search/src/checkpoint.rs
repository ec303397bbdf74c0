//! Checkpoints: the whole NSGA-II state as JSON (configuration, variables, counters,
//! population, pending genomes and the ChaCha8 generator's seed, stream and word position),
//! written atomically (temporary file in the same directory, then rename). Resuming gives
//! bit-for-bit the same run as never stopping.

use std::fs;
use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::SearchError;
use crate::nsga2::{Nsga2, Nsga2Config};
use crate::problem::{validate_vars, Var};
use crate::survival::Individual;

/// The `format` field of every checkpoint.
pub const CHECKPOINT_FORMAT: &str = "edgenas-search/nsga2";
/// The current checkpoint layout version.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Position of a ChaCha8 generator: enough to rebuild it exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The 32-byte key, hex.
    pub seed: String,
    /// The stream number.
    pub stream: u64,
    /// Position in the stream, in 32-bit words (decimal; up to 2^68).
    pub word_pos: String,
}

impl RngState {
    /// Captures a generator.
    pub fn of(rng: &ChaCha8Rng) -> Self {
        RngState {
            seed: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// Rebuilds the generator.
    pub fn restore(&self) -> Result<ChaCha8Rng, String> {
        let s = self.seed.as_bytes();
        if s.len() != 64 {
            return Err(format!("rng seed must be 64 hex digits, got {} characters", s.len()));
        }
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            let pair = std::str::from_utf8(&s[2 * i..2 * i + 2]).map_err(|_| "rng seed is not hex".to_string())?;
            *b = u8::from_str_radix(pair, 16).map_err(|_| format!("rng seed is not hex: {pair:?}"))?;
        }
        let word_pos: u128 =
            self.word_pos.parse().map_err(|_| format!("rng word_pos is not a number: {:?}", self.word_pos))?;
        if word_pos >= 1u128 << 68 {
            return Err(format!("rng word_pos {word_pos} beyond 2^68"));
        }
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(word_pos);
        Ok(rng)
    }
}

/// The serializable state of an [`Nsga2`] run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Nsga2State {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// Layout version ([`CHECKPOINT_VERSION`]).
    pub version: u32,
    /// The configuration.
    pub config: Nsga2Config,
    /// The decision variables.
    pub vars: Vec<Var>,
    /// The seed the run started from (informational).
    pub seed: u64,
    /// The generator's exact position.
    pub rng: RngState,
    /// Completed generations.
    pub generation: usize,
    /// Evaluations told.
    pub evaluations: usize,
    /// Number of objectives, once known.
    pub n_obj: Option<usize>,
    /// Number of constraints, once known.
    pub n_constr: Option<usize>,
    /// Whether mating stalled.
    pub stalled: bool,
    /// The population after the last survival.
    pub population: Vec<Individual>,
    /// Genomes asked and not yet told.
    pub pending: Option<Vec<Vec<f64>>>,
}

impl Nsga2 {
    /// The run's full state.
    pub fn state(&self) -> Nsga2State {
        Nsga2State {
            format: CHECKPOINT_FORMAT.to_string(),
            version: CHECKPOINT_VERSION,
            config: self.config.clone(),
            vars: self.vars.clone(),
            seed: self.seed,
            rng: RngState::of(&self.rng),
            generation: self.generation,
            evaluations: self.evaluations,
            n_obj: self.n_obj,
            n_constr: self.n_constr,
            stalled: self.stalled,
            population: self.population.clone(),
            pending: self.pending.clone(),
        }
    }

    /// Rebuilds a run from a state, checking it against the problem's variables `vars`.
    pub fn from_state(state: Nsga2State, vars: &[Var]) -> Result<Self, SearchError> {
        restore(state, vars).map_err(SearchError::State)
    }

    /// Writes the state to `path` atomically (a temporary file beside it, then rename).
    pub fn save_checkpoint(&self, path: &Path) -> Result<(), SearchError> {
        let json = serde_json::to_vec(&self.state())
            .map_err(|source| SearchError::Format { path: path.to_path_buf(), source })?;
        write_atomic(path, &json)
    }

    /// Resumes the run saved at `path`; `vars` are the problem's variables, which must equal
    /// the checkpoint's.
    pub fn load_checkpoint(path: &Path, vars: &[Var]) -> Result<Self, SearchError> {
        let bytes = fs::read(path).map_err(|source| SearchError::Io { path: path.to_path_buf(), source })?;
        let state: Nsga2State = serde_json::from_slice(&bytes)
            .map_err(|source| SearchError::Format { path: path.to_path_buf(), source })?;
        restore(state, vars).map_err(|reason| SearchError::Incompatible { path: path.to_path_buf(), reason })
    }
}

fn restore(state: Nsga2State, vars: &[Var]) -> Result<Nsga2, String> {
    if state.format != CHECKPOINT_FORMAT {
        return Err(format!("format is {:?}, expected {CHECKPOINT_FORMAT:?}", state.format));
    }
    if state.version != CHECKPOINT_VERSION {
        return Err(format!("version {} is not supported (expected {CHECKPOINT_VERSION})", state.version));
    }
    state.config.validate().map_err(|e| e.to_string())?;
    validate_vars(&state.vars).map_err(|e| e.to_string())?;
    if state.vars.len() != vars.len() {
        return Err(format!("saved for {} variables, the problem has {}", state.vars.len(), vars.len()));
    }
    if let Some(i) = (0..vars.len()).find(|&i| state.vars[i] != vars[i]) {
        return Err(format!("variable {i} is {:?} in the checkpoint but {:?} in the problem", state.vars[i], vars[i]));
    }
    let rng = state.rng.restore()?;
    let genome_ok = |x: &[f64]| x.len() == vars.len() && x.iter().zip(vars).all(|(v, var)| var.contains(*v));
    for (i, ind) in state.population.iter().enumerate() {
        if !genome_ok(&ind.x) {
            return Err(format!("population member {i} is not a valid genome for these variables"));
        }
        if Some(ind.objectives.len()) != state.n_obj || Some(ind.violations.len()) != state.n_constr {
            return Err(format!(
                "population member {i} has {} objectives and {} constraints, the checkpoint declares {:?} and {:?}",
                ind.objectives.len(),
                ind.violations.len(),
                state.n_obj,
                state.n_constr
            ));
        }
    }
    if state.population.len() > state.config.pop_size {
        return Err(format!("population of {} exceeds pop_size {}", state.population.len(), state.config.pop_size));
    }
    if let Some(p) = &state.pending {
        if let Some(i) = p.iter().position(|x| !genome_ok(x)) {
            return Err(format!("pending genome {i} is not a valid genome for these variables"));
        }
        if p.is_empty() {
            return Err("pending genomes are empty".into());
        }
    }
    if state.population.is_empty() && state.generation > 0 {
        return Err(format!("generation {} but no population", state.generation));
    }
    Ok(Nsga2 {
        config: state.config,
        vars: state.vars,
        seed: state.seed,
        rng,
        generation: state.generation,
        evaluations: state.evaluations,
        n_obj: state.n_obj,
        n_constr: state.n_constr,
        population: state.population,
        pending: state.pending,
        stalled: state.stalled,
    })
}

/// Writes `bytes` to `path` atomically ([`edgenas_store::write_atomic`]), so a reader never sees
/// a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SearchError> {
    edgenas_store::write_atomic(path, bytes).map_err(|source| SearchError::Io { path: path.to_path_buf(), source })
}
