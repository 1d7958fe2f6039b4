//! Models and training recipes.

use super::Checker;
use super::values::Allow;
use crate::diagnostics::{Code, Diagnostic};
use crate::study::*;
use crate::syntax::ast::{self, Decl, Value};

impl Checker<'_> {
    pub(super) fn model(&mut self, decl: &Decl) -> Option<Model> {
        let options = ["cnn", "resnet", "densenet", "vgg"];
        let (variant, call) =
            self.variant(decl, &options, "model small = cnn(channels: [16, 32, 64])")?;
        let name = variant.name.as_str();
        if let Some(block) = &decl.block {
            self.error(
                Diagnostic::new(Code::UnknownEntry, "a model is configured by its arguments")
                    .at(block.span, "block not allowed")
                    .help(format!("write `model m = {name}(...)`")),
            );
        }
        let common = ["input", "weights", "freeze", "head", "dropout"];
        let specific: &[&str] = match name {
            "cnn" => &["channels", "kernel"],
            _ => &["depth"],
        };
        let params: Vec<&str> = specific.iter().chain(common.iter()).copied().collect();
        let empty = ast::Call {
            name: variant.clone(),
            args: vec![],
            span: variant.span,
        };
        let call = call.unwrap_or(&empty);
        let args = self.args(call, &format!("`{name}`"), &params, 1);
        let architecture = match name {
            "cnn" => {
                let channels = match args.get("channels") {
                    Some(v) => {
                        let items = self.list(v);
                        let c: Vec<u32> = items
                            .iter()
                            .map(|c| self.count(c, "a channel count", 1, 4096))
                            .collect::<Option<_>>()?;
                        if c.is_empty() {
                            self.out_of_range(
                                v.span(),
                                "a CNN needs at least one stage".into(),
                                "for example: channels: [16, 32, 64]",
                            );
                            return None;
                        }
                        c
                    }
                    None => vec![16, 32, 64],
                };
                let kernel = match args.get("kernel") {
                    Some(v) => {
                        let k = self.count(v, "the kernel size", 1, 15)?;
                        if k % 2 == 0 {
                            self.out_of_range(
                                v.span(),
                                "the kernel size must be odd".into(),
                                "use 3, 5 or 7",
                            );
                            return None;
                        }
                        k
                    }
                    None => 3,
                };
                Architecture::Cnn { channels, kernel }
            }
            _ => {
                let depths: &[u32] = match name {
                    "resnet" => &[18, 34, 50],
                    "densenet" => &[121],
                    _ => &[11, 16],
                };
                let depth = match args.get("depth") {
                    Some(v) => {
                        let d = self.count(v, "the depth", 1, 1000)?;
                        if !depths.contains(&d) {
                            let list: Vec<String> = depths.iter().map(u32::to_string).collect();
                            self.out_of_range(
                                v.span(),
                                format!("{name} has no depth {d}"),
                                &format!("available depths: {}", list.join(", ")),
                            );
                            return None;
                        }
                        d
                    }
                    None if depths.len() == 1 => depths[0],
                    None => {
                        self.missing(
                            call.span,
                            &format!("`{name}`"),
                            "depth",
                            &format!("{name}(depth: {})", depths[0]),
                        );
                        return None;
                    }
                };
                match name {
                    "resnet" => Architecture::Resnet { depth },
                    "densenet" => Architecture::Densenet { depth },
                    _ => Architecture::Vgg { depth },
                }
            }
        };
        let input = match args.get("input") {
            Some(v) => {
                let size = self.integer(v, "the input size", 8, 4096, true)? as u32;
                if size < architecture.min_input() {
                    self.input_too_small(v.span(), &architecture, size);
                    return None;
                }
                Some(size)
            }
            None => None,
        };
        let weights = match args.get("weights") {
            Some(v) => Some(self.weights_path(v)?),
            None => None,
        };
        let freeze = match args.get("freeze").map(|v| {
            self.choice(
                v,
                "freeze policy",
                &["none", "all_but_head", "all_but_batchnorm"],
            )
        }) {
            Some(None) => return None,
            Some(Some(f)) => match f.as_str() {
                "all_but_head" => Freeze::AllButHead,
                "all_but_batchnorm" => Freeze::AllButBatchnorm,
                _ => Freeze::None,
            },
            None => Freeze::None,
        };
        if freeze != Freeze::None && weights.is_none() {
            let at = args.get("freeze").map_or(call.span, Value::span);
            self.error(
                Diagnostic::new(
                    Code::IncompatibleChoice,
                    "freezing layers of a randomly initialised network trains nothing useful",
                )
                .at(at, "frozen without pretrained weights")
                .help("give `weights: \"file.safetensors\"`, or use `freeze: none`"),
            );
            return None;
        }
        let head = match args.get("head") {
            Some(v) => self
                .list(v)
                .iter()
                .map(|h| self.count(h, "a head width", 1, 65536))
                .collect::<Option<_>>()?,
            None => vec![],
        };
        let dropout = match args.get("dropout") {
            Some(v) => {
                let d = self.number_in(v, "the dropout rate", 0.0, 1.0)?;
                if d >= 1.0 {
                    self.out_of_range(
                        v.span(),
                        "a dropout rate of 1 drops everything".into(),
                        "use a rate below 1, such as 0.3",
                    );
                    return None;
                }
                d
            }
            None => 0.0,
        };
        Some(Model {
            origin: self.origin(decl.name_span()),
            architecture,
            input,
            weights,
            freeze,
            head,
            dropout,
        })
    }

    pub(super) fn input_too_small(
        &mut self,
        at: crate::source::Span,
        arch: &Architecture,
        size: u32,
    ) {
        self.error(
            Diagnostic::new(
                Code::InputTooSmall,
                format!(
                    "{} needs inputs of at least {} px, but gets {size} px",
                    arch.short_name(),
                    arch.min_input()
                ),
            )
            .at(at, "too small for the network's downsampling")
            .help(format!(
                "resize to at least {} px, or use a network with fewer stages",
                arch.min_input()
            )),
        );
    }

    pub(super) fn training(&mut self, decl: &Decl) -> Option<Training> {
        if let Some(v) = &decl.value {
            self.wrong_type(v, "a block (`train t { ... }`)", "a training recipe");
        }
        let allowed = [
            "optimizer",
            "schedule",
            "epochs",
            "batch",
            "early_stop",
            "class_weights",
            "select",
        ];
        let (owner, e) = self.decl_entries(decl, &allowed, Allow::default());
        let mut ok = true;
        let optimizer = match e.get("optimizer").and_then(|o| self.one(o)) {
            Some(v) => self.optimizer(v),
            None => {
                self.missing(e.span, &owner, "optimizer", "optimizer adam(lr: 1e-3)");
                None
            }
        };
        let epochs = match e.get("epochs").and_then(|x| self.one(x)) {
            Some(v) => self.count(v, "the number of epochs", 1, 1_000_000),
            None => {
                self.missing(e.span, &owner, "epochs", "epochs 10");
                None
            }
        };
        let batch = match e.get("batch").and_then(|x| self.one(x)) {
            Some(v) => self.count(v, "the batch size", 1, 65536),
            None => Some(32),
        };
        let schedule = match e.get("schedule").and_then(|x| self.one(x)) {
            Some(v) => self.schedule(v, epochs),
            None => Some(Schedule::Constant),
        };
        let early_stop = match e.get("early_stop").and_then(|x| self.one(x)) {
            Some(v) => {
                let es = self.early_stop(v);
                ok &= es.is_some();
                es
            }
            None => None,
        };
        let class_weights = match e
            .get("class_weights")
            .and_then(|x| self.one(x))
            .map(|v| self.choice(v, "class weighting", &["none", "balanced"]))
        {
            Some(None) => {
                ok = false;
                ClassWeights::None
            }
            Some(Some(c)) if c == "balanced" => ClassWeights::Balanced,
            _ => ClassWeights::None,
        };
        let select = match e.get("select") {
            Some(s) => self.select(s),
            None => Some(Selection::Last),
        };
        if !ok {
            return None;
        }
        self.training_warnings(
            &e,
            optimizer.as_ref(),
            schedule.as_ref(),
            epochs,
            early_stop.as_ref(),
        );
        Some(Training {
            origin: self.origin(decl.name_span()),
            optimizer: optimizer?,
            schedule: schedule?,
            epochs: epochs?,
            batch: batch?,
            early_stop,
            class_weights,
            select: select?,
        })
    }

    /// W0002 for training settings that are allowed but almost always a mistake.
    fn training_warnings(
        &mut self,
        e: &super::values::Entries,
        optimizer: Option<&Optimizer>,
        schedule: Option<&Schedule>,
        epochs: Option<u32>,
        early_stop: Option<&EarlyStop>,
    ) {
        let span = |key: &str| e.get(key).map(|x| x.span);
        let lr = optimizer.map(|o| match o {
            Optimizer::Sgd { lr, .. }
            | Optimizer::Adam { lr, .. }
            | Optimizer::Adamw { lr, .. } => *lr,
        });
        if let (Some(lr), Some(at)) = (lr, span("optimizer"))
            && lr >= 1.0
        {
            self.suspicious(
                at,
                format!("a learning rate of {lr} is far above the usual 1e-4 to 1e-1: training will most likely diverge"),
                "write the rate as a small number, for example `lr: 1e-3`",
            );
        }
        let floor = match schedule {
            Some(Schedule::Cosine { min_lr } | Schedule::CosineRestarts { min_lr, .. }) => {
                Some(*min_lr)
            }
            _ => None,
        };
        if let (Some(floor), Some(lr), Some(at)) = (floor, lr, span("schedule"))
            && floor > lr
        {
            self.suspicious(
                at,
                format!("the schedule's floor min_lr {floor} is above the learning rate {lr}: the rate would rise, not anneal"),
                "set min_lr below the learning rate, for example a hundredth of it",
            );
        }
        if let (Some(Schedule::Step { every, .. }), Some(epochs), Some(at)) =
            (schedule, epochs, span("schedule"))
            && *every >= epochs
        {
            self.suspicious(
                at,
                format!("a step every {every} epochs never happens in {epochs} epochs of training"),
                "step more often than the training lasts, or use a constant rate",
            );
        }
        if let (Some(stop), Some(epochs), Some(at)) = (early_stop, epochs, span("early_stop"))
            && stop.patience >= epochs
        {
            self.suspicious(
                at,
                format!("a patience of {} epochs is as long as the {epochs} epochs of training: early stopping can never stop it", stop.patience),
                "use a patience well below the number of epochs, or drop early stopping",
            );
        }
    }

    fn optimizer(&mut self, v: &Value) -> Option<Optimizer> {
        let options = ["sgd", "adam", "adamw"];
        let Value::Call(call) = v else {
            if let Some(id) = v.as_ident()
                && options.contains(&id.name.as_str())
            {
                self.missing(
                    v.span(),
                    &format!("`{}`", id.name),
                    "lr",
                    &format!("{}(lr: 1e-3)", id.name),
                );
                return None;
            }
            self.wrong_type(v, "an optimizer such as `adam(lr: 1e-3)`", "the optimizer");
            return None;
        };
        let name = call.name.name.as_str();
        if !options.contains(&name) {
            self.error(
                Diagnostic::new(
                    Code::UnknownConstructor,
                    format!("unknown optimizer `{name}`"),
                )
                .at(call.name.span, "unknown optimizer")
                .help(crate::diagnostics::did_you_mean(name, &options)),
            );
            return None;
        }
        let params: &[&str] = if name == "sgd" {
            &["lr", "momentum", "nesterov", "weight_decay"]
        } else {
            &["lr", "beta1", "beta2", "weight_decay"]
        };
        let args = self.args(call, &format!("`{name}`"), params, 0);
        let Some(lr_value) = args.get("lr") else {
            self.missing(
                call.span,
                &format!("`{name}`"),
                "lr",
                &format!("{name}(lr: 1e-3)"),
            );
            return None;
        };
        let lr = self.positive(lr_value, "the learning rate")?;
        let weight_decay = match args.get("weight_decay") {
            Some(v) => self.number_in(v, "the weight decay", 0.0, 1.0)?,
            None => 0.0,
        };
        if name == "sgd" {
            let momentum = match args.get("momentum") {
                Some(v) => self.unit_interval_open(v, "the momentum")?,
                None => 0.0,
            };
            let nesterov = match args.get("nesterov") {
                Some(v) => self.boolean(v, "nesterov")?,
                None => false,
            };
            return Some(Optimizer::Sgd {
                lr,
                momentum,
                nesterov,
                weight_decay,
            });
        }
        let beta1 = match args.get("beta1") {
            Some(v) => self.unit_interval_open(v, "beta1")?,
            None => 0.9,
        };
        let beta2 = match args.get("beta2") {
            Some(v) => self.unit_interval_open(v, "beta2")?,
            None => 0.999,
        };
        Some(if name == "adam" {
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                weight_decay,
            }
        } else {
            Optimizer::Adamw {
                lr,
                beta1,
                beta2,
                weight_decay,
            }
        })
    }

    /// A number in `[0, 1)`.
    fn unit_interval_open(&mut self, v: &Value, what: &str) -> Option<f64> {
        let x = self.number(v, what)?;
        if !(0.0..1.0).contains(&x) {
            self.out_of_range(
                v.span(),
                format!("{what} must be at least 0 and below 1, found {x}"),
                "typical values are 0.9 or 0.999",
            );
            return None;
        }
        Some(x)
    }

    fn schedule(&mut self, v: &Value, epochs: Option<u32>) -> Option<Schedule> {
        let options = ["constant", "step", "cosine", "cosine_restarts"];
        let (name, call) = match v {
            Value::Call(c) => (&c.name, Some(c)),
            other => (self.ident(other, "the schedule")?, None),
        };
        if !options.contains(&name.name.as_str()) {
            self.error(
                Diagnostic::new(
                    Code::UnknownConstructor,
                    format!("unknown schedule `{}`", name.name),
                )
                .at(name.span, "unknown schedule")
                .help(crate::diagnostics::did_you_mean(&name.name, &options)),
            );
            return None;
        }
        let params: &[&str] = match name.name.as_str() {
            "step" => &["every", "factor"],
            "cosine" => &["min_lr"],
            "cosine_restarts" => &["cycle", "mult", "min_lr", "snapshots"],
            _ => &[],
        };
        let empty = ast::Call {
            name: name.clone(),
            args: vec![],
            span: name.span,
        };
        let call = call.unwrap_or(&empty);
        let owner = format!("`{}`", name.name);
        let args = self.args(call, &owner, params, 0);
        let min_lr = match args.get("min_lr") {
            Some(v) => self.number_in(v, "the minimum learning rate", 0.0, f64::MAX)?,
            None => 0.0,
        };
        Some(match name.name.as_str() {
            "step" => {
                let Some(every) = args.get("every") else {
                    self.missing(call.span, &owner, "every", "step(every: 5, factor: 0.1)");
                    return None;
                };
                let every = self.count(every, "the step interval", 1, 1_000_000)?;
                let factor = match args.get("factor") {
                    Some(v) => {
                        let f = self.positive(v, "the step factor")?;
                        if f >= 1.0 {
                            self.out_of_range(
                                v.span(),
                                "a step decay factor must be below 1".into(),
                                "for example: factor: 0.1",
                            );
                            return None;
                        }
                        f
                    }
                    None => 0.1,
                };
                Schedule::Step { every, factor }
            }
            "cosine" => Schedule::Cosine { min_lr },
            "cosine_restarts" => {
                let Some(cycle_value) = args.get("cycle") else {
                    self.missing(
                        call.span,
                        &owner,
                        "cycle",
                        "cosine_restarts(cycle: 50, snapshots: true)",
                    );
                    return None;
                };
                let cycle = self.count(cycle_value, "the cycle length", 1, 1_000_000)?;
                if let Some(epochs) = epochs
                    && cycle > epochs
                {
                    self.error(
                        Diagnostic::new(Code::IncompatibleChoice, format!("a cycle of {cycle} epochs is longer than the {epochs} epochs of training"))
                            .at(cycle_value.span(), "cycle longer than training")
                            .help("shorten the cycle or train longer"),
                    );
                    return None;
                }
                let mult = match args.get("mult") {
                    Some(v) => self.count(v, "the cycle multiplier", 1, 16)?,
                    None => 1,
                };
                let snapshots = match args.get("snapshots") {
                    Some(v) => self.boolean(v, "snapshots")?,
                    None => false,
                };
                Schedule::CosineRestarts {
                    cycle,
                    mult,
                    min_lr,
                    snapshots,
                }
            }
            _ => Schedule::Constant,
        })
    }

    fn early_stop(&mut self, v: &Value) -> Option<EarlyStop> {
        let Value::Call(call) = v.clone() else {
            self.wrong_type(v, "`after(patience: 5, metric: auc)`", "early stopping");
            return None;
        };
        if call.name.name != "after" {
            self.error(
                Diagnostic::new(
                    Code::UnknownConstructor,
                    format!("unknown early-stopping rule `{}`", call.name.name),
                )
                .at(call.name.span, "expected `after`")
                .help("write `early_stop after(patience: 5, metric: auc, min_delta: 0.001)`"),
            );
            return None;
        }
        let call = &call;
        let args = self.args(
            call,
            "early stopping",
            &["metric", "patience", "min_delta"],
            0,
        );
        let metric = match args.get("metric") {
            Some(m) => self.metric(m, true)?,
            None => Metric::Loss,
        };
        let Some(patience) = args.get("patience") else {
            self.missing(
                call.span,
                "early stopping",
                "patience",
                "early_stop after(patience: 5, metric: auc)",
            );
            return None;
        };
        let patience = self.count(patience, "the patience", 1, 100_000)?;
        let min_delta = match args.get("min_delta") {
            Some(v) => self.number_in(v, "the minimum improvement", 0.0, f64::MAX)?,
            None => 0.0,
        };
        Some(EarlyStop {
            metric,
            patience,
            min_delta,
        })
    }

    /// `select last` or `select [on] validation METRIC`.
    fn select(&mut self, entry: &ast::Entry) -> Option<Selection> {
        let words: Vec<&Value> = entry
            .values
            .iter()
            .skip_while(|v| v.as_ident().is_some_and(|i| i.name == "on"))
            .collect();
        match words.as_slice() {
            [v] if v.as_ident().is_some_and(|i| i.name == "last") => Some(Selection::Last),
            [p, m] if p.as_ident().is_some_and(|i| i.name == "validation") => {
                Some(Selection::Best {
                    metric: self.metric(m, true)?,
                })
            }
            _ => {
                self.error(
                    Diagnostic::new(
                        Code::WrongType,
                        "`select` says which epoch's weights are kept",
                    )
                    .at(
                        entry.span,
                        "expected `select last` or `select on validation METRIC`",
                    )
                    .help("for example: select on validation auc"),
                );
                None
            }
        }
    }

    /// A metric name; `loss` only where training reads it.
    pub(super) fn metric(&mut self, v: &Value, allow_loss: bool) -> Option<Metric> {
        let id = self.ident(v, "a metric")?;
        match Metric::from_name(&id.name) {
            Some(Metric::Loss) if !allow_loss => None,
            Some(m) => Some(m),
            None => None,
        }
        .or_else(|| {
            let mut names: Vec<&str> = Metric::MEASURABLE.iter().map(|m| m.name()).collect();
            if allow_loss {
                names.push("loss");
            }
            self.error(
                Diagnostic::new(Code::UnknownMetric, format!("unknown metric `{}`", id.name))
                    .at(id.span, "unknown metric")
                    .help(crate::diagnostics::did_you_mean(&id.name, &names)),
            );
            None
        })
    }
}
