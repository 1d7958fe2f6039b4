//! `study power --simulate N`: the study's synthetic twin (`power::twin`) run through the ordinary engine
//! — its cache, `--jobs` and the Slurm executor — once per seed and scenario, each run in a folder of its
//! own under `<out>/runs/` (so a repeated command resumes and reuses finished runs), and its verdicts
//! counted into `power.json` and `power.html` (`power::simulate`).

use crate::data::DataContext;
use crate::diagnostics::Code;
use crate::exec::store::write_atomic;
use crate::exec::{CellError, Options, SlurmOptions};
use crate::plan::Plan;
use crate::power::simulate::{Replicate, Simulation, summarise};
use crate::power::twin::{Reduced, Scenario, twin};
use crate::study::Study;
use std::path::PathBuf;

/// What `--simulate` was asked for.
pub struct Request {
    pub replicates: u32,
    pub scenarios: Vec<Scenario>,
    pub reduced: Reduced,
    pub out: PathBuf,
    pub jobs: usize,
    pub slurm: Option<SlurmOptions>,
    /// Called with a line after each run.
    pub progress: Box<dyn Fn(&str) + Sync>,
}

/// Replicates run at once when their cells go to a cluster.
const CLUSTER_BATCH: usize = 16;

/// The seed of replicate `k` of a scenario: derived from the study's seed, the scenario and `k`.
pub fn seed_of(study_seed: u64, scenario: Scenario, k: u32) -> u64 {
    let h = blake3::hash(format!("twin/{study_seed}/{}/{k}", scenario.name()).as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// What one run of a twin gave: each hypothesis's outcome, or why there is none.
pub type Ran = Result<Vec<(String, String)>, String>;

/// Runs every replicate with `run_plan` (the pipeline's claim, run and verdicts), writes `power.json` and
/// `power.html` under `request.out`, and returns the summary. `ctx` is where the study's data is read.
pub fn simulate(
    study: &Study,
    ctx: &DataContext,
    request: &Request,
    run_plan: &(dyn Fn(&Plan, &Options) -> Result<Ran, CellError> + Sync),
) -> Result<Simulation, CellError> {
    let (design, problems) = crate::power::design::Design::read(study, ctx);
    if !problems.is_empty() {
        return Err(CellError::Data(problems));
    }
    let tables = design.tables();
    // Every replicate's plan and options first; then the runs.
    let mut planned = Vec::new();
    for scenario in &request.scenarios {
        for k in 0..request.replicates {
            let seed = seed_of(study.seed, *scenario, k);
            let twin = twin(study, &tables, *scenario, seed, request.reduced)
                .map_err(|why| CellError::fault(Code::IncompatibleChoice, why))?;
            let out = request
                .out
                .join("runs")
                .join(format!("{}-{:03}", scenario.name(), k + 1));
            let mut options = Options::new(&out);
            options.jobs = request.jobs;
            options.slurm = request.slurm.clone();
            options.keep_going = true;
            options.executable = (request.jobs > 1 || request.slurm.is_some())
                .then(|| std::env::current_exe().ok())
                .flatten();
            planned.push((*scenario, k, seed, crate::plan::plan(&twin), options));
        }
    }
    let one = |(scenario, k, seed, plan, options): &(Scenario, u32, u64, Plan, Options)| {
        let (outcomes, failed) = match run_plan(plan, options)? {
            Ok(outcomes) => (outcomes, None),
            Err(why) => (Vec::new(), Some(why)),
        };
        (request.progress)(&format!(
            "{} {}/{}: {}",
            scenario.name(),
            k + 1,
            request.replicates,
            match &failed {
                Some(why) => format!("failed ({why})"),
                None => outcomes
                    .iter()
                    .map(|(h, o)| format!("{h} {o}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        ));
        Ok(Replicate {
            scenario: *scenario,
            seed: *seed,
            outcomes,
            failed,
        })
    };
    // On a cluster a run mostly waits on the queue: replicates go in parallel, a batch at a time, so that
    // their waves of job arrays overlap. Here they take turns, each using the cores through `--jobs`.
    let batch = if request.slurm.is_some() {
        CLUSTER_BATCH
    } else {
        1
    };
    let mut replicates = Vec::with_capacity(planned.len());
    for chunk in planned.chunks(batch) {
        let ran: Vec<Result<Replicate, CellError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk.iter().map(|p| scope.spawn(|| one(p))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(CellError::fault(
                            Code::Internal,
                            "a replicate's run panicked",
                        ))
                    })
                })
                .collect()
        });
        for r in ran {
            replicates.push(r?);
        }
    }
    let sim = summarise(
        study,
        crate::plan::fingerprint(study),
        request.replicates,
        request.reduced,
        replicates,
    );
    let json = serde_json::to_vec_pretty(&sim).map_err(|e| {
        CellError::fault(Code::Internal, format!("cannot serialise power.json: {e}"))
    })?;
    write_atomic(&request.out.join("power.json"), &json)?;
    write_atomic(
        &request.out.join("power.html"),
        crate::power::simulate::html(&sim).as_bytes(),
    )?;
    Ok(sim)
}
